//! Reading one experiment's logs: where they are, the final status of a run, and its CSV rows.
//!
//! All knowledge of the on-disk layout (`DIR/logs/`, `<id>.json`, `<id>.csv`, temp files) is in
//! [`log_files`] and [`logs_dir`], so the store module can take it over in one place. Files are
//! read one at a time and a CSV is never held whole: the final row comes from the file's tail.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::AnalysisError;
use crate::plan::Instance;

/// How a run ended, as its status file says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Finished normally.
    Done,
    /// Finished, with learning frozen by the time limit: a valid run, counted separately.
    Timeout,
    /// Failed.
    Error,
    /// Stopped before the end.
    Interrupted,
}

impl RunState {
    /// Whether the run's log counts as a result.
    pub fn is_valid(self) -> bool {
        matches!(self, RunState::Done | RunState::Timeout)
    }
}

/// The part of a status file the analysis needs; other fields are ignored.
#[derive(Clone, Debug, Deserialize)]
pub struct StatusFile {
    /// How the run ended.
    pub status: RunState,
    /// The error message, if any.
    #[serde(default)]
    pub message: Option<String>,
    /// What ran.
    pub instance: Instance,
}

/// The files of one run found in a logs folder.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LogFiles {
    /// The instance id (16 lowercase hex digits).
    pub id: String,
    /// `<id>.json`, written when the run ended.
    pub status: Option<PathBuf>,
    /// `<id>.csv`, the performance log.
    pub csv: Option<PathBuf>,
}

/// The logs folder of a path: an experiment folder's `logs/`, or the path itself (a folder of
/// downloaded logs).
pub fn logs_dir(path: &Path) -> PathBuf {
    let logs = path.join("logs");
    if logs.is_dir() {
        logs
    } else {
        path.to_path_buf()
    }
}

/// Lists the runs of a logs folder, sorted by id. Temp files (`*.tmp*`, dot files), other
/// folders and other names are skipped.
pub fn log_files(path: &Path) -> Result<Vec<LogFiles>, AnalysisError> {
    let dir = logs_dir(path);
    let read_dir = std::fs::read_dir(&dir).map_err(|e| AnalysisError::Io {
        path: dir.clone(),
        source: e,
    })?;
    let mut by_id: std::collections::BTreeMap<String, LogFiles> = Default::default();
    for entry in read_dir {
        let entry = entry.map_err(|e| AnalysisError::Io {
            path: dir.clone(),
            source: e,
        })?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') || name.contains(".tmp") {
            continue;
        }
        let Some((stem, ext)) = name.rsplit_once('.') else {
            continue;
        };
        if stem.len() != 16 || !stem.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        if ext != "json" && ext != "csv" {
            continue;
        }
        if !entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
            continue;
        }
        let files = by_id.entry(stem.to_string()).or_insert_with(|| LogFiles {
            id: stem.to_string(),
            status: None,
            csv: None,
        });
        if ext == "json" {
            files.status = Some(entry.path());
        } else {
            files.csv = Some(entry.path());
        }
    }
    Ok(by_id.into_values().collect())
}

/// Reads a status file.
pub fn read_status(path: &Path) -> Result<StatusFile, AnalysisError> {
    let bytes = std::fs::read(path).map_err(|e| AnalysisError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    serde_json::from_slice(&bytes).map_err(|e| AnalysisError::Format {
        path: path.to_path_buf(),
        reason: format!("not a run status file: {e}"),
    })
}

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
    fn listing_skips_temp_files_and_folders() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs");
        std::fs::create_dir_all(logs.join("attic")).unwrap();
        write(&logs, "0123456789abcdef.json", "{}");
        write(&logs, "0123456789abcdef.csv", "");
        write(&logs, "fedcba9876543210.csv", "");
        write(&logs, "fedcba9876543210.json.tmp123", "");
        write(&logs, ".0000000000000000.json", "");
        write(&logs, "notes.txt", "");
        let files = log_files(dir.path()).unwrap();
        assert_eq!(files.len(), 2);
        assert!(files[0].status.is_some() && files[0].csv.is_some());
        assert!(files[1].status.is_none() && files[1].csv.is_some());
        assert_eq!(log_files(&logs).unwrap(), files);
    }

    #[test]
    fn at_parses() {
        assert_eq!("final".parse::<At>().unwrap(), At::Final);
        assert_eq!("10_000".parse::<At>().unwrap(), At::Step(10000));
        assert!("soon".parse::<At>().is_err());
    }
}
