//! MiniGridEmpty, MiniGridRooms and Taxi, with Colosseum's dynamics and rewards.

use std::collections::HashSet;

use super::{dists_or, read_common, read_dist, require};
use crate::model::check::CheckError;
use crate::model::mdp::{Dynamics, Mdp, RewardDist, build};
use crate::model::np_random::{PyRandom, RandomState};
use crate::model::params::ParamReader;
use crate::value::Params;

use RewardDist::{Beta, Deterministic as Det};

/// A position and a facing direction (UP, RIGHT, DOWN, LEFT = 0..3).
type Pose = (i64, i64, u8);

/// Turning and moving forward (MoveForward, TurnRight, TurnLeft = 0..2) on a set of cells.
struct Walker {
    cells: HashSet<(i64, i64)>,
    goal: (i64, i64),
    starts: Vec<(Pose, f64)>,
    possible: Vec<Pose>,
    d: [RewardDist; 2],
}

impl Dynamics for Walker {
    type Node = Pose;
    fn n_actions(&self) -> usize {
        3
    }
    fn starts(&self) -> Vec<(Pose, f64)> {
        self.starts.clone()
    }
    fn possible_starts(&self) -> Vec<Pose> {
        self.possible.clone()
    }
    fn next(&self, &(x, y, dir): &Pose, a: usize) -> Vec<(Pose, f64)> {
        let n = match a {
            1 => (x, y, (dir + 1) % 4),
            2 => (x, y, (dir + 3) % 4),
            _ => {
                let (nx, ny) = match dir {
                    0 => (x, y + 1),
                    1 => (x + 1, y),
                    2 => (x, y - 1),
                    _ => (x - 1, y),
                };
                if self.cells.contains(&(nx, ny)) {
                    (nx, ny, dir)
                } else {
                    (x, y, dir)
                }
            }
        };
        vec![(n, 1.0)]
    }
    fn reward(&self, _: &Pose, _: usize, &(x, y, _): &Pose) -> RewardDist {
        if (x, y) == self.goal {
            self.d[0]
        } else {
            self.d[1]
        }
    }
}

fn walker_dists(
    r: &mut ParamReader,
    stochastic: bool,
    m: f64,
    size: f64,
) -> Result<[RewardDist; 2], CheckError> {
    let given = [
        read_dist(r, "optimal_distribution")?,
        read_dist(r, "other_distribution")?,
    ];
    Ok(dists_or(given, || {
        if stochastic {
            let k = size * size - 1.0;
            [Beta(m * k, m), Beta(m, m * k)]
        } else {
            [Det(1.0), Det(0.0)]
        }
    }))
}

/// An empty `size` x `size` room; the agent turns and moves forward. The start cells lie on
/// one side drawn from `seed`, the goal on the opposite side; reaching the goal cell pays 1.
/// Parameters: `size` (5), `n_starting_states` (1), `optimal_distribution`,
/// `other_distribution`.
pub fn minigrid_empty(episodic: bool, params: &Params) -> Result<Mdp, CheckError> {
    let mut r = ParamReader::new(params);
    let c = read_common(&mut r, episodic)?;
    let size = r.size_capped("size", 5, 2, super::MAX_GRID, super::CAP_WHY)?;
    let n_starts = r.int_in("n_starting_states", 1, 1, size)? as usize;
    let d = walker_dists(
        &mut r,
        c.make_reward_stochastic,
        c.reward_variance_multiplier,
        size as f64,
    )?;
    r.finish()?;
    // Colosseum's draws: the start side, the goal cell on the opposite side, the order of the
    // start side's cells, then a direction for each start.
    let mut rng = RandomState::new(c.seed as u32);
    let last = size - 1;
    // The cells of one side: left (x = 0), bottom (y = 0), right, top.
    let side = |k: u64| -> Vec<(i64, i64)> {
        (0..size)
            .map(|j| match k {
                0 => (0, j),
                1 => (j, 0),
                2 => (last, last - j),
                _ => (last - j, last),
            })
            .collect()
    };
    let start_side = rng.randint(4);
    let goal = side((start_side + 2) % 4)[rng.randint(size as u64) as usize];
    let mut cells = side(start_side);
    rng.shuffle(&mut cells);
    let p = 1.0 / n_starts as f64;
    let starts = cells
        .iter()
        .take(n_starts)
        .map(|&(x, y)| ((x, y, rng.randint(4) as u8), p))
        .collect();
    let w = Walker {
        cells: (0..size)
            .flat_map(|x| (0..size).map(move |y| (x, y)))
            .collect(),
        goal,
        starts,
        possible: cells
            .iter()
            .flat_map(|&(x, y)| (0..4).map(move |dir| (x, y, dir)))
            .collect(),
        d,
    };
    Ok(build(&w, &c, &mut rng))
}

/// `n_rooms` (a square number, 4) rooms of `room_size` x `room_size` cells (3) joined by doors
/// in the walls between them. The start room and the goal room are two different corner rooms
/// drawn from `seed`, the goal a cell of the goal room; the `n_starting_states` (2) start poses
/// are drawn among the start room's cells and directions. Parameters: `room_size`, `n_rooms`,
/// `n_starting_states`, `optimal_distribution`, `other_distribution`.
pub fn minigrid_rooms(episodic: bool, params: &Params) -> Result<Mdp, CheckError> {
    let mut r = ParamReader::new(params);
    let c = read_common(&mut r, episodic)?;
    let room = r.size_capped("room_size", 3, 2, 10, super::CAP_WHY)?;
    let n_rooms = r.int_in("n_rooms", 4, 4, 16)?;
    let per_row = (n_rooms as f64).sqrt().round() as i64;
    require(
        per_row * per_row == n_rooms,
        format!("n_rooms = {n_rooms}: must be a square number (4, 9, 16, ...)"),
    )?;
    let n_starts = r.int_in("n_starting_states", 2, 1, 4 * room * room)? as usize;
    let size = (room * per_row) as f64;
    let d = walker_dists(
        &mut r,
        c.make_reward_stochastic,
        c.reward_variance_multiplier,
        size,
    )?;
    r.finish()?;
    let in_room = |rx: i64, ry: i64| -> Vec<(i64, i64)> {
        (0..room)
            .flat_map(|i| (0..room).map(move |j| (i + (room + 1) * rx, j + (room + 1) * ry)))
            .collect()
    };
    let mut cells: HashSet<(i64, i64)> = HashSet::new();
    for rx in 0..per_row {
        for ry in 0..per_row {
            cells.extend(in_room(rx, ry));
        }
    }
    let across: Vec<i64> = (0..per_row).map(|j| j * (room + 1) + room / 2).collect();
    let walls: Vec<i64> = (1..per_row).map(|j| j * (room + 1) - 1).collect();
    for &w in &walls {
        for &a in &across {
            cells.insert((w, a));
            cells.insert((a, w));
        }
    }
    // Colosseum's draws: the start and goal corner rooms from Python's `random` (seeded with
    // the MDP's seed), then from NumPy's: the order of the goal room's cells (the goal is the
    // first) and of the start room's poses (every one a possible start, the first
    // `n_starting_states` the starts).
    let mut py = PyRandom::new(c.seed);
    let mut corners = vec![
        (0, 0),
        (0, per_row - 1),
        (per_row - 1, 0),
        (per_row - 1, per_row - 1),
    ];
    let start_room = corners.remove(py.randint(0, 3) as usize);
    let goal_room = corners[py.randint(0, 2) as usize];
    let mut rng = RandomState::new(c.seed as u32);
    let mut goal_cells = room_order(room, goal_room);
    rng.shuffle(&mut goal_cells);
    let goal = goal_cells[0];
    let mut poses: Vec<Pose> = room_order(room, start_room)
        .into_iter()
        .flat_map(|(x, y)| (0..4).map(move |dir| (x, y, dir)))
        .collect();
    rng.shuffle(&mut poses);
    let p = 1.0 / n_starts as f64;
    let starts = poses.iter().take(n_starts).map(|&n| (n, p)).collect();
    Ok(build(
        &Walker {
            cells,
            goal,
            starts,
            possible: poses,
            d,
        },
        &c,
        &mut rng,
    ))
}

/// The cells of room `(rx, ry)` in Colosseum's order: rows from the top (`y` decreasing),
/// each from the left.
fn room_order(room: i64, (rx, ry): (i64, i64)) -> Vec<(i64, i64)> {
    (0..room)
        .rev()
        .flat_map(|j| (0..room).map(move |i| (i + (room + 1) * rx, j + (room + 1) * ry)))
        .collect()
}

/// Taxi node: taxi position, passenger position (`-1` when in the taxi), destination.
type TaxiNode = (i64, i64, i64, i64, i64, i64);

struct Taxi {
    cells: HashSet<(i64, i64)>,
    locations: Vec<(i64, i64)>,
    starts: Vec<(TaxiNode, f64)>,
    size: usize,
    d: [RewardDist; 3],
}

impl Dynamics for Taxi {
    type Node = TaxiNode;
    fn n_actions(&self) -> usize {
        6
    }
    fn starts(&self) -> Vec<(TaxiNode, f64)> {
        self.starts.clone()
    }
    fn minimal_horizon(&self) -> Option<usize> {
        Some((1.5 * (self.size * self.size) as f64) as usize)
    }
    fn next(&self, n: &TaxiNode, a: usize) -> Vec<(TaxiNode, f64)> {
        let &(x, y, px, py, dx, dy) = n;
        if a == 5 && px == -1 && (x, y) == (dx, dy) {
            // Delivered: a new passenger elsewhere, with a new destination.
            let mut out = Vec::new();
            for &pl in self.locations.iter().filter(|&&l| l != (x, y)) {
                for &dl in self.locations.iter().filter(|&&l| l != pl) {
                    out.push(((x, y, pl.0, pl.1, dl.0, dl.1), 1.0));
                }
            }
            let k = out.len() as f64;
            out.iter_mut().for_each(|e| e.1 = 1.0 / k);
            return out;
        }
        let (mut px, mut py) = (px, py);
        if a == 4 && px != -1 && (x, y) == (px, py) {
            (px, py) = (-1, -1);
        }
        let target = match a {
            0 => (x, y - 1),
            1 => (x, y + 1),
            2 => (x + 1, y),
            3 => (x - 1, y),
            _ => (x, y),
        };
        let (nx, ny) = if self.cells.contains(&target) {
            target
        } else {
            (x, y)
        };
        vec![((nx, ny, px, py, dx, dy), 1.0)]
    }
    fn reward(&self, n: &TaxiNode, a: usize, next: &TaxiNode) -> RewardDist {
        let (carrying, carrying_next) = (n.2 == -1, next.2 == -1);
        match a {
            4 if !carrying_next || carrying => self.d[2],
            5 if carrying_next || !carrying => self.d[2],
            5 => self.d[1],
            _ => self.d[0],
        }
    }
}

/// The walkable cells of a taxi map: rows of wall segments (`width` wide, `space` apart,
/// `length` rows tall), alternately shifted, separated by open rows.
fn taxi_cells(size: usize, length: usize, width: usize, space: usize) -> Vec<(i64, i64)> {
    let mut rows: Vec<Vec<u8>> = Vec::new();
    let mut j = 0;
    while rows.len() < size {
        let mut row: Vec<u8> = if j % 2 != 0 {
            Vec::new()
        } else {
            vec![0; (width + space) / 2]
        };
        let mut i = 0;
        while row.len() < size {
            row.push(u8::from(i % (1 + space) == 0));
            if row.last() == Some(&1) {
                for _ in 1..width {
                    if row.len() == size {
                        break;
                    }
                    row.push(1);
                }
            }
            i += 1;
        }
        row.truncate(size);
        for _ in 0..length {
            if rows.len() == size {
                break;
            }
            rows.push(row.clone());
        }
        if rows.len() < size {
            rows.push(vec![0; size]);
        }
        j += 1;
    }
    let mut out = Vec::new();
    for (x, row) in rows.iter().enumerate() {
        for (y, &v) in row.iter().enumerate() {
            if v == 0 {
                out.push((x as i64, y as i64));
            }
        }
    }
    out
}

/// Taxi on a `size` x `size` map with walls (`length` 2, `width` 1, `space` 1) and
/// `n_locations` (4) stops drawn from `seed`, one per quadrant, far enough apart. Actions:
/// south, north, east, west, pick up, drop off. Every step pays 0.1, a successful delivery 1,
/// a failed pick-up or drop-off 0; after a delivery a new passenger appears at another stop.
/// Parameters: `size` (8), `length`, `width`, `space`, `n_locations`, `optimal_mean_reward`
/// (0.9), `sub_optimal_mean_reward` (0.2), `default_r`, `successfully_delivery_r`,
/// `failure_delivery_r`.
pub fn taxi(episodic: bool, params: &Params) -> Result<Mdp, CheckError> {
    let mut r = ParamReader::new(params);
    let mut c = read_common(&mut r, episodic)?;
    c.randomize_actions = false;
    let size = r.int_in("size", 8, 3, 20)? as usize;
    let length = r.int_in("length", 2, 1, 200)? as usize;
    let width = r.int_in("width", 1, 1, 200)? as usize;
    let space = r.int_in("space", 1, 1, 200)? as usize;
    let n_loc = r.int_in("n_locations", 4, 2, 64)? as usize;
    let opt_mean = r.f64_in("optimal_mean_reward", 0.9, 1e-6, 1.0)?;
    let sub_mean = r.f64_in("sub_optimal_mean_reward", 0.2, 1e-6, 1.0)?;
    let given = [
        read_dist(&mut r, "default_r")?,
        read_dist(&mut r, "successfully_delivery_r")?,
        read_dist(&mut r, "failure_delivery_r")?,
    ];
    r.finish()?;
    let m = c.reward_variance_multiplier;
    let d = dists_or(given, || {
        if c.make_reward_stochastic {
            [
                RewardDist::beta_with_mean(m, sub_mean),
                RewardDist::beta_with_mean(m, opt_mean),
                Beta(m, m * (10.0 / sub_mean - 1.0)),
            ]
        } else {
            [Det(0.1), Det(1.0), Det(0.0)]
        }
    });
    let open = taxi_cells(size, length, width, space);
    let k = (n_loc as f64).sqrt().ceil() as usize;
    let n_quadrants = k * k;
    // np.array_split of 0..size into k chunks: the first size % k chunks get one more.
    let mut chunk_of = vec![0usize; size];
    let (base, extra) = (size / k, size % k);
    let mut at = 0;
    for (ci, len) in (0..k).map(|ci| (ci, base + usize::from(ci < extra))) {
        for slot in chunk_of.iter_mut().skip(at).take(len) {
            *slot = ci;
        }
        at += len;
    }
    let mut quadrants: Vec<Vec<(i64, i64)>> = vec![Vec::new(); n_quadrants];
    for &(x, y) in &open {
        quadrants[chunk_of[x as usize] * k + chunk_of[y as usize]].push((x, y));
    }
    require(
        quadrants.iter().all(|q| !q.is_empty()),
        format!("size = {size}: too small for n_locations = {n_loc} with these walls"),
    )?;
    let min_dist = (size as f64 / k as f64 / 2.0).max(2.0);
    // Colosseum's draws: one stop per quadrant until all are far enough apart, their order,
    // then the order of the starting states (which numbers the states).
    let mut rng = RandomState::new(c.seed as u32);
    let mut locations = None;
    for _ in 0..10_000 {
        let cand: Vec<(i64, i64)> = quadrants
            .iter()
            .map(|q| q[rng.randint(q.len() as u64) as usize])
            .collect();
        let far = cand.iter().enumerate().all(|(i, a)| {
            cand[i + 1..].iter().all(|b| {
                let (dx, dy) = ((a.0 - b.0) as f64, (a.1 - b.1) as f64);
                (dx * dx + dy * dy).sqrt() > min_dist
            })
        });
        if far {
            locations = Some(cand);
            break;
        }
    }
    let mut locations = locations.ok_or_else(|| {
        CheckError::Invalid(format!(
            "size = {size}: cannot place {n_loc} stops far enough apart"
        ))
    })?;
    rng.shuffle(&mut locations);
    locations.truncate(n_loc);
    let mut starts = Vec::new();
    for &pl in &locations {
        for &dl in locations.iter().filter(|&&l| l != pl) {
            for &(x, y) in &open {
                starts.push(((x, y, pl.0, pl.1, dl.0, dl.1), 0.0));
            }
        }
    }
    let p = 1.0 / starts.len() as f64;
    starts.iter_mut().for_each(|s| s.1 = p);
    rng.shuffle(&mut starts);
    Ok(build(
        &Taxi {
            cells: open.into_iter().collect(),
            locations,
            starts,
            size,
            d,
        },
        &c,
        &mut rng,
    ))
}
