//! TOML text straight into the spec's [`Node`] tree, from `toml_parser`'s streaming lexer.
//!
//! `toml_edit` keeps, for every value, its spans, decoration and original text, and its parser
//! first lexes the whole file into a token vector: a file of one long list took about 40 times
//! its size in memory. This reader pulls tokens one at a time (two of look-ahead), decodes
//! scalars and keys with `toml_parser`'s decoders (the same validation of strings, escapes,
//! numbers and bare keys as `toml_edit`), and builds only the tree, so memory is the tree's.
//!
//! The table rules `toml_edit` enforced are enforced here (each has a unit test below): a key
//! defined twice, a table header given twice, a header for a table that dotted keys or an
//! inline table defined, dotted keys that extend a table defined by a header, `[[x]]` for an
//! `x` that is not an array of tables, and a header or dotted key that goes through a value.

use indexmap::IndexMap;
use toml_parser::decoder::{Encoding, ScalarKind};
use toml_parser::lexer::{Lexer, Token, TokenKind};
use toml_parser::{ParseError, Raw, Source, Span};

use super::node::{Node, NodeKind};

/// An error: the line (1-based) and the message.
pub type TomlError = (Option<usize>, String);

type R<T> = Result<T, TomlError>;

/// Parses a TOML spec into a tree. The error is the parser's message, with its line.
pub fn parse_toml(text: &str) -> Result<Node, TomlError> {
    parse(text, false)
}

/// Parses TOML text into a tree. `dates_as_strings`: a date-time becomes its text (custom MDP
/// files did so), else `NodeKind::Other("a date")`.
pub fn parse(text: &str, dates_as_strings: bool) -> R<Node> {
    let mut p = Parser {
        text,
        lex: Source::new(text).lex(),
        ahead: [None, None],
        end: None,
        line_at: (0, 1),
        dates_as_strings,
        scratch: String::new(),
    };
    let mut root = Tab::new(How::Header, Some(1));
    p.document(&mut root)?;
    Ok(root.finish())
}

/// How a table came to be, which decides what may later add to it.
#[derive(Clone, Copy, PartialEq, Debug)]
enum How {
    /// Created as the parent of a header (`a` of `[a.b]`): a header may define it once.
    Implicit,
    /// Defined by a header `[a]` (or the root, or an element of `[[a]]`).
    Header,
    /// Created by a dotted key (`a.b = 1`): later dotted keys of the same table may extend it.
    Dotted,
}

/// A table under construction.
struct Tab {
    map: IndexMap<String, Slot>,
    how: How,
    line: Option<usize>,
}

/// An entry of a table under construction.
enum Slot {
    /// A finished value (a scalar, an array, an inline table): nothing may extend it.
    Done(Node),
    Table(Box<Tab>),
    /// An array of tables (`[[a]]`) and the line of its first header.
    Tables(Vec<Tab>, Option<usize>),
}

impl Tab {
    fn new(how: How, line: Option<usize>) -> Tab {
        Tab {
            map: IndexMap::new(),
            how,
            line,
        }
    }

    fn finish(self) -> Node {
        Node {
            kind: NodeKind::Table(self.map.into_iter().map(|(k, s)| (k, s.finish())).collect()),
            line: self.line,
        }
    }
}

impl Slot {
    fn finish(self) -> Node {
        match self {
            Slot::Done(n) => n,
            Slot::Table(t) => (*t).finish(),
            Slot::Tables(v, line) => Node {
                kind: NodeKind::List(v.into_iter().map(Tab::finish).collect()),
                line,
            },
        }
    }
}

/// A key and the line of its first part.
struct Key {
    parts: Vec<String>,
    line: Option<usize>,
}

impl Key {
    fn shown(&self, upto: usize) -> String {
        self.parts[..=upto].join(".")
    }
}

struct Parser<'i> {
    text: &'i str,
    lex: Lexer<'i>,
    ahead: [Option<Token>; 2],
    /// The lexer's last token (`Eof`), given again once it is done.
    end: Option<Token>,
    /// The last (offset, line) asked for, so that lines are counted once through the file.
    line_at: (usize, usize),
    dates_as_strings: bool,
    scratch: String,
}

fn what(t: &Token) -> &'static str {
    t.kind().description()
}

impl<'i> Parser<'i> {
    fn pull(&mut self) -> Token {
        match self.lex.next() {
            Some(t) => {
                if t.kind() == TokenKind::Eof {
                    self.end = Some(t);
                }
                t
            }
            None => self.end.expect("the lexer ends with Eof"),
        }
    }

    fn peek(&mut self) -> Token {
        match self.ahead[0] {
            Some(t) => t,
            None => {
                let t = self.ahead[1].take().unwrap_or_else(|| self.pull());
                self.ahead[0] = Some(t);
                t
            }
        }
    }

    fn peek2(&mut self) -> Token {
        self.peek();
        match self.ahead[1] {
            Some(t) => t,
            None => {
                let t = self.pull();
                self.ahead[1] = Some(t);
                t
            }
        }
    }

    fn next(&mut self) -> Token {
        let t = self.peek();
        self.ahead[0] = None;
        t
    }

    /// The 1-based line of a byte offset. Offsets asked for mostly grow, so lines are counted
    /// from the last answer.
    fn line(&mut self, at: usize) -> Option<usize> {
        let at = at.min(self.text.len());
        let (from, line) = if at >= self.line_at.0 {
            self.line_at
        } else {
            (0, 1)
        };
        let n = line
            + self.text.as_bytes()[from..at]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
        self.line_at = (at, n);
        Some(n)
    }

    fn err<T>(&mut self, at: usize, msg: impl Into<String>) -> R<T> {
        Err((self.line(at), msg.into()))
    }

    fn raw(&self, span: Span, encoding: Option<Encoding>) -> Raw<'i> {
        Raw::new_unchecked(&self.text[span.start()..span.end()], encoding, span)
    }

    /// Reports the first decoding error of `f` at the token's place.
    fn decoded<T>(&mut self, span: Span, f: impl FnOnce(&mut Option<ParseError>) -> T) -> R<T> {
        let mut e: Option<ParseError> = None;
        let v = f(&mut e);
        match e {
            None => Ok(v),
            Some(e) => {
                // The decoders' spans are offsets in the whole text.
                let at = e.unexpected().map_or(span.start(), |s| s.start());
                self.err(at, e.description().to_string())
            }
        }
    }

    /// Skips spaces and tabs.
    fn ws(&mut self) {
        while self.peek().kind() == TokenKind::Whitespace {
            self.next();
        }
    }

    fn comment(&mut self, t: Token) -> R<()> {
        let raw = self.raw(t.span(), None);
        self.decoded(t.span(), |e| raw.decode_comment(e))
    }

    fn newline(&mut self, t: Token) -> R<()> {
        let raw = self.raw(t.span(), None);
        self.decoded(t.span(), |e| raw.decode_newline(e))
    }

    /// Skips spaces, comments and newlines (inside arrays and inline tables).
    fn ws_comment_newline(&mut self) -> R<()> {
        loop {
            let t = self.peek();
            match t.kind() {
                TokenKind::Whitespace => {}
                TokenKind::Comment => self.comment(t)?,
                TokenKind::Newline => self.newline(t)?,
                _ => return Ok(()),
            }
            self.next();
        }
    }

    /// After a key/value or a header: spaces, a comment, then a newline or the end.
    fn line_end(&mut self) -> R<()> {
        self.ws();
        let mut t = self.next();
        if t.kind() == TokenKind::Comment {
            self.comment(t)?;
            t = self.next();
        }
        match t.kind() {
            TokenKind::Newline => self.newline(t),
            TokenKind::Eof => Ok(()),
            _ => self.err(
                t.span().start(),
                format!(
                    "expected a newline after the value, found {}: one key = value per line",
                    what(&t)
                ),
            ),
        }
    }

    fn document(&mut self, root: &mut Tab) -> R<()> {
        // The path of the current header: root, then keys (and for `[[x]]` its last element).
        let mut current: Vec<String> = Vec::new();
        loop {
            self.ws();
            let t = self.peek();
            match t.kind() {
                TokenKind::Eof => return Ok(()),
                TokenKind::Newline => {
                    self.next();
                    self.newline(t)?;
                }
                TokenKind::Comment => {
                    self.next();
                    self.comment(t)?;
                }
                TokenKind::LeftSquareBracket => {
                    self.next();
                    let array = self.peek().kind() == TokenKind::LeftSquareBracket;
                    if array {
                        self.next();
                    }
                    self.ws();
                    let key = self.key()?;
                    self.ws();
                    let close = self.next();
                    if close.kind() != TokenKind::RightSquareBracket {
                        return self.err(
                            close.span().start(),
                            format!(
                                "expected `]` after the table's name, found {}",
                                what(&close)
                            ),
                        );
                    }
                    if array {
                        let c2 = self.next();
                        if c2.kind() != TokenKind::RightSquareBracket {
                            return self.err(
                                c2.span().start(),
                                format!(
                                    "expected `]]` after the table's name, found {}",
                                    what(&c2)
                                ),
                            );
                        }
                    }
                    self.line_end()?;
                    self.header(root, &key, array)?;
                    current = key.parts;
                }
                _ => {
                    let key = self.key()?;
                    let value = self.after_key(&key)?;
                    self.line_end()?;
                    let table = descend(root, &current);
                    self.put(table, key, value, &current)?;
                }
            }
        }
    }

    /// `= value` after a key; the value's line is the key's.
    fn after_key(&mut self, key: &Key) -> R<Node> {
        self.ws();
        let eq = self.next();
        if eq.kind() != TokenKind::Equals {
            return self.err(
                eq.span().start(),
                format!(
                    "expected `=` after the key `{}`, found {}",
                    key.parts.join("."),
                    what(&eq)
                ),
            );
        }
        self.ws();
        let mut v = self.value()?;
        v.line = key.line;
        Ok(v)
    }

    /// A dotted key: `a`, `"a b"`, `a.b . 'c'`.
    fn key(&mut self) -> R<Key> {
        let mut parts = Vec::new();
        let mut line = None;
        loop {
            let t = self.next();
            let enc = match t.kind() {
                TokenKind::Atom => None,
                TokenKind::BasicString | TokenKind::LiteralString => t.kind().encoding(),
                TokenKind::MlBasicString | TokenKind::MlLiteralString => {
                    return self.err(t.span().start(), "a key cannot be a multi-line string");
                }
                _ => {
                    return self.err(
                        t.span().start(),
                        format!("expected a key, found {}", what(&t)),
                    );
                }
            };
            if line.is_none() {
                line = self.line(t.span().start());
            }
            let raw = self.raw(t.span(), enc);
            let mut s = String::new();
            self.decoded(t.span(), |e| raw.decode_key(&mut s, e))?;
            parts.push(s);
            self.ws();
            if self.peek().kind() != TokenKind::Dot {
                return Ok(Key { parts, line });
            }
            self.next();
            self.ws();
        }
    }

    fn value(&mut self) -> R<Node> {
        let t = self.next();
        let line = self.line(t.span().start());
        let kind = match t.kind() {
            TokenKind::LeftSquareBracket => self.array()?,
            TokenKind::LeftCurlyBracket => {
                let mut tab = Tab::new(How::Header, line);
                self.inline_table(&mut tab)?;
                tab.finish().kind
            }
            TokenKind::BasicString
            | TokenKind::LiteralString
            | TokenKind::MlBasicString
            | TokenKind::MlLiteralString => {
                let raw = self.raw(t.span(), t.kind().encoding());
                let mut s = String::new();
                let _ = self.decoded(t.span(), |e| raw.decode_scalar(&mut s, e))?;
                NodeKind::Str(s)
            }
            TokenKind::Atom | TokenKind::Dot => self.atom(t)?,
            _ => {
                return self.err(
                    t.span().start(),
                    format!("expected a value, found {}", what(&t)),
                );
            }
        };
        Ok(Node { kind, line })
    }

    /// A bare scalar: a number, a boolean, a date-time (which may hold a `.` or one space).
    fn atom(&mut self, first: Token) -> R<NodeKind> {
        let mut span = first.span();
        loop {
            let t = self.peek();
            match t.kind() {
                TokenKind::Dot | TokenKind::Atom => {
                    span = span.append(t.span());
                    self.next();
                }
                TokenKind::Whitespace => match self.peek2() {
                    a if a.kind() == TokenKind::Atom => {
                        span = span.append(a.span());
                        self.next();
                        self.next();
                    }
                    _ => break,
                },
                _ => break,
            }
        }
        let raw = self.raw(span, None);
        let mut s = std::mem::take(&mut self.scratch);
        s.clear();
        let kind = self.decoded(span, |e| raw.decode_scalar(&mut s, e));
        let out = match kind {
            Err(e) => Err(e),
            Ok(ScalarKind::Boolean(b)) => Ok(NodeKind::Bool(b)),
            Ok(ScalarKind::Integer(radix)) => match i64::from_str_radix(&s, radix.value()) {
                Ok(i) => Ok(NodeKind::Int(i)),
                Err(_) => self.err(span.start(), "integer number overflowed (beyond 64 bits)"),
            },
            Ok(ScalarKind::Float) => match s.parse::<f64>() {
                Ok(f)
                    if f.is_infinite()
                        && !s.trim_start_matches(['+', '-']).eq_ignore_ascii_case("inf") =>
                {
                    self.err(span.start(), "float number overflowed")
                }
                Ok(f) => Ok(NodeKind::Float(f)),
                Err(_) => self.err(span.start(), "invalid float number"),
            },
            Ok(ScalarKind::DateTime) => match s.parse::<toml_datetime::Datetime>() {
                Ok(d) if self.dates_as_strings => Ok(NodeKind::Str(d.to_string())),
                Ok(_) => Ok(NodeKind::Other("a date")),
                Err(e) => self.err(span.start(), e.to_string()),
            },
            Ok(ScalarKind::String) => Ok(NodeKind::Str(s.clone())),
        };
        self.scratch = s;
        out
    }

    fn array(&mut self) -> R<NodeKind> {
        let mut out = Vec::new();
        loop {
            self.ws_comment_newline()?;
            if self.peek().kind() == TokenKind::RightSquareBracket {
                self.next();
                break;
            }
            out.push(self.value()?);
            self.ws_comment_newline()?;
            let t = self.next();
            match t.kind() {
                TokenKind::Comma => {}
                TokenKind::RightSquareBracket => break,
                _ => {
                    return self.err(
                        t.span().start(),
                        format!("expected `,` or `]` in the list, found {}", what(&t)),
                    );
                }
            }
        }
        out.shrink_to_fit();
        Ok(NodeKind::List(out))
    }

    /// `{ a = 1, b.c = 2 }` (newlines, comments and a trailing comma allowed, as in TOML 1.1).
    fn inline_table(&mut self, tab: &mut Tab) -> R<()> {
        loop {
            self.ws_comment_newline()?;
            if self.peek().kind() == TokenKind::RightCurlyBracket {
                self.next();
                return Ok(());
            }
            let key = self.key()?;
            let value = self.after_key(&key)?;
            self.put(tab, key, value, &[])?;
            self.ws_comment_newline()?;
            let t = self.next();
            match t.kind() {
                TokenKind::Comma => {}
                TokenKind::RightCurlyBracket => return Ok(()),
                _ => {
                    return self.err(
                        t.span().start(),
                        format!(
                            "expected `,` or `}}` in the inline table, found {}",
                            what(&t)
                        ),
                    );
                }
            }
        }
    }

    /// Puts `key = value` into `table` (the current header's table, whose path is `within`).
    fn put(&mut self, table: &mut Tab, key: Key, value: Node, within: &[String]) -> R<()> {
        let last = key.parts.len() - 1;
        let mut t = table;
        for (i, part) in key.parts[..last].iter().enumerate() {
            let slot = t
                .map
                .entry(part.clone())
                .or_insert_with(|| Slot::Table(Box::new(Tab::new(How::Dotted, key.line))));
            t = match slot {
                Slot::Table(sub) if sub.how == How::Dotted => sub,
                Slot::Table(_) => {
                    return Err((
                        key.line,
                        format!(
                            "dotted key `{}` extends the table `{}`, which a [header] defines: \
                             put the key under that header",
                            key.parts.join("."),
                            full(within, &key.shown(i))
                        ),
                    ));
                }
                _ => {
                    return Err((
                        key.line,
                        format!(
                            "dotted key `{}`: `{}` is already a value, not a table",
                            key.parts.join("."),
                            full(within, &key.shown(i))
                        ),
                    ));
                }
            };
        }
        let name = &key.parts[last];
        if t.map.contains_key(name) {
            return Err((
                key.line,
                format!(
                    "duplicate key `{}`: each key is given once",
                    full(within, &key.parts.join("."))
                ),
            ));
        }
        t.map.insert(name.clone(), Slot::Done(value));
        Ok(())
    }

    /// Defines the table of a `[key]` or `[[key]]` header.
    fn header(&mut self, root: &mut Tab, key: &Key, array: bool) -> R<()> {
        let last = key.parts.len() - 1;
        let mut t = root;
        for (i, part) in key.parts[..last].iter().enumerate() {
            let slot = t
                .map
                .entry(part.clone())
                .or_insert_with(|| Slot::Table(Box::new(Tab::new(How::Implicit, key.line))));
            t = match slot {
                Slot::Table(sub) => sub,
                Slot::Tables(v, _) => v.last_mut().expect("an array of tables has a table"),
                Slot::Done(_) => {
                    return Err((
                        key.line,
                        format!(
                            "table header [{}]: `{}` is already a value, not a table",
                            key.parts.join("."),
                            key.shown(i)
                        ),
                    ));
                }
            };
        }
        let name = &key.parts[last];
        let shown = key.parts.join(".");
        match t.map.get_mut(name) {
            None => {
                let slot = if array {
                    Slot::Tables(vec![Tab::new(How::Header, key.line)], key.line)
                } else {
                    Slot::Table(Box::new(Tab::new(How::Header, key.line)))
                };
                t.map.insert(name.clone(), slot);
                Ok(())
            }
            Some(Slot::Tables(v, _)) if array => {
                v.push(Tab::new(How::Header, key.line));
                Ok(())
            }
            Some(Slot::Table(sub)) if !array && sub.how == How::Implicit => {
                sub.how = How::Header;
                Ok(())
            }
            Some(Slot::Table(sub)) if !array => Err((
                key.line,
                if sub.how == How::Dotted {
                    format!("table [{shown}] was already defined by dotted keys")
                } else {
                    format!("table [{shown}] is defined twice: give each table one header")
                },
            )),
            Some(Slot::Tables(..)) => Err((
                key.line,
                format!("table [{shown}] is already an array of tables ([[{shown}]])"),
            )),
            Some(_) if array => Err((
                key.line,
                format!("[[{shown}]]: `{shown}` is already defined, not as an array of tables"),
            )),
            Some(_) => Err((
                key.line,
                format!("table [{shown}]: `{shown}` is already a value, not a table"),
            )),
        }
    }
}

/// The table a header's path names (the last element of an array of tables).
fn descend<'t>(root: &'t mut Tab, path: &[String]) -> &'t mut Tab {
    let mut t = root;
    for p in path {
        t = match t.map.get_mut(p) {
            Some(Slot::Table(sub)) => sub,
            Some(Slot::Tables(v, _)) => v.last_mut().expect("an array of tables has a table"),
            _ => unreachable!("a header's path is made of tables"),
        };
    }
    t
}

fn full(within: &[String], key: &str) -> String {
    if within.is_empty() {
        key.to_string()
    } else {
        format!("{}.{key}", within.join("."))
    }
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

    fn ok(text: &str) -> Node {
        parse(text, false).unwrap_or_else(|e| panic!("{text:?}: {e:?}"))
    }

    fn bad(text: &str, needle: &str, line: usize) {
        let e = parse(text, false).expect_err(text);
        assert!(e.1.contains(needle), "{text:?}: {e:?}");
        assert_eq!(e.0, Some(line), "{text:?}: {e:?}");
    }

    fn table(n: &Node) -> &[(String, Node)] {
        match &n.kind {
            NodeKind::Table(t) => t,
            k => panic!("{k:?}"),
        }
    }

    fn get<'n>(n: &'n Node, path: &str) -> &'n Node {
        let mut n = n;
        for p in path.split('.') {
            n = &table(n)
                .iter()
                .find(|(k, _)| k == p)
                .unwrap_or_else(|| panic!("{p}"))
                .1;
        }
        n
    }

    #[test]
    fn values_and_lines() {
        let n = ok("a = 1\nb = -2.5e3\nc = \"x\\ty\"\nd = 'lit'\ne = true\n\
                    f = [1, 2.0,\n  \"s\", [3], { g = 4 },]\n\
                    h = 0x1f\ni = 1_000\nj = inf\nk = 1979-05-27 07:32:00Z\n\
                    l = \"\"\"\nml\"\"\"\n");
        assert!(matches!(get(&n, "a").kind, NodeKind::Int(1)));
        assert!(matches!(get(&n, "b").kind, NodeKind::Float(f) if f == -2500.0));
        assert!(matches!(&get(&n, "c").kind, NodeKind::Str(s) if s == "x\ty"));
        assert!(matches!(&get(&n, "d").kind, NodeKind::Str(s) if s == "lit"));
        assert!(matches!(get(&n, "e").kind, NodeKind::Bool(true)));
        let NodeKind::List(f) = &get(&n, "f").kind else {
            panic!()
        };
        assert_eq!(f.len(), 5);
        assert_eq!(f[2].line, Some(7));
        assert_eq!(get(&n, "f").line, Some(6));
        assert!(matches!(get(&n, "h").kind, NodeKind::Int(31)));
        assert!(matches!(get(&n, "i").kind, NodeKind::Int(1000)));
        assert!(matches!(get(&n, "j").kind, NodeKind::Float(f) if f == f64::INFINITY));
        assert!(matches!(get(&n, "k").kind, NodeKind::Other("a date")));
        assert!(matches!(&get(&n, "l").kind, NodeKind::Str(s) if s == "ml"));
        assert_eq!(get(&n, "l").line, Some(12));
        let d = parse("k = 1979-05-27\n", true).unwrap();
        assert!(matches!(&get(&d, "k").kind, NodeKind::Str(s) if s == "1979-05-27"));
        let d = parse("k = 1979-05-27 07:32:00Z\n", true).unwrap();
        assert!(matches!(&get(&d, "k").kind, NodeKind::Str(s) if s == "1979-05-27T07:32:00Z"));
    }

    #[test]
    fn headers_dotted_keys_and_arrays_of_tables() {
        let n = ok("x.y = 1\n[a.b]\nc = 1\n[a]\nd.e = 2\n[a.d.f]\ng = 3\n\
                    [[t]]\nn = 1\n[t.sub]\nm = 2\n[[t]]\nn = 2\n[[t.u]]\nv = 1\n");
        assert!(matches!(get(&n, "x.y").kind, NodeKind::Int(1)));
        assert!(matches!(get(&n, "a.b.c").kind, NodeKind::Int(1)));
        assert!(matches!(get(&n, "a.d.e").kind, NodeKind::Int(2)));
        assert!(matches!(get(&n, "a.d.f.g").kind, NodeKind::Int(3)));
        let NodeKind::List(t) = &get(&n, "t").kind else {
            panic!()
        };
        assert_eq!(t.len(), 2);
        assert!(matches!(get(&t[0], "sub.m").kind, NodeKind::Int(2)));
        assert_eq!(t[1].line, Some(12));
        assert!(matches!(&get(&t[1], "u").kind, NodeKind::List(u) if u.len() == 1));
        // Keys keep file order.
        let keys: Vec<&str> = table(&n).iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["x", "a", "t"]);
    }

    #[test]
    fn duplicate_keys_are_refused() {
        bad("a = 1\nb = 2\na = 3\n", "duplicate key `a`", 3);
        bad("[s]\na = 1\n\"a\" = 2\n", "duplicate key `s.a`", 3);
        bad("a = { b = 1, b = 2 }\n", "duplicate key `b`", 1);
        bad("a.b = 1\na.b = 2\n", "duplicate key `a.b`", 2);
    }

    #[test]
    fn tables_defined_twice_are_refused() {
        bad("[a]\nx = 1\n[a]\ny = 2\n", "defined twice", 3);
        bad("[a.b]\n[a]\n[a]\n", "defined twice", 3);
        bad("[a]\nb.c = 1\n[a.b]\n", "already defined by dotted keys", 3);
        bad("a = { b = 1 }\n[a]\n", "already a value", 2);
        bad("a = { b = 1 }\n[a.c]\n", "already a value", 2);
        bad("a = 1\n[a.b]\n", "already a value", 2);
    }

    #[test]
    fn dotted_keys_cannot_extend_defined_tables_or_values() {
        bad(
            "[a.b.c]\nz = 9\n[a]\nb.c.t = 1\n",
            "which a [header] defines",
            4,
        );
        bad("a = 1\na.b = 2\n", "already a value", 2);
        bad("a = { b = 1 }\na.c = 2\n", "already a value", 2);
        bad("a = [1]\na.c = 2\n", "already a value", 2);
    }

    #[test]
    fn arrays_of_tables_follow_their_rules() {
        bad("a = [1]\n[[a]]\n", "not as an array of tables", 2);
        bad("[a]\n[[a]]\n", "not as an array of tables", 2);
        bad("[[a]]\n[a]\n", "already an array of tables", 2);
        bad("a = [{ b = 1 }]\n[a.c]\n", "already a value", 2);
    }

    #[test]
    fn syntax_errors_have_lines() {
        bad("a = 1\nb = = 2\n", "expected a value", 2);
        bad("a = 1 b = 2\n", "", 1);
        bad("a = [1, 2\n", "", 2);
        bad("a = \"unterminated\n", "", 1);
        bad("a = 99999999999999999999\n", "overflow", 1);
        bad("a = 1e999\n", "overflow", 1);
        bad("a b = 1\n", "", 1);
        bad("[a\nb = 1\n", "expected `]`", 1);
        bad("a = 1\n\"x\nb = 1\n", "", 2);
        bad("é = 1\n", "", 1);
        bad("a = 0777\n", "", 1);
        bad("a = truee\n", "", 1);
        bad("= 1\n", "expected a key", 1);
    }

    /// The tree as text, for comparing with `toml_edit`'s reading.
    fn shape(n: &Node) -> String {
        match &n.kind {
            NodeKind::Bool(b) => b.to_string(),
            NodeKind::Int(i) => i.to_string(),
            NodeKind::Float(f) => format!("{f:?}"),
            NodeKind::Str(s) => format!("{s:?}"),
            NodeKind::Other(w) => w.to_string(),
            NodeKind::List(l) => format!("[{}]", l.iter().map(shape).collect::<Vec<_>>().join(",")),
            NodeKind::Table(t) => format!(
                "{{{}}}",
                t.iter()
                    .map(|(k, v)| format!("{k:?}={}", shape(v)))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        }
    }

    fn edit_value(v: &toml_edit::Value) -> String {
        use toml_edit::Value as V;
        match v {
            V::String(s) => format!("{:?}", s.value()),
            V::Integer(i) => i.value().to_string(),
            V::Float(f) => format!("{:?}", f.value()),
            V::Boolean(b) => b.value().to_string(),
            V::Datetime(_) => "a date".into(),
            V::Array(a) => format!(
                "[{}]",
                a.iter().map(edit_value).collect::<Vec<_>>().join(",")
            ),
            V::InlineTable(t) => format!(
                "{{{}}}",
                t.iter()
                    .map(|(k, v)| format!("{k:?}={}", edit_value(v)))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        }
    }

    fn edit_table(t: &toml_edit::Table) -> String {
        let items: Vec<String> = t
            .iter()
            .filter_map(|(k, item)| {
                let v = match item {
                    toml_edit::Item::None => return None,
                    toml_edit::Item::Value(v) => edit_value(v),
                    toml_edit::Item::Table(t) => edit_table(t),
                    toml_edit::Item::ArrayOfTables(a) => format!(
                        "[{}]",
                        a.iter().map(edit_table).collect::<Vec<_>>().join(",")
                    ),
                };
                Some(format!("{k:?}={v}"))
            })
            .collect();
        format!("{{{}}}", items.join(","))
    }

    /// Every case is read as `toml_edit` (which specs were read with before) reads it: the same
    /// values, or an error for both.
    #[test]
    fn agrees_with_toml_edit() {
        let cases = [
            "",
            "# only a comment\n",
            "a = 1\r\nb = 2\r\n",
            "\u{feff}a = 1\n",
            "a = +1\nb = -0\nc = 0o17\nd = 0b101\ne = 0xDEAD_beef\nf = 1_2_3\n",
            "a = 1.0\nb = -1e-3\nc = 6.626e-34\nd = -inf\ne = nan\nf = +inf\ng = 1E6\n",
            "a = 1.\n",
            "a = .5\n",
            "a = 1__0\n",
            "a = _1\n",
            "a = 01\n",
            "a = 9223372036854775807\nb = -9223372036854775808\n",
            "a = 9223372036854775808\n",
            "a = 0x8000000000000000\n",
            "a = \"\\u00e9\\n\\\"q\\\"\"\nb = 'c:\\\\x'\n",
            "a = \"\\q\"\n",
            "a = \"\"\"\\\n   x \\\n  y\"\"\"\nb = '''\nraw '' '\n'''\n",
            "a = \"tab\there\"\n",
            "a = \"bell\u{7}\"\n",
            "# bell \u{7}\na = 1\n",
            "a = 1979-05-27T07:32:00Z\nb = 1979-05-27\nc = 07:32:00\nd = 1979-05-27 07:32:00.5+01:00\n",
            "a = 1979-13-27\n",
            "a = true\nb = false\n",
            "a = True\n",
            "a = [ ]\nb = [1,]\nc = [\n  1, # one\n  2,\n]\nd = [[1], ['x'], {a = 1}]\n",
            "a = [1 2]\n",
            "a = [,]\n",
            "a = [1,,2]\n",
            "a = {}\nb = { x = 1, y.z = 2 }\nc = { d = { e = [] } }\n",
            "a = { x = 1, }\n",
            "a = {\n  x = 1,\n  y = 2\n}\n",
            "a = { x = 1 y = 2 }\n",
            "a = { x = 1, x.y = 2 }\n",
            "\"a b\" = 1\n'c.d' = 2\n\"\" = 3\n-_ = 4\n1234 = 5\n",
            "a . b . c = 1\n",
            "a.\"b.c\".d = 1\n",
            "a. = 1\n",
            "a..b = 1\n",
            "\"\"\"a\"\"\" = 1\n",
            "a = 1 # c\nb = 2#c\n",
            "a = 1\nb\n",
            "a = \n",
            "a =",
            "a = 1",
            "[a]\n[b]\n[a.c]\n",
            "[ a . b ]\nx = 1\n",
            "[a]b = 1\n",
            "[a] # c\nb = 1\n",
            "[]\n",
            "[a.]\n",
            "[[a]]\n[[a]]\n[a.b]\nc = 1\n[[a.d]]\n[[a]]\n",
            "[[ a ]]\n",
            "[ [a]]\n",
            "[[a] ]\n",
            "[a]\nb = 1\n[a.b.c]\n",
            "[a]\nb = {}\n[a.b.c]\n",
            "[fruit]\napple.color = 'red'\napple.taste.sweet = true\n[fruit.apple.texture]\nsmooth = true\n",
            "[fruit]\napple.color = 'red'\n[fruit.apple]\n",
            "[a.b.c]\nz = 9\n[a]\nb.c.t = 1\n",
            "[a.b.c.d]\nz = 9\n[a]\nb.c.d.k.t = 1\n",
            "a.b = 1\n[a]\n",
            "a.b = 1\n[a.c]\nd = 2\n",
            "[a]\nx = 1\n[a.b]\ny = 2\n[a]\n",
            "[x.y.z.w]\n[x]\n",
            "[x]\n[x.y.z.w]\n[x.y]\n",
            "[[t]]\na = 1\n[t]\n",
            "t = []\n[[t]]\n",
            "[t]\n[[t]]\n",
            "[[t.u]]\n[t]\nx = 1\n",
            "[[t]]\n[t.u]\n[[t.u]]\n",
            "a = 1\n[a]\n",
            "a = [{b = 1}]\n[[a]]\n",
            "a = {b = 1}\n[a.b]\n",
            "a = {b = {c = 1}}\na.b.d = 2\n",
            "a = 1\na = 1\n",
            "a = 1\n\"a\" = 2\n",
            "a = 1\n'a' = 2\n",
            "\"\\u0061\" = 1\na = 2\n",
            "é = 1\n",
            "a = 1\rb = 2\n",
            "a = \"x\"\"y\"\n",
            "a = 'x''\n",
            "a = 1 2\n",
            "a = 1979-05-27 x\n",
            "a = 1979-05-27  07:32:00\n",
        ];
        for text in cases {
            let mine = parse(text, false).map(|n| shape(&n));
            let theirs = text
                .parse::<toml_edit::DocumentMut>()
                .map(|d| edit_table(d.as_table()));
            match (&mine, &theirs) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{text:?}"),
                (Err(_), Err(_)) => {}
                _ => panic!("{text:?}: ours {mine:?}, toml_edit {theirs:?}"),
            }
        }
    }
}
