//! Writing a plan into an experiment folder, keeping what is already there.
//!
//! Re-planning the same spec changes nothing; a changed spec adds its new instances, keeps the
//! existing ones (and their results) and reports instances that are no longer in the spec. Those
//! are removed only when asked (`prune`), and their logs are moved to `attic/`, never deleted.

use std::collections::HashSet;
use std::fs;
use std::path::PathBuf;

use rayon::prelude::*;

use super::{AtticBatch, ExperimentDir, Manifest, StoreError, atomic_write, now_rfc3339};
use crate::plan::{InstanceId, Plan};

/// Options for writing a plan.
#[derive(Clone, Debug, Default)]
pub struct WriteOptions {
    /// Record K groups in the manifest.
    pub groups: Option<u32>,
    /// Remove instances no longer in the spec (their logs go to `attic/`).
    pub prune: bool,
    /// Plan into a folder that holds the experiment of a spec of another name (refused
    /// otherwise, so two experiments are not merged by mistake).
    pub other_spec: bool,
    /// Which code the plan came from (recorded in the manifest).
    pub provenance: Option<super::Provenance>,
}

/// What writing a plan did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WriteSummary {
    /// Instances in the plan.
    pub total: usize,
    /// Instance files written now.
    pub written: usize,
    /// Instance files that were already there.
    pub kept: usize,
    /// Instances in the folder that are not in this plan.
    pub stale: Vec<InstanceId>,
    /// Whether the stale ones were pruned.
    pub pruned: bool,
    /// Instance files that were there but damaged or held another instance, rewritten now.
    pub repaired: Vec<PathBuf>,
}

/// Writes `plan` into `dir`: instance files first, then the spec copy, then the manifest, each
/// atomically, so a killed `plan` is finished by running it again.
pub fn write_plan(
    dir: &ExperimentDir,
    plan: &Plan,
    spec_text: &str,
    spec_is_yaml: bool,
    opts: &WriteOptions,
) -> Result<WriteSummary, StoreError> {
    if let Some(m) = dir.read_manifest()?
        && m.spec_name != plan.spec_name
        && !opts.other_spec
    {
        return Err(StoreError::OtherSpec {
            path: dir.root().to_path_buf(),
            found: m.spec_name,
            planned: plan.spec_name.clone(),
        });
    }
    dir.create()?;
    let existing: HashSet<InstanceId> = dir.scan_instance_ids()?.into_iter().collect();
    // An existing file is kept only when it holds exactly this instance; a damaged file, or
    // one holding another instance (copied or renamed), is rewritten and reported.
    let outcomes = (0..plan.len())
        .into_par_iter()
        .map(|i| {
            let id = plan.ids[i];
            if !existing.contains(&id) {
                dir.write_instance(&plan.instance(i))?;
                return Ok(Some(None));
            }
            match dir.read_instance(id) {
                Ok(_) => Ok(None),
                Err(_) => {
                    dir.write_instance(&plan.instance(i))?;
                    Ok(Some(Some(dir.instance_path(id))))
                }
            }
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let written = outcomes.iter().filter(|o| matches!(o, Some(None))).count();
    let mut repaired: Vec<PathBuf> = outcomes.into_iter().flatten().flatten().collect();
    repaired.sort();

    let wanted: HashSet<InstanceId> = plan.ids.iter().copied().collect();
    let mut stale: Vec<InstanceId> = existing.difference(&wanted).copied().collect();
    stale.sort();
    if opts.prune && !stale.is_empty() {
        let batch = AtticBatch::new("pruned");
        for &id in &stale {
            dir.move_to_attic(id, &batch)?;
            dir.remove_instance(id)?;
        }
    }

    let copy = dir.spec_copy_path(spec_is_yaml);
    if fs::read(&copy).ok().as_deref() != Some(spec_text.as_bytes()) {
        atomic_write(&copy, spec_text.as_bytes())?;
    }
    let manifest = Manifest {
        ludus_version: env!("CARGO_PKG_VERSION").to_string(),
        format: super::FORMAT_VERSION,
        spec_name: plan.spec_name.clone(),
        spec_file: dir
            .spec_copy_path(spec_is_yaml)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        spec_hash: blake3::hash(spec_text.as_bytes()).to_hex()[..16].to_string(),
        planned_at: now_rfc3339(),
        groups: opts.groups,
        instances: plan.ids.clone(),
        provenance: opts.provenance.clone(),
    };
    // Re-planning the same spec must change nothing: keep the old manifest byte for byte
    // when only its time stamp would differ.
    let same = dir.read_manifest().ok().flatten().is_some_and(|old| {
        Manifest {
            planned_at: old.planned_at.clone(),
            ..manifest.clone()
        } == old
    });
    if !same {
        dir.write_manifest(&manifest)?;
    }
    Ok(WriteSummary {
        total: plan.len(),
        written,
        kept: plan.len() - written - repaired.len(),
        repaired,
        pruned: opts.prune && !stale.is_empty(),
        stale,
    })
}
