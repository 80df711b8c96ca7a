//! Path safety for everything a transfer receives: a relative name must stay inside the target
//! directory (no `..`, no absolute path, no empty or `.` component, no NUL), a symlink may only
//! point inside the target, and no file is ever written through a symlinked directory.

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

/// Joins a checked relative name onto `root`.
pub fn join(root: &Path, name: &str) -> PathBuf {
    let mut p = root.to_path_buf();
    for part in name.split('/') {
        p.push(part);
    }
    p
}

/// Creates the parent directories of `root/name`, refusing to go through any symlink.
pub fn prepare_parents(root: &Path, name: &str) -> Result<(), RemoteError> {
    let mut dir = root.to_path_buf();
    let parts: Vec<&str> = name.split('/').collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        dir.push(part);
        match std::fs::symlink_metadata(&dir) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(RemoteError::UnsafePath {
                    side: "local directory".to_string(),
                    path: name.to_string(),
                    problem: format!(
                        "{} is a symlink; ludus does not write through symlinks",
                        dir.display()
                    ),
                });
            }
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(RemoteError::KindConflict {
                    path: name.to_string(),
                    source_kind: "directory",
                    dest_kind: "file",
                });
            }
            Err(_) => std::fs::create_dir(&dir).map_err(|e| RemoteError::io(&dir, e))?,
        }
    }
    Ok(())
}

/// The temporary name a file is written under before its final rename.
pub fn part_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}{PART_SUFFIX}"))
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
    fn internal() {
        assert!(is_internal(".ludus-partial"));
        assert!(is_internal(".ludus-partial/a"));
        assert!(is_internal("d/.f.txt.ludus-part"));
        assert!(!is_internal("d/f.txt"));
        assert_eq!(
            part_name(Path::new("/r/a/f.txt")),
            PathBuf::from("/r/a/.f.txt.ludus-part")
        );
    }
}
