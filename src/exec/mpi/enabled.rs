//! The MPI executor proper.
//!
//! Every rank resolves the same PATH arguments; rank 0 computes the pending list and broadcasts
//! it. Each rank then runs the local worker pool (`--jobs` threads, default 1 per rank) on a
//! helper thread, whose workers ask the rank's main thread for the next item; only the main
//! thread calls MPI (`Threading::Funneled`). On rank 0 the main thread is also the coordinator:
//! it serves its own workers (one instance at a time) and the other ranks' requests (a chunk
//! of the remaining work divided by twice the ranks: guided self-scheduling, with a smallest
//! chunk sized from measured costs, see [`super::min_chunk`]) from one counter, and collects
//! every rank's results, which ranks send in batches with their next request or once a
//! second, for the progress display and the summary. The other ranks also send what their
//! workers run now (every [`super::progress_interval`]), so rank 0's progress shows the steps
//! of every rank's running instances. No rank spins in MPI while instances
//! run: rank 0 probes between short sleeps (woken at once by its own workers), the other
//! ranks call MPI only when their workers need work, and wait for the answer the same way.
//! Rank 0 measures what coordination costs it ([`crate::exec::Coordination`]). A rank that
//! dies loses only the instance it was running, which stays pending for the next run.

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
const TAG_PROGRESS: i32 = 5;
const NONE: u64 = u64::MAX;
// A request carries the rank's unsent results (triples); an assignment is a chunk: a range
// [from, to) of the pending list every rank holds, empty when the queue is drained. Two
// numbers whatever the chunk's size, so the send always fits MPI's eager protocol and returns
// at once (a large chunk sent as a list went by rendezvous: rank 0 spun in the send until the
// other rank came to receive it, about 350 us of CPU per request with 16 ranks here).
// A progress message lists a rank's running instances (`super::encode_running`); empty when
// nothing runs there.
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

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the kernel knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
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

    let first = super::first_chunks(items.len(), size as usize);

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
        // The other ranks start with their first chunks, unasked.
        let next = std::cell::RefCell::new(first.last().map_or(0, |r| r.end));
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
        // Coordination is measured in this thread's CPU time, which preemption (another
        // process on the core) does not inflate: what rank 0 spends, not what it waits.
        let mut idle = Duration::from_micros(50);
        let mut waited: Option<Local> = None;
        let mut coord = crate::exec::Coordination::default();
        // Instance wall times seen so far, for the smallest chunk.
        let (mut walls, mut finished) = (Duration::ZERO, 0u32);
        let cpu_start = thread_cpu();
        // Labels of other ranks' results, made once (formatting one per result was a good
        // part of the cost of a result).
        let rank_labels: Vec<String> = (0..size).map(|r| format!("rank {r}")).collect();
        while local_result.is_none() || ranks_left > 0 {
            let mut busy = false;
            while let Some(msg) = waited.take().or_else(|| local_rx.try_recv().ok()) {
                busy = true;
                match msg {
                    Local::Request(reply) => {
                        let _ = reply.send(take(interrupt.load(Ordering::Relaxed)));
                    }
                    Local::Event(ev) => {
                        if let ExecEvent::Finished { wall, .. } = &ev {
                            walls += *wall;
                            finished += 1;
                        }
                        stats.count(&ev);
                        on_event(&ev);
                    }
                    Local::Finished(r) => local_result = Some(r),
                }
            }
            let t0 = thread_cpu();
            if let Some(probed) = world.any_process().immediate_matched_probe() {
                busy = true;
                let (v, status) = probed.matched_receive_vec::<u64>();
                let src = status.source_rank();
                match status.tag() {
                    TAG_REQUEST | TAG_RESULT => {
                        // Results come in batches of (status, wall, id), alone or with a
                        // request for more work.
                        let t1 = thread_cpu();
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
                                walls += Duration::from_micros(r[1]);
                                finished += 1;
                                ExecEvent::Finished {
                                    id: InstanceId(r[2]),
                                    label: rank_labels[src as usize].clone(),
                                    status: kind(r[0]),
                                    wall: Duration::from_micros(r[1]),
                                    message: None,
                                }
                            };
                            stats.count(&ev);
                            on_event(&ev);
                        }
                        let t2 = thread_cpu();
                        coord.results += (v.len() / 3) as u64;
                        coord.result_time += t2 - t1;
                        if status.tag() == TAG_REQUEST {
                            // Guided self-scheduling: a chunk of the remaining work divided
                            // by twice the ranks, so chunks shrink as the queue drains, but
                            // never so small that requests take more than a tenth of this
                            // thread's time (at the cost per request and instance time
                            // measured so far).
                            let interrupted = interrupt.load(Ordering::Relaxed);
                            let left = items.len() - (*next.borrow());
                            let min = if coord.requests == 0 || finished == 0 {
                                1
                            } else {
                                super::min_chunk(
                                    items.len(),
                                    size as usize,
                                    opts.jobs,
                                    coord.request_time / coord.requests as u32,
                                    walls / finished,
                                )
                            };
                            let chunk = super::chunk_size(left, size as usize, min);
                            let reply = {
                                let mut next = next.borrow_mut();
                                let from = *next;
                                if !interrupted {
                                    *next += chunk;
                                }
                                [from as u64, *next as u64]
                            };
                            world
                                .process_at_rank(src)
                                .send_with_tag(&reply[..], TAG_ASSIGN);
                            coord.requests += 1;
                            coord.request_time += (t1 - t0) + (thread_cpu() - t2);
                        } else {
                            coord.request_time += t1 - t0;
                        }
                    }
                    TAG_PROGRESS => {
                        on_event(&ExecEvent::Progress {
                            rank: src as u32,
                            running: super::decode_running(&v, src as u32),
                        });
                        coord.progress += 1;
                        coord.progress_time += thread_cpu() - t0;
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
        coord.busy = thread_cpu().saturating_sub(cpu_start);
        if size > 1 {
            stats.coordination = coord;
        }
        stats.not_started = items
            .len()
            .saturating_sub(stats.ran() + stats.failed + stats.elsewhere);
    } else {
        // Wait for local demand: no MPI call (so no busy polling) while instances run. Work
        // comes in chunks (kept in `buffer`), the first one without asking; results are sent in batches, with the next
        // request or at least once a second, so rank 0 handles few messages per instance.
        let mut buffer: std::collections::VecDeque<Item> = items[first[rank as usize].clone()]
            .iter()
            .copied()
            .collect();
        let mut exhausted = false;
        let mut results: Vec<u64> = Vec::new();
        let mut flushed = Instant::now();
        let every = super::progress_interval(size as usize);
        let mut progress_sent: Option<Instant> = None;
        while let Ok(msg) = local_rx.recv() {
            match msg {
                Local::Request(reply) => {
                    if buffer.is_empty() && !exhausted {
                        root.send_with_tag(&results[..], TAG_REQUEST);
                        results.clear();
                        flushed = Instant::now();
                        // Wait for the chunk without MPI's blocking receive, which spins on a
                        // core (a core rank 0 may need to answer): probe, sleep a little
                        // longer each time, up to 1 ms.
                        let mut nap = Duration::from_micros(5);
                        let v = loop {
                            if let Some(m) = root.immediate_matched_probe_with_tag(TAG_ASSIGN) {
                                break m.matched_receive_vec::<u64>().0;
                            }
                            std::thread::sleep(nap);
                            nap = (nap * 2).min(Duration::from_millis(1));
                        };
                        let (from, to) = match v[..] {
                            [from, to] if from <= to && to as usize <= items.len() => {
                                (from as usize, to as usize)
                            }
                            _ => {
                                return Err(ExecError::Mpi(format!(
                                    "rank {rank}: rank 0 sent a malformed chunk {v:?}"
                                )));
                            }
                        };
                        exhausted = from == to;
                        buffer.extend(&items[from..to]);
                    }
                    let item = if interrupt.load(Ordering::Relaxed) {
                        None
                    } else {
                        buffer.pop_front()
                    };
                    let _ = reply.send(item);
                }
                Local::Event(ExecEvent::Progress { running, .. }) => {
                    if progress_sent.is_none_or(|t| t.elapsed() >= every) {
                        let msg = super::encode_running(&running);
                        root.send_with_tag(&msg[..], TAG_PROGRESS);
                        progress_sent = Some(Instant::now());
                    }
                }
                Local::Event(ev) => {
                    let msg = match &ev {
                        ExecEvent::Finished {
                            id, status, wall, ..
                        } => [code(*status), wall.as_micros() as u64, id.0],
                        ExecEvent::Failed { id, .. } => [NONE, 0, id.0],
                        // Running instances go to rank 0 on their own (above).
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
