//! Metric rows a user's program appends to `LUDUS_METRICS`, turned into the standard log CSV.
//!
//! Two formats, told apart by the first non-blank line: CSV with a header line, or JSON lines
//! (one object per line, its keys the columns, in order of first appearance). A row that cannot
//! be read is an error naming its line. A program killed while writing may leave a partial last
//! line (no newline); `partial_tail_ok` drops it instead of failing.
//!
//! A column is numeric once its first non-empty value is a number; a later value that is not
//! one is an error naming the line and the column. So is a second header line (a restarted
//! program writing its header again, changed or not): its fields would land in numeric
//! columns. An error quotes at most [`QUOTE_BYTES`] bytes of the offending line or value.

use std::fmt;

/// The most bytes of a line or value an error message quotes.
pub const QUOTE_BYTES: usize = 200;

/// Quotes text for an error message: at most [`QUOTE_BYTES`] bytes (cut on a character
/// boundary, the full length said), control characters escaped, so a message stays one short
/// line whatever the program wrote.
pub fn quote(text: &str) -> String {
    let mut cut = text.len().min(QUOTE_BYTES);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let shown: String = text[..cut].escape_debug().collect();
    if cut < text.len() {
        format!("`{shown}`... ({} bytes)", text.len())
    } else {
        format!("`{shown}`")
    }
}

/// Metrics that cannot be read: the 1-based line, the column when one is at fault, and what is
/// wrong.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricsError {
    /// The 1-based line.
    pub line: usize,
    /// The column's name (quoted, clipped), when the fault is in one column.
    pub column: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for MetricsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}", self.line)?;
        if let Some(c) = &self.column {
            write!(f, ", column {c}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Which columns hold numbers: decided by each column's first non-empty value.
#[derive(Default)]
struct Numeric(Vec<Option<bool>>);

impl Numeric {
    /// Checks one value of column `i`; the error message when a numeric column gets text.
    fn check(&mut self, i: usize, value: &str) -> Result<(), String> {
        if value.is_empty() {
            return Ok(());
        }
        if self.0.len() <= i {
            self.0.resize(i + 1, None);
        }
        let is_num = value.parse::<f64>().is_ok();
        match self.0[i] {
            None => self.0[i] = Some(is_num),
            Some(true) if !is_num => {
                return Err(format!(
                    "{} is not a number, in a column of numbers (a second or changed header \
                     line, from a restarted program, also ends here)",
                    quote(value)
                ));
            }
            Some(_) => {}
        }
        Ok(())
    }
}

/// The converted log: CSV text (header and rows), and the number of rows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Converted {
    /// The CSV text.
    pub csv: String,
    /// Data rows.
    pub rows: usize,
}

/// Converts metrics text to CSV. On error, the rows before the bad line come with it, so they
/// can still be kept.
pub fn to_csv(text: &str, partial_tail_ok: bool) -> Result<Converted, (MetricsError, Converted)> {
    let mut lines: Vec<(usize, &str)> = text
        .split_inclusive('\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .collect();
    if partial_tail_ok && lines.last().is_some_and(|(_, l)| !l.ends_with('\n')) {
        lines.pop();
    }
    let lines: Vec<(usize, &str)> = lines
        .into_iter()
        .map(|(i, l)| (i, l.trim_end_matches(['\n', '\r'])))
        .filter(|(_, l)| !l.trim().is_empty())
        .collect();
    match lines.first() {
        None => Ok(Converted::default()),
        Some((_, l)) if l.trim_start().starts_with('{') => json_lines(&lines),
        Some(_) => csv_rows(&lines),
    }
}

fn bad(
    line: usize,
    message: String,
    done: Converted,
) -> Result<Converted, (MetricsError, Converted)> {
    Err((
        MetricsError {
            line,
            column: None,
            message,
        },
        done,
    ))
}

fn bad_in(
    line: usize,
    column: &str,
    message: String,
    done: Converted,
) -> Result<Converted, (MetricsError, Converted)> {
    Err((
        MetricsError {
            line,
            column: Some(quote(column)),
            message,
        },
        done,
    ))
}

fn csv_line(fields: &[String]) -> String {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    let _ = w.write_record(fields);
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

fn csv_rows(lines: &[(usize, &str)]) -> Result<Converted, (MetricsError, Converted)> {
    let parse = |l: &str| -> Option<Vec<String>> {
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(l.as_bytes());
        let rec = r.records().next()?.ok()?;
        Some(rec.iter().map(|f| f.trim().to_string()).collect())
    };
    let mut out = Converted::default();
    let (hl, h) = lines[0];
    let Some(header) = parse(h) else {
        return bad(hl, format!("not a CSV header line: {}", quote(h)), out);
    };
    if header.iter().any(|c| c.is_empty()) {
        return bad(hl, "the header has an empty column name".into(), out);
    }
    out.csv = csv_line(&header);
    let mut numeric = Numeric::default();
    for &(n, l) in &lines[1..] {
        let Some(row) = parse(l) else {
            return bad(n, format!("not a CSV line: {}", quote(l)), out);
        };
        if row == header {
            return bad(
                n,
                format!(
                    "a second header line (the header is line {hl}); a restarted program must not \
                     write its header again"
                ),
                out,
            );
        }
        if row.len() != header.len() {
            return bad(
                n,
                format!(
                    "{} fields where the header has {}: {}",
                    row.len(),
                    header.len(),
                    quote(l)
                ),
                out,
            );
        }
        for (i, v) in row.iter().enumerate() {
            if let Err(m) = numeric.check(i, v) {
                return bad_in(n, &header[i], m, out);
            }
        }
        out.csv.push_str(&csv_line(&row));
        out.rows += 1;
    }
    Ok(out)
}

/// A JSON object with its keys in file order (serde_json's map sorts them).
struct Ordered(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<Ordered, A::Error> {
                let mut out = Vec::new();
                while let Some(kv) = m.next_entry()? {
                    out.push(kv);
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(V)
    }
}

fn json_lines(lines: &[(usize, &str)]) -> Result<Converted, (MetricsError, Converted)> {
    let mut columns: Vec<String> = Vec::new();
    let mut rows: Vec<Vec<(usize, String)>> = Vec::new();
    let done = |columns: &[String], rows: &[Vec<(usize, String)>]| {
        let mut c = Converted::default();
        if rows.is_empty() {
            return c;
        }
        c.csv = csv_line(columns);
        for r in rows {
            let mut f = vec![String::new(); columns.len()];
            for (i, v) in r {
                f[*i] = v.clone();
            }
            c.csv.push_str(&csv_line(&f));
            c.rows += 1;
        }
        c
    };
    let mut numeric = Numeric::default();
    for &(n, l) in lines {
        let obj = match serde_json::from_str::<Ordered>(l) {
            Ok(o) => o.0,
            Err(e) if e.is_data() => {
                let m = "a JSON line must be an object".to_string();
                return bad(n, m, done(&columns, &rows));
            }
            Err(e) => return bad(n, format!("not JSON: {e}"), done(&columns, &rows)),
        };
        let mut row = Vec::with_capacity(obj.len());
        for (k, v) in obj {
            let text = match v {
                serde_json::Value::Number(x) => x.to_string(),
                serde_json::Value::Bool(b) => u8::from(b).to_string(),
                serde_json::Value::String(s) => s,
                serde_json::Value::Null => String::new(),
                _ => {
                    return bad(
                        n,
                        format!(
                            "{} is a list or object; metrics are numbers or strings",
                            quote(&k)
                        ),
                        done(&columns, &rows),
                    );
                }
            };
            let i = match columns.iter().position(|c| *c == k) {
                Some(i) => i,
                None => {
                    columns.push(k);
                    columns.len() - 1
                }
            };
            if let Err(m) = numeric.check(i, &text) {
                return bad_in(n, &columns[i], m, done(&columns, &rows));
            }
            row.push((i, text));
        }
        rows.push(row);
    }
    Ok(done(&columns, &rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_header() {
        let c = to_csv("epoch,loss\n1,0.5\n2,0.25\n", false).unwrap();
        assert_eq!(c.csv, "epoch,loss\n1,0.5\n2,0.25\n");
        assert_eq!(c.rows, 2);
    }

    #[test]
    fn json_lines_union_of_keys() {
        let c = to_csv(
            "{\"loss\": 0.5, \"epoch\": 1}\n{\"epoch\": 2, \"acc\": 0.9}\n",
            false,
        )
        .unwrap();
        assert_eq!(c.csv, "loss,epoch,acc\n0.5,1,\n,2,0.9\n");
    }

    #[test]
    fn bad_lines_are_named_and_earlier_rows_kept() {
        let (e, c) = to_csv("a,b\n1,2\n3\n", false).unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("1 fields where the header has 2"), "{e}");
        assert_eq!(c.csv, "a,b\n1,2\n");
        let (e, _) = to_csv("{\"a\": 1}\n{\"a\": \n", false).unwrap_err();
        assert_eq!(e.line, 2);
    }

    #[test]
    fn a_second_or_changed_header_and_text_in_numbers_are_errors() {
        let (e, c) = to_csv("epoch,loss\n1,0.5\nepoch,loss\n2,0.4\n", false).unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("second header line"), "{e}");
        assert_eq!(c.rows, 1);
        let (e, _) = to_csv("epoch,loss\n1,0.5\nepoch,acc\n2,0.9\n", false).unwrap_err();
        assert_eq!((e.line, e.column.as_deref()), (3, Some("`epoch`")));
        assert!(
            e.to_string()
                .starts_with("line 3, column `epoch`: `epoch` is not a number")
        );
        // A text column stays text; a numeric one refuses text.
        assert!(to_csv("a,b\n1,x\n2,y\n3,\n", false).is_ok());
        let (e, _) = to_csv("a,b\n1,2\n3,nope\n", false).unwrap_err();
        assert_eq!((e.line, e.column.as_deref()), (3, Some("`b`")));
        let (e, _) = to_csv("{\"a\": 1}\n{\"a\": \"x\"}\n", false).unwrap_err();
        assert_eq!((e.line, e.column.as_deref()), (2, Some("`a`")));
    }

    #[test]
    fn errors_quote_at_most_a_few_hundred_bytes() {
        let long = "9,".repeat(1_000_000);
        let (e, _) = to_csv(&format!("a,b\n1,2\n{long}\n"), false).unwrap_err();
        let m = e.to_string();
        assert!(m.len() < 400, "{} bytes", m.len());
        assert!(m.contains("(2000000 bytes)"), "{m}");
        let (e, _) =
            to_csv(&format!("a,b\n1,2\n3,{}\n", "x".repeat(5_000_000)), false).unwrap_err();
        assert!(e.to_string().len() < 400);
        assert!(quote("é".repeat(150).as_str()).len() < 260);
    }

    #[test]
    fn partial_last_line_dropped_when_killed() {
        let c = to_csv("a,b\n1,2\n3", true).unwrap();
        assert_eq!(c.rows, 1);
        assert!(to_csv("a,b\n1,2\n3", false).is_err());
        assert_eq!(to_csv("", false).unwrap(), Converted::default());
    }
}
