//! The one error type of the remote module: every variant names the host or file, the problem,
//! and what the user can do about it.

use std::path::PathBuf;

/// Everything that can stop an upload or a download.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// A `HOST:DIR` argument that cannot be understood.
    #[error(
        "`{arg}` is not a remote location: {problem} (write HOST:DIR, user@host:DIR or user@host:port:DIR)"
    )]
    BadTarget {
        /// The argument as given.
        arg: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A line of an ssh config file that cannot be used.
    #[error("{}:{line}: {problem}", file.display())]
    Config {
        /// The config file.
        file: PathBuf,
        /// Line number, from 1.
        line: usize,
        /// What is wrong.
        problem: String,
    },
    /// A local file could not be read or written.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The system error.
        error: std::io::Error,
    },
    /// The TCP connection failed.
    #[error(
        "cannot connect to {host} port {port}: {error} (check the host name, the port and that sshd runs there)"
    )]
    Connect {
        /// Host name or address.
        host: String,
        /// TCP port.
        port: u16,
        /// The system error.
        error: std::io::Error,
    },
    /// An SSH protocol step failed.
    #[error("{host}: {what}: {error}")]
    Ssh {
        /// The host (as `host:port`).
        host: String,
        /// The step that failed.
        what: String,
        /// The libssh2 error.
        error: ssh2::Error,
    },
    /// The server's host key is not in any known_hosts file.
    #[error(
        "the host key of {host} is not known.\n  {key_type} key fingerprint: {fingerprint}\n  Check this fingerprint with the machine's administrators (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub on the server), then run again with --accept-new-host-key to add it to {}.",
        known_hosts.display()
    )]
    UnknownHostKey {
        /// The host as known_hosts names it (`host` or `[host]:port`).
        host: String,
        /// Key algorithm, e.g. `ssh-ed25519`.
        key_type: String,
        /// `SHA256:...` fingerprint.
        fingerprint: String,
        /// Where the key would be added.
        known_hosts: PathBuf,
    },
    /// The server's key differs from the one recorded: possibly an attack. Always refused.
    #[error(
        "\n@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\nThe host key of {host} does not match the one recorded in {}:{line}.\nSomeone could be eavesdropping on you right now (man-in-the-middle attack), or the host key has just been changed.\nThe {key_type} key sent by the remote host has fingerprint {fingerprint}.\nludus refuses to connect. If you know the key was changed on purpose, remove the old entry\n(ssh-keygen -R '{host}' -f {}) and connect again with --accept-new-host-key.",
        file.display(), file.display()
    )]
    ChangedHostKey {
        /// The host as known_hosts names it.
        host: String,
        /// Key algorithm offered by the server.
        key_type: String,
        /// Fingerprint of the offered key.
        fingerprint: String,
        /// The file holding the conflicting entry.
        file: PathBuf,
        /// Its line, from 1.
        line: usize,
    },
    /// The server's key is marked `@revoked`.
    #[error("the host key of {host} ({fingerprint}) is marked @revoked in {}:{line}; ludus refuses to connect", file.display())]
    RevokedHostKey {
        /// The host.
        host: String,
        /// Fingerprint of the offered key.
        fingerprint: String,
        /// The file holding the `@revoked` line.
        file: PathBuf,
        /// Its line, from 1.
        line: usize,
    },
    /// No authentication method worked.
    #[error("{user}@{host}: authentication failed (tried: {}). Load a key into ssh-agent (ssh-add), name one with -i FILE or IdentityFile in the ssh config, and check that its public key is in the remote ~/.ssh/authorized_keys", tried.join(", "))]
    Auth {
        /// Remote user.
        user: String,
        /// Host.
        host: String,
        /// What was tried, in order.
        tried: Vec<String>,
    },
    /// A key needs a passphrase and none can be asked (batch mode).
    #[error("{}: this key is protected by a passphrase and there is no terminal to ask for it; add it to ssh-agent first (ssh-add {}) or run ludus from a terminal", key.display(), key.display())]
    PassphraseNeeded {
        /// The key file.
        key: PathBuf,
    },
    /// A remote command failed.
    #[error("{host}: `{what}` failed with exit status {status}: {stderr}")]
    RemoteCommand {
        /// Host.
        host: String,
        /// What the command was for.
        what: String,
        /// Its exit status.
        status: i32,
        /// The last lines of its stderr.
        stderr: String,
    },
    /// The remote side sent something ludus cannot parse.
    #[error("{host}: unexpected answer while {what}: {problem}")]
    Protocol {
        /// Host.
        host: String,
        /// What ludus was doing.
        what: String,
        /// What was wrong.
        problem: String,
    },
    /// A path that would lead outside the target directory (or is otherwise unsafe).
    #[error(
        "refusing `{path}` from {side}: {problem}; nothing outside the target directory is ever written"
    )]
    UnsafePath {
        /// `host` or `local directory`.
        side: String,
        /// The offending name.
        path: String,
        /// Why it is refused.
        problem: String,
    },
    /// The two sides disagree on what a path is (a file here, a directory there).
    #[error(
        "`{path}` is a {source_kind} on the sending side but a {dest_kind} on the receiving side; remove one of them and run again"
    )]
    KindConflict {
        /// The path.
        path: String,
        /// Its kind at the source.
        source_kind: &'static str,
        /// Its kind at the destination.
        dest_kind: &'static str,
    },
    /// A bad `--include` or `--exclude` pattern.
    #[error("bad glob `{pattern}`: {problem}")]
    BadGlob {
        /// The pattern.
        pattern: String,
        /// The parser's complaint.
        problem: String,
    },
}

impl RemoteError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        RemoteError::Io {
            path: path.into(),
            error,
        }
    }
}
