//! Keeps the password of the storage URL out of everything the command prints.
//!
//! Drivers redact URLs in their own errors (`queue_core::redact_url`), but a password can
//! still reach a message another way: a URL that redaction misreads (a `/`, `?` or `#` typed
//! into the password), or a library error quoting what it was given. So every line the command
//! prints to stderr goes through [`Secrets::mask`], which replaces the password itself,
//! as typed and percent-decoded, wherever it appears.

/// The secrets of one storage URL.
#[derive(Debug, Default)]
pub(crate) struct Secrets {
    words: Vec<String>,
}

impl Secrets {
    /// The password of `url` (`scheme://user:password@host`, or `scheme://password@host`),
    /// if it has one.
    pub(crate) fn of_url(url: &str) -> Self {
        let Some((_, rest)) = url.split_once("://") else {
            return Self::default();
        };
        // The userinfo ends at the last `@` before the host; a password typed with `/`, `?`
        // or `#` in it still counts, so look for the `@` before cutting at the path.
        let Some((userinfo, _)) = rest.rsplit_once('@') else {
            return Self::default();
        };
        let password = match userinfo.split_once(':') {
            Some((_, password)) => password,
            None => userinfo,
        };
        let mut words = Vec::new();
        if !password.is_empty() {
            words.push(password.to_string());
            let decoded = percent_decode(password);
            if decoded != password && !decoded.is_empty() {
                words.push(decoded);
            }
        }
        // Longest first, so a password containing another form of itself is masked whole.
        words.sort_by_key(|w| std::cmp::Reverse(w.len()));
        Self { words }
    }

    /// The passwords of every URL quoted in `text` (words containing `://`), for text that
    /// echoes what the user typed, such as an argument the command line did not expect.
    pub(crate) fn of_urls_in(text: &str) -> Self {
        let mut words = Vec::new();
        for word in text.split(|c: char| c.is_whitespace() || "'\"`".contains(c)) {
            if word.contains("://") {
                words.extend(Self::of_url(word).words);
            }
        }
        words.sort_by_key(|w| std::cmp::Reverse(w.len()));
        Self { words }
    }

    /// The secrets themselves, longest first.
    pub(crate) fn words(&self) -> &[String] {
        &self.words
    }

    /// `text` with every secret replaced by `***`.
    pub(crate) fn mask(&self, text: &str) -> String {
        let mut text = text.to_string();
        for word in &self.words {
            text = text.replace(word.as_str(), "***");
        }
        text
    }
}

/// `%XX` escapes decoded; anything else kept as is, and the text whole when the escapes do not
/// decode to UTF-8.
fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .map_or_else(|_| text.to_string(), |decoded| decoded.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_the_password_in_any_form() {
        let secrets = Secrets::of_url("redis://app:s3cr%2Ft@127.0.0.1:6379/0");
        assert_eq!(
            secrets.mask("auth failed for s3cr%2Ft (s3cr/t)"),
            "auth failed for *** (***)"
        );
        let secrets = Secrets::of_url("redis://:pa/ss?x@host/0");
        assert_eq!(
            secrets.mask("redis://:pa/ss?x@host/0"),
            "redis://:***@host/0"
        );
        let secrets = Secrets::of_url("rediss://onlypassword@host");
        assert_eq!(secrets.mask("onlypassword"), "***");
    }

    #[test]
    fn finds_the_urls_quoted_in_a_message() {
        let message = "error: unexpected argument 'redis://:hunter2@h/0' found\n\nUsage: queue";
        assert_eq!(
            Secrets::of_urls_in(message).mask(message),
            "error: unexpected argument 'redis://:***@h/0' found\n\nUsage: queue"
        );
    }

    #[test]
    fn urls_without_a_password_mask_nothing() {
        for url in [
            "memory://",
            "redis://host:6379/0",
            "redis://user:@host",
            "nonsense",
        ] {
            assert_eq!(
                Secrets::of_url(url).mask("text host user"),
                "text host user"
            );
        }
    }
}
