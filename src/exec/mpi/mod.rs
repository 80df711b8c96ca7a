//! The MPI executor (cargo feature `mpi`): rank 0 hands out instances in chunks that shrink as
//! the queue drains (guided self-scheduling, never below what keeps rank 0's load small), so
//! fast and slow instances balance across ranks; every rank, rank 0 included, runs instances
//! with its own worker threads and commits results with the same rules as the local executor.
//! Without the feature, the same functions exist and say how to get a build with MPI.
//!
//! The scheduling rule ([`chunk_size`], [`min_chunk`]) is here, outside the feature, so the
//! queue model of the benchmark uses exactly the rule the executor uses.

use std::time::Duration;

use crate::exec::RunningInstance;
use crate::plan::InstanceId;

#[cfg(feature = "mpi")]
#[path = "enabled.rs"]
mod imp;

#[cfg(not(feature = "mpi"))]
#[path = "disabled.rs"]
mod imp;

pub use imp::run_mpi;

/// The share of rank 0's time that answering requests may take: the smallest chunk is sized
/// so that, at the measured cost per request and instance time, requests stay below it.
pub const REQUEST_LOAD: f64 = 0.1;

/// How many instances to hand to a rank that asks when `left` are not handed out yet, with
/// `ranks` ranks: the remaining work divided by twice the ranks (guided self-scheduling: big
/// chunks first, shrinking as the queue drains), at least `min` and at most `left`.
pub fn chunk_size(left: usize, ranks: usize, min: usize) -> usize {
    (left / (2 * ranks.max(1))).max(min.max(1)).min(left)
}

/// The smallest chunk that keeps rank 0's time spent on requests below [`REQUEST_LOAD`]:
/// `ranks` ranks of `jobs` workers each finish an instance every `instance / (ranks * jobs)`
/// on average, so chunks of `k` bring `ranks * jobs / (k * instance)` requests a second, each
/// costing `request`. 1 while nothing is measured yet; at most an equal share of the `total`
/// instances, so every rank gets work however costly requests are.
pub fn min_chunk(
    total: usize,
    ranks: usize,
    jobs: usize,
    request: Duration,
    instance: Duration,
) -> usize {
    let t = instance.as_secs_f64();
    let share = total.div_ceil(ranks.max(1)).max(1);
    if t <= 0.0 || request.is_zero() {
        return 1;
    }
    let k = (ranks * jobs.max(1)) as f64 * request.as_secs_f64() / (REQUEST_LOAD * t);
    (k.ceil().max(1.0) as usize).min(share)
}

/// How often a rank other than 0 sends rank 0 what its workers run now, for rank 0's progress
/// display: every second, and less often with many ranks, so that rank 0 receives at most 100
/// of these messages a second however many ranks there are.
pub fn progress_interval(ranks: usize) -> Duration {
    Duration::from_secs(1).max(Duration::from_millis(10) * ranks.min(1 << 20) as u32)
}

/// A rank's running instances as numbers for rank 0: per instance its id, steps and total
/// steps (`u64::MAX` for none: programs), elapsed microseconds, the length of its label in
/// bytes (at most [`LABEL_MAX`]) and the label's bytes packed eight to a number.
pub fn encode_running(running: &[RunningInstance]) -> Vec<u64> {
    let mut out = Vec::with_capacity(running.len() * 8);
    for r in running {
        let mut end = r.label.len().min(LABEL_MAX);
        while !r.label.is_char_boundary(end) {
            end -= 1;
        }
        let label = &r.label.as_bytes()[..end];
        out.extend([
            r.id.0,
            r.steps.unwrap_or(u64::MAX),
            r.total_steps.unwrap_or(u64::MAX),
            r.elapsed.as_micros().min(u128::from(u64::MAX)) as u64,
            label.len() as u64,
        ]);
        out.extend(label.chunks(8).map(|c| {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            u64::from_le_bytes(w)
        }));
    }
    out
}

/// The longest label [`encode_running`] sends, in bytes.
pub const LABEL_MAX: usize = 80;

/// What [`encode_running`] encoded, each label followed by `, rank R`; what does not decode
/// (a truncated message) is left out.
pub fn decode_running(v: &[u64], rank: u32) -> Vec<RunningInstance> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(&[id, steps, total, elapsed, len]) = v.get(at..at + 5) {
        let len = (len as usize).min(LABEL_MAX);
        let Some(words) = v.get(at + 5..at + 5 + len.div_ceil(8)) else {
            break;
        };
        let bytes: Vec<u8> = words
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .take(len)
            .collect();
        let label = String::from_utf8_lossy(&bytes);
        out.push(RunningInstance {
            id: InstanceId(id),
            label: format!("{label}, rank {rank}"),
            steps: (steps != u64::MAX).then_some(steps),
            total_steps: (total != u64::MAX).then_some(total),
            elapsed: Duration::from_micros(elapsed),
        });
        at += 5 + words.len();
    }
    out
}

/// The chunks the ranks start with, handed out without a message: every rank knows the whole
/// list, so rank `r` (from 1) takes the chunk it would have got as the `r`-th request, and rank
/// 0's counter starts after the last of them (rank 0's own workers draw from that counter).
/// This saves rank 0 the burst of one request per rank at the start. Index 0 is empty.
pub fn first_chunks(n: usize, ranks: usize) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::with_capacity(ranks.max(1));
    out.push(0..0);
    let mut next = 0;
    for _ in 1..ranks {
        let c = chunk_size(n - next, ranks, 1);
        out.push(next..next + c);
        next += c;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_chunks_are_consecutive_disjoint_and_leave_work_for_requests() {
        let c = first_chunks(8, 2);
        assert_eq!(c, [0..0, 0..2]);
        let c = first_chunks(1000, 4);
        assert_eq!(c, [0..0, 0..125, 125..234, 234..329]);
        // One rank: nothing handed out in advance.
        assert_eq!(first_chunks(10, 1).len(), 1);
        assert!(first_chunks(10, 1)[0].is_empty());
        // Fewer instances than ranks: the first ranks get one each, the rest none.
        assert_eq!(first_chunks(2, 4), [0..0, 0..1, 1..2, 2..2]);
    }

    #[test]
    fn progress_messages_reach_rank_0_at_most_100_times_a_second() {
        assert_eq!(progress_interval(2), Duration::from_secs(1));
        assert_eq!(progress_interval(100), Duration::from_secs(1));
        assert_eq!(progress_interval(1000), Duration::from_secs(10));
        for ranks in [1, 2, 50, 101, 1000, 5000] {
            let per_second = (ranks - 1) as f64 / progress_interval(ranks).as_secs_f64();
            assert!(per_second <= 100.0, "{ranks} ranks: {per_second}/s");
        }
    }

    #[test]
    fn running_instances_travel_to_rank_0_with_their_labels() {
        let ms = Duration::from_millis;
        let running = vec![
            RunningInstance {
                id: InstanceId(7),
                label: "q_learning on river_swim, seed 3".into(),
                steps: Some(1500),
                total_steps: Some(20_000),
                elapsed: ms(1250),
            },
            RunningInstance {
                id: InstanceId(u64::MAX - 5),
                label: String::new(),
                steps: None,
                total_steps: None,
                elapsed: ms(3),
            },
            RunningInstance {
                id: InstanceId(9),
                label: "é".repeat(60),
                steps: Some(0),
                total_steps: None,
                elapsed: Duration::ZERO,
            },
        ];
        let v = encode_running(&running);
        let back = decode_running(&v, 4);
        assert_eq!(back.len(), 3);
        for (a, b) in running.iter().zip(&back) {
            assert_eq!(
                (a.id, a.steps, a.total_steps, a.elapsed),
                (b.id, b.steps, b.total_steps, b.elapsed)
            );
        }
        assert_eq!(back[0].label, "q_learning on river_swim, seed 3, rank 4");
        assert_eq!(back[1].label, ", rank 4");
        // A long label is cut at a character boundary within LABEL_MAX bytes.
        assert_eq!(back[2].label, format!("{}, rank 4", "é".repeat(40)));
        // Nothing running; a truncated message keeps what is whole.
        assert!(decode_running(&encode_running(&[]), 1).is_empty());
        assert_eq!(decode_running(&v[..v.len() - 1], 4).len(), 2);
        assert!(decode_running(&v[..4], 4).is_empty());
    }

    #[test]
    fn chunks_shrink_as_the_queue_drains_and_never_exceed_what_is_left() {
        assert_eq!(chunk_size(1000, 5, 1), 100);
        assert_eq!(chunk_size(100, 5, 1), 10);
        assert_eq!(chunk_size(9, 5, 1), 1);
        assert_eq!(chunk_size(9, 5, 4), 4);
        assert_eq!(chunk_size(3, 5, 4), 3);
        assert_eq!(chunk_size(0, 5, 4), 0);
        assert_eq!(chunk_size(7, 0, 0), 3);
    }

    #[test]
    fn the_smallest_chunk_grows_with_ranks_and_request_cost_and_shrinks_with_instance_time() {
        let us = Duration::from_micros;
        const N: usize = 1_000_000;
        // Nothing measured yet.
        assert_eq!(min_chunk(N, 1000, 1, Duration::ZERO, us(1000)), 1);
        assert_eq!(min_chunk(N, 1000, 1, us(5), Duration::ZERO), 1);
        // Two ranks of seconds-long instances: one at a time.
        assert_eq!(min_chunk(N, 2, 1, us(5), us(2_000_000)), 1);
        // 1,000 ranks of 1 ms instances at 5 us a request: 1e6 instances/s; chunks of 50
        // bring 2e4 requests/s = 0.1 s/s.
        assert_eq!(min_chunk(N, 1000, 1, us(5), us(1000)), 50);
        assert_eq!(min_chunk(N, 1000, 2, us(5), us(1000)), 100);
        assert_eq!(min_chunk(N, 1000, 1, us(5), us(10_000)), 5);
        // Requests as costly as instances: still an equal share at most.
        assert_eq!(min_chunk(N, 1000, 1, us(1000), us(1000)), 1000);
        assert_eq!(min_chunk(5000, 1000, 1, us(1000), us(1000)), 5);
    }
}
