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

/// RiverSwim with `p_rand = 0.01` failed its own equation check from about 280 states (and was
/// "singular" at 8,000): policy iteration started from a policy that took LEFT wherever LEFT
/// could move right. Optimal, random and worst values of the whole family, continuous and
/// episodic, at sizes past Colosseum's largest benchmark MDPs.
/// Colosseum's `mdp[17]` of its continuous ergodic benchmark: policy iteration for the worst
/// gain cycles on rounding (nearly decomposable policies), value iteration's bounds certify the
/// gain it reached. Reference: Colosseum 981b344, `SimpleGridContinuous(seed=S, size=10,
/// p_lazy=0.2, p_rand=0.01, randomize_actions=False, make_reward_stochastic=False)`, its
/// `optimal_average_reward` and `worst_average_reward` (the same for seeds 0 and 1). Colosseum's
/// own figures carry up to about 3e-8 of error (from stationary distributions of nearly
/// decomposable chains): its random policy is worth 0.50000000089 where the exact value is 1/2,
/// and the grid is symmetric (the worst policy mirrors the best: worst = 1 - optimal), yet
/// 1 - its optimal is 0.0036096961 against its worst 0.0036096691. ludus's values keep that
/// symmetry to 1e-12.
#[test]
fn worst_gain_of_a_nearly_decomposable_grid_is_certified_and_matches_colosseum() {
    for seed in ["0", "1"] {
        let out = Command::cargo_bin("ludus")
            .expect("binary")
            .args(["mdp", "simple_grid", "--json"])
            .args([
                "--set",
                "size=10",
                "--set",
                "p_lazy=0.2",
                "--set",
                "p_rand=0.01",
            ])
            .args(["--set", &format!("seed={seed}")])
            .output()
            .expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "seed {seed}: {err}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let avg = |k: &str| v[k]["average_reward"].as_f64().expect(k);
        assert!(
            (avg("optimal") - 0.9963903038991847).abs() < 1e-7,
            "{}",
            avg("optimal")
        );
        assert!(
            (avg("worst") - 0.0036096690854189014).abs() < 1e-7,
            "{}",
            avg("worst")
        );
        assert!(
            (1.0 - avg("optimal") - avg("worst")).abs() < 1e-12,
            "{} {}",
            avg("optimal"),
            avg("worst")
        );
        assert!((avg("random") - 0.5).abs() < 1e-12, "{}", avg("random"));
    }
    // The shipped benchmark that holds it plans.
    let bench =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benchmarks/continuous_ergodic.toml");
    let out = Command::cargo_bin("ludus")
        .expect("binary")
        .args(["plan", "--dry-run"])
        .arg(&bench)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn slowly_mixing_river_swim_solves_at_large_sizes() {
    for (size, episodic) in [(1_000usize, false), (8_000, false), (1_000, true)] {
        let mut cmd = Command::cargo_bin("ludus").expect("binary");
        cmd.args(["mdp", "river_swim", "--json"]);
        if episodic {
            cmd.arg("--episodic");
        }
        let out = cmd
            .args(["--set", &format!("size={size}"), "--set", "p_rand=0.01"])
            .output()
            .expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{size} {episodic}: {err}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let avg = |k: &str| v[k]["average_reward"].as_f64().expect(k);
        if episodic {
            assert!(avg("optimal") > avg("random") && avg("random") > avg("worst"));
        } else {
            // Always RIGHT: a birth-death chain with ratio 0.995 / 0.005 = 199.
            assert!(
                (avg("optimal") - 198.0 / 199.0).abs() < 1e-12,
                "{}",
                avg("optimal")
            );
            // Uniform: a symmetric walk, stationary 1 / size, earning 0.005 / 2 and 1 / 2 at
            // the ends.
            let want = 0.5025 / size as f64;
            assert!((avg("random") - want).abs() < 1e-12, "{}", avg("random"));
            assert_eq!(avg("worst"), 0.0);
        }
    }
}

#[test]
fn size_caps_say_why() {
    for (family, key, over) in [
        ("river_swim", "size", 100_001),
        ("deep_sea", "size", 101),
        ("frozen_lake", "size", 51),
        ("minigrid_rooms", "room_size", 11),
    ] {
        let out = Command::cargo_bin("ludus")
            .expect("binary")
            .args(["mdp", family, "--set", &format!("{key}={over}")])
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(2), "{family}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("{key} = {over}")) && err.contains("to solve exactly"),
            "{family}: {err}"
        );
    }
}
