//! `ludus status` and `ludus reset`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use super::Context;
use crate::exec::Selection;
use crate::store::{AtticBatch, InstanceState, StatusKind, hostname};

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
    let mut all = Counts::default();
    let mut per: BTreeMap<(String, String), Counts> = BTreeMap::new();
    let mut broken = Vec::new();
    // The code the finished runs came from: (folder, commit or note) -> instances.
    let mut ran_with: BTreeMap<(String, String), usize> = BTreeMap::new();
    for st in sel.states(&hostname()) {
        if let Some(code) = st.status.as_ref().and_then(|s| s.code.as_ref()) {
            *ran_with
                .entry((code.path.clone(), code.describe()))
                .or_default() += 1;
        }
        let (agent, mdp) = match &st.instance {
            Ok(i) => i.kind.table_labels(),
            Err(_) => ("(unreadable)".into(), "(unreadable)".into()),
        };
        if st.state == InstanceState::Broken
            && let Err(e) = &st.instance
        {
            broken.push(e.to_string());
        }
        let c = per.entry((agent, mdp)).or_default();
        for c in [&mut all, c] {
            c.total += 1;
            match st.state {
                InstanceState::Running => c.running += 1,
                InstanceState::Broken => c.error += 1,
                _ => {}
            }
            match st.status.as_ref().map(|s| s.status) {
                Some(StatusKind::Done) => c.done += 1,
                Some(StatusKind::Timeout) => c.timeout += 1,
                Some(StatusKind::Error) => c.error += 1,
                Some(StatusKind::Interrupted) => c.interrupted += 1,
                None if st.state == InstanceState::Broken => {}
                None => c.pending += 1,
            }
        }
    }
    for e in broken.iter().take(10) {
        eprintln!("error: {e}");
    }
    if broken.len() > 10 {
        eprintln!(
            "error: ... and {} more unusable instance files",
            broken.len() - 10
        );
    }
    let provenance: Vec<_> = sel
        .dirs
        .iter()
        .filter_map(|d| {
            let p = d.read_manifest().ok().flatten()?.provenance?;
            Some((d.root().display().to_string(), p))
        })
        .collect();
    // Each folder's last SLURM submission, as recorded here (`submit`, `watch`).
    let submitted: Vec<_> = sel
        .dirs
        .iter()
        .filter_map(|d| {
            let sub = d.read_submissions().ok()?.last()?.clone();
            Some((d.root().display().to_string(), sub))
        })
        .collect();
    if args.json {
        let planned: Vec<_> = provenance
            .iter()
            .map(|(dir, p)| serde_json::json!({ "folder": dir, "provenance": p }))
            .collect();
        let ran: Vec<_> = ran_with
            .iter()
            .map(|((path, code), n)| serde_json::json!({ "workdir": path, "code": code, "count": n }))
            .collect();
        let subs: Vec<_> = submitted
            .iter()
            .map(|(dir, s)| {
                let arrays: Vec<_> = s
                    .arrays()
                    .iter()
                    .map(|a| a.summary_json())
                    .collect();
                serde_json::json!({ "folder": dir, "submission": s.n, "target": s.target, "submitted_at": s.submitted_at, "arrays": arrays, "attempts": s.attempts.iter().map(|a| a.attempt).max().unwrap_or(1) })
            })
            .collect();
        let v = serde_json::json!({
            "total": all.total, "done": all.done, "pending": all.pending, "running": all.running,
            "timeout": all.timeout, "error": all.error, "interrupted": all.interrupted,
            "planned_with": planned, "ran_with": ran, "last_submission": subs,
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
        for (dir, p) in &provenance {
            println!(
                "{dir}: planned by ludus {} on {}; spec folder {}",
                p.ludus_version,
                p.host,
                p.spec.describe()
            );
            for w in &p.workdirs {
                println!("  experiment workdir {}: {}", w.path, w.describe());
            }
        }
        for ((path, code), n) in &ran_with {
            println!("ran in {path} at {code}: {n} instances");
        }
        for (dir, s) in &submitted {
            let arrays = s.arrays();
            let attempts = s.attempts.iter().map(|a| a.attempt).max().unwrap_or(1);
            println!(
                "{dir}: submission {} to {} at {}: {} {}{}",
                s.n,
                s.target,
                s.submitted_at,
                arrays.len(),
                if arrays.len() == 1 { "array" } else { "arrays" },
                if attempts > 1 {
                    format!(", {attempts} attempts (--retries) seen by watch")
                } else {
                    String::new()
                }
            );
            for a in &arrays {
                println!(
                    "  array {}: job {}, {} instances in {} tasks{}",
                    a.array,
                    a.job_id,
                    a.instances,
                    a.tasks,
                    if a.resources.is_empty() {
                        String::new()
                    } else {
                        format!(", {}", a.resources)
                    }
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
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
    let batch = AtticBatch::new("reset");
    let mut n = 0;
    for &it in &sel.items {
        let dir = &sel.dirs[it.dir];
        if let Ok(Some(s)) = dir.read_status(it.id)
            && kinds.contains(&s.status)
        {
            dir.move_to_attic(it.id, &batch)?;
            n += 1;
        }
    }
    if n == 0 {
        println!(
            "reset 0 instances: none has the status {}",
            args.status.join(", ")
        );
    } else {
        println!(
            "reset {n} instances (their logs are in {})",
            batch.relative_path()
        );
    }
    Ok(ExitCode::SUCCESS)
}
