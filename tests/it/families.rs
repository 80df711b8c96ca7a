//! Generated MDPs are well formed and their values ordered; invalid parameters are plan-time
//! errors naming the parameter; custom MDPs come from inline tables or files.

use std::path::Path;

use ludus::model::solve::solve;
use ludus::model::{CheckError, Registry};
use ludus::value::{Params, Value};
use proptest::prelude::*;

const FAMILIES: &[&str] = &[
    "river_swim",
    "deep_sea",
    "frozen_lake",
    "simple_grid",
    "minigrid_empty",
    "minigrid_rooms",
    "taxi",
];

fn p(kv: &[(&str, Value)]) -> Params {
    kv.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

fn size_params(family: &str, size: i64) -> Params {
    match family {
        "minigrid_rooms" => p(&[("room_size", Value::Int(2 + size % 3))]),
        "taxi" => p(&[
            ("size", Value::Int(4 + size % 3)),
            ("n_locations", Value::Int(3)),
            ("length", Value::Int(1)),
        ]),
        "frozen_lake" => p(&[("size", Value::Int(3 + size % 5))]),
        _ => p(&[("size", Value::Int(2 + size % 8))]),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn rows_sum_to_one_and_values_are_ordered(
        fam in 0..FAMILIES.len(),
        size in 0i64..20,
        seed in 0i64..1000,
        p_rand in prop_oneof![Just(0.0), 0.0..0.5f64],
        p_lazy in prop_oneof![Just(0.0), 0.0..0.5f64],
        stochastic in any::<bool>(),
        episodic in any::<bool>(),
    ) {
        let family = FAMILIES[fam];
        let mut params = size_params(family, size);
        params.insert("seed".into(), Value::Int(seed));
        params.insert("p_rand".into(), Value::Float(p_rand));
        if family != "deep_sea" {
            params.insert("p_lazy".into(), Value::Float(p_lazy));
        }
        params.insert("make_reward_stochastic".into(), Value::Bool(stochastic));
        let reg = Registry::builtin();
        let mdp = reg.build_mdp(family, episodic, &params).expect("valid parameters");
        for s in 0..mdp.n_states {
            for a in 0..mdp.n_actions {
                let (next, prob) = mdp.row(s, a);
                let sum: f64 = prob.iter().sum();
                prop_assert!((sum - 1.0).abs() < 1e-9, "{family} row ({s}, {a}) sums to {sum}");
                prop_assert!(next.iter().all(|&n| (n as usize) < mdp.n_states));
                prop_assert!(prob.iter().all(|&x| x > 0.0 && x <= 1.0 + 1e-12));
            }
        }
        let start: f64 = mdp.start.iter().map(|e| e.1).sum();
        prop_assert!((start - 1.0).abs() < 1e-9);
        let sol = solve(&mdp).expect("solve");
        prop_assert!(sol.optimal_average_reward >= sol.random_average_reward - 1e-7, "{family}: {sol:?}");
        prop_assert!(sol.random_average_reward >= sol.worst_average_reward - 1e-7, "{family}: {sol:?}");
    }
}

fn invalid(family: &str, episodic: bool, params: Params) -> String {
    match Registry::builtin().check_mdp(family, episodic, &params) {
        Err(CheckError::Invalid(m)) => m,
        other => panic!("{family} {params:?}: expected Invalid, got {other:?}"),
    }
}

#[test]
fn invalid_parameters_name_the_parameter() {
    let m = invalid("river_swim", false, p(&[("p_rand", Value::Float(1.5))]));
    assert_eq!(m, "p_rand = 1.5: must be in [0, 1]");
    assert!(invalid("river_swim", false, p(&[("size", Value::Int(0))])).starts_with("size = 0"));
    assert!(
        invalid("frozen_lake", false, p(&[("p_frozen", Value::Float(-0.1))]))
            .starts_with("p_frozen")
    );
    let m = invalid("river_swim", false, p(&[("sise", Value::Int(3))]));
    assert!(
        m.contains("unknown parameter `sise`") && m.contains("size"),
        "{m}"
    );
    assert!(invalid("river_swim", false, p(&[("H", Value::Int(3))])).starts_with("H"));
    assert!(invalid("deep_sea", false, p(&[("p_lazy", Value::Float(0.1))])).starts_with("p_lazy"));
    // Every policy the same: normalized regret undefined, refused at plan time.
    let mut flat = two_state_tables();
    flat.insert(
        "rewards".into(),
        Value::List(vec![
            Value::List(vec![Value::Float(0.5), Value::Float(0.5)]);
            2
        ]),
    );
    let m = invalid("custom", false, flat);
    assert!(m.contains("optimal - worst"), "{m}");
}

#[test]
fn names_and_settings_are_checked() {
    let reg = Registry::builtin();
    assert!(
        matches!(reg.check_mdp("river", false, &Params::new()), Err(CheckError::Unknown(k)) if k.contains(&"river_swim".to_string()))
    );
    assert!(matches!(
        reg.check_agent("qlearning", &Params::new(), false),
        Err(CheckError::Unknown(_))
    ));
    assert!(matches!(
        reg.check_agent("ucrl2", &Params::new(), true),
        Err(CheckError::Incompatible(_))
    ));
    assert!(reg.check_agent("ucrl2", &Params::new(), false).is_ok());
    let m = match reg.check_agent("q_learning", &p(&[("c_1", Value::Float(-1.0))]), true) {
        Err(CheckError::Invalid(m)) => m,
        other => panic!("{other:?}"),
    };
    assert!(m.starts_with("c_1 = -1.0"), "{m}");
    for family in FAMILIES {
        for episodic in [false, true] {
            assert!(
                reg.check_mdp(family, episodic, &Params::new()).is_ok(),
                "{family} defaults"
            );
        }
    }
}

fn two_state_tables() -> Params {
    let pair = |n: i64, pr: f64| Value::List(vec![Value::Int(n), Value::Float(pr)]);
    let row = |entries: Vec<Value>| Value::List(entries);
    p(&[
        (
            "transitions",
            Value::List(vec![
                Value::List(vec![row(vec![pair(0, 1.0)]), row(vec![pair(1, 1.0)])]),
                Value::List(vec![row(vec![pair(1, 1.0)]), row(vec![pair(0, 1.0)])]),
            ]),
        ),
        (
            "rewards",
            Value::List(vec![
                Value::List(vec![Value::Float(0.0), Value::Float(0.0)]),
                Value::List(vec![Value::Float(1.0), Value::Float(0.0)]),
            ]),
        ),
    ])
}

#[test]
fn custom_tables_inline_and_from_files() {
    let reg = Registry::builtin();
    let tables = two_state_tables();
    let sol = solve(&reg.build_mdp("custom", false, &tables).expect("custom")).expect("solve");
    assert!((sol.optimal_average_reward - 1.0).abs() < 1e-8);
    assert!((sol.random_average_reward - 0.25).abs() < 1e-8);
    // A row that does not sum to 1.
    let mut bad = tables.clone();
    if let Some(Value::List(states)) = bad.get_mut("transitions") {
        states[0] = Value::List(vec![
            Value::List(vec![Value::List(vec![Value::Int(0), Value::Float(0.5)])]),
            Value::List(vec![Value::List(vec![Value::Int(1), Value::Float(1.0)])]),
        ]);
    }
    let m = invalid("custom", false, bad);
    assert!(m.contains("transitions[0][0]") && m.contains("sum"), "{m}");

    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("two.toml"),
        "transitions = [[[[0, 1.0]], [[1, 1.0]]], [[[1, 1.0]], [[0, 1.0]]]]\nrewards = [[0.0, 0.0], [1.0, 0.0]]\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("two.json"),
        r#"{"transitions": [[[[0, 1.0]], [[1, 1.0]]], [[[1, 1.0]], [[0, 1.0]]]], "rewards": [[0, 0], [1, 0]], "start": [[1, 1.0]]}"#,
    )
    .expect("write");
    for file in ["two.toml", "two.json"] {
        let given = p(&[("file", Value::Str(file.into()))]);
        let resolved = reg
            .resolve_mdp("custom", false, &given, dir.path())
            .expect("resolve");
        assert!(!resolved.contains_key("file"));
        assert!(resolved.contains_key("transitions"));
        assert!(reg.check_mdp("custom", false, &resolved).is_ok());
    }
    let missing = p(&[("file", Value::Str("nope.toml".into()))]);
    match reg.resolve_mdp("custom", false, &missing, dir.path()) {
        Err(CheckError::Invalid(m)) => assert!(m.starts_with("file"), "{m}"),
        other => panic!("{other:?}"),
    }
    // Other families pass through unchanged.
    let rs = p(&[("size", Value::Int(3))]);
    assert_eq!(
        reg.resolve_mdp("river_swim", false, &rs, Path::new("."))
            .expect("same"),
        rs
    );
}

#[test]
fn registry_and_instances_can_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Registry>();
    fn send<T: Send>() {}
    send::<Box<dyn ludus::model::Agent>>();
    send::<ludus::model::Mdp>();
}
