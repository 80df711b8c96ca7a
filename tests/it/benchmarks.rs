//! The shipped benchmark specs parse as TOML and say what their README says.

use std::path::Path;

fn load(name: &str) -> toml_edit::DocumentMut {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("benchmarks")
        .join(name);
    std::fs::read_to_string(&path)
        .unwrap()
        .parse()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_spec_is_named_after_its_file() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("benchmarks");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let name = p.file_stem().unwrap().to_str().unwrap().to_string();
        let doc = load(&format!("{name}.toml"));
        assert_eq!(doc["name"].as_str(), Some(name.as_str()));
        assert!(
            doc["agent"]
                .as_array_of_tables()
                .is_some_and(|a| !a.is_empty())
        );
        assert!(
            doc["mdp"]
                .as_array_of_tables()
                .is_some_and(|a| !a.is_empty())
        );
        n += 1;
    }
    assert_eq!(n, 7);
}

#[test]
fn the_default_benchmarks_are_colosseums() {
    for (setting, episodic) in [("episodic", true), ("continuous", false)] {
        for kind in ["ergodic", "communicating"] {
            let doc = load(&format!("{setting}_{kind}.toml"));
            assert_eq!(doc["seeds"].as_integer(), Some(20));
            assert_eq!(doc["steps"].as_integer(), Some(500_000));
            assert_eq!(doc["log_every"].as_integer(), Some(100));
            assert_eq!(doc["time_limit"].as_str(), Some("600s"));
            let mdps = doc["mdp"].as_array_of_tables().unwrap();
            assert_eq!(mdps.len(), 20, "{setting}_{kind}");
            for m in mdps.iter() {
                assert_eq!(m["episodic"].as_bool(), Some(episodic));
            }
        }
    }
}
