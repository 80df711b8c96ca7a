//! Only `src/store/` knows the experiment folder's layout: no other module names a layout path
//! (`logs`, `instances`, `attic`, `runs`, `manifest.json`, running lists, `.bin` names) or
//! parses a status file. This test reads the sources and fails on the first module that does.

use std::path::{Path, PathBuf};

/// Patterns that only the store may write: layout names as string literals, path joins and
/// file-name tests on result files, and the analysis's old private status types.
const FORBIDDEN: &[&str] = &[
    "\"logs\"",
    "\"instances\"",
    "\"attic\"",
    "\"runs\"",
    "\"manifest.json\"",
    "\"logs/",
    "\"attic/",
    "\"runs/",
    "\"instances/",
    "/logs\"",
    "/instances\"",
    "\".claim-",
    ".bin\"",
    "strip_suffix(\".json\")",
    "ends_with(\".csv\")",
    "struct StatusFile",
    "enum RunState",
    "from_slice::<Status",
    "from_str::<Status",
];

/// Literals that are not layout paths although they spell a layout name (a table column).
const COLUMN_NAMES: &[(&str, &str)] = &[
    ("src/report/csv.rs", "\"runs\""),
    ("src/cli/ranking.rs", "\"runs\""),
];

/// The forbidden patterns in one file's code: comments, attributes (help texts) and the
/// `#[cfg(test)]` module at the end are not code that touches a folder.
fn violations(rel: &str, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]") {
            break;
        }
        if t.starts_with("//") || t.starts_with("#[") || t.starts_with("#![") {
            continue;
        }
        for pat in FORBIDDEN {
            let allowed = COLUMN_NAMES
                .iter()
                .any(|&(f, p)| f == rel && p == *pat && t.starts_with(p));
            if line.contains(pat) && !allowed {
                out.push(format!("{rel}:{}: `{pat}` in `{}`", n + 1, line.trim()));
            }
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn only_the_store_names_layout_paths() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files.sort();
    assert!(files.len() > 50, "the sources were not found");
    let mut found = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        if rel.starts_with("src/store/") {
            continue;
        }
        found.extend(violations(&rel, &std::fs::read_to_string(f).unwrap()));
    }
    assert!(
        found.is_empty(),
        "only src/store/ may know the folder layout; found:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_scan_catches_a_layout_join_and_status_parsing() {
    let bad = "fn f(d: &Path) {\n    let l = d.join(\"logs\");\n    let s = serde_json::from_slice::<Status>(&b);\n}\n";
    assert_eq!(violations("src/exec/x.rs", bad).len(), 2);
    let comment =
        "// d.join(\"logs\")\n#[command(after_help = \"ludus show x/instances/a.bin\")]\n";
    assert!(violations("src/exec/x.rs", comment).is_empty());
    assert_eq!(violations("src/report/x.rs", "    \"runs\",\n").len(), 1);
    assert!(violations("src/report/csv.rs", "    \"runs\",\n").is_empty());
}
