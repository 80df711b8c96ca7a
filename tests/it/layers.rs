//! The module graph of `src/`, read from the source: no import circle between files, and no
//! module importing a module of a higher layer (the layer list is the one documented in
//! `src/lib.rs`, so the doc and this test cannot disagree).
//!
//! What counts as an import: every `use` path and every `crate::`/`super::` path in the code,
//! resolved to the file that defines the item (following `pub use` re-exports), outside
//! comments and `#[cfg(test)]` modules. A `mod.rs` using or re-exporting its own submodules is
//! structure, not an import; a submodule using its parent's items is an import.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One source file: its module path and the absolute paths of everything it names.
struct File {
    rel: String,
    module: Vec<String>,
    /// Names bound by its `pub use` items: name -> absolute path.
    reexports: BTreeMap<String, Vec<String>>,
    /// Absolute paths it uses.
    uses: Vec<Vec<String>>,
}

/// The graph of a source tree: file -> files it imports.
struct Graph {
    files: Vec<File>,
    edges: BTreeMap<usize, BTreeSet<usize>>,
}

fn module_of(rel: &Path) -> Option<Vec<String>> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop()?;
    let stem = last.strip_suffix(".rs")?;
    match stem {
        "main" if parts.is_empty() => None,
        "lib" if parts.is_empty() => Some(vec![]),
        "mod" => Some(parts),
        s => {
            parts.push(s.to_string());
            Some(parts)
        }
    }
}

/// The code without comments, string contents and `#[cfg(test)]` modules.
fn code_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let b: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < b.len() {
        if b[i] == '/' && b.get(i + 1) == Some(&'/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if b[i] == '/' && b.get(i + 1) == Some(&'*') {
            while i + 1 < b.len() && !(b[i] == '*' && b[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if b[i] == '"' {
            // A raw string r#"..."# is rare in these files; plain strings are skipped whole.
            let raw = i > 0 && b[i - 1] == '#';
            out.push('"');
            i += 1;
            while i < b.len() {
                if !raw && b[i] == '\\' {
                    i += 2;
                    continue;
                }
                if b[i] == '"' && (!raw || b.get(i + 1) == Some(&'#')) {
                    break;
                }
                i += 1;
            }
            out.push('"');
            i += 1;
        } else if b[i] == '\'' && b.get(i + 2) == Some(&'\'') {
            // A char literal such as '"' or '{'.
            out.push_str("' '");
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    // Unit tests may use any layer (a round trip through the store, say).
    let mut kept = String::new();
    let mut lines = out.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]"
            && lines
                .peek()
                .is_some_and(|n| n.trim_start().starts_with("mod "))
        {
            break;
        }
        kept.push_str(line);
        kept.push('\n');
    }
    kept
}

/// Expands a use tree (`a::{b, c::{d as e}, self}`) into (path, bound name) pairs.
fn expand_tree(tree: &str) -> Vec<(Vec<String>, Option<String>)> {
    fn split_top(s: &str) -> Vec<&str> {
        let mut parts = Vec::new();
        let (mut depth, mut start) = (0, 0);
        for (i, c) in s.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    parts.push(&s[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        parts.push(&s[start..]);
        parts.into_iter().filter(|p| !p.trim().is_empty()).collect()
    }
    fn go(prefix: &[String], tree: &str, out: &mut Vec<(Vec<String>, Option<String>)>) {
        let tree = tree.trim();
        if let Some(open) = tree.find('{') {
            let head: Vec<String> = tree[..open]
                .split("::")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
            let mut p = prefix.to_vec();
            p.extend(head);
            for part in split_top(inner) {
                go(&p, part, out);
            }
            return;
        }
        let (path, alias) = match tree.split_once(" as ") {
            Some((p, a)) => (p.trim(), Some(a.trim().to_string())),
            None => (tree, None),
        };
        let mut p = prefix.to_vec();
        for seg in path.split("::").map(str::trim) {
            if seg == "self" {
                continue;
            }
            p.push(seg.to_string());
        }
        let name = alias.or_else(|| p.last().cloned()).filter(|n| n != "*");
        out.push((p, name));
    }
    let mut out = Vec::new();
    go(&[], tree, &mut out);
    out
}

/// Makes a path absolute (from the crate root), given the module it is written in.
fn absolute(
    module: &[String],
    path: &[String],
    children: &BTreeSet<String>,
) -> Option<Vec<String>> {
    let first = path.first()?;
    let mut base: Vec<String> = module.to_vec();
    let mut rest = path;
    match first.as_str() {
        "crate" => {
            base.clear();
            rest = &path[1..];
        }
        "super" | "self" => {
            while let Some(s) = rest.first() {
                match s.as_str() {
                    "super" => {
                        base.pop()?;
                    }
                    "self" => {}
                    _ => break,
                }
                rest = &rest[1..];
            }
        }
        // A path relative to the current module: its own submodule.
        name if children.contains(name) => {}
        // std, a dependency, or a name in scope: not a file of this crate.
        _ => return None,
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

fn paths_in_code(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    for start in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(pos) = code[from..].find(start) {
            let at = from + pos;
            from = at + start.len();
            if at > 0
                && (bytes[at - 1].is_ascii_alphanumeric()
                    || bytes[at - 1] == b'_'
                    || bytes[at - 1] == b':')
            {
                continue;
            }
            let end = code[at..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .map_or(code.len(), |e| at + e);
            let segs: Vec<String> = code[at..end]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            out.push(segs);
        }
    }
    out
}

fn read_tree(src: &Path) -> Vec<(String, Vec<String>, String)> {
    let mut files = Vec::new();
    for e in walkdir::WalkDir::new(src)
        .into_iter()
        .filter_map(Result::ok)
    {
        let p = e.path();
        if p.extension().is_none_or(|x| x != "rs") {
            continue;
        }
        let rel = p.strip_prefix(src).expect("inside").to_path_buf();
        if let Some(module) = module_of(&rel) {
            let text = std::fs::read_to_string(p).expect("read a source file");
            files.push((rel.display().to_string(), module, text));
        }
    }
    files.sort();
    files
}

fn build(src: &Path) -> Graph {
    let raw = read_tree(src);
    let modules: BTreeSet<Vec<String>> = raw.iter().map(|f| f.1.clone()).collect();
    let mut files = Vec::new();
    for (rel, module, text) in &raw {
        let children: BTreeSet<String> = modules
            .iter()
            .filter(|m| m.len() == module.len() + 1 && m.starts_with(module))
            .map(|m| m[module.len()].clone())
            .collect();
        let code = code_of(text);
        let mut uses = Vec::new();
        let mut reexports = BTreeMap::new();
        // `use` items, up to their `;`.
        let mut rest = code.as_str();
        while let Some(pos) = rest.find("use ") {
            let before = &rest[..pos];
            let ok = before.is_empty()
                || before.ends_with(|c: char| {
                    c.is_whitespace() || c == ';' || c == '{' || c == '}' || c == ')'
                });
            let after = &rest[pos + 4..];
            let Some(semi) = after.find(';') else { break };
            if ok {
                let line_start = before.rfind('\n').map_or(0, |n| n + 1);
                let public = before[line_start..].trim_start().starts_with("pub");
                for (path, name) in expand_tree(&after[..semi]) {
                    if let Some(abs) = absolute(module, &path, &children) {
                        if public && let Some(n) = name {
                            reexports.insert(n, abs.clone());
                        }
                        uses.push(abs);
                    }
                }
                rest = &after[semi..];
            } else {
                rest = after;
            }
        }
        for p in paths_in_code(&code) {
            if let Some(abs) = absolute(module, &p, &children) {
                uses.push(abs);
            }
        }
        files.push(File {
            rel: rel.clone(),
            module: module.clone(),
            reexports,
            uses,
        });
    }
    let index: BTreeMap<Vec<String>, usize> = files
        .iter()
        .enumerate()
        .map(|(i, f)| (f.module.clone(), i))
        .collect();
    let resolve = |path: &[String]| -> Option<usize> {
        let mut path = path.to_vec();
        for _ in 0..16 {
            let (n, &f) = (0..=path.len())
                .rev()
                .find_map(|n| index.get(&path[..n]).map(|f| (n, f)))?;
            match path.get(n).and_then(|name| files[f].reexports.get(name)) {
                Some(target) if *target != path => {
                    let mut next = target.clone();
                    next.extend(path[n + 1..].iter().cloned());
                    path = next;
                }
                _ => return Some(f),
            }
        }
        None
    };
    let mut edges: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    for (i, f) in files.iter().enumerate() {
        for u in &f.uses {
            let Some(t) = resolve(u) else { continue };
            // A module's own file using or re-exporting its submodules is structure.
            if t == i || files[t].module.starts_with(&f.module) {
                continue;
            }
            edges.entry(i).or_default().insert(t);
        }
    }
    Graph { files, edges }
}

/// Files that import each other, directly or around a circle (Tarjan's strongly connected
/// components of more than one file).
fn circles(g: &Graph) -> Vec<Vec<String>> {
    struct T<'a> {
        g: &'a Graph,
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit(t: &mut T<'_>, v: usize) {
        t.index[v] = Some(t.next);
        t.low[v] = t.next;
        t.next += 1;
        t.stack.push(v);
        t.on[v] = true;
        let succ: Vec<usize> = t.g.edges.get(&v).into_iter().flatten().copied().collect();
        for w in succ {
            match t.index[w] {
                None => {
                    visit(t, w);
                    t.low[v] = t.low[v].min(t.low[w]);
                }
                Some(iw) if t.on[w] => t.low[v] = t.low[v].min(iw),
                _ => {}
            }
        }
        if Some(t.low[v]) == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on[w] = false;
                comp.push(t.g.files[w].rel.clone());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.out.push(comp);
            }
        }
    }
    let n = g.files.len();
    let mut t = T {
        g,
        index: vec![None; n],
        low: vec![0; n],
        on: vec![false; n],
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in 0..n {
        if t.index[v].is_none() {
            visit(&mut t, v);
        }
    }
    t.out
}

/// The layer list of `lib.rs`: the doc line after "Layers, lowest first".
fn layers(lib: &str) -> Vec<Vec<String>> {
    let lib = lib.replace("//!", " ");
    let after = lib
        .split_once("Layers, lowest first")
        .expect("lib.rs documents the layers")
        .1;
    let list = after.split_once(':').expect("a colon before the list").1;
    let list = &list[..list.find('.').expect("the list ends with a full stop")];
    list.split('|')
        .map(|layer| {
            layer
                .split(',')
                .map(|m| {
                    m.trim()
                        .trim_matches(|c: char| c == '`' || c.is_whitespace() || c == '/')
                        .to_string()
                })
                .filter(|m| !m.is_empty())
                .collect()
        })
        .collect()
}

/// Imports of a module of a higher layer, as "file -> file (layer a < layer b)" lines; and
/// top-level modules missing from the layer list.
fn upward(g: &Graph, layers: &[Vec<String>]) -> Vec<String> {
    let layer_of = |m: &str| layers.iter().position(|l| l.iter().any(|x| x == m));
    let mut out = Vec::new();
    for f in &g.files {
        if let Some(top) = f.module.first()
            && layer_of(top).is_none()
        {
            out.push(format!(
                "{}: module `{top}` is in no layer of lib.rs",
                f.rel
            ));
        }
    }
    for (&from, tos) in &g.edges {
        let Some(a) = g.files[from].module.first() else {
            continue;
        };
        for &to in tos {
            let Some(b) = g.files[to].module.first() else {
                continue;
            };
            if let (Some(la), Some(lb)) = (layer_of(a), layer_of(b))
                && lb > la
            {
                out.push(format!(
                    "{} -> {} (`{a}` is below `{b}`)",
                    g.files[from].rel, g.files[to].rel
                ));
            }
        }
    }
    out
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn no_import_circle_between_files() {
    let g = build(&src());
    assert!(g.files.len() > 50, "read {} files", g.files.len());
    let found = circles(&g);
    assert!(found.is_empty(), "files that import each other: {found:#?}");
}

#[test]
fn no_module_imports_a_higher_layer() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).expect("lib.rs");
    let layers = layers(&lib);
    assert!(layers.len() >= 5, "{layers:?}");
    let g = build(&src());
    let found = upward(&g, &layers);
    assert!(
        found.is_empty(),
        "imports against the layer order: {found:#?}"
    );
}

/// Imports between the command line's verbs (files with a `pub fn run...`): a verb uses the
/// library and the command line's shared modules, never another verb.
fn verb_imports(g: &Graph, src: &Path) -> Vec<String> {
    let is_verb = |f: &File| {
        f.module.first().is_some_and(|m| m == "cli")
            && std::fs::read_to_string(src.join(&f.rel))
                .is_ok_and(|t| t.lines().any(|l| l.starts_with("pub fn run")))
    };
    let mut out = Vec::new();
    for (&from, tos) in &g.edges {
        for &to in tos {
            if is_verb(&g.files[from]) && is_verb(&g.files[to]) {
                out.push(format!("{} -> {}", g.files[from].rel, g.files[to].rel));
            }
        }
    }
    out
}

#[test]
fn no_verb_imports_another_verb() {
    let g = build(&src());
    let found = verb_imports(&g, &src());
    assert!(found.is_empty(), "verbs importing verbs: {found:#?}");
}

#[test]
fn the_checks_see_a_planted_circle_and_an_upward_import() {
    let d = crate::support::Dir::new();
    d.write(
        "src/lib.rs",
        "//! Layers, lowest first: `low` | `high`.\npub mod low;\npub mod high;\n",
    );
    d.write(
        "src/low/mod.rs",
        "pub mod a;\npub mod b;\npub use a::A;\n// use crate::high::H;\n",
    );
    d.write("src/low/a.rs", "use super::b::{self, B};\npub struct A;\n");
    d.write(
        "src/low/b.rs",
        "pub struct B;\npub fn f() -> crate::low::A { crate::high::h(); super::A }\n",
    );
    d.write(
        "src/high.rs",
        "pub struct H;\npub fn h() {}\n#[cfg(test)]\nmod tests { use crate::low::b; }\n",
    );
    let g = build(&d.join("src"));
    assert_eq!(
        circles(&g),
        vec![vec!["low/a.rs".to_string(), "low/b.rs".to_string()]],
        "b reaches a through the re-export in low/mod.rs"
    );
    let lib = std::fs::read_to_string(d.join("src/lib.rs")).unwrap();
    assert_eq!(
        upward(&g, &layers(&lib)),
        vec!["low/b.rs -> high.rs (`low` is below `high`)".to_string()]
    );
}
