//! Reading a file whole, for every file a command is handed: only regular files (a
//! device such as `/dev/zero` reads forever, a FIFO blocks until someone writes), and
//! at most `mla::limits::MAX_FILE_BYTES`.

use std::io::{Error, ErrorKind, Read};
use std::path::Path;

use mla::limits::MAX_FILE_BYTES;

/// The bytes of `path`, which must be a regular file (links are followed) of at most
/// [`MAX_FILE_BYTES`].
pub fn read(path: &Path) -> std::io::Result<Vec<u8>> {
    // Checked before opening: opening a FIFO for reading waits for a writer.
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        let what = if meta.is_dir() {
            "a directory"
        } else {
            "not a regular file (a device, FIFO or socket)"
        };
        return Err(Error::new(ErrorKind::InvalidInput, format!("it is {what}")));
    }
    let too_large = |len: u64| {
        Error::new(
            ErrorKind::InvalidData,
            format!("{len} bytes, above the limit of {MAX_FILE_BYTES} for one file"),
        )
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // Bounded even when the file grows while it is read.
    std::fs::File::open(path)?
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// The file system as the core's data sources read it: paths as written (absolute,
/// or relative to the working directory).
pub struct Disk;

impl mla::data::sources::Files for Disk {
    fn read(&self, path: &str) -> Result<Vec<u8>, String> {
        read(Path::new(path)).map_err(|e| format!("cannot read {path} ({e})"))
    }

    fn list(&self, path: &str) -> Result<Vec<String>, String> {
        let entries = std::fs::read_dir(path).map_err(|e| format!("cannot list {path} ({e})"))?;
        Ok(entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect())
    }
}

/// The text of `path` ([`read`], then UTF-8).
pub fn read_to_string(path: &Path) -> std::io::Result<String> {
    String::from_utf8(read(path)?).map_err(|e| Error::new(ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn devices_and_fifos_are_refused_without_reading() {
        let e = read(Path::new("/dev/zero")).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        let dir = std::env::temp_dir().join(format!("mla-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("pipe");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            // Would block forever if it were opened.
            let e = read(&fifo).unwrap_err();
            assert!(e.to_string().contains("not a regular file"), "{e}");
        }
        assert!(read(&dir).unwrap_err().to_string().contains("a directory"));
        std::fs::write(dir.join("f"), b"abc").unwrap();
        assert_eq!(read(&dir.join("f")).unwrap(), b"abc");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
