//! Opening files where a regular file is expected (a spec, an agents file, a custom MDP's
//! `file`, an instance `<id>.bin`): a FIFO, a device or a folder is refused at once instead of
//! blocking on `open` or `read` forever, and a file larger than its caller's limit is refused
//! before it is read.
//!
//! The open uses `O_NONBLOCK` (opening a FIFO with no writer returns at once instead of
//! waiting for one) and `O_NOCTTY`; the type is then checked on the open descriptor (`fstat`),
//! so a file swapped between a check and the open is still judged by what was opened.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// What a path is, in words, when it is not a regular file.
fn kind(ft: &std::fs::FileType) -> &'static str {
    if ft.is_dir() {
        "a folder"
    } else if ft.is_fifo() {
        "a FIFO (named pipe)"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else {
        "not a regular file"
    }
}

/// Opens `path` for reading only if it is a regular file (after following symlinks), without
/// ever blocking on the open. Anything else is an `InvalidInput` error saying what it is.
pub fn open(path: &Path) -> io::Result<File> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let ft = file.metadata()?.file_type();
    if !ft.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} where a regular file is expected", kind(&ft)),
        ));
    }
    Ok(file)
}

/// Reads a whole regular file, refusing anything else (see [`open`]) and any file larger than
/// `limit` bytes (an `InvalidData` error giving both sizes).
pub fn read(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let mut file = open(path)?;
    let len = file.metadata()?.len();
    if len > limit {
        return Err(too_big(len, limit));
    }
    let mut buf = Vec::with_capacity(len as usize);
    // `take` guards against a file that grows while it is read.
    (&mut file).take(limit + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > limit {
        return Err(too_big(buf.len() as u64, limit));
    }
    Ok(buf)
}

/// Like [`read`], for UTF-8 text.
pub fn read_to_string(path: &Path, limit: u64) -> io::Result<String> {
    String::from_utf8(read(path, limit)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"))
}

fn too_big(len: u64, limit: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{len} bytes, above the limit of {limit} bytes for this kind of file"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_folder_and_big_files_are_refused_without_blocking() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("p");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read(&fifo, 100).unwrap_err();
        assert!(e.to_string().contains("FIFO"), "{e}");
        let e = read(d.path(), 100).unwrap_err();
        assert!(e.to_string().contains("a folder"), "{e}");
        let f = d.path().join("f");
        std::fs::write(&f, b"12345").unwrap();
        assert_eq!(read(&f, 5).unwrap(), b"12345");
        let e = read(&f, 4).unwrap_err();
        assert!(
            e.to_string().contains("5 bytes, above the limit of 4"),
            "{e}"
        );
    }
}
