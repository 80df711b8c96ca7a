//! Turns a spec tree into a `Spec`, or into a `SpecError` naming file, key and line.

use std::collections::BTreeSet;
use std::path::Path;

use super::node::{Node, NodeKind};
use super::sweep::{Dist, MAX_INSTANCES, Sample, Sweep};
use super::{AgentEntry, MdpEntry, Spec, SpecError};
use crate::value::{Params, Value};

const TOP_KEYS: &[&str] = &[
    "name",
    "description",
    "seeds",
    "steps",
    "log_every",
    "time_limit",
    "agent",
    "mdp",
    "experiment",
    "resources",
];
const AGENT_KEYS: &[&str] = &["name", "params", "grid", "zip", "sample"];
const MDP_KEYS: &[&str] = &["family", "episodic", "params", "grid", "zip", "sample"];
const DISTS: &[&str] = &["uniform", "log_uniform", "int", "log_int", "choice"];

pub(super) struct Cx<'a> {
    pub(super) file: &'a Path,
}

pub(super) type R<T> = Result<T, SpecError>;

impl Cx<'_> {
    pub(super) fn err<T>(
        &self,
        key: &str,
        line: Option<usize>,
        message: impl Into<String>,
    ) -> R<T> {
        Err(SpecError {
            file: self.file.to_path_buf(),
            key: key.to_string(),
            line,
            message: message.into(),
        })
    }

    pub(super) fn table<'n>(&self, key: &str, n: &'n Node) -> R<&'n [(String, Node)]> {
        match &n.kind {
            NodeKind::Table(t) => Ok(t),
            _ => self.err(
                key,
                n.line,
                format!("expected a table, found {}", n.type_name()),
            ),
        }
    }

    /// Refuses keys outside `allowed`, and duplicate keys (possible in YAML).
    pub(super) fn known_keys(&self, prefix: &str, t: &[(String, Node)], allowed: &[&str]) -> R<()> {
        let mut seen = BTreeSet::new();
        for (k, n) in t {
            if !allowed.contains(&k.as_str()) {
                return self.err(
                    &join(prefix, k),
                    n.line,
                    format!("unknown key; expected one of: {}", allowed.join(", ")),
                );
            }
            if !seen.insert(k) {
                return self.err(&join(prefix, k), n.line, "the key appears twice");
            }
        }
        Ok(())
    }

    fn uint(&self, key: &str, n: &Node, min: u64) -> R<u64> {
        match n.kind {
            NodeKind::Int(i) if i >= min as i64 => Ok(i as u64),
            NodeKind::Int(i) => self.err(key, n.line, format!("must be at least {min}, found {i}")),
            _ => self.err(
                key,
                n.line,
                format!("expected an integer, found {}", n.type_name()),
            ),
        }
    }

    pub(super) fn string(&self, key: &str, n: &Node) -> R<String> {
        match &n.kind {
            NodeKind::Str(s) if !s.trim().is_empty() => Ok(s.clone()),
            NodeKind::Str(_) => self.err(key, n.line, "must not be empty"),
            _ => self.err(
                key,
                n.line,
                format!("expected a string, found {}", n.type_name()),
            ),
        }
    }

    pub(super) fn value(&self, key: &str, n: &Node) -> R<Value> {
        Ok(match &n.kind {
            NodeKind::Bool(b) => Value::Bool(*b),
            NodeKind::Int(i) => Value::Int(*i),
            NodeKind::Float(f) => Value::Float(*f),
            NodeKind::Str(s) => Value::Str(s.clone()),
            NodeKind::List(l) => Value::List(
                l.iter()
                    .enumerate()
                    .map(|(i, x)| self.item(key, i, x))
                    .collect::<R<_>>()?,
            ),
            NodeKind::Table(t) => Value::Table(self.params(key, t)?),
            NodeKind::Other(what) => {
                return self.err(key, n.line, format!("{what} cannot be a parameter value"));
            }
        })
    }

    /// The `i`-th value of list `key`; the key `key[i]` is only spelled out for an error (a
    /// list of a million numbers must not format a million keys).
    fn item(&self, key: &str, i: usize, n: &Node) -> R<Value> {
        match &n.kind {
            NodeKind::Bool(b) => Ok(Value::Bool(*b)),
            NodeKind::Int(v) => Ok(Value::Int(*v)),
            NodeKind::Float(f) => Ok(Value::Float(*f)),
            NodeKind::Str(s) => Ok(Value::Str(s.clone())),
            _ => self.value(&format!("{key}[{i}]"), n),
        }
    }

    fn params(&self, prefix: &str, t: &[(String, Node)]) -> R<Params> {
        let mut p = Params::new();
        for (k, n) in t {
            let key = join(prefix, k);
            if p.insert(k.clone(), self.value(&key, n)?).is_some() {
                return self.err(&key, n.line, "the key appears twice");
            }
        }
        Ok(p)
    }

    pub(super) fn list<'n>(&self, key: &str, n: &'n Node, what: &str) -> R<&'n [Node]> {
        match &n.kind {
            NodeKind::List(l) if l.is_empty() => self.err(
                key,
                n.line,
                format!("empty list: {what} needs at least one value"),
            ),
            NodeKind::List(l) => Ok(l),
            _ => self.err(
                key,
                n.line,
                format!("expected a list of values, found {}; {what}", n.type_name()),
            ),
        }
    }

    fn number(&self, key: &str, n: &Node) -> R<f64> {
        match n.kind {
            NodeKind::Int(i) => Ok(i as f64),
            NodeKind::Float(f) if f.is_finite() => Ok(f),
            _ => self.err(
                key,
                n.line,
                format!("expected a number, found {}", n.type_name()),
            ),
        }
    }

    fn pair(&self, key: &str, n: &Node) -> R<(f64, f64)> {
        let l = self.list(key, n, "a range is [low, high]")?;
        if l.len() != 2 {
            return self.err(
                key,
                n.line,
                format!("a range is [low, high], found {} values", l.len()),
            );
        }
        let lo = self.number(key, &l[0])?;
        let hi = self.number(key, &l[1])?;
        if lo > hi {
            return self.err(key, n.line, format!("low {lo} is above high {hi}"));
        }
        Ok((lo, hi))
    }

    fn int_pair(&self, key: &str, n: &Node) -> R<(i64, i64)> {
        let l = self.list(key, n, "a range is [low, high]")?;
        let (lo, hi) = match l {
            [a, b] => match (&a.kind, &b.kind) {
                (NodeKind::Int(a), NodeKind::Int(b)) => (*a, *b),
                _ => return self.err(key, n.line, "an integer range needs two integers"),
            },
            _ => return self.err(key, n.line, "a range is [low, high]"),
        };
        if lo > hi {
            return self.err(key, n.line, format!("low {lo} is above high {hi}"));
        }
        Ok((lo, hi))
    }

    fn dist(&self, key: &str, n: &Node) -> R<Dist> {
        let t = self.table(key, n)?;
        let [(kind, arg)] = t else {
            return self.err(
                key,
                n.line,
                format!("a distribution is one of {{ {} = ... }}", DISTS.join(" | ")),
            );
        };
        let k = join(key, kind);
        Ok(match kind.as_str() {
            "uniform" => {
                let (lo, hi) = self.pair(&k, arg)?;
                Dist::Uniform(lo, hi)
            }
            "log_uniform" => {
                let (lo, hi) = self.pair(&k, arg)?;
                if lo <= 0.0 {
                    return self.err(&k, arg.line, "a log-uniform range must be above 0");
                }
                Dist::LogUniform(lo, hi)
            }
            "int" => {
                let (lo, hi) = self.int_pair(&k, arg)?;
                Dist::Int(lo, hi)
            }
            "log_int" => {
                let (lo, hi) = self.int_pair(&k, arg)?;
                if lo < 1 {
                    return self.err(&k, arg.line, "a log-int range must start at 1 or above");
                }
                Dist::LogInt(lo, hi)
            }
            "choice" => {
                let l = self.list(&k, arg, "a choice needs values")?;
                Dist::Choice(
                    l.iter()
                        .enumerate()
                        .map(|(i, x)| self.item(&k, i, x))
                        .collect::<R<_>>()?,
                )
            }
            _ => {
                return self.err(
                    &k,
                    arg.line,
                    format!(
                        "unknown distribution; expected one of: {}",
                        DISTS.join(", ")
                    ),
                );
            }
        })
    }

    /// Reads `params`, `grid`, `zip` and `sample` of one agent or MDP table.
    pub(super) fn sweep(&self, prefix: &str, t: &[(String, Node)]) -> R<Sweep> {
        let mut sweep = Sweep::default();
        // Where each parameter was set, to refuse a key both fixed and swept.
        let mut owner: std::collections::HashMap<String, &'static str> = Default::default();
        let mut claim = |key: &str, k: &str, line, part: &'static str| -> R<()> {
            if let Some(other) = owner.get(k) {
                return self.err(
                    key,
                    line,
                    format!(
                        "`{k}` is set in both `{other}` and `{part}`; give each parameter once"
                    ),
                );
            }
            owner.insert(k.to_string(), part);
            Ok(())
        };
        for (part, n) in t {
            let key = join(prefix, part);
            match part.as_str() {
                "params" => {
                    let tt = self.table(&key, n)?;
                    for (k, x) in tt {
                        claim(&join(&key, k), k, x.line, "params")?;
                    }
                    sweep.fixed = self.params(&key, tt)?;
                }
                "grid" => {
                    for (k, x) in self.table(&key, n)? {
                        let kk = join(&key, k);
                        claim(&kk, k, x.line, "grid")?;
                        let l = self.list(
                            &kk,
                            x,
                            "a grid sweeps a list; a fixed value goes in `params`",
                        )?;
                        let vals = l
                            .iter()
                            .enumerate()
                            .map(|(i, v)| self.item(&kk, i, v))
                            .collect::<R<Vec<_>>>()?;
                        sweep.grid.push((k.clone(), vals));
                    }
                }
                "zip" => {
                    let tt = self.table(&key, n)?;
                    let mut first: Option<(String, usize)> = None;
                    for (k, x) in tt {
                        let kk = join(&key, k);
                        claim(&kk, k, x.line, "zip")?;
                        let l = self.list(&kk, x, "a zip takes lists of equal length")?;
                        match &first {
                            None => first = Some((k.clone(), l.len())),
                            Some((k0, n0)) if *n0 != l.len() => {
                                return self.err(
                                    &kk,
                                    x.line,
                                    format!(
                                        "zip lists must have equal lengths: `{k}` has {}, `{k0}` has {n0}",
                                        l.len()
                                    ),
                                );
                            }
                            Some(_) => {}
                        }
                        let vals = l
                            .iter()
                            .enumerate()
                            .map(|(i, v)| self.item(&kk, i, v))
                            .collect::<R<Vec<_>>>()?;
                        sweep.zip.push((k.clone(), vals));
                    }
                    if tt.is_empty() {
                        return self.err(&key, n.line, "empty zip: give at least one list");
                    }
                }
                "sample" => {
                    let tt = self.table(&key, n)?;
                    let mut count = None;
                    let mut seed = 0;
                    let mut dists = Vec::new();
                    for (k, x) in tt {
                        let kk = join(&key, k);
                        match k.as_str() {
                            "n" => {
                                let n = self.uint(&kk, x, 1)?;
                                if n > MAX_INSTANCES {
                                    return self.err(&kk, x.line, too_many("a sample of", n));
                                }
                                count = Some(n as usize);
                            }
                            "seed" => seed = self.uint(&kk, x, 0)?,
                            _ => {
                                claim(&kk, k, x.line, "sample")?;
                                dists.push((k.clone(), self.dist(&kk, x)?));
                            }
                        }
                    }
                    let Some(count) = count else {
                        return self.err(
                            &key,
                            n.line,
                            "a sample needs `n`, the number of configurations",
                        );
                    };
                    if dists.is_empty() {
                        return self.err(
                            &key,
                            n.line,
                            "a sample needs at least one parameter distribution",
                        );
                    }
                    dists.sort_by(|a, b| a.0.cmp(&b.0));
                    sweep.sample = Some(Sample {
                        n: count,
                        seed,
                        dists,
                    });
                }
                _ => {}
            }
        }
        sweep.grid.sort_by(|a, b| a.0.cmp(&b.0));
        sweep.zip.sort_by(|a, b| a.0.cmp(&b.0));
        match sweep.count() {
            Some(n) if n <= MAX_INSTANCES => Ok(sweep),
            n => {
                let line = t.first().and_then(|(_, n)| n.line);
                let what = n.map_or_else(|| "more than 2^64".to_string(), |n| n.to_string());
                self.err(
                    prefix,
                    line,
                    format!(
                        "this sweep expands to {what} configurations, above the cap of \
                         {MAX_INSTANCES} instances per plan; split the spec or sweep fewer values"
                    ),
                )
            }
        }
    }

    fn agent(&self, prefix: &str, n: &Node) -> R<AgentEntry> {
        let t = self.table(prefix, n)?;
        self.known_keys(prefix, t, AGENT_KEYS)?;
        let Some((_, name)) = t.iter().find(|(k, _)| k == "name") else {
            return self.err(
                prefix,
                n.line,
                "an agent needs `name`, the agent kind (e.g. \"q_learning\")",
            );
        };
        Ok(AgentEntry {
            name: self.string(&join(prefix, "name"), name)?,
            sweep: self.sweep(prefix, t)?,
            line: name.line.or(n.line),
        })
    }

    fn mdp(&self, prefix: &str, n: &Node) -> R<MdpEntry> {
        let t = self.table(prefix, n)?;
        self.known_keys(prefix, t, MDP_KEYS)?;
        let Some((_, family)) = t.iter().find(|(k, _)| k == "family") else {
            return self.err(
                prefix,
                n.line,
                "an MDP needs `family` (e.g. \"river_swim\")",
            );
        };
        let episodic = match t.iter().find(|(k, _)| k == "episodic") {
            None => false,
            Some((_, x)) => match x.kind {
                NodeKind::Bool(b) => b,
                _ => {
                    return self.err(
                        &join(prefix, "episodic"),
                        x.line,
                        format!("expected true or false, found {}", x.type_name()),
                    );
                }
            },
        };
        Ok(MdpEntry {
            family: self.string(&join(prefix, "family"), family)?,
            episodic,
            sweep: self.sweep(prefix, t)?,
            line: family.line.or(n.line),
        })
    }

    fn entries<T>(&self, key: &str, n: &Node, f: impl Fn(&str, &Node) -> R<T>) -> R<Vec<T>> {
        let list: Vec<&Node> = match &n.kind {
            NodeKind::List(l) => l.iter().collect(),
            NodeKind::Table(_) => vec![n],
            _ => {
                return self.err(
                    key,
                    n.line,
                    format!("expected [[{key}]] tables, found {}", n.type_name()),
                );
            }
        };
        if list.is_empty() {
            return self.err(
                key,
                n.line,
                format!("no [[{key}]] table: give at least one"),
            );
        }
        list.iter()
            .enumerate()
            .map(|(i, x)| f(&format!("{key}[{i}]"), x))
            .collect()
    }
}

/// The message for a count above [`MAX_INSTANCES`].
fn too_many(what: &str, n: u64) -> String {
    format!(
        "{what} {n}, above the cap of {MAX_INSTANCES} instances per plan; split the spec into \
         several"
    )
}

/// The longest spec name (bytes): it becomes a folder name, and temporary names add to it.
pub const MAX_NAME_BYTES: usize = 200;

/// Checks a name that becomes a folder name (`instances/<name>`): non-empty, not `.` or `..`,
/// no `/` or `\`, no control characters, at most [`MAX_NAME_BYTES`] bytes.
pub fn plain_name(name: &str) -> Result<(), String> {
    let bad = if name.trim().is_empty() {
        "is empty"
    } else if name == "." || name == ".." {
        "is `.` or `..`"
    } else if name.contains(['/', '\\']) {
        "contains a `/` or `\\`"
    } else if name.chars().any(char::is_control) {
        "contains a control character (such as a newline or a tab)"
    } else if name.starts_with('-') || name.starts_with('.') {
        "starts with `-` or `.`"
    } else if name.len() > MAX_NAME_BYTES {
        "is too long"
    } else {
        return Ok(());
    };
    let shown: String = name.escape_debug().take(60).collect();
    Err(format!(
        "the name \"{shown}\" {bad}; a spec's name becomes the folder instances/<name>, so it \
         must be a plain file name (letters, digits, `-`, `_`, `.`, spaces; at most \
         {MAX_NAME_BYTES} bytes)"
    ))
}

pub(super) fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// The longest time limit a spec may give: 366 days. Anything longer is surely a mistake (or
/// an attempt to overflow), and no cluster grants it.
pub const MAX_TIME_LIMIT_MS: u64 = 366 * 24 * 3600 * 1000;

/// Parses a duration: humantime (`"90s"`, `"10m"`, `"1h 30m"`), a number of seconds, or
/// `"none"` (no limit, as when the key is left out). Zero is refused (it would read as "no
/// limit"), and so is anything under a millisecond or above [`MAX_TIME_LIMIT_MS`].
fn duration_ms(cx: &Cx, key: &str, n: &Node) -> R<u64> {
    let ms: f64 = match &n.kind {
        NodeKind::Str(s) if s.trim() == "none" => return Ok(0),
        NodeKind::Int(s) => *s as f64 * 1000.0,
        NodeKind::Float(s) if s.is_finite() => s * 1000.0,
        NodeKind::Str(s) if s.trim().parse::<f64>().is_ok_and(f64::is_finite) => {
            s.trim().parse::<f64>().unwrap_or(0.0) * 1000.0
        }
        NodeKind::Str(s) => {
            match humantime::parse_duration(s) {
                Ok(d) => d.as_millis() as f64,
                Err(e) => {
                    let shown: String = s.escape_debug().take(60).collect();
                    return cx.err(
                    key,
                    n.line,
                    format!("\"{shown}\" is not a duration ({e}); write e.g. \"90s\", \"10m\", \"1h\""),
                );
                }
            }
        }
        _ => {
            return cx.err(
                key,
                n.line,
                format!(
                    "expected a duration such as \"60s\", found {}",
                    n.type_name()
                ),
            );
        }
    };
    if ms < 0.0 {
        return cx.err(key, n.line, "a duration cannot be negative");
    }
    if ms == 0.0 {
        return cx.err(
            key,
            n.line,
            "a time limit of 0 is refused (it would mean no limit); leave the key out (or write \"none\") for no limit",
        );
    }
    if ms < 1.0 {
        return cx.err(key, n.line, "a time limit must be at least 1 ms");
    }
    if ms > MAX_TIME_LIMIT_MS as f64 {
        return cx.err(
            key,
            n.line,
            format!(
                "a time limit of {:.0} s is above the maximum of {} s (366 days)",
                ms / 1000.0,
                MAX_TIME_LIMIT_MS / 1000
            ),
        );
    }
    Ok(ms.round() as u64)
}

pub(super) fn spec(path: &Path, tree: Node) -> R<Spec> {
    let cx = Cx { file: path };
    let t = cx.table("", &tree)?;
    cx.known_keys("", t, TOP_KEYS)?;
    let get = |k: &str| t.iter().find(|(key, _)| key == k).map(|(_, n)| n);

    let name = match get("name") {
        Some(n) => {
            let name = cx.string("name", n)?;
            if let Err(m) = plain_name(&name) {
                return cx.err("name", n.line, m);
            }
            name
        }
        None => {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "spec".into());
            if let Err(m) = plain_name(&stem) {
                return cx.err(
                    "name",
                    None,
                    format!("no `name` key, and the file's stem cannot be one: {m}"),
                );
            }
            stem
        }
    };
    let seeds = match get("seeds") {
        None => {
            return cx.err(
                "seeds",
                None,
                "missing: give a count (`seeds = 3`) or a list (`seeds = [0, 7]`)",
            );
        }
        Some(n) => match &n.kind {
            NodeKind::Int(_) => {
                let count = cx.uint("seeds", n, 1)?;
                if count > MAX_INSTANCES {
                    return cx.err("seeds", n.line, too_many("seeds =", count));
                }
                (0..count).collect()
            }
            NodeKind::List(l) if !l.is_empty() => {
                let mut seen = BTreeSet::new();
                let mut out = Vec::new();
                for (i, x) in l.iter().enumerate() {
                    let s = cx.uint(&format!("seeds[{i}]"), x, 0)?;
                    if !seen.insert(s) {
                        return cx.err(
                            &format!("seeds[{i}]"),
                            x.line,
                            format!("seed {s} is listed twice"),
                        );
                    }
                    out.push(s);
                }
                out
            }
            NodeKind::List(_) => {
                return cx.err("seeds", n.line, "empty list: give at least one seed");
            }
            _ => {
                return cx.err(
                    "seeds",
                    n.line,
                    format!(
                        "expected a count or a list of seeds, found {}",
                        n.type_name()
                    ),
                );
            }
        },
    };
    // Built-in agents need `steps`; a spec of `[[experiment]]` tables only does not.
    let builtin = get("agent").is_some() || get("mdp").is_some() || get("experiment").is_none();
    let steps = match get("steps") {
        Some(n) => cx.uint("steps", n, 1)?,
        None if !builtin => 0,
        None => {
            return cx.err(
                "steps",
                None,
                "missing: the number of interaction steps per instance",
            );
        }
    };
    let log_every = match get("log_every") {
        Some(n) => cx.uint("log_every", n, 1)?,
        None => (steps / 100).max(1),
    };
    let time_limit_ms = match get("time_limit") {
        Some(n) => duration_ms(&cx, "time_limit", n)?,
        None => 0,
    };
    if let Some(n) = get("description") {
        cx.string("description", n)?;
    }
    let experiments = match get("experiment") {
        Some(n) => cx.entries("experiment", n, |k, x| cx.experiment(k, x))?,
        None => Vec::new(),
    };
    let agents = match get("agent") {
        Some(n) => cx.entries("agent", n, |k, x| cx.agent(k, x))?,
        None if !builtin => Vec::new(),
        None => {
            return cx.err(
                "agent",
                None,
                "missing: add at least one [[agent]] table (or [[experiment]] tables)",
            );
        }
    };
    let mdps = match get("mdp") {
        Some(n) => cx.entries("mdp", n, |k, x| cx.mdp(k, x))?,
        None if !builtin => Vec::new(),
        None => return cx.err("mdp", None, "missing: add at least one [[mdp]] table"),
    };
    Ok(Spec {
        name,
        path: path.to_path_buf(),
        seeds,
        steps,
        log_every,
        time_limit_ms,
        agents,
        mdps,
        experiments,
        resources: match get("resources") {
            Some(n) => cx.resources("resources", n)?,
            None => Default::default(),
        },
    })
}

pub(super) fn agents_file(path: &Path, tree: Node) -> R<Vec<AgentEntry>> {
    let cx = Cx { file: path };
    let t = cx.table("", &tree)?;
    cx.known_keys("", t, &["agent"])?;
    match t.iter().find(|(k, _)| k == "agent") {
        Some((_, n)) => cx.entries("agent", n, |k, x| cx.agent(k, x)),
        None => cx.err(
            "agent",
            None,
            "an agents file needs at least one [[agent]] table",
        ),
    }
}
