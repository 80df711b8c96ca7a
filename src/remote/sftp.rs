//! The fallback path, for remotes without `tar` (or GNU `find`): list, send and receive over
//! SFTP, one file at a time. Each file is written under a temporary name (`.NAME.ludus-part`),
//! given its mode and modification time, then renamed into place.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::Digest;
use ssh2::{FileStat, OpenFlags, OpenType, Sftp};

use super::listing::{Entry, Kind, Listing};
use super::local::LocalTree;
use super::plan::Plan;
use super::safety::{check_relative, check_symlink, is_internal, join, part_base};
use super::{Progress, RemoteError};

fn remote_path(dir: &str, name: &str) -> PathBuf {
    if name.is_empty() {
        return PathBuf::from(dir);
    }
    PathBuf::from(format!("{}/{name}", dir.trim_end_matches('/')))
}

fn err(host: &str, what: String, e: ssh2::Error) -> RemoteError {
    super::session::ssh_err(host, &what, e)
}

/// Lists `dir` recursively; `None` if it does not exist. With `check_links`, symlinks leading
/// outside the tree are refused (used for downloads).
pub fn list(
    sftp: &Sftp,
    host: &str,
    dir: &str,
    check_links: bool,
) -> Result<Option<Listing>, RemoteError> {
    match sftp.stat(Path::new(dir)) {
        Ok(st) if st.is_dir() => {}
        Ok(_) => {
            return Err(RemoteError::RemoteCommand {
                host: host.to_string(),
                what: format!("reading {dir}"),
                status: 1,
                stderr: "not a directory".to_string(),
            });
        }
        Err(_) => return Ok(None),
    }
    let mut out = Listing::new();
    let mut todo = vec![String::new()];
    while let Some(rel) = todo.pop() {
        let items = sftp
            .readdir(remote_path(dir, &rel))
            .map_err(|e| err(host, format!("listing {dir}/{rel}"), e))?;
        for (path, st) in items {
            let base =
                path.file_name()
                    .and_then(|n| n.to_str())
                    .ok_or_else(|| RemoteError::Protocol {
                        host: host.to_string(),
                        what: "listing over SFTP".to_string(),
                        problem: format!("{}: the name is not UTF-8", path.display()),
                    })?;
            let name = if rel.is_empty() {
                base.to_string()
            } else {
                format!("{rel}/{base}")
            };
            check_relative(host, &name)?;
            if is_internal(&name) {
                continue;
            }
            let ft = st.file_type();
            let kind = if ft.is_dir() {
                todo.push(name.clone());
                Kind::Dir
            } else if ft.is_symlink() {
                let target = sftp
                    .readlink(&path)
                    .map_err(|e| err(host, format!("reading link {name}"), e))?;
                let target = target.to_string_lossy().into_owned();
                if check_links {
                    check_symlink(host, &name, &target)?;
                }
                Kind::Symlink(target)
            } else if ft.is_file() {
                Kind::File
            } else {
                continue;
            };
            let size = if kind == Kind::File {
                st.size.unwrap_or(0)
            } else {
                0
            };
            let mtime = st.mtime.unwrap_or(0) as i64;
            out.insert(
                name.clone(),
                Entry {
                    name,
                    kind,
                    size,
                    mtime,
                    mode: st.perm.unwrap_or(0o644) & 0o7777,
                },
            );
        }
    }
    Ok(Some(out))
}

fn mkdir_p(sftp: &Sftp, host: &str, dir: &str) -> Result<(), RemoteError> {
    let mut path = String::new();
    for (i, part) in dir.split('/').enumerate() {
        if i > 0 {
            path.push('/');
        }
        path.push_str(part);
        if part.is_empty() || part == "." {
            continue;
        }
        if sftp.stat(Path::new(&path)).is_err() {
            sftp.mkdir(Path::new(&path), 0o755)
                .map_err(|e| err(host, format!("creating {path}"), e))?;
        }
    }
    Ok(())
}

/// Sends the planned directories, files and symlinks.
pub fn upload(
    sftp: &Sftp,
    host: &str,
    local_dir: &Path,
    remote_dir: &str,
    exists: bool,
    plan: &Plan,
    progress: &mut dyn Progress,
) -> Result<(), RemoteError> {
    if !exists {
        mkdir_p(sftp, host, remote_dir)?;
    }
    for d in &plan.dirs {
        let p = remote_path(remote_dir, &d.name);
        sftp.mkdir(&p, (d.mode & 0o7777) as i32)
            .map_err(|e| err(host, format!("creating {}", p.display()), e))?;
    }
    let mut buf = vec![0u8; 256 * 1024];
    let mut checked = std::collections::HashSet::new();
    for e in &plan.send {
        real_parents(sftp, host, remote_dir, &e.name, &mut checked)?;
        let dst = remote_path(remote_dir, &e.name);
        let tmp = remote_path(remote_dir, &temp_name(&e.name));
        match &e.kind {
            Kind::File => {
                let src = join(local_dir, &e.name);
                let mut f = std::fs::File::open(&src).map_err(|err| RemoteError::io(&src, err))?;
                // The temporary name may be a symlink planted by another user of a shared
                // folder: remove it (unlink never follows a link) and create the file anew,
                // exclusively (O_EXCL fails on any existing name, a dangling link included).
                let _ = sftp.unlink(&tmp);
                let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCLUSIVE;
                let mut rf = sftp
                    .open_mode(&tmp, flags, 0o600, OpenType::File)
                    .map_err(|er| err(host, format!("creating {}", dst.display()), er))?;
                loop {
                    let n = f.read(&mut buf).map_err(|er| RemoteError::io(&src, er))?;
                    if n == 0 {
                        break;
                    }
                    rf.write_all(&buf[..n])
                        .map_err(|er| RemoteError::Protocol {
                            host: host.to_string(),
                            what: format!("writing {}", dst.display()),
                            problem: er.to_string(),
                        })?;
                }
                let stat = FileStat {
                    size: None,
                    uid: None,
                    gid: None,
                    perm: Some(e.mode & 0o7777),
                    atime: Some(e.mtime.max(0) as u64),
                    mtime: Some(e.mtime.max(0) as u64),
                };
                // On the open handle, not the name: nothing swapped in meanwhile is touched.
                rf.setstat(stat)
                    .map_err(|er| err(host, format!("setting times of {}", dst.display()), er))?;
                drop(rf);
            }
            Kind::Symlink(target) => {
                let _ = sftp.unlink(&tmp);
                sftp.symlink(Path::new(target), &tmp)
                    .map_err(|er| err(host, format!("creating link {}", tmp.display()), er))?;
            }
            Kind::Dir => continue,
        }
        install(sftp, host, &tmp, &dst)?;
        progress.file_done(e.size);
    }
    Ok(())
}

/// Checks (once per directory) that every parent of `name` below `remote_dir` is a real
/// directory, not a symlink someone put there since the listing: ludus never writes through one.
fn real_parents(
    sftp: &Sftp,
    host: &str,
    remote_dir: &str,
    name: &str,
    checked: &mut std::collections::HashSet<String>,
) -> Result<(), RemoteError> {
    let mut parent = String::new();
    let parts: Vec<&str> = name.split('/').collect();
    for part in &parts[..parts.len() - 1] {
        if !parent.is_empty() {
            parent.push('/');
        }
        parent.push_str(part);
        if checked.contains(&parent) {
            continue;
        }
        let p = remote_path(remote_dir, &parent);
        let st = sftp
            .lstat(&p)
            .map_err(|e| err(host, format!("checking {}", p.display()), e))?;
        if !st.file_type().is_dir() {
            return Err(RemoteError::UnsafePath {
                side: host.to_string(),
                path: name.to_string(),
                problem: format!(
                    "{} is a {} on the remote side, not a directory; ludus does not write through it",
                    p.display(),
                    if st.file_type().is_symlink() {
                        "symlink"
                    } else {
                        "file"
                    }
                ),
            });
        }
        checked.insert(parent.clone());
    }
    Ok(())
}

/// Renames `tmp` over `dst`. SFTP v3 servers refuse to rename over an existing file, so the
/// old file is removed first in that case (the name is briefly absent, never half written).
fn install(sftp: &Sftp, host: &str, tmp: &Path, dst: &Path) -> Result<(), RemoteError> {
    if sftp.rename(tmp, dst, None).is_ok() {
        return Ok(());
    }
    let _ = sftp.unlink(dst);
    sftp.rename(tmp, dst, None).map_err(|e| {
        err(
            host,
            format!("renaming {} to {}", tmp.display(), dst.display()),
            e,
        )
    })
}

fn temp_name(name: &str) -> String {
    match name.rsplit_once('/') {
        Some((dir, base)) => format!("{dir}/{}", part_base(base)),
        None => part_base(name),
    }
}

/// Receives the planned files and symlinks.
pub fn download(
    sftp: &Sftp,
    host: &str,
    remote_dir: &str,
    local: &mut LocalTree,
    plan: &Plan,
    progress: &mut dyn Progress,
) -> Result<(), RemoteError> {
    for e in &plan.send {
        let src = remote_path(remote_dir, &e.name);
        match &e.kind {
            Kind::File => {
                let mut rf = sftp
                    .open(&src)
                    .map_err(|er| err(host, format!("opening {}", src.display()), er))?;
                let n = local.write_file(&e.name, e.mode, e.mtime, &mut rf)?;
                progress.file_done(n);
            }
            Kind::Symlink(target) => {
                local.write_symlink(&e.name, target)?;
                progress.file_done(0);
            }
            Kind::Dir => {}
        }
    }
    Ok(())
}

/// Deletes remote entries (`--delete`); directories only when empty.
pub fn delete(
    sftp: &Sftp,
    host: &str,
    remote_dir: &str,
    entries: &[Entry],
) -> Result<u64, RemoteError> {
    let mut n = 0;
    let mut checked = std::collections::HashSet::new();
    for e in entries {
        real_parents(sftp, host, remote_dir, &e.name, &mut checked)?;
        let p = remote_path(remote_dir, &e.name);
        let r = if e.kind == Kind::Dir {
            sftp.rmdir(&p)
        } else {
            sftp.unlink(&p)
        };
        match r {
            Ok(()) => n += 1,
            Err(_) if e.kind == Kind::Dir => {}
            Err(er) => return Err(err(host, format!("deleting {}", p.display()), er)),
        }
    }
    Ok(n)
}

/// SHA-256 of remote files, read over SFTP.
pub fn hash(
    sftp: &Sftp,
    host: &str,
    dir: &str,
    names: &[&str],
) -> Result<HashMap<String, [u8; 32]>, RemoteError> {
    let mut out = HashMap::new();
    let mut buf = vec![0u8; 256 * 1024];
    for name in names {
        let p = remote_path(dir, name);
        let mut f = sftp
            .open(&p)
            .map_err(|e| err(host, format!("opening {}", p.display()), e))?;
        let mut h = sha2::Sha256::new();
        loop {
            let n = f.read(&mut buf).map_err(|e| RemoteError::Protocol {
                host: host.to_string(),
                what: format!("reading {}", p.display()),
                problem: e.to_string(),
            })?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        out.insert(name.to_string(), h.finalize().into());
    }
    Ok(out)
}
