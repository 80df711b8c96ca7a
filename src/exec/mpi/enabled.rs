//! The MPI executor proper.
//!
//! Every rank resolves the same PATH arguments; rank 0 computes the pending list and broadcasts
//! it. Each rank then runs the local worker pool (`--jobs` threads, default 1 per rank) on a
//! helper thread, whose workers ask the rank's main thread for the next item; only the main
//! thread calls MPI (`Threading::Funneled`). On rank 0 the main thread is also the coordinator:
//! it serves its own workers (one instance at a time) and the other ranks' requests (a chunk
//! of the remaining work divided by twice the ranks: guided self-scheduling) from one counter,
//! and collects every rank's results, which ranks send in batches with their next request or
//! once a second, for the progress display and the summary. A rank that dies loses only the
//! instance it was running, which stays pending for the next run.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mpi::point_to_point::{Destination, MatchedReceiveVec, Source};
use mpi::topology::Communicator;
use mpi::traits::Root;

use crate::exec::local::{WorkSource, run_workers};
use crate::exec::{ExecError, ExecEvent, ExecOptions, ExecStats, Item, Selection};
use crate::model::Registry;
use crate::plan::InstanceId;
use crate::store::StatusKind;

const TAG_REQUEST: i32 = 1;
const TAG_ASSIGN: i32 = 2;
const TAG_RESULT: i32 = 3;
const TAG_DONE: i32 = 4;
const NONE: u64 = u64::MAX;
// A request carries the rank's unsent results (triples); an assignment is a chunk of
// (dir, id) pairs, empty when the queue is drained.
/// The result code of an instance left to another process (its claim is held elsewhere).
const ELSEWHERE: u64 = u64::MAX - 1;

/// A worker's request for work: the channel to answer on.
type Request = mpsc::Sender<Option<Item>>;

/// Work from this rank's main thread.
struct Relay {
    requests: Mutex<mpsc::Sender<Local>>,
}

impl WorkSource for Relay {
    fn next(&self) -> Option<Item> {
        let (tx, rx) = mpsc::channel();
        let sent = self.requests.lock().ok()?.send(Local::Request(tx));
        sent.ok()?;
        rx.recv().ok().flatten()
    }
}

fn code(s: StatusKind) -> u64 {
    match s {
        StatusKind::Done => 0,
        StatusKind::Timeout => 1,
        StatusKind::Error => 2,
        StatusKind::Interrupted => 3,
    }
}

fn kind(c: u64) -> StatusKind {
    match c {
        0 => StatusKind::Done,
        1 => StatusKind::Timeout,
        2 => StatusKind::Error,
        _ => StatusKind::Interrupted,
    }
}

/// What the main thread of a rank hears from its worker pool.
enum Local {
    Request(Request),
    Event(ExecEvent),
    Finished(Result<(), ExecError>),
}

/// Runs the pending instances of `sel` across the ranks of `mpirun`.
pub fn run_mpi(
    sel: &Arc<Selection>,
    registry: &Arc<Registry>,
    opts: &ExecOptions,
    interrupt: &'static AtomicBool,
    mut on_event: impl FnMut(&ExecEvent),
) -> Result<ExecStats, ExecError> {
    let start = Instant::now();
    let (universe, _) =
        mpi::initialize_with_threading(mpi::Threading::Funneled).ok_or_else(|| {
            ExecError::Mpi("MPI could not be initialized (is this run under mpirun?)".into())
        })?;
    let world = universe.world();
    let rank = world.rank();
    let size = world.size();
    let root = world.process_at_rank(0);

    // Rank 0 decides what is pending; everyone gets the same list.
    let mut flat: Vec<u64> = Vec::new();
    let mut n: u64 = 0;
    let mut start_event = None;
    if rank == 0 {
        let (todo, ev) = crate::exec::start(sel, opts.retry_errors)?;
        start_event = Some(ev);
        n = todo.len() as u64;
        flat = todo
            .iter()
            .flat_map(|it| [it.dir as u64, it.id.0])
            .collect();
    }
    root.broadcast_into(&mut n);
    flat.resize(2 * n as usize, 0);
    root.broadcast_into(&mut flat[..]);
    let items: Vec<Item> = flat
        .chunks_exact(2)
        .map(|c| Item {
            dir: c[0] as usize,
            id: InstanceId(c[1]),
        })
        .collect();

    let mut stats = ExecStats::default();
    if let Some(ev) = &start_event {
        stats.count(ev);
        on_event(ev);
    }

    let (local_tx, local_rx) = mpsc::channel::<Local>();
    let relay: Arc<dyn WorkSource + Send> = Arc::new(Relay {
        requests: Mutex::new(local_tx.clone()),
    });
    let mut opts = opts.clone();
    opts.origin.rank = rank as u32;
    {
        let (sel, registry, opts) = (sel.clone(), registry.clone(), opts.clone());
        std::thread::Builder::new()
            .name("ludus-rank-workers".into())
            .spawn(move || {
                let mut ignored = ExecStats::default();
                let tx = local_tx.clone();
                let mut forward = |ev: &ExecEvent| {
                    let _ = tx.send(Local::Event(ev.clone()));
                };
                let r = run_workers(
                    &sel,
                    &registry,
                    &opts,
                    interrupt,
                    relay,
                    &mut ignored,
                    &mut forward,
                );
                let _ = local_tx.send(Local::Finished(r));
            })
            .map_err(|e| ExecError::Mpi(format!("cannot start the worker thread: {e}")))?;
    }

    let mut local_result: Option<Result<(), ExecError>> = None;
    if rank == 0 {
        let next = std::cell::RefCell::new(0usize);
        let take = |interrupted: bool| -> Option<Item> {
            let mut next = next.borrow_mut();
            if interrupted || *next >= items.len() {
                return None;
            }
            *next += 1;
            Some(items[*next - 1])
        };
        let mut ranks_left = size - 1;
        // Idle wait between polls of MPI: short after activity, growing to 1 ms, so the
        // coordinator does not eat a core (each MPI probe runs MPI's progress engine), while
        // its own workers' requests, which arrive on the channel, are still answered at once.
        let mut idle = Duration::from_micros(50);
        let mut waited: Option<Local> = None;
        while local_result.is_none() || ranks_left > 0 {
            let mut busy = false;
            while let Some(msg) = waited.take().or_else(|| local_rx.try_recv().ok()) {
                busy = true;
                match msg {
                    Local::Request(reply) => {
                        let _ = reply.send(take(interrupt.load(Ordering::Relaxed)));
                    }
                    Local::Event(ev) => {
                        stats.count(&ev);
                        on_event(&ev);
                    }
                    Local::Finished(r) => local_result = Some(r),
                }
            }
            if let Some(probed) = world.any_process().immediate_matched_probe() {
                busy = true;
                let (v, status) = probed.matched_receive_vec::<u64>();
                let src = status.source_rank();
                match status.tag() {
                    TAG_REQUEST | TAG_RESULT => {
                        // Results come in batches of (status, wall, id), alone or with a
                        // request for more work.
                        for r in v.chunks_exact(3) {
                            let ev = if r[0] == ELSEWHERE {
                                ExecEvent::Elsewhere {
                                    id: InstanceId(r[2]),
                                }
                            } else if r[0] == NONE {
                                ExecEvent::Failed {
                                    id: InstanceId(r[2]),
                                    error: format!(
                                        "rank {src} could not run it (see that rank's output)"
                                    ),
                                }
                            } else {
                                ExecEvent::Finished {
                                    id: InstanceId(r[2]),
                                    label: format!("{} (rank {src})", InstanceId(r[2])),
                                    status: kind(r[0]),
                                    wall: Duration::from_micros(r[1]),
                                    message: None,
                                }
                            };
                            stats.count(&ev);
                            on_event(&ev);
                        }
                        if status.tag() == TAG_REQUEST {
                            // Guided self-scheduling: a chunk of the remaining work divided
                            // by twice the ranks, so chunks shrink as the queue drains and
                            // the last instances go out one at a time.
                            let interrupted = interrupt.load(Ordering::Relaxed);
                            let left = items.len() - (*next.borrow());
                            let chunk = (left / (2 * size as usize)).max(1);
                            let mut reply = Vec::with_capacity(2 * chunk);
                            for _ in 0..chunk {
                                match take(interrupted) {
                                    Some(it) => reply.extend([it.dir as u64, it.id.0]),
                                    None => break,
                                }
                            }
                            world
                                .process_at_rank(src)
                                .send_with_tag(&reply[..], TAG_ASSIGN);
                        }
                    }
                    TAG_DONE => ranks_left -= 1,
                    _ => {}
                }
            }
            if busy {
                idle = Duration::from_micros(50);
            } else {
                waited = local_rx.recv_timeout(idle).ok();
                idle = (idle * 2).min(Duration::from_millis(1));
            }
        }
        stats.not_started = items
            .len()
            .saturating_sub(stats.ran() + stats.failed + stats.elsewhere);
    } else {
        // Wait for local demand: no MPI call (so no busy polling) while instances run. Work
        // arrives in chunks (kept in `buffer`); results are sent in batches, with the next
        // request or at least once a second, so rank 0 handles few messages per instance.
        let mut buffer = std::collections::VecDeque::new();
        let mut exhausted = false;
        let mut results: Vec<u64> = Vec::new();
        let mut flushed = Instant::now();
        while let Ok(msg) = local_rx.recv() {
            match msg {
                Local::Request(reply) => {
                    if buffer.is_empty() && !exhausted {
                        root.send_with_tag(&results[..], TAG_REQUEST);
                        results.clear();
                        flushed = Instant::now();
                        let (v, _) = root.receive_vec_with_tag::<u64>(TAG_ASSIGN);
                        exhausted = v.is_empty();
                        buffer.extend(v.chunks_exact(2).map(|c| Item {
                            dir: c[0] as usize,
                            id: InstanceId(c[1]),
                        }));
                    }
                    let item = if interrupt.load(Ordering::Relaxed) {
                        None
                    } else {
                        buffer.pop_front()
                    };
                    let _ = reply.send(item);
                }
                Local::Event(ev) => {
                    let msg = match &ev {
                        ExecEvent::Finished {
                            id, status, wall, ..
                        } => [code(*status), wall.as_micros() as u64, id.0],
                        ExecEvent::Failed { id, .. } => [NONE, 0, id.0],
                        // Other ranks' running instances are not sent to rank 0 (yet).
                        ExecEvent::Start { .. } | ExecEvent::Progress { .. } => continue,
                        ExecEvent::Elsewhere { id } => [ELSEWHERE, 0, id.0],
                    };
                    results.extend(msg);
                    stats.count(&ev);
                    if flushed.elapsed() >= Duration::from_secs(1) {
                        root.send_with_tag(&results[..], TAG_RESULT);
                        results.clear();
                        flushed = Instant::now();
                    }
                }
                Local::Finished(r) => {
                    local_result = Some(r);
                    break;
                }
            }
        }
        if !results.is_empty() {
            root.send_with_tag(&results[..], TAG_RESULT);
        }
        root.send_with_tag(&[0u64][..], TAG_DONE);
    }
    stats.wall = start.elapsed();
    stats.rank = rank as u32;
    local_result.unwrap_or(Ok(()))?;
    Ok(stats)
}
