//! ludus: plan, run and analyse reinforcement-learning experiment sweeps, on a laptop or a cluster.
//!
//! ```text
//! spec (TOML/YAML) --plan--> instances/<id>.bin --run-instances--> logs/<id>.csv + <id>.json
//!                                   |  upload / submit (SSH, SLURM, MPI)          |  download
//!                                   v                                              v
//!                              a cluster                        select-best -> report (tables, plots)
//! ```
//!
//! The pipeline: spec -> plan -> store -> run/exec -> analysis -> report, with `cli`, `remote`
//! and `slurm` at the edges. Layers, lowest first; a module only uses modules of lower layers:
//! `value`, `rng` | `spec`, `model` | `plan` | `store` (the only module that knows the
//! experiment folder's layout) | `run` (one instance in memory) | `exec` (many instances,
//! claimed and committed through the store) | `analysis` (finished runs, read through the
//! store) | `report` | `remote`, `slurm` | `cli`. See `docs/architecture.md`.
//! The library never prints; only `cli` touches the terminal.
#![warn(missing_docs)]

pub mod analysis;
pub mod cli;
pub mod exec;
pub mod model;
pub mod plan;
pub mod remote;
pub mod report;
pub mod rng;
pub mod run;
pub mod slurm;
pub mod spec;
pub mod store;
pub mod value;
