//! A format-neutral tree of a spec file, with the line each key came from.
//!
//! TOML (through `toml_edit`, which keeps spans) and YAML (through `yaml-rust2`) are both read
//! into this tree, and validation works on the tree alone, so the two formats give the same
//! errors and a TOML error can name its line.

use std::ops::Range;

use toml_edit::{Item, Value as TomlValue};
use yaml_rust2::Yaml;

/// What a node holds.
#[derive(Clone, Debug)]
pub enum NodeKind {
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// A list.
    List(Vec<Node>),
    /// A table, keys in file order.
    Table(Vec<(String, Node)>),
    /// Something a spec cannot hold (a date, a YAML null): its type name.
    Other(&'static str),
}

/// A value of the spec tree and the line (1-based) where it, or its key, starts.
#[derive(Clone, Debug)]
pub struct Node {
    /// The value.
    pub kind: NodeKind,
    /// The line, when the format tells it (TOML does; YAML does not here).
    pub line: Option<usize>,
}

impl Node {
    /// The type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Int(_) => "an integer",
            NodeKind::Float(_) => "a float",
            NodeKind::Str(_) => "a string",
            NodeKind::List(_) => "a list",
            NodeKind::Table(_) => "a table",
            NodeKind::Other(t) => t,
        }
    }
}

/// Maps byte offsets to 1-based line numbers.
struct Lines {
    starts: Vec<usize>,
}

impl Lines {
    fn new(text: &str) -> Lines {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Lines { starts }
    }

    fn line(&self, span: Option<Range<usize>>) -> Option<usize> {
        let at = span?.start;
        Some(self.starts.partition_point(|&s| s <= at))
    }
}

/// Parses TOML text into a tree. The error is the parser's message, with its line.
pub fn parse_toml(text: &str) -> Result<Node, (Option<usize>, String)> {
    let lines = Lines::new(text);
    let doc = toml_edit::Document::parse(text).map_err(|e| {
        let line = lines.line(e.span());
        let msg = e.message().trim().to_string();
        (line, msg)
    })?;
    Ok(Node {
        kind: toml_table(&lines, doc.as_table()),
        line: Some(1),
    })
}

fn toml_table(lines: &Lines, t: &toml_edit::Table) -> NodeKind {
    let mut out = Vec::new();
    for (k, item) in t.iter() {
        let key_line = t
            .get_key_value(k)
            .and_then(|(key, _)| lines.line(key.span()));
        if let Some(node) = toml_item(lines, item, key_line) {
            out.push((k.to_string(), node));
        }
    }
    NodeKind::Table(out)
}

fn toml_item(lines: &Lines, item: &Item, key_line: Option<usize>) -> Option<Node> {
    let (kind, line) = match item {
        Item::None => return None,
        Item::Value(v) => return Some(toml_value(lines, v, key_line)),
        Item::Table(t) => (toml_table(lines, t), key_line.or(lines.line(t.span()))),
        Item::ArrayOfTables(a) => {
            let list = a
                .iter()
                .map(|t| Node {
                    kind: toml_table(lines, t),
                    line: lines.line(t.span()),
                })
                .collect();
            (NodeKind::List(list), key_line.or(lines.line(a.span())))
        }
    };
    Some(Node { kind, line })
}

fn toml_value(lines: &Lines, v: &TomlValue, key_line: Option<usize>) -> Node {
    let (kind, span) = match v {
        TomlValue::String(s) => (NodeKind::Str(s.value().clone()), s.span()),
        TomlValue::Integer(i) => (NodeKind::Int(*i.value()), i.span()),
        TomlValue::Float(f) => (NodeKind::Float(*f.value()), f.span()),
        TomlValue::Boolean(b) => (NodeKind::Bool(*b.value()), b.span()),
        TomlValue::Datetime(d) => (NodeKind::Other("a date"), d.span()),
        TomlValue::Array(a) => (
            NodeKind::List(a.iter().map(|x| toml_value(lines, x, None)).collect()),
            a.span(),
        ),
        TomlValue::InlineTable(t) => {
            let mut out = Vec::new();
            for (k, x) in t.iter() {
                let kl = t
                    .get_key_value(k)
                    .and_then(|(key, _)| lines.line(key.span()));
                out.push((k.to_string(), toml_value(lines, x, kl)));
            }
            (NodeKind::Table(out), t.span())
        }
    };
    Node {
        kind,
        line: key_line.or_else(|| lines.line(span)),
    }
}

/// Parses YAML text into a tree (the first document of the file).
pub fn parse_yaml(text: &str) -> Result<Node, (Option<usize>, String)> {
    let docs = yaml_rust2::YamlLoader::load_from_str(text)
        .map_err(|e| (Some(e.marker().line()), e.info().to_string()))?;
    match docs.into_iter().next() {
        Some(doc) => Ok(yaml_node(doc)),
        None => Ok(Node {
            kind: NodeKind::Table(Vec::new()),
            line: None,
        }),
    }
}

fn yaml_node(y: Yaml) -> Node {
    let kind = match y {
        Yaml::Real(s) => match s.parse::<f64>() {
            Ok(f) => NodeKind::Float(f),
            Err(_) => NodeKind::Str(s),
        },
        Yaml::Integer(i) => NodeKind::Int(i),
        Yaml::String(s) => NodeKind::Str(s),
        Yaml::Boolean(b) => NodeKind::Bool(b),
        Yaml::Array(a) => NodeKind::List(a.into_iter().map(yaml_node).collect()),
        Yaml::Hash(h) => NodeKind::Table(
            h.into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        Yaml::String(s) | Yaml::Real(s) => s,
                        Yaml::Integer(i) => i.to_string(),
                        Yaml::Boolean(b) => b.to_string(),
                        _ => "?".to_string(),
                    };
                    (key, yaml_node(v))
                })
                .collect(),
        ),
        Yaml::Null => NodeKind::Other("null"),
        Yaml::Alias(_) | Yaml::BadValue => NodeKind::Other("a YAML alias"),
    };
    Node { kind, line: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_lines_are_kept() {
        let text = "name = \"q\"\nseeds = 3\n\n[[agent]]\nname = \"x\"\ngrid = { p = [1, 2] }\n";
        let n = parse_toml(text).unwrap();
        let NodeKind::Table(t) = n.kind else { panic!() };
        assert_eq!(t[1].1.line, Some(2));
        let NodeKind::List(agents) = &t[2].1.kind else {
            panic!()
        };
        let NodeKind::Table(a) = &agents[0].kind else {
            panic!()
        };
        assert_eq!(a[1].0, "grid");
        assert_eq!(a[1].1.line, Some(6));
        let NodeKind::Table(g) = &a[1].1.kind else {
            panic!()
        };
        assert_eq!(g[0].1.line, Some(6));
    }

    #[test]
    fn toml_syntax_error_has_a_line() {
        let err = parse_toml("a = 1\nb = = 2\n").unwrap_err();
        assert_eq!(err.0, Some(2));
    }

    #[test]
    fn yaml_reads_the_same_shapes() {
        let n = parse_yaml("name: q\nseeds: [1, 2]\nx: 0.5\n").unwrap();
        let NodeKind::Table(t) = n.kind else { panic!() };
        assert!(matches!(t[1].1.kind, NodeKind::List(_)));
        assert!(matches!(t[2].1.kind, NodeKind::Float(f) if f == 0.5));
    }
}
