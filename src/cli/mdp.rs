//! `ludus mdp`: build one MDP from its family and parameters and show it with its exact values
//! (optimal policy and average reward, random and worst baselines).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use serde_json::json;

use super::EXIT_OK;
use crate::model::Mdp;
use crate::model::solve::{Solution, solve};
use crate::value::{Params, Value};

const EXAMPLES: &str = "\
Examples:
  ludus mdp river_swim --set size=10 --json
  ludus mdp frozen_lake --episodic --set size=5 --set p_frozen=0.7 --set seed=3
  ludus mdp custom --set file=my_mdp.toml --json

Values are read as integers, floats, booleans, JSON lists (--set 'optimal_distribution=[\"beta\",[1,0.2]]')
or else strings. For episodic MDPs average_reward is the expected episode return from the
start distribution divided by the horizon H, as Colosseum defines it.";

/// Show an MDP: its model and exact values.
#[derive(clap::Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct MdpArgs {
    /// The family: river_swim, deep_sea, frozen_lake, simple_grid, minigrid_empty,
    /// minigrid_rooms, taxi, custom (or one a user crate registered).
    pub family: String,
    /// The episodic (finite horizon) form instead of the continuous one.
    #[arg(long)]
    pub episodic: bool,
    /// A parameter, `key=value` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Print the model and values as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Reads a `--set` value: integer, float, boolean, JSON list/table, else string.
fn parse_value(s: &str) -> Value {
    if let Ok(i) = s.parse::<i64>() {
        return Value::Int(i);
    }
    if let Ok(f) = s.parse::<f64>() {
        return Value::Float(f);
    }
    match s {
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        _ => {}
    }
    if (s.starts_with('[') || s.starts_with('{'))
        && let Ok(v) = serde_json::from_str::<Value>(s)
    {
        return v;
    }
    Value::Str(s.to_string())
}

/// Runs `ludus mdp`.
pub fn run(args: MdpArgs, ctx: &super::Context) -> anyhow::Result<ExitCode> {
    let mut params = Params::new();
    for kv in &args.set {
        let Some((k, v)) = kv.split_once('=') else {
            bail!("--set {kv}: expected key=value");
        };
        params.insert(k.trim().to_string(), parse_value(v.trim()));
    }
    let reg = &ctx.registry;
    let family = &args.family;
    let params = reg
        .resolve_mdp(family, args.episodic, &params, Path::new("."))
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("MDP {family}"))?;
    let mdp = reg
        .build_mdp(family, args.episodic, &params)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("MDP {family}"))?;
    let sol = solve(&mdp)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("MDP {family}"))?;
    match print(&args, &mdp, &sol) {
        // A closed pipe (`| head`) is a normal end, not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::from(EXIT_OK)),
        Err(e) => Err(e.into()),
        Ok(()) => Ok(ExitCode::from(EXIT_OK)),
    }
}

fn print(args: &MdpArgs, mdp: &Mdp, sol: &Solution) -> std::io::Result<()> {
    let family = &args.family;
    let mut w = std::io::stdout().lock();
    if args.json {
        let transitions: Vec<Vec<Vec<(u32, f64)>>> = (0..mdp.n_states)
            .map(|s| {
                (0..mdp.n_actions)
                    .map(|a| {
                        let (n, p) = mdp.row(s, a);
                        n.iter().copied().zip(p.iter().copied()).collect()
                    })
                    .collect()
            })
            .collect();
        let rewards: Vec<&[f64]> = mdp.mean_reward.chunks(mdp.n_actions).collect();
        let out = json!({
            "family": family,
            "episodic": args.episodic,
            "horizon": mdp.horizon,
            "n_states": mdp.n_states,
            "n_actions": mdp.n_actions,
            "start": mdp.start,
            "transitions": transitions,
            "rewards": rewards,
            "optimal": {
                "average_reward": sol.optimal_average_reward,
                "policy": sol.optimal_policy,
            },
            "random": {"average_reward": sol.random_average_reward},
            "worst": {"average_reward": sol.worst_average_reward},
        });
        writeln!(w, "{out}")?;
    } else {
        let setting = match mdp.horizon {
            Some(h) => format!("episodic, H = {h}"),
            None => "continuous".to_string(),
        };
        writeln!(w, "{family} ({setting})")?;
        writeln!(
            w,
            "  {} states, {} actions, {} transition entries, {} start state(s)",
            mdp.n_states,
            mdp.n_actions,
            mdp.n_entries(),
            mdp.start.len()
        )?;
        writeln!(w, "  average reward (per step):")?;
        writeln!(w, "    optimal  {:.6}", sol.optimal_average_reward)?;
        writeln!(w, "    random   {:.6}", sol.random_average_reward)?;
        writeln!(w, "    worst    {:.6}", sol.worst_average_reward)?;
        let actions = |p: &[u32]| p.iter().map(u32::to_string).collect::<Vec<_>>().join(" ");
        match mdp.horizon {
            None => {
                writeln!(w, "  optimal policy (the action in each state, 0 to S-1):")?;
                writeln!(w, "    {}", actions(&sol.optimal_policy))?;
            }
            Some(_) => {
                writeln!(
                    w,
                    "  optimal policy (the action in each state, 0 to S-1, at each in-episode step h):"
                )?;
                for (h, row) in sol.optimal_policy.chunks(mdp.n_states).enumerate() {
                    writeln!(w, "    h {h:>3}: {}", actions(row))?;
                }
            }
        }
        if let Err(e) = crate::model::registry::check_solution(mdp, sol) {
            writeln!(w, "  warning: {e}")?;
        }
    }
    w.flush()
}
