//! The shell commands ludus runs on the remote side besides the tar stream itself: the probe
//! (which tools exist, and the `find` listing of the target), clearing stale staged files,
//! `--delete`, the SHA-256 hashes for `--checksum`, and resuming a half-staged file. Each is
//! one exec channel running `sh -c`, with any list of names passed NUL-separated on stdin; the
//! probe's channel then stays open for the tar stream.

use std::collections::HashMap;

use super::listing::{Entry, Kind, Listing, parse_find};
use super::plan::same_by_time;
use super::safety::STAGING_DIR;
use super::session::{Connection, Output, finish_channel};
use super::shell::{quote, sh};
use super::{RemoteError, sftp};

/// Shell code that makes the staging directory `$S` (inside `$D`) the current directory, or
/// exits with status 3 and a message. The staging directory is only ever used when it is a real
/// directory owned by the remote user with no permission for anyone else (mode 700), reached
/// without any symlink: a symlink or someone else's directory at that name (anyone with write
/// access to a shared folder can plant one) is refused, never followed; a directory of ours that
/// others could write into (left by an older ludus) is removed and made again. Once inside, the
/// checks are made on `.` itself, so swapping the name afterwards changes nothing: everything is
/// then written relative to the current directory. With `create`, a missing one is created.
fn enter_staging(create: bool) -> String {
    let make = if create {
        "mkdir -m 700 -- \"$S\" 2>/dev/null || true; "
    } else {
        ""
    };
    format!(
        "ludus_refuse() {{ echo \"ludus: refusing $S: $1; ludus never writes through it. Remove it if nobody else uses it, then run again.\" >&2; exit 3; }}; \
         if [ -L \"$S\" ]; then ludus_refuse 'it is a symbolic link'; fi; \
         if [ -e \"$S\" ] && {{ [ ! -d \"$S\" ] || [ ! -O \"$S\" ]; }}; then ludus_refuse 'it is not a directory of yours'; fi; \
         if [ -d \"$S\" ]; then case $(ls -ld -- \"$S\") in d???------*) ;; *) rm -rf -- \"$S\";; esac; fi; \
         {make}DP=$(cd -P -- \"$D\" && pwd -P) || exit 1; case $DP in /) E=/{STAGING_DIR};; *) E=\"$DP/{STAGING_DIR}\";; esac; \
         cd -P -- \"$S\" || exit 1; \
         [ \"$(pwd -P)\" = \"$E\" ] || ludus_refuse 'it leads elsewhere'; \
         [ -O . ] || ludus_refuse 'it is not a directory of yours'; \
         case $(ls -ld .) in d???------*) ;; *) ludus_refuse 'others may write into it';; esac; "
    )
}

/// What the probe learned about the remote side.
pub(super) struct Probe {
    pub(super) has_tar: bool,
    /// `None` when GNU find is missing (list over SFTP instead).
    pub(super) listing: Option<Listing>,
    pub(super) staged: Listing,
    pub(super) exists: bool,
    /// What is at `DIR/.ludus-partial`.
    pub(super) staging: Staging,
    /// `DIR`, or a folder above it, that is a symlink owned by another user (not root).
    pub(super) foreign_link: Option<String>,
    /// The probe's channel, its shell now waiting for a header line on stdin (see
    /// [`FollowUp`]); `None` when the remote has no usable shell.
    pub(super) channel: Option<ssh2::Channel>,
}

/// What the probe found at the staging path `DIR/.ludus-partial`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Staging {
    /// Nothing (or the directory does not exist).
    Absent,
    /// A directory of ours, mode 700: an interrupted upload's files there can be resumed.
    Usable,
    /// A directory of ours that others could write into: not trusted, made again.
    Open,
    /// A symlink, a file, or someone else's directory: an upload refuses to use it.
    Refused,
}

/// What the probe's shell does once the client has planned, so that a whole transfer costs one
/// exec channel (each costs a login shell on the remote side). The client sends one line:
/// `none` (nothing more), or for an upload `fresh` / `link` followed by the tar stream, or for
/// a download `go` followed by the NUL-separated names to pack.
pub(super) enum FollowUp {
    /// Unpack a tar stream into the staging directory and install it.
    Upload,
    /// Pack the requested names into a tar stream.
    Download,
}

/// One exec channel: which tools exist, then the `find` listing of `dir` (with the staging
/// area of an interrupted upload, if any), then the [`FollowUp`] waiting for its header.
pub(super) fn probe(
    conn: &Connection,
    dir: &str,
    must_exist: bool,
    follow: FollowUp,
) -> Result<Probe, RemoteError> {
    let host = conn.host_label();
    let d = quote(dir);
    let follow_script = match follow {
        // The header line is `fresh|link MODE MTIME` (the local directory's mode and time,
        // given to the remote directory at the end). tar runs inside the checked staging
        // directory; the install (`mv`, `cp -al`) refuses to replace a directory by a symlink
        // or write through one (GNU coreutils: "cannot overwrite non-directory").
        FollowUp::Upload => format!(
            "case \"$mode\" in fresh|link) ;; *) exit 0;; esac; \
             case \"$rmode\" in [0-7]*) ;; *) exit 2;; esac; case \"$rtime\" in [0-9]*) ;; *) exit 2;; esac; \
             D={d}; S=\"$D/{STAGING_DIR}\"; mkdir -p -- \"$D\" || exit 1; {stage} set -e; \
             tar -x -p --no-same-owner -f -; \
             if [ \"$mode\" = fresh ]; then \
               find . -mindepth 1 -maxdepth 1 -exec mv -t \"$D\" -- {{}} +; \
             else cp -a -l --remove-destination -- ./. \"$D\"/; find . -mindepth 1 -delete; fi; \
             chmod -- \"$rmode\" \"$D\"; touch -d \"@$rtime\" -- \"$D\"; cd /; rmdir -- \"$S\"",
            stage = enter_staging(true)
        ),
        // The names go to a temporary file first, so tar only starts writing once it has all
        // of stdin (no deadlock between our writes and its output).
        FollowUp::Download => format!(
            "case \"$mode\" in go) ;; *) exit 0;; esac; cd -- {d} || exit 1; \
             t=$(mktemp 2>/dev/null) || t=\"${{TMPDIR:-/tmp}}/ludus-list.$$\"; \
             cat > \"$t\" && tar -c -f - --no-recursion --null -T \"$t\"; s=$?; rm -f -- \"$t\"; exit $s"
        ),
    };
    let script = format!(
        "if command -v tar >/dev/null 2>&1; then printf T; else printf t; fi; \
         if find / -maxdepth 0 -printf '' >/dev/null 2>&1; then hf=1; printf F; else hf=0; printf f; fi; \
         S={d}/{STAGING_DIR}; \
         if [ -L \"$S\" ]; then st=X; elif [ ! -e \"$S\" ]; then st=n; \
         elif [ ! -d \"$S\" ] || [ ! -O \"$S\" ]; then st=X; \
         else case $(ls -ld -- \"$S\") in d???------*) st=k;; *) st=o;; esac; fi; \
         lk=; me=; q={d}; while :; do case $q in ''|/|.) break;; esac; \
           if [ -L \"$q\" ]; then set -- $(ls -ldn -- \"$q\"); [ -n \"$me\" ] || me=$(id -u); \
             if [ \"$3\" != \"$me\" ] && [ \"$3\" != 0 ]; then lk=$q; fi; fi; \
           case $q in */*) q=${{q%/*}};; *) break;; esac; done; \
         if (cd -- {d}) 2>/dev/null; then printf \"D$st\"; else printf dn; fi; \
         if [ -n \"$lk\" ]; then printf 'L%s\\0' \"$lk\"; else printf '%s\\0' -; fi; \
         if (cd -- {d}) 2>/dev/null && [ $hf = 1 ]; then (cd -- {d} && find . -mindepth 1 -printf '%y\\0%s\\0%T@\\0%m\\0%P\\0%l\\0' 2>/dev/null); fi; \
         printf 'E\\0'; \
         IFS=' ' read -r mode rmode rtime || exit 0; {follow_script}"
    );
    let mut ch = conn.exec(&sh(&script))?;
    let out = read_listing(&mut ch).map_err(|e| RemoteError::Protocol {
        host: host.clone(),
        what: "listing the remote directory".to_string(),
        problem: e.to_string(),
    })?;
    let no_shell = Probe {
        has_tar: false,
        listing: None,
        staged: Listing::new(),
        exists: false,
        staging: Staging::Absent,
        foreign_link: None,
        channel: None,
    };
    let Some(out) = out else {
        // No usable shell: fall back to SFTP for the listing and the transfer.
        let _ = finish_channel(&mut ch, &host);
        return Ok(no_shell);
    };
    let head = out.iter().position(|&b| b == 0).map(|i| &out[..i]);
    let Some(head) = head.filter(|h| h.len() >= 5) else {
        return Ok(no_shell);
    };
    let foreign_link = (head[4] == b'L').then(|| String::from_utf8_lossy(&head[5..]).into_owned());
    let body = &out[head.len() + 1..];
    let has_tar = head[0] == b'T';
    let has_find = head[1] == b'F';
    let exists = head[2] == b'D';
    let staging = match head[3] {
        b'X' => Staging::Refused,
        b'k' => Staging::Usable,
        b'o' => Staging::Open,
        _ => Staging::Absent,
    };
    if !exists && must_exist {
        return Err(missing_remote(&host, dir));
    }
    let (listing, staged) = if !exists {
        (Some(Listing::new()), Listing::new())
    } else if !has_find {
        (None, Listing::new())
    } else {
        (
            Some(parse_find(&host, body, must_exist)?),
            // Only a staging directory nobody else could write into is resumed from.
            if staging == Staging::Usable {
                parse_staged(&host, body)?
            } else {
                Listing::new()
            },
        )
    };
    Ok(Probe {
        has_tar,
        listing,
        staged,
        exists,
        staging,
        foreign_link,
        channel: Some(ch),
    })
}

/// Reads the probe's output up to its end record (a record whose type field is `E`, which
/// `find -printf %y` never prints). `None` if the output ended first.
fn read_listing(ch: &mut ssh2::Channel) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let (mut field_start, mut field_index, mut scan) = (0usize, 0usize, 0usize);
    loop {
        while let Some(off) = buf[scan..].iter().position(|&b| b == 0) {
            let end = scan + off;
            // Field 0 is the header; then records of six fields.
            if field_index >= 1 && (field_index - 1) % 6 == 0 && &buf[field_start..end] == b"E" {
                buf.truncate(field_start);
                return Ok(Some(buf));
            }
            field_index += 1;
            field_start = end + 1;
            scan = end + 1;
        }
        scan = buf.len();
        let n = ch.read(&mut chunk)?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Tells an idle probe shell there is nothing more to do, and closes its channel.
pub(super) fn dismiss(conn: &Connection, channel: &mut Option<ssh2::Channel>) {
    if let Some(mut ch) = channel.take() {
        use std::io::Write;
        let _ = ch.write_all(b"none\n");
        let _ = ch.send_eof();
        let _ = finish_channel(&mut ch, &conn.host_label());
    }
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
    let script = format!(
        "D={}; S=\"$D/{STAGING_DIR}\"; {} xargs -0 rm -f --",
        quote(dir),
        enter_staging(false)
    );
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
    // Each name is removed only when every directory above it (inside the target) is a real
    // directory, not a symlink someone put there since the listing.
    let script = format!(
        "cd -- {} || exit 1; xargs -0 sh -c 'for f; do p=$f; while case $p in */*) true;; *) false;; esac; do p=${{p%/*}}; if [ -L \"$p\" ] || [ ! -d \"$p\" ]; then echo \"ludus: not deleting $f: $p is not a real directory\" >&2; exit 3; fi; done; rm -f -- \"$f\" || exit 1; done' sh",
        quote(dir)
    );
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
    // Relative to the checked staging directory (see `enter_staging`).
    let staged = format!("./{}", e.name);
    let enter = format!(
        "D={}; S=\"$D/{STAGING_DIR}\"; {}",
        quote(dir),
        enter_staging(false)
    );
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
            "{enter} head -c {prefix} -- {} | sha256sum",
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
        "{enter} set -e; f={}; t=\"$(dirname -- \"$f\")/.ludus-resume\"; rm -f -- \"$t\"; {{ head -c {prefix} -- \"$f\"; cat; }} > \"$t\"; chmod {:o} \"$t\"; touch -d @{} \"$t\"; mv -f -- \"$t\" \"$f\"",
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

/// The probe channel a tar transfer continues on.
pub(super) fn take_channel(
    conn: &Connection,
    channel: &mut Option<ssh2::Channel>,
) -> Result<ssh2::Channel, RemoteError> {
    channel.take().ok_or_else(|| RemoteError::Protocol {
        host: conn.host_label(),
        what: "starting the tar transfer".to_string(),
        problem: "the remote shell is gone".to_string(),
    })
}
