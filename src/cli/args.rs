//! Argument groups shared by several verbs, declared once (flattened into each verb's
//! arguments) and turned into library options once, so every verb spells a flag the same way.

use std::path::PathBuf;

use crate::analysis::{At, Incomplete, SelectOptions};
use crate::remote::ConnectOptions;
use crate::slurm::WatchOptions;

/// How to reach a host over SSH (`upload`, `download`, `submit`, `watch`, `resubmit`, `cancel`).
#[derive(clap::Args, Debug, Clone)]
pub struct SshArgs {
    /// Use this ssh config file instead of ~/.ssh/config.
    #[arg(short = 'F', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Identity (private key) file to try first (repeatable).
    #[arg(short = 'i', long = "identity", value_name = "FILE")]
    identity: Vec<PathBuf>,
    /// Use this known_hosts file instead of ~/.ssh/known_hosts.
    #[arg(long, value_name = "FILE")]
    known_hosts: Option<PathBuf>,
    /// Add the key of a host not seen before to known_hosts (a changed key is always refused).
    #[arg(long)]
    accept_new_host_key: bool,
    /// Do not ask ssh-agent for keys.
    #[arg(long)]
    no_agent: bool,
}

impl SshArgs {
    /// The library's connection options.
    pub fn options(&self) -> ConnectOptions {
        ConnectOptions {
            home: None,
            config_file: self.config.clone(),
            identities: self.identity.clone(),
            known_hosts: self.known_hosts.clone(),
            accept_new_host_key: self.accept_new_host_key,
            no_agent: self.no_agent,
        }
    }
}

/// How configurations are ranked (`select-best`, `report`).
#[derive(clap::Args, Debug, Clone)]
pub struct SelectArgs {
    /// The log column to rank by (and that selects each agent's configuration).
    #[arg(long, default_value = "normalized_cumulative_regret")]
    measure: String,
    /// The row to read it at: `final` or a step (the last row at or before it).
    #[arg(long, default_value = "final", value_name = "final|STEP")]
    at: At,
    /// Configurations with fewer valid runs than expected: `exclude` (ranked last, never win)
    /// or `include` (ranked by the runs they have, still flagged).
    #[arg(long, value_enum, default_value = "exclude")]
    incomplete: Incomplete,
    /// Higher values of the measure are better (default: only for `*reward*` measures).
    #[arg(long, visible_alias = "maximize")]
    higher_is_better: bool,
    /// Also use results of instances that the folder's current plan no longer holds (stale
    /// results: another version of the spec).
    #[arg(long)]
    include_stale: bool,
}

impl SelectArgs {
    /// The library's ranking options.
    pub fn options(&self) -> SelectOptions {
        SelectOptions {
            measure: self.measure.clone(),
            at: self.at,
            higher_is_better: self.higher_is_better.then_some(true),
            incomplete: self.incomplete,
            include_stale: self.include_stale,
        }
    }
}

/// `--wait` and the watch options that go with it (`submit`, `resubmit`).
#[derive(clap::Args, Debug, Clone)]
pub struct WaitArgs {
    /// After submitting, watch the job until it leaves the queue (as `ludus watch`).
    #[arg(long)]
    pub wait: bool,
    #[command(flatten)]
    pub watch: FollowArgs,
}

/// How to follow a job (`watch`, and `submit`/`resubmit` with `--wait`).
#[derive(clap::Args, Debug, Clone)]
pub struct FollowArgs {
    /// Seconds between polls after a change; while nothing changes the wait grows by half
    /// each poll, up to --max-interval.
    #[arg(long, default_value_t = 30.0, value_name = "S")]
    interval: f64,
    /// The longest wait between polls [default: 4 x --interval, so 30 s to 2 min].
    #[arg(long, value_name = "S")]
    max_interval: Option<f64>,
    /// Do not download logs while watching.
    #[arg(long)]
    no_download: bool,
}

impl FollowArgs {
    /// The library's watch options.
    pub fn options(&self) -> WatchOptions {
        WatchOptions {
            interval: self.interval,
            max_interval: self.max_interval.unwrap_or(4.0 * self.interval),
            download: !self.no_download,
        }
    }
}
