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
//! and `slurm` at the edges. `store` is the only module that knows the experiment folder's
//! layout; `run` runs one instance in memory; `exec` runs many, claimed and committed through
//! the store; `analysis` reads finished runs through the store. See `docs/architecture.md`.
//!
//! Layers, lowest first; a module uses modules of its own or lower layers, never a higher one,
//! and no two files import each other, directly or around a circle:
//! `value`, `rng`, `regular` | `spec`, `model` | `plan` | `store`, `run`, `provenance` | `exec`,
//! `analysis`, `remote` | `report`, `slurm` | `cli`.
//! (`tests/it/layers.rs` reads this list from here and checks the source against it.)
//! The library never prints; only `cli` touches the terminal.
#![warn(missing_docs)]

pub mod analysis;
pub mod cli;
pub mod exec;
pub mod model;
pub mod plan;
pub mod provenance;
pub mod regular;
pub mod remote;
pub mod report;
pub mod rng;
pub mod run;
pub mod slurm;
pub mod spec;
pub mod store;
pub mod value;
