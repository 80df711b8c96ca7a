//! `[[experiment]]` tables: a user's program (argv template, working folder) and its sweep.

use super::ExperimentEntry;
use super::node::{Node, NodeKind};
use super::validate::{Cx, R, join};

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
}
