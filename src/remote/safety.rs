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
