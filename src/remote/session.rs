//! Connect to a host: apply the ssh config, open the TCP connection, check the host key against
//! known_hosts (refusing unknown keys unless asked to add them, and changed keys always), then
//! authenticate: ssh-agent first, then identity files (asking a [`Prompt`] for a passphrase).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use ssh2::{MethodType, Session};

use super::config::{self, expand_path};
use super::known_hosts::{self, HostKeyStatus, KnownHosts, fingerprint, host_entry_name};
use super::{RemoteError, RemoteSpec};

/// Where the connection settings come from.
#[derive(Clone, Debug, Default)]
pub struct ConnectOptions {
    /// The home whose `.ssh` is used; `None` means `$HOME` (then the passwd entry).
    pub home: Option<PathBuf>,
    /// `-F FILE`: the ssh config to read instead of `~/.ssh/config`.
    pub config_file: Option<PathBuf>,
    /// `-i FILE`: identity files tried before those of the config.
    pub identities: Vec<PathBuf>,
    /// `--known-hosts FILE`: the only known_hosts file read and written.
    pub known_hosts: Option<PathBuf>,
    /// `--accept-new-host-key`: add an unknown host's key (a changed key is still refused).
    pub accept_new_host_key: bool,
    /// Do not ask ssh-agent.
    pub no_agent: bool,
}

/// Asks the user for a key's passphrase; `None` when nobody can answer (batch mode).
pub trait Prompt {
    /// The passphrase for `key`, or `None`.
    fn passphrase(&mut self, key: &Path) -> Option<String>;
}

/// A host with the ssh config applied.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// The name as the user wrote it (a config alias, perhaps).
    pub alias: String,
    /// The real host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Remote user.
    pub user: String,
    /// Identity files to try, in order.
    pub identity_files: Vec<PathBuf>,
    /// known_hosts files to read; the first is the one new keys are added to.
    pub known_hosts_files: Vec<PathBuf>,
}

impl Endpoint {
    /// Applies the options and the ssh config to a parsed `HOST:DIR`.
    pub fn resolve(spec: &RemoteSpec, opts: &ConnectOptions) -> Result<Endpoint, RemoteError> {
        let home = opts.home.clone().unwrap_or_else(home_dir);
        let config_path = opts
            .config_file
            .clone()
            .unwrap_or_else(|| home.join(".ssh").join("config"));
        let cfg = config::load(&config_path, &spec.host, &home)?;
        let host = cfg.host_name.clone().unwrap_or_else(|| spec.host.clone());
        let port = spec.port.or(cfg.port).unwrap_or(22);
        let local_user = local_user();
        let user = spec
            .user
            .clone()
            .or(cfg.user.clone())
            .unwrap_or_else(|| local_user.clone());
        let expand = |s: &str| expand_path(s, &home, &host, port, &user, &local_user);
        let mut identity_files: Vec<PathBuf> = opts.identities.clone();
        identity_files.extend(cfg.identity_files.iter().map(|s| expand(s)));
        if identity_files.is_empty() {
            for name in ["id_ed25519", "id_ecdsa", "id_rsa"] {
                identity_files.push(home.join(".ssh").join(name));
            }
        }
        let known_hosts_files = match &opts.known_hosts {
            Some(f) => vec![f.clone()],
            None if !cfg.known_hosts_files.is_empty() => {
                cfg.known_hosts_files.iter().map(|s| expand(s)).collect()
            }
            None => vec![
                home.join(".ssh").join("known_hosts"),
                home.join(".ssh").join("known_hosts2"),
                PathBuf::from("/etc/ssh/ssh_known_hosts"),
            ],
        };
        Ok(Endpoint {
            alias: spec.host.clone(),
            host,
            port,
            user,
            identity_files,
            known_hosts_files,
        })
    }

    /// `user@host:port`, for messages.
    pub fn label(&self) -> String {
        format!("{}@{}:{}", self.user, self.host, self.port)
    }
}

/// An authenticated SSH session.
pub struct Connection {
    session: Session,
    /// Where it is connected.
    pub endpoint: Endpoint,
}

/// What a remote command produced.
pub struct Output {
    /// Exit status.
    pub status: i32,
    /// Everything it wrote to stdout.
    pub stdout: Vec<u8>,
    /// Its stderr, as text.
    pub stderr: String,
}

impl Connection {
    /// Connects, checks the host key and authenticates.
    pub fn open(
        endpoint: Endpoint,
        opts: &ConnectOptions,
        prompt: &mut dyn Prompt,
    ) -> Result<Connection, RemoteError> {
        let label = format!("{}:{}", endpoint.host, endpoint.port);
        let connect_err = |error| RemoteError::Connect {
            host: endpoint.host.clone(),
            port: endpoint.port,
            error,
        };
        let addrs: Vec<_> = (endpoint.host.as_str(), endpoint.port)
            .to_socket_addrs()
            .map_err(connect_err)?
            .collect();
        let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
        let mut tcp = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, Duration::from_secs(20)) {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last = e,
            }
        }
        let tcp = tcp.ok_or_else(|| connect_err(last))?;
        let _ = tcp.set_nodelay(true);
        let known = KnownHosts::load(&endpoint.known_hosts_files)?;
        let mut session = Session::new().map_err(|e| ssh_err(&label, "starting a session", e))?;
        prefer_known_key_types(&session, &known.key_types(&endpoint.host, endpoint.port));
        session.set_tcp_stream(tcp);
        session
            .handshake()
            .map_err(|e| ssh_err(&label, "SSH handshake", e))?;
        check_host_key(&session, &endpoint, &known, opts)?;
        authenticate(&session, &endpoint, opts, prompt)?;
        Ok(Connection { session, endpoint })
    }

    /// The underlying libssh2 session.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// `host:port`, for messages.
    pub fn host_label(&self) -> String {
        format!("{}:{}", self.endpoint.host, self.endpoint.port)
    }

    /// Starts `cmd` on an exec channel.
    pub fn exec(&self, cmd: &str) -> Result<ssh2::Channel, RemoteError> {
        let label = self.host_label();
        let mut ch = self
            .session
            .channel_session()
            .map_err(|e| ssh_err(&label, "opening a channel", e))?;
        ch.exec(cmd)
            .map_err(|e| ssh_err(&label, "starting a remote command", e))?;
        Ok(ch)
    }

    /// Runs `cmd` with `stdin`, collecting its output and exit status.
    pub fn run(&self, cmd: &str, stdin: &[u8]) -> Result<Output, RemoteError> {
        let label = self.host_label();
        let io_err = |e: std::io::Error| RemoteError::Protocol {
            host: label.clone(),
            what: "running a remote command".to_string(),
            problem: e.to_string(),
        };
        let mut ch = self.exec(cmd)?;
        if !stdin.is_empty() {
            ch.write_all(stdin).map_err(io_err)?;
        }
        ch.send_eof()
            .map_err(|e| ssh_err(&label, "closing stdin", e))?;
        let mut stdout = Vec::new();
        ch.read_to_end(&mut stdout).map_err(io_err)?;
        let stderr = read_stderr(&mut ch);
        finish_channel(&mut ch, &label).map(|status| Output {
            status,
            stdout,
            stderr,
        })
    }

    /// Opens the SFTP subsystem.
    pub fn sftp(&self) -> Result<ssh2::Sftp, RemoteError> {
        self.session
            .sftp()
            .map_err(|e| ssh_err(&self.host_label(), "starting SFTP", e))
    }
}

/// Everything left on a channel's stderr, as (lossy) text.
pub fn read_stderr(ch: &mut ssh2::Channel) -> String {
    let mut buf = Vec::new();
    let _ = ch.stderr().read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// Waits for the remote end of a channel and returns the exit status.
pub fn finish_channel(ch: &mut ssh2::Channel, label: &str) -> Result<i32, RemoteError> {
    ch.wait_close()
        .map_err(|e| ssh_err(label, "closing a channel", e))?;
    ch.exit_status()
        .map_err(|e| ssh_err(label, "reading an exit status", e))
}

/// Wraps a libssh2 error.
pub fn ssh_err(host: &str, what: &str, error: ssh2::Error) -> RemoteError {
    RemoteError::Ssh {
        host: host.to_string(),
        what: what.to_string(),
        error,
    }
}

fn prefer_known_key_types(session: &Session, known: &[String]) {
    if known.is_empty() {
        return;
    }
    let Ok(supported) = session.supported_algs(MethodType::HostKey) else {
        return;
    };
    let mut prefs: Vec<&str> = Vec::new();
    for k in known {
        let names: &[&str] = if k == "ssh-rsa" {
            &["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]
        } else {
            &[k.as_str()]
        };
        for n in names {
            if supported.contains(n) && !prefs.contains(n) {
                prefs.push(n);
            }
        }
    }
    if prefs.is_empty() {
        return;
    }
    for s in &supported {
        if !prefs.contains(s) {
            prefs.push(s);
        }
    }
    let _ = session.method_pref(MethodType::HostKey, &prefs.join(","));
}

fn check_host_key(
    session: &Session,
    ep: &Endpoint,
    known: &KnownHosts,
    opts: &ConnectOptions,
) -> Result<(), RemoteError> {
    let label = format!("{}:{}", ep.host, ep.port);
    let (key, _) = session.host_key().ok_or_else(|| RemoteError::Protocol {
        host: label.clone(),
        what: "the handshake".to_string(),
        problem: "the server sent no host key".to_string(),
    })?;
    let key_type = key_type_of(key);
    let fp = fingerprint(key);
    let name = host_entry_name(&ep.host, ep.port);
    let add_to = ep
        .known_hosts_files
        .first()
        .cloned()
        .unwrap_or_else(|| PathBuf::from("known_hosts"));
    match known.check(&ep.host, ep.port, key) {
        HostKeyStatus::Known => Ok(()),
        HostKeyStatus::Changed { file, line } => Err(RemoteError::ChangedHostKey {
            host: name,
            key_type,
            fingerprint: fp,
            file,
            line,
        }),
        HostKeyStatus::Revoked { file, line } => Err(RemoteError::RevokedHostKey {
            host: name,
            fingerprint: fp,
            file,
            line,
        }),
        HostKeyStatus::Unknown if opts.accept_new_host_key => {
            known_hosts::append(&add_to, &ep.host, ep.port, &key_type, key)
        }
        HostKeyStatus::Unknown => Err(RemoteError::UnknownHostKey {
            host: name,
            key_type,
            fingerprint: fp,
            known_hosts: add_to,
        }),
    }
}

/// The algorithm name at the start of an SSH public key blob.
fn key_type_of(blob: &[u8]) -> String {
    let Some(len) = blob
        .get(..4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    else {
        return "unknown".to_string();
    };
    blob.get(4..4 + len)
        .and_then(|n| std::str::from_utf8(n).ok())
        .unwrap_or("unknown")
        .to_string()
}

fn authenticate(
    session: &Session,
    ep: &Endpoint,
    opts: &ConnectOptions,
    prompt: &mut dyn Prompt,
) -> Result<(), RemoteError> {
    let mut tried = Vec::new();
    if !opts.no_agent && std::env::var_os("SSH_AUTH_SOCK").is_some() {
        tried.push("ssh-agent".to_string());
        if session.userauth_agent(&ep.user).is_ok() && session.authenticated() {
            return Ok(());
        }
    }
    let mut needs_passphrase = None;
    for key in &ep.identity_files {
        if !key.is_file() {
            continue;
        }
        tried.push(key.display().to_string());
        let pubkey = PathBuf::from(format!("{}.pub", key.display()));
        let pubkey = pubkey.is_file().then_some(pubkey);
        if session
            .userauth_pubkey_file(&ep.user, pubkey.as_deref(), key, None)
            .is_ok()
            && session.authenticated()
        {
            return Ok(());
        }
        if !is_encrypted(key) {
            continue;
        }
        match prompt.passphrase(key) {
            Some(pass) => {
                if session
                    .userauth_pubkey_file(&ep.user, pubkey.as_deref(), key, Some(&pass))
                    .is_ok()
                    && session.authenticated()
                {
                    return Ok(());
                }
            }
            None => needs_passphrase = needs_passphrase.or_else(|| Some(key.clone())),
        }
    }
    if tried.is_empty() {
        let looked: Vec<String> = ep
            .identity_files
            .iter()
            .map(|k| k.display().to_string())
            .collect();
        tried.push(format!(
            "no ssh-agent and no key file found; looked for {}",
            looked.join(", ")
        ));
    }
    match needs_passphrase {
        Some(key) => Err(RemoteError::PassphraseNeeded { key }),
        None => Err(RemoteError::Auth {
            user: ep.user.clone(),
            host: format!("{}:{}", ep.host, ep.port),
            tried,
        }),
    }
}

/// True if a private key file is protected by a passphrase (PEM `ENCRYPTED` or an
/// `openssh-key-v1` key whose cipher is not `none`).
pub fn is_encrypted(key: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(key) else {
        return false;
    };
    if text.contains("ENCRYPTED") {
        return true;
    }
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(body.trim()) else {
        return false;
    };
    let Some(rest) = raw.strip_prefix(b"openssh-key-v1\0") else {
        return false;
    };
    key_type_of(rest) != "none"
}

fn home_dir() -> PathBuf {
    if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h);
    }
    passwd_field(|pw| pw.pw_dir)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

fn local_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(|| passwd_field(|pw| pw.pw_name))
        .unwrap_or_else(|| "root".to_string())
}

fn passwd_field(field: fn(&libc::passwd) -> *mut libc::c_char) -> Option<String> {
    // SAFETY: getpwuid returns a pointer to static storage or null; the field is copied out
    // at once, before any other passwd call can overwrite it.
    unsafe {
        let pw = libc::getpwuid(libc::getuid());
        if pw.is_null() {
            return None;
        }
        let p = field(&*pw);
        if p.is_null() {
            return None;
        }
        Some(std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_type_from_blob() {
        let blob = base64::engine::general_purpose::STANDARD
            .decode("AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl")
            .expect("b64");
        assert_eq!(key_type_of(&blob), "ssh-ed25519");
        assert_eq!(key_type_of(&[0, 0]), "unknown");
    }

    #[test]
    fn resolves_alias_from_config() {
        let dir = std::env::temp_dir().join(format!("ludus-session-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp");
        let cfg = dir.join("config");
        std::fs::write(
            &cfg,
            "Host mycluster\n  HostName 127.0.0.1\n  Port 2200\n  User me\n  IdentityFile %d/key\n",
        )
        .expect("write");
        let opts = ConnectOptions {
            home: Some(dir.clone()),
            config_file: Some(cfg),
            ..Default::default()
        };
        let spec = RemoteSpec::parse("mycluster:/x").expect("spec");
        let ep = Endpoint::resolve(&spec, &opts).expect("resolve");
        assert_eq!(
            (ep.host.as_str(), ep.port, ep.user.as_str()),
            ("127.0.0.1", 2200, "me")
        );
        assert_eq!(ep.identity_files, vec![dir.join("key")]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
