//! NumPy `.npy` arrays (format versions 1-3): little-endian float or integer, C order.

use crate::error::{MlaError, Result};

/// An array read from a `.npy` file, as `f32` in C (row-major) order.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// The value of `key` in the header's Python dict literal, up to the next top-level
/// comma or the closing brace.
fn field<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header.find(&format!("'{key}'"))? + key.len() + 2;
    let rest = header[at..].trim_start().strip_prefix(':')?.trim_start();
    let mut depth = 0;
    for (i, c) in rest.char_indices() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            ',' | '}' if depth == 0 => return Some(rest[..i].trim()),
            _ => {}
        }
    }
    None
}

/// Parses a `.npy` file; `name` is used in errors.
pub fn parse_npy(name: &str, bytes: &[u8]) -> Result<NpyArray> {
    let bad = |why: String| MlaError::Data(format!("{name}: {why}"));
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("not a .npy file (bad magic bytes)".into()));
    }
    let (len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(bad(format!(".npy format version {v} is not supported"))),
    };
    let header = bytes
        .get(start..start + len)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or_else(|| bad("the header is cut short or not text".into()))?;
    let descr = field(header, "descr").ok_or_else(|| bad("no `descr` in the header".into()))?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    match field(header, "fortran_order") {
        Some("False") => {}
        Some("True") => return Err(bad("Fortran-ordered arrays are not supported".into())),
        _ => {
            return Err(bad(format!(
                "malformed header (no `fortran_order: True/False`): `{}`",
                header.trim_end()
            )));
        }
    }
    let shape: Vec<usize> = field(header, "shape")
        .ok_or_else(|| bad("no `shape` in the header".into()))?
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| bad(format!("bad shape in `{header}`")))?;
    // Checked: a shape whose product overflows must not wrap to a small size.
    let too_large = || bad(format!("shape {shape:?} is too large"));
    let n = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(too_large)?;
    let data = &bytes[start + len..];
    let (size, convert): (usize, fn(&[u8]) -> f32) = match descr {
        "<f4" | "f4" => (4, |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        "<f8" | "f8" => (8, |b| {
            f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
        }),
        "<i4" => (4, |b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32),
        "<i8" => (8, |b| {
            i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
        }),
        "<i2" => (2, |b| i16::from_le_bytes([b[0], b[1]]) as f32),
        "|u1" | "u1" => (1, |b| b[0] as f32),
        other => {
            return Err(bad(format!(
                "dtype `{other}` is not supported (little-endian float or integer)"
            )));
        }
    };
    let need = n.checked_mul(size).ok_or_else(too_large)?;
    if data.len() != need {
        return Err(bad(format!(
            "shape {shape:?} of `{descr}` needs {need} bytes of data, the file has {}",
            data.len()
        )));
    }
    let values: Vec<f32> = data.chunks_exact(size).map(convert).collect();
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(bad(format!("value {i} is not finite ({})", values[i])));
    }
    Ok(NpyArray { shape, values })
}

/// A little-endian float32 C-order `.npy` file (format 1.0) of `values` in `shape`,
/// its header padded as numpy pads it.
pub fn encode_npy(shape: &[usize], values: &[f32]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let shape = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file as numpy 1.26 writes `np.save(f, np.array([[1.5, -2], [0, 4]], '<f4'))`:
    /// the header dict padded with spaces to a multiple of 64 bytes, ending in `\n`.
    fn numpy_file(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        let mut header =
            format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn float_and_int_arrays_and_clear_errors() {
        let data: Vec<u8> = [1.5f32, -2.0, 0.0, 4.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let file = numpy_file("<f4", "(2, 2)", &data);
        assert_eq!(
            encode_npy(&[2, 2], &[1.5, -2.0, 0.0, 4.0]),
            file,
            "numpy's bytes"
        );
        let a = parse_npy("a.npy", &file).unwrap();
        assert_eq!((a.shape, a.values), (vec![2, 2], vec![1.5, -2.0, 0.0, 4.0]));
        let data: Vec<u8> = [7i64, -1, 3].iter().flat_map(|v| v.to_le_bytes()).collect();
        let b = parse_npy("b.npy", &numpy_file("<i8", "(3,)", &data)).unwrap();
        assert_eq!((b.shape, b.values), (vec![3], vec![7.0, -1.0, 3.0]));

        let e = |bytes: &[u8]| parse_npy("c.npy", bytes).unwrap_err().to_string();
        assert!(e(b"PK\x03\x04zip.....").contains("c.npy: not a .npy"));
        assert!(e(&numpy_file("<f4", "(2, 2)", &[0; 12])).contains("needs 16 bytes"));
        assert!(e(&numpy_file(">f4", "(1,)", &[0; 4])).contains("dtype `>f4`"));
        let nan: Vec<u8> = f32::NAN.to_le_bytes().to_vec();
        assert!(e(&numpy_file("<f4", "(1,)", &nan)).contains("not finite"));
        // 2^32 * 2^32 + 2 wraps to 2 in unchecked arithmetic: two values would be read.
        let wrap = numpy_file("<f4", "(4294967296, 4294967296, 2)", &[0; 8]);
        assert!(e(&wrap).contains("is too large"), "{}", e(&wrap));
        // A header that is not numpy's dict is malformed, not "Fortran-ordered".
        let mut garbled = numpy_file("<f4", "(1,)", &[0; 4]);
        let at = garbled.windows(5).position(|w| w == b"False").unwrap();
        garbled[at..at + 5].copy_from_slice(b"Fxlse");
        let msg = e(&garbled);
        assert!(
            msg.contains("malformed header") && !msg.contains("Fortran"),
            "{msg}"
        );
    }
}
