//! Reading one run's CSV log: the values at one row, or whole columns.
//!
//! Where the logs are and what a final status says is the store's (`store::runs`). A CSV is
//! never held whole: the final row comes from the file's tail.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use serde::Serialize;

use super::AnalysisError;

/// Which log row a value is taken from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum At {
    /// The last row (the final step).
    Final,
    /// The last row whose `steps` (a program's log: its first column) is at most this.
    Step(u64),
}

impl std::fmt::Display for At {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            At::Final => write!(f, "final"),
            At::Step(s) => write!(f, "step {s}"),
        }
    }
}

impl std::str::FromStr for At {
    type Err = String;
    fn from_str(s: &str) -> Result<At, String> {
        if s == "final" {
            return Ok(At::Final);
        }
        s.replace('_', "")
            .parse()
            .map(At::Step)
            .map_err(|_| format!("expected `final` or a step number, found `{s}`"))
    }
}

fn format_err(path: &Path, reason: impl Into<String>) -> AnalysisError {
    AnalysisError::Format {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Column indices of `names` in a CSV header line.
fn column_indices(path: &Path, header: &str, names: &[&str]) -> Result<Vec<usize>, AnalysisError> {
    let cols: Vec<&str> = header.trim_end().split(',').map(str::trim).collect();
    names
        .iter()
        .map(|n| {
            cols.iter()
                .position(|c| c == n)
                .ok_or_else(|| format_err(path, format!("no column `{n}` in the header")))
        })
        .collect()
}

fn parse_row(path: &Path, line: &str, idx: &[usize]) -> Result<Vec<f64>, AnalysisError> {
    let fields: Vec<&str> = line.trim_end().split(',').collect();
    idx.iter()
        .map(|&i| {
            let f = fields
                .get(i)
                .ok_or_else(|| format_err(path, format!("short row `{}`", line.trim_end())))?;
            f.trim()
                .parse::<f64>()
                .map_err(|_| format_err(path, format!("not a number: `{}`", f.trim())))
        })
        .collect()
}

/// The values of `names` at the row `at`. The final row is read from the file's tail, so this
/// costs two small reads whatever the log's length.
pub fn read_values(path: &Path, names: &[&str], at: At) -> Result<Vec<f64>, AnalysisError> {
    let io = |e| AnalysisError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let mut file = File::open(path).map_err(io)?;
    let mut reader = BufReader::new(&mut file);
    let mut header = String::new();
    reader.read_line(&mut header).map_err(io)?;
    if header.trim().is_empty() {
        return Err(format_err(path, "empty log"));
    }
    if let At::Step(step) = at {
        let mut wanted = names.to_vec();
        // Built-in logs count `steps`; a program's log counts in its first column (an epoch).
        let first = header.split(',').next().unwrap_or("").trim().to_string();
        let has_steps = header.trim_end().split(',').any(|c| c.trim() == "steps");
        wanted.push(if has_steps { "steps" } else { first.as_str() });
        let idx = column_indices(path, &header, &wanted)?;
        let mut best: Option<Vec<f64>> = None;
        for line in reader.lines() {
            let line = line.map_err(io)?;
            if line.trim().is_empty() {
                continue;
            }
            let row = parse_row(path, &line, &idx)?;
            if row[names.len()] <= step as f64 {
                best = Some(row);
            } else {
                break;
            }
        }
        let mut row =
            best.ok_or_else(|| format_err(path, format!("no row at or before step {step}")))?;
        row.truncate(names.len());
        return Ok(row);
    }
    let idx = column_indices(path, &header, names)?;
    let header_len = header.len() as u64;
    drop(reader);
    let len = file.metadata().map_err(io)?.len();
    // A row is a few hundred bytes; read a tail that surely holds the last one.
    let mut tail_len = 4096u64;
    loop {
        let start = len.saturating_sub(tail_len).max(header_len);
        file.seek(SeekFrom::Start(start)).map_err(io)?;
        let mut buf = String::new();
        file.read_to_string(&mut buf)
            .map_err(|e| format_err(path, format!("unreadable: {e}")))?;
        let mut lines = buf.lines().rev().filter(|l| !l.trim().is_empty());
        let last = lines.next();
        // The last line is whole if another line precedes it in the buffer or the buffer
        // starts right after the header.
        let whole = start == header_len || lines.next().is_some();
        match last {
            None if start == header_len => return Err(format_err(path, "no rows")),
            Some(l) if whole => return parse_row(path, l, &idx),
            _ => tail_len *= 4,
        }
    }
}

/// All rows of the columns `names`, in file order (for curves).
pub fn read_columns(path: &Path, names: &[&str]) -> Result<Vec<Vec<f64>>, AnalysisError> {
    let io = |e| AnalysisError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let file = File::open(path).map_err(io)?;
    let mut lines = BufReader::new(file).lines();
    let header = match lines.next() {
        Some(h) => h.map_err(io)?,
        None => return Err(format_err(path, "empty log")),
    };
    let idx = column_indices(path, &header, names)?;
    let mut rows = Vec::new();
    for line in lines {
        let line = line.map_err(io)?;
        if !line.trim().is_empty() {
            rows.push(parse_row(path, &line, &idx)?);
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn final_row_from_the_tail() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::from("steps,x,cumulative_regret\n");
        for i in 1..=1000 {
            text.push_str(&format!("{},{},{}\n", i * 10, i, i as f64 / 2.0));
        }
        let p = write(dir.path(), "a.csv", &text);
        assert_eq!(
            read_values(&p, &["cumulative_regret", "steps"], At::Final).unwrap(),
            vec![500.0, 10000.0]
        );
        assert_eq!(read_values(&p, &["x"], At::Step(55)).unwrap(), vec![5.0]);
        assert!(read_values(&p, &["nope"], At::Final).is_err());
        let rows = read_columns(&p, &["steps"]).unwrap();
        assert_eq!(rows.len(), 1000);
    }

    #[test]
    fn one_row_and_no_rows() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "a.csv", "steps,y\n100,2.5");
        assert_eq!(read_values(&p, &["y"], At::Final).unwrap(), vec![2.5]);
        let p = write(dir.path(), "b.csv", "steps,y\n");
        assert!(read_values(&p, &["y"], At::Final).is_err());
        let p = write(dir.path(), "c.csv", "");
        assert!(read_values(&p, &["y"], At::Final).is_err());
    }

    #[test]
    fn at_parses() {
        assert_eq!("final".parse::<At>().unwrap(), At::Final);
        assert_eq!("10_000".parse::<At>().unwrap(), At::Step(10000));
        assert!("soon".parse::<At>().is_err());
    }
}
