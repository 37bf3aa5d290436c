//! MNIST's IDX files (`t10k-images-idx3-ubyte`, `...-labels-idx1-ubyte`), plain or
//! gzipped.

use std::io::Read;

use crate::error::{MlaError, Result};
use crate::limits;

/// An IDX array of unsigned bytes: its dimensions and values.
#[derive(Clone, Debug, PartialEq)]
pub struct Idx {
    pub dims: Vec<usize>,
    pub values: Vec<u8>,
}

/// Parses the IDX file `name` (for messages); gzip is detected by its magic bytes.
pub fn parse_idx(name: &str, bytes: &[u8]) -> Result<Idx> {
    let bad = |why: String| MlaError::Data(format!("{name}: {why}"));
    let owned;
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        // Bounded: a few kilobytes of gzip can expand to gigabytes.
        flate2::read::GzDecoder::new(bytes)
            .take(limits::MAX_FILE_BYTES + 1)
            .read_to_end(&mut out)
            .map_err(|e| bad(format!("not a readable gzip file ({e})")))?;
        limits::within("unpacked size", out.len() as u64, limits::MAX_FILE_BYTES).map_err(bad)?;
        owned = out;
        &owned[..]
    } else {
        bytes
    };
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err(bad("not an IDX file (bad magic number)".into()));
    }
    if bytes[2] != 0x08 {
        return Err(bad(format!(
            "IDX type 0x{:02x} is not unsigned bytes (0x08)",
            bytes[2]
        )));
    }
    let rank = bytes[3] as usize;
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err(bad("the header is cut short".into()));
    }
    let dims: Vec<usize> = (0..rank)
        .map(|k| {
            let at = 4 + 4 * k;
            u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize
        })
        .collect();
    let count = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| bad(format!("dimensions {dims:?} are too large")))?;
    let values = &bytes[header..];
    if values.len() != count {
        return Err(bad(format!(
            "dimensions {dims:?} need {count} values, the file has {}",
            values.len()
        )));
    }
    Ok(Idx {
        dims,
        values: values.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn idx(dims: &[u32], values: &[u8]) -> Vec<u8> {
        let mut out = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out.extend_from_slice(values);
        out
    }

    #[test]
    fn plain_and_gzipped() {
        let raw = idx(&[2, 3], &[1, 2, 3, 4, 5, 6]);
        let a = parse_idx("a", &raw).unwrap();
        assert_eq!(a.dims, vec![2, 3]);
        assert_eq!(a.values, vec![1, 2, 3, 4, 5, 6]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&raw).unwrap();
        assert_eq!(parse_idx("a.gz", &gz.finish().unwrap()).unwrap(), a);
    }

    #[test]
    fn bad_files_are_clear_errors() {
        let e = parse_idx("x", &idx(&[2, 3], &[1, 2]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("x: dimensions [2, 3] need 6 values"), "{e}");
        let e = parse_idx("y", b"\x1f\x8bnot gzip").unwrap_err().to_string();
        assert!(e.contains("gzip"), "{e}");
        let e = parse_idx("z", b"PK\x03\x04").unwrap_err().to_string();
        assert!(e.contains("magic"), "{e}");
    }
}
