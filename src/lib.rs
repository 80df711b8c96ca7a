//! ludus: plan, run and analyse reinforcement-learning experiment sweeps, on a laptop or a cluster.
//!
//! ```text
//! spec (TOML/YAML) --plan--> instances/<id>.bin --run-instances--> logs/<id>.csv + <id>.json
//!                                   |  upload / submit (SSH, SLURM, MPI)          |  download
//!                                   v                                              v
//!                              a cluster                        select-best -> report (tables, plots)
//! ```
//!
//! Layers, lowest first; a module only uses modules of lower layers:
//! `value`, `rng`, `regular` | `spec`, `model` | `plan` | `store`, `run` | `exec` | `cli`.
//! The library never prints; only `cli` touches the terminal.
#![warn(missing_docs)]

pub mod analysis;
pub mod cli;
pub mod exec;
pub mod model;
pub mod plan;
pub mod regular;
pub mod remote;
pub mod report;
pub mod rng;
pub mod run;
pub mod slurm;
pub mod spec;
pub mod store;
pub mod value;
