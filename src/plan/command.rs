//! Command templates of `[[experiment]]` tables: `{name}` placeholders filled with a parameter
//! value, `{seed}` or `{id}`; `{{` and `}}` stand for literal braces.
//!
//! The template is checked at plan time (every placeholder must name something) and filled in
//! when the instance runs, so the instance file keeps the template and `{id}` can be its own id.

use crate::value::{Params, Value};

/// One piece of a template argument.
#[derive(Debug, PartialEq)]
enum Piece<'a> {
    Text(&'a str),
    Brace(char),
    Name(&'a str),
}

fn pieces(arg: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = arg;
    while !rest.is_empty() {
        let Some(i) = rest.find(['{', '}']) else {
            out.push(Piece::Text(rest));
            break;
        };
        if i > 0 {
            out.push(Piece::Text(&rest[..i]));
        }
        let tail = &rest[i..];
        if let Some(t) = tail.strip_prefix("{{") {
            out.push(Piece::Brace('{'));
            rest = t;
        } else if let Some(t) = tail.strip_prefix("}}") {
            out.push(Piece::Brace('}'));
            rest = t;
        } else if let Some(t) = tail.strip_prefix('{') {
            let Some(end) = t.find('}') else {
                return Err(format!(
                    "`{arg}`: a `{{` without its `}}`; write `{{{{` for a literal brace"
                ));
            };
            let name = t[..end].trim();
            if name.is_empty() || name.contains('{') {
                return Err(format!("`{arg}`: an empty or nested placeholder"));
            }
            out.push(Piece::Name(name));
            rest = &t[end + 1..];
        } else {
            return Err(format!(
                "`{arg}`: a `}}` without its `{{`; write `}}}}` for a literal brace"
            ));
        }
    }
    Ok(out)
}

/// Checks a template against the parameters it will be filled with: every placeholder must be
/// a parameter, `seed` or `id`. The error names the placeholder and the known names.
pub fn check(command: &[String], params: &Params) -> Result<(), String> {
    for arg in command {
        for p in pieces(arg)? {
            if let Piece::Name(n) = p
                && n != "seed"
                && n != "id"
                && !params.contains_key(n)
            {
                let mut known: Vec<&str> = params.keys().map(String::as_str).collect();
                known.extend(["seed", "id"]);
                return Err(format!(
                    "placeholder `{{{n}}}` in `{arg}` names no parameter; known: {}",
                    known.join(", ")
                ));
            }
        }
    }
    Ok(())
}

/// A parameter value as it appears in argv and the environment: strings as they are, numbers
/// and booleans as written, lists and tables as JSON.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        Value::List(_) | Value::Table(_) => serde_json::to_string(v).unwrap_or_default(),
        _ => v.to_string(),
    }
}

/// Fills a template in.
pub fn render(
    command: &[String],
    params: &Params,
    seed: u64,
    id: &str,
) -> Result<Vec<String>, String> {
    command
        .iter()
        .map(|arg| {
            let mut s = String::with_capacity(arg.len());
            for p in pieces(arg)? {
                match p {
                    Piece::Text(t) => s.push_str(t),
                    Piece::Brace(c) => s.push(c),
                    Piece::Name("seed") => s.push_str(&seed.to_string()),
                    Piece::Name("id") => s.push_str(id),
                    Piece::Name(n) => match params.get(n) {
                        Some(v) => s.push_str(&value_text(v)),
                        None => return Err(format!("placeholder `{{{n}}}` names no parameter")),
                    },
                }
            }
            Ok(s)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn fills_params_seed_id_and_braces() {
        let p: Params = [
            ("lr".to_string(), Value::Float(0.01)),
            ("opt".to_string(), Value::Str("sgd".into())),
        ]
        .into();
        let c = cmd(&["train", "--lr={lr}", "{opt}", "{seed}", "{id}", "{{x}}"]);
        check(&c, &p).unwrap();
        let r = render(&c, &p, 7, "abc").unwrap();
        assert_eq!(r, cmd(&["train", "--lr=0.01", "sgd", "7", "abc", "{x}"]));
    }

    #[test]
    fn unknown_and_broken_placeholders_are_named() {
        let p = Params::new();
        let e = check(&cmd(&["a", "--x={lrr}"]), &p).unwrap_err();
        assert!(e.contains("`{lrr}`") && e.contains("seed, id"), "{e}");
        assert!(check(&cmd(&["{oops"]), &p).unwrap_err().contains("without"));
        assert!(check(&cmd(&["oops}"]), &p).unwrap_err().contains("without"));
    }
}
