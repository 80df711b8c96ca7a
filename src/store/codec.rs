//! The instance file format: a fixed header, then the bincode payload.
//!
//! ```text
//! offset 0   8 bytes  magic "LUDUSINS"
//! offset 8   4 bytes  format version (u32, little endian)
//! offset 12  8 bytes  payload length (u64, little endian)
//! offset 20  8 bytes  first 8 bytes of the payload's BLAKE3 hash
//! offset 28  payload  bincode 2 (standard config) of `Instance`
//! ```
//! The length and hash make a truncated or damaged file an error, never a misread instance.
//! The hash has no key, so anyone can forge a file that passes it: the decoder is also bounded.
//! A file is at most [`MAX_FILE_BYTES`], its length field must match the file's size before
//! anything is decoded, and bincode decodes under a byte limit that grows with the file's size
//! (at most 64 times the next power of 16 above it), so a length inside the payload that
//! announces a terabyte is an error, never an allocation.
//! All bincode use in ludus is in this file, so the codec can be swapped in one place.

use crate::plan::Instance;

/// The first bytes of every instance file.
pub const MAGIC: &[u8; 8] = b"LUDUSINS";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
const HEADER: usize = 28;
/// The largest instance file ludus reads (256 MiB).
pub const MAX_FILE_BYTES: u64 = 256 << 20;

/// Why bytes are not a usable instance.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CodecError {
    /// Shorter than the header or than the length it announces.
    #[error("truncated: {got} bytes, expected {expected}")]
    Truncated {
        /// Bytes present.
        got: usize,
        /// Bytes needed.
        expected: usize,
    },
    /// Does not start with the magic bytes.
    #[error("not a ludus instance file (wrong magic bytes)")]
    NotLudus,
    /// Written by another format version.
    #[error(
        "instance format version {found}, but this ludus reads version {FORMAT_VERSION}: plan the spec again with this ludus, or run these instances with the ludus that planned them"
    )]
    Version {
        /// The file's version.
        found: u32,
    },
    /// The payload does not match its hash or does not decode.
    #[error("corrupt: {0}")]
    Corrupt(String),
}

fn checksum(payload: &[u8]) -> [u8; 8] {
    let h = blake3::hash(payload);
    let mut out = [0u8; 8];
    out.copy_from_slice(&h.as_bytes()[..8]);
    out
}

/// Encodes an instance with its header.
pub fn encode(instance: &Instance) -> Vec<u8> {
    let payload = bincode::serde::encode_to_vec(instance, bincode::config::standard())
        .expect("an Instance always encodes");
    frame(&payload)
}

/// Puts the header (magic, version, length, checksum) before a payload. `encode` uses it; so do
/// tests that forge a file with a valid checksum around hostile bytes.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&checksum(payload));
    out.extend_from_slice(payload);
    out
}

/// Decodes an instance file's bytes, checking magic, version, length and hash.
pub fn decode(bytes: &[u8]) -> Result<Instance, CodecError> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        if bytes.len() < MAGIC.len() && MAGIC.starts_with(bytes) {
            return Err(CodecError::Truncated {
                got: bytes.len(),
                expected: HEADER,
            });
        }
        return Err(CodecError::NotLudus);
    }
    if bytes.len() < HEADER {
        return Err(CodecError::Truncated {
            got: bytes.len(),
            expected: HEADER,
        });
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version != FORMAT_VERSION {
        return Err(CodecError::Version { found: version });
    }
    let len = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
    let expected = (HEADER as u64).saturating_add(len);
    if (bytes.len() as u64) < expected {
        return Err(CodecError::Truncated {
            got: bytes.len(),
            expected: usize::try_from(expected).unwrap_or(usize::MAX),
        });
    }
    if bytes.len() as u64 > expected {
        return Err(CodecError::Corrupt(format!(
            "{} bytes after the end of the instance",
            bytes.len() as u64 - expected
        )));
    }
    if len > MAX_FILE_BYTES {
        return Err(CodecError::Corrupt(format!(
            "a {len}-byte payload, above the limit of {MAX_FILE_BYTES} bytes"
        )));
    }
    let payload = &bytes[HEADER..];
    if checksum(payload) != bytes[20..28] {
        return Err(CodecError::Corrupt(
            "the content does not match its checksum".into(),
        ));
    }
    let (instance, used) =
        decode_bounded(payload).map_err(|e| CodecError::Corrupt(e.to_string()))?;
    if used != payload.len() {
        return Err(CodecError::Corrupt("trailing bytes in the payload".into()));
    }
    Ok(instance)
}

/// Decodes under a bincode byte limit chosen by the payload's size: bincode counts what it
/// allocates for strings and lists against it and fails before allocating past it.
fn decode_bounded(payload: &[u8]) -> Result<(Instance, usize), bincode::error::DecodeError> {
    fn with<const N: usize>(p: &[u8]) -> Result<(Instance, usize), bincode::error::DecodeError> {
        bincode::serde::decode_from_slice(p, bincode::config::standard().with_limit::<N>())
    }
    match payload.len() {
        0..=0xFFFF => with::<{ 64 << 16 }>(payload),
        0x1_0000..=0xF_FFFF => with::<{ 64 << 20 }>(payload),
        0x10_0000..=0xFF_FFFF => with::<{ 64 << 24 }>(payload),
        _ => with::<{ 64 << 28 }>(payload),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{AgentSpec, InstanceKind, MdpSpec};
    use crate::value::Value;

    fn inst() -> Instance {
        Instance {
            spec_name: "t".into(),
            kind: InstanceKind::Builtin {
                agent: AgentSpec {
                    name: "q_learning".into(),
                    params: [("p".to_string(), Value::Float(0.05))].into(),
                },
                mdp: MdpSpec {
                    family: "river_swim".into(),
                    episodic: false,
                    params: [("size".to_string(), Value::Int(5))].into(),
                },
            },
            seed: 3,
            steps: 100,
            log_every: 10,
            time_limit_ms: 0,
        }
    }

    #[test]
    fn round_trip() {
        assert_eq!(decode(&encode(&inst())).unwrap(), inst());
    }

    #[test]
    fn every_truncation_is_refused() {
        let b = encode(&inst());
        for n in 0..b.len() {
            let e = decode(&b[..n]).unwrap_err();
            assert!(
                matches!(e, CodecError::Truncated { .. }),
                "cut at {n}: {e:?}"
            );
        }
    }

    #[test]
    fn wrong_magic_version_and_damage() {
        let mut b = encode(&inst());
        assert_eq!(
            decode(b"#!/bin/sh\necho hi\n").unwrap_err(),
            CodecError::NotLudus
        );
        b[8] = 9;
        assert_eq!(decode(&b).unwrap_err(), CodecError::Version { found: 9 });
        let mut b = encode(&inst());
        let last = b.len() - 1;
        b[last] ^= 0xff;
        assert!(matches!(decode(&b).unwrap_err(), CodecError::Corrupt(_)));
        let mut b = encode(&inst());
        b.push(0);
        assert!(matches!(decode(&b).unwrap_err(), CodecError::Corrupt(_)));
    }

    #[test]
    fn huge_lengths_are_refused_without_allocating() {
        // bincode's varint: 253 then a u64, the length of `spec_name`.
        let mut p = vec![253u8];
        p.extend_from_slice(&(1u64 << 40).to_le_bytes());
        let e = decode(&frame(&p)).unwrap_err();
        assert!(matches!(e, CodecError::Corrupt(_)), "{e:?}");
        // A length field of 1 TiB in the header is checked against the file's size.
        let mut b = encode(&inst());
        b[12..20].copy_from_slice(&(1u64 << 40).to_le_bytes());
        assert!(matches!(
            decode(&b).unwrap_err(),
            CodecError::Truncated { .. }
        ));
        b[12..20].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            decode(&b).unwrap_err(),
            CodecError::Truncated { .. }
        ));
    }
}
