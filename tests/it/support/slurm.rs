//! A private single-node SLURM on 127.0.0.1 for integration tests: munged (as the `munge`
//! user, with its own key, socket and pid file), slurmctld and slurmd, all configured by a
//! `slurm.conf` in a temp dir with ports of the test's choosing. Tests share one cluster while
//! any of them holds it ([`Slurm::shared`]); the last one to let go stops every daemon by its
//! pid. Needs root and Debian's `slurm-wlm` and `munge`; their absence is a test failure.

#![allow(dead_code, reason = "each test file uses a different subset")]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// A running single-node cluster.
pub struct Slurm {
    pub dir: tempfile::TempDir,
    pub conf: PathBuf,
    pids: Vec<i32>,
}

static SHARED: Mutex<Weak<Slurm>> = Mutex::new(Weak::new());

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

fn output(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (install slurm-wlm and munge)"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn wait_pid_file(path: &Path, log: &Path, what: &str) -> i32 {
    let t0 = Instant::now();
    loop {
        if let Some(pid) = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
        {
            return pid;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "{what} did not start: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Slurm {
    /// The cluster the running tests share (started if none is running).
    pub fn shared() -> Arc<Slurm> {
        let mut g = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = g.upgrade() {
            return s;
        }
        let s = Arc::new(Slurm::start());
        *g = Arc::downgrade(&s);
        s
    }

    /// Starts munged, slurmctld and slurmd; returns once the node is idle.
    pub fn start() -> Slurm {
        Slurm::start_with("")
    }

    /// As [`Slurm::start`], with `extra` lines appended to `slurm.conf` (e.g.
    /// `MaxArraySize=4\n`): a cluster of its own, with its own munged, ports and temp dir.
    pub fn start_with(extra: &str) -> Slurm {
        for bin in [
            "/usr/sbin/munged",
            "/usr/sbin/slurmctld",
            "/usr/sbin/slurmd",
        ] {
            assert!(
                Path::new(bin).exists(),
                "{bin} is missing: apt-get install -y slurm-wlm munge"
            );
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path().to_path_buf();
        // munged runs as `munge` and must reach its files inside the temp dir.
        output(Command::new("chmod").arg("755").arg(&d));
        let m = d.join("munge");
        std::fs::create_dir_all(&m).expect("munge dir");
        let key: Vec<u8> = (0..1024u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 ^ std::process::id() as u8)
            .collect();
        std::fs::write(m.join("key"), key).expect("munge key");
        output(Command::new("chown").args(["-R", "munge:munge"]).arg(&m));
        output(Command::new("chmod").arg("700").arg(&m));
        output(Command::new("chmod").arg("400").arg(m.join("key")));
        let sock = m.join("sock");
        output(Command::new("su").args(["-s", "/bin/sh", "munge", "-c"]).arg(format!(
            "/usr/sbin/munged --force --socket={} --key-file={} --pid-file={} --log-file={} --seed-file={}",
            sock.display(),
            m.join("key").display(),
            m.join("pid").display(),
            m.join("log").display(),
            m.join("seed").display()
        )));
        let munged = wait_pid_file(&m.join("pid"), &m.join("log"), "munged");
        let mut s = Slurm {
            conf: d.join("slurm.conf"),
            dir,
            pids: vec![munged],
        };
        let host = output(Command::new("hostname").arg("-s"))
            .trim()
            .to_string();
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let p = |n: &str| d.join(n).display().to_string();
        for sub in ["state", "spool"] {
            std::fs::create_dir_all(d.join(sub)).expect("dir");
        }
        // Four CPUs even on a two-core machine (config_overrides trusts the config), so
        // concurrent tests' jobs start at once.
        let conf = format!(
            "ClusterName=ludustest\nSlurmctldHost={host}(127.0.0.1)\nSlurmctldPort={cport}\nSlurmdPort={dport}\n\
             SlurmUser=root\nSlurmdUser=root\nAuthType=auth/munge\nAuthInfo=socket={sock}\nCredType=cred/munge\n\
             StateSaveLocation={state}\nSlurmdSpoolDir={spool}\nSlurmctldPidFile={cpid}\nSlurmdPidFile={dpid}\n\
             SlurmctldLogFile={clog}\nSlurmdLogFile={dlog}\nProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n\
             AccountingStorageType=accounting_storage/none\nJobAcctGatherType=jobacct_gather/none\n\
             SelectType=select/cons_tres\nSelectTypeParameters=CR_CPU\nSlurmdParameters=config_overrides\n\
             ReturnToService=2\nMpiDefault=none\nSchedulerParameters=sched_interval=1\nMinJobAge=300\nKillWait=5\n\
             NodeName={host} NodeAddr=127.0.0.1 CPUs={ncpu} State=UNKNOWN\n\
             PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP\n",
            cport = free_port(),
            dport = free_port(),
            sock = sock.display(),
            state = p("state"),
            spool = p("spool"),
            cpid = p("slurmctld.pid"),
            dpid = p("slurmd.pid"),
            clog = p("slurmctld.log"),
            dlog = p("slurmd.log"),
            ncpu = cpus.max(4),
        ) + extra;
        std::fs::write(&s.conf, conf).expect("slurm.conf");
        output(Command::new("/usr/sbin/slurmctld").arg("-f").arg(&s.conf));
        s.pids.push(wait_pid_file(
            &d.join("slurmctld.pid"),
            &d.join("slurmctld.log"),
            "slurmctld",
        ));
        output(Command::new("/usr/sbin/slurmd").arg("-f").arg(&s.conf));
        s.pids.push(wait_pid_file(
            &d.join("slurmd.pid"),
            &d.join("slurmd.log"),
            "slurmd",
        ));
        let t0 = Instant::now();
        loop {
            let state = s
                .cmd("sinfo")
                .args(["-h", "-o", "%T"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .unwrap_or_default();
            if state == "idle" {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "the node did not become idle (sinfo: {state}): {}",
                std::fs::read_to_string(d.join("slurmctld.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        s
    }

    /// A SLURM client command (sbatch, squeue, scancel, scontrol) aimed at this cluster.
    pub fn cmd(&self, prog: &str) -> Command {
        let mut c = Command::new(prog);
        c.env("SLURM_CONF", &self.conf);
        c
    }

    /// `squeue` lines (`<id> <state>`) of a job's tasks.
    pub fn queue(&self, job: &str) -> Vec<String> {
        let out = self
            .cmd("squeue")
            .args(["-h", "-r", "-o", "%i %T"])
            .output()
            .expect("squeue");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.split('_').next() == Some(job) || l.split(' ').next() == Some(job))
            .map(String::from)
            .collect()
    }

    /// Runs a client command, panicking with its output when it fails.
    pub fn ok(&self, prog: &str, args: &[&str]) -> String {
        output(self.cmd(prog).args(args))
    }
}

impl Drop for Slurm {
    fn drop(&mut self) {
        // slurmd, then slurmctld, then munged; SIGTERM, by the pids this value started.
        for &pid in self.pids.iter().rev() {
            // SAFETY: signals a daemon this value started, by its pid.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        let t0 = Instant::now();
        for &pid in self.pids.iter().rev() {
            // SAFETY: signal 0 only checks whether the process still exists.
            while unsafe { libc::kill(pid, 0) } == 0 && t0.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}
