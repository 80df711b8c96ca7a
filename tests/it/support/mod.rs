//! Shared helpers for the integration tests: a temp folder and the real `ludus` binary.
#![allow(dead_code, reason = "each test binary uses a different subset")]

pub mod common;
pub mod instance;
pub mod slurm;
pub mod sshd;
pub mod stats;
pub mod tree;

use std::path::{Path, PathBuf};
use std::process::Command;

/// A temporary folder that the test writes specs and experiments into.
pub struct Dir {
    pub tmp: tempfile::TempDir,
}

impl Dir {
    pub fn new() -> Dir {
        Dir {
            tmp: tempfile::tempdir().expect("a temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.tmp.path().join(p)
    }

    #[track_caller]
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, text).expect("write");
        p
    }

    /// A `ludus` command running in this folder.
    pub fn ludus(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ludus"));
        c.current_dir(self.path());
        c
    }
}

/// Runs a command, returns (exit code, stdout, stderr).
#[track_caller]
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("the command starts");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every file under `dir` (relative paths, sorted), with its bytes.
pub fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e
                .path()
                .strip_prefix(dir)
                .expect("inside")
                .to_string_lossy()
                .into_owned();
            (rel, std::fs::read(e.path()).expect("read"))
        })
        .collect();
    out.sort();
    out
}
