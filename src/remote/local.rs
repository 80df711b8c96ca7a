//! Writing received entries into the local target directory: every name is checked first,
//! and a file is written under a temporary name (`.NAME.ludus-part`) and renamed into place once
//! complete, with its mode and modification time set, so a half file never appears under its
//! real name.
//!
//! Nothing is ever written through a symlink, even one that appears while the download runs:
//! every write goes through a descriptor of its parent directory, reached from the target's own
//! descriptor one component at a time with `openat(O_DIRECTORY | O_NOFOLLOW)` (a component that
//! is a symlink fails with `ELOOP` instead of being followed), and files are created with
//! `O_CREAT | O_EXCL | O_NOFOLLOW` relative to that descriptor, then `renameat` into place.

use std::fs::{File, FileTimes};
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

use super::RemoteError;
use super::listing::{Entry, Kind};
use super::safety::{check_relative, check_symlink, join, part_base};

/// The local target directory of a download: writes received entries through directory
/// descriptors, keeping the last parent's open (entries arrive in name order, so a tree of many
/// files costs one walk per directory, not per file).
pub struct LocalTree {
    root: PathBuf,
    root_fd: OwnedFd,
    side: String,
    /// The parent directory used last: its relative name and descriptor.
    last: Option<(String, OwnedFd)>,
}

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

impl LocalTree {
    /// A target at `root` (an existing directory, not a symlink) receiving from `side` (the
    /// host, for messages).
    pub fn new(root: &Path, side: &str) -> Result<LocalTree, RemoteError> {
        let root_fd = rustix::fs::open(root, DIR_FLAGS, Mode::empty())
            .map_err(|e| RemoteError::io(root, e.into()))?;
        Ok(LocalTree {
            root: root.to_path_buf(),
            root_fd,
            side: side.to_string(),
            last: None,
        })
    }

    fn symlink_refused(&self, name: &str, at: &str) -> RemoteError {
        RemoteError::UnsafePath {
            side: "local directory".to_string(),
            path: name.to_string(),
            problem: format!(
                "{} is a symlink; ludus does not write through symlinks",
                join(&self.root, at).display()
            ),
        }
    }

    /// Opens (creating if missing) the directory `dir` (relative, `""` for the root) without
    /// following any symlink, for writing the entry `name` into it.
    fn open_dir(&self, dir: &str, name: &str) -> Result<OwnedFd, RemoteError> {
        let mut cur: Option<OwnedFd> = None;
        let mut walked = String::new();
        for part in dir.split('/').filter(|p| !p.is_empty()) {
            if !walked.is_empty() {
                walked.push('/');
            }
            walked.push_str(part);
            let at = cur.as_ref().map_or(self.root_fd.as_fd(), |f| f.as_fd());
            let opened = match rustix::fs::openat(at, part, DIR_FLAGS, Mode::empty()) {
                Err(Errno::NOENT) => {
                    match rustix::fs::mkdirat(at, part, Mode::from_raw_mode(0o777)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(RemoteError::io(join(&self.root, &walked), e.into())),
                    }
                    rustix::fs::openat(at, part, DIR_FLAGS, Mode::empty())
                }
                r => r,
            };
            cur = Some(match opened {
                Ok(fd) => fd,
                Err(Errno::LOOP) => return Err(self.symlink_refused(name, &walked)),
                Err(Errno::NOTDIR) => {
                    let is_link = rustix::fs::statat(at, part, AtFlags::SYMLINK_NOFOLLOW)
                        .is_ok_and(|st| {
                            rustix::fs::FileType::from_raw_mode(st.st_mode)
                                == rustix::fs::FileType::Symlink
                        });
                    if is_link {
                        return Err(self.symlink_refused(name, &walked));
                    }
                    return Err(RemoteError::KindConflict {
                        path: name.to_string(),
                        source_kind: "directory",
                        dest_kind: "file",
                    });
                }
                Err(e) => return Err(RemoteError::io(join(&self.root, &walked), e.into())),
            });
        }
        match cur {
            Some(fd) => Ok(fd),
            None => {
                rustix::io::dup(&self.root_fd).map_err(|e| RemoteError::io(&self.root, e.into()))
            }
        }
    }

    /// The descriptor of the parent of `name`, and `name`'s last component.
    fn parent<'n>(&mut self, name: &'n str) -> Result<(BorrowedFd<'_>, &'n str), RemoteError> {
        let (dir, base) = name.rsplit_once('/').unwrap_or(("", name));
        if dir.is_empty() {
            return Ok((self.root_fd.as_fd(), base));
        }
        if self.last.as_ref().is_none_or(|(d, _)| d != dir) {
            let fd = self.open_dir(dir, name)?;
            self.last = Some((dir.to_string(), fd));
        }
        let fd = self
            .last
            .as_ref()
            .map(|(_, f)| f.as_fd())
            .unwrap_or(self.root_fd.as_fd());
        Ok((fd, base))
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
        let path = join(&self.root, name);
        let side = self.side.clone();
        let (dir, base) = self.parent(name)?;
        let tmp = part_base(base);
        // Errors name the real file: the temporary name is ludus's business.
        let io = |e: std::io::Error| RemoteError::io(&path, e);
        let create = || {
            rustix::fs::openat(
                dir,
                tmp.as_str(),
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )
        };
        let fd = match create() {
            Ok(fd) => fd,
            Err(Errno::EXIST) => {
                // Left by an interrupted run (or planted): remove the name, never follow it.
                rustix::fs::unlinkat(dir, tmp.as_str(), AtFlags::empty())
                    .map_err(|e| io(e.into()))?;
                create().map_err(|e| io(e.into()))?
            }
            Err(e) => return Err(io(e.into())),
        };
        let discard = |e: std::io::Error| {
            let _ = rustix::fs::unlinkat(dir, tmp.as_str(), AtFlags::empty());
            RemoteError::io(&path, e)
        };
        let mut f = File::from(fd);
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        loop {
            let n = match data.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    drop(f);
                    let _ = rustix::fs::unlinkat(dir, tmp.as_str(), AtFlags::empty());
                    return Err(RemoteError::Protocol {
                        host: side,
                        what: format!("receiving {name}"),
                        problem: e.to_string(),
                    });
                }
            };
            f.write_all(&buf[..n]).map_err(discard)?;
            total += n as u64;
        }
        rustix::fs::fchmod(&f, Mode::from_raw_mode(mode & 0o1777))
            .map_err(|e| discard(e.into()))?;
        let t = to_time(mtime);
        f.set_times(FileTimes::new().set_modified(t).set_accessed(t))
            .map_err(discard)?;
        drop(f);
        // renameat() replaces a file or symlink but fails on a directory: a kind conflict.
        rustix::fs::renameat(dir, tmp.as_str(), dir, base).map_err(|e| {
            let _ = rustix::fs::unlinkat(dir, tmp.as_str(), AtFlags::empty());
            let is_dir = rustix::fs::statat(dir, base, AtFlags::SYMLINK_NOFOLLOW).is_ok_and(|st| {
                rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory
            });
            if is_dir {
                RemoteError::KindConflict {
                    path: name.to_string(),
                    source_kind: "file",
                    dest_kind: "directory",
                }
            } else {
                RemoteError::io(&path, e.into())
            }
        })?;
        Ok(total)
    }

    /// Creates a received symlink (only if it stays inside the target), via a temporary name.
    pub fn write_symlink(&mut self, name: &str, target: &str) -> Result<(), RemoteError> {
        check_relative(&self.side, name)?;
        check_symlink(&self.side, name, target)?;
        let path = join(&self.root, name);
        let (dir, base) = self.parent(name)?;
        let tmp = part_base(base);
        let _ = rustix::fs::unlinkat(dir, tmp.as_str(), AtFlags::empty());
        rustix::fs::symlinkat(target, dir, tmp.as_str())
            .map_err(|e| RemoteError::io(&path, e.into()))?;
        rustix::fs::renameat(dir, tmp.as_str(), dir, base).map_err(|e| {
            let _ = rustix::fs::unlinkat(dir, tmp.as_str(), AtFlags::empty());
            RemoteError::io(&path, e.into())
        })
    }

    /// Creates a received directory with its mode.
    pub fn make_dir(&mut self, name: &str, mode: u32) -> Result<(), RemoteError> {
        check_relative(&self.side, name)?;
        let path = join(&self.root, name);
        let (dir, base) = self.parent(name)?;
        match rustix::fs::mkdirat(dir, base, Mode::from_raw_mode(0o700)) {
            Ok(()) => {
                // Keep the directory writable for us whatever the remote mode says; set on a
                // descriptor of the new directory, never by name.
                let fd = rustix::fs::openat(dir, base, DIR_FLAGS, Mode::empty())
                    .map_err(|e| RemoteError::io(&path, e.into()))?;
                rustix::fs::fchmod(&fd, Mode::from_raw_mode((mode & 0o1777) | 0o700))
                    .map_err(|e| RemoteError::io(&path, e.into()))
            }
            Err(Errno::EXIST) => match rustix::fs::openat(dir, base, DIR_FLAGS, Mode::empty()) {
                Ok(_) => Ok(()),
                Err(Errno::LOOP) => Err(self_symlink(&self.root, name)),
                Err(_) => Err(RemoteError::KindConflict {
                    path: name.to_string(),
                    source_kind: "directory",
                    dest_kind: "file",
                }),
            },
            Err(e) => Err(RemoteError::io(&path, e.into())),
        }
    }
}

impl LocalTree {
    /// Deletes local entries that have no counterpart on the remote side (`--delete`), each
    /// through a descriptor of its parent (never through a symlink). Directories are removed
    /// only when empty.
    pub fn delete(&mut self, entries: &[Entry]) -> Result<u64, RemoteError> {
        let mut n = 0;
        for e in entries {
            check_relative("local directory", &e.name)?;
            let path = join(&self.root, &e.name);
            let (dir, base) = self.parent(&e.name)?;
            let flags = match e.kind {
                Kind::Dir => AtFlags::REMOVEDIR,
                _ => AtFlags::empty(),
            };
            match rustix::fs::unlinkat(dir, base, flags) {
                Ok(()) => n += 1,
                Err(Errno::NOTEMPTY | Errno::EXIST) if e.kind == Kind::Dir => {}
                Err(err) => return Err(RemoteError::io(&path, err.into())),
            }
        }
        Ok(n)
    }
}

fn self_symlink(root: &Path, name: &str) -> RemoteError {
    RemoteError::UnsafePath {
        side: "local directory".to_string(),
        path: name.to_string(),
        problem: format!(
            "{} is a symlink; ludus does not write through symlinks",
            join(root, name).display()
        ),
    }
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
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn writes_atomically_and_refuses_escapes() {
        let dir = std::env::temp_dir().join(format!("ludus-local-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("tmp");
        let mut tree = LocalTree::new(&dir, "h").expect("open");
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
        let mut fresh = LocalTree::new(&dir, "h").expect("open");
        assert!(
            fresh
                .write_file("out/evil2", 0o644, 0, &mut &b"x"[..])
                .is_err()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_directory_swapped_for_a_symlink_mid_download_is_not_followed() {
        let base = std::env::temp_dir().join(format!("ludus-local-swap-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let (dir, outside) = (base.join("target"), base.join("outside"));
        std::fs::create_dir_all(&dir).expect("target");
        std::fs::create_dir_all(&outside).expect("outside");
        let mut tree = LocalTree::new(&dir, "h").expect("open");
        tree.write_file("logs/a.csv", 0o644, 0, &mut &b"a"[..])
            .expect("write");
        // Someone moves `logs` away and puts a symlink to elsewhere at its place.
        std::fs::rename(dir.join("logs"), base.join("moved")).expect("move");
        std::os::unix::fs::symlink(&outside, dir.join("logs")).expect("symlink");
        let _ = tree.write_file("logs/b.csv", 0o644, 0, &mut &b"b"[..]);
        let _ = tree.write_symlink("logs/l", "a.csv");
        let _ = tree.make_dir("logs/d", 0o755);
        let mut fresh = LocalTree::new(&dir, "h").expect("open");
        assert!(
            fresh
                .write_file("logs/c.csv", 0o644, 0, &mut &b"c"[..])
                .is_err()
        );
        assert_eq!(
            std::fs::read_dir(&outside).expect("ls").count(),
            0,
            "written through the symlink"
        );
        let _ = std::fs::remove_dir_all(&base);
    }
}
