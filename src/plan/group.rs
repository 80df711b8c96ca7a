//! Groups: splitting the instances of a folder among K cluster jobs.
//!
//! Group k of K (1-based) takes the instances at positions k-1, k-1+K, k-1+2K, ... of the plan
//! order. Striding (rather than cutting the list in K blocks) spreads every agent and MDP across
//! all groups, so groups take about equally long. Every instance is in exactly one group.

use std::fmt;
use std::str::FromStr;

/// Group k of K, 1-based.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Group {
    /// Which group, 1..=count.
    pub index: u32,
    /// How many groups.
    pub count: u32,
}

impl Group {
    /// Group `index` of `count`, checked.
    pub fn new(index: u32, count: u32) -> Result<Group, String> {
        if count == 0 {
            return Err("the number of groups must be at least 1".into());
        }
        if index == 0 || index > count {
            return Err(format!(
                "group {index} of {count}: groups are numbered 1 to {count}"
            ));
        }
        Ok(Group { index, count })
    }

    /// The group from a SLURM job array's variables: task id, task count and the array's
    /// lowest id (so `--array=0-3` and `--array=1-4` both work).
    pub fn from_slurm(task_id: u32, task_count: u32, task_min: u32) -> Result<Group, String> {
        let index = task_id.checked_sub(task_min).ok_or_else(|| {
            format!("SLURM_ARRAY_TASK_ID {task_id} is below SLURM_ARRAY_TASK_MIN {task_min}")
        })?;
        Group::new(index + 1, task_count)
    }

    /// True when the instance at `position` in plan order belongs to this group.
    pub fn contains(&self, position: usize) -> bool {
        position % self.count as usize == (self.index - 1) as usize
    }

    /// Keeps this group's items of a list in plan order.
    pub fn select<T: Clone>(&self, items: &[T]) -> Vec<T> {
        items
            .iter()
            .enumerate()
            .filter(|(i, _)| self.contains(*i))
            .map(|(_, x)| x.clone())
            .collect()
    }
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Group {
    type Err = String;
    fn from_str(s: &str) -> Result<Group, String> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}`: write a group as k/K, e.g. 3/16"))?;
        let k = k
            .trim()
            .parse()
            .map_err(|_| format!("`{s}`: k is not a number"))?;
        let n = n
            .trim()
            .parse()
            .map_err(|_| format!("`{s}`: K is not a number"))?;
        Group::new(k, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_partition_everything() {
        let items: Vec<usize> = (0..103).collect();
        for count in 1..9 {
            let mut all: Vec<usize> = (1..=count)
                .flat_map(|k| Group::new(k, count).unwrap().select(&items))
                .collect();
            let sizes: Vec<usize> = (1..=count)
                .map(|k| Group::new(k, count).unwrap().select(&items).len())
                .collect();
            assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
            all.sort();
            assert_eq!(all, items);
        }
    }

    #[test]
    fn parse_and_slurm() {
        assert_eq!(
            "3/16".parse::<Group>().unwrap(),
            Group {
                index: 3,
                count: 16
            }
        );
        assert!("0/4".parse::<Group>().is_err());
        assert!("5/4".parse::<Group>().is_err());
        assert!("x".parse::<Group>().is_err());
        assert_eq!(
            Group::from_slurm(0, 4, 0).unwrap(),
            Group::new(1, 4).unwrap()
        );
        assert_eq!(
            Group::from_slurm(4, 4, 1).unwrap(),
            Group::new(4, 4).unwrap()
        );
    }
}
