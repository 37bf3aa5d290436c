//! ZIP archives from and to bytes: what the page exports (a data set: its manifest and
//! files) and what it takes back. Written entries are stored (media files do not
//! compress); read entries may be stored or deflated, as any zip tool writes them.
//! ZIP64 (4 GiB, 65,535 entries) is not supported, and says so.

use std::io::Read;

use crate::limits::MAX_FILE_BYTES;

const LOCAL: u32 = 0x0403_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const END: u32 = 0x0605_4b50;
/// Version 2.0: stored and deflated entries.
const VERSION: u16 = 20;
/// Bit 11: names are UTF-8.
const UTF8: u16 = 1 << 11;
/// 1980-01-01 00:00, the earliest date the format has: exports are reproducible.
const DATE: u16 = (1 << 5) | 1;

/// Most entries an archive may have (the format's own limit without ZIP64).
pub const MAX_ENTRIES: usize = 65_535;

fn put16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// An archive holding `entries` (name, bytes), stored, in order. Names are paths with
/// `/`; an archive beyond the format's limits (4 GiB, 65,535 entries) is an error.
pub fn write_zip(entries: &[(String, &[u8])]) -> Result<Vec<u8>, String> {
    if entries.len() > MAX_ENTRIES {
        return Err(format!(
            "{} files are more than a zip holds ({MAX_ENTRIES})",
            entries.len()
        ));
    }
    let too_big = || "the archive would be larger than 4 GiB, more than a zip holds".to_string();
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        let size = u32::try_from(data.len()).map_err(|_| too_big())?;
        let offset = u32::try_from(out.len()).map_err(|_| too_big())?;
        let crc = crc32(data);
        let name_len = u16::try_from(name.len()).map_err(|_| format!("`{name}`: name too long"))?;
        // What the local and the central header share, from "version needed" on.
        let mut common = Vec::with_capacity(26);
        for v in [VERSION, UTF8, 0, 0, DATE] {
            put16(&mut common, v);
        }
        for v in [crc, size, size] {
            put32(&mut common, v);
        }
        put16(&mut common, name_len);
        put16(&mut common, 0);
        put32(&mut out, LOCAL);
        out.extend_from_slice(&common);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        put32(&mut central, CENTRAL);
        put16(&mut central, VERSION);
        central.extend_from_slice(&common);
        for v in [0u16, 0, 0] {
            put16(&mut central, v); // comment length, disk, internal attributes
        }
        put32(&mut central, 0);
        put32(&mut central, offset);
        central.extend_from_slice(name.as_bytes());
    }
    let central_offset = u32::try_from(out.len()).map_err(|_| too_big())?;
    let central_size = u32::try_from(central.len()).map_err(|_| too_big())?;
    out.extend_from_slice(&central);
    put32(&mut out, END);
    for v in [0, 0, entries.len() as u16, entries.len() as u16] {
        put16(&mut out, v);
    }
    put32(&mut out, central_size);
    put32(&mut out, central_offset);
    put16(&mut out, 0);
    u32::try_from(out.len()).map_err(|_| too_big())?;
    Ok(out)
}

/// CRC-32 (IEEE), as zip files check their entries.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(data);
    crc.sum()
}

/// Little-endian reads at `at`, `None` past the end.
fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The files of an archive: (name, bytes) in the archive's order, folders left out.
/// Refused with the reason: not a zip, cut short, an entry whose CRC does not match,
/// encrypted or of a compression other than stored and deflated, a ZIP64 archive, or
/// contents beyond [`MAX_FILE_BYTES`] in all.
pub fn read_zip(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let cut = || "the archive is cut short or damaged".to_string();
    // The end record is the last 22 bytes, before a comment of up to 64 KiB.
    let earliest = bytes.len().saturating_sub(22 + 65_535);
    let end = (earliest..=bytes.len().saturating_sub(22))
        .rev()
        .find(|&i| u32_at(bytes, i) == Some(END))
        .ok_or("not a zip archive (no end record)")?;
    let count = usize::from(u16_at(bytes, end + 10).ok_or_else(cut)?);
    let central = u32_at(bytes, end + 16).ok_or_else(cut)?;
    if count == 0xffff || central == u32::MAX {
        return Err("a ZIP64 archive (over 4 GiB or 65,535 files), which is not supported".into());
    }
    let mut files = Vec::with_capacity(count.min(MAX_ENTRIES));
    let mut total = 0u64;
    let mut at = central as usize;
    for _ in 0..count {
        if u32_at(bytes, at) != Some(CENTRAL) {
            return Err(cut());
        }
        let field = |offset: usize| u16_at(bytes, at + offset).ok_or_else(cut);
        let (flags, method) = (field(8)?, field(10)?);
        let crc = u32_at(bytes, at + 16).ok_or_else(cut)?;
        let packed = u32_at(bytes, at + 20).ok_or_else(cut)? as usize;
        let size = u32_at(bytes, at + 24).ok_or_else(cut)? as u64;
        let (name_len, extra, comment) = (field(28)?, field(30)?, field(32)?);
        let local = u32_at(bytes, at + 42).ok_or_else(cut)? as usize;
        let name_at = at + 46;
        let name = bytes
            .get(name_at..name_at + usize::from(name_len))
            .ok_or_else(cut)?;
        let name = String::from_utf8_lossy(name).into_owned();
        at = name_at + usize::from(name_len) + usize::from(extra) + usize::from(comment);
        if name.ends_with('/') {
            continue;
        }
        if flags & 1 != 0 {
            return Err(format!("`{name}` is encrypted"));
        }
        total += size;
        if total > MAX_FILE_BYTES {
            return Err(format!(
                "its files hold more than {} GiB",
                MAX_FILE_BYTES >> 30
            ));
        }
        if u32_at(bytes, local) != Some(LOCAL) {
            return Err(format!("`{name}`: {}", cut()));
        }
        let skip = usize::from(u16_at(bytes, local + 26).ok_or_else(cut)?)
            + usize::from(u16_at(bytes, local + 28).ok_or_else(cut)?);
        let start = local + 30 + skip;
        let packed = bytes
            .get(start..start + packed)
            .ok_or_else(|| format!("`{name}`: {}", cut()))?;
        let data = match method {
            0 => packed.to_vec(),
            8 => {
                // Not sized by the declared size: a damaged header may declare 4 GiB. A
                // deflate stream expands at most about 1,000 times, and never past it.
                let mut data = Vec::new();
                flate2::read::DeflateDecoder::new(packed)
                    .take(size + 1)
                    .read_to_end(&mut data)
                    .map_err(|e| format!("`{name}`: {e}"))?;
                data
            }
            m => {
                return Err(format!(
                    "`{name}` is compressed with method {m}; stored and deflated entries are \
                     supported"
                ));
            }
        };
        if data.len() as u64 != size || crc32(&data) != crc {
            return Err(format!(
                "`{name}` is damaged: its size or CRC does not match"
            ));
        }
        files.push((name, data));
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn written_archives_read_back_and_damage_is_named() {
        let big: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        let entries = vec![
            ("data.csv".to_string(), &b"image:image,label\na.png,x\n"[..]),
            ("images/a.png".to_string(), &big[..]),
            ("empty".to_string(), &b""[..]),
        ];
        let zip = write_zip(&entries).unwrap();
        let back = read_zip(&zip).unwrap();
        assert_eq!(back.len(), 3);
        for ((n, d), (m, e)) in entries.iter().zip(&back) {
            assert_eq!((n, *d), (m, &e[..]));
        }
        // A flipped byte in an entry's data: its CRC says so.
        let mut bad = zip.clone();
        bad[30 + "data.csv".len() + 3] ^= 1;
        assert!(
            read_zip(&bad)
                .unwrap_err()
                .contains("`data.csv` is damaged")
        );
        assert!(read_zip(&zip[..zip.len() - 30]).is_err());
        assert!(read_zip(b"PK nothing").unwrap_err().contains("not a zip"));
    }

    /// A deflated entry, as zip tools write them (built here by hand: a local header,
    /// a central one and the end record around a raw deflate stream).
    #[test]
    fn deflated_entries_read() {
        let text = "hello hello hello hello, a deflated entry".repeat(20);
        let mut encoder =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(text.as_bytes()).unwrap();
        let packed = encoder.finish().unwrap();
        let stored = write_zip(&[("t.txt".to_string(), text.as_bytes())]).unwrap();
        // Rewrite the stored archive's one entry as deflated.
        let header = 30 + "t.txt".len();
        let mut zip = stored[..header].to_vec();
        zip[8] = 8; // method
        zip[18..22].copy_from_slice(&(packed.len() as u32).to_le_bytes());
        zip.extend_from_slice(&packed);
        let central_at = zip.len();
        let mut central = stored[header + text.len()..].to_vec();
        central[10] = 8;
        central[20..24].copy_from_slice(&(packed.len() as u32).to_le_bytes());
        let end = central.len() - 22;
        central[end + 16..end + 20].copy_from_slice(&(central_at as u32).to_le_bytes());
        zip.extend_from_slice(&central);
        let back = read_zip(&zip).unwrap();
        assert_eq!(back, vec![("t.txt".to_string(), text.into_bytes())]);
    }
}
