//! Check a server's host key against OpenSSH `known_hosts` files: plain host patterns
//! (`host`, `[host]:port`, wildcards, `!negation`, comma lists), hashed entries
//! (`|1|base64(salt)|base64(HMAC-SHA1(salt, name))`), and the `@revoked` marker
//! (`@cert-authority` lines are skipped: ludus does not do host certificates).
//! A host with entries none of which match is a *changed* key: always refused.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Digest;

use super::RemoteError;
use super::config::host_matches;

/// The result of checking one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostKeyStatus {
    /// An entry names this host with this key.
    Known,
    /// No entry names this host.
    Unknown,
    /// Entries name this host, but with other keys; `file:line` is the first of them.
    Changed {
        /// The file with the conflicting entry.
        file: PathBuf,
        /// Its line, from 1.
        line: usize,
    },
    /// This key is marked `@revoked`.
    Revoked {
        /// The file with the `@revoked` line.
        file: PathBuf,
        /// Its line, from 1.
        line: usize,
    },
}

#[derive(Clone, Debug)]
enum Hosts {
    Patterns(Vec<String>),
    Hashed { salt: Vec<u8>, hash: Vec<u8> },
}

#[derive(Clone, Debug)]
struct Entry {
    revoked: bool,
    hosts: Hosts,
    key_type: String,
    key: Vec<u8>,
    file: PathBuf,
    line: usize,
}

/// The entries of some known_hosts files.
#[derive(Clone, Debug, Default)]
pub struct KnownHosts {
    entries: Vec<Entry>,
}

/// The name known_hosts uses for a host: `host` on port 22, `[host]:port` otherwise.
pub fn host_entry_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// The `SHA256:...` fingerprint OpenSSH prints for a public key blob.
pub fn fingerprint(key: &[u8]) -> String {
    format!(
        "SHA256:{}",
        STANDARD_NO_PAD.encode(sha2::Sha256::digest(key))
    )
}

impl KnownHosts {
    /// Reads the files that exist; missing files are fine, unreadable lines are skipped.
    pub fn load(files: &[PathBuf]) -> Result<KnownHosts, RemoteError> {
        let mut kh = KnownHosts::default();
        for file in files {
            match std::fs::read_to_string(file) {
                Ok(text) => kh.add_text(&text, file),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(RemoteError::io(file, e)),
            }
        }
        Ok(kh)
    }

    /// Adds the entries of one file's text.
    pub fn add_text(&mut self, text: &str, file: &Path) {
        for (i, line) in text.lines().enumerate() {
            if let Some(entry) = parse_line(line, file, i + 1) {
                self.entries.push(entry);
            }
        }
    }

    fn matching<'a>(&'a self, host: &str, port: u16) -> impl Iterator<Item = &'a Entry> + 'a {
        let name = host_entry_name(host, port);
        self.entries.iter().filter(move |e| names(e, &name))
    }

    /// Checks `key` (the server's public key blob) for `host` on `port`.
    pub fn check(&self, host: &str, port: u16, key: &[u8]) -> HostKeyStatus {
        let mut first_other = None;
        let mut known = false;
        for e in self.matching(host, port) {
            if e.key == key {
                if e.revoked {
                    return HostKeyStatus::Revoked {
                        file: e.file.clone(),
                        line: e.line,
                    };
                }
                known = true;
            } else if !e.revoked && first_other.is_none() {
                first_other = Some((e.file.clone(), e.line));
            }
        }
        // A revoked key is refused whichever host it turns up on.
        if let Some(e) = self.entries.iter().find(|e| e.revoked && e.key == key) {
            return HostKeyStatus::Revoked {
                file: e.file.clone(),
                line: e.line,
            };
        }
        match (known, first_other) {
            (true, _) => HostKeyStatus::Known,
            (false, Some((file, line))) => HostKeyStatus::Changed { file, line },
            (false, None) => HostKeyStatus::Unknown,
        }
    }

    /// The key types recorded for a host, in file order (to ask the server for those first).
    pub fn key_types(&self, host: &str, port: u16) -> Vec<String> {
        let mut types: Vec<String> = Vec::new();
        for e in self.matching(host, port) {
            if !e.revoked && !types.contains(&e.key_type) {
                types.push(e.key_type.clone());
            }
        }
        types
    }
}

fn names(e: &Entry, name: &str) -> bool {
    match &e.hosts {
        Hosts::Patterns(p) => host_matches(p, name),
        Hosts::Hashed { salt, hash } => {
            let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(salt) else {
                return false;
            };
            mac.update(name.as_bytes());
            mac.verify_slice(hash).is_ok()
        }
    }
}

fn parse_line(line: &str, file: &Path, line_no: usize) -> Option<Entry> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let mut fields = line.split_whitespace();
    let mut first = fields.next()?;
    let mut revoked = false;
    if first.starts_with('@') {
        match first {
            "@revoked" => revoked = true,
            _ => return None,
        }
        first = fields.next()?;
    }
    let key_type = fields.next()?.to_string();
    let key = STANDARD.decode(fields.next()?).ok()?;
    let hosts = if let Some(h) = first.strip_prefix("|1|") {
        let (salt, hash) = h.split_once('|')?;
        Hosts::Hashed {
            salt: STANDARD.decode(salt).ok()?,
            hash: STANDARD.decode(hash).ok()?,
        }
    } else {
        Hosts::Patterns(first.split(',').map(str::to_string).collect())
    };
    Some(Entry {
        revoked,
        hosts,
        key_type,
        key,
        file: file.to_path_buf(),
        line: line_no,
    })
}

/// Appends a plain entry for `host`/`port` to `file` (creating it and its directory, mode 0700).
pub fn append(
    file: &Path,
    host: &str,
    port: u16,
    key_type: &str,
    key: &[u8],
) -> Result<(), RemoteError> {
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        std::fs::create_dir_all(dir).map_err(|e| RemoteError::io(dir, e))?;
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    let existing = std::fs::read(file).unwrap_or_default();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .map_err(|e| RemoteError::io(file, e))?;
    let sep = if existing.is_empty() || existing.ends_with(b"\n") {
        ""
    } else {
        "\n"
    };
    let line = format!(
        "{sep}{} {key_type} {}\n",
        host_entry_name(host, port),
        STANDARD.encode(key)
    );
    f.write_all(line.as_bytes())
        .map_err(|e| RemoteError::io(file, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kh(text: &str) -> KnownHosts {
        let mut k = KnownHosts::default();
        k.add_text(text, Path::new("kh"));
        k
    }

    const KEY_A: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    const KEY_B: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIBOKHEhbwEIEMdGjzdDlDQ4lKtQXVOfTXvKMn1dkyqHf";

    fn key(s: &str) -> Vec<u8> {
        STANDARD.decode(s).expect("test key")
    }

    #[test]
    fn plain_entries() {
        let k = kh(&format!(
            "# c\nexample.org,10.0.0.1 ssh-ed25519 {KEY_A}\n[h]:2222 ssh-ed25519 {KEY_B}\n*.wild ssh-ed25519 {KEY_A}\n"
        ));
        assert_eq!(
            k.check("example.org", 22, &key(KEY_A)),
            HostKeyStatus::Known
        );
        assert_eq!(k.check("10.0.0.1", 22, &key(KEY_A)), HostKeyStatus::Known);
        assert_eq!(
            k.check("example.org", 22, &key(KEY_B)),
            HostKeyStatus::Changed {
                file: "kh".into(),
                line: 2
            }
        );
        assert_eq!(k.check("h", 2222, &key(KEY_B)), HostKeyStatus::Known);
        assert_eq!(
            k.check("h", 22, &key(KEY_B)),
            HostKeyStatus::Unknown,
            "port 22 is a different entry name"
        );
        assert_eq!(k.check("a.wild", 22, &key(KEY_A)), HostKeyStatus::Known);
        assert_eq!(k.key_types("h", 2222), vec!["ssh-ed25519"]);
    }

    #[test]
    fn hashed_entry() {
        // `|1|` entry for "[127.0.0.1]:2222", made with a fixed salt by hand-derivation:
        // HMAC-SHA1(key = salt, msg = name), both base64.
        let salt = b"0123456789abcdefghij";
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(salt).expect("any key length");
        mac.update(b"[127.0.0.1]:2222");
        let hash = mac.finalize().into_bytes();
        let line = format!(
            "|1|{}|{} ssh-ed25519 {KEY_A}\n",
            STANDARD.encode(salt),
            STANDARD.encode(hash)
        );
        let k = kh(&line);
        assert_eq!(
            k.check("127.0.0.1", 2222, &key(KEY_A)),
            HostKeyStatus::Known
        );
        assert!(matches!(
            k.check("127.0.0.1", 2222, &key(KEY_B)),
            HostKeyStatus::Changed { .. }
        ));
        assert_eq!(
            k.check("127.0.0.1", 2223, &key(KEY_A)),
            HostKeyStatus::Unknown
        );
    }

    #[test]
    fn known_openssh_hash() {
        // Produced by `ssh-keygen -H` for the name "localhost".
        let line = format!(
            "|1|F1y4yNTCXlQoW1/73oY51fTP9O8=|+go9pW3yN49VG08m//1aaXS+tFQ= ssh-ed25519 {KEY_A}"
        );
        let k = kh(&line);
        assert_eq!(k.check("localhost", 22, &key(KEY_A)), HostKeyStatus::Known);
    }

    #[test]
    fn revoked_wins() {
        let k = kh(&format!(
            "h ssh-ed25519 {KEY_A}\n@revoked * ssh-ed25519 {KEY_A}\n"
        ));
        assert!(matches!(
            k.check("h", 22, &key(KEY_A)),
            HostKeyStatus::Revoked { line: 2, .. }
        ));
    }

    #[test]
    fn fingerprint_format() {
        assert!(fingerprint(&key(KEY_A)).starts_with("SHA256:"));
        assert_eq!(fingerprint(&key(KEY_A)).len(), 7 + 43);
    }
}
