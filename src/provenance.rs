//! Capturing provenance: the git state of a folder (commit, dirty flag, a hash of the diff),
//! asked of `git` as a subprocess. No git, or a folder outside a repository, is recorded as
//! such, never an error.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

use crate::plan::Plan;
use crate::store::{CodeState, Provenance};

/// Runs `git -C dir ARGS`; `Err(note)` when git is absent or fails.
fn git(dir: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => "git not found".to_string(),
            _ => format!("git could not run: {e}"),
        })?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

fn text(b: Vec<u8>) -> String {
    String::from_utf8_lossy(&b).trim().to_string()
}

/// The git state of the code in `dir` now.
pub fn capture(dir: &Path) -> CodeState {
    let abs = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut s = CodeState {
        path: abs.to_string_lossy().into_owned(),
        ..CodeState::default()
    };
    let top = match git(&abs, &["rev-parse", "--show-toplevel"]) {
        Ok(t) => text(t),
        Err(e) => {
            s.note = Some(if e == "git not found" || e.starts_with("git could not") {
                e
            } else {
                "not a git repository".into()
            });
            return s;
        }
    };
    s.repo = Some(top);
    match git(&abs, &["rev-parse", "--verify", "-q", "HEAD"]) {
        Ok(c) => s.commit = Some(text(c)),
        Err(_) => s.note = Some("no commit yet".into()),
    }
    let Ok(porcelain) = git(&abs, &["status", "--porcelain", "--untracked-files=all"]) else {
        return s;
    };
    let dirty = !porcelain.is_empty();
    s.dirty = Some(dirty);
    if dirty {
        let mut h = blake3::Hasher::new();
        if s.commit.is_some()
            && let Ok(diff) = git(&abs, &["diff", "HEAD", "--binary"])
        {
            h.update(&diff);
        }
        h.update(&porcelain);
        s.diff_hash = Some(h.finalize().to_hex()[..16].to_string());
    }
    s
}

/// Like [`capture`], asked once per folder per process (a run asks for every instance).
pub fn capture_cached(dir: &Path) -> CodeState {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, CodeState>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(s) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(dir) {
        return s.clone();
    }
    let s = capture(dir);
    cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(dir.to_path_buf(), s.clone());
    s
}

/// The provenance of a plan of the spec at `spec_path`.
pub fn of_plan(spec_path: &Path, plan: &Plan) -> Provenance {
    let spec_dir = match spec_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut seen = Vec::new();
    for (_, e) in &plan.experiments {
        if !seen.contains(&e.workdir_abs) {
            seen.push(e.workdir_abs.clone());
        }
    }
    Provenance {
        ludus_version: env!("CARGO_PKG_VERSION").to_string(),
        host: crate::store::hostname(),
        spec: capture(&spec_dir),
        workdirs: seen.iter().map(|d| capture(Path::new(d))).collect(),
    }
}

/// The recorded code that differs from the code now present: (what, recorded, now), one entry
/// per folder whose commit or diff changed.
pub fn changes(recorded: &Provenance) -> Vec<(String, CodeState, CodeState)> {
    let mut out = Vec::new();
    for (what, old) in std::iter::once(("spec folder", &recorded.spec))
        .chain(recorded.workdirs.iter().map(|w| ("experiment workdir", w)))
    {
        if old.repo.is_none() {
            continue;
        }
        let now = capture_cached(Path::new(&old.path));
        if old.differs_from(&now) {
            out.push((format!("{what} {}", old.path), old.clone(), now));
        }
    }
    out
}

/// Resolves a command's first word as the shell would: a word with a `/` against `workdir`,
/// any other word on `PATH`.
pub fn resolve_program(word: &str, workdir: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let exe = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    let found = if word.contains('/') {
        let p = workdir.join(word);
        exe(&p).then_some(p)
    } else {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .map(|d| d.join(word))
            .find(|p| exe(p))
    }?;
    Some(
        std::fs::canonicalize(&found)
            .unwrap_or(found)
            .to_string_lossy()
            .into_owned(),
    )
}
