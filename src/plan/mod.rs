//! Planning: a validated `Spec` expanded into `Instance`s, in a documented order.

pub mod instance;

pub use instance::{AgentSpec, Instance, InstanceId, InstanceKind, MdpSpec};
