//! The shell commands ludus runs on the remote side besides the tar stream itself: the probe
//! (which tools exist, and the `find` listing of the target), clearing stale staged files,
//! `--delete`, and the SHA-256 hashes for `--checksum`. Each is one exec channel running
//! `sh -c`, with any list of names passed NUL-separated on stdin.

use std::collections::HashMap;

use super::listing::{Entry, Kind, Listing, parse_find};
use super::plan::same_by_time;
use super::safety::STAGING_DIR;
use super::session::{Connection, Output};
use super::shell::{quote, sh};
use super::{RemoteError, sftp};

/// What the probe learned about the remote side.
pub(super) struct Probe {
    pub(super) has_tar: bool,
    /// `None` when GNU find is missing (list over SFTP instead).
    pub(super) listing: Option<Listing>,
    pub(super) staged: Listing,
    pub(super) exists: bool,
}

/// One exec channel: which tools exist, then the `find` listing of `dir` (with the staging
/// area of an interrupted upload, if any). Exit status 127 (no `sh`) means: use SFTP for all.
pub(super) fn probe(conn: &Connection, dir: &str, must_exist: bool) -> Result<Probe, RemoteError> {
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
pub(super) fn parse_staged(host: &str, body: &[u8]) -> Result<Listing, RemoteError> {
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

pub(super) fn remove_stale_staged(
    conn: &Connection,
    dir: &str,
    names: &[&str],
) -> Result<(), RemoteError> {
    let script = format!("cd -- {}/{STAGING_DIR} && xargs -0 rm -f --", quote(dir));
    let list = nul_list(names.iter().copied());
    let out = conn.run(&sh(&script), &list)?;
    check_status(conn, "clearing stale staged files", out)
}

pub(super) fn delete_remote(
    conn: &Connection,
    dir: &str,
    entries: &[Entry],
) -> Result<u64, RemoteError> {
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
pub(super) fn check_status(conn: &Connection, what: &str, out: Output) -> Result<(), RemoteError> {
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

pub(super) type Hashes = HashMap<String, [u8; 32]>;

pub(super) fn same_by_hash(a: &Entry, b: &Entry, ha: &Hashes, hb: &Hashes) -> bool {
    match (&a.kind, &b.kind) {
        (Kind::File, Kind::File) => {
            a.size == b.size && ha.get(&a.name).is_some_and(|x| hb.get(&b.name) == Some(x))
        }
        _ => same_by_time(a, b),
    }
}

/// Hashes the files present on both sides with equal sizes: `local_side` with `hash_local`,
/// `remote_side` with `sha256sum` on the remote (or over SFTP).
pub(super) fn checksums(
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

pub(super) fn remote_sha256(
    conn: &Connection,
    dir: &str,
    names: &[&str],
) -> Result<Hashes, RemoteError> {
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

pub(super) fn parse_hex(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if s.len() != 64 {
        return None;
    }
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The error for a remote directory that does not exist.
pub(super) fn missing_remote(host: &str, path: &str) -> RemoteError {
    RemoteError::RemoteCommand {
        host: host.to_string(),
        what: format!("reading {path}"),
        status: 1,
        stderr: "no such directory on the remote side".to_string(),
    }
}

/// Resumes one half-staged upload file: if the first `prefix` bytes staged remotely hash like
/// the local file's, writes that prefix plus the rest (sent now) to a new staged file with the
/// file's mode and time, renamed over the old one: a process of the interrupted run that is
/// still writing the old file cannot corrupt it. Returns false (send the whole file) when the
/// prefixes differ.
pub(super) fn append_staged(
    conn: &Connection,
    dir: &str,
    e: &Entry,
    local: &std::path::Path,
    prefix: u64,
) -> Result<bool, RemoteError> {
    use sha2::Digest;
    use std::io::{Read, Seek, SeekFrom};
    let host = conn.host_label();
    let staged = format!("{}/{STAGING_DIR}/{}", dir.trim_end_matches('/'), e.name);
    let mut f = std::fs::File::open(local).map_err(|err| RemoteError::io(local, err))?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut left = prefix;
    while left > 0 {
        let want = buf.len().min(left as usize);
        let n = f
            .read(&mut buf[..want])
            .map_err(|err| RemoteError::io(local, err))?;
        if n == 0 {
            return Ok(false);
        }
        h.update(&buf[..n]);
        left -= n as u64;
    }
    let local_hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let out = conn.run(
        &sh(&format!(
            "head -c {prefix} -- {} | sha256sum",
            quote(&staged)
        )),
        b"",
    )?;
    let remote_hex = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string();
    if out.status != 0 || remote_hex != local_hex {
        return Ok(false);
    }
    let script = format!(
        "set -e; f={}; t=\"$f.resume\"; {{ head -c {prefix} -- \"$f\"; cat; }} > \"$t\"; chmod {:o} \"$t\"; touch -d @{} \"$t\"; mv -f -- \"$t\" \"$f\"",
        quote(&staged),
        e.mode & 0o7777,
        e.mtime.max(0)
    );
    let mut ch = conn.exec(&sh(&script))?;
    f.seek(SeekFrom::Start(prefix))
        .map_err(|err| RemoteError::io(local, err))?;
    let mut rest = f.take(e.size - prefix);
    let copied = std::io::copy(&mut rest, &mut ch);
    let _ = ch.send_eof();
    let stderr = super::session::read_stderr(&mut ch);
    let status = super::session::finish_channel(&mut ch, &host)?;
    if status != 0 {
        return Err(RemoteError::RemoteCommand {
            host,
            what: format!("resuming {}", e.name),
            status,
            stderr: tail(&stderr),
        });
    }
    copied.map_err(|err| RemoteError::Protocol {
        host,
        what: format!("resuming {}", e.name),
        problem: err.to_string(),
    })?;
    Ok(true)
}
