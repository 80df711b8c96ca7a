//! `ludus run-instances`: the verb every cluster job calls.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context as _;

use super::progress::ProgressMode;
use super::running::{install_signal_handlers, run_selection};
use super::{Context, EXIT_FAILED};
use crate::exec::{ChildOptions, ExecOptions, Origin, Selection};
use crate::plan::group::Group;

/// Run planned instances: skip finished ones, run the rest on local cores or across MPI ranks.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  ludus run-instances instances/quick                  # everything pending, all cores
  ludus run-instances instances/quick --group 3/16     # the 3rd of 16 groups (a cluster job)
  ludus run-instances instances/quick --ids todo.ids --group 2/4
  ludus run-instances instances/quick/instances/0a1b2c3d4e5f6789.bin
  mpirun -np 64 ludus run-instances --mpi /scratch/me/quick
  ludus run-instances /scratch/me/lr-sweep --workdir /scratch/me/code --grace 10s

In a SLURM job array, SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT and SLURM_ARRAY_TASK_MIN
choose the group when --group is not given.

Finished instances (status done or timeout, and error unless --retry-errors) are skipped;
anything else runs. Results are logs/<id>.csv and logs/<id>.json, both written atomically.
SIGINT/SIGTERM: no new instance starts, running ones record `interrupted`, exit code 1.
Exit codes: 0 every selected instance finished (done or timeout); 1 some did not; 2 error.")]
pub struct RunInstancesArgs {
    /// Planned folders, folders of .bin files, or .bin files.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Worker threads [default: all cores; 1 per rank with --mpi].
    #[arg(long, short)]
    jobs: Option<usize>,
    /// Run only group k of K (1-based), e.g. 3/16.
    #[arg(long, value_name = "k/K")]
    group: Option<Group>,
    /// Run only the instances whose ids this file lists (one a line, as `status --pending-ids`
    /// prints); --group and the SLURM array variables then split this list.
    #[arg(long, value_name = "FILE")]
    ids: Option<PathBuf>,
    /// Run across MPI ranks (under mpirun); needs a build with the `mpi` feature.
    #[arg(long)]
    mpi: bool,
    /// Also re-run instances whose status is error.
    #[arg(long)]
    retry_errors: bool,
    /// Hard cap per instance, ending a stuck instance as error [default: 3x its time limit + 60 s].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    kill_after: Option<Duration>,
    /// [[experiment]] programs: time between SIGTERM and SIGKILL at the time limit or an
    /// interrupt.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "30s")]
    grace: Duration,
    /// [[experiment]] programs: run them in DIR instead of the working folder recorded at plan
    /// time (e.g. where the code sits on a cluster).
    #[arg(long, value_name = "DIR")]
    workdir: Option<PathBuf>,
    /// [[experiment]] programs: GPUs to hand out, one per running program in
    /// CUDA_VISIBLE_DEVICES (e.g. 0,1); --jobs is capped so no GPU is oversubscribed.
    #[arg(long, value_name = "IDS", value_delimiter = ',')]
    gpus: Option<Vec<String>>,
    /// With --gpus: programs that may share one GPU at once.
    #[arg(long, value_name = "K", default_value_t = 1, requires = "gpus")]
    per_gpu: usize,
    /// Progress display.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    progress: ProgressMode,
    /// Seconds between plain progress lines (heartbeats with the running instances' steps,
    /// printed whether or not an instance finished).
    #[arg(long, default_value_t = 10.0)]
    progress_every: f64,
}

fn slurm_group() -> anyhow::Result<Option<Group>> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let (Some(id), Some(count)) = (var("SLURM_ARRAY_TASK_ID"), var("SLURM_ARRAY_TASK_COUNT"))
    else {
        return Ok(None);
    };
    let min = var("SLURM_ARRAY_TASK_MIN").unwrap_or_else(|| "0".into());
    let num = |name: &str, v: &str| -> anyhow::Result<u32> {
        v.parse()
            .with_context(|| format!("{name}={v} is not a number"))
    };
    let g = Group::from_slurm(
        num("SLURM_ARRAY_TASK_ID", &id)?,
        num("SLURM_ARRAY_TASK_COUNT", &count)?,
        num("SLURM_ARRAY_TASK_MIN", &min)?,
    )
    .map_err(anyhow::Error::msg)?;
    Ok(Some(g))
}

/// Keeps the items whose ids `file` lists, in the file's order.
fn keep_listed(sel: &mut Selection, file: &std::path::Path) -> anyhow::Result<()> {
    let text = crate::regular::read_to_string(file, 1 << 30)
        .with_context(|| format!("--ids {}: cannot read the id list", file.display()))?;
    let mut wanted = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let id = crate::plan::InstanceId::parse(line).ok_or_else(|| {
            anyhow::anyhow!(
                "{}:{}: `{line}` is not an instance id (16 hex digits)",
                file.display(),
                i + 1
            )
        })?;
        wanted.push(id);
    }
    let mut by_id = std::collections::HashMap::new();
    for it in &sel.items {
        by_id.entry(it.id).or_insert(*it);
    }
    let mut items = Vec::with_capacity(wanted.len());
    for id in wanted {
        let it = by_id.get(&id).ok_or_else(|| {
            anyhow::anyhow!(
                "--ids {}: instance {id} is not in the given folders",
                file.display()
            )
        })?;
        items.push(*it);
    }
    sel.items = items;
    Ok(())
}

/// Runs `ludus run-instances`.
pub fn run(args: RunInstancesArgs, ctx: &Context) -> anyhow::Result<ExitCode> {
    let interrupt = install_signal_handlers();
    let mut sel = Selection::resolve(&args.paths)?;
    sel.dedup();
    if let Some(file) = &args.ids {
        keep_listed(&mut sel, file)?;
    }
    let group = match args.group {
        Some(g) => Some(g),
        None => slurm_group()?,
    };
    if let Some(g) = group {
        sel.restrict(g);
    }
    let gpus = match &args.gpus {
        Some(ids) => {
            if ids.is_empty() || ids.iter().any(|i| i.trim().is_empty()) {
                anyhow::bail!("--gpus: give GPU ids separated by commas, e.g. --gpus 0,1");
            }
            if args.per_gpu == 0 {
                anyhow::bail!("--per-gpu must be at least 1");
            }
            Some(crate::exec::gpu::GpuPool::new(
                ids.iter().map(|i| i.trim().to_string()).collect(),
                args.per_gpu,
            ))
        }
        None => None,
    };
    let mut jobs = args.jobs.unwrap_or_else(|| {
        if args.mpi {
            1
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        }
    });
    if let Some(pool) = &gpus
        && jobs > pool.capacity()
    {
        eprintln!(
            "--gpus: {jobs} workers for {} GPU slots; running {} at once",
            pool.capacity(),
            pool.capacity()
        );
        jobs = pool.capacity();
    }
    let opts = ExecOptions {
        jobs,
        retry_errors: args.retry_errors,
        kill_after: args.kill_after,
        origin: Origin::local(),
        child: ChildOptions {
            grace: args.grace,
            workdir: args.workdir.clone(),
            gpus,
        },
    };
    let stats = run_selection(
        sel,
        ctx,
        &opts,
        interrupt,
        args.mpi,
        args.progress,
        args.progress_every,
    )?;
    Ok(
        if stats.all_finished() && !interrupt.load(Ordering::Relaxed) {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(EXIT_FAILED)
        },
    )
}
