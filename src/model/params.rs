//! Reading agent and MDP parameters: typed getters with documented defaults and range checks,
//! and a final check that no unknown parameter was given. Every error names the parameter.

use std::collections::BTreeSet;

use super::check::CheckError;
use crate::value::{Params, Value};

/// Reads parameters one by one, remembering which ones were asked for.
pub struct ParamReader<'a> {
    params: &'a Params,
    known: BTreeSet<&'static str>,
}

fn invalid(key: &str, v: &Value, why: &str) -> CheckError {
    CheckError::Invalid(format!("{key} = {v}: {why}"))
}

impl<'a> ParamReader<'a> {
    /// A reader over `params`.
    pub fn new(params: &'a Params) -> ParamReader<'a> {
        ParamReader {
            params,
            known: BTreeSet::new(),
        }
    }

    /// The raw value, if given.
    pub fn raw(&mut self, key: &'static str) -> Option<&'a Value> {
        self.known.insert(key);
        self.params.get(key)
    }

    /// A number (integers convert), `default` when absent.
    pub fn f64(&mut self, key: &'static str, default: f64) -> Result<f64, CheckError> {
        match self.raw(key) {
            None => Ok(default),
            Some(v) => match v.as_f64() {
                Some(x) if x.is_finite() => Ok(x),
                _ => Err(invalid(key, v, "must be a number")),
            },
        }
    }

    /// A number in `[lo, hi]`.
    pub fn f64_in(
        &mut self,
        key: &'static str,
        default: f64,
        lo: f64,
        hi: f64,
    ) -> Result<f64, CheckError> {
        let x = self.f64(key, default)?;
        if x < lo || x > hi {
            let v = self.params.get(key).cloned().unwrap_or(Value::Float(x));
            return Err(invalid(key, &v, &format!("must be in [{lo}, {hi}]")));
        }
        Ok(x)
    }

    /// A number strictly above `lo`.
    pub fn positive(&mut self, key: &'static str, default: f64) -> Result<f64, CheckError> {
        let x = self.f64(key, default)?;
        if x <= 0.0 {
            let v = self.params.get(key).cloned().unwrap_or(Value::Float(x));
            return Err(invalid(key, &v, "must be > 0"));
        }
        Ok(x)
    }

    /// A probability in [0, 1].
    pub fn prob(&mut self, key: &'static str, default: f64) -> Result<f64, CheckError> {
        self.f64_in(key, default, 0.0, 1.0)
    }

    /// [`ParamReader::int_in`] whose upper bound is a size cap: the error says why (`why`).
    pub fn size_capped(
        &mut self,
        key: &'static str,
        default: i64,
        lo: i64,
        cap: i64,
        why: &str,
    ) -> Result<i64, CheckError> {
        match self.raw(key) {
            Some(v) if v.as_i64().is_some_and(|x| x > cap) => {
                Err(invalid(key, v, &format!("must be in [{lo}, {cap}]: {why}")))
            }
            _ => self.int_in(key, default, lo, cap),
        }
    }

    /// An integer in `[lo, hi]`.
    pub fn int_in(
        &mut self,
        key: &'static str,
        default: i64,
        lo: i64,
        hi: i64,
    ) -> Result<i64, CheckError> {
        match self.raw(key) {
            None => Ok(default),
            Some(v) => match v.as_i64() {
                Some(x) if x >= lo && x <= hi => Ok(x),
                Some(_) => Err(invalid(key, v, &format!("must be in [{lo}, {hi}]"))),
                None => Err(invalid(key, v, "must be an integer")),
            },
        }
    }

    /// An optional integer in `[lo, hi]`.
    pub fn opt_int(
        &mut self,
        key: &'static str,
        lo: i64,
        hi: i64,
    ) -> Result<Option<i64>, CheckError> {
        if self.raw(key).is_none() {
            return Ok(None);
        }
        self.int_in(key, lo, lo, hi).map(Some)
    }

    /// A boolean.
    pub fn bool(&mut self, key: &'static str, default: bool) -> Result<bool, CheckError> {
        match self.raw(key) {
            None => Ok(default),
            Some(v) => v
                .as_bool()
                .ok_or_else(|| invalid(key, v, "must be true or false")),
        }
    }

    /// A string among `choices`.
    pub fn choice(
        &mut self,
        key: &'static str,
        default: &'static str,
        choices: &[&'static str],
    ) -> Result<&'static str, CheckError> {
        match self.raw(key) {
            None => Ok(default),
            Some(v) => {
                let s = v.as_str().map(|s| s.to_ascii_lowercase());
                choices
                    .iter()
                    .find(|c| Some(c.to_string()) == s)
                    .copied()
                    .ok_or_else(|| invalid(key, v, &format!("must be one of {choices:?}")))
            }
        }
    }

    /// Fails on any parameter that was never asked for, listing the known ones.
    pub fn finish(self) -> Result<(), CheckError> {
        for k in self.params.keys() {
            if !self.known.contains(k.as_str()) {
                let known: Vec<&str> = self.known.iter().copied().collect();
                return Err(CheckError::Invalid(format!(
                    "unknown parameter `{k}`; known parameters: {}",
                    known.join(", ")
                )));
            }
        }
        Ok(())
    }
}
