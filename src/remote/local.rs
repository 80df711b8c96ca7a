//! Writing received entries into the local target directory: every name is checked first,
//! parents are created without following symlinks, and a file is written under a temporary
//! name (`.NAME.ludus-part`) and renamed into place once complete, with its mode and
//! modification time set, so a half file never appears under its real name.

use std::fs::{File, FileTimes, Permissions};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::RemoteError;
use super::listing::{Entry, Kind};
use super::safety::{check_relative, check_symlink, join, part_name, prepare_parents};

/// Writes a received file (`data` yields exactly its content). Returns the bytes written.
pub fn write_file(
    root: &Path,
    side: &str,
    name: &str,
    mode: u32,
    mtime: i64,
    data: &mut dyn Read,
) -> Result<u64, RemoteError> {
    check_relative(side, name)?;
    prepare_parents(root, name)?;
    let path = join(root, name);
    if let Ok(m) = std::fs::symlink_metadata(&path)
        && m.is_dir()
    {
        return Err(RemoteError::KindConflict {
            path: name.to_string(),
            source_kind: "file",
            dest_kind: "directory",
        });
    }
    let tmp = part_name(&path);
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| RemoteError::io(&tmp, e))?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = match data.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                drop(f);
                let _ = std::fs::remove_file(&tmp);
                return Err(RemoteError::Protocol {
                    host: side.to_string(),
                    what: format!("receiving {name}"),
                    problem: e.to_string(),
                });
            }
        };
        f.write_all(&buf[..n])
            .map_err(|e| RemoteError::io(&tmp, e))?;
        total += n as u64;
    }
    f.set_permissions(Permissions::from_mode(mode & 0o1777))
        .map_err(|e| RemoteError::io(&tmp, e))?;
    let t = to_time(mtime);
    f.set_times(FileTimes::new().set_modified(t).set_accessed(t))
        .map_err(|e| RemoteError::io(&tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, &path).map_err(|e| RemoteError::io(&path, e))?;
    Ok(total)
}

/// Creates a received symlink (only if it stays inside the target), via a temporary name.
pub fn write_symlink(root: &Path, side: &str, name: &str, target: &str) -> Result<(), RemoteError> {
    check_relative(side, name)?;
    check_symlink(side, name, target)?;
    prepare_parents(root, name)?;
    let path = join(root, name);
    let tmp = part_name(&path);
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).map_err(|e| RemoteError::io(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| RemoteError::io(&path, e))
}

/// Creates a received directory with its mode.
pub fn make_dir(root: &Path, side: &str, name: &str, mode: u32) -> Result<(), RemoteError> {
    check_relative(side, name)?;
    prepare_parents(root, name)?;
    let path = join(root, name);
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(RemoteError::KindConflict {
            path: name.to_string(),
            source_kind: "directory",
            dest_kind: "file",
        }),
        Err(_) => {
            std::fs::create_dir(&path).map_err(|e| RemoteError::io(&path, e))?;
            // Keep the directory writable for us whatever the remote mode says.
            std::fs::set_permissions(&path, Permissions::from_mode((mode & 0o1777) | 0o700))
                .map_err(|e| RemoteError::io(&path, e))
        }
    }
}

/// Deletes local entries that have no counterpart on the remote side (`--delete`).
/// Directories are removed only when empty.
pub fn delete(root: &Path, entries: &[Entry]) -> Result<u64, RemoteError> {
    let mut n = 0;
    for e in entries {
        check_relative("local directory", &e.name)?;
        let path = join(root, &e.name);
        let r = match e.kind {
            Kind::Dir => std::fs::remove_dir(&path),
            _ => std::fs::remove_file(&path),
        };
        match r {
            Ok(()) => n += 1,
            Err(err)
                if e.kind == Kind::Dir && err.kind() == std::io::ErrorKind::DirectoryNotEmpty => {}
            Err(err) => return Err(RemoteError::io(&path, err)),
        }
    }
    Ok(n)
}

/// SHA-256 of a local file.
pub fn hash_file(path: &Path) -> Result<[u8; 32], RemoteError> {
    use sha2::Digest;
    let mut f = File::open(path).map_err(|e| RemoteError::io(path, e))?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf).map_err(|e| RemoteError::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().into())
}

/// Seconds since the epoch as a `SystemTime` (negative times clamp to the epoch).
pub fn to_time(secs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_atomically_and_refuses_escapes() {
        let dir = std::env::temp_dir().join(format!("ludus-local-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("tmp");
        let n = write_file(
            &dir,
            "h",
            "a/b/c.txt",
            0o640,
            1_600_000_000,
            &mut &b"hello"[..],
        )
        .expect("write");
        assert_eq!(n, 5);
        let m = std::fs::metadata(dir.join("a/b/c.txt")).expect("written");
        assert_eq!(m.permissions().mode() & 0o777, 0o640);
        assert!(!dir.join("a/b/.c.txt.ludus-part").exists());
        assert!(write_file(&dir, "h", "../evil", 0o644, 0, &mut &b"x"[..]).is_err());
        std::os::unix::fs::symlink("/tmp", dir.join("out")).expect("symlink");
        assert!(
            write_file(&dir, "h", "out/evil", 0o644, 0, &mut &b"x"[..]).is_err(),
            "never through a symlink"
        );
        assert!(write_symlink(&dir, "h", "l", "../x").is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
