//! `resources = { cpus = 2, mem = "8G", gpus = 1, time = "2h" }`: what one instance needs on a
//! cluster, at the top level of a spec and per `[[experiment]]` (whose keys override the top
//! level's one by one). `ludus submit` turns them into sbatch options.

use super::node::{Node, NodeKind};
use super::validate::{Cx, R, join};

const RESOURCE_KEYS: &[&str] = &["cpus", "mem", "gpus", "time"];

/// What one instance needs; `None` leaves the choice to `submit`'s options and the cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Resources {
    /// CPUs (`--cpus-per-task`).
    pub cpus: Option<u32>,
    /// Memory as sbatch takes it: a number of megabytes with an optional K, M, G or T suffix.
    pub mem: Option<String>,
    /// GPUs (`--gres=gpu:N`).
    pub gpus: Option<u32>,
    /// Time limit in minutes, rounded up (`--time`).
    pub time_minutes: Option<u64>,
}

impl Resources {
    /// These resources, each key not given here taken from `base`.
    pub fn over(&self, base: &Resources) -> Resources {
        Resources {
            cpus: self.cpus.or(base.cpus),
            mem: self.mem.clone().or_else(|| base.mem.clone()),
            gpus: self.gpus.or(base.gpus),
            time_minutes: self.time_minutes.or(base.time_minutes),
        }
    }

    /// True when nothing is stated.
    pub fn is_empty(&self) -> bool {
        *self == Resources::default()
    }
}

impl Cx<'_> {
    /// Reads a `resources` table.
    pub(super) fn resources(&self, key: &str, n: &Node) -> R<Resources> {
        let t = self.table(key, n)?;
        self.known_keys(key, t, RESOURCE_KEYS)?;
        let mut r = Resources::default();
        for (k, v) in t {
            let kk = join(key, k);
            match k.as_str() {
                "cpus" | "gpus" => {
                    let min = if k == "cpus" { 1 } else { 0 };
                    let x = match v.kind {
                        NodeKind::Int(x) if x >= min && x <= i64::from(u32::MAX) => x as u32,
                        _ => {
                            return self.err(
                                &kk,
                                v.line,
                                format!("expected a whole number of at least {min}"),
                            );
                        }
                    };
                    if k == "cpus" {
                        r.cpus = Some(x);
                    } else {
                        r.gpus = Some(x);
                    }
                }
                "mem" => {
                    let s = match &v.kind {
                        NodeKind::Int(x) if *x > 0 => x.to_string(),
                        NodeKind::Str(s) => s.trim().to_string(),
                        _ => String::new(),
                    };
                    let digits = s.trim_end_matches(['K', 'M', 'G', 'T', 'k', 'm', 'g', 't']);
                    let suffix = s.len() - digits.len();
                    if digits.is_empty()
                        || suffix > 1
                        || !digits.bytes().all(|b| b.is_ascii_digit())
                        || digits.bytes().all(|b| b == b'0')
                    {
                        return self.err(
                            &kk,
                            v.line,
                            "expected memory as sbatch takes it: megabytes, or a number with K, M, G or T (\"8G\", \"500M\")",
                        );
                    }
                    r.mem = Some(s.to_ascii_uppercase());
                }
                _ => {
                    let minutes = match &v.kind {
                        NodeKind::Str(s) => humantime::parse_duration(s)
                            .ok()
                            .filter(|d| !d.is_zero())
                            .map(|d| d.as_secs().div_ceil(60)),
                        _ => None,
                    };
                    let Some(m) = minutes else {
                        return self.err(
                            &kk,
                            v.line,
                            "expected a time limit such as \"2h\", \"90m\" or \"1h 30m\"",
                        );
                    };
                    r.time_minutes = Some(m);
                }
            }
        }
        Ok(r)
    }
}
