//! A format-neutral tree of a spec file, with the line each key came from.
//!
//! TOML (through `toml_parser`'s streaming lexer, read by `toml_tree`) and YAML (through
//! `yaml-rust2`'s events) are both read into this tree, and validation works on the tree alone,
//! so the two formats give the same errors and a TOML error can name its line. A node is 48
//! bytes (a 32-byte value and its line), checked by a test below.

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
    /// The line, when the format tells it.
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

/// The most nodes a YAML spec may expand to: a fixed allowance plus two per byte of the file.
/// A file without aliases never comes near it (every value takes at least a byte or two of
/// text); aliases may repeat a part of the file, but a nest of aliases that would expand
/// exponentially (the "billion laughs") is refused once it passes this budget, before the
/// copies are made.
pub fn yaml_node_budget(text_len: usize) -> usize {
    10_000 + 2 * text_len
}

/// Parses YAML text into a tree (the first document of the file), with lines.
///
/// The tree is built from the parser's events directly (no intermediate YAML tree), and an
/// alias copies its anchor's subtree only while the total stays within
/// [`yaml_node_budget`] nodes and as many string bytes as the file has, times four.
pub fn parse_yaml(text: &str) -> Result<Node, (Option<usize>, String)> {
    let mut b = YamlBuilder {
        stack: Vec::new(),
        anchors: std::collections::HashMap::new(),
        nodes: 0,
        bytes: 0,
        max_nodes: yaml_node_budget(text.len()),
        max_bytes: (1 << 20) + 4 * text.len(),
        root: None,
    };
    let mut parser = yaml_rust2::parser::Parser::new_from_str(text);
    loop {
        let (ev, mark) = parser
            .next_token()
            .map_err(|e| (Some(e.marker().line()), e.info().to_string()))?;
        if b.event(ev, mark.line())? {
            break;
        }
    }
    Ok(b.root.unwrap_or(Node {
        kind: NodeKind::Table(Vec::new()),
        line: None,
    }))
}

/// A list or mapping under construction: its line, anchor, and for a mapping the pending key.
enum Open {
    List(Vec<Node>),
    Map(Vec<(String, Node)>, Option<String>),
}

struct YamlBuilder {
    stack: Vec<(Open, usize, Option<usize>)>,
    anchors: std::collections::HashMap<usize, Node>,
    nodes: usize,
    bytes: usize,
    max_nodes: usize,
    max_bytes: usize,
    root: Option<Node>,
}

/// Nodes and string bytes in a subtree.
fn weight(n: &Node) -> (usize, usize) {
    match &n.kind {
        NodeKind::Str(s) => (1, s.len()),
        NodeKind::List(l) => l.iter().fold((1, 0), |(a, b), x| {
            let (c, d) = weight(x);
            (a + c, b + d)
        }),
        NodeKind::Table(t) => t.iter().fold((1, 0), |(a, b), (k, x)| {
            let (c, d) = weight(x);
            (a + c, b + d + k.len())
        }),
        _ => (1, 0),
    }
}

impl YamlBuilder {
    fn charge(
        &mut self,
        nodes: usize,
        bytes: usize,
        line: usize,
    ) -> Result<(), (Option<usize>, String)> {
        self.nodes = self.nodes.saturating_add(nodes);
        self.bytes = self.bytes.saturating_add(bytes);
        if self.nodes > self.max_nodes || self.bytes > self.max_bytes {
            return Err((
                Some(line),
                format!(
                    "YAML aliases expand this file past {} values or {} bytes of text (a limit \
                     proportional to the file's size); expand fewer aliases, or write the values out",
                    self.max_nodes, self.max_bytes
                ),
            ));
        }
        Ok(())
    }

    /// Handles one event; true at the end of the first document.
    fn event(
        &mut self,
        ev: yaml_rust2::Event,
        line: usize,
    ) -> Result<bool, (Option<usize>, String)> {
        use yaml_rust2::Event;
        use yaml_rust2::scanner::TScalarStyle;
        match ev {
            Event::Nothing | Event::StreamStart | Event::DocumentStart => {}
            Event::DocumentEnd | Event::StreamEnd => return Ok(true),
            Event::SequenceStart(anchor, _) => {
                self.charge(1, 0, line)?;
                self.stack
                    .push((Open::List(Vec::new()), line, Some(anchor)));
            }
            Event::MappingStart(anchor, _) => {
                self.charge(1, 0, line)?;
                self.stack
                    .push((Open::Map(Vec::new(), None), line, Some(anchor)));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some((open, l, anchor)) = self.stack.pop() else {
                    return Err((Some(line), "unbalanced YAML".into()));
                };
                let kind = match open {
                    Open::List(v) => NodeKind::List(v),
                    Open::Map(v, _) => NodeKind::Table(v),
                };
                self.insert(
                    Node {
                        kind,
                        line: Some(l),
                    },
                    anchor,
                    line,
                )?;
            }
            Event::Scalar(v, style, anchor, tag) => {
                self.charge(1, v.len(), line)?;
                let plain = style == TScalarStyle::Plain;
                let kind = match tag {
                    _ if !plain => NodeKind::Str(v),
                    Some(t) if t.handle == "tag:yaml.org,2002:" && t.suffix == "str" => {
                        NodeKind::Str(v)
                    }
                    Some(t) if t.handle != "tag:yaml.org,2002:" => NodeKind::Str(v),
                    _ => scalar_kind(v),
                };
                self.insert(
                    Node {
                        kind,
                        line: Some(line),
                    },
                    Some(anchor),
                    line,
                )?;
            }
            Event::Alias(id) => {
                let Some(target) = self.anchors.get(&id) else {
                    return Err((Some(line), "an alias to an unknown anchor".into()));
                };
                let (n, b) = weight(target);
                // Charge before copying: the copy is made only within the budget.
                self.charge(n, b, line)?;
                let mut copy = self.anchors[&id].clone();
                copy.line = Some(line);
                self.insert(copy, None, line)?;
            }
        }
        Ok(false)
    }

    fn insert(
        &mut self,
        node: Node,
        anchor: Option<usize>,
        line: usize,
    ) -> Result<(), (Option<usize>, String)> {
        if let Some(a) = anchor.filter(|&a| a > 0) {
            self.anchors.insert(a, node.clone());
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some((Open::List(v), _, _)) => v.push(node),
            Some((Open::Map(v, key), _, _)) => match key.take() {
                None => {
                    *key = Some(match node.kind {
                        NodeKind::Str(s) => s,
                        NodeKind::Int(i) => i.to_string(),
                        NodeKind::Float(f) => f.to_string(),
                        NodeKind::Bool(b) => b.to_string(),
                        _ => {
                            return Err((
                                Some(line),
                                format!("a key must be a plain value, found {}", node.type_name()),
                            ));
                        }
                    })
                }
                Some(k) => v.push((k, node)),
            },
        }
        Ok(())
    }
}

/// A plain (unquoted, untagged) YAML scalar, typed as YAML 1.2's core schema does.
fn scalar_kind(v: String) -> NodeKind {
    match Yaml::from_str(&v) {
        Yaml::Integer(i) => NodeKind::Int(i),
        Yaml::Real(s) => match s.parse::<f64>() {
            Ok(f) => NodeKind::Float(f),
            Err(_) => match s.trim_start_matches(['+', '-']) {
                ".inf" | ".Inf" | ".INF" => NodeKind::Float(if s.starts_with('-') {
                    f64::NEG_INFINITY
                } else {
                    f64::INFINITY
                }),
                ".nan" | ".NaN" | ".NAN" => NodeKind::Float(f64::NAN),
                _ => NodeKind::Str(v),
            },
        },
        Yaml::Boolean(b) => NodeKind::Bool(b),
        Yaml::Null => NodeKind::Other("null"),
        _ => NodeKind::Str(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_is_48_bytes() {
        assert_eq!(std::mem::size_of::<NodeKind>(), 32);
        assert_eq!(std::mem::size_of::<Node>(), 48);
    }

    #[test]
    fn yaml_alias_bombs_are_refused_within_the_budget() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let e = parse_yaml(&text).unwrap_err();
        assert!(e.1.contains("aliases expand"), "{e:?}");
        // A few aliases within the budget are fine, and keep their lines.
        let n = parse_yaml("a: &x [1, 2]\nb: *x\n").unwrap();
        let NodeKind::Table(t) = n.kind else { panic!() };
        assert!(matches!(&t[1].1.kind, NodeKind::List(l) if l.len() == 2));
        assert_eq!(t[1].1.line, Some(2));
    }

    #[test]
    fn yaml_reads_the_same_shapes() {
        let n = parse_yaml("name: q\nseeds: [1, 2]\nx: 0.5\n").unwrap();
        let NodeKind::Table(t) = n.kind else { panic!() };
        assert!(matches!(t[1].1.kind, NodeKind::List(_)));
        assert!(matches!(t[2].1.kind, NodeKind::Float(f) if f == 0.5));
    }
}
