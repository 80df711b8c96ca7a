//! Quoting for the POSIX shell commands ludus runs on the remote side. Every remote command is
//! wrapped in `sh -c '...'` so it behaves the same whatever the user's login shell is.

/// Quotes `s` as one POSIX shell word.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Wraps a script so the login shell hands it to `sh` unchanged.
pub fn sh(script: &str) -> String {
    format!("sh -c {}", quote(script))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(sh("echo 'x'"), r"sh -c 'echo '\''x'\'''");
    }
}
