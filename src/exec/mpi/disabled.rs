//! Stand-in for builds without the `mpi` feature.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::exec::{ExecError, ExecEvent, ExecOptions, ExecStats, Selection};
use crate::model::Registry;

/// Always an error: this build has no MPI.
pub fn run_mpi(
    _sel: &Arc<Selection>,
    _registry: &Arc<Registry>,
    _opts: &ExecOptions,
    _interrupt: &'static AtomicBool,
    _on_event: impl FnMut(&ExecEvent),
) -> Result<ExecStats, ExecError> {
    Err(ExecError::Mpi(
        "this ludus was built without MPI; rebuild with `cargo install --path . --features mpi` (needs libopenmpi-dev and libclang-dev)".into(),
    ))
}
