//! The local executor: a pool of worker threads taking instances from a shared queue.
//!
//! Workers take the next pending instance (an atomic counter, so fast and slow instances
//! balance), run it, commit it, and send an event to the calling thread, which is the only one
//! that calls the caller's callback. The calling thread is also the watchdog: an instance still
//! running well past its hard cap (stuck where it cannot check the clock) is committed as
//! `error` with the rows it logged, and the run goes on without it.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::one::{SharedLog, run_and_commit, status_of};
use super::{ExecError, ExecEvent, ExecOptions, ExecStats, Item, Selection};
use crate::model::Registry;
use crate::plan::Instance;
use crate::run::RunControl;
use crate::store::{Claim, StatusKind};

/// Grace beyond the hard cap before the watchdog gives up on an instance that does not return
/// (as long as the cap itself, at most this).
const WATCHDOG_GRACE: Duration = Duration::from_secs(10);

enum Msg {
    Event(ExecEvent),
    WorkerDone(usize),
}

struct Running {
    item: Item,
    claim: Claim,
    instance: Instance,
    log: Arc<SharedLog>,
    start: Instant,
    cap: Option<Duration>,
    /// Steps done so far (built-in runs publish them, see `run::steps`).
    steps: Arc<AtomicU64>,
}

/// A source of work: the local queue, or (under MPI) the coordinator.
pub trait WorkSource: Sync + Send {
    /// The next item to run, or `None` when there is no more.
    fn next(&self) -> Option<Item>;
}

struct Queue {
    items: Vec<Item>,
    next: AtomicUsize,
}

impl WorkSource for Queue {
    fn next(&self) -> Option<Item> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        self.items.get(i).copied()
    }
}

/// Runs every pending instance of `sel` on this machine.
pub fn run_local(
    sel: &Arc<Selection>,
    registry: &Arc<Registry>,
    opts: &ExecOptions,
    interrupt: &'static AtomicBool,
    mut on_event: impl FnMut(&ExecEvent),
) -> Result<ExecStats, ExecError> {
    let start = Instant::now();
    let (todo, ev) = super::start(sel, opts.retry_errors)?;
    let mut stats = ExecStats::default();
    stats.count(&ev);
    on_event(&ev);
    let n = todo.len();
    let queue = Arc::new(Queue {
        items: todo,
        next: AtomicUsize::new(0),
    });
    run_workers(
        sel,
        registry,
        opts,
        interrupt,
        queue,
        &mut stats,
        &mut on_event,
    )?;
    stats.not_started = n.saturating_sub(stats.ran() + stats.failed + stats.elsewhere);
    super::contain::cleanup();
    stats.wall = start.elapsed();
    Ok(stats)
}

/// Runs `opts.jobs` workers over `source` until it is empty or the run is interrupted,
/// counting events into `stats` and passing them to `on_event` on the calling thread.
/// Returns when every worker is finished or given up on by the watchdog (a worker stuck for
/// good is left running; the process ends it when it exits).
pub fn run_workers(
    sel: &Arc<Selection>,
    registry: &Arc<Registry>,
    opts: &ExecOptions,
    interrupt: &'static AtomicBool,
    source: Arc<dyn WorkSource + Send>,
    stats: &mut ExecStats,
    on_event: &mut dyn FnMut(&ExecEvent),
) -> Result<(), ExecError> {
    let jobs = opts.jobs.max(1);
    let (tx, rx) = mpsc::channel::<Msg>();
    let disk_error: Arc<Mutex<Option<ExecError>>> = Arc::new(Mutex::new(None));
    // Live workers, each with the slot the watchdog watches. A worker the watchdog gives up on
    // is dropped from this list and replaced, so a hang costs one thread, not the run.
    let mut workers: Vec<(usize, Arc<Mutex<Option<Running>>>)> = Vec::new();
    let spawn = |w: usize, workers: &mut Vec<(usize, Arc<Mutex<Option<Running>>>)>| {
        let slot = Arc::new(Mutex::new(None));
        let ctx = WorkerCtx {
            sel: sel.clone(),
            registry: registry.clone(),
            opts: opts.clone(),
            interrupt,
            source: source.clone(),
            slot: slot.clone(),
            tx: tx.clone(),
            disk_error: disk_error.clone(),
        };
        std::thread::Builder::new()
            .name(format!("ludus-worker-{w}"))
            .spawn(move || {
                worker_loop(&ctx);
                let _ = ctx.tx.send(Msg::WorkerDone(w));
            })
            .map_err(|e| ExecError::Mpi(format!("cannot start a worker thread: {e}")))?;
        workers.push((w, slot));
        Ok::<(), ExecError>(())
    };
    for w in 0..jobs {
        spawn(w, &mut workers)?;
    }
    let mut next_worker = jobs;
    let mut progress_at = Instant::now();
    while !workers.is_empty() {
        if progress_at.elapsed() >= PROGRESS_EVERY {
            progress_at = Instant::now();
            on_event(&progress(opts, &workers));
        }
        match rx.recv_timeout(Duration::from_millis(250)) {
            Ok(Msg::Event(ev)) => {
                stats.count(&ev);
                on_event(&ev);
            }
            Ok(Msg::WorkerDone(w)) => workers.retain(|(id, _)| *id != w),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        let stuck = watchdog(opts, &workers, stats, on_event);
        for w in stuck {
            workers.retain(|(id, _)| *id != w);
            spawn(next_worker, &mut workers)?;
            next_worker += 1;
        }
    }
    let err = disk_error.lock().unwrap_or_else(|p| p.into_inner()).take();
    match err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

struct WorkerCtx {
    sel: Arc<Selection>,
    registry: Arc<Registry>,
    opts: ExecOptions,
    interrupt: &'static AtomicBool,
    source: Arc<dyn WorkSource + Send>,
    slot: Arc<Mutex<Option<Running>>>,
    tx: mpsc::Sender<Msg>,
    disk_error: Arc<Mutex<Option<ExecError>>>,
}

fn worker_loop(ctx: &WorkerCtx) {
    let WorkerCtx {
        sel,
        registry,
        opts,
        interrupt,
        source,
        slot,
        tx,
        disk_error,
    } = ctx;
    while !interrupt.load(Ordering::Relaxed) {
        let Some(item) = source.next() else { break };
        let claim = match sel.dirs[item.dir].claim(item.id, opts.retry_errors) {
            Ok(Some(c)) => c,
            // Another process runs it, or ran it since the pending list was made.
            Ok(None) => {
                let _ = tx.send(Msg::Event(ExecEvent::Elsewhere { id: item.id }));
                continue;
            }
            Err(e) => {
                let _ = tx.send(Msg::Event(ExecEvent::Failed {
                    id: item.id,
                    error: e.to_string(),
                }));
                continue;
            }
        };
        let instance = match sel.read_instance(item) {
            Ok(i) => i,
            Err(e) => {
                let _ = tx.send(Msg::Event(ExecEvent::Failed {
                    id: item.id,
                    error: e.to_string(),
                }));
                continue;
            }
        };
        let time_limit = instance.time_limit();
        let cap = opts.cap_for(&instance);
        let log = Arc::new(SharedLog::default());
        let steps = Arc::new(AtomicU64::new(0));
        *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(Running {
            item,
            claim: claim.clone(),
            instance: instance.clone(),
            log: log.clone(),
            start: Instant::now(),
            cap,
            steps: steps.clone(),
        });
        let label = instance.label();
        let ctl = RunControl {
            time_limit,
            kill_after: cap,
            interrupt,
        };
        let published = crate::run::steps::Publish::new(steps);
        let result = run_and_commit(&claim, &instance, registry, &log, &ctl, opts);
        drop(published);
        *slot.lock().unwrap_or_else(|p| p.into_inner()) = None;
        match result {
            Ok(Some(s)) => {
                let _ = tx.send(Msg::Event(ExecEvent::Finished {
                    id: item.id,
                    label,
                    status: s.status,
                    wall: Duration::from_secs_f64(s.wall_seconds),
                    message: s.message,
                }));
            }
            // The watchdog already committed (and reported) this instance.
            Ok(None) => {}
            Err(e) => {
                let _ = tx.send(Msg::Event(ExecEvent::Failed {
                    id: item.id,
                    error: e.to_string(),
                }));
                // A disk that refuses writes will refuse the next instance too: stop.
                disk_error
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_or_insert(ExecError::Store(e));
                break;
            }
        }
    }
}

/// How often the event thread reports the running instances (`ExecEvent::Progress`).
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// What the workers run now.
fn progress(opts: &ExecOptions, workers: &[(usize, Arc<Mutex<Option<Running>>>)]) -> ExecEvent {
    let mut running = Vec::new();
    for (_, slot) in workers {
        if let Some(r) = slot.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            let builtin = matches!(r.instance.kind, crate::plan::InstanceKind::Builtin { .. });
            running.push(super::RunningInstance {
                id: r.item.id,
                label: r.instance.label(),
                steps: builtin.then(|| r.steps.load(Ordering::Relaxed)),
                total_steps: builtin.then_some(r.instance.steps),
                elapsed: r.start.elapsed(),
            });
        }
    }
    ExecEvent::Progress {
        rank: opts.origin.rank,
        running,
    }
}

/// Commits instances stuck past their hard cap as errors; returns the workers it gave up on.
fn watchdog(
    opts: &ExecOptions,
    workers: &[(usize, Arc<Mutex<Option<Running>>>)],
    stats: &mut ExecStats,
    on_event: &mut dyn FnMut(&ExecEvent),
) -> Vec<usize> {
    let mut stuck = Vec::new();
    for (w, slot) in workers {
        let mut guard = slot.lock().unwrap_or_else(|p| p.into_inner());
        let Some(r) = guard.as_ref() else { continue };
        let Some(cap) = r.cap else { continue };
        let elapsed = r.start.elapsed();
        if elapsed < cap + cap.min(WATCHDOG_GRACE) {
            continue;
        }
        let msg = format!(
            "stuck: still running {:.1} s after its start, past the hard cap of {:.1} s; ended as error with the rows logged so far",
            elapsed.as_secs_f64(),
            cap.as_secs_f64()
        );
        let status = status_of(
            &r.instance,
            StatusKind::Error,
            0,
            elapsed,
            Some(msg.clone()),
            &opts.origin,
        );
        if let Ok(true) = r.log.commit(&r.claim, &status) {
            let ev = ExecEvent::Finished {
                id: r.item.id,
                label: r.instance.label(),
                status: StatusKind::Error,
                wall: elapsed,
                message: Some(msg),
            };
            stats.count(&ev);
            on_event(&ev);
        }
        *guard = None;
        stuck.push(*w);
    }
    stuck
}
