//! `ludus plan` and `ludus show`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::Context;
use crate::plan::plan;
use crate::spec::{Spec, load_agents};
use crate::store::planned::{WriteOptions, write_plan};
use crate::store::{ExperimentDir, read_instance_file};

/// Expand a spec into instance files.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  ludus plan benchmarks/quick.toml                       # -> instances/quick/
  ludus plan benchmarks/quick.toml --out /scratch/quick --groups 16
  ludus plan benchmarks/quick.toml --dry-run
  ludus plan benchmarks/default.toml --agents best.toml  # stage two: the winners only

Planning the same spec again changes nothing; a changed spec adds its new instances, keeps
existing ones and their results, and lists those no longer in the spec (removed only with
--prune; their logs are moved to attic/, never deleted).")]
pub struct PlanArgs {
    /// The spec file (TOML, or YAML when it ends in .yaml/.yml).
    spec: PathBuf,
    /// The experiment folder [default: instances/<spec name>].
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// Replace the spec's agents by those of this agents file (as written by select-best).
    #[arg(long)]
    agents: Option<PathBuf>,
    /// Record K balanced groups in the manifest, for K cluster jobs (`run-instances --group k/K`).
    #[arg(long, value_name = "K")]
    groups: Option<u32>,
    /// Show the count and a short table; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Remove instances that are no longer in the spec (their logs go to attic/).
    #[arg(long)]
    prune: bool,
}

/// Runs `ludus plan`.
pub fn run(args: PlanArgs, ctx: &Context) -> anyhow::Result<ExitCode> {
    if args.groups == Some(0) {
        anyhow::bail!("--groups must be at least 1");
    }
    let opts = WriteOptions {
        groups: args.groups,
        prune: args.prune,
    };
    plan_into(
        &args.spec,
        args.out,
        args.agents.as_deref(),
        &opts,
        args.dry_run,
        ctx,
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Plans a spec into a folder (default `instances/<name>`), printing the short table and what
/// changed; returns the folder. Shared by `plan` and `run`.
pub(super) fn plan_into(
    spec_path: &Path,
    out: Option<PathBuf>,
    agents: Option<&Path>,
    opts: &WriteOptions,
    dry_run: bool,
    ctx: &Context,
) -> anyhow::Result<PathBuf> {
    let text = crate::spec::read_text(spec_path)?;
    let spec = Spec::parse(spec_path, &text)?;
    let agents = agents.map(load_agents).transpose()?;
    let plan = plan(&spec, agents.as_deref(), &ctx.registry)?;

    // A short table: instances per agent and MDP family.
    let mut table: Vec<(String, String, usize)> = Vec::new();
    for &(a, m, _) in &plan.entries {
        let agent = &plan.agents[a as usize].1.name;
        let mdp = &plan.mdps[m as usize].1;
        let mdp = format!(
            "{}{}",
            mdp.family,
            if mdp.episodic { " (episodic)" } else { "" }
        );
        match table.iter_mut().find(|r| &r.0 == agent && r.1 == mdp) {
            Some(r) => r.2 += 1,
            None => table.push((agent.clone(), mdp, 1)),
        }
    }
    for &(e, _) in &plan.exec_entries {
        let name = &plan.experiments[e as usize].1.name;
        match table
            .iter_mut()
            .find(|r| &r.0 == name && r.1 == "(program)")
        {
            Some(r) => r.2 += 1,
            None => table.push((name.clone(), "(program)".into(), 1)),
        }
    }
    let w = table.iter().map(|r| r.0.len()).max().unwrap_or(5).max(5);
    let w2 = table.iter().map(|r| r.1.len()).max().unwrap_or(3).max(3);
    eprintln!("{:<w$}  {:<w2$}  instances", "agent", "mdp");
    for (a, m, n) in &table {
        eprintln!("{a:<w$}  {m:<w2$}  {n:>9}");
    }
    for (agent, setting, why, n) in &plan.incompatible {
        eprintln!("left out: {n} instances of {agent} on {setting} ({why})");
    }
    if plan.duplicates > 0 {
        eprintln!(
            "left out: {} duplicate instances (identical content, kept once)",
            plan.duplicates
        );
    }
    let out = out.unwrap_or_else(|| PathBuf::from("instances").join(&spec.name));
    if dry_run {
        println!(
            "{} instances (dry run: nothing written to {})",
            plan.len(),
            out.display()
        );
        return Ok(out);
    }
    let dir = ExperimentDir::new(&out);
    let is_yaml = matches!(
        spec_path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    );
    let s = write_plan(&dir, &plan, &text, is_yaml, opts)?;
    println!(
        "planned {} instances in {} ({} new, {} already there)",
        s.total,
        out.display(),
        s.written,
        s.kept
    );
    if !s.stale.is_empty() {
        if s.pruned {
            println!(
                "pruned {} instances no longer in the spec (logs moved to attic/)",
                s.stale.len()
            );
        } else {
            println!(
                "{} instances in the folder are no longer in the spec (kept; --prune removes them)",
                s.stale.len()
            );
        }
    }
    Ok(out)
}

/// Print one instance file as JSON.
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  ludus show instances/quick/instances/3f2a9c0d1e4b5a67.bin")]
pub struct ShowArgs {
    /// The instance file (.bin).
    file: PathBuf,
}

/// Runs `ludus show`.
pub fn run_show(args: ShowArgs, _ctx: &Context) -> anyhow::Result<ExitCode> {
    let instance = read_instance_file(&args.file)?;
    let mut v = serde_json::to_value(&instance)?;
    if let serde_json::Value::Object(m) = &mut v {
        m.insert("id".into(), instance.id().to_string().into());
    }
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(ExitCode::SUCCESS)
}
