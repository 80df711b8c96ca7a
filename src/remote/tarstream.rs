//! The fast path: many files as one tar stream over the probe's exec channel, so a tree of
//! thousands of small files costs a few round trips instead of one per file. Upload extracts
//! into the staging directory, whose contents the remote shell then moves into place; download
//! parses the stream locally and checks every entry (it must be a name that was asked for, and
//! safe) before writing it.

use std::collections::HashMap;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use super::commands::tail;
use super::listing::{Entry, Kind, Listing};
use super::local::LocalTree;
use super::plan::Plan;
use super::safety::join;
use super::session::{Connection, finish_channel, read_stderr};

use super::{Progress, RemoteError};

/// What [`upload`] sends.
pub struct UploadJob<'a> {
    /// The local directory.
    pub local_dir: &'a Path,
    /// The filtered local listing (for directory modes).
    pub source: &'a Listing,
    /// The plan.
    pub plan: &'a Plan,
    /// The local directory itself, as an entry (its mode goes to the remote directory).
    pub root: &'a Entry,
    /// No top-level name of the upload exists remotely yet.
    pub fresh: bool,
}

/// Sends the planned files (and the directories leading to them) as one tar stream over the
/// probe's channel `ch`, whose shell then installs them.
pub fn upload(
    conn: &Connection,
    mut ch: ssh2::Channel,
    job: &UploadJob<'_>,
    progress: &mut dyn Progress,
) -> Result<(), RemoteError> {
    let host = conn.host_label();
    // Fresh: no top-level name exists remotely, so one `mv` renames every staged subtree into
    // place. Otherwise each staged file is hard-linked over the old one.
    // The local directory's own mode and time travel in the header line, not as a `./` tar
    // entry: tar must never change the mode of the staging directory (700, see commands.rs).
    let header = format!(
        "{} {:o} {}\n",
        if job.fresh { "fresh" } else { "link" },
        job.root.mode & 0o7777,
        job.root.mtime.max(0)
    );
    let sent = ch.write_all(header.as_bytes()).map_err(|e| e.to_string());
    let sent =
        sent.and_then(|()| write_archive(&mut ch, job.local_dir, job.source, job.plan, progress));
    let _ = ch.send_eof();
    let stderr = read_stderr(&mut ch);
    let status = finish_channel(&mut ch, &host)?;
    if status != 0 {
        return Err(RemoteError::RemoteCommand {
            host,
            what: "unpacking the upload (tar, cp)".to_string(),
            status,
            stderr: tail(&stderr),
        });
    }
    sent.map_err(|problem| RemoteError::Protocol {
        host,
        what: "sending the tar stream".to_string(),
        problem,
    })
}

fn write_archive(
    ch: &mut ssh2::Channel,
    local_dir: &Path,
    source: &Listing,
    plan: &Plan,
    progress: &mut dyn Progress,
) -> Result<(), String> {
    let w = BufWriter::with_capacity(256 * 1024, ch);
    let mut tar = tar::Builder::new(w);
    // Directories first where they are missing, and every ancestor of a sent file, so the
    // installed directories keep the sender's modes.
    let mut dirs: std::collections::BTreeSet<&str> =
        plan.dirs.iter().map(|d| d.name.as_str()).collect();
    for e in &plan.send {
        let mut n = e.name.as_str();
        while let Some((p, _)) = n.rsplit_once('/') {
            dirs.insert(p);
            n = p;
        }
    }
    for d in dirs {
        if let Some(e) = source.get(d) {
            append_dir(&mut tar, d, e).map_err(|e| format!("{d}: {e}"))?;
        }
    }
    for e in &plan.send {
        let path = join(local_dir, &e.name);
        let mut h = tar::Header::new_gnu();
        h.set_mode(e.mode);
        h.set_mtime(e.mtime.max(0) as u64);
        h.set_uid(0);
        h.set_gid(0);
        match &e.kind {
            Kind::Symlink(target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                tar.append_link(&mut h, &e.name, target)
                    .map_err(|err| format!("{}: {err}", e.name))?;
            }
            Kind::File => {
                let f = std::fs::File::open(&path)
                    .map_err(|err| format!("{}: {err}", path.display()))?;
                let size = f.metadata().map(|m| m.len()).unwrap_or(e.size);
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(size);
                tar.append_data(
                    &mut h,
                    &e.name,
                    Exact {
                        inner: f,
                        left: size,
                    },
                )
                .map_err(|err| format!("{}: {err}", e.name))?;
            }
            Kind::Dir => continue,
        }
        progress.file_done(e.size);
    }
    tar.finish().map_err(|e| e.to_string())?;
    let mut w = tar.into_inner().map_err(|e| e.to_string())?;
    w.flush().map_err(|e| e.to_string())
}

fn append_dir<W: Write>(tar: &mut tar::Builder<W>, name: &str, e: &Entry) -> std::io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(e.mode);
    h.set_mtime(e.mtime.max(0) as u64);
    h.set_size(0);
    tar.append_data(&mut h, name, std::io::empty())
}

/// Yields exactly `left` bytes: the file's, then zeros if it shrank while being sent (its
/// size then no longer matches, so the next run sends it again).
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf.len().min(self.left as usize);
        let n = match self.inner.read(&mut buf[..want])? {
            0 => {
                buf[..want].fill(0);
                want
            }
            n => n,
        };
        self.left -= n as u64;
        Ok(n)
    }
}

/// Receives the planned files and symlinks as a tar stream over the probe's channel `ch`.
pub fn download(
    conn: &Connection,
    mut ch: ssh2::Channel,
    local: &mut LocalTree,
    plan: &Plan,
    progress: &mut dyn Progress,
) -> Result<(), RemoteError> {
    let host = conn.host_label();
    let wanted: HashMap<&str, &Entry> = plan.send.iter().map(|e| (e.name.as_str(), e)).collect();
    // Names get a `./` prefix so none can be taken for an option.
    let mut list = b"go\n".to_vec();
    for e in &plan.send {
        list.extend_from_slice(b"./");
        list.extend_from_slice(e.name.as_bytes());
        list.push(0);
    }
    let io_err = |e: std::io::Error| RemoteError::Protocol {
        host: host.clone(),
        what: "sending the file list".to_string(),
        problem: e.to_string(),
    };
    ch.write_all(&list).map_err(io_err)?;
    ch.send_eof()
        .map_err(|e| super::session::ssh_err(&host, "closing stdin", e))?;
    let received = read_archive(&mut ch, &host, local, &wanted, progress);
    let stderr = read_stderr(&mut ch);
    let status = finish_channel(&mut ch, &host)?;
    received?;
    // GNU tar exits 1 when a file changed while it was read: the data is still consistent
    // with the header, and a later run fixes any difference.
    if status > 1 {
        return Err(RemoteError::RemoteCommand {
            host,
            what: "packing the download (tar)".to_string(),
            status,
            stderr: tail(&stderr),
        });
    }
    Ok(())
}

fn read_archive(
    ch: &mut ssh2::Channel,
    host: &str,
    local: &mut LocalTree,
    wanted: &HashMap<&str, &Entry>,
    progress: &mut dyn Progress,
) -> Result<(), RemoteError> {
    let proto = |problem: String| RemoteError::Protocol {
        host: host.to_string(),
        what: "receiving the tar stream".to_string(),
        problem,
    };
    let mut archive = tar::Archive::new(BufReader::with_capacity(256 * 1024, ch));
    for entry in archive.entries().map_err(|e| proto(e.to_string()))? {
        let mut entry = entry.map_err(|e| proto(e.to_string()))?;
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8(raw).map_err(|_| proto("a name is not UTF-8".to_string()))?;
        let name = name
            .strip_prefix("./")
            .unwrap_or(&name)
            .trim_end_matches('/')
            .to_string();
        super::safety::check_relative(host, &name)?;
        let Some(want) = wanted.get(name.as_str()) else {
            return Err(RemoteError::UnsafePath {
                side: host.to_string(),
                path: name,
                problem: "the remote sent a name that was not asked for".to_string(),
            });
        };
        let header = entry.header();
        let mode = header.mode().map_err(|e| proto(e.to_string()))?;
        let mtime = header.mtime().map_err(|e| proto(e.to_string()))? as i64;
        // The entry must be what the listing said (and what the plan was checked against): a
        // file listed as a file, a symlink with the very target listed.
        let mismatch = |got: String| RemoteError::UnsafePath {
            side: host.to_string(),
            path: name.clone(),
            problem: format!(
                "the tar stream sent {got} where the listing had a {}",
                match &want.kind {
                    Kind::Symlink(t) => format!("symlink to `{t}`"),
                    k => k.word().to_string(),
                }
            ),
        };
        match header.entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if want.kind != Kind::File {
                    return Err(mismatch("a file".to_string()));
                }
                let n = local.write_file(&name, mode, mtime, &mut entry)?;
                progress.file_done(n);
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                if want.kind != Kind::Symlink(target.clone()) {
                    return Err(mismatch(format!("a symlink to `{target}`")));
                }
                local.write_symlink(&name, &target)?;
                progress.file_done(0);
            }
            other => {
                return Err(RemoteError::UnsafePath {
                    side: host.to_string(),
                    path: name,
                    problem: format!(
                        "unexpected tar entry type {other:?} (expected a {})",
                        want.kind.word()
                    ),
                });
            }
        }
    }
    Ok(())
}
