//! A throwaway OpenSSH server on 127.0.0.1 for integration tests: a fresh host key, user key,
//! authorized_keys and sshd_config in a temp dir, a client home (`$HOME` for ludus) whose
//! `.ssh` holds the user key and, unless asked otherwise, a known_hosts entry for the server.
//! The daemon is stopped by its pid when the value is dropped. A missing `sshd` is a test
//! failure, not a skip: install Debian's `openssh-server` (and `openssh-client` for ssh-keygen).

#![allow(dead_code, reason = "each test file uses a different subset")]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub const SSHD: &str = "/usr/sbin/sshd";

/// A running sshd and the client-side files that go with it.
pub struct Sshd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub pid: i32,
    pub user: String,
    /// Client `$HOME`; `.ssh/id_ed25519` is the user key.
    pub home: PathBuf,
    /// `ssh-ed25519 AAAA...` of the server.
    pub host_key_pub: String,
}

/// What the server's sessions see.
#[derive(Default)]
pub struct SshdOptions {
    /// `SetEnv PATH=...` for remote commands (to hide `tar`, or to plant fake tools).
    pub path: Option<String>,
    /// Do not write a known_hosts entry into the client home.
    pub no_known_hosts: bool,
    /// More `SetEnv` variables for remote commands (e.g. `SLURM_CONF`).
    pub env: Vec<(String, String)>,
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (install openssh-client)"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn keygen(path: &Path) {
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "ludus-test", "-f"])
        .arg(path));
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

impl Sshd {
    pub fn start() -> Sshd {
        Sshd::start_with(SshdOptions::default())
    }

    pub fn start_with(opts: SshdOptions) -> Sshd {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: install Debian's openssh-server (apt-get install -y openssh-server)"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        keygen(&d.join("host_key"));
        let home = d.join("home");
        std::fs::create_dir_all(home.join(".ssh")).expect("home");
        keygen(&home.join(".ssh/id_ed25519"));
        std::fs::copy(home.join(".ssh/id_ed25519.pub"), d.join("authorized_keys"))
            .expect("authorized_keys");
        let user = String::from_utf8(
            Command::new("id")
                .arg("-un")
                .output()
                .expect("id -un")
                .stdout,
        )
        .expect("utf8")
        .trim()
        .to_string();
        let port = free_port();
        let mut config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nAuthorizedKeysFile {ak}\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\n\
             PidFile {pid}\nSubsystem sftp internal-sftp\nMaxStartups 100\nMaxSessions 100\n",
            hk = d.join("host_key").display(),
            ak = d.join("authorized_keys").display(),
            pid = d.join("sshd.pid").display(),
        );
        // sshd takes the first SetEnv line only, so every variable goes on one line.
        let mut env: Vec<String> = opts.path.iter().map(|p| format!("PATH={p}")).collect();
        env.extend(opts.env.iter().map(|(k, v)| format!("{k}={v}")));
        if !env.is_empty() {
            config.push_str(&format!("SetEnv {}\n", env.join(" ")));
        }
        std::fs::write(d.join("sshd_config"), config).expect("sshd_config");
        let _ = std::fs::create_dir_all("/run/sshd");
        run(Command::new(SSHD)
            .arg("-f")
            .arg(d.join("sshd_config"))
            .arg("-E")
            .arg(d.join("sshd.log")));
        let t0 = Instant::now();
        let pid = loop {
            if let Some(pid) = std::fs::read_to_string(d.join("sshd.pid"))
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok())
            {
                break pid;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "sshd did not start: {}",
                std::fs::read_to_string(d.join("sshd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "sshd does not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let host_key_pub = std::fs::read_to_string(d.join("host_key.pub")).expect("host key");
        let host_key_pub = host_key_pub
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        let s = Sshd {
            dir,
            port,
            pid,
            user,
            home,
            host_key_pub,
        };
        if !opts.no_known_hosts {
            std::fs::write(s.known_hosts(), format!("{}\n", s.known_hosts_line()))
                .expect("known_hosts");
        }
        s
    }

    pub fn known_hosts(&self) -> PathBuf {
        self.home.join(".ssh/known_hosts")
    }

    pub fn known_hosts_line(&self) -> String {
        format!("[127.0.0.1]:{} {}", self.port, self.host_key_pub)
    }

    /// `user@127.0.0.1:port:DIR`.
    pub fn target(&self, dir: &Path) -> String {
        format!("{}@127.0.0.1:{}:{}", self.user, self.port, dir.display())
    }

    /// A directory for "remote" files (the server is this machine).
    pub fn remote_dir(&self, name: &str) -> PathBuf {
        self.dir.path().join("remote").join(name)
    }

    /// The ludus binary with the client home as `$HOME` and no ssh-agent.
    pub fn ludus(&self) -> assert_cmd::Command {
        let mut c = assert_cmd::Command::cargo_bin("ludus").expect("ludus binary");
        c.env("HOME", &self.home)
            .env_remove("SSH_AUTH_SOCK")
            .timeout(Duration::from_secs(60));
        c
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        // SAFETY: sends SIGTERM to the daemon this value started, by its pid.
        unsafe {
            libc::kill(self.pid, libc::SIGTERM);
        }
    }
}
