//! The MPI executor proper.
//!
//! Every rank resolves the same PATH arguments; rank 0 computes the pending list and broadcasts
//! it. Each rank then runs the local worker pool (`--jobs` threads, default 1 per rank) on a
//! helper thread, whose workers ask the rank's main thread for the next item; only the main
//! thread calls MPI (`Threading::Funneled`). On rank 0 the main thread is also the coordinator:
//! it serves its own workers and the other ranks' requests from one counter, and collects every
//! rank's results for the progress display and the summary. A rank that dies loses only the
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
        let mut next = 0usize;
        let mut take = |interrupted: bool| -> Option<Item> {
            if interrupted || next >= items.len() {
                return None;
            }
            next += 1;
            Some(items[next - 1])
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
                    TAG_REQUEST => {
                        let reply = take(interrupt.load(Ordering::Relaxed))
                            .map_or([NONE, NONE], |it| [it.dir as u64, it.id.0]);
                        world
                            .process_at_rank(src)
                            .send_with_tag(&reply[..], TAG_ASSIGN);
                    }
                    TAG_RESULT if v.len() == 3 => {
                        let ev = if v[0] == ELSEWHERE {
                            ExecEvent::Elsewhere {
                                id: InstanceId(v[2]),
                            }
                        } else if v[0] == NONE {
                            ExecEvent::Failed {
                                id: InstanceId(v[2]),
                                error: format!(
                                    "rank {src} could not run it (see that rank's output)"
                                ),
                            }
                        } else {
                            ExecEvent::Finished {
                                id: InstanceId(v[2]),
                                label: format!("{} (rank {src})", InstanceId(v[2])),
                                status: kind(v[0]),
                                wall: Duration::from_micros(v[1]),
                                message: None,
                            }
                        };
                        stats.count(&ev);
                        on_event(&ev);
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
        // Wait for local demand: no MPI call (so no busy polling) while instances run.
        while let Ok(msg) = local_rx.recv() {
            match msg {
                Local::Request(reply) => {
                    root.send_with_tag(&[0u64][..], TAG_REQUEST);
                    let (v, _) = root.receive_vec_with_tag::<u64>(TAG_ASSIGN);
                    let item = (v.len() == 2 && v[0] != NONE).then(|| Item {
                        dir: v[0] as usize,
                        id: InstanceId(v[1]),
                    });
                    let _ = reply.send(item);
                }
                Local::Event(ev) => {
                    let msg = match &ev {
                        ExecEvent::Finished {
                            id, status, wall, ..
                        } => [code(*status), wall.as_micros() as u64, id.0],
                        ExecEvent::Failed { id, .. } => [NONE, 0, id.0],
                        ExecEvent::Elsewhere { id } => [ELSEWHERE, 0, id.0],
                        ExecEvent::Start { .. } => continue,
                    };
                    root.send_with_tag(&msg[..], TAG_RESULT);
                    stats.count(&ev);
                }
                Local::Finished(r) => {
                    local_result = Some(r);
                    break;
                }
            }
        }
        root.send_with_tag(&[0u64][..], TAG_DONE);
    }
    stats.wall = start.elapsed();
    stats.rank = rank as u32;
    local_result.unwrap_or(Ok(()))?;
    Ok(stats)
}
