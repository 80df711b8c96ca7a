//! ludus's reimplementation of the random draws Colosseum's MDP families make (NumPy's legacy
//! `RandomState`, Gym's `generate_random_map`, Python's `random.Random`) gives the values
//! recorded from NumPy 1.26, Gym 0.26 and CPython for 40 seeds
//! (`tests/data/np_draws/draws.json`, made by `record.py` beside it), so layouts drawn from any
//! seed, not only the reference models' seeds, are Colosseum's.

use ludus::model::np_random::{PyRandom, RandomState, generate_random_map};
use proptest::prelude::*;
use serde_json::Value as J;

fn draws() -> &'static [J] {
    static DRAWS: std::sync::OnceLock<Vec<J>> = std::sync::OnceLock::new();
    DRAWS.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/np_draws/draws.json"
        );
        let v: J = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        v["draws"].as_array().unwrap().clone()
    })
}

fn u64s(v: &J) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect()
}

/// Replays one seed's recorded calls, in the recorded order, and compares every value.
fn check_seed(d: &J) {
    let seed = d["seed"].as_u64().unwrap();
    let mut rs = RandomState::new(seed as u32);
    let u: Vec<f64> = (0..4).map(|_| rs.random_sample()).collect();
    // Doubles are recorded as their IEEE-754 bits, to be read back exactly.
    let want: Vec<f64> = u64s(&d["random_sample_bits"])
        .into_iter()
        .map(f64::from_bits)
        .collect();
    assert_eq!(u, want, "seed {seed}: random_sample");
    for pair in d["randint"].as_array().unwrap() {
        let [n, k] = u64s(pair)[..] else { panic!() };
        assert_eq!(rs.randint(n), k, "seed {seed}: randint({n})");
    }
    for want in d["shuffle"].as_array().unwrap() {
        let want = u64s(want);
        let mut l: Vec<u64> = (0..want.len() as u64).collect();
        rs.shuffle(&mut l);
        assert_eq!(l, want, "seed {seed}: shuffle");
    }
    for want in d["rand_argsort"].as_array().unwrap() {
        let want: Vec<usize> = u64s(want).into_iter().map(|x| x as usize).collect();
        assert_eq!(
            rs.rand_argsort(want.len()),
            want,
            "seed {seed}: rand(n).argsort()"
        );
    }
    let p = f64::from_bits(d["choice_p_bits"].as_u64().unwrap());
    let cdf = ludus::model::np_random::cdf(&[p, 1.0 - p]);
    for row in d["choice"].as_array().unwrap() {
        for cell in row.as_array().unwrap() {
            let got = ["F", "H"][ludus::model::np_random::index_in_cdf(&cdf, rs.random_sample())];
            assert_eq!(got, cell.as_str().unwrap(), "seed {seed}: choice p={p}");
        }
    }
    assert_eq!(
        rs.randint(1 << 32),
        d["next_u32"].as_u64().unwrap(),
        "seed {seed}: the stream after the choice"
    );
    let m = &d["map"];
    let size = m["size"].as_u64().unwrap() as usize;
    let lake = generate_random_map(
        size,
        f64::from_bits(m["p_bits"].as_u64().unwrap()),
        &mut RandomState::new(seed as u32),
        1_000_000,
    )
    .expect("a map");
    let rows: Vec<String> = lake
        .chunks(size)
        .map(|r| String::from_utf8(r.to_vec()).unwrap())
        .collect();
    let want: Vec<String> = m["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    assert_eq!(rows, want, "seed {seed}: generate_random_map");
    let mut py = PyRandom::new(seed);
    for t in d["py_randint"].as_array().unwrap() {
        let v: Vec<i64> = t
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_i64().unwrap())
            .collect();
        assert_eq!(
            py.randint(v[0], v[1]),
            v[2],
            "seed {seed}: random.randint({}, {})",
            v[0],
            v[1]
        );
    }
}

#[test]
fn every_recorded_seed_replays() {
    let d = draws();
    assert!(d.len() >= 40);
    for x in d {
        check_seed(x);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// Any recorded seed replays, and for any seed the draws stay in range.
    #[test]
    fn draws_match_numpy_and_stay_in_range(i in 0usize..40, seed in any::<u32>(), n in 1u64..=(1 << 32)) {
        check_seed(&draws()[i]);
        let mut rs = RandomState::new(seed);
        prop_assert!(rs.randint(n) < n);
        let u = rs.random_sample();
        prop_assert!((0.0..1.0).contains(&u));
        let mut py = PyRandom::new(seed as u64);
        let k = py.randint(-3, 3);
        prop_assert!((-3..=3).contains(&k));
    }
}
