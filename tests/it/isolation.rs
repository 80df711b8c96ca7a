//! A user crate's agents that panic or hang: the failure is recorded and the run goes on.
//! Drives the library the way a user crate with its own registry does.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use ludus::exec::{ExecOptions, Origin, Selection, run_local};
use ludus::model::Registry;
use ludus::model::agents::{Agent, AgentContext};
use ludus::model::registry::{AgentKind, CheckError};
use ludus::model::solve::Policy;
use ludus::plan::plan;
use ludus::spec::Spec;
use ludus::store::ExperimentDir;
use ludus::store::planned::{WriteOptions, write_plan};

/// Acts like the first action; panics or hangs once it has seen `after` updates.
struct Faulty {
    seen: u64,
    after: u64,
    hang: bool,
}

impl Agent for Faulty {
    fn select_action(&mut self, _state: usize, _h: usize) -> usize {
        if self.hang && self.seen >= self.after {
            // A hang that never checks a clock: only the watchdog can end it.
            loop {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        0
    }
    fn update(&mut self, _s: usize, _a: usize, _r: f64, _n: usize, _h: usize, _last: bool) {
        self.seen += 1;
        if !self.hang && self.seen == self.after {
            panic!("the faulty agent gave up at update {}", self.seen);
        }
    }
    fn policy(&mut self) -> Policy {
        Policy::Uniform
    }
}

fn registry() -> Registry {
    let mut r = Registry::builtin();
    for (name, hang) in [("panicky", false), ("hangs", true)] {
        r.add_agent(AgentKind {
            name: name.into(),
            check: Box::new(|_, _| Ok(())),
            build: Box::new(move |_params, _ctx: &AgentContext, _rng| {
                Ok(Box::new(Faulty {
                    seen: 0,
                    after: 150,
                    hang,
                }) as Box<dyn Agent>)
            }),
        });
    }
    let _ = CheckError::Invalid(String::new());
    r
}

fn planned(dir: &Path, agents: &str, registry: &Registry) -> Arc<Selection> {
    let text = format!(
        "name = \"iso\"\nseeds = 2\nsteps = 1000\nlog_every = 100\n{agents}\n[[mdp]]\nfamily = \"river_swim\"\nparams = {{ size = 5 }}\n"
    );
    let path = dir.join("s.toml");
    std::fs::write(&path, &text).unwrap();
    let spec = Spec::load(&path).unwrap();
    let p = plan(&spec, None, registry).unwrap();
    let out = ExperimentDir::new(dir.join("ex"));
    write_plan(&out, &p, &text, false, &WriteOptions::default()).unwrap();
    Arc::new(Selection::resolve(&[dir.join("ex")]).unwrap())
}

fn statuses(dir: &Path) -> Vec<serde_json::Value> {
    let mut v: Vec<serde_json::Value> = std::fs::read_dir(dir.join("ex/logs"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .map(|e| serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap())
        .collect();
    v.sort_by_key(|s| s["id"].as_str().unwrap().to_string());
    v
}

static NEVER: AtomicBool = AtomicBool::new(false);

#[test]
fn a_panicking_agent_is_recorded_and_the_others_finish() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = Arc::new(registry());
    let sel = planned(
        tmp.path(),
        "[[agent]]\nname = \"panicky\"\n[[agent]]\nname = \"q_learning\"\n",
        &reg,
    );
    let opts = ExecOptions {
        jobs: 2,
        retry_errors: false,
        kill_after: None,
        origin: Origin::local(),
        child: Default::default(),
    };
    let stats = run_local(&sel, &reg, &opts, &NEVER, |_| {}).unwrap();
    assert_eq!((stats.done, stats.error), (2, 2), "{stats:?}");
    let st = statuses(tmp.path());
    let errors: Vec<_> = st.iter().filter(|s| s["status"] == "error").collect();
    assert_eq!(errors.len(), 2);
    for e in errors {
        let msg = e["message"].as_str().unwrap();
        assert!(
            msg.contains("panicked: the faulty agent gave up at update 150"),
            "{msg}"
        );
        assert_eq!(e["instance"]["kind"]["builtin"]["agent"]["name"], "panicky");
    }
}

#[test]
fn a_hung_agent_is_ended_by_the_watchdog_with_its_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = Arc::new(registry());
    let sel = planned(
        tmp.path(),
        "[[agent]]\nname = \"hangs\"\n[[agent]]\nname = \"q_learning\"\n",
        &reg,
    );
    let opts = ExecOptions {
        jobs: 2,
        retry_errors: false,
        kill_after: Some(Duration::from_millis(300)),
        origin: Origin::local(),
        child: Default::default(),
    };
    let t = std::time::Instant::now();
    let stats = run_local(&sel, &reg, &opts, &NEVER, |_| {}).unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "the watchdog took {:?}",
        t.elapsed()
    );
    assert_eq!((stats.done, stats.error), (2, 2), "{stats:?}");
    for s in statuses(tmp.path())
        .iter()
        .filter(|s| s["status"] == "error")
    {
        assert!(s["message"].as_str().unwrap().contains("stuck"), "{s}");
        let id = s["id"].as_str().unwrap();
        // The rows logged before the hang (step 100) are kept.
        let log = std::fs::read_to_string(tmp.path().join(format!("ex/logs/{id}.csv"))).unwrap();
        assert!(log.lines().count() >= 2, "{log}");
    }
}
