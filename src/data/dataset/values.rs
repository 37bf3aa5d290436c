//! The stored values of one modality: in memory, or (natively) in a file mapped into
//! memory, so that a data set larger than memory trains with bounded memory: the
//! operating system reads the samples a batch touches and drops them again under
//! memory pressure.

use std::fmt;
use std::ops::Deref;
#[cfg(not(target_arch = "wasm32"))]
use std::sync::Arc;

/// `n * item_len` values, sample-major, as one slice however they are stored.
#[derive(Clone)]
pub struct Values(Repr);

#[derive(Clone)]
enum Repr {
    Memory(Vec<f32>),
    #[cfg(not(target_arch = "wasm32"))]
    Mapped(Arc<memmap2::Mmap>),
}

impl Values {
    /// Whether the values live in a mapped file.
    pub fn is_mapped(&self) -> bool {
        !matches!(self.0, Repr::Memory(_))
    }

    /// The values as an owned vector when they live in memory (no copy), else `Err`
    /// with them unchanged.
    pub fn into_memory(self) -> std::result::Result<Vec<f32>, Values> {
        match self.0 {
            Repr::Memory(v) => Ok(v),
            #[cfg(not(target_arch = "wasm32"))]
            mapped => Err(Values(mapped)),
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl Values {
    /// The values of a file of native-endian `f32`s (as [`ValuesWriter`] writes it),
    /// mapped read-only.
    pub fn map_file(path: &std::path::Path) -> std::io::Result<Values> {
        let file = std::fs::File::open(path)?;
        // SAFETY: the file is this process's own sample store, written before and not
        // changed while mapped.
        let map = unsafe { memmap2::Mmap::map(&file)? };
        if map.len() % 4 != 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: not a whole number of f32 values", path.display()),
            ));
        }
        Ok(Values(Repr::Mapped(Arc::new(map))))
    }
}

impl Deref for Values {
    type Target = [f32];

    fn deref(&self) -> &[f32] {
        match &self.0 {
            Repr::Memory(v) => v,
            // A page-aligned mapping of whole f32s (checked in `map_file`).
            #[cfg(not(target_arch = "wasm32"))]
            Repr::Mapped(m) => bytemuck_f32(m),
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn bytemuck_f32(bytes: &[u8]) -> &[f32] {
    debug_assert_eq!(bytes.as_ptr() as usize % std::mem::align_of::<f32>(), 0);
    // SAFETY: the mapping starts on a page boundary (aligned for f32), its length is a
    // multiple of 4, and every bit pattern is a valid f32.
    unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<f32>(), bytes.len() / 4) }
}

impl From<Vec<f32>> for Values {
    fn from(v: Vec<f32>) -> Self {
        Values(Repr::Memory(v))
    }
}

impl Default for Values {
    fn default() -> Self {
        Vec::new().into()
    }
}

impl PartialEq for Values {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl PartialEq<Vec<f32>> for Values {
    fn eq(&self, other: &Vec<f32>) -> bool {
        **self == other[..]
    }
}

impl fmt::Debug for Values {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let place = if self.is_mapped() { "mapped" } else { "memory" };
        write!(f, "Values({} in {place})", self.len())
    }
}

/// Writes values to a file, sample by sample, holding none of them (the streaming
/// half of a sample store).
#[cfg(not(target_arch = "wasm32"))]
pub struct ValuesWriter {
    path: std::path::PathBuf,
    out: std::io::BufWriter<std::fs::File>,
}

#[cfg(not(target_arch = "wasm32"))]
impl ValuesWriter {
    /// Creates (or empties) the file at `path`.
    pub fn create(path: &std::path::Path) -> std::io::Result<Self> {
        Ok(Self {
            path: path.to_path_buf(),
            out: std::io::BufWriter::new(std::fs::File::create(path)?),
        })
    }

    /// Appends `values`.
    pub fn push(&mut self, values: &[f32]) -> std::io::Result<()> {
        use std::io::Write;
        for v in values {
            self.out.write_all(&v.to_ne_bytes())?;
        }
        Ok(())
    }

    /// Flushes the file and maps it.
    pub fn finish(self) -> std::io::Result<Values> {
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Values::map_file(&self.path)
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn a_mapped_file_reads_back_what_was_written() {
        let dir = std::env::temp_dir().join(format!("mla-values-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("v.f32");
        let mut w = ValuesWriter::create(&path).unwrap();
        w.push(&[1.5, -2.0]).unwrap();
        w.push(&[f32::MIN_POSITIVE, 3.25e7]).unwrap();
        let mapped = w.finish().unwrap();
        let memory: Values = vec![1.5, -2.0, f32::MIN_POSITIVE, 3.25e7].into();
        assert!(mapped.is_mapped() && !memory.is_mapped());
        assert_eq!(mapped, memory);
        assert_eq!(&mapped[1..3], &[-2.0, f32::MIN_POSITIVE]);
        std::fs::write(&path, [0u8; 6]).unwrap();
        let err = Values::map_file(&path).unwrap_err().to_string();
        assert!(err.contains("whole number of f32"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
