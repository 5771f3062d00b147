//! The rule for queue names, job names and job ids, in one place: `queue-macros` includes this
//! file too, so `#[job]` refuses at compile time exactly the names that dispatch refuses.
//! It depends on nothing but `core`.

/// Longest name accepted, in bytes.
pub(crate) const LONGEST: usize = 200;

/// Why `value` is not an acceptable name, or `None` when it is. Names end up inside storage
/// keys, so braces, spaces and control characters are refused.
pub(crate) fn name_problem(value: &str) -> Option<&'static str> {
    if value.is_empty() {
        Some("must not be empty")
    } else if value.len() > LONGEST {
        Some("longer than 200 bytes")
    } else if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_-.:/@".contains(&b))
    {
        Some("only ASCII letters, digits and `_-.:/@` are allowed")
    } else {
        None
    }
}
