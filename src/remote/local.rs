//! Writing received entries into the local target directory: every name is checked first,
//! parents are created without following symlinks, and a file is written under a temporary
//! name (`.NAME.ludus-part`) and renamed into place once complete, with its mode and
//! modification time set, so a half file never appears under its real name.

use std::collections::HashSet;
use std::fs::{File, FileTimes, Permissions};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::RemoteError;
use super::listing::{Entry, Kind};
use super::safety::{check_relative, check_symlink, join, part_name, prepare_parents};

/// The local target directory of a download: writes received entries, remembering which
/// parent directories were already checked (so a tree of many files costs one check per
/// directory, not per file).
pub struct LocalTree {
    root: PathBuf,
    side: String,
    checked: HashSet<String>,
}

impl LocalTree {
    /// A target at `root` receiving from `side` (the host, for messages).
    pub fn new(root: &Path, side: &str) -> LocalTree {
        LocalTree {
            root: root.to_path_buf(),
            side: side.to_string(),
            checked: HashSet::new(),
        }
    }

    /// Creates the parents of `name` (checked), never going through a symlink.
    fn parents(&mut self, name: &str) -> Result<(), RemoteError> {
        let Some((parent, _)) = name.rsplit_once('/') else {
            return Ok(());
        };
        if self.checked.contains(parent) {
            return Ok(());
        }
        prepare_parents(&self.root, name)?;
        let mut p = parent;
        loop {
            self.checked.insert(p.to_string());
            match p.rsplit_once('/') {
                Some((up, _)) => p = up,
                None => break,
            }
        }
        Ok(())
    }

    /// Writes a received file (`data` yields exactly its content). Returns the bytes written.
    pub fn write_file(
        &mut self,
        name: &str,
        mode: u32,
        mtime: i64,
        data: &mut dyn Read,
    ) -> Result<u64, RemoteError> {
        check_relative(&self.side, name)?;
        self.parents(name)?;
        let path = join(&self.root, name);
        let tmp = part_name(&path);
        let open = || {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
        };
        // Errors name the real file: the temporary name is ludus's business.
        let fail = |e: std::io::Error| {
            let _ = std::fs::remove_file(&tmp);
            RemoteError::io(&path, e)
        };
        let mut f = match open() {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                // Left by an interrupted run: replace it (never write through it).
                std::fs::remove_file(&tmp).map_err(|e| RemoteError::io(&path, e))?;
                open().map_err(|e| RemoteError::io(&path, e))?
            }
            Err(e) => return Err(RemoteError::io(&path, e)),
        };
        let mut buf = vec![0u8; 64 * 1024];
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
                        host: self.side.clone(),
                        what: format!("receiving {name}"),
                        problem: e.to_string(),
                    });
                }
            };
            f.write_all(&buf[..n]).map_err(fail)?;
            total += n as u64;
        }
        f.set_permissions(Permissions::from_mode(mode & 0o1777))
            .map_err(fail)?;
        let t = to_time(mtime);
        f.set_times(FileTimes::new().set_modified(t).set_accessed(t))
            .map_err(fail)?;
        drop(f);
        // rename() replaces a file or symlink but fails on a directory: a kind conflict.
        std::fs::rename(&tmp, &path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            if path.is_dir() {
                RemoteError::KindConflict {
                    path: name.to_string(),
                    source_kind: "file",
                    dest_kind: "directory",
                }
            } else {
                RemoteError::io(&path, e)
            }
        })?;
        Ok(total)
    }

    /// Creates a received symlink (only if it stays inside the target), via a temporary name.
    pub fn write_symlink(&mut self, name: &str, target: &str) -> Result<(), RemoteError> {
        check_relative(&self.side, name)?;
        check_symlink(&self.side, name, target)?;
        self.parents(name)?;
        let path = join(&self.root, name);
        let tmp = part_name(&path);
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(target, &tmp).map_err(|e| RemoteError::io(&path, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            RemoteError::io(&path, e)
        })
    }

    /// Creates a received directory with its mode.
    pub fn make_dir(&mut self, name: &str, mode: u32) -> Result<(), RemoteError> {
        check_relative(&self.side, name)?;
        self.parents(name)?;
        let path = join(&self.root, name);
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
                    .map_err(|e| RemoteError::io(&path, e))?;
                self.checked.insert(name.to_string());
                Ok(())
            }
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
        let mut tree = LocalTree::new(&dir, "h");
        let n = tree
            .write_file("a/b/c.txt", 0o640, 1_600_000_000, &mut &b"hello"[..])
            .expect("write");
        assert_eq!(n, 5);
        let m = std::fs::metadata(dir.join("a/b/c.txt")).expect("written");
        assert_eq!(m.permissions().mode() & 0o777, 0o640);
        assert!(!dir.join("a/b/.c.txt.ludus-part").exists());
        assert!(
            tree.write_file("../evil", 0o644, 0, &mut &b"x"[..])
                .is_err()
        );
        std::os::unix::fs::symlink("/tmp", dir.join("out")).expect("symlink");
        assert!(
            tree.write_file("out/evil", 0o644, 0, &mut &b"x"[..])
                .is_err(),
            "never through a symlink"
        );
        assert!(tree.write_symlink("l", "../x").is_err());
        // A second tree (no cached parents) must also refuse the symlinked directory.
        let mut fresh = LocalTree::new(&dir, "h");
        assert!(
            fresh
                .write_file("out/evil2", 0o644, 0, &mut &b"x"[..])
                .is_err()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
