//! Hostile and careless inputs (spec names, forged instance files, sweep sizes, YAML aliases,
//! huge specs, durations, FIFOs, colliding parameter names, metrics files): each one gets exit
//! code 2 and a one-line error naming the problem, within a second and in bounded memory. Every
//! case runs the real binary on real files; peak memory is the child's own (`wait4`).

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Dir, run};

/// What a run of the binary did.
struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
    wall: Duration,
    /// User plus system CPU time of the child.
    cpu: Duration,
    /// Peak resident memory of the child, KiB.
    peak_kib: i64,
}

/// Runs `cmd` with its output in files (never a pipe that could fill up), an address-space cap
/// of 8 GiB (so a memory bomb fails fast instead of taking the machine) and a 60 s deadline
/// (so a hang fails the test instead of hanging it), and reads its peak memory.
fn ran(d: &Dir, cmd: &mut Command) -> Ran {
    let out = d.join(".out");
    let err = d.join(".err");
    cmd.stdin(Stdio::null())
        .stdout(File::create(&out).unwrap())
        .stderr(File::create(&err).unwrap());
    // SAFETY: only an async-signal-safe setrlimit between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 8 << 30,
                rlim_max: 8 << 30,
            };
            libc::setrlimit(libc::RLIMIT_AS, &lim);
            Ok(())
        });
    }
    let start = Instant::now();
    #[allow(clippy::zombie_processes, reason = "reaped by wait4 below")]
    let child = cmd.spawn().expect("ludus starts");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value to be filled in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: waiting for our own child, with valid pointers.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break;
        }
        if start.elapsed() > Duration::from_secs(60) {
            // SAFETY: our own child, not yet reaped.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::wait4(pid, &mut status, 0, &mut usage);
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let wall = start.elapsed();
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -libc::WTERMSIG(status)
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Ran {
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        code,
        stdout: std::fs::read_to_string(&out).unwrap_or_default(),
        stderr: String::from_utf8_lossy(&std::fs::read(&err).unwrap_or_default()).into_owned(),
        wall,
        peak_kib: usage.ru_maxrss,
    }
}

/// Asserts exit 2, a one-line error containing every `needle`, under a second and under
/// `max_mib` of peak memory. The second is CPU time (user + system): the test machine's cores
/// are shared with compilers, so wall time only bounds hangs (10 s).
#[track_caller]
fn refused(r: &Ran, needles: &[&str], max_mib: i64) {
    let what = format!(
        "exit {}, {:?} wall, {:?} CPU, {} MiB peak\nstdout: {}\nstderr: {}",
        r.code,
        r.wall,
        r.cpu,
        r.peak_kib / 1024,
        r.stdout.chars().take(2000).collect::<String>(),
        r.stderr.chars().take(2000).collect::<String>()
    );
    assert_eq!(r.code, 2, "{what}");
    let errors: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "one error line: {what}");
    assert_eq!(
        r.stderr.trim_end().lines().last(),
        Some(errors[0]),
        "{what}"
    );
    assert!(errors[0].len() < 1000, "a short error: {what}");
    for n in needles {
        assert!(errors[0].contains(n), "expected `{n}`: {what}");
    }
    assert!(r.cpu < Duration::from_secs(1), "within a second: {what}");
    assert!(r.wall < Duration::from_secs(10), "no hang: {what}");
    assert!(r.peak_kib < max_mib * 1024, "under {max_mib} MiB: {what}");
}

fn plan(d: &Dir, spec: &str, extra: &[&str]) -> Ran {
    ran(d, d.ludus().arg("plan").arg(spec).args(extra))
}

fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

const TAIL: &str = "steps = 100\n[[agent]]\nname = \"random\"\n[[mdp]]\nfamily = \"river_swim\"\n";

// ---- 1. a spec's name is a plain name ------------------------------------------------------

#[test]
fn spec_names_that_are_paths_are_refused() {
    let d = Dir::new();
    std::fs::create_dir(d.join("work")).unwrap();
    let escape = format!("ludus-escape-{}", std::process::id());
    for name in [
        format!("../../{escape}"),
        format!("/tmp/{escape}"),
        "a/b".to_string(),
        "..".to_string(),
        "".to_string(),
        "a\\nb".to_string(),
        "tab\\there".to_string(),
    ] {
        let text = format!("name = \"{name}\"\nseeds = 1\n{TAIL}");
        std::fs::write(d.join("work/s.toml"), text).unwrap();
        let r = ran(
            &d,
            d.ludus()
                .current_dir(d.join("work"))
                .args(["plan", "s.toml"]),
        );
        refused(&r, &["`name`"], 200);
        assert!(!d.join(&escape).exists() && !Path::new("/tmp").join(&escape).exists());
        assert!(
            !d.join("work/instances").exists(),
            "nothing planned for {name:?}"
        );
    }
    // A file whose stem is `..` (and no `name` key) is refused too.
    d.write("work/...toml", &format!("seeds = 1\n{TAIL}"));
    let r = ran(
        &d,
        d.ludus()
            .current_dir(d.join("work"))
            .args(["plan", "...toml"]),
    );
    refused(&r, &["`name`", "stem"], 200);
    // A plain name still plans under instances/.
    d.write(
        "work/ok.toml",
        &format!("name = \"fine name\"\nseeds = 1\n{TAIL}"),
    );
    let (code, _, err) = run(d
        .ludus()
        .current_dir(d.join("work"))
        .args(["plan", "ok.toml"]));
    assert_eq!(code, 0, "{err}");
    assert!(d.join("work/instances/fine name/manifest.json").is_file());
}

// ---- 2. forged instance files --------------------------------------------------------------

#[test]
fn forged_instance_with_a_huge_length_is_refused_without_allocating() {
    let d = Dir::new();
    d.write("s.toml", &format!("name = \"f\"\nseeds = 1\n{TAIL}"));
    let (code, _, err) = run(d.ludus().args(["plan", "s.toml", "--out", "ex"]));
    assert_eq!(code, 0, "{err}");
    let bin = std::fs::read_dir(d.join("ex/instances"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    // A valid checksum around a payload whose first string claims 1 TiB.
    let mut payload = vec![253u8];
    payload.extend_from_slice(&(1u64 << 40).to_le_bytes());
    std::fs::write(&bin, ludus::store::codec::frame(&payload)).unwrap();
    let r = ran(&d, d.ludus().arg("show").arg(&bin));
    refused(
        &r,
        &[bin.file_name().unwrap().to_str().unwrap(), "corrupt"],
        100,
    );
    // A header whose length field says 1 TiB, on a short file.
    let mut b = ludus::store::codec::frame(b"short");
    b[12..20].copy_from_slice(&(1u64 << 40).to_le_bytes());
    std::fs::write(&bin, b).unwrap();
    let r = ran(&d, d.ludus().arg("show").arg(&bin));
    refused(&r, &["truncated"], 100);
}

// ---- 3. sweep sizes ------------------------------------------------------------------------

#[test]
fn sweep_sizes_are_counted_and_capped_before_anything_is_built() {
    let d = Dir::new();
    let thousand: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
    let thousand = thousand.join(", ");
    let cases = [
        // seeds = 1e12
        (
            "name = \"b\"\nseeds = 1000000000000\n".to_string() + TAIL,
            vec!["`seeds`", "1000000000000", "10000000"],
        ),
        // sample = { n = 1e12 }
        (
            "name = \"b\"\nseeds = 1\nsteps = 10\n[[agent]]\nname = \"q_learning\"\n\
             sample = { n = 1000000000000, p = { uniform = [0, 1] } }\n\
             [[mdp]]\nfamily = \"river_swim\"\n"
                .to_string(),
            vec!["sample.n", "1000000000000", "10000000"],
        ),
        // a grid of 4 keys x 1,000 values: 1e12 configurations
        (
            format!(
                "name = \"b\"\nseeds = 1\nsteps = 10\n[[agent]]\nname = \"q_learning\"\n\
                 [agent.grid]\na = [{thousand}]\nb = [{thousand}]\nc = [{thousand}]\nd = [{thousand}]\n\
                 [[mdp]]\nfamily = \"river_swim\"\n"
            ),
            vec!["`agent[0]`", "1000000000000 configurations", "10000000"],
        ),
        // each table small, the product of agents x MDPs x seeds large: 3,000 x 3,000 x 3
        (
            format!(
                "name = \"b\"\nseeds = 3\nsteps = 10\n[[agent]]\nname = \"q_learning\"\n\
                 grid = {{ a = [{thousand}], b = [1, 2, 3] }}\n\
                 [[mdp]]\nfamily = \"river_swim\"\ngrid = {{ a = [{thousand}], b = [1, 2, 3] }}\n"
            ),
            vec!["27000000 instances", "10000000"],
        ),
    ];
    for (text, needles) in &cases {
        d.write("b.toml", text);
        for extra in [&[][..], &["--dry-run"][..]] {
            let r = plan(&d, "b.toml", extra);
            refused(&r, needles, 300);
        }
    }
    assert!(!d.join("instances").exists());
}

#[test]
fn a_grid_of_four_keys_by_100000_values_is_refused() {
    let d = Dir::new();
    let values: Vec<String> = (0..100_000).map(|i| i.to_string()).collect();
    let values = values.join(",");
    let text = format!(
        "name = \"g\"\nseeds = 1\nsteps = 10\n[[agent]]\nname = \"q_learning\"\n[agent.grid]\n\
         a = [{values}]\nb = [{values}]\nc = [{values}]\nd = [{values}]\n\
         [[mdp]]\nfamily = \"river_swim\"\n"
    );
    d.write("g.toml", &text);
    for extra in [&[][..], &["--dry-run"][..]] {
        let r = plan(&d, "g.toml", extra);
        refused(&r, &["more than 2^64 configurations", "10000000"], 400);
    }
}

// ---- 4. YAML aliases and big specs -------------------------------------------------------

#[test]
fn a_yaml_alias_bomb_is_refused() {
    let d = Dir::new();
    // Ten levels of ten aliases each: 1e10 values from about a kilobyte.
    let mut text =
        String::from("name: bomb\nseeds: 1\nsteps: 10\nl0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let refs = vec![format!("*l{}", i - 1); 10].join(", ");
        text.push_str(&format!("l{i}: &l{i} [{refs}]\n"));
    }
    assert!(text.len() < 1300, "{}", text.len());
    d.write("bomb.yaml", &text);
    for extra in [&[][..], &["--dry-run"][..]] {
        refused(
            &plan(&d, "bomb.yaml", extra),
            &["bomb.yaml", "aliases expand"],
            100,
        );
    }
    // The same bomb as an agents file.
    d.write("s.toml", &format!("name = \"s\"\nseeds = 1\n{TAIL}"));
    refused(
        &plan(&d, "s.toml", &["--agents", "bomb.yaml"]),
        &["bomb.yaml", "aliases expand"],
        100,
    );
}

/// A spec of about 10 MB whose sweep holds one long list parses and plans in memory proportional
/// to the file: at most 20 times its size for the whole `plan --dry-run` process (debug build).
/// Before the TOML reader was built on `toml_parser`'s streaming lexer, `toml_edit`'s document
/// (spans, decoration and original text per value) took 431 MB for this 10.6 MB TOML file.
#[test]
fn a_ten_megabyte_spec_of_long_lists_plans_in_memory_proportional_to_it() {
    use std::io::Write;
    let d = Dir::new();
    // Written piece by piece: the test process stays small, as the children's peak memory
    // counts what they shared with it at the fork.
    let write =
        |name: &str, head: &str, items: &mut dyn Iterator<Item = String>, sep: &str, tail: &str| {
            let mut f = std::io::BufWriter::new(File::create(d.join(name)).unwrap());
            f.write_all(head.as_bytes()).unwrap();
            for (i, x) in items.enumerate() {
                if i > 0 {
                    f.write_all(sep.as_bytes()).unwrap();
                }
                f.write_all(x.as_bytes()).unwrap();
            }
            f.write_all(tail.as_bytes()).unwrap();
            f.into_inner().unwrap().sync_all().unwrap();
            std::fs::metadata(d.join(name)).unwrap().len() as usize
        };
    let ints = || (0..1_300_000).map(|i: u32| i.to_string());
    let floats = || (0..1_000_000).map(|i: u32| format!("0.{i:06}1"));
    let head = "name = \"big\"\nseeds = 1\n[[experiment]]\nname = \"e\"\ncommand = [\"true\"]\n";
    let yaml_head = "name: big\nseeds: 1\nexperiment:\n  - name: e\n    command: [\"true\"]\n";
    let cases = [
        (
            "ints.toml",
            write(
                "ints.toml",
                &format!("{head}params = {{ xs = ["),
                &mut ints(),
                ", ",
                "] }\n",
            ),
        ),
        (
            "floats.toml",
            write(
                "floats.toml",
                &format!("{head}params = {{ xs = [\n"),
                &mut floats(),
                ",\n",
                "\n] }\n",
            ),
        ),
        (
            "ints.yaml",
            write(
                "ints.yaml",
                &format!("{yaml_head}    params: {{ xs: ["),
                &mut ints(),
                ", ",
                "] }\n",
            ),
        ),
    ];
    for (name, len) in cases {
        let r = plan(&d, name, &["--dry-run"]);
        let what = format!(
            "{name}: exit {}, {} MiB peak for {len} bytes\nstderr: {}",
            r.code,
            r.peak_kib / 1024,
            r.stderr.chars().take(2000).collect::<String>()
        );
        #[allow(
            clippy::print_stderr,
            reason = "the measurement, shown with --nocapture"
        )]
        {
            eprintln!("{what}");
        }
        assert_eq!(r.code, 0, "{what}");
        assert!(r.stdout.contains("1 instances"), "{what}\n{}", r.stdout);
        assert!(len > 9_000_000, "{what}");
        assert!(
            (r.peak_kib as usize) * 1024 < 20 * len,
            "peak memory at most 20x the file: {what}"
        );
    }
    // A long list with an error names its line, at the end of the file.
    write(
        "bad.toml",
        &format!("{head}params = {{ xs = [\n"),
        &mut floats(),
        ",\n",
        ",\n1e999] }\n",
    );
    let r = plan(&d, "bad.toml", &["--dry-run"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("bad.toml:1000007") && r.stderr.contains("overflow"),
        "{}",
        r.stderr
    );
}

// ---- 5. durations --------------------------------------------------------------------------

#[test]
fn durations_do_not_wrap_and_zero_is_refused() {
    let d = Dir::new();
    for (value, needles) in [
        (
            "18446744073709552",
            vec!["`time_limit`", "above the maximum"],
        ),
        ("\"18446744073709552s\"", vec!["`time_limit`"]),
        ("\"600000000h\"", vec!["`time_limit`", "above the maximum"]),
        ("1e300", vec!["`time_limit`", "above the maximum"]),
        ("\"0s\"", vec!["`time_limit`", "leave the key out"]),
        ("0", vec!["`time_limit`", "leave the key out"]),
        ("-5", vec!["`time_limit`", "negative"]),
        ("0.0001", vec!["`time_limit`", "1 ms"]),
    ] {
        d.write(
            "t.toml",
            &format!("name = \"t\"\nseeds = 1\ntime_limit = {value}\n{TAIL}"),
        );
        refused(&plan(&d, "t.toml", &["--dry-run"]), &needles, 200);
    }
    d.write(
        "t.toml",
        &format!("name = \"t\"\nseeds = 1\ntime_limit = \"none\"\n{TAIL}"),
    );
    let (code, _, err) = run(d.ludus().args(["plan", "t.toml", "--dry-run"]));
    assert_eq!(code, 0, "{err}");
}

// ---- 6. FIFOs where a file is expected -----------------------------------------------------

#[test]
fn fifos_are_refused_where_a_file_is_expected() {
    let d = Dir::new();
    // The spec itself.
    mkfifo(&d.join("fifo.toml"));
    refused(&plan(&d, "fifo.toml", &[]), &["fifo.toml", "FIFO"], 200);
    // The agents file.
    d.write("s.toml", &format!("name = \"s\"\nseeds = 1\n{TAIL}"));
    mkfifo(&d.join("agents.toml"));
    refused(
        &plan(&d, "s.toml", &["--agents", "agents.toml", "--out", "ex"]),
        &["agents.toml", "FIFO"],
        200,
    );
    // A custom MDP's file.
    mkfifo(&d.join("chain.toml"));
    d.write(
        "c.toml",
        "name = \"c\"\nseeds = 1\nsteps = 10\n[[agent]]\nname = \"random\"\n\
         [[mdp]]\nfamily = \"custom\"\nparams = { file = \"chain.toml\" }\n",
    );
    refused(
        &plan(&d, "c.toml", &["--out", "cx"]),
        &["chain.toml", "FIFO"],
        200,
    );
    // An instance file `<id>.bin`.
    let (code, _, err) = run(d.ludus().args(["plan", "s.toml", "--out", "ex"]));
    assert_eq!(code, 0, "{err}");
    let bin = std::fs::read_dir(d.join("ex/instances"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::remove_file(&bin).unwrap();
    mkfifo(&bin);
    refused(&ran(&d, d.ludus().arg("show").arg(&bin)), &["FIFO"], 200);
    let r = ran(&d, d.ludus().args(["run-instances", "ex"]));
    assert!(
        r.wall < Duration::from_secs(5),
        "run-instances does not hang: {:?}",
        r.wall
    );
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("FIFO"), "{}", r.stderr);
    let r = ran(&d, d.ludus().args(["status", "ex"]));
    assert!(
        r.wall < Duration::from_secs(5),
        "status does not hang: {:?}",
        r.wall
    );
}

// ---- 8. names that collide -----------------------------------------------------------------

#[test]
fn parameters_passed_in_the_same_variable_are_refused() {
    let d = Dir::new();
    for params in [
        "params = { \"a-b\" = 1, a_b = 2 }",
        "params = { \"A.B\" = 1 }\ngrid = { \"a-b\" = [1, 2] }",
        "zip = { a_b = [1], \"a b\" = [2] }",
    ] {
        d.write(
            "e.toml",
            &format!(
                "name = \"e\"\nseeds = 1\n[[experiment]]\nname = \"p\"\ncommand = [\"true\"]\n{params}\n"
            ),
        );
        refused(
            &plan(&d, "e.toml", &["--dry-run"]),
            &["LUDUS_PARAM_A_B", "`experiment[0]`"],
            200,
        );
    }
}

// ---- 9. metrics files ----------------------------------------------------------------------

/// The status JSON of the only instance of experiment `name` in folder `x`.
fn exec_status(x: &Path, name: &str) -> serde_json::Value {
    let mut found = Vec::new();
    for e in std::fs::read_dir(x.join("logs")).unwrap().flatten() {
        let f = e.file_name().to_string_lossy().into_owned();
        if f.starts_with('.') || !f.ends_with(".json") {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap();
        if v["instance"]["kind"]["exec"]["name"] == name {
            found.push(v);
        }
    }
    assert_eq!(found.len(), 1, "{name}: {found:?}");
    found.pop().unwrap()
}

#[test]
fn metrics_with_a_changed_header_text_in_numbers_or_a_huge_line_are_named_errors() {
    let d = Dir::new();
    let m = "\"$LUDUS_METRICS\"";
    d.write(
        "restart.sh",
        &format!("printf 'epoch,loss\\n1,0.5\\nepoch,acc\\n1,0.9\\n' > {m}\n"),
    );
    d.write(
        "again.sh",
        &format!("printf 'epoch,loss\\n1,0.5\\nepoch,loss\\n2,0.4\\n' > {m}\n"),
    );
    d.write(
        "text.sh",
        &format!("printf 'epoch,loss\\n1,0.5\\n2,lots\\n' > {m}\n"),
    );
    d.write(
        "json.sh",
        &format!("printf '{{\"loss\": 1}}\\n{{\"loss\": \"x\"}}\\n' > {m}\n"),
    );
    // A 100 MB line of a single field where the header has two.
    d.write(
        "huge.sh",
        &format!("printf 'a,b\\n1,2\\n' > {m}\nhead -c 100000000 /dev/zero | tr '\\0' 'x' >> {m}\necho >> {m}\n"),
    );
    d.write(
        "s.toml",
        "seeds = 1\n\
         [[experiment]]\nname = \"restart\"\ncommand = [\"sh\", \"restart.sh\"]\n\
         [[experiment]]\nname = \"again\"\ncommand = [\"sh\", \"again.sh\"]\n\
         [[experiment]]\nname = \"text\"\ncommand = [\"sh\", \"text.sh\"]\n\
         [[experiment]]\nname = \"json\"\ncommand = [\"sh\", \"json.sh\"]\n\
         [[experiment]]\nname = \"huge\"\ncommand = [\"sh\", \"huge.sh\"]\n",
    );
    let (code, _, err) = run(d.ludus().args(["plan", "s.toml", "--out", "x"]));
    assert_eq!(code, 0, "{err}");
    let r = ran(
        &d,
        d.ludus()
            .args(["run-instances", "x", "--progress", "plain"]),
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.len() < 20_000,
        "the terminal gets no huge line: {} bytes",
        r.stderr.len()
    );
    let x = d.join("x");
    for (name, needles) in [
        ("restart", vec!["line 3", "column `epoch`", "not a number"]),
        ("again", vec!["line 3", "second header line"]),
        (
            "text",
            vec!["line 3", "column `loss`", "`lots` is not a number"],
        ),
        (
            "json",
            vec!["line 2", "column `loss`", "`x` is not a number"],
        ),
        (
            "huge",
            vec![
                "line 3",
                "1 fields where the header has 2",
                "(100000000 bytes)",
            ],
        ),
    ] {
        let st = exec_status(&x, name);
        assert_eq!(st["status"], "error", "{name}: {st}");
        let msg = st["message"].as_str().unwrap();
        assert!(msg.contains("metrics"), "{name}: {msg}");
        for n in needles {
            assert!(msg.contains(n), "{name}: expected `{n}` in {msg}");
        }
        assert!(
            msg.len() < 600,
            "{name}: a short message ({} bytes)",
            msg.len()
        );
        assert!(!msg.contains('\n'), "{name}: one line: {msg}");
    }
    let status = std::fs::read_dir(x.join("logs"))
        .unwrap()
        .flatten()
        .map(|e| e.metadata().unwrap().len())
        .max()
        .unwrap();
    assert!(
        status < 100_000,
        "no file in logs/ holds the huge line: {status} bytes"
    );
}

// ---- 7. logs in bounded memory -------------------------------------------------------------

#[test]
fn a_long_run_logging_every_step_streams_its_log_to_disk() {
    let d = Dir::new();
    d.write(
        "s.toml",
        "name = \"long\"\nseeds = 1\nsteps = 100000000\nlog_every = 1\n\
         [[agent]]\nname = \"random\"\n[[mdp]]\nfamily = \"river_swim\"\nparams = { size = 3 }\n",
    );
    let (code, _, err) = run(d.ludus().args(["plan", "s.toml", "--out", "x"]));
    assert_eq!(code, 0, "{err}");
    let mut cmd = d.ludus();
    cmd.args(["run-instances", "x", "--progress", "none"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    #[allow(clippy::zombie_processes, reason = "reaped by wait4 below")]
    let child = cmd.spawn().unwrap();
    let pid = child.id() as libc::pid_t;
    // Let it log for a while, watching the temporary log grow, then interrupt it.
    let start = Instant::now();
    let logs = d.join("x/logs");
    let tmp_size = || -> u64 {
        std::fs::read_dir(&logs)
            .map(|r| {
                r.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
                    .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
                    .sum()
            })
            .unwrap_or(0)
    };
    while start.elapsed() < Duration::from_secs(8) && tmp_size() < 150 << 20 {
        std::thread::sleep(Duration::from_millis(100));
    }
    let streamed = tmp_size();
    let mut status = 0;
    // SAFETY: our own child, with valid pointers.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe {
        libc::kill(pid, libc::SIGINT);
        libc::wait4(pid, &mut status, 0, &mut usage);
    }
    let log = std::fs::read_dir(&logs)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(".csv"))
        .expect("the interrupted run committed its log");
    let size = log.metadata().unwrap().len();
    let peak = usage.ru_maxrss as u64 * 1024;
    #[allow(
        clippy::print_stderr,
        reason = "the measurement, shown with --nocapture"
    )]
    {
        eprintln!("log {size} bytes (streamed {streamed} while running), peak RSS {peak} bytes");
    }
    assert!(
        streamed > 20 << 20,
        "the rows reach the disk while it runs: {streamed} bytes"
    );
    assert!(size >= streamed, "{size} < {streamed}");
    assert!(
        peak < (40 << 20) + size / 4,
        "memory stays bounded: peak {peak} bytes for a {size}-byte log"
    );
    // Nothing temporary is left behind.
    assert_eq!(tmp_size(), 0);
}

#[test]
fn a_table_of_100000_keys_is_read_in_linear_time() {
    let d = Dir::new();
    let keys: Vec<String> = (0..100_000).map(|i| format!("k{i} = [1]")).collect();
    d.write(
        "k.toml",
        &format!(
            "name = \"k\"\nseeds = 1\n[[experiment]]\nname = \"p\"\ncommand = [\"true\"]\n\
             grid = {{ {} }}\n",
            keys.join(", ")
        ),
    );
    let r = plan(&d, "k.toml", &["--dry-run"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Quadratic key checks took more than ten minutes of CPU here (debug build).
    assert!(r.cpu < Duration::from_secs(10), "{:?} CPU", r.cpu);
}
