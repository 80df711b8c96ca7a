//! The two verbs: [`upload`] and [`download`]. Each lists both sides (one exec channel running
//! GNU `find`, or SFTP when that is missing), filters and plans, then moves the bytes as one tar
//! stream over an exec channel when the remote has `tar`, or file by file over SFTP otherwise.
//!
//! Upload installs atomically per file: the tar is extracted into a staging directory inside the
//! target (`.ludus-partial`), then hard-linked into place (`cp -al`) and the staging directory
//! removed, so the remote never shows a half file under its real name. An interrupted upload
//! leaves its complete files staged; the next run installs them without sending them again.
//! Download writes each file under a temporary name and renames it when complete.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use super::listing::{Entry, Filter, Kind, Listing, list_local, parse_find};
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

/// What the probe learned about the remote side.
struct Probe {
    has_tar: bool,
    /// `None` when GNU find is missing (list over SFTP instead).
    listing: Option<Listing>,
    staged: Listing,
    exists: bool,
}

/// Copies `local_dir` to `remote` (created if missing).
pub fn upload(
    local_dir: &Path,
    remote: &RemoteSpec,
    opts: &TransferOptions,
    progress: &mut dyn Progress,
    prompt: &mut dyn Prompt,
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
            let conn = connect(remote, opts, progress, prompt)?;
            progress.stage("listing both sides");
            let probe = probe(&conn, &remote.path, false)?;
            Ok((conn, probe))
        },
    );
    let source = filter.apply(&local_listing?);
    let (conn, probe) = remote_side?;
    let host = conn.host_label();
    let use_tar = probe.has_tar && !opts.force_sftp;
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
    let plan = if opts.checksum {
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
            remote_dir: &remote.path,
            source: &source,
            plan: &plan,
            root: &root_entry,
            fresh,
        };
        tarstream::upload(&conn, &job, progress)?;
    } else if let Some(s) = &sftp {
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
            let conn = connect(remote, opts, progress, prompt)?;
            progress.stage("listing both sides");
            let probe = probe(&conn, &remote.path, true)?;
            Ok((conn, probe))
        },
    );
    let (conn, probe) = remote_side?;
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
    let dest = filter.apply(&local_listing?);
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
        summary.seconds = t0.elapsed().as_secs_f64();
        return Ok(summary);
    }
    std::fs::create_dir_all(local_dir).map_err(|e| RemoteError::io(local_dir, e))?;
    let mut tree = local::LocalTree::new(local_dir, &host);
    for d in &plan.dirs {
        tree.make_dir(&d.name, d.mode)?;
    }
    progress.start(plan.send.len() as u64, plan.bytes);
    if use_tar {
        tarstream::download(&conn, &remote.path, &mut tree, &plan, progress)?;
    } else if let Some(s) = &sftp {
        sftp::download(s, &host, &remote.path, &mut tree, &plan, progress)?;
    }
    if opts.delete {
        summary.deleted = local::delete(local_dir, &plan.delete)?;
    }
    progress.finish();
    summary.seconds = t0.elapsed().as_secs_f64();
    Ok(summary)
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

fn missing_remote(host: &str, path: &str) -> RemoteError {
    RemoteError::RemoteCommand {
        host: host.to_string(),
        what: format!("reading {path}"),
        status: 1,
        stderr: "no such directory on the remote side".to_string(),
    }
}

/// One exec channel: which tools exist, then the `find` listing of `dir` (with the staging
/// area of an interrupted upload, if any). Exit status 127 (no `sh`) means: use SFTP for all.
fn probe(conn: &Connection, dir: &str, must_exist: bool) -> Result<Probe, RemoteError> {
    let host = conn.host_label();
    let script = format!(
        "if command -v tar >/dev/null 2>&1; then printf T; else printf t; fi; \
         if find / -maxdepth 0 -printf '' >/dev/null 2>&1; then printf F; else printf f; fi; \
         if cd -- {} 2>/dev/null; then printf 'D\\0'; else printf 'd\\0'; exit 0; fi; \
         find . -mindepth 1 -printf '%y\\0%s\\0%T@\\0%m\\0%P\\0%l\\0' 2>/dev/null || true",
        quote(dir)
    );
    let out = conn.run(&sh(&script), b"")?;
    let head = out
        .stdout
        .iter()
        .position(|&b| b == 0)
        .map(|i| &out.stdout[..i]);
    let Some(head) = head.filter(|h| h.len() == 3) else {
        // No usable shell: fall back to SFTP for the listing and the transfer.
        return Ok(Probe {
            has_tar: false,
            listing: None,
            staged: Listing::new(),
            exists: false,
        });
    };
    let has_tar = head[0] == b'T';
    let has_find = head[1] == b'F';
    let exists = head[2] == b'D';
    if !exists {
        if must_exist {
            return Err(missing_remote(&host, dir));
        }
        return Ok(Probe {
            has_tar,
            listing: Some(Listing::new()),
            staged: Listing::new(),
            exists,
        });
    }
    if !has_find {
        return Ok(Probe {
            has_tar,
            listing: None,
            staged: Listing::new(),
            exists,
        });
    }
    let body = &out.stdout[4..];
    let listing = parse_find(&host, body, must_exist)?;
    let staged = parse_staged(&host, body)?;
    Ok(Probe {
        has_tar,
        listing: Some(listing),
        staged,
        exists,
    })
}

/// The entries under the staging directory, renamed as their final names.
fn parse_staged(host: &str, body: &[u8]) -> Result<Listing, RemoteError> {
    let prefix = format!("{STAGING_DIR}/");
    let text = String::from_utf8_lossy(body);
    let fields: Vec<&str> = text.split('\0').collect();
    let mut rebuilt = Vec::new();
    for rec in fields.chunks(6) {
        if rec.len() == 6
            && let Some(rest) = rec[4].strip_prefix(&prefix)
        {
            for (i, f) in rec.iter().enumerate() {
                rebuilt.extend_from_slice(if i == 4 {
                    rest.as_bytes()
                } else {
                    f.as_bytes()
                });
                rebuilt.push(0);
            }
        }
    }
    parse_find(host, &rebuilt, false)
}

fn remove_stale_staged(conn: &Connection, dir: &str, names: &[&str]) -> Result<(), RemoteError> {
    let script = format!("cd -- {}/{STAGING_DIR} && xargs -0 rm -f --", quote(dir));
    let list = nul_list(names.iter().copied());
    let out = conn.run(&sh(&script), &list)?;
    check_status(conn, "clearing stale staged files", out)
}

fn delete_remote(conn: &Connection, dir: &str, entries: &[Entry]) -> Result<u64, RemoteError> {
    let files = nul_list(
        entries
            .iter()
            .filter(|e| e.kind != Kind::Dir)
            .map(|e| e.name.as_str()),
    );
    let dirs: Vec<&Entry> = entries.iter().filter(|e| e.kind == Kind::Dir).collect();
    let script = format!("cd -- {} && xargs -0 rm -f --", quote(dir));
    let out = conn.run(&sh(&script), &files)?;
    check_status(conn, "deleting files", out)?;
    if !dirs.is_empty() {
        let script = format!(
            "cd -- {} && xargs -0 rmdir -- 2>/dev/null; true",
            quote(dir)
        );
        conn.run(
            &sh(&script),
            &nul_list(dirs.iter().map(|e| e.name.as_str())),
        )?;
    }
    Ok(entries.len() as u64)
}

/// Turns a non-zero exit status into an error carrying the last lines of stderr.
pub(super) fn check_status(
    conn: &Connection,
    what: &str,
    out: super::session::Output,
) -> Result<(), RemoteError> {
    if out.status == 0 {
        return Ok(());
    }
    Err(RemoteError::RemoteCommand {
        host: conn.host_label(),
        what: what.to_string(),
        status: out.status,
        stderr: tail(&out.stderr),
    })
}

/// The last few lines of a command's stderr.
pub(super) fn tail(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(5);
    let t = lines[start..].join(" | ");
    if t.is_empty() {
        "(no message)".to_string()
    } else {
        t
    }
}

/// Names separated by NUL bytes, for `xargs -0` / `tar --null -T`.
pub(super) fn nul_list<'a>(names: impl Iterator<Item = &'a str>) -> Vec<u8> {
    let mut v = Vec::new();
    for n in names {
        v.extend_from_slice(n.as_bytes());
        v.push(0);
    }
    v
}

type Hashes = HashMap<String, [u8; 32]>;

fn same_by_hash(a: &Entry, b: &Entry, ha: &Hashes, hb: &Hashes) -> bool {
    match (&a.kind, &b.kind) {
        (Kind::File, Kind::File) => {
            a.size == b.size && ha.get(&a.name).is_some_and(|x| hb.get(&b.name) == Some(x))
        }
        _ => same_by_time(a, b),
    }
}

/// Hashes the files present on both sides with equal sizes: `local_side` with `hash_local`,
/// `remote_side` with `sha256sum` on the remote (or over SFTP).
fn checksums(
    conn: &Connection,
    sftp: Option<&ssh2::Sftp>,
    local_side: &Listing,
    remote_side: &Listing,
    hash_local: impl Fn(&str) -> Result<[u8; 32], RemoteError>,
    dir: &str,
    use_tar: bool,
) -> Result<(Hashes, Hashes), RemoteError> {
    let names: Vec<&str> = local_side
        .values()
        .filter(|e| {
            e.kind == Kind::File
                && remote_side
                    .get(&e.name)
                    .is_some_and(|r| r.kind == Kind::File && r.size == e.size)
        })
        .map(|e| e.name.as_str())
        .collect();
    let mut local_h = Hashes::new();
    for n in &names {
        local_h.insert(n.to_string(), hash_local(n)?);
    }
    if names.is_empty() {
        return Ok((local_h, Hashes::new()));
    }
    let remote_h = match (use_tar, sftp) {
        (false, Some(s)) => sftp::hash(s, &conn.host_label(), dir, &names)?,
        _ => remote_sha256(conn, dir, &names)?,
    };
    Ok((local_h, remote_h))
}

fn remote_sha256(conn: &Connection, dir: &str, names: &[&str]) -> Result<Hashes, RemoteError> {
    let script = format!(
        "cd -- {} || exit 1; t=$(mktemp 2>/dev/null) || t=\"${{TMPDIR:-/tmp}}/ludus-list.$$\"; cat > \"$t\" && xargs -0 sha256sum -z -- < \"$t\"; s=$?; rm -f -- \"$t\"; exit $s",
        quote(dir)
    );
    let out = conn.run(&sh(&script), &nul_list(names.iter().copied()))?;
    let host = conn.host_label();
    let stdout = out.stdout.clone();
    check_status(conn, "hashing remote files (sha256sum)", out)?;
    let mut h = Hashes::new();
    for rec in stdout.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        let bad = || RemoteError::Protocol {
            host: host.clone(),
            what: "reading sha256sum output".to_string(),
            problem: String::from_utf8_lossy(rec).into_owned(),
        };
        let text = std::str::from_utf8(rec).map_err(|_| bad())?;
        let (hex, name) = text.split_once("  ").ok_or_else(bad)?;
        h.insert(name.to_string(), parse_hex(hex).ok_or_else(bad)?);
    }
    Ok(h)
}

fn parse_hex(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if s.len() != 64 {
        return None;
    }
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}
