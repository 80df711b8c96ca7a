//! The workload: tabular MDPs and their exact solutions, the seven Colosseum MDP families plus
//! `custom`, Colosseum's tabular agents, and the registry that maps spec names to them.

pub mod agents;
pub mod exact;
pub mod families;
pub mod mdp;
pub mod params;
pub mod registry;
pub mod solve;
pub mod stop;

pub use agents::{Agent, AgentContext};
pub use mdp::Mdp;
pub use registry::{AgentKind, CheckError, MdpFamily, Registry};
pub use solve::{Policy, Solution};
