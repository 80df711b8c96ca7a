//! The integration tests of ludus, as one binary (one link, one process): each module drives
//! the real `ludus` binary or the library against real files, processes and daemons.
//! `support` holds what they share.

mod support;

mod analysis;
mod benchmarks;
mod claims;
mod cli_mdp;
mod cli_messages;
mod colosseum_models;
mod containment;
mod custom_agent;
mod exec;
mod families;
mod gpus;
mod hostile;
mod isolation;
mod layers;
mod layout;
mod mdp_seed;
mod mpi_cluster;
mod np_draws;
mod parity;
mod plan;
mod portable;
mod progress;
mod provenance;
mod psrl_solver;
mod remote;
mod remote_escape;
mod remote_resume;
mod report_page;
mod run_agents;
mod run_instances;
mod run_loop;
mod slurm;
mod slurm_arrays;
mod slurm_script;
mod stop_latency;
mod tables;
mod trust;
