//! The portable build and the pip wheel, built by the real scripts with the real tools
//! (maturin and Zig from PyPI): the binary asks for glibc 2.17 at most and no
//! shared OpenSSL and runs; the wheel installs in a fresh venv, its Python module passes its
//! unit tests, and the exec-python example runs through `ludus.log` and reads back with
//! `ludus.load`; `submit --build-portable`, run by the portable binary against the suite's
//! SLURM through its sshd, uploads the portable build and runs the job to the end, while a
//! build asking for a newer glibc than the cluster's is refused before anything is submitted.
//!
//! The two scripts run the same compilation; the first test to start builds, the others wait
//! for it and find it done. They build with the `portable-test` profile (Cargo.toml: the
//! release build's target, linker, glibc and vendored OpenSSL, less optimisation), as
//! scripts/test.sh does; `LUDUS_PORTABLE_PROFILE=release` checks the release build instead.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use crate::support::{Dir, run};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The cargo profile the scripts build with.
fn profile() -> String {
    std::env::var("LUDUS_PORTABLE_PROFILE").unwrap_or_else(|_| "portable-test".into())
}

/// One build at a time: both scripts write the same wheel file.
static BUILD: Mutex<()> = Mutex::new(());

/// Runs one of the build scripts; its last stdout line is the path it built.
fn build(script: &str) -> PathBuf {
    let _one = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let mut cmd = Command::new("bash");
    cmd.arg(repo().join("scripts").join(script))
        .current_dir(repo());
    build_env(&mut cmd);
    let out = cmd.output().expect("bash starts");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(40).collect();
    assert!(
        out.status.success(),
        "{script} failed:\n{}",
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let path = PathBuf::from(stdout.lines().last().expect("a last line").trim());
    assert!(
        path.is_absolute() && path.is_file(),
        "{script} printed {path:?}"
    );
    path
}

/// The environment the build scripts run in: the user's, as when run by hand (or by
/// scripts/test.sh), with the profile under test.
fn build_env(cmd: &mut Command) {
    cmd.env("LUDUS_PORTABLE_PROFILE", profile());
    // What cargo sets for this test process is not the user's environment: the nested build
    // must see the same one as the script run by hand did.
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k == "CARGO"
            || [
                "CARGO_PKG_",
                "CARGO_MANIFEST_",
                "CARGO_CRATE_",
                "CARGO_BIN_",
                "CARGO_PRIMARY_",
            ]
            .iter()
            .any(|p| k.starts_with(p))
            || k == "CARGO_TARGET_TMPDIR"
        {
            cmd.env_remove(&*k);
        }
    }
}

/// The highest `GLIBC_x.y[.z]` version that `bin`'s dynamic symbols ask for (`objdump -T`).
fn highest_glibc(bin: &Path) -> Vec<u32> {
    let (code, out, err) = run(Command::new("objdump").arg("-T").arg(bin));
    assert_eq!(code, 0, "objdump -T {}: {err}", bin.display());
    out.split("GLIBC_")
        .skip(1)
        .filter_map(|rest| {
            let v: String = rest
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            let parts: Vec<u32> = v
                .trim_end_matches('.')
                .split('.')
                .map(|p| p.parse().ok())
                .collect::<Option<_>>()?;
            (!parts.is_empty()).then_some(parts)
        })
        .max()
        .expect("the binary asks for some glibc symbols")
}

/// The shared libraries `ldd` resolves for `bin`.
fn ldd(bin: &Path) -> String {
    let (code, out, err) = run(Command::new("ldd").arg(bin));
    assert_eq!(code, 0, "ldd {}: {err}", bin.display());
    assert!(out.contains("libc.so.6"), "{out}");
    out
}

fn links_openssl(ldd_out: &str) -> bool {
    ldd_out.contains("libssl") || ldd_out.contains("libcrypto")
}

#[test]
fn portable_binary_needs_glibc_2_17_at_most_no_shared_openssl_and_runs() {
    // The checks can fail: the ordinary build links the system's libssl and asks for a newer
    // glibc than 2.17.
    let plain = Path::new(env!("CARGO_BIN_EXE_ludus"));
    assert!(links_openssl(&ldd(plain)), "the plain build links libssl");
    assert!(highest_glibc(plain) > vec![2, 17]);

    let bin = build("build-portable.sh");
    assert!(
        bin.ends_with(format!("x86_64-unknown-linux-gnu/{}/ludus", profile())),
        "{}",
        bin.display()
    );
    let glibc = highest_glibc(&bin);
    assert!(glibc <= vec![2, 17], "needs glibc {glibc:?}");
    let libs = ldd(&bin);
    assert!(!links_openssl(&libs), "{libs}");
    let (code, out, _) = run(Command::new("objdump").arg("-p").arg(&bin));
    assert_eq!(code, 0);
    let needed: Vec<&str> = out.lines().filter(|l| l.contains("NEEDED")).collect();
    assert!(
        needed
            .iter()
            .all(|l| !l.contains("libssl") && !l.contains("libcrypto")),
        "{needed:?}"
    );
    let (code, out, err) = run(Command::new(&bin).arg("--version"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), format!("ludus {}", env!("CARGO_PKG_VERSION")));
}

/// A program that logs through the module in the ways a real one does: a new metric in a
/// later row, a string that needs quoting, a missing value, a boolean.
const PROBE: &str = r#"
import ludus
p = ludus.params()
ludus.log(step=1, loss=p["lr"], note="a,b")
ludus.log(step=2, loss=p["lr"] / 2, acc=0.5, ok=True)
ludus.log(step=3, acc=0.75)
(ludus.run_dir() / "seed").write_text(str(ludus.seed()))
"#;

#[test]
fn wheel_installs_in_a_fresh_venv_and_the_example_runs_through_the_module() {
    let wheel = build("build-wheel.sh");
    let name = wheel.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with(&format!("ludus-{}-py3-none-", env!("CARGO_PKG_VERSION")))
            && name.contains("manylinux_2_17_x86_64")
            && name.ends_with(".whl"),
        "{name}"
    );

    let d = Dir::new();
    let venv = d.join("venv");
    let (code, _, err) = run(Command::new("python3").arg("-m").arg("venv").arg(&venv));
    assert_eq!(code, 0, "python3 -m venv: {err}");
    let bin = venv.join("bin");
    let (code, _, err) = run(Command::new(bin.join("pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .arg(&wheel)
        .arg("pandas"));
    assert_eq!(code, 0, "pip install: {err}");

    // The executable the wheel put on the venv's PATH is the portable one.
    let ludus = bin.join("ludus");
    let (code, out, err) = run(Command::new(&ludus).arg("--version"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), format!("ludus {}", env!("CARGO_PKG_VERSION")));
    assert!(highest_glibc(&ludus) <= vec![2, 17]);
    assert!(!links_openssl(&ldd(&ludus)));

    // The module comes from the wheel, and passes its unit tests there.
    let python = bin.join("python");
    let (code, out, err) = run(Command::new(&python)
        .args(["-c", "import ludus; print(ludus.__file__)"])
        .current_dir(d.path()));
    assert_eq!(code, 0, "{err}");
    assert!(out.trim().starts_with(&*venv.to_string_lossy()), "{out}");
    let (code, _, err) = run(Command::new(&python)
        .args(["-m", "unittest", "discover", "-v", "-s"])
        .arg(repo().join("python/tests"))
        .current_dir(d.path()));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("\nOK"), "{err}");

    // The example sweep, with the venv's python3 (which has the module) first on PATH.
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let spec = repo().join("examples/exec-python/sweep.toml");
    let (code, _, err) = run(Command::new(&ludus)
        .arg("plan")
        .arg(&spec)
        .args(["--out", "out"])
        .current_dir(d.path()));
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(Command::new(&ludus)
        .args(["run-instances", "out", "--progress", "none"])
        .env("PATH", &path)
        .current_dir(d.path()));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("18 done"), "{err}");

    // What ludus kept, read directly: id -> (params, rows of the log).
    let mut runs: BTreeMap<String, (serde_json::Value, u64, Vec<Vec<String>>)> = BTreeMap::new();
    for e in std::fs::read_dir(d.join("out/logs")).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(id) = name.strip_suffix(".json") else {
            continue;
        };
        let st: serde_json::Value =
            serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap();
        assert_eq!(st["status"], "done", "{st}");
        let out = std::fs::read_to_string(d.join(format!("out/logs/{id}.out"))).unwrap();
        assert!(out.contains("metrics via the ludus module"), "{id}: {out}");
        let csv = std::fs::read_to_string(d.join(format!("out/logs/{id}.csv"))).unwrap();
        let mut lines = csv.lines();
        assert_eq!(lines.next(), Some("epoch,loss,grad_norm"));
        let rows: Vec<Vec<String>> = lines
            .map(|l| l.split(',').map(str::to_string).collect())
            .collect();
        assert_eq!(rows.len(), 20, "{id}: one row per epoch");
        let exec = &st["instance"]["kind"]["exec"];
        let seed = st["instance"]["seed"].as_u64().unwrap();
        runs.insert(id.to_string(), (exec["params"].clone(), seed, rows));
    }
    assert_eq!(runs.len(), 18);

    // ludus.load: one DataFrame, the parameters as columns, the same numbers.
    let (code, out, err) = run(Command::new(&python)
        .args([
            "-c",
            "import ludus, sys; df = ludus.load(sys.argv[1]); \
             print(list(df.columns)); print(df.to_json(orient='records', double_precision=15))",
            "out",
        ])
        .current_dir(d.path()));
    assert_eq!(code, 0, "{err}");
    let mut lines = out.lines();
    assert_eq!(
        lines.next().unwrap(),
        "['id', 'experiment', 'seed', 'status', 'batch', 'epochs', 'lr', 'epoch', 'loss', 'grad_norm']"
    );
    let records: Vec<serde_json::Value> = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(records.len(), 18 * 20);
    for r in &records {
        let (params, seed, rows) = &runs[r["id"].as_str().unwrap()];
        assert_eq!(r["experiment"], "train");
        assert_eq!(r["status"], "done");
        assert_eq!(r["seed"].as_u64(), Some(*seed));
        for k in ["batch", "epochs", "lr"] {
            assert_eq!(r[k].as_f64(), params[k].as_f64(), "{k}: {r}");
        }
        let epoch = r["epoch"].as_u64().unwrap() as usize;
        let row = &rows[epoch - 1];
        assert_eq!(row[0], epoch.to_string());
        let loss: f64 = row[1].parse().unwrap();
        let got = r["loss"].as_f64().unwrap();
        assert!(
            (got - loss).abs() <= 1e-12 * loss.abs().max(1.0),
            "{r}: {loss}"
        );
    }

    // The README's example query: one mean final loss per configuration.
    let (code, out, err) = run(Command::new(&python)
        .args([
            "-c",
            "import ludus; df = ludus.load('out'); \
             print(len(df[df.epoch == 20].groupby(['lr', 'batch']).loss.mean()))",
        ])
        .current_dir(d.path()));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "6");

    // A program that uses the rest of the module: what ludus makes of its rows.
    d.write("probe/p.py", PROBE);
    d.write(
        "probe.toml",
        "seeds = [5]\n[[experiment]]\nname = \"probe\"\ncommand = [\"python3\", \"p.py\"]\nworkdir = \"probe\"\ngrid = { lr = [0.5] }\n",
    );
    let (code, _, err) = run(Command::new(&ludus)
        .args(["plan", "probe.toml", "--out", "px"])
        .current_dir(d.path()));
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(Command::new(&ludus)
        .args(["run-instances", "px", "--progress", "none"])
        .env("PATH", &path)
        .current_dir(d.path()));
    assert_eq!(code, 0, "{err}");
    let csv_path = std::fs::read_dir(d.join("px/logs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "csv"))
        .expect("a log");
    let id = csv_path.file_stem().unwrap().to_string_lossy().into_owned();
    assert_eq!(
        std::fs::read_to_string(&csv_path).unwrap(),
        "step,loss,note,acc,ok\n1,0.5,\"a,b\",,\n2,0.25,,0.5,1\n3,,,0.75,\n"
    );
    assert_eq!(
        std::fs::read_to_string(d.join(format!("px/runs/{id}/seed"))).unwrap(),
        "5"
    );
}

/// `bin` (the portable build: 13 MB to upload, not the debug build's 120 MB) made to ask for
/// glibc 2.99, exactly as a build made on a newer system than the cluster's asks there for a
/// glibc the cluster lacks: its highest `GLIBC_2.xx` version requirement renamed (same
/// length). The loader refuses it as it refuses a real one: "version `GLIBC_2.99' not found".
fn needs_glibc_2_99(bin: &Path, dir: &Path) -> PathBuf {
    let top = highest_glibc(bin);
    let from = format!(
        "GLIBC_{}",
        top.iter().map(u32::to_string).collect::<Vec<_>>().join(".")
    );
    assert_eq!(from.len(), "GLIBC_2.99".len(), "{from}");
    let mut bytes = std::fs::read(bin).expect("ludus");
    let mut n = 0;
    let mut at = 0;
    while let Some(i) = bytes[at..]
        .windows(from.len())
        .position(|w| w == from.as_bytes())
    {
        bytes[at + i..at + i + from.len()].copy_from_slice(b"GLIBC_2.99");
        at += i + from.len();
        n += 1;
    }
    assert!(n > 0);
    let p = dir.join("ludus-glibc-2.99");
    std::fs::write(&p, bytes).expect("write");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let (code, _, err) = run(Command::new(&p).arg("--version"));
    assert_ne!(code, 0);
    assert!(err.contains("GLIBC_2.99' not found"), "{err}");
    p
}

/// A path from the user's environment, or its usual place under the user's home.
fn home_path(var: &str, under_home: &str) -> PathBuf {
    std::env::var_os(var).map_or_else(
        || PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(under_home),
        PathBuf::from,
    )
}

#[test]
fn submit_through_the_portable_build_runs_on_the_real_cluster_and_a_too_new_build_is_refused() {
    use crate::support::slurm::Slurm;
    use crate::support::sshd::{Sshd, SshdOptions};

    let portable = build("build-portable.sh");
    let slurm = Slurm::shared();
    let sshd = Sshd::start_with(SshdOptions {
        env: vec![("SLURM_CONF".into(), slurm.conf.display().to_string())],
        ..Default::default()
    });
    let local = sshd.dir.path().join("local");
    std::fs::create_dir_all(&local).expect("mkdir");
    std::fs::write(
        local.join("sweep.toml"),
        "seeds = 2\nsteps = 2000\n[[agent]]\nname = \"q_learning\"\n\
         [[mdp]]\nfamily = \"river_swim\"\nparams = { size = 5 }\n",
    )
    .expect("spec");
    // Everything on this side runs the portable build too: its SSH client is the vendored
    // OpenSSL's.
    let ludus = |args: &[&str]| {
        let mut c = Command::new(&portable);
        c.args(args)
            .current_dir(&local)
            .env("HOME", &sshd.home)
            .env_remove("SSH_AUTH_SOCK");
        c
    };
    let (code, _, err) = run(&mut ludus(&["plan", "sweep.toml", "--out", "sweep"]));
    assert_eq!(code, 0, "{err}");
    let dir = local.join("sweep");
    let remote = sshd.remote_dir("sweep");
    let target = sshd.target(&remote);
    let dir_s = dir.to_str().expect("utf-8");

    // A build for a newer glibc than the cluster's: refused before anything is submitted,
    // naming the host and what the loader said, and pointing to the portable build.
    let too_new = needs_glibc_2_99(&portable, sshd.dir.path());
    let (code, out, err) = run(&mut ludus(&[
        "submit",
        dir_s,
        &target,
        "--ludus-binary",
        too_new.to_str().expect("utf-8"),
    ]));
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("127.0.0.1"), "{err}");
    assert!(err.contains("does not run there"), "{err}");
    assert!(err.contains("GLIBC_2.99' not found"), "{err}");
    assert!(err.contains("--build-portable"), "{err}");
    assert!(!dir.join(".ludus/submissions.json").exists());
    assert!(!remote.join(".ludus/jobs").exists());

    // --build-portable with the real script: built (already, so only checked), uploaded, run
    // on the cluster by `--version`, the array job and `watch`'s remote `status`.
    let (code, out, err) = {
        let _one = BUILD.lock().unwrap_or_else(|e| e.into_inner());
        let mut c = ludus(&[
            "submit",
            dir_s,
            &target,
            "--build-portable",
            "--wait",
            "--interval",
            "0.5",
        ]);
        build_env(&mut c);
        // The client's HOME is the test's: the build keeps the user's tools, toolchain and
        // caches (cargo-zigbuild's linker wrappers live in the cache folder; another path
        // there is another linker to cargo, which then compiles everything again).
        c.env(
            "LUDUS_BUILD_PORTABLE",
            repo().join("scripts/build-portable.sh"),
        )
        .env(
            "LUDUS_BUILD_TOOLS",
            home_path("LUDUS_BUILD_TOOLS", ".cache/ludus-build/tools"),
        )
        .env("XDG_CACHE_HOME", home_path("XDG_CACHE_HOME", ".cache"))
        .env("CARGO_HOME", home_path("CARGO_HOME", ".cargo"))
        .env("RUSTUP_HOME", home_path("RUSTUP_HOME", ".rustup"));
        run(&mut c)
    };
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(err.contains("building a portable ludus"), "{err}");
    assert_eq!(
        std::fs::read(remote.join(".ludus/bin/ludus")).expect("uploaded"),
        std::fs::read(&portable).expect("portable")
    );
    let (code, out, err) = run(&mut ludus(&["status", "--json", dir_s]));
    assert_eq!(code, 0, "{err}");
    let st: serde_json::Value = serde_json::from_str(&out).expect("status json");
    assert_eq!(st["done"].as_u64(), Some(2), "{st}");
    let record: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join(".ludus/submissions.json")).expect("record"),
    )
    .expect("json");
    assert_eq!(
        record["submissions"][0]["options"]["ludus_binary"].as_str(),
        portable.to_str()
    );
}
