//! Claims: two `run-instances` on one folder run every instance once; a killed run's claims
//! are taken over at once on the same host; another host's claim is respected while its lease
//! runs and taken over after.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{Dir, run};

fn plan(d: &Dir, spec: &str) {
    d.write("s.toml", spec);
    let (code, _, err) = run(d.ludus().args(["plan", "s.toml", "--out", "x"]));
    assert_eq!(code, 0, "{err}");
}

fn ids(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("instances"))
        .unwrap()
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_string_lossy()
                .strip_suffix(".bin")
                .map(String::from)
        })
        .collect();
    v.sort();
    v
}

fn claims(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("logs"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(".claim-"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn status_kind(dir: &Path, id: &str) -> Option<String> {
    let b = std::fs::read(dir.join(format!("logs/{id}.json"))).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
    Some(v["status"].as_str().unwrap().to_string())
}

fn status_json(d: &Dir) -> serde_json::Value {
    let (code, out, err) = run(d.ludus().args(["status", "x", "--json"]));
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn two_run_instances_at_once_run_every_instance_exactly_once() {
    let d = Dir::new();
    plan(
        &d,
        "name = \"c\"\nseeds = 60\n[[experiment]]\nname = \"p\"\ncommand = [\"sh\", \"-c\", \"echo $LUDUS_INSTANCE_ID >> ran.txt; printf 'step\\\\n1\\\\n' >> $LUDUS_METRICS; sleep 0.02\"]\n",
    );
    let start = || {
        d.ludus()
            .args(["run-instances", "x", "--jobs", "2", "--progress", "none"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (start(), start());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    for o in [&a, &b] {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let ran = std::fs::read_to_string(d.join("ran.txt")).unwrap();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for l in ran.lines() {
        *counts.entry(l).or_default() += 1;
    }
    let all = ids(&d.join("x"));
    assert_eq!(all.len(), 60);
    for id in &all {
        assert_eq!(
            counts.get(id.as_str()),
            Some(&1),
            "{id} ran once: {counts:?}"
        );
        assert_eq!(status_kind(&d.join("x"), id).as_deref(), Some("done"));
        let csv = std::fs::read_to_string(d.join(format!("x/logs/{id}.csv"))).unwrap();
        assert_eq!(csv, "step\n1\n", "{id}: no duplicate rows");
    }
    // Both processes did some of the work, and no claim is left.
    let (ea, eb) = (
        String::from_utf8_lossy(&a.stderr),
        String::from_utf8_lossy(&b.stderr),
    );
    assert!(
        claims(&d.join("x")).is_empty(),
        "{:?}",
        claims(&d.join("x"))
    );
    assert!(!ea.is_empty() && !eb.is_empty());
}

#[test]
fn a_killed_runs_claims_show_as_not_running_and_are_taken_over_at_once() {
    let d = Dir::new();
    d.write("slow", "");
    plan(
        &d,
        "name = \"c\"\nseeds = 2\n[[experiment]]\nname = \"p\"\ncommand = [\"sh\", \"-c\", \"while [ -e slow ]; do sleep 0.05; done; printf 'step\\\\n1\\\\n' >> $LUDUS_METRICS\"]\n",
    );
    let mut child = d
        .ludus()
        .args(["run-instances", "x", "--jobs", "2", "--progress", "none"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while claims(&d.join("x")).len() < 2 && t.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(claims(&d.join("x")).len(), 2);
    let st = status_json(&d);
    assert_eq!(st["running"], 2, "{st}");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // The owner is dead: its claims no longer count as running.
    let st = status_json(&d);
    assert_eq!(st["running"], 0, "{st}");
    assert_eq!(st["pending"], 2, "{st}");
    std::fs::remove_file(d.join("slow")).unwrap();
    let t = Instant::now();
    let (code, _, err) = run(d.ludus().args(["run-instances", "x", "--progress", "none"]));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("2 done"), "{err}");
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "taken over at once, not after the lease"
    );
    assert!(
        claims(&d.join("x")).is_empty(),
        "{:?}",
        claims(&d.join("x"))
    );
}

#[test]
fn another_hosts_claim_is_respected_while_its_lease_runs_and_taken_over_after() {
    let d = Dir::new();
    plan(
        &d,
        "name = \"c\"\nseeds = 2\n[[experiment]]\nname = \"p\"\ncommand = [\"sh\", \"-c\", \"printf 'step\\\\n1\\\\n' >> $LUDUS_METRICS\"]\n",
    );
    let x = d.join("x");
    std::fs::create_dir_all(x.join("logs")).unwrap();
    let all = ids(&x);
    let (fresh, expired) = (&all[0], &all[1]);
    let text = "ludus-claim 1\nhost some-other-host\nboot 0\npid 1\nstart 1\nlease 120\n";
    std::fs::write(x.join(format!("logs/.claim-{fresh}")), text).unwrap();
    let old = x.join(format!("logs/.claim-{expired}"));
    std::fs::write(&old, text).unwrap();
    let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(hour_ago)
        .unwrap();
    let st = status_json(&d);
    assert_eq!(st["running"], 1, "{st}");
    let (_, _, err) = run(d.ludus().args(["run-instances", "x", "--progress", "none"]));
    assert!(err.contains("1 done"), "{err}");
    assert_eq!(
        status_kind(&x, fresh),
        None,
        "the live foreign claim is respected"
    );
    assert_eq!(status_kind(&x, expired).as_deref(), Some("done"));
    assert_eq!(claims(&x), vec![format!(".claim-{fresh}")]);
    let st = status_json(&d);
    assert_eq!(st["running"], 1, "{st}");
    assert_eq!(st["done"], 1, "{st}");
}
