//! Copy experiment directories to and from remote machines over SSH (`ludus upload` and
//! `ludus download`), built on libssh2 through the `ssh2` crate.
//!
//! The pieces, in the order a transfer uses them: [`target`] parses `HOST:DIR`, [`config`] reads
//! the `~/.ssh/config` subset that matters (HostName, User, Port, IdentityFile), [`known_hosts`]
//! checks the server's key (plain and hashed entries), [`session`] connects and authenticates
//! (ssh-agent first, then identity files), [`listing`] lists both sides, [`plan`] decides what to
//! send, and [`transfer`] moves the bytes: one tar stream over an exec channel when the remote
//! has `tar`, SFTP otherwise. Nothing here prints: progress goes to a [`Progress`] the caller
//! supplies, and the result comes back as a [`Summary`].
//!
//! Which home: ludus takes `~` from `$HOME` (falling back to the passwd entry when `$HOME` is
//! unset), unlike the OpenSSH client, which always uses the passwd entry. `-F FILE`,
//! `--known-hosts FILE` and `-i FILE` override each file.

mod commands;
pub mod config;
mod error;
pub mod final_tree;
pub mod known_hosts;
mod listing;
mod local;
pub mod plan;
pub mod safety;
pub mod session;
mod sftp;
mod shell;
pub use shell::quote as shell_quote;
pub mod target;
mod tarstream;
pub mod transfer;

pub use error::RemoteError;
pub use session::{ConnectOptions, Connection, Endpoint, Prompt};
pub use target::RemoteSpec;
pub use transfer::{
    Direction, Summary, TransferOptions, download, download_over, upload, upload_over,
};

/// Receives progress while a transfer runs. Every method has an empty default.
pub trait Progress {
    /// The plan is known: this many files (and bytes) will be sent.
    fn start(&mut self, _files: u64, _bytes: u64) {}
    /// One more file is through; `bytes` is its size.
    fn file_done(&mut self, _bytes: u64) {}
    /// A step that may take a moment has begun (connecting, listing, installing).
    fn stage(&mut self, _what: &str) {}
    /// The transfer is over (successfully or not).
    fn finish(&mut self) {}
}

/// A [`Progress`] that ignores everything.
pub struct NoProgress;

impl Progress for NoProgress {}
