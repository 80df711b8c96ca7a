//! The two verbs: [`upload`] and [`download`]. Each lists both sides (an exec channel running
//! GNU `find`, or SFTP when that is missing), filters and plans, then moves the bytes as one tar
//! stream over that same channel when the remote has `tar` (its shell waits for the plan), or
//! file by file over SFTP otherwise. A transfer thus costs one remote login shell, not two.
//!
//! Upload installs atomically per file: the tar is extracted into a staging directory inside the
//! target (`.ludus-partial`), then renamed (fresh target) or hard-linked (`cp -al`) into place
//! and the staging directory removed, so the remote never shows a half file under its real name. An interrupted upload
//! leaves its complete files staged; the next run installs them without sending them again,
//! and finishes a half-staged large file by sending only its rest.
//! Download writes each file under a temporary name and renames it when complete.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use super::commands::{
    self, FollowUp, check_status, checksums, delete_remote, dismiss, missing_remote, probe,
    remove_stale_staged, same_by_hash, take_channel,
};
use super::listing::{Entry, Filter, Kind, Listing, list_local};
use super::plan::{Plan, make_plan, same_by_time};
use super::safety::STAGING_DIR;
use super::session::{ConnectOptions, Connection, Endpoint, Prompt};
use super::shell::{quote, sh};
use super::{Progress, RemoteError, RemoteSpec, local, sftp, tarstream};

/// What to transfer and how.
#[derive(Clone, Debug, Default)]
pub struct TransferOptions {
    /// How to connect.
    pub connect: ConnectOptions,
    /// `--include` globs (relative names); empty means everything.
    pub include: Vec<String>,
    /// `--exclude` globs.
    pub exclude: Vec<String>,
    /// Compare content hashes (SHA-256) instead of size and modification time.
    pub checksum: bool,
    /// Plan and report, change nothing.
    pub dry_run: bool,
    /// Delete names on the receiving side that the sending side does not have (within the filter).
    pub delete: bool,
    /// Use SFTP even when the remote has `tar`.
    pub force_sftp: bool,
}

/// Which way the bytes went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Local to remote.
    Upload,
    /// Remote to local.
    Download,
}

/// What a transfer did (or, with `dry_run`, would do).
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Upload or download.
    pub direction: Direction,
    /// `user@host:port`.
    pub host: String,
    /// The remote directory.
    pub remote_dir: String,
    /// The local directory.
    pub local_dir: String,
    /// `tar` or `sftp`.
    pub method: &'static str,
    /// Files and symlinks sent.
    pub files_sent: u64,
    /// Files and symlinks that already matched.
    pub files_skipped: u64,
    /// Files an interrupted upload had staged, installed without sending.
    pub files_resumed: u64,
    /// Directories created.
    pub dirs_created: u64,
    /// Names deleted on the receiving side (`--delete`).
    pub deleted: u64,
    /// Content bytes sent.
    pub bytes_sent: u64,
    /// Wall time, connection included.
    pub seconds: f64,
    /// True if nothing was changed because of `--dry-run`.
    pub dry_run: bool,
}

/// Copies `local_dir` to `remote` (created if missing).
pub fn upload(
    local_dir: &Path,
    remote: &RemoteSpec,
    opts: &TransferOptions,
    progress: &mut dyn Progress,
    prompt: &mut dyn Prompt,
) -> Result<Summary, RemoteError> {
    upload_via(local_dir, remote, opts, progress, Via::Open(prompt))
}

/// Like [`upload`], over a connection the caller already holds (one session for many steps).
pub fn upload_over(
    conn: &Connection,
    local_dir: &Path,
    remote: &RemoteSpec,
    opts: &TransferOptions,
    progress: &mut dyn Progress,
) -> Result<Summary, RemoteError> {
    upload_via(local_dir, remote, opts, progress, Via::Existing(conn))
}

/// Like [`download`], over a connection the caller already holds.
pub fn download_over(
    conn: &Connection,
    remote: &RemoteSpec,
    local_dir: &Path,
    opts: &TransferOptions,
    progress: &mut dyn Progress,
) -> Result<Summary, RemoteError> {
    download_via(remote, local_dir, opts, progress, Via::Existing(conn))
}

/// Where a transfer's connection comes from.
enum Via<'a> {
    /// Open a new one (asking this prompt for passphrases).
    Open(&'a mut dyn Prompt),
    /// Use the caller's.
    Existing(&'a Connection),
}

/// A connection that is either owned by the transfer or borrowed from the caller.
enum Held<'a> {
    Owned(Connection),
    Borrowed(&'a Connection),
}

impl std::ops::Deref for Held<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        match self {
            Held::Owned(c) => c,
            Held::Borrowed(c) => c,
        }
    }
}

fn hold<'a>(
    via: Via<'a>,
    remote: &RemoteSpec,
    opts: &TransferOptions,
    progress: &mut dyn Progress,
) -> Result<Held<'a>, RemoteError> {
    match via {
        Via::Open(prompt) => connect(remote, opts, progress, prompt).map(Held::Owned),
        Via::Existing(c) => Ok(Held::Borrowed(c)),
    }
}

fn upload_via(
    local_dir: &Path,
    remote: &RemoteSpec,
    opts: &TransferOptions,
    progress: &mut dyn Progress,
    via: Via<'_>,
) -> Result<Summary, RemoteError> {
    let t0 = Instant::now();
    let meta = std::fs::metadata(local_dir).map_err(|e| RemoteError::io(local_dir, e))?;
    if !meta.is_dir() {
        return Err(RemoteError::io(
            local_dir,
            std::io::Error::other("not a directory; upload takes a directory"),
        ));
    }
    let filter = Filter::new(&opts.include, &opts.exclude)?;
    let (local_listing, remote_side) = alongside(
        || list_local(local_dir),
        || {
            let conn = hold(via, remote, opts, progress)?;
            progress.stage("listing both sides");
            let probe = probe(&conn, &remote.path, false, FollowUp::Upload)?;
            Ok((conn, probe))
        },
    );
    let source = filter.apply(&local_listing?);
    let (conn, mut probe) = remote_side?;
    let host = conn.host_label();
    let use_tar = probe.has_tar && !opts.force_sftp;
    if let Some(link) = &probe.foreign_link {
        dismiss(&conn, &mut probe.channel);
        return Err(RemoteError::UnsafePath {
            side: host,
            path: link.clone(),
            problem: format!(
                "this component of the remote folder {} is a symlink owned by another user, who could point it anywhere you can write; ludus does not upload through it. Name the real folder instead (`readlink -f` shows it)",
                remote.path
            ),
        });
    }
    if use_tar && probe.staging == commands::Staging::Refused {
        dismiss(&conn, &mut probe.channel);
        return Err(RemoteError::UnsafePath {
            side: host,
            path: format!("{}/{STAGING_DIR}", remote.path.trim_end_matches('/')),
            problem: "the upload's staging path is a symlink, a file or a directory of another user (anyone who can write into a shared folder can plant one); ludus never writes through it. Remove it if nobody else uses it, then run again".to_string(),
        });
    }
    let sftp = if use_tar && probe.listing.is_some() {
        None
    } else {
        Some(conn.sftp()?)
    };
    let (dest_all, staged) = match (probe.listing, &sftp) {
        (Some(l), _) => (
            l,
            if use_tar {
                probe.staged
            } else {
                Listing::new()
            },
        ),
        (None, Some(s)) => (
            sftp::list(s, &host, &remote.path, false)?.unwrap_or_default(),
            Listing::new(),
        ),
        (None, None) => (Listing::new(), Listing::new()),
    };
    let dest = filter.apply(&dest_all);
    let mut plan = if opts.checksum {
        let (src_hash, dst_hash) = checksums(
            &conn,
            sftp.as_ref(),
            &source,
            &dest,
            |n| local::hash_file(&super::safety::join(local_dir, n)),
            &remote.path,
            use_tar,
        )?;
        make_plan(
            &source,
            &dest,
            &staged,
            &|a, b| same_by_hash(a, b, &src_hash, &dst_hash),
            opts.delete,
        )?
    } else {
        make_plan(&source, &dest, &staged, &same_by_time, opts.delete)?
    };
    if use_tar && !opts.dry_run {
        resume_partial_files(&conn, local_dir, &remote.path, &staged, &mut plan)?;
    }
    let mut summary = summary_of(
        Direction::Upload,
        &conn,
        remote,
        local_dir,
        use_tar,
        &plan,
        opts.dry_run,
    );
    if opts.dry_run || plan.is_empty() {
        if !opts.dry_run && use_tar && !staged.is_empty() {
            // An interrupted upload whose files are no longer needed: drop its staging area.
            let script = format!("rm -rf -- {}/{STAGING_DIR}", quote(&remote.path));
            check_status(
                &conn,
                "removing the staging directory",
                conn.run(&sh(&script), b"")?,
            )?;
        }
        dismiss(&conn, &mut probe.channel);
        summary.seconds = t0.elapsed().as_secs_f64();
        return Ok(summary);
    }
    progress.start(plan.send.len() as u64, plan.bytes);
    if use_tar {
        let resumed: std::collections::HashSet<&str> =
            plan.resumed.iter().map(|e| e.name.as_str()).collect();
        let stale: Vec<&str> = staged
            .values()
            .filter(|e| e.kind != Kind::Dir && !resumed.contains(e.name.as_str()))
            .map(|e| e.name.as_str())
            .collect();
        if !stale.is_empty() {
            remove_stale_staged(&conn, &remote.path, &stale)?;
        }
        let root_entry = Entry {
            name: ".".to_string(),
            kind: Kind::Dir,
            size: 0,
            mtime: meta_mtime(&meta),
            mode: std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o7777,
        };
        let top = |e: &Entry| e.name.split('/').next().unwrap_or("").to_string();
        let fresh = plan
            .send
            .iter()
            .chain(&plan.dirs)
            .chain(&plan.resumed)
            .all(|e| !dest_all.contains_key(&top(e)));
        let job = tarstream::UploadJob {
            local_dir,
            source: &source,
            plan: &plan,
            root: &root_entry,
            fresh,
        };
        tarstream::upload(
            &conn,
            take_channel(&conn, &mut probe.channel)?,
            &job,
            progress,
        )?;
    } else if let Some(s) = &sftp {
        dismiss(&conn, &mut probe.channel);
        sftp::upload(
            s,
            &host,
            local_dir,
            &remote.path,
            probe.exists,
            &plan,
            progress,
        )?;
    }
    if opts.delete && !plan.delete.is_empty() {
        summary.deleted = match &sftp {
            Some(s) if !use_tar => sftp::delete(s, &host, &remote.path, &plan.delete)?,
            _ => delete_remote(&conn, &remote.path, &plan.delete)?,
        };
    }
    progress.finish();
    summary.seconds = t0.elapsed().as_secs_f64();
    Ok(summary)
}

/// Copies `remote` into `local_dir` (created if missing).
pub fn download(
    remote: &RemoteSpec,
    local_dir: &Path,
    opts: &TransferOptions,
    progress: &mut dyn Progress,
    prompt: &mut dyn Prompt,
) -> Result<Summary, RemoteError> {
    download_via(remote, local_dir, opts, progress, Via::Open(prompt))
}

fn download_via(
    remote: &RemoteSpec,
    local_dir: &Path,
    opts: &TransferOptions,
    progress: &mut dyn Progress,
    via: Via<'_>,
) -> Result<Summary, RemoteError> {
    let t0 = Instant::now();
    if let Ok(m) = std::fs::symlink_metadata(local_dir)
        && !m.is_dir()
    {
        return Err(RemoteError::io(
            local_dir,
            std::io::Error::other("exists and is not a directory"),
        ));
    }
    let filter = Filter::new(&opts.include, &opts.exclude)?;
    let (local_listing, remote_side) = alongside(
        || list_local(local_dir),
        || {
            let conn = hold(via, remote, opts, progress)?;
            progress.stage("listing both sides");
            let probe = probe(&conn, &remote.path, true, FollowUp::Download)?;
            Ok((conn, probe))
        },
    );
    let (conn, mut probe) = remote_side?;
    let host = conn.host_label();
    let use_tar = probe.has_tar && !opts.force_sftp;
    let sftp = if use_tar && probe.listing.is_some() {
        None
    } else {
        Some(conn.sftp()?)
    };
    let source_all = match (probe.listing, &sftp) {
        (Some(l), _) => l,
        (None, Some(s)) => sftp::list(s, &host, &remote.path, true)?
            .ok_or_else(|| missing_remote(&host, &remote.path))?,
        (None, None) => Listing::new(),
    };
    let source = filter.apply(&source_all);
    let local_all = local_listing?;
    let dest = filter.apply(&local_all);
    let plan = if opts.checksum {
        let (dst_hash, src_hash) = checksums(
            &conn,
            sftp.as_ref(),
            &dest,
            &source,
            |n| local::hash_file(&super::safety::join(local_dir, n)),
            &remote.path,
            use_tar,
        )?;
        make_plan(
            &source,
            &dest,
            &Listing::new(),
            &|a, b| same_by_hash(a, b, &src_hash, &dst_hash),
            opts.delete,
        )?
    } else {
        make_plan(&source, &dest, &Listing::new(), &same_by_time, opts.delete)?
    };
    // Judge every symlink by where it resolves in the tree this download leaves behind, before
    // anything is written (also under --dry-run, which then fails as the real run would).
    let deleted: std::collections::HashSet<&str> = if opts.delete {
        plan.delete.iter().map(|e| e.name.as_str()).collect()
    } else {
        Default::default()
    };
    super::final_tree::check_final_tree(&host, &local_all, &source, &deleted)?;
    let mut summary = summary_of(
        Direction::Download,
        &conn,
        remote,
        local_dir,
        use_tar,
        &plan,
        opts.dry_run,
    );
    if opts.dry_run || plan.is_empty() {
        dismiss(&conn, &mut probe.channel);
        summary.seconds = t0.elapsed().as_secs_f64();
        return Ok(summary);
    }
    std::fs::create_dir_all(local_dir).map_err(|e| RemoteError::io(local_dir, e))?;
    let mut tree = local::LocalTree::new(local_dir, &host)?;
    for d in &plan.dirs {
        tree.make_dir(&d.name, d.mode)?;
    }
    progress.start(plan.send.len() as u64, plan.bytes);
    if use_tar && !plan.send.is_empty() {
        tarstream::download(
            &conn,
            take_channel(&conn, &mut probe.channel)?,
            &mut tree,
            &plan,
            progress,
        )?;
    } else if let Some(s) = &sftp {
        dismiss(&conn, &mut probe.channel);
        sftp::download(s, &host, &remote.path, &mut tree, &plan, progress)?;
    }
    dismiss(&conn, &mut probe.channel);
    if opts.delete {
        summary.deleted = tree.delete(&plan.delete)?;
    }
    progress.finish();
    summary.seconds = t0.elapsed().as_secs_f64();
    Ok(summary)
}

/// Smallest staged prefix worth resuming in place rather than sending the file again.
const RESUME_MIN_BYTES: u64 = 1 << 20;

/// For each file an interrupted upload left half-staged (a prefix of at least
/// [`RESUME_MIN_BYTES`]), checks that the staged prefix hashes like the local file's, then
/// appends only the rest. Such files move from `send` to `resumed`.
fn resume_partial_files(
    conn: &Connection,
    local_dir: &Path,
    remote_dir: &str,
    staged: &Listing,
    plan: &mut Plan,
) -> Result<(), RemoteError> {
    let mut keep = Vec::with_capacity(plan.send.len());
    for e in std::mem::take(&mut plan.send) {
        let prefix = match staged.get(&e.name) {
            Some(st)
                if e.kind == Kind::File
                    && st.kind == Kind::File
                    && st.size >= RESUME_MIN_BYTES
                    && st.size < e.size =>
            {
                st.size
            }
            _ => {
                keep.push(e);
                continue;
            }
        };
        let path = super::safety::join(local_dir, &e.name);
        if commands::append_staged(conn, remote_dir, &e, &path, prefix)? {
            plan.bytes -= prefix;
            plan.resumed.push(e);
        } else {
            keep.push(e);
        }
    }
    plan.send = keep;
    Ok(())
}

/// Runs the local listing on another thread while this one connects and lists the remote side:
/// the two walks cost the same order of time, so overlapping them halves a no-op run.
fn alongside<L, R>(
    local: impl FnOnce() -> Result<L, RemoteError> + Send,
    remote: impl FnOnce() -> Result<R, RemoteError>,
) -> (Result<L, RemoteError>, Result<R, RemoteError>)
where
    L: Send,
{
    std::thread::scope(|s| {
        let handle = s.spawn(local);
        let r = remote();
        let l = handle.join().unwrap_or_else(|_| {
            Err(RemoteError::io(
                ".",
                std::io::Error::other("the local listing thread panicked"),
            ))
        });
        (l, r)
    })
}

fn connect(
    remote: &RemoteSpec,
    opts: &TransferOptions,
    progress: &mut dyn Progress,
    prompt: &mut dyn Prompt,
) -> Result<Connection, RemoteError> {
    let ep = Endpoint::resolve(remote, &opts.connect)?;
    progress.stage(&format!("connecting to {}", ep.label()));
    Connection::open(ep, &opts.connect, prompt)
}

fn summary_of(
    direction: Direction,
    conn: &Connection,
    remote: &RemoteSpec,
    local_dir: &Path,
    use_tar: bool,
    plan: &Plan,
    dry_run: bool,
) -> Summary {
    Summary {
        direction,
        host: conn.endpoint.label(),
        remote_dir: remote.path.clone(),
        local_dir: local_dir.display().to_string(),
        method: if use_tar { "tar" } else { "sftp" },
        files_sent: plan.send.len() as u64,
        files_skipped: plan.skipped,
        files_resumed: plan.resumed.len() as u64,
        dirs_created: plan.dirs.len() as u64,
        deleted: if dry_run { plan.delete.len() as u64 } else { 0 },
        bytes_sent: plan.bytes,
        seconds: 0.0,
        dry_run,
    }
}

fn meta_mtime(meta: &std::fs::Metadata) -> i64 {
    std::os::unix::fs::MetadataExt::mtime(meta)
}
