//! Planning a spec file into a folder, shared by `plan` and `run`: read the spec and the agents
//! file, plan through the library, print the short table and what changed.

use std::path::{Path, PathBuf};

use super::Context;
use crate::plan::plan;
use crate::spec::{Spec, load_agents};
use crate::store::Experiment;
use crate::store::planned::{WriteOptions, write_plan};

/// Plans a spec into a folder (default `instances/<name>`), printing the short table and what
/// changed; returns the folder. `agents` replaces the spec's agents (an agents file, as
/// select-best writes it).
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
    for &e in &plan.entries {
        let (subject, setting) = plan.table_labels(e);
        match table.iter_mut().find(|r| r.0 == subject && r.1 == setting) {
            Some(r) => r.2 += 1,
            None => table.push((subject.to_string(), setting, 1)),
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
    let out = out.unwrap_or_else(|| Experiment::default_for_spec(&spec.name));
    if dry_run {
        println!(
            "{} instances (dry run: nothing written to {})",
            plan.len(),
            out.display()
        );
        return Ok(out);
    }
    let dir = Experiment::new(&out);
    let is_yaml = matches!(
        spec_path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    );
    let provenance = crate::provenance::of_plan(spec_path, &plan);
    if let Ok(Some(old)) = dir.read_manifest()
        && let Some(old) = &old.provenance
    {
        warn_code_changed(&out, old);
    }
    let opts = WriteOptions {
        provenance: Some(provenance),
        ..opts.clone()
    };
    let s = write_plan(&dir, &plan, &text, is_yaml, &opts)?;
    println!(
        "planned {} instances in {} ({} new, {} already there)",
        s.total,
        out.display(),
        s.written,
        s.kept
    );
    if !s.repaired.is_empty() {
        let names: Vec<String> = s
            .repaired
            .iter()
            .take(5)
            .map(|p| p.display().to_string())
            .collect();
        println!(
            "repaired {} instance file(s) that were damaged or held another instance: {}{}",
            s.repaired.len(),
            names.join(", "),
            if s.repaired.len() > 5 { ", ..." } else { "" }
        );
    }
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

/// Warns (stderr) when the code recorded for `folder` differs from the code now present,
/// naming both commits.
pub(super) fn warn_code_changed(folder: &Path, recorded: &crate::store::Provenance) {
    for (what, old, now) in crate::provenance::changes(recorded) {
        eprintln!(
            "warning: {}: planned with {what} at {}, the code there is now {}; results may mix both",
            folder.display(),
            old.describe(),
            now.describe()
        );
    }
}
