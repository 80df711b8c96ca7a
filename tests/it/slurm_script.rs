//! What reaches an sbatch script: a control character in any value (the remote folder,
//! `--partition`, `--time`, `--mem`, `--sbatch-arg`, `--remote-ludus`) is refused with the
//! option named, before anything is uploaded; legal values with spaces, quotes, `#` and `%`
//! reach a real SLURM (support/slurm.rs) as the user wrote them.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::slurm::Slurm;
use crate::support::sshd::Sshd;

fn plan(sshd: &Sshd, name: &str) -> PathBuf {
    let d = sshd.dir.path().join("local");
    std::fs::create_dir_all(&d).expect("mkdir");
    let spec = d.join(format!("{name}.toml"));
    std::fs::write(
        &spec,
        "seeds = 2\nsteps = 100\n[[agent]]\nname = \"q_learning\"\n\
         [[mdp]]\nfamily = \"river_swim\"\nparams = { size = 5 }\n",
    )
    .expect("spec");
    let out_dir = d.join(name);
    let out = sshd
        .ludus()
        .arg("plan")
        .arg(&spec)
        .arg("--out")
        .arg(&out_dir)
        .output()
        .expect("plan");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out_dir
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8")
}

#[test]
fn control_characters_are_refused_naming_the_option() {
    let sshd = Sshd::start();
    let dir = plan(&sshd, "ctl");
    let remote = sshd.remote_dir("ctl");
    let target = sshd.target(&remote);
    let evil = "short\n/bin/touch /tmp/ludus-owned";
    for (args, option) in [
        (vec!["--partition", evil], "--partition"),
        (vec!["--time", "10\n/bin/true"], "--time"),
        (vec!["--mem", "4G\r"], "--mem"),
        (
            vec!["--sbatch-arg", "--account=me\n/bin/true"],
            "--sbatch-arg",
        ),
        (vec!["--remote-ludus", "ludus\tx"], "--remote-ludus"),
    ] {
        for dry in [true, false] {
            let mut cmd = sshd.ludus();
            cmd.arg("submit").arg(&dir).arg(&target).args(&args);
            if dry {
                cmd.arg("--dry-run");
            }
            let out = cmd.output().expect("run");
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{option} accepted: {err}");
            assert!(
                err.contains(option) && err.contains("control character"),
                "{option}: {err}"
            );
            assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
            assert!(out.stdout.is_empty(), "a script was printed");
            assert!(!remote.exists(), "{option}: uploaded before refusing");
        }
    }
    // A newline in the remote folder itself.
    let bad = sshd.target(&sshd.remote_dir("a\nb"));
    let out = sshd
        .ludus()
        .arg("submit")
        .arg(&dir)
        .arg(&bad)
        .arg("--dry-run")
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("remote folder"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn spaces_quotes_hash_and_percent_reach_sbatch_intact() {
    let slurm = Slurm::shared();
    let sshd = Sshd::start();
    let dir = plan(&sshd, "odd");
    // A remote folder with a space and a `%`, and an sbatch argument with a quote and a `#`.
    let remote = sshd.dir.path().join("my runs").join("100%");
    std::fs::create_dir_all(remote.join(".ludus/slurm")).expect("slurm dir");
    let out = sshd
        .ludus()
        .arg("submit")
        .arg(&dir)
        .arg(sshd.target(&remote))
        .args([
            "--dry-run",
            "--tasks",
            "1",
            "--remote-ludus",
            "/bin/true",
            "--sbatch-arg",
            "--comment=it's #1",
        ])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let script = sshd.dir.path().join("job.sh");
    std::fs::write(&script, &out.stdout).expect("script");
    let submitted = slurm.ok("sbatch", &["--parsable", s(&script)]);
    let job = submitted.trim().split(';').next().expect("id").to_string();
    let shown = slurm.ok("scontrol", &["show", "job", &job]);
    assert!(shown.contains("Comment=it's #1"), "{shown}");
    let expected = remote.join(format!(".ludus/slurm/1-{job}_1.out"));
    let t0 = Instant::now();
    while !slurm.queue(&job).is_empty() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "job {job} never ended"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(expected.exists(), "no output at {}", expected.display());
}
