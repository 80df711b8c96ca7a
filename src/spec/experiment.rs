//! `[[experiment]]` tables: a user's program (argv template, working folder) and its sweep.

use super::ExperimentEntry;
use super::node::{Node, NodeKind};
use super::validate::{Cx, R, join};

/// The environment variable a program receives a parameter in: `LUDUS_PARAM_` and the name
/// upper-cased, every character other than an ASCII letter or digit becoming `_`.
pub fn param_env_name(param: &str) -> String {
    let mut s = String::from("LUDUS_PARAM_");
    s.extend(param.chars().map(|c| {
        if c.is_ascii_alphanumeric() {
            c.to_ascii_uppercase()
        } else {
            '_'
        }
    }));
    s
}

const EXPERIMENT_KEYS: &[&str] = &[
    "name",
    "command",
    "workdir",
    "params",
    "grid",
    "zip",
    "sample",
    "resources",
];

impl Cx<'_> {
    pub(super) fn experiment(&self, prefix: &str, n: &Node) -> R<ExperimentEntry> {
        let t = self.table(prefix, n)?;
        self.known_keys(prefix, t, EXPERIMENT_KEYS)?;
        let get = |k: &str| t.iter().find(|(key, _)| key == k).map(|(_, n)| n);
        let Some(name) = get("name") else {
            return self.err(prefix, n.line, "an experiment needs `name`");
        };
        let ck = join(prefix, "command");
        let Some(cmd) = get("command") else {
            return self.err(
                prefix,
                n.line,
                "an experiment needs `command`, the program and its arguments as a list, e.g. \
                 [\"python3\", \"train.py\", \"--lr\", \"{lr}\"]",
            );
        };
        let command = match &cmd.kind {
            NodeKind::List(l) if !l.is_empty() => l
                .iter()
                .enumerate()
                .map(|(i, x)| match &x.kind {
                    NodeKind::Str(s) => Ok(s.clone()),
                    NodeKind::Int(v) => Ok(v.to_string()),
                    NodeKind::Float(v) => Ok(v.to_string()),
                    _ => self.err(
                        &format!("{ck}[{i}]"),
                        x.line,
                        format!("expected a string, found {}", x.type_name()),
                    ),
                })
                .collect::<R<Vec<_>>>()?,
            _ => {
                return self.err(
                    &ck,
                    cmd.line,
                    format!(
                        "expected a non-empty list (argv, run without a shell), found {}",
                        cmd.type_name()
                    ),
                );
            }
        };
        if command[0].trim().is_empty() {
            return self.err(&ck, cmd.line, "the program name is empty");
        }
        let workdir = match get("workdir") {
            Some(w) => self.string(&join(prefix, "workdir"), w)?,
            None => ".".to_string(),
        };
        let sweep = self.sweep(prefix, t)?;
        self.distinct_env_names(prefix, t, &sweep)?;
        let resources = match get("resources") {
            Some(r) => self.resources(&join(prefix, "resources"), r)?,
            None => Default::default(),
        };
        Ok(ExperimentEntry {
            name: self.string(&join(prefix, "name"), name)?,
            command,
            workdir,
            sweep,
            line: name.line.or(n.line),
            resources,
        })
    }

    /// Refuses two parameters that would reach the program in the same environment variable
    /// (`a-b`, `a_b` and `A.B` are all `LUDUS_PARAM_A_B`), naming both.
    fn distinct_env_names(
        &self,
        prefix: &str,
        t: &[(String, Node)],
        sweep: &super::Sweep,
    ) -> R<()> {
        let names = sweep
            .fixed
            .keys()
            .chain(sweep.grid.iter().map(|(k, _)| k))
            .chain(sweep.zip.iter().map(|(k, _)| k))
            .chain(
                sweep
                    .sample
                    .iter()
                    .flat_map(|s| s.dists.iter().map(|(k, _)| k)),
            );
        let mut seen: std::collections::HashMap<String, &String> = Default::default();
        for k in names {
            if let Some(other) = seen.insert(param_env_name(k), k) {
                // The line of the table holding either key, for the message.
                let line = t.iter().find_map(|(_, n)| n.line);
                return self.err(
                    prefix,
                    line,
                    format!(
                        "parameters `{other}` and `{k}` would both be passed as {}; rename one \
                         (a parameter's variable upper-cases it and turns every character other \
                         than a letter or digit into `_`)",
                        param_env_name(k)
                    ),
                );
            }
        }
        Ok(())
    }
}
