//! `ludus status` and `ludus reset`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use super::Context;
use crate::exec::Selection;
use crate::plan::InstanceKind;
use crate::store::{StatusKind, hostname, now_rfc3339};

/// Count instances per status, in total and per agent and MDP.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  ludus status instances/quick
  ludus status instances/quick --json     # {\"total\":..,\"done\":..,\"pending\":..,...}
  ludus status instances/quick --pending-ids > todo.ids

`running` counts instances listed by a live run-instances process (on another host: trusted as is).")]
pub struct StatusArgs {
    /// Planned folders (or folders of .bin files).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Print one JSON object for scripts.
    #[arg(long)]
    json: bool,
    /// Print the ids `run-instances` would run (no status, or interrupted), one a line.
    #[arg(long, conflicts_with = "json")]
    pending_ids: bool,
    /// With --pending-ids: count instances with status error as pending too.
    #[arg(long, requires = "pending_ids")]
    retry_errors: bool,
}

#[derive(Default, Clone, Copy)]
struct Counts {
    total: usize,
    done: usize,
    pending: usize,
    running: usize,
    timeout: usize,
    error: usize,
    interrupted: usize,
}

fn pid_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe {
        libc::kill(pid, 0) == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
}

/// Runs `ludus status`.
pub fn run(args: StatusArgs, _ctx: &Context) -> anyhow::Result<ExitCode> {
    let mut sel = Selection::resolve(&args.paths)?;
    sel.dedup();
    if args.pending_ids {
        let mut out = String::new();
        for it in crate::exec::pending(&sel, args.retry_errors)? {
            out.push_str(&format!("{}\n", it.id));
        }
        print!("{out}");
        return Ok(ExitCode::SUCCESS);
    }
    let me = hostname();
    // Ids in the running files of live processes (a process on another host is trusted).
    let mut running_ids = std::collections::HashSet::new();
    for (d, dir) in sel.dirs.iter().enumerate() {
        for (host, pid, ids) in dir.running_lists() {
            if host != me || pid_alive(pid as i32) {
                running_ids.extend(ids.into_iter().map(|id| (d, id)));
            }
        }
    }
    let mut all = Counts::default();
    let mut per: BTreeMap<(String, String), Counts> = BTreeMap::new();
    for &it in &sel.items {
        let dir = &sel.dirs[it.dir];
        let status = dir.read_status(it.id).ok().flatten();
        let (agent, mdp) = match status.as_ref().map(|s| s.instance.clone()) {
            Some(i) => label(&i.kind),
            None => match crate::store::read_instance_file(&sel.instance_path(it)) {
                Ok(i) => label(&i.kind),
                Err(_) => ("(unreadable)".into(), "(unreadable)".into()),
            },
        };
        let running = status
            .as_ref()
            .is_none_or(|s| s.status == StatusKind::Interrupted)
            && running_ids.contains(&(it.dir, it.id));
        let c = per.entry((agent, mdp)).or_default();
        for c in [&mut all, c] {
            c.total += 1;
            c.running += running as usize;
            match status.as_ref().map(|s| s.status) {
                Some(StatusKind::Done) => c.done += 1,
                Some(StatusKind::Timeout) => c.timeout += 1,
                Some(StatusKind::Error) => c.error += 1,
                Some(StatusKind::Interrupted) => c.interrupted += 1,
                None => c.pending += 1,
            }
        }
    }
    if args.json {
        let v = serde_json::json!({
            "total": all.total, "done": all.done, "pending": all.pending, "running": all.running,
            "timeout": all.timeout, "error": all.error, "interrupted": all.interrupted,
        });
        println!("{v}");
    } else {
        let w = per.keys().map(|k| k.0.len()).max().unwrap_or(5).max(5);
        let w2 = per.keys().map(|k| k.1.len()).max().unwrap_or(3).max(3);
        println!(
            "{:<w$}  {:<w2$}  {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>11}",
            "agent",
            "mdp",
            "total",
            "done",
            "pending",
            "running",
            "timeout",
            "error",
            "interrupted"
        );
        let row = |a: &str, m: &str, c: &Counts| {
            println!(
                "{a:<w$}  {m:<w2$}  {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>11}",
                c.total, c.done, c.pending, c.running, c.timeout, c.error, c.interrupted
            )
        };
        for ((a, m), c) in &per {
            row(a, m, c);
        }
        row("all", "", &all);
    }
    Ok(ExitCode::SUCCESS)
}

fn label(kind: &InstanceKind) -> (String, String) {
    match kind {
        InstanceKind::Builtin { agent, mdp } => (
            agent.name.clone(),
            format!(
                "{}{}",
                mdp.family,
                if mdp.episodic { " (episodic)" } else { "" }
            ),
        ),
        InstanceKind::Exec(e) => (e.name.clone(), "(program)".into()),
    }
}

/// Make instances pending again: their log and status move to attic/reset-<time>/.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  ludus reset instances/quick --status error
  ludus reset instances/quick --status error,timeout,interrupted

Nothing is deleted: logs/<id>.csv and logs/<id>.json (and a program's .out, .err and
runs/<id>/ folder, so it starts afresh) move to attic/reset-<time>/.")]
pub struct ResetArgs {
    /// Planned folders (or folders of .bin files).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// The statuses to reset, comma-separated: done, timeout, error, interrupted.
    #[arg(long, value_delimiter = ',', required = true)]
    status: Vec<String>,
}

/// Runs `ludus reset`.
pub fn run_reset(args: ResetArgs, _ctx: &Context) -> anyhow::Result<ExitCode> {
    let kinds = args
        .status
        .iter()
        .map(|s| {
            StatusKind::parse(s.trim()).ok_or_else(|| {
                anyhow::anyhow!("--status {s}: expected done, timeout, error or interrupted")
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut sel = Selection::resolve(&args.paths)?;
    sel.dedup();
    let label = format!("reset-{}", now_rfc3339().replace(':', ""));
    let mut n = 0;
    for &it in &sel.items {
        let dir = &sel.dirs[it.dir];
        if let Ok(Some(s)) = dir.read_status(it.id)
            && kinds.contains(&s.status)
        {
            dir.move_to_attic(it.id, &label)?;
            n += 1;
        }
    }
    if n == 0 {
        println!(
            "reset 0 instances: none has the status {}",
            args.status.join(", ")
        );
    } else {
        println!("reset {n} instances (their logs are in attic/{label}/)");
    }
    Ok(ExitCode::SUCCESS)
}
