//! Counting a plan before anything is materialised: agent configurations x MDP
//! configurations x seeds, plus experiment configurations x seeds, in checked arithmetic, and
//! the cap a plan must stay under ([`MAX_INSTANCES`]).
//!
//! The count is an upper bound: pairs an agent cannot run and duplicate instances are left out
//! later, by the expansion. Every single sweep, `seeds` and `sample.n` is already capped by the
//! spec's validation, so nothing here or before it can allocate in proportion to a huge count.

pub use crate::spec::MAX_INSTANCES;
use crate::spec::{AgentEntry, Spec, SpecError};

/// The plan's size before compatibility filtering and de-duplication, with `agents` replacing
/// the spec's own when given (`u128::MAX` if even a `u128` overflows).
pub fn upper_bound(spec: &Spec, agents: Option<&[AgentEntry]>) -> u128 {
    crate::spec::sweep::upper_bound(
        agents.unwrap_or(&spec.agents),
        &spec.mdps,
        &spec.experiments,
        spec.seeds.len(),
    )
}

/// Counts the plan and refuses it above [`MAX_INSTANCES`], with the count in the message.
pub fn check(spec: &Spec, agents: Option<&[AgentEntry]>) -> Result<u64, SpecError> {
    let n = upper_bound(spec, agents);
    if n <= u128::from(MAX_INSTANCES) {
        return Ok(n as u64);
    }
    let count = if n == u128::MAX {
        "more than 2^128".to_string()
    } else {
        n.to_string()
    };
    Err(SpecError {
        file: spec.path.clone(),
        key: String::new(),
        line: None,
        message: format!(
            "this spec plans {count} instances (agent configurations x MDP configurations x \
             seeds, plus experiment configurations x seeds), above the cap of {MAX_INSTANCES} \
             instances per plan; split it into several specs or sweep fewer values"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn products_are_counted_and_capped() {
        // 1,000 agent configurations x 1,000 MDP configurations x 100 seeds = 1e8.
        let text = "name = \"c\"\nseeds = 100\nsteps = 10\n\
                    [[agent]]\nname = \"q_learning\"\nsample = { n = 1000, p = { uniform = [0, 1] } }\n\
                    [[mdp]]\nfamily = \"river_swim\"\nsample = { n = 1000, p = { uniform = [0, 1] } }\n";
        let spec = Spec::parse(Path::new("c.toml"), text).unwrap();
        assert_eq!(upper_bound(&spec, None), 100_000_000);
        let e = check(&spec, None).unwrap_err();
        assert!(e.message.contains("100000000 instances"), "{e}");
        let small = Spec::parse(
            Path::new("c.toml"),
            &text.replace("seeds = 100", "seeds = 2"),
        )
        .unwrap();
        assert_eq!(check(&small, None).unwrap(), 2_000_000);
    }
}
