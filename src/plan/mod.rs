//! Planning: a validated `Spec` expanded into `Instance`s, in a documented order.

pub mod command;
pub mod count;
mod expand;
pub mod group;
pub mod instance;

pub use expand::{Entry, Plan, plan};
pub use instance::{
    AgentSpec, ExecSpec, Instance, InstanceId, InstanceKind, MdpSpec, Subject, config_id,
    setting_label,
};
