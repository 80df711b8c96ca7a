//! The one error a registry check gives: unknown name, incompatible setting, invalid parameter.
//!
//! Its own file so that the agents and families, which the registry imports, can return it
//! without importing the registry back.

/// Why an agent or MDP configuration was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckError {
    /// No kind of that name; carries the known names.
    Unknown(Vec<String>),
    /// The kind exists but does not run in this setting (e.g. UCRL2 on an episodic MDP).
    Incompatible(String),
    /// A parameter is missing, unknown or out of range: the parameter and the reason.
    Invalid(String),
}

impl std::fmt::Display for CheckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckError::Unknown(known) => write!(f, "unknown name; known: {}", known.join(", ")),
            CheckError::Incompatible(m) | CheckError::Invalid(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for CheckError {}
