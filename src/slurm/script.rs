//! The sbatch script of a submission: a job array whose tasks each run `ludus run-instances` on
//! their share of a list of pending ids, or one MPI job over the whole list. Pure text, so it
//! can be printed by `--dry-run` and pinned by tests.

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

/// The job script.
pub fn render(input: &ScriptInput<'_>) -> String {
    let o = input.options;
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
        s += &format!("#SBATCH --time={t}\n");
    }
    if let Some(m) = &o.mem {
        s += &format!("#SBATCH --mem={m}\n");
    }
    if let Some(g) = o.gpus.filter(|&g| g > 0) {
        s += &format!("#SBATCH --gres=gpu:{g}\n");
    }
    if let Some(p) = &o.partition {
        s += &format!("#SBATCH --partition={p}\n");
    }
    s += &format!(
        "#SBATCH --output={}\n",
        remote::slurm_output(dir, input.n, !mpi)
    );
    // SIGTERM a minute before the limit leaves time to record `interrupted`; with a limit that
    // short the signal would come at once, so SLURM's own SIGTERM at the limit is used instead.
    // `B:` because ludus (or mpirun) is the batch shell itself (`exec`): without it SLURM
    // signals only job steps, and a batch script without srun has none.
    if o.time.as_deref().and_then(minutes).is_none_or(|m| m >= 5) {
        s += "#SBATCH --signal=B:TERM@60\n";
    }
    for a in &o.sbatch_args {
        s += &format!("#SBATCH {a}\n");
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
    s
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
        s += &format!("#SBATCH --partition={p}\n");
    }
    s += &format!(
        "#SBATCH --output={}\n",
        crate::store::submissions::remote::slurm_dir(dir) + &format!("/{n}-requeue-%j.out")
    );
    for a in &o.sbatch_args {
        s += &format!("#SBATCH {a}\n");
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
        });
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
        });
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
