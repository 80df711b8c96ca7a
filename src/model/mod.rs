//! The workload: tabular MDP families, agents, and the registry that maps spec names to them.

pub mod registry;

pub use registry::Registry;
