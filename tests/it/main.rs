//! The integration tests of ludus, as one binary (one link, one process): each module drives
//! the real `ludus` binary or the library against real files, processes and daemons.
//! `support` holds what they share.

mod support;

mod analysis;
mod benchmarks;
mod cli_mdp;
mod custom_agent;
mod exec;
mod families;
mod isolation;
mod plan;
mod portable;
mod remote;
mod remote_resume;
mod run_instances;
mod run_loop;
mod slurm;
