//! Decide what a transfer has to do: which files and symlinks to send, which directories to
//! create, which already match (size and whole-second modification time, or content hash with
//! `--checksum`), which an interrupted upload already staged (resume), and, only with
//! `--delete`, which names on the receiving side have no counterpart at the source.

use super::RemoteError;
use super::listing::{Entry, Kind, Listing};

/// What one transfer will do.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Files and symlinks to send, in name order.
    pub send: Vec<Entry>,
    /// Files an interrupted upload already staged completely: installed without sending.
    pub resumed: Vec<Entry>,
    /// Directories missing on the receiving side.
    pub dirs: Vec<Entry>,
    /// Files and symlinks that already match.
    pub skipped: u64,
    /// Names to delete on the receiving side (files and links first, then directories,
    /// deepest first). Empty unless deletion was asked for.
    pub delete: Vec<Entry>,
    /// Bytes in `send`.
    pub bytes: u64,
}

impl Plan {
    /// True if nothing at all needs to change.
    pub fn is_empty(&self) -> bool {
        self.send.is_empty()
            && self.resumed.is_empty()
            && self.dirs.is_empty()
            && self.delete.is_empty()
    }
}

/// Compares by size and whole-second modification time; symlinks by target.
pub fn same_by_time(a: &Entry, b: &Entry) -> bool {
    match (&a.kind, &b.kind) {
        (Kind::File, Kind::File) => a.size == b.size && a.mtime == b.mtime,
        (Kind::Symlink(x), Kind::Symlink(y)) => x == y,
        _ => false,
    }
}

/// Builds the plan. `source` and `dest` are already filtered; `staged` is what an interrupted
/// upload left in the staging area; `same` says whether two entries of one name match.
pub fn make_plan(
    source: &Listing,
    dest: &Listing,
    staged: &Listing,
    same: &dyn Fn(&Entry, &Entry) -> bool,
    delete: bool,
) -> Result<Plan, RemoteError> {
    let mut plan = Plan::default();
    for (name, s) in source {
        let d = dest.get(name);
        if let Some(d) = d {
            let conflict = (s.kind == Kind::Dir) != (d.kind == Kind::Dir);
            if conflict {
                return Err(RemoteError::KindConflict {
                    path: name.clone(),
                    source_kind: s.kind.word(),
                    dest_kind: d.kind.word(),
                });
            }
        }
        match (&s.kind, d) {
            (Kind::Dir, Some(_)) => {}
            (Kind::Dir, None) => plan.dirs.push(s.clone()),
            (_, Some(d)) if same(s, d) => plan.skipped += 1,
            _ => {
                if staged
                    .get(name)
                    .is_some_and(|st| s.kind == Kind::File && same_by_time(s, st))
                {
                    plan.resumed.push(s.clone());
                } else {
                    plan.bytes += s.size;
                    plan.send.push(s.clone());
                }
            }
        }
    }
    if delete {
        let gone = dest.values().filter(|d| !source.contains_key(&d.name));
        let (dirs, others): (Vec<&Entry>, Vec<&Entry>) = gone.partition(|d| d.kind == Kind::Dir);
        plan.delete.extend(others.into_iter().cloned());
        plan.delete.extend(dirs.into_iter().rev().cloned());
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(name: &str, kind: Kind, size: u64, mtime: i64) -> (String, Entry) {
        (
            name.to_string(),
            Entry {
                name: name.to_string(),
                kind,
                size,
                mtime,
                mode: 0o644,
            },
        )
    }

    #[test]
    fn decides() {
        let src: Listing = [
            e("d", Kind::Dir, 0, 0),
            e("d/a", Kind::File, 3, 10),
            e("b", Kind::File, 5, 10),
            e("c", Kind::File, 7, 10),
            e("new", Kind::Dir, 0, 0),
        ]
        .into_iter()
        .collect();
        let dst: Listing = [
            e("d", Kind::Dir, 0, 5),
            e("d/a", Kind::File, 3, 10),
            e("b", Kind::File, 5, 11),
            e("old", Kind::File, 1, 1),
            e("olddir", Kind::Dir, 0, 1),
        ]
        .into_iter()
        .collect();
        let staged: Listing = [e("c", Kind::File, 7, 10)].into_iter().collect();
        let p = make_plan(&src, &dst, &staged, &same_by_time, false).expect("plan");
        assert_eq!(p.skipped, 1);
        assert_eq!(
            p.send.iter().map(|x| x.name.as_str()).collect::<Vec<_>>(),
            vec!["b"]
        );
        assert_eq!(p.resumed.len(), 1);
        assert_eq!(p.dirs.len(), 1);
        assert_eq!(p.bytes, 5);
        assert!(p.delete.is_empty(), "no deletion unless asked");
        let p = make_plan(&src, &dst, &Listing::new(), &same_by_time, true).expect("plan");
        assert_eq!(
            p.delete.iter().map(|x| x.name.as_str()).collect::<Vec<_>>(),
            vec!["old", "olddir"]
        );
    }

    #[test]
    fn kind_conflict() {
        let src: Listing = [e("x", Kind::File, 1, 1)].into_iter().collect();
        let dst: Listing = [e("x", Kind::Dir, 0, 1)].into_iter().collect();
        assert!(matches!(
            make_plan(&src, &dst, &Listing::new(), &same_by_time, false),
            Err(RemoteError::KindConflict { .. })
        ));
    }
}
