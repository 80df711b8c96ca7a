//! The cost of one exact regret evaluation as the MDP grows (10 .. ~1,000 states): the gain
//! of a policy on a continuous MDP by direct solves (cold: a new evaluator, which also orders
//! the states; warm: an evaluator reused for a policy that differs in one state, the common
//! case between two log rows) and the time-zero values on the episodic form. All with `p_rand = 0.05`. `cargo bench --bench regret_eval`.

use std::hint::black_box;
use std::time::Instant;

use ludus::model::Registry;
use ludus::model::solve::{Evaluator, Policy, evaluate_episodic, solve};
use ludus::value::{Params, Value};

fn time_per_call(reps: usize, mut f: impl FnMut()) -> f64 {
    let t0 = Instant::now();
    for _ in 0..reps {
        f();
    }
    t0.elapsed().as_secs_f64() / reps as f64 * 1e6
}

#[allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]
fn main() {
    let reg = Registry::builtin();
    println!("one regret evaluation (microseconds per call)");
    println!(
        "{:<26} {:>7} {:>9} {:>11} {:>11} {:>13}",
        "mdp", "states", "entries", "cold (us)", "warm (us)", "episodic (us)"
    );
    let cases: Vec<(&str, i64, &str)> = vec![
        ("frozen_lake", 4, "size"),
        ("frozen_lake", 8, "size"),
        ("frozen_lake", 16, "size"),
        ("frozen_lake", 32, "size"),
        ("minigrid_empty", 5, "size"),
        ("minigrid_empty", 10, "size"),
        ("minigrid_empty", 16, "size"),
        ("simple_grid", 10, "size"),
        ("simple_grid", 32, "size"),
        ("river_swim", 10, "size"),
        ("river_swim", 100, "size"),
    ];
    for (family, size, key) in cases {
        let mut p = Params::new();
        p.insert(key.into(), Value::Int(size));
        p.insert("p_rand".into(), Value::Float(0.05));
        let Ok(mdp) = reg.build_mdp(family, false, &p) else {
            continue;
        };
        let sol = solve(&mdp).expect("solve");
        let opt = sol.optimal_policy.clone();
        let mut other = opt.clone();
        other[0] = (other[0] + 1) % mdp.n_actions as u32;
        let reps = (200_000 / mdp.n_entries()).clamp(3, 2000);
        let cold = time_per_call(reps, || {
            let mut ev = Evaluator::new(mdp.n_states);
            black_box(
                ev.gain(&mdp, &Policy::Deterministic(opt.clone()))
                    .expect("gain")[0],
            );
        });
        let mut ev = Evaluator::new(mdp.n_states);
        let mut flip = false;
        let warm = time_per_call(reps, || {
            flip = !flip;
            let pol = if flip { &other } else { &opt };
            black_box(
                ev.gain(&mdp, &Policy::Deterministic(pol.clone()))
                    .expect("gain")[0],
            );
        });
        let emdp = reg.build_mdp(family, true, &p).expect("episodic form");
        let esol = solve(&emdp).expect("solve");
        let epol = Policy::Deterministic(esol.optimal_policy.clone());
        let h = emdp.horizon.unwrap_or(1);
        let episodic = time_per_call(reps, || {
            black_box(evaluate_episodic(&emdp, h, &epol)[0]);
        });
        println!(
            "{:<26} {:>7} {:>9} {:>11.1} {:>11.1} {:>13.1}",
            format!("{family}(size={size})"),
            mdp.n_states,
            mdp.n_entries(),
            cold,
            warm,
            episodic
        );
    }
}
