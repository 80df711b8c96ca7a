//! `ludus mdp` through the real binary.

use assert_cmd::Command;

#[test]
fn json_has_the_documented_shape() {
    let out = Command::cargo_bin("ludus")
        .expect("binary")
        .args(["mdp", "river_swim", "--set", "size=10", "--json"])
        .output()
        .expect("runs");
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["family"], "river_swim");
    assert_eq!(v["episodic"], false);
    assert!(v["horizon"].is_null());
    assert_eq!(v["n_states"], 10);
    assert_eq!(v["n_actions"], 2);
    assert_eq!(v["start"], serde_json::json!([[0, 1.0]]));
    assert_eq!(v["transitions"].as_array().map(Vec::len), Some(10));
    assert_eq!(v["rewards"][0].as_array().map(Vec::len), Some(2));
    assert!((v["optimal"]["average_reward"].as_f64().unwrap_or(0.0) - 1.0).abs() < 1e-8);
    assert_eq!(v["optimal"]["policy"].as_array().map(Vec::len), Some(10));
    assert!(v["random"]["average_reward"].as_f64().is_some());
    assert!(v["worst"]["average_reward"].as_f64().is_some());
}

#[test]
fn episodic_json_and_human_summary() {
    let out = Command::cargo_bin("ludus")
        .expect("binary")
        .args(["mdp", "deep_sea", "--episodic", "--set", "size=4", "--json"])
        .output()
        .expect("runs");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["horizon"], 4);
    // DeepSea: the optimal return 1 over one episode of H = 4 steps.
    assert!((v["optimal"]["average_reward"].as_f64().unwrap_or(0.0) - 0.25).abs() < 1e-12);
    Command::cargo_bin("ludus")
        .expect("binary")
        .args(["mdp", "river_swim"])
        .assert()
        .success()
        .stdout(predicates::str::contains("optimal  1.000000"));
}

#[test]
fn bad_parameters_exit_2_naming_them() {
    Command::cargo_bin("ludus")
        .expect("binary")
        .args(["mdp", "river_swim", "--set", "p_rand=1.5"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("p_rand = 1.5: must be in [0, 1]"));
}
