//! The tree a download leaves behind, judged before anything is written: every symlink in it
//! (what is already in the local target, with the received entries on top) is resolved the way
//! the kernel does, following the links it meets, and refused when it leads outside the target.

use super::RemoteError;
use super::listing::{Kind, Listing};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
