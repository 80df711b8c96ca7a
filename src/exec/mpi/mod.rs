//! The MPI executor (cargo feature `mpi`): rank 0 hands out instances one at a time, so fast
//! and slow instances balance across ranks; every rank, rank 0 included, runs instances with
//! its own worker threads and commits results with the same rules as the local executor.
//! Without the feature, the same functions exist and say how to get a build with MPI.

#[cfg(feature = "mpi")]
#[path = "enabled.rs"]
mod imp;

#[cfg(not(feature = "mpi"))]
#[path = "disabled.rs"]
mod imp;

pub use imp::run_mpi;
