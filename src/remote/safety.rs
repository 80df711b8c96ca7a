//! Path safety for everything a transfer receives: a relative name must stay inside the target
//! directory (no `..`, no absolute path, no empty or `.` component, no NUL), a symlink may only
//! point inside the target, and no file is ever written through a symlinked directory.
//!
//! A symlink's target is judged twice. [`check_symlink`] reads it as text (a first, cheap
//! filter). [`check_final_tree`] then resolves every symlink of the tree the download will leave
//! behind (the local entries, with the received ones laid over them), following the links it
//! meets the way the kernel does, so `self -> .` followed by `logs -> self/self/../..` is caught
//! although each looks harmless as text, and so is a link that only becomes harmful because a
//! later transfer adds another link below it.

use std::path::{Component, Path, PathBuf};

use super::RemoteError;
use super::listing::{Kind, Listing};

/// Suffix of the temporary names files are written under before the final rename.
pub const PART_SUFFIX: &str = ".ludus-part";
/// Directory (inside the remote target) where an upload stages files before moving them in.
pub const STAGING_DIR: &str = ".ludus-partial";

/// Checks a relative, `/`-separated name received from `side`.
pub fn check_relative(side: &str, name: &str) -> Result<(), RemoteError> {
    let refuse = |problem: &str| RemoteError::UnsafePath {
        side: side.to_string(),
        path: name.to_string(),
        problem: problem.to_string(),
    };
    if name.is_empty() {
        return Err(refuse("empty name"));
    }
    if name.starts_with('/') {
        return Err(refuse("absolute path"));
    }
    if name.contains('\0') {
        return Err(refuse("NUL byte in the name"));
    }
    for part in name.split('/') {
        match part {
            ".." => return Err(refuse("`..` component")),
            "" | "." => return Err(refuse("empty or `.` component")),
            _ => {}
        }
    }
    Ok(())
}

/// Checks that a symlink at `name` pointing to `target` stays inside the tree.
pub fn check_symlink(side: &str, name: &str, target: &str) -> Result<(), RemoteError> {
    let refuse = |problem: &str| RemoteError::UnsafePath {
        side: side.to_string(),
        path: format!("{name} -> {target}"),
        problem: problem.to_string(),
    };
    if target.is_empty() || target.starts_with('/') {
        return Err(refuse(
            "symlink to an absolute path leads outside the target",
        ));
    }
    // Depth of the link's directory, then walk the target lexically.
    let mut depth: i64 = name.split('/').count() as i64 - 1;
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return Err(refuse("symlink leads outside the target"));
                }
            }
            _ => depth += 1,
        }
    }
    Ok(())
}

/// Longest file name (one path component) the file systems ludus writes on accept, in bytes.
pub const NAME_MAX: usize = 255;

/// Most symlinks followed while resolving one name (the kernel's limit is 40).
const MAX_HOPS: usize = 40;

/// Why a symlink of the final tree is refused.
#[derive(Debug, PartialEq, Eq)]
enum Escape {
    /// Resolving it climbs above the target directory, or reaches an absolute path.
    Outside,
    /// It takes more than [`MAX_HOPS`] links (or loops).
    TooManyLinks,
}

/// Resolves the symlink at `name` in the tree `lookup` describes, following every link met on
/// the way. Components that do not exist (or are files) are taken lexically, so a link that
/// dangles today is judged by where it would lead once that name is a directory.
fn resolve(lookup: &dyn Fn(&str) -> Option<Kind>, name: &str) -> Result<(), Escape> {
    let mut stack: Vec<String> = name.split('/').map(str::to_string).collect();
    stack.pop();
    let Some(Kind::Symlink(first)) = lookup(name) else {
        return Ok(());
    };
    let mut pending: std::collections::VecDeque<String> = std::collections::VecDeque::new();
    let mut hops = 0usize;
    let mut expand =
        |target: &str, pending: &mut std::collections::VecDeque<String>| -> Result<(), Escape> {
            hops += 1;
            if hops > MAX_HOPS {
                return Err(Escape::TooManyLinks);
            }
            if target.is_empty() || target.starts_with('/') {
                return Err(Escape::Outside);
            }
            for part in target.split('/').rev() {
                pending.push_front(part.to_string());
            }
            Ok(())
        };
    expand(&first, &mut pending)?;
    while let Some(part) = pending.pop_front() {
        match part.as_str() {
            "" | "." => {}
            ".." => {
                if stack.pop().is_none() {
                    return Err(Escape::Outside);
                }
            }
            _ => {
                stack.push(part);
                if let Some(Kind::Symlink(t)) = lookup(&stack.join("/")) {
                    // A link is resolved relative to the directory holding it.
                    stack.pop();
                    expand(&t, &mut pending)?;
                }
            }
        }
    }
    Ok(())
}

/// Checks the tree a download leaves behind, before anything is written: `local` is the whole
/// local target as it is now, `received` the (filtered) remote entries laid over it, `deleted`
/// the local names `--delete` removes. Refuses
/// * a received entry below a name that is not a directory in that tree (a symlink, a file);
/// * a received symlink that, resolved in that tree (through other links, received or local),
///   leads outside the target or takes more than 40 links;
/// * a local symlink that resolved inside the target before and leads outside after (a received
///   link changed its meaning). Local links that already led outside are the user's own.
pub fn check_final_tree(
    side: &str,
    local: &Listing,
    received: &Listing,
    deleted: &std::collections::HashSet<&str>,
) -> Result<(), RemoteError> {
    let after = |n: &str| -> Option<Kind> {
        if let Some(e) = received.get(n) {
            return Some(e.kind.clone());
        }
        if deleted.contains(n) {
            return None;
        }
        local.get(n).map(|e| e.kind.clone())
    };
    let before = |n: &str| local.get(n).map(|e| e.kind.clone());
    let refuse = |name: &str, target: &str, problem: String| RemoteError::UnsafePath {
        side: side.to_string(),
        path: format!("{name} -> {target}"),
        problem,
    };
    for (name, e) in received {
        let mut p = name.as_str();
        while let Some((parent, _)) = p.rsplit_once('/') {
            match after(parent) {
                Some(Kind::Dir) | None => {}
                Some(k) => {
                    return Err(RemoteError::UnsafePath {
                        side: side.to_string(),
                        path: name.clone(),
                        problem: format!(
                            "`{parent}` is a {} in the target, not a directory; ludus does not write through it",
                            k.word()
                        ),
                    });
                }
            }
            p = parent;
        }
        if let Kind::Symlink(t) = &e.kind {
            match resolve(&after, name) {
                Ok(()) => {}
                Err(Escape::Outside) => {
                    return Err(refuse(
                        name,
                        t,
                        "resolved through the links of the target (received or already there), this symlink leads outside the target".to_string(),
                    ));
                }
                Err(Escape::TooManyLinks) => {
                    return Err(refuse(
                        name,
                        t,
                        format!(
                            "resolving this symlink takes more than {MAX_HOPS} links (a loop?)"
                        ),
                    ));
                }
            }
        }
    }
    for (name, e) in local {
        let Kind::Symlink(t) = &e.kind else { continue };
        if received.contains_key(name) || deleted.contains(name.as_str()) {
            continue;
        }
        if resolve(&before, name).is_ok() && resolve(&after, name).is_err() {
            return Err(refuse(
                name,
                t,
                "this local symlink would lead outside the target once the received links are in place".to_string(),
            ));
        }
    }
    Ok(())
}

/// Joins a checked relative name onto `root`.
pub fn join(root: &Path, name: &str) -> PathBuf {
    let mut p = root.to_path_buf();
    for part in name.split('/') {
        p.push(part);
    }
    p
}

/// The temporary base name for the base name `name`: `.NAME.ludus-part`, or, when that would
/// exceed [`NAME_MAX`] bytes, a shortened `NAME` followed by a hash of the whole name (so the
/// same file always gets the same temporary name, and an interrupted one is replaced).
pub fn part_base(name: &str) -> String {
    let plain = format!(".{name}{PART_SUFFIX}");
    if plain.len() <= NAME_MAX {
        return plain;
    }
    use sha2::Digest;
    let hash: String = sha2::Sha256::digest(name.as_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut cut = 180.min(name.len());
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!(".{}~{hash}{PART_SUFFIX}", &name[..cut])
}

/// True for names ludus uses internally (temporary files, the staging directory).
pub fn is_internal(name: &str) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name);
    name == STAGING_DIR
        || name.starts_with(".ludus-partial/")
        || (base.starts_with('.') && base.ends_with(PART_SUFFIX))
}

/// True if `p` has no `..`, root or prefix component (used for local roots given by the user).
pub fn is_plain_relative(p: &Path) -> bool {
    p.components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "a/b c/ü.txt", "..a", "a..b/c"] {
            assert!(check_relative("h", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "a/.",
            "a\0b",
        ] {
            assert!(check_relative("h", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn symlinks() {
        assert!(check_symlink("h", "a/link", "../b").is_ok());
        assert!(check_symlink("h", "a/link", "x/../y").is_ok());
        assert!(check_symlink("h", "link", "../b").is_err());
        assert!(check_symlink("h", "a/link", "../../b").is_err());
        assert!(check_symlink("h", "a/link", "/etc").is_err());
    }

    fn tree(items: &[(&str, Option<&str>)]) -> Listing {
        items
            .iter()
            .map(|(n, link)| {
                (
                    n.to_string(),
                    super::super::listing::Entry {
                        name: n.to_string(),
                        kind: match link {
                            Some(t) => Kind::Symlink(t.to_string()),
                            None => Kind::Dir,
                        },
                        size: 0,
                        mtime: 0,
                        mode: 0o755,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn final_tree_resolves_links_through_links() {
        let none = std::collections::HashSet::new();
        let empty = Listing::new();
        // Each link is harmless as text; together they climb out.
        let evil = tree(&[("self", Some(".")), ("logs", Some("self/self/../.."))]);
        assert!(check_final_tree("h", &empty, &evil, &none).is_err());
        let evil = tree(&[("a", Some("b/..")), ("b", Some("."))]);
        assert!(check_final_tree("h", &empty, &evil, &none).is_err());
        // The first link already in the target, the second received later.
        let old = tree(&[("a", Some("b/.."))]);
        let new = tree(&[("b", Some("."))]);
        assert!(check_final_tree("h", &old, &new, &none).is_err());
        let looped = tree(&[("x", Some("y")), ("y", Some("x"))]);
        assert!(check_final_tree("h", &empty, &looped, &none).is_err());
        // A received entry below a local symlink.
        let local = tree(&[("d", Some("/elsewhere"))]);
        let below = tree(&[("d/x", None)]);
        assert!(check_final_tree("h", &local, &below, &none).is_err());
        // Links inside the tree, links to links, and the user's own outside link are fine.
        let ok = tree(&[
            ("d", None),
            ("d/e", None),
            ("latest", Some("d/e")),
            ("again", Some("latest/..")),
            ("self", Some(".")),
            ("d/up", Some("../self/d")),
        ]);
        assert!(check_final_tree("h", &empty, &ok, &none).is_ok());
        let users = tree(&[("data", Some("/big/disk"))]);
        assert!(check_final_tree("h", &users, &ok, &none).is_ok());
        // ... but a received link into it is not.
        let into = tree(&[("x", Some("data"))]);
        assert!(check_final_tree("h", &users, &into, &none).is_err());
    }

    #[test]
    fn long_names_get_short_temporary_names() {
        let long = "x".repeat(250);
        let t = part_base(&long);
        assert!(t.len() <= NAME_MAX, "{}", t.len());
        assert!(is_internal(&t));
        assert_eq!(t, part_base(&long), "deterministic");
        assert_ne!(t, part_base(&"x".repeat(251)));
        let wide = "é".repeat(125);
        assert!(part_base(&wide).len() <= NAME_MAX);
        assert_eq!(part_base("f.txt"), ".f.txt.ludus-part");
    }

    #[test]
    fn internal() {
        assert!(is_internal(".ludus-partial"));
        assert!(is_internal(".ludus-partial/a"));
        assert!(is_internal("d/.f.txt.ludus-part"));
        assert!(!is_internal("d/f.txt"));
    }
}
