//! Parameter values: the one small data type that specs, instances, agents and MDPs share.
//!
//! Instances are stored with bincode, which cannot read self-describing types such as
//! `serde_json::Value`, so parameters have their own enum. Its serde form depends on the format:
//! binary formats (bincode) see a tagged enum; human-readable formats (JSON) see the natural
//! value (`0.5`, `"x"`, `[1, 2]`, `{"a": 1}`).

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

/// A named set of parameter values, in key order (so it hashes and prints the same way always).
pub type Params = BTreeMap<String, Value>;

/// One parameter value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `true` / `false`.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A string.
    Str(String),
    /// A list of values.
    List(Vec<Value>),
    /// A nested table.
    Table(Params),
}

impl Value {
    /// The name of this value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Str(_) => "a string",
            Value::List(_) => "a list",
            Value::Table(_) => "a table",
        }
    }

    /// The value as a float: integers convert, everything else is `None`.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// The value as an integer: floats with no fractional part convert.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(*f as i64),
            _ => None,
        }
    }

    /// The value as a boolean.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The value as a string slice.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Feeds a canonical byte form of the value to a hasher (floats by their bits), so equal
    /// values always hash equally, whatever format they were read from.
    pub fn hash_into(&self, h: &mut blake3::Hasher) {
        match self {
            Value::Bool(b) => {
                h.update(&[0, *b as u8]);
            }
            Value::Int(i) => {
                h.update(&[1]);
                h.update(&i.to_le_bytes());
            }
            Value::Float(f) => {
                h.update(&[2]);
                h.update(&f.to_bits().to_le_bytes());
            }
            Value::Str(s) => {
                h.update(&[3]);
                hash_str(h, s);
            }
            Value::List(l) => {
                h.update(&[4]);
                h.update(&(l.len() as u64).to_le_bytes());
                for v in l {
                    v.hash_into(h);
                }
            }
            Value::Table(t) => {
                h.update(&[5]);
                hash_params(h, t);
            }
        }
    }
}

/// Hashes a string with its length first, so concatenations cannot collide.
pub fn hash_str(h: &mut blake3::Hasher, s: &str) {
    h.update(&(s.len() as u64).to_le_bytes());
    h.update(s.as_bytes());
}

/// Hashes a parameter table in key order.
pub fn hash_params(h: &mut blake3::Hasher, p: &Params) {
    h.update(&(p.len() as u64).to_le_bytes());
    for (k, v) in p {
        hash_str(h, k);
        v.hash_into(h);
    }
}

impl fmt::Display for Value {
    /// A compact, TOML-like rendering (`0.5`, `"x"`, `[1, 2]`, `{ a = 1 }`), used in tables
    /// and in the agents files that `select-best` writes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => {
                if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e15 {
                    write!(f, "{x:.1}")
                } else if x.is_nan() {
                    write!(f, "nan")
                } else if x.is_infinite() {
                    write!(f, "{}inf", if *x < 0.0 { "-" } else { "" })
                } else {
                    write!(f, "{x}")
                }
            }
            Value::Str(s) => write!(f, "{s:?}"),
            Value::List(l) => {
                write!(f, "[")?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{v}")?;
                }
                write!(f, "]")
            }
            Value::Table(t) => {
                write!(f, "{{")?;
                for (i, (k, v)) in t.iter().enumerate() {
                    write!(f, "{}{k} = {v}", if i > 0 { ", " } else { " " })?;
                }
                write!(f, " }}")
            }
        }
    }
}

/// The tagged form bincode sees.
#[derive(Serialize, Deserialize)]
enum Tagged {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Value>),
    Table(Params),
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            match self {
                Value::Bool(b) => s.serialize_bool(*b),
                Value::Int(i) => s.serialize_i64(*i),
                Value::Float(f) => s.serialize_f64(*f),
                Value::Str(v) => s.serialize_str(v),
                Value::List(l) => {
                    let mut seq = s.serialize_seq(Some(l.len()))?;
                    for v in l {
                        seq.serialize_element(v)?;
                    }
                    seq.end()
                }
                Value::Table(t) => {
                    let mut map = s.serialize_map(Some(t.len()))?;
                    for (k, v) in t {
                        map.serialize_entry(k, v)?;
                    }
                    map.end()
                }
            }
        } else {
            let tagged = match self.clone() {
                Value::Bool(b) => Tagged::Bool(b),
                Value::Int(i) => Tagged::Int(i),
                Value::Float(f) => Tagged::Float(f),
                Value::Str(v) => Tagged::Str(v),
                Value::List(l) => Tagged::List(l),
                Value::Table(t) => Tagged::Table(t),
            };
            tagged.serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            d.deserialize_any(NaturalVisitor)
        } else {
            Ok(match Tagged::deserialize(d)? {
                Tagged::Bool(b) => Value::Bool(b),
                Tagged::Int(i) => Value::Int(i),
                Tagged::Float(f) => Value::Float(f),
                Tagged::Str(v) => Value::Str(v),
                Tagged::List(l) => Value::List(l),
                Tagged::Table(t) => Value::Table(t),
            })
        }
    }
}

struct NaturalVisitor;

impl<'de> Visitor<'de> for NaturalVisitor {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a parameter value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        i64::try_from(v)
            .map(Value::Int)
            .map_err(|_| E::custom("integer too large"))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut l = Vec::new();
        while let Some(v) = seq.next_element()? {
            l.push(v);
        }
        Ok(Value::List(l))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut t = Params::new();
        while let Some((k, v)) = map.next_entry::<String, Value>()? {
            t.insert(k, v);
        }
        Ok(Value::Table(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Value {
        let mut t = Params::new();
        t.insert("a".into(), Value::Int(1));
        t.insert(
            "b".into(),
            Value::List(vec![Value::Float(0.5), Value::Str("x".into())]),
        );
        t.insert("c".into(), Value::Bool(true));
        Value::Table(t)
    }

    #[test]
    fn json_is_natural() {
        let j = serde_json::to_string(&sample()).unwrap();
        assert_eq!(j, r#"{"a":1,"b":[0.5,"x"],"c":true}"#);
        let back: Value = serde_json::from_str(&j).unwrap();
        assert_eq!(back, sample());
    }

    #[test]
    fn bincode_round_trip() {
        let cfg = bincode::config::standard();
        let bytes = bincode::serde::encode_to_vec(sample(), cfg).unwrap();
        let (back, n): (Value, usize) = bincode::serde::decode_from_slice(&bytes, cfg).unwrap();
        assert_eq!(n, bytes.len());
        assert_eq!(back, sample());
    }

    #[test]
    fn display_is_toml_like() {
        assert_eq!(
            sample().to_string(),
            r#"{ a = 1, b = [0.5, "x"], c = true }"#
        );
        assert_eq!(Value::Float(2.0).to_string(), "2.0");
    }
}
