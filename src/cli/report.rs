//! `ludus report`: tables and plots of each agent's selected configuration on each MDP.

use std::path::PathBuf;
use std::process::ExitCode;

use super::args::SelectArgs;
use super::{EXIT_FAILED, EXIT_OK};
use crate::report::{ReportOptions, write_report};

const AFTER_HELP: &str = "\
Writes into DIR: tables.md, results.csv and tables.tex (booktabs) with the final cumulative
regret and normalized cumulative regret of each agent on each MDP (mean and 95% CI across seeds,
timeouts and missing runs noted, the best per MDP marked); report.json (all of it, curves
included); plots/regret-<mdp>.{svg,png} (cumulative regret against steps, one line and
confidence band per agent, the random and optimal policies dashed); plots/summary.{svg,png}
(average normalized cumulative regret per agent); index.md linking them; and index.html, one
self-contained page with all of it (plots inline, no network) plus the completeness notes and
the runs' provenance, which --open shows in the browser. Each agent is
shown with one configuration: the one select-best picks with the same options. Logs are
streamed, so large folders are fine.

Exit codes: 0 all data complete; 1 written, but some runs are missing, failed, unfinished or
unreadable (index.md lists them); 2 error.

[[experiment]] programs: programs.md and programs.csv rank each experiment's configurations by
--measure (seeds averaged), and plots/program-<name>.{svg,png} draw the measure against --x
(default: the log's first column), one line per configuration (the best ten). Report programs
and built-in agents with separate calls.

Examples:
  ludus report instances/quick --out report/quick
  ludus report out/lr-sweep --measure loss --x epoch --out report/lr-sweep
  ludus report run1 run2/logs --out report --no-plots
  ludus report instances/quick --out report/quick --open";

/// Arguments of `ludus report`.
#[derive(clap::Args, Debug)]
#[command(after_help = AFTER_HELP)]
pub struct ReportArgs {
    /// Experiment folders (their logs/ is read) or logs folders, local or downloaded.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// The folder to write into (created if needed; files in it are replaced).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    #[command(flatten)]
    pub select: SelectArgs,
    /// Programs: the step column the measure is drawn against [default: the first column].
    #[arg(long, value_name = "COLUMN")]
    pub x: Option<String>,
    /// Tables only: no plots, and no curves read.
    #[arg(long)]
    pub no_plots: bool,
    /// The title of index.md.
    #[arg(long)]
    pub title: Option<String>,
    /// Print what was written as JSON.
    #[arg(long)]
    pub json: bool,
    /// Open index.html in the browser ($BROWSER, else xdg-open or open); without one, say so
    /// and print the page's path.
    #[arg(long)]
    pub open: bool,
}

/// Runs `ludus report`.
pub fn run(args: ReportArgs, ctx: &super::Context) -> anyhow::Result<ExitCode> {
    let existed = args.out.exists();
    let out = args.out.clone();
    let result = write(args, ctx);
    if result.is_err() && !existed {
        // Leave no empty folder behind (remove_dir refuses a folder that has files).
        let _ = std::fs::remove_dir(&out);
    }
    result
}

fn write(args: ReportArgs, _ctx: &super::Context) -> anyhow::Result<ExitCode> {
    let opts = ReportOptions {
        select: args.select.options(),
        plots: !args.no_plots,
        curves: !args.no_plots,
        title: args.title,
        x: args.x,
    };
    let summary = write_report(&args.paths, &opts, &args.out)?;
    if args.open {
        open_page(&args.out.join("index.html"));
    }
    if summary.agents == 0 && summary.experiments > 0 {
        // Programs alone.
        if args.json {
            println!(
                "{}",
                serde_json::json!({"files": summary.files, "experiments": summary.experiments, "complete": summary.complete})
            );
        } else {
            println!(
                "wrote {} files for {} experiment(s) to {}",
                summary.files.len(),
                summary.experiments,
                args.out.join("index.html").display()
            );
            if !summary.complete {
                eprintln!("warning: some runs are missing, failed or unreadable");
            }
        }
    } else if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "wrote {} files for {} agent(s) on {} MDP(s) to {}",
            summary.files.len(),
            summary.agents,
            summary.mdps,
            args.out.join("index.html").display()
        );
        if !summary.complete {
            eprintln!("warning: some runs are missing, failed or unreadable; see index.html");
        }
    }
    Ok(ExitCode::from(if summary.complete {
        EXIT_OK
    } else {
        EXIT_FAILED
    }))
}

/// Opens `page` in the user's browser: `$BROWSER` (a command, or a `:`-separated list of them,
/// `%s` standing for the page), else `xdg-open` (Linux) or `open` (macOS). Without one, says so
/// and prints the path; the report itself was written, so this is not an error.
fn open_page(page: &std::path::Path) {
    let page = std::path::absolute(page).unwrap_or_else(|_| page.to_path_buf());
    let target = page.display().to_string();
    let mut candidates: Vec<(String, Vec<String>)> = Vec::new();
    if let Ok(b) = std::env::var("BROWSER") {
        for cmd in b.split(':').map(str::trim).filter(|c| !c.is_empty()) {
            let mut words = cmd.split_whitespace().map(str::to_string);
            let Some(prog) = words.next() else { continue };
            let mut args: Vec<String> = words.collect();
            if args.iter().any(|a| a.contains("%s")) {
                args = args.iter().map(|a| a.replace("%s", &target)).collect();
            } else {
                args.push(target.clone());
            }
            candidates.push((prog, args));
        }
    }
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    candidates.push((opener.to_string(), vec![target.clone()]));
    for (prog, args) in candidates {
        let started = std::process::Command::new(&prog)
            .args(&args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        if let Ok(mut child) = started {
            // xdg-open and open return at once; a browser named in $BROWSER keeps running.
            let ok = exited_well_or_running(&mut child);
            if ok {
                println!("opened {target} with {prog}");
                return;
            }
        }
    }
    eprintln!(
        "no browser found to open the page (set $BROWSER, or install xdg-open); open it yourself: {target}"
    );
}

/// Whether `child` exited successfully within a few seconds, or is still running then.
fn exited_well_or_running(child: &mut std::process::Child) -> bool {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::time::Instant::now() < until {
        match child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) => std::thread::sleep(std::time::Duration::from_millis(50)),
            Err(_) => return false,
        }
    }
    true
}
