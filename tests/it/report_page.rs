//! The report's page, `index.html`, loaded in real headless Chromium with no network: its
//! tables, one figure per MDP, no image to break, no script error; a screenshot is kept in
//! `target/test-artifacts/report-page.png`. And `ludus report --open` hands the page to the
//! browser `$BROWSER` names, or says there is none.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{Dir, run};

/// The shipped quick benchmark with fewer steps (the same agents, grid and MDPs), so a debug
/// build runs it in seconds.
fn quick_spec(dir: &Dir) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("benchmarks/quick.toml");
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.contains("steps = 20000"),
        "quick.toml changed: adapt this test"
    );
    dir.write("quick.toml", &text.replace("steps = 20000", "steps = 3000"))
}

fn chromium() -> &'static str {
    for c in ["chromium", "chromium-browser"] {
        if Command::new(c).arg("--version").output().is_ok() {
            return c;
        }
    }
    panic!("no chromium: install the Debian package `chromium` (scripts/test.sh does)");
}

/// Chromium headless with no network: the flags TOOLCHAIN-style page tests use, plus a proxy
/// that points nowhere, so any request to the network would fail rather than leave.
fn headless(dir: &Dir) -> Command {
    let mut c = Command::new(chromium());
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
        "--proxy-server=127.0.0.1:9",
        "--enable-logging=stderr",
        "--v=0",
    ]);
    c.arg(format!(
        "--user-data-dir={}",
        dir.join("chromium").display()
    ));
    c
}

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

#[test]
fn the_quick_report_page_renders_in_headless_chromium() {
    let dir = Dir::new();
    let spec = quick_spec(&dir);
    let (code, out, err) = run(dir.ludus().arg("run").arg(&spec).args(["--out", "exp"]));
    assert_eq!(code, 0, "ludus run: {out}\n{err}");
    let page = dir.join("exp/report/index.html");
    assert!(page.is_file(), "no index.html: {out}");
    let html = std::fs::read_to_string(&page).unwrap();
    // Self-contained: nothing fetched, no image files to break (the SVG namespace is a name,
    // not a request).
    for remote in ["href=\"http", "<img", "<link", "src=", "url(", "@import"] {
        assert!(
            !html.contains(remote),
            "index.html refers outside itself: {remote}"
        );
    }

    let url = format!("file://{}", page.display());
    let dump = headless(&dir)
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .expect("chromium starts");
    let dom = String::from_utf8_lossy(&dump.stdout);
    let log = String::from_utf8_lossy(&dump.stderr);
    assert!(dump.status.success(), "chromium failed: {log}");
    // The page's scripts ran to their end, and none raised an error (the page's own error
    // hook writes into #script-errors; Chromium's console log names uncaught ones).
    assert!(
        dom.contains("data-ready=\"1\""),
        "the scripts did not run:\n{log}"
    );
    assert!(
        dom.contains("<pre id=\"script-errors\"></pre>"),
        "a script error: {dom}"
    );
    for line in log.lines() {
        assert!(
            !(line.contains("CONSOLE") && line.contains("Uncaught")),
            "a console error: {line}"
        );
    }
    // The tables: configurations (3 agents), and per MDP (3) two measures.
    for id in ["table-agents", "table-regret", "table-normalized"] {
        assert!(dom.contains(&format!("id=\"{id}\"")), "no {id}");
    }
    let results = dom.split("id=\"table-regret\"").nth(1).unwrap();
    let results = results.split("</table>").next().unwrap();
    assert_eq!(count(results, "<tr>"), 1 + 3, "{results}");
    assert!(count(results, "★") >= 3, "the best per MDP is not marked");
    let agents = dom.split("id=\"table-agents\"").nth(1).unwrap();
    let agents = agents.split("</table>").next().unwrap();
    for a in ["q_learning", "psrl", "random"] {
        assert!(agents.contains(a), "{a} missing from the agents table");
    }
    // One figure per MDP, each an inline SVG with the bands named, and the summary.
    assert_eq!(count(&dom, "<figure class=\"mdp\""), 3);
    assert_eq!(count(&dom, "<figure class=\"summary\""), 1);
    assert_eq!(count(&dom, "<svg"), 4);
    assert_eq!(count(&dom, "shaded: 95% CI over seeds"), 3);
    // Completeness and provenance.
    assert!(dom.contains("id=\"complete\""), "the quick run is complete");
    assert!(
        dom.contains("<dt>spec</dt><dd><code>quick</code>"),
        "no spec name"
    );
    assert!(dom.contains(&format!("<code>{}</code> (", env!("CARGO_PKG_VERSION"))));

    // A screenshot, kept as the test's artifact.
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("report-page.png");
    let _ = std::fs::remove_file(&shot);
    let s = headless(&dir)
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1280,2400")
        .arg(&url)
        .output()
        .expect("chromium starts");
    assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
    let png = std::fs::read(&shot).expect("the screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{} bytes",
        png.len()
    );
}

#[test]
fn report_open_hands_the_page_to_the_browser_or_says_there_is_none() {
    let dir = Dir::new();
    let spec = dir.write(
        "tiny.toml",
        "name = \"tiny\"\nseeds = 2\nsteps = 200\nlog_every = 100\n\n[[agent]]\nname = \"random\"\n\n[[mdp]]\nfamily = \"river_swim\"\nepisodic = false\nparams = { size = 5 }\n",
    );
    let (code, out, err) = run(dir.ludus().arg("run").arg(&spec).args(["--out", "exp"]));
    assert_eq!(code, 0, "{out}\n{err}");
    // A "browser" that records what it was asked to open.
    let browser = dir.write(
        "browser.sh",
        &format!(
            "#!/bin/sh\nprintf '%s' \"$1\" > {}\n",
            dir.join("opened").display()
        ),
    );
    let mut perm = std::fs::metadata(&browser).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&browser, perm).unwrap();
    let (code, out, err) = run(dir
        .ludus()
        .args(["report", "exp", "--out", "r1", "--open"])
        .env("BROWSER", &browser));
    assert_eq!(code, 0, "{out}\n{err}");
    let opened = std::fs::read_to_string(dir.join("opened")).expect("the browser ran");
    assert_eq!(
        Path::new(&opened),
        std::fs::canonicalize(dir.join("r1/index.html"))
            .unwrap()
            .as_path()
    );
    assert!(out.contains("opened"), "{out}");

    // No browser at all: a clear message with the path, and the report's own exit code.
    let (code, out, err) = run(dir
        .ludus()
        .args(["report", "exp", "--out", "r2", "--open"])
        .env("BROWSER", dir.join("no-such-browser"))
        .env("PATH", dir.join("empty-path")));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(err.contains("no browser found"), "{err}");
    assert!(err.contains("index.html"), "{err}");
    assert!(dir.join("r2/index.html").is_file());
}
