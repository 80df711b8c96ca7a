//! Running a selection on this machine, shared by `run-instances` and `run`: the signal
//! handlers and the progress display around the library's executors.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::Context;
use super::progress::{Progress, ProgressMode, summary};
use crate::exec::{ExecOptions, ExecStats, Selection, run_local, run_mpi};

/// Set by SIGINT/SIGTERM.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// SIGINT and SIGTERM (what SLURM sends at its time limit) set the flag: workers take no new
/// instance, running ones stop and record `interrupted`. A second signal kills at once.
pub(super) fn install_signal_handlers() -> &'static AtomicBool {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe; the
        // sigaction struct is fully initialised before the call.
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = on_signal as *const () as usize;
            act.sa_flags = libc::SA_RESETHAND;
            libc::sigemptyset(&mut act.sa_mask);
            libc::sigaction(sig, &act, std::ptr::null_mut());
        }
    }
    &INTERRUPTED
}

/// Runs a selection with progress and prints the summary (`run-instances` and `run`).
pub(super) fn run_selection(
    sel: Selection,
    ctx: &Context,
    opts: &ExecOptions,
    interrupt: &'static AtomicBool,
    mpi: bool,
    mode: ProgressMode,
    every: f64,
) -> anyhow::Result<ExecStats> {
    let rank0 = ["OMPI_COMM_WORLD_RANK", "PMI_RANK"]
        .iter()
        .all(|k| std::env::var(k).map_or(true, |v| v == "0"));
    if rank0 {
        for dir in &sel.dirs {
            if let Ok(Some(m)) = dir.read_manifest()
                && let Some(p) = &m.provenance
            {
                super::planning::warn_code_changed(dir.root(), p);
            }
        }
    }
    let sel = Arc::new(sel);
    let mut progress = Progress::new(mode, Duration::from_secs_f64(every.max(0.1)));
    let result = if mpi {
        run_mpi(&sel, &ctx.registry, opts, interrupt, |ev| {
            progress.on_event(ev)
        })
    } else {
        run_local(&sel, &ctx.registry, opts, interrupt, |ev| {
            progress.on_event(ev)
        })
    };
    progress.finish();
    let stats = result?;
    // Under MPI only rank 0 has the whole picture.
    if stats.rank == 0 {
        eprintln!("{}", summary(&stats));
    }
    Ok(stats)
}
