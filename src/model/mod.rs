//! The workload: tabular MDPs and their exact solutions, the seven Colosseum MDP families plus
//! `custom`, Colosseum's tabular agents, and the registry that maps spec names to them.

pub mod agents;
pub mod check;
pub mod exact;
pub mod families;
pub mod mdp;
pub mod np_random;
pub mod params;
pub mod registry;
pub mod solve;
pub mod stop;
pub mod ties;

pub use agents::{Agent, AgentContext};
pub use check::CheckError;
pub use mdp::Mdp;
pub use registry::{AgentKind, MdpFamily, Registry};
pub use solve::{Policy, Solution};
