//! A user program that adds its own agent and MDP family to ludus and reuses the whole CLI.
//!
//! Run it like the `ludus` binary, e.g.
//! `cargo run --example custom_agent -- mdp two_state_switch --json`.

use std::process::ExitCode;

use ludus::model::agents::{Agent, AgentContext};
use ludus::model::mdp::{Mdp, RewardDist};
use ludus::model::params::ParamReader;
use ludus::model::{AgentKind, CheckError, MdpFamily, Policy, Registry};
use ludus::rng::Rng;
use ludus::value::Params;

/// Epsilon-greedy tabular Q-learning with a constant learning rate.
pub struct EpsilonGreedy {
    n_actions: usize,
    epsilon: f64,
    lr: f64,
    gamma: f64,
    q: Vec<f64>,
    rng: Rng,
}

fn read(params: &Params) -> Result<(f64, f64), CheckError> {
    let mut r = ParamReader::new(params);
    let epsilon = r.prob("epsilon", 0.1)?;
    let lr = r.f64_in("learning_rate", 0.1, 0.0, 1.0)?;
    r.finish()?;
    Ok((epsilon, lr))
}

impl Agent for EpsilonGreedy {
    fn select_action(&mut self, s: usize, _h: usize) -> usize {
        if self.rng.next_f64() < self.epsilon {
            return self.rng.below(self.n_actions as u64) as usize;
        }
        self.greedy(s)
    }

    fn update(&mut self, s: usize, a: usize, r: f64, next: usize, _h: usize, _last: bool) {
        let best_next = self.q[next * self.n_actions + self.greedy(next)];
        let k = s * self.n_actions + a;
        self.q[k] += self.lr * (r + self.gamma * best_next - self.q[k]);
    }

    fn policy(&mut self) -> Policy {
        let n_states = self.q.len() / self.n_actions;
        Policy::Deterministic((0..n_states).map(|s| self.greedy(s) as u32).collect())
    }
}

impl EpsilonGreedy {
    fn greedy(&self, s: usize) -> usize {
        let row = &self.q[s * self.n_actions..(s + 1) * self.n_actions];
        (0..row.len()).fold(0, |b, a| if row[a] > row[b] { a } else { b })
    }
}

/// The agent kind, as the registry needs it: a parameter check and a constructor.
pub fn epsilon_greedy_kind() -> AgentKind {
    AgentKind {
        name: "epsilon_greedy".into(),
        check: Box::new(|params, episodic| {
            if episodic {
                return Err(CheckError::Incompatible(
                    "epsilon_greedy runs on continuous MDPs only".into(),
                ));
            }
            read(params).map(|_| ())
        }),
        build: Box::new(|params, ctx: &AgentContext, rng| {
            let (epsilon, lr) = read(params)?;
            Ok(Box::new(EpsilonGreedy {
                n_actions: ctx.n_actions,
                epsilon,
                lr,
                gamma: 0.99,
                q: vec![0.0; ctx.n_states * ctx.n_actions],
                rng,
            }))
        }),
    }
}

/// A two-state MDP: action 0 stays, action 1 switches; staying in state 1 pays `reward`.
pub fn two_state_family() -> MdpFamily {
    MdpFamily {
        name: "two_state_switch".into(),
        build: Box::new(|episodic, params| {
            let mut r = ParamReader::new(params);
            let reward = r.f64_in("reward", 1.0, 0.0, 1.0)?;
            let h = r.int_in("H", 4, 1, 1000)?;
            r.finish()?;
            let d = RewardDist::Deterministic;
            let rows = vec![
                vec![(0, 1.0, d(0.0))],
                vec![(1, 1.0, d(0.0))],
                vec![(1, 1.0, d(reward))],
                vec![(0, 1.0, d(0.0))],
            ];
            let horizon = episodic.then_some(h as usize);
            Ok(Mdp::from_rows(2, 2, horizon, vec![(0, 1.0)], &rows))
        }),
        resolve: None,
    }
}

fn main() -> ExitCode {
    let mut registry = Registry::builtin();
    registry.add_agent(epsilon_greedy_kind());
    registry.add_mdp(two_state_family());
    ludus::cli::main_with(registry, std::env::args_os())
}
