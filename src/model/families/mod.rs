//! The seven Colosseum MDP families and the `custom` family, each built from its parameters.
//!
//! Parameter names follow Colosseum exactly. Shared by every family: `seed` (0), `p_rand` (0),
//! `p_lazy` (0), `make_reward_stochastic` (false), `reward_variance_multiplier` (1.0),
//! `randomize_actions` (true; Taxi always false, as in Colosseum) and, for episodic MDPs only,
//! `H`: the horizon, raised to Colosseum's minimal one, and that minimal one when absent: the
//! longest shortest path from any *possible* starting node (every cell a start could have been
//! drawn on, not only the ones drawn) to any state, plus one (Taxi: `1.5 * size^2`). Reward
//! distributions that Colosseum takes as `("beta", (a, b))` / `("deterministic", (v,))` tuples
//! are given as lists: `["beta", [a, b]]`. `seed` (0 to 2^32 - 1) means what it means in
//! Colosseum: layouts (lakes, goals, start cells, taxi stops) and the per-state action
//! relabelling are drawn exactly as Colosseum draws them (NumPy's legacy `RandomState`, Gym's
//! `generate_random_map` for lakes, Python's `random` for MiniGridRooms' rooms; see
//! `np_random`), and states are numbered in Colosseum's discovery order, so the same family,
//! parameters and seed give Colosseum's MDP state for state and label for label. RiverSwim and
//! DeepSea do not depend on the seed (except for the action relabelling).
//!
//! Sizes are capped where the exact solve at plan time (every MDP is solved when planned, see
//! `solve`) stops taking seconds, measured with a release build on a shared 2-core machine:
//! RiverSwim 100,000 states (p_rand 0.01: 0.7 s), DeepSea 100 (5,050 states: 0.3-0.7 s; 150
//! took 9 s, 200 took 14-27 s), grids 50 (FrozenLake 50: 10 s, MiniGridEmpty 50: 9 s),
//! MiniGridRooms `room_size` 10 (0.6 s; 20 took 7 s) and 16 rooms, Taxi 20 (4.5 s). The error
//! for a size above its cap says so. Colosseum's benchmarks stay far below these caps (its
//! largest benchmark MDPs have about 950 states); a custom MDP has no size cap.

mod classic;
pub mod custom;
mod grids;

use super::check::CheckError;
use super::mdp::{Common, Mdp, RewardDist};
use super::params::ParamReader;
use crate::value::{Params, Value};

pub use classic::{deep_sea, frozen_lake, river_swim, simple_grid};
pub use grids::{minigrid_empty, minigrid_rooms, taxi};

/// A family's builder: `(episodic, params) -> Mdp`.
pub type BuildFn = fn(bool, &Params) -> Result<Mdp, CheckError>;

/// RiverSwim's largest `size` (see the module notes for the measurements behind each cap).
pub const MAX_RIVER_SWIM: i64 = 100_000;
/// DeepSea's largest `size`.
pub const MAX_DEEP_SEA: i64 = 100;
/// The largest `size` of FrozenLake, SimpleGrid and MiniGridEmpty.
pub const MAX_GRID: i64 = 50;
/// Why sizes are capped, in the error for a size above its cap.
pub(crate) const CAP_WHY: &str = "larger MDPs of this family take more than about 10 s to \
    solve exactly at plan time (a custom MDP has no size cap)";

/// The built-in families, by spec name.
pub const BUILTIN: &[(&str, BuildFn)] = &[
    ("river_swim", river_swim),
    ("deep_sea", deep_sea),
    ("frozen_lake", frozen_lake),
    ("simple_grid", simple_grid),
    ("minigrid_empty", minigrid_empty),
    ("minigrid_rooms", minigrid_rooms),
    ("taxi", taxi),
    ("custom", custom::build),
];

/// Reads the parameters every family shares.
pub(crate) fn read_common(r: &mut ParamReader, episodic: bool) -> Result<Common, CheckError> {
    // NumPy's RandomState takes seeds in [0, 2^32 - 1], and so does Colosseum.
    let seed = r.int_in("seed", 0, 0, u32::MAX as i64)? as u64;
    let p_rand = r.prob("p_rand", 0.0)?;
    let p_lazy = r.f64_in("p_lazy", 0.0, 0.0, 0.9999)?;
    let make_reward_stochastic = r.bool("make_reward_stochastic", false)?;
    let reward_variance_multiplier = r.positive("reward_variance_multiplier", 1.0)?;
    let randomize_actions = r.bool("randomize_actions", true)?;
    let horizon = r.opt_int("H", 1, 100_000_000)?;
    if horizon.is_some() && !episodic {
        return Err(CheckError::Invalid(
            "H: only episodic MDPs have a horizon (add --episodic / `episodic = true`)".into(),
        ));
    }
    Ok(Common {
        seed,
        p_rand,
        p_lazy,
        make_reward_stochastic,
        reward_variance_multiplier,
        randomize_actions,
        horizon: horizon.map(|h| h as usize),
        episodic,
    })
}

/// An explicit reward distribution parameter, `["beta", [a, b]]` or `["deterministic", [v]]`.
pub(crate) fn read_dist(
    r: &mut ParamReader,
    key: &'static str,
) -> Result<Option<RewardDist>, CheckError> {
    let Some(v) = r.raw(key) else {
        return Ok(None);
    };
    let bad = || {
        CheckError::Invalid(format!(
            "{key} = {v}: must be [\"beta\", [a, b]] with a, b > 0 or [\"deterministic\", [v]] with v in [0, 1]"
        ))
    };
    let Value::List(l) = v else { return Err(bad()) };
    let (Some(name), Some(args)) = (l.first().and_then(Value::as_str), l.get(1)) else {
        return Err(bad());
    };
    let nums: Vec<f64> = match args {
        Value::List(a) => a
            .iter()
            .map(|x| x.as_f64().ok_or_else(bad))
            .collect::<Result<_, _>>()?,
        x => vec![x.as_f64().ok_or_else(bad)?],
    };
    match (name, nums.as_slice()) {
        ("beta", &[a, b]) if a > 0.0 && b > 0.0 => Ok(Some(RewardDist::Beta(a, b))),
        ("deterministic", &[x]) if (0.0..=1.0).contains(&x) => {
            Ok(Some(RewardDist::Deterministic(x)))
        }
        _ => Err(bad()),
    }
}

/// Picks explicit distributions when all are given, otherwise the family's defaults.
pub(crate) fn dists_or<const N: usize>(
    given: [Option<RewardDist>; N],
    default: impl FnOnce() -> [RewardDist; N],
) -> [RewardDist; N] {
    if given.iter().all(Option::is_some) {
        given.map(|d| d.unwrap_or(RewardDist::Deterministic(0.0)))
    } else {
        default()
    }
}

/// Fails with the parameter's name unless `ok`.
pub(crate) fn require(ok: bool, msg: impl Into<String>) -> Result<(), CheckError> {
    if ok {
        Ok(())
    } else {
        Err(CheckError::Invalid(msg.into()))
    }
}
