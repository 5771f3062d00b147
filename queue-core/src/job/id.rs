//! Job ids: chosen by the dispatcher or numbered by the driver, stored inline when short.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// A job's identifier, unique within its queue.
///
/// Drivers number jobs themselves unless the dispatcher chooses an id with
/// [`NewJob::id`](crate::NewJob::id); a chosen id must contain at least one character that is not a digit, so
/// it can never collide with a generated one.
///
/// Ids of up to 22 bytes (every generated id, and most chosen ones) are stored inline, so
/// creating, cloning and dropping them allocates nothing and touches no shared counter.
#[derive(Clone)]
pub struct JobId(Repr);

/// Longest id stored inline; with the length and the enum's tag, a `JobId` is 24 bytes.
const INLINE_ID: usize = 22;

#[derive(Clone)]
enum Repr {
    /// The text in `bytes[..len]`; the rest is zero.
    Inline {
        len: u8,
        bytes: [u8; INLINE_ID],
    },
    Shared(Arc<str>),
}

impl JobId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline { len, bytes } => std::str::from_utf8(&bytes[..usize::from(*len)])
                .expect("an inline id is copied from a str"),
            Repr::Shared(text) => text,
        }
    }

    /// The id's bytes (its text's, without checking them again as UTF-8).
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Repr::Shared(text) => text.as_bytes(),
        }
    }

    fn inline(text: &[u8]) -> Self {
        let mut bytes = [0; INLINE_ID];
        bytes[..text.len()].copy_from_slice(text);
        JobId(Repr::Inline {
            len: text.len() as u8,
            bytes,
        })
    }
}

// Equality, hashing and order are those of the text, whichever way it is stored.
impl PartialEq for JobId {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for JobId {}

impl std::hash::Hash for JobId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // What `str` feeds a hasher, without checking the bytes are UTF-8 again.
        state.write(self.as_bytes());
        state.write_u8(0xff);
    }
}

impl PartialOrd for JobId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for JobId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl Serialize for JobId {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for JobId {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        String::deserialize(deserializer).map(JobId::from)
    }
}

impl fmt::Debug for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for JobId {
    fn from(s: &str) -> Self {
        if s.len() <= INLINE_ID {
            JobId::inline(s.as_bytes())
        } else {
            JobId(Repr::Shared(s.into()))
        }
    }
}

impl From<String> for JobId {
    fn from(s: String) -> Self {
        JobId::from(s.as_str())
    }
}

impl From<u64> for JobId {
    fn from(n: u64) -> Self {
        // Each decimal digit written straight to its place; u64::MAX has 20.
        let len = n.checked_ilog10().map_or(1, |log| log as usize + 1);
        let mut bytes = [0; INLINE_ID];
        let mut rest = n;
        for digit in bytes[..len].iter_mut().rev() {
            *digit = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        JobId(Repr::Inline {
            len: len as u8,
            bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_compare_as_text_however_stored() {
        use std::collections::hash_map::RandomState;
        use std::hash::BuildHasher;
        assert_eq!(std::mem::size_of::<JobId>(), 24);
        for n in [0, 7, 10, 12345, u64::MAX] {
            assert_eq!(JobId::from(n).as_str(), n.to_string());
            assert_eq!(JobId::from(n), JobId::from(n.to_string()));
        }
        let long = "order-".repeat(10);
        let ids = [
            JobId::from("a"),
            JobId::from(long.as_str()),
            JobId::from("b"),
        ];
        assert_eq!(ids[1].as_str(), long);
        assert_eq!(ids[1], JobId::from(long.clone()));
        let mut sorted = ids.to_vec();
        sorted.sort();
        assert_eq!(sorted, [ids[0].clone(), ids[2].clone(), ids[1].clone()]);
        // Hashes like the text, so maps keyed by ids and by strings agree.
        let state = RandomState::new();
        assert_eq!(state.hash_one(&ids[1]), state.hash_one(long.as_str()));
        assert_eq!(state.hash_one(JobId::from(42)), state.hash_one("42"));
        assert_eq!(serde_json::to_string(&ids[0]).unwrap(), r#""a""#);
        let back: JobId = serde_json::from_str(r#""12""#).unwrap();
        assert_eq!(back, JobId::from(12));
    }
}
