//! `ludus plan` and `ludus show`.

use std::path::PathBuf;
use std::process::ExitCode;

use super::Context;
use super::planning::plan_into;
use crate::store::planned::WriteOptions;
use crate::store::read_instance_file;

/// Expand a spec into instance files.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  ludus plan benchmarks/quick.toml                       # -> instances/quick/
  ludus plan benchmarks/quick.toml --out /scratch/quick --groups 16
  ludus plan benchmarks/quick.toml --dry-run
  ludus plan benchmarks/continuous_ergodic.toml --agents best.toml  # stage two: the winners

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
    /// Plan into a folder that holds the experiment of a spec of another name (refused
    /// otherwise).
    #[arg(long)]
    other_spec: bool,
}

/// Runs `ludus plan`.
pub fn run(args: PlanArgs, ctx: &Context) -> anyhow::Result<ExitCode> {
    if args.groups == Some(0) {
        anyhow::bail!("--groups must be at least 1");
    }
    let opts = WriteOptions {
        groups: args.groups,
        prune: args.prune,
        other_spec: args.other_spec,
        provenance: None,
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
        // The folder's provenance, when the file sits in a planned folder.
        if let Ok(sel) = crate::store::Selection::resolve(std::slice::from_ref(&args.file))
            && let Some(d) = sel.dirs.first()
            && let Ok(Some(manifest)) = d.read_manifest()
            && let Some(p) = manifest.provenance
        {
            m.insert("provenance".into(), serde_json::to_value(p)?);
        }
    }
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(ExitCode::SUCCESS)
}
