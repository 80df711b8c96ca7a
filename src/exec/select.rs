//! Which instances a run covers: PATH arguments resolved to experiment folders and ids.
//!
//! A PATH is a planned folder (its manifest gives the ids in plan order; without a manifest,
//! every `instances/*.bin`, sorted), a folder of `.bin` files, or single `.bin` files. Logs go to
//! the experiment folder's `logs/`: for `X/instances/` or a file inside it, that is `X/logs/`;
//! for any other folder of `.bin` files, `that folder/logs/`.

use std::path::{Path, PathBuf};

use crate::plan::InstanceId;
use crate::plan::group::Group;
use crate::store::{ExperimentDir, StoreError};

/// One instance to consider: its experiment folder (index into `Selection::dirs`) and id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Item {
    /// Index of the experiment folder.
    pub dir: usize,
    /// The instance.
    pub id: InstanceId,
}

/// The resolved PATH arguments.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Experiment folders.
    pub dirs: Vec<ExperimentDir>,
    /// For each folder, whether its instance files are loose (`<dir>/<id>.bin`) rather than
    /// in `instances/`: decided once, so running an instance costs no extra `stat`.
    pub loose: Vec<bool>,
    /// Instances, in plan order (folders in argument order).
    pub items: Vec<Item>,
}

/// Why PATH arguments cannot be resolved.
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    /// A PATH is neither a folder nor a `.bin` file.
    #[error("{0}: no such file or folder")]
    Missing(PathBuf),
    /// A PATH holds no instance.
    #[error(
        "{0}: no instances here (expected a folder made by `ludus plan`, a folder of .bin files, or .bin files)"
    )]
    Empty(PathBuf),
    /// A file that is not named `<id>.bin`.
    #[error("{0}: not an instance file (instance files are named <16 hex digits>.bin)")]
    NotInstance(PathBuf),
    /// Reading the folder failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn dir_for_bin_folder(folder: &Path) -> ExperimentDir {
    if folder.file_name().is_some_and(|n| n == "instances") {
        ExperimentDir::new(folder.parent().unwrap_or(Path::new(".")))
    } else {
        // A loose folder of .bin files: it is its own experiment folder.
        ExperimentDir::new(folder)
    }
}

impl Selection {
    fn dir_index(&mut self, dir: ExperimentDir) -> usize {
        match self.dirs.iter().position(|d| d.root() == dir.root()) {
            Some(i) => i,
            None => {
                self.loose.push(!dir.instances_dir().is_dir());
                self.dirs.push(dir);
                self.dirs.len() - 1
            }
        }
    }

    /// Resolves PATH arguments. Duplicates (the same instance named twice) are kept once.
    pub fn resolve(paths: &[PathBuf]) -> Result<Selection, SelectError> {
        let mut sel = Selection::default();
        for p in paths {
            if p.is_file() {
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let id = name
                    .strip_suffix(".bin")
                    .and_then(InstanceId::parse)
                    .ok_or_else(|| SelectError::NotInstance(p.clone()))?;
                let dir = dir_for_bin_folder(p.parent().unwrap_or(Path::new(".")));
                let d = sel.dir_index(dir);
                sel.push(Item { dir: d, id });
                continue;
            }
            if !p.is_dir() {
                return Err(SelectError::Missing(p.clone()));
            }
            let planned = ExperimentDir::new(p);
            let (dir, ids) = if let Some(m) = planned.read_manifest()? {
                (planned, m.instances)
            } else if planned.instances_dir().is_dir() {
                let ids = planned.scan_instance_ids()?;
                (planned, ids)
            } else {
                let dir = dir_for_bin_folder(p);
                let ids = scan_bins(p)?;
                (dir, ids)
            };
            if ids.is_empty() {
                return Err(SelectError::Empty(p.clone()));
            }
            let d = sel.dir_index(dir);
            for id in ids {
                sel.push(Item { dir: d, id });
            }
        }
        Ok(sel)
    }

    fn push(&mut self, item: Item) {
        // Linear de-duplication would be quadratic on 100,000 items; ids are unique within a
        // folder, so only cross-argument repeats need a check, done with a set when needed.
        self.items.push(item);
    }

    /// Removes repeated items, keeping the first.
    pub fn dedup(&mut self) {
        let mut seen = std::collections::HashSet::with_capacity(self.items.len());
        self.items.retain(|it| seen.insert((it.dir, it.id)));
    }

    /// Keeps one group's share.
    pub fn restrict(&mut self, group: Group) {
        self.items = group.select(&self.items);
    }

    /// The path of an item's instance file.
    pub fn instance_path(&self, item: Item) -> PathBuf {
        let d = &self.dirs[item.dir];
        if self.loose[item.dir] {
            d.root().join(format!("{}.bin", item.id))
        } else {
            d.instance_path(item.id)
        }
    }
}

fn scan_bins(folder: &Path) -> Result<Vec<InstanceId>, SelectError> {
    let mut ids = Vec::new();
    let rd = std::fs::read_dir(folder).map_err(|e| StoreError::Io {
        path: folder.to_path_buf(),
        cause: e,
    })?;
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(id) = name.strip_suffix(".bin").and_then(InstanceId::parse) {
            ids.push(id);
        }
    }
    ids.sort();
    Ok(ids)
}
