//! The key that splits a lane's limits: each key of a keyed handler's jobs has its own rate
//! window, running jobs and pause, and the lane serves its keys round robin.

use std::fmt;

/// Longest key, in bytes.
pub const MAX_RATE_KEY_LEN: usize = 256;

/// How a keyed handler's jobs get their key (`#[job(rate_key = ..)]`): computed once, when the
/// job is dispatched, and stored with it, so reserving a job never reads its payload.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub enum RateKey {
    /// A top-level field of the JSON payload: a string is the key as it is, a number or a
    /// boolean its JSON text.
    Field(&'static str),
    /// A function of the payload's JSON (the macro's wrapper decodes it as the handler's
    /// payload type and calls the user's `fn(&Payload) -> String`).
    Function(fn(&[u8]) -> Result<String, String>),
}

impl fmt::Debug for RateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RateKey::Field(name) => write!(f, "RateKey::Field({name:?})"),
            RateKey::Function(_) => f.write_str("RateKey::Function(..)"),
        }
    }
}

impl RateKey {
    /// The key of a job with this JSON payload, or why it has none.
    pub fn key_of(&self, payload: &[u8]) -> Result<String, String> {
        let key = match self {
            RateKey::Field(name) => field(payload, name)?,
            RateKey::Function(f) => f(payload)?,
        };
        check_key(&key)?;
        Ok(key)
    }
}

/// The value of top-level field `name` of a JSON object, as a key.
fn field(payload: &[u8], name: &str) -> Result<String, String> {
    let value: serde_json::Value = serde_json::from_slice(payload)
        .map_err(|e| format!("the payload is not JSON ({e}), so it has no field `{name}`"))?;
    let Some(object) = value.as_object() else {
        return Err(format!(
            "the payload is not a JSON object, so it has no field `{name}`"
        ));
    };
    match object.get(name) {
        Some(serde_json::Value::String(text)) => Ok(text.clone()),
        Some(v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => Ok(v.to_string()),
        Some(other) => Err(format!(
            "field `{name}` of the payload is {}, not a string, number or boolean",
            kind(other)
        )),
        None => Err(format!("the payload has no field `{name}`")),
    }
}

fn kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
        _ => "a scalar",
    }
}

/// A key is 1 to [`MAX_RATE_KEY_LEN`] bytes without NUL (storage separates keys with it).
pub(crate) fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("the key is empty".into());
    }
    if key.len() > MAX_RATE_KEY_LEN {
        return Err(format!(
            "the key is {} bytes, more than {MAX_RATE_KEY_LEN}",
            key.len()
        ));
    }
    if key.contains('\0') {
        return Err("the key holds a NUL character".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_become_keys() {
        let key = RateKey::Field("tenant");
        assert_eq!(key.key_of(br#"{"tenant":"acme","n":1}"#).unwrap(), "acme");
        assert_eq!(key.key_of(br#"{"tenant":42}"#).unwrap(), "42");
        assert_eq!(
            key.key_of(br#"{"n":1}"#).unwrap_err(),
            "the payload has no field `tenant`"
        );
        assert_eq!(
            key.key_of(br#"{"tenant":null}"#).unwrap_err(),
            "field `tenant` of the payload is null, not a string, number or boolean"
        );
        assert_eq!(
            key.key_of(br#"{"tenant":""}"#).unwrap_err(),
            "the key is empty"
        );
        assert!(key.key_of(b"[1]").is_err());
    }

    #[test]
    fn functions_become_keys() {
        fn first(payload: &[u8]) -> Result<String, String> {
            Ok(String::from_utf8_lossy(&payload[..1]).into_owned())
        }
        assert_eq!(RateKey::Function(first).key_of(b"xyz").unwrap(), "x");
    }
}
