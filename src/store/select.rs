//! Which instances a run covers: PATH arguments resolved to experiment folders and ids.
//!
//! A PATH is a planned folder (its manifest gives the ids in plan order; without a manifest,
//! every `instances/*.bin`, sorted), a folder of `.bin` files, or single `.bin` files. Logs go to
//! the experiment folder's `logs/`: for `X/instances/` or a file inside it, that is `X/logs/`;
//! for any other folder of `.bin` files, `that folder/logs/`.

use std::collections::HashSet;
use std::path::PathBuf;

use super::{Experiment, InstanceState, StatusKind, StoreError};
use crate::plan::group::Group;
use crate::plan::{Instance, InstanceId};

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
    pub dirs: Vec<Experiment>,
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

impl Selection {
    fn dir_index(&mut self, dir: Experiment) -> usize {
        match self.dirs.iter().position(|d| d.root() == dir.root()) {
            Some(i) => i,
            None => {
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
                let (dir, id) = Experiment::for_instance_file(p)
                    .ok_or_else(|| SelectError::NotInstance(p.clone()))?;
                let d = sel.dir_index(dir);
                sel.push(Item { dir: d, id });
                continue;
            }
            if !p.is_dir() {
                return Err(SelectError::Missing(p.clone()));
            }
            let (dir, ids) = Experiment::open_folder(p)?;
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
        self.dirs[item.dir].instance_path(item.id)
    }

    /// Reads an item's instance.
    pub fn read_instance(&self, item: Item) -> Result<Instance, StoreError> {
        self.dirs[item.dir].read_instance(item.id)
    }

    /// The items that still need running (no status, or `interrupted`, or `error` when
    /// `retry_errors`), and how many were skipped because they ended in `error`. Lists each
    /// folder's results once.
    pub fn pending(&self, retry_errors: bool) -> Result<(Vec<Item>, usize), StoreError> {
        let with_status = self
            .dirs
            .iter()
            .map(Experiment::result_ids)
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = Vec::with_capacity(self.items.len());
        let mut errors = 0;
        for &it in &self.items {
            if !with_status[it.dir].contains(&it.id) {
                out.push(it);
                continue;
            }
            let finished = match self.dirs[it.dir].read_status(it.id) {
                Ok(Some(s)) => match s.status {
                    StatusKind::Done | StatusKind::Timeout => true,
                    StatusKind::Error => {
                        errors += usize::from(!retry_errors);
                        !retry_errors
                    }
                    StatusKind::Interrupted => false,
                },
                // A status that vanished or does not parse is not a result: run again.
                Ok(None) | Err(_) => false,
            };
            if !finished {
                out.push(it);
            }
        }
        Ok((out, errors))
    }

    /// Every item with its state, its final status if it has one, and its instance (from the
    /// status, else from its file), for `status`. Running instances are those whose claim has
    /// a live owner (on another host: a lease not run out); `_me` (this host's name) is no
    /// longer needed for that.
    pub fn states(&self, _me: &str) -> Vec<ItemState> {
        let running: Vec<HashSet<InstanceId>> =
            self.dirs.iter().map(Experiment::running_ids).collect();
        self.items
            .iter()
            .map(|&item| {
                let status = self.dirs[item.dir].read_status(item.id).ok().flatten();
                let instance = match &status {
                    Some(s) => Ok(s.instance.clone()),
                    None => self.read_instance(item),
                };
                let kind = status.as_ref().map(|s| s.status);
                let state = if kind.is_none_or(|k| k == StatusKind::Interrupted)
                    && running[item.dir].contains(&item.id)
                {
                    InstanceState::Running
                } else {
                    match kind {
                        Some(k) => InstanceState::Finished(k),
                        None if instance.is_err() => InstanceState::Broken,
                        None => InstanceState::Pending,
                    }
                };
                ItemState {
                    item,
                    state,
                    status,
                    instance,
                }
            })
            .collect()
    }
}

/// What [`Selection::states`] says of one item.
#[derive(Debug)]
pub struct ItemState {
    /// The item.
    pub item: Item,
    /// Its state.
    pub state: InstanceState,
    /// Its final status, if it has one.
    pub status: Option<super::Status>,
    /// Its instance (from the status, else from its file), or why the file is unusable.
    pub instance: Result<Instance, StoreError>,
}
