//! The sbatch script of a submission: a job array whose tasks each run `ludus run-instances` on
//! their share of a list of pending ids, or one MPI job over the whole list. Pure text, so it
//! can be printed by `--dry-run` and pinned by tests.
//!
//! Every value that lands in the script is checked first: a control character (a newline above
//! all, which would start a new shell line) is refused with the option it came from. What is
//! legal is quoted for the reader of each line: `#SBATCH` lines are not read by a shell but by
//! sbatch's own tokenizer, which splits on white space, ends the line at an unquoted `#`, and
//! takes `'...'` and `"..."` as grouping, with a backslash escaping the next character (but not
//! a space outside quotes); no variables, no globs. So a value there with a space, a quote, a
//! backslash or a `#` is written inside double quotes with `\` and `"` escaped, and becomes
//! exactly one sbatch argument (tested against a real sbatch in tests/it/slurm_script.rs). In `--output`, `%` is SLURM's pattern character, so
//! a `%` of the folder is doubled; a backslash there would switch patterns off for the whole
//! name, so a remote folder with a backslash is refused. The shell part quotes with `'...'`.

use crate::remote::target::RemoteSpec;
use crate::store::submissions::{SubmitOptions, remote};

/// Everything a script depends on.
#[derive(Clone, Debug)]
pub struct ScriptInput<'a> {
    /// Submission number within the folder.
    pub n: u32,
    /// The folder's name, for the job name.
    pub name: &'a str,
    /// The absolute remote folder.
    pub remote_dir: &'a str,
    /// The ludus executable on the cluster.
    pub ludus: &'a str,
    /// Array tasks (ignored for MPI).
    pub tasks: u32,
    /// The options.
    pub options: &'a SubmitOptions,
}

/// A value that cannot go into a job script.
#[derive(Debug, thiserror::Error)]
#[error("{option} `{}`: {problem}", value.escape_debug())]
pub struct ScriptError {
    /// The option (or argument) it came from, e.g. `--partition`.
    pub option: &'static str,
    /// The value as given.
    pub value: String,
    /// What is wrong and what to do.
    pub problem: String,
}

/// Refuses a control character (newline, carriage return, tab, NUL, ...) in `value`.
fn no_control(option: &'static str, value: &str) -> Result<(), ScriptError> {
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(ScriptError {
            option,
            value: value.to_string(),
            problem: format!(
                "contains the control character {:?}, which would break the job script; remove it",
                c
            ),
        });
    }
    Ok(())
}

/// Checks every value of `options` (and the remote folder) that a job script would contain, so
/// a submission can refuse bad input before it uploads anything.
pub fn check(options: &SubmitOptions, remote_dir: &str) -> Result<(), ScriptError> {
    no_control("the remote folder (HOST:REMOTE_DIR)", remote_dir)?;
    if remote_dir.contains('\\') {
        return Err(ScriptError {
            option: "the remote folder (HOST:REMOTE_DIR)",
            value: remote_dir.to_string(),
            problem: "contains a backslash, which turns off SLURM's %A/%a/%j patterns in the job's --output file; use a folder without one".to_string(),
        });
    }
    for (option, value) in [
        ("--time", &options.time),
        ("--mem", &options.mem),
        ("--partition", &options.partition),
        ("--remote-ludus", &options.remote_ludus),
    ] {
        if let Some(v) = value {
            no_control(option, v)?;
        }
    }
    for a in &options.sbatch_args {
        no_control("--sbatch-arg", a)?;
    }
    Ok(())
}

/// One sbatch argument on a `#SBATCH` line. sbatch's tokenizer splits on white space (a
/// backslash does not protect a space: the split is checked before the escape is applied),
/// ends the line at an unquoted `#`, and takes `"..."` or `'...'` as grouping, with a backslash
/// escaping the next character even inside quotes. So a value with any of these characters is
/// written inside double quotes, with `\` and `"` escaped.
fn sbatch_word(s: &str) -> String {
    if !s.contains([' ', '"', '\'', '\\', '#']) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// How many array tasks: `--tasks K`, or one per `--per-task N` pending instances, never more
/// than the pending instances and never fewer than one.
pub fn task_count(options: &SubmitOptions, pending: usize) -> u32 {
    let pending = pending.max(1) as u64;
    let k = match (options.tasks, options.per_task) {
        (Some(k), _) => u64::from(k.max(1)),
        (None, Some(n)) => pending.div_ceil(u64::from(n.max(1))),
        (None, None) => pending,
    };
    k.min(pending).min(u64::from(u32::MAX)) as u32
}

/// Quotes a word for bash.
fn q(s: &str) -> String {
    crate::remote::shell_quote(s)
}

/// The job script, or the first value that cannot go into one.
pub fn render(input: &ScriptInput<'_>) -> Result<String, ScriptError> {
    let o = input.options;
    check(o, input.remote_dir)?;
    no_control("--remote-ludus", input.ludus)?;
    let dir = input.remote_dir;
    let mpi = o.mpi_ntasks.is_some();
    let mut s = String::from("#!/bin/bash\n");
    s += &format!(
        "# Written by ludus submit (submission {}); runs the instances listed in {}.\n",
        input.n,
        remote::job_ids(dir, input.n)
    );
    let name: String = input
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    s += &format!("#SBATCH --job-name=ludus-{name}\n");
    match o.mpi_ntasks {
        Some(n) => s += &format!("#SBATCH --ntasks={n}\n"),
        None => {
            let throttle = o.max_running.map(|r| format!("%{r}")).unwrap_or_default();
            s += &format!("#SBATCH --array=1-{}{throttle}\n", input.tasks);
        }
    }
    s += &format!("#SBATCH --cpus-per-task={}\n", o.cpus_per_task.max(1));
    if let Some(t) = &o.time {
        s += &format!("#SBATCH {}\n", sbatch_word(&format!("--time={t}")));
    }
    if let Some(m) = &o.mem {
        s += &format!("#SBATCH {}\n", sbatch_word(&format!("--mem={m}")));
    }
    if let Some(g) = o.gpus.filter(|&g| g > 0) {
        s += &format!("#SBATCH --gres=gpu:{g}\n");
    }
    if let Some(p) = &o.partition {
        s += &format!("#SBATCH {}\n", sbatch_word(&format!("--partition={p}")));
    }
    // The folder's own `%` doubled (SLURM's pattern character), then the patterns appended.
    let output = remote::slurm_output(&dir.replace('%', "%%"), input.n, !mpi);
    s += &format!("#SBATCH {}\n", sbatch_word(&format!("--output={output}")));
    // SIGTERM a minute before the limit leaves time to record `interrupted`; with a limit that
    // short the signal would come at once, so SLURM's own SIGTERM at the limit is used instead.
    // `B:` because ludus (or mpirun) is the batch shell itself (`exec`): without it SLURM
    // signals only job steps, and a batch script without srun has none.
    if o.time.as_deref().and_then(minutes).is_none_or(|m| m >= 5) {
        s += "#SBATCH --signal=B:TERM@60\n";
    }
    for a in &o.sbatch_args {
        s += &format!("#SBATCH {}\n", sbatch_word(a));
    }
    s += "set -eu\n";
    let retry = if o.retry_errors {
        " --retry-errors"
    } else {
        ""
    };
    let ids = q(&remote::job_ids(dir, input.n));
    if mpi {
        s += &format!(
            "exec mpirun {} run-instances --mpi {} --ids {ids} --jobs \"${{SLURM_CPUS_PER_TASK:-1}}\" --progress plain{retry}\n",
            q(input.ludus),
            q(dir)
        );
    } else {
        // run-instances reads SLURM_ARRAY_TASK_ID/COUNT/MIN and runs its share of the id list.
        s += &format!(
            "exec {} run-instances {} --ids {ids} --jobs \"${{SLURM_CPUS_PER_TASK:-1}}\" --progress plain{retry}\n",
            q(input.ludus),
            q(dir)
        );
    }
    Ok(s)
}

/// The follow-up job of `submit --retries`, submitted with `--dependency=afterany:<array job>`
/// and run with the number of the attempt it follows as its argument. On the cluster, with no
/// ludus process on the user's machine, it lists the instances still unfinished
/// (`ludus status --pending-ids`); when there are some and retries are left, it writes them to
/// the id list, submits the array script again over at most `max_tasks` tasks, submits itself
/// after that job, and appends the attempt to `REMOTE_DIR/.ludus/jobs/<n>.attempts`.
pub fn render_requeue(input: &ScriptInput<'_>, retries: u32, max_tasks: u32) -> String {
    let o = input.options;
    let dir = input.remote_dir;
    let n = input.n;
    let mut s = String::from("#!/bin/bash\n");
    s += &format!(
        "# Written by ludus submit (submission {n}): resubmits what an attempt leaves unfinished, up to {retries} times.\n"
    );
    let name: String = input
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    s += &format!("#SBATCH --job-name=ludus-{name}-requeue\n");
    s += "#SBATCH --ntasks=1\n#SBATCH --cpus-per-task=1\n#SBATCH --time=10\n";
    if let Some(p) = &o.partition {
        s += &format!("#SBATCH {}\n", sbatch_word(&format!("--partition={p}")));
    }
    // The folder's own `%` doubled (SLURM's pattern character), then the pattern appended.
    let output = crate::store::submissions::remote::slurm_dir(&dir.replace('%', "%%"))
        + &format!("/{n}-requeue-%j.out");
    s += &format!("#SBATCH {}\n", sbatch_word(&format!("--output={output}")));
    for a in &o.sbatch_args {
        s += &format!("#SBATCH {}\n", sbatch_word(a));
    }
    let retry = if o.retry_errors {
        " --retry-errors"
    } else {
        ""
    };
    let throttle = o.max_running.map(|r| format!("%{r}")).unwrap_or_default();
    // An MPI job is one job over the whole list, resubmitted as it is.
    let (max_tasks, array) = if o.mpi_ntasks.is_some() {
        (1, String::new())
    } else {
        (max_tasks, format!(" --array=\"1-$tasks{throttle}\""))
    };
    s += "set -eu\n";
    s += "attempt=\"$1\"\n";
    s += &format!("ludus={}\n", q(input.ludus));
    s += &format!("dir={}\n", q(dir));
    s += &format!("ids={}\n", q(&remote::job_ids(dir, n)));
    s += &format!("log={}\n", q(&remote::job_attempts(dir, n)));
    s += &format!("array={}\n", q(&remote::job_script(dir, n)));
    s += &format!("self={}\n", q(&remote::requeue_script(dir, n)));
    s += &format!("retries={retries}\nmax_tasks={}\n", max_tasks.max(1));
    s += &format!(
        "\"$ludus\" status --pending-ids{retry} \"$dir\" > \"$ids.next\"\n\
         count=$(grep -c . \"$ids.next\" || true)\n\
         if [ \"$count\" -eq 0 ]; then\n\
         \x20 echo \"ludus: attempt $attempt left nothing unfinished\"; rm -f -- \"$ids.next\"; exit 0\n\
         fi\n\
         if [ \"$attempt\" -gt \"$retries\" ]; then\n\
         \x20 echo \"ludus: $count instances unfinished after $attempt attempts; no retries left (ludus resubmit runs them)\"; exit 0\n\
         fi\n\
         cp -- \"$ids\" \"$ids.$attempt\"\n\
         mv -f -- \"$ids.next\" \"$ids\"\n\
         tasks=$(( count < max_tasks ? count : max_tasks ))\n\
         next=$(( attempt + 1 ))\n\
         job=$(sbatch --parsable{array} \"$array\")\n\
         job=\"${{job%%;*}}\"\n\
         follow=-\n\
         if [ \"$next\" -le \"$retries\" ]; then\n\
         \x20 follow=$(sbatch --parsable --dependency=\"afterany:$job\" \"$self\" \"$next\")\n\
         \x20 follow=\"${{follow%%;*}}\"\n\
         fi\n\
         printf '%s %s %s %s %s %s\\n' \"$next\" \"$job\" \"$tasks\" \"$count\" \"$follow\" \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\" >> \"$log\"\n\
         echo \"ludus: attempt $next: job $job, $count instances in $tasks array tasks\"\n"
    );
    s
}

/// Minutes in a SLURM time limit (`M`, `M:S`, `H:M:S`, `D-H`, `D-H:M`, `D-H:M:S`), rounded
/// down; `None` when it cannot be read.
pub fn minutes(t: &str) -> Option<u64> {
    let (days, rest) = match t.split_once('-') {
        Some((d, r)) => (d.parse::<u64>().ok()?, r),
        None => (0, t),
    };
    let parts: Vec<u64> = rest
        .split(':')
        .map(|p| p.parse::<u64>().ok())
        .collect::<Option<_>>()?;
    let m = match (t.contains('-'), parts.as_slice()) {
        (false, [m]) => *m,
        (false, [m, _s]) => *m,
        (false, [h, m, _s]) => h * 60 + m,
        (true, [h]) => h * 60,
        (true, [h, m]) => h * 60 + m,
        (true, [h, m, _s]) => h * 60 + m,
        _ => return None,
    };
    Some(days * 24 * 60 + m)
}

/// `HOST:REMOTE_DIR` with the remote folder replaced (to record the absolute path).
pub fn with_path(spec: &RemoteSpec, path: &str) -> RemoteSpec {
    RemoteSpec {
        path: path.to_string(),
        ..spec.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_counts() {
        let mut o = SubmitOptions::default();
        assert_eq!(task_count(&o, 10), 10);
        o.per_task = Some(4);
        assert_eq!(task_count(&o, 10), 3);
        o.tasks = Some(50);
        assert_eq!(task_count(&o, 10), 10);
        o.tasks = Some(2);
        assert_eq!(task_count(&o, 10), 2);
        assert_eq!(task_count(&o, 0), 1);
    }

    #[test]
    fn time_limits_in_minutes() {
        assert_eq!(minutes("1"), Some(1));
        assert_eq!(minutes("10:30"), Some(10));
        assert_eq!(minutes("2:00:00"), Some(120));
        assert_eq!(minutes("1-2"), Some(26 * 60));
        assert_eq!(minutes("1-0:30"), Some(24 * 60 + 30));
        assert_eq!(minutes("x"), None);
    }

    #[test]
    fn array_script() {
        let o = SubmitOptions {
            cpus_per_task: 2,
            time: Some("1:00:00".into()),
            partition: Some("short".into()),
            max_running: Some(4),
            sbatch_args: vec!["--account=me".into()],
            ..Default::default()
        };
        let s = render(&ScriptInput {
            n: 3,
            name: "quick",
            remote_dir: "/scratch/me/quick",
            ludus: "/scratch/me/quick/.ludus/bin/ludus",
            tasks: 8,
            options: &o,
        })
        .expect("renders");
        assert_eq!(
            s,
            "#!/bin/bash\n\
             # Written by ludus submit (submission 3); runs the instances listed in /scratch/me/quick/.ludus/jobs/3.ids.\n\
             #SBATCH --job-name=ludus-quick\n\
             #SBATCH --array=1-8%4\n\
             #SBATCH --cpus-per-task=2\n\
             #SBATCH --time=1:00:00\n\
             #SBATCH --partition=short\n\
             #SBATCH --output=/scratch/me/quick/.ludus/slurm/3-%A_%a.out\n\
             #SBATCH --signal=B:TERM@60\n\
             #SBATCH --account=me\n\
             set -eu\n\
             exec '/scratch/me/quick/.ludus/bin/ludus' run-instances '/scratch/me/quick' --ids '/scratch/me/quick/.ludus/jobs/3.ids' --jobs \"${SLURM_CPUS_PER_TASK:-1}\" --progress plain\n"
        );
    }

    #[test]
    fn mpi_script_and_short_limit() {
        let o = SubmitOptions {
            cpus_per_task: 1,
            time: Some("2".into()),
            mpi_ntasks: Some(16),
            retry_errors: true,
            ..Default::default()
        };
        let s = render(&ScriptInput {
            n: 1,
            name: "a b",
            remote_dir: "/x",
            ludus: "ludus",
            tasks: 1,
            options: &o,
        })
        .expect("renders");
        assert!(s.contains("#SBATCH --ntasks=16\n"), "{s}");
        assert!(s.contains("#SBATCH --job-name=ludus-a_b\n"), "{s}");
        assert!(!s.contains("--array"), "{s}");
        assert!(!s.contains("--signal"), "{s}");
        assert!(s.contains("--output=/x/.ludus/slurm/1-%j.out"), "{s}");
        assert!(
            s.contains("exec mpirun 'ludus' run-instances --mpi '/x' --ids '/x/.ludus/jobs/1.ids'"),
            "{s}"
        );
        assert!(s.ends_with("--retry-errors\n"), "{s}");
    }

    fn input<'a>(dir: &'a str, o: &'a SubmitOptions) -> ScriptInput<'a> {
        ScriptInput {
            n: 1,
            name: "x",
            remote_dir: dir,
            ludus: "ludus",
            tasks: 2,
            options: o,
        }
    }

    #[test]
    fn control_characters_are_refused_naming_the_option() {
        let bad = |o: SubmitOptions, dir: &str, option: &str| {
            let e = render(&input(dir, &o)).expect_err("refused");
            assert_eq!(e.option, option);
            assert!(e.to_string().contains(option), "{e}");
        };
        let evil = "short\ntouch /tmp/owned".to_string();
        bad(
            SubmitOptions {
                partition: Some(evil.clone()),
                ..Default::default()
            },
            "/x",
            "--partition",
        );
        bad(
            SubmitOptions {
                time: Some("1:00\r".into()),
                ..Default::default()
            },
            "/x",
            "--time",
        );
        bad(
            SubmitOptions {
                sbatch_args: vec!["--account=me\u{0}".into()],
                ..Default::default()
            },
            "/x",
            "--sbatch-arg",
        );
        bad(
            SubmitOptions {
                mem: Some("4G\t".into()),
                ..Default::default()
            },
            "/x",
            "--mem",
        );
        bad(
            SubmitOptions {
                remote_ludus: Some("/bin/ludus\nrm -rf ~".into()),
                ..Default::default()
            },
            "/x",
            "--remote-ludus",
        );
        let o = SubmitOptions::default();
        bad(
            o.clone(),
            "/x\nrm -rf ~",
            "the remote folder (HOST:REMOTE_DIR)",
        );
        bad(o, "/x\\y", "the remote folder (HOST:REMOTE_DIR)");
    }

    #[test]
    fn legal_values_are_quoted_for_sbatch() {
        let o = SubmitOptions {
            partition: Some("a b".into()),
            sbatch_args: vec!["--comment=it's #1".into()],
            ..Default::default()
        };
        let s = render(&input("/scratch/my runs/100%", &o)).expect("renders");
        assert!(s.contains("#SBATCH \"--partition=a b\"\n"), "{s}");
        assert!(s.contains("#SBATCH \"--comment=it's #1\"\n"), "{s}");
        assert!(
            s.contains("#SBATCH \"--output=/scratch/my runs/100%%/.ludus/slurm/1-%A_%a.out\"\n"),
            "{s}"
        );
        assert_eq!(sbatch_word(r#"a"b\c"#), r#""a\"b\\c""#);
        // The shell part quotes the folder as one word.
        assert!(
            s.contains("run-instances '/scratch/my runs/100%' --ids"),
            "{s}"
        );
        // No value ever starts a line of its own.
        assert_eq!(s.lines().count(), 11, "{s}");
    }

    #[test]
    fn requeue_script() {
        let o = SubmitOptions {
            partition: Some("short".into()),
            max_running: Some(2),
            retries: 3,
            ..Default::default()
        };
        let s = render_requeue(
            &ScriptInput {
                n: 2,
                name: "quick",
                remote_dir: "/x",
                ludus: "/x/.ludus/bin/ludus",
                tasks: 5,
                options: &o,
            },
            3,
            5,
        );
        assert!(
            s.contains("#SBATCH --job-name=ludus-quick-requeue\n"),
            "{s}"
        );
        assert!(s.contains("#SBATCH --partition=short\n"), "{s}");
        assert!(
            s.contains("--output=/x/.ludus/slurm/2-requeue-%j.out"),
            "{s}"
        );
        assert!(s.contains("retries=3\nmax_tasks=5\n"), "{s}");
        assert!(s.contains("status --pending-ids \"$dir\""), "{s}");
        assert!(s.contains("--array=\"1-$tasks%2\" \"$array\""), "{s}");
        assert!(
            s.contains("--dependency=\"afterany:$job\" \"$self\" \"$next\""),
            "{s}"
        );
        assert!(s.contains("ids='/x/.ludus/jobs/2.ids'"), "{s}");
    }
}
