//! Parse the remote side of a transfer: `HOST:DIR`, where HOST is `[user@]host[:port]` or a
//! `Host` alias from the ssh config (`mycluster:/scratch/me`), `[user@][v6addr][:port]:DIR`, or
//! `ssh://[user@]host[:port]/DIR`. A relative DIR (or one starting with `~/`) is taken relative
//! to the remote home, as scp does.

use super::RemoteError;

/// A parsed `HOST:DIR` argument, before the ssh config is applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteSpec {
    /// User named in the argument, if any.
    pub user: Option<String>,
    /// Host name, address or config alias.
    pub host: String,
    /// Port named in the argument, if any.
    pub port: Option<u16>,
    /// Directory on the remote machine (`~/` stripped: relative means relative to home).
    pub path: String,
}

impl RemoteSpec {
    /// Parses `HOST:DIR`.
    pub fn parse(arg: &str) -> Result<RemoteSpec, RemoteError> {
        let bad = |problem: &str| RemoteError::BadTarget {
            arg: arg.to_string(),
            problem: problem.to_string(),
        };
        if let Some(rest) = arg.strip_prefix("ssh://") {
            let (authority, path) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => return Err(bad("an ssh:// URL needs a /DIR after the host")),
            };
            let (user, hostport) = split_user(authority);
            let (host, port) = split_host_port(hostport).ok_or_else(|| bad("bad host or port"))?;
            return finish(arg, user, host, port, path);
        }
        let (user, rest) = split_user_before_colon(arg);
        let (host, after) = if let Some(inner) = rest.strip_prefix('[') {
            let close = inner
                .find(']')
                .ok_or_else(|| bad("missing `]` after an IPv6 address"))?;
            let after = inner[close + 1..]
                .strip_prefix(':')
                .ok_or_else(|| bad("missing `:` after the host"))?;
            (&inner[..close], after)
        } else {
            let colon = rest
                .find(':')
                .ok_or_else(|| bad("no `:` separating host and directory"))?;
            (&rest[..colon], &rest[colon + 1..])
        };
        // `host:2222:/dir`: a purely numeric field followed by another colon is a port.
        let (port, path) = match after.find(':') {
            Some(i) if i > 0 && after[..i].bytes().all(|b| b.is_ascii_digit()) => {
                let port = after[..i]
                    .parse::<u16>()
                    .map_err(|_| bad("port out of range"))?;
                (Some(port), &after[i + 1..])
            }
            _ => (None, after),
        };
        finish(arg, user, host, port, path)
    }

    /// `HOST:DIR` again, for messages.
    pub fn display_host(&self) -> String {
        let mut s = String::new();
        if let Some(u) = &self.user {
            s.push_str(u);
            s.push('@');
        }
        s.push_str(&self.host);
        if let Some(p) = self.port {
            s.push_str(&format!(":{p}"));
        }
        s
    }
}

fn finish(
    arg: &str,
    user: Option<&str>,
    host: &str,
    port: Option<u16>,
    path: &str,
) -> Result<RemoteSpec, RemoteError> {
    let bad = |problem: &str| RemoteError::BadTarget {
        arg: arg.to_string(),
        problem: problem.to_string(),
    };
    if host.is_empty() {
        return Err(bad("the host is empty"));
    }
    if host.contains(['/', ' ', '\t']) {
        return Err(bad(
            "the host contains `/` or a space (is this a local path?)",
        ));
    }
    if user == Some("") {
        return Err(bad("the user before `@` is empty"));
    }
    if port == Some(0) {
        return Err(bad("port 0"));
    }
    let mut path = path.to_string();
    if path == "~" {
        path = ".".to_string();
    } else if let Some(rest) = path.strip_prefix("~/") {
        path = if rest.is_empty() {
            ".".to_string()
        } else {
            rest.to_string()
        };
    }
    if path.is_empty() {
        return Err(bad(
            "the directory after `:` is empty (write HOST:. for the remote home)",
        ));
    }
    if path.contains('\0') {
        return Err(bad("the directory contains a NUL byte"));
    }
    Ok(RemoteSpec {
        user: user.map(str::to_string),
        host: host.to_string(),
        port,
        path,
    })
}

/// Splits `user@rest` where the `@` comes before the first `:` (so `host:dir@x` keeps its `@`).
fn split_user_before_colon(s: &str) -> (Option<&str>, &str) {
    let colon = s.find(':').unwrap_or(s.len());
    match s[..colon].rfind('@') {
        Some(at) => (Some(&s[..at]), &s[at + 1..]),
        None => (None, s),
    }
}

fn split_user(s: &str) -> (Option<&str>, &str) {
    match s.rfind('@') {
        Some(at) => (Some(&s[..at]), &s[at + 1..]),
        None => (None, s),
    }
}

fn split_host_port(s: &str) -> Option<(&str, Option<u16>)> {
    if let Some(inner) = s.strip_prefix('[') {
        let close = inner.find(']')?;
        let rest = &inner[close + 1..];
        let port = match rest.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if rest.is_empty() => None,
            None => return None,
        };
        return Some((&inner[..close], port));
    }
    match s.rsplit_once(':') {
        Some((h, p)) => Some((h, Some(p.parse().ok()?))),
        None => Some((s, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> RemoteSpec {
        RemoteSpec::parse(s).expect("parses")
    }

    #[test]
    fn forms() {
        assert_eq!(
            p("mycluster:/scratch/me"),
            RemoteSpec {
                user: None,
                host: "mycluster".into(),
                port: None,
                path: "/scratch/me".into()
            }
        );
        let s = p("me@10.0.0.1:2222:/data");
        assert_eq!(
            (s.user.as_deref(), s.host.as_str(), s.port, s.path.as_str()),
            (Some("me"), "10.0.0.1", Some(2222), "/data")
        );
        assert_eq!(p("host:~/runs").path, "runs");
        assert_eq!(p("host:~").path, ".");
        assert_eq!(
            p("host:12").port,
            None,
            "a numeric directory without a second colon is a directory"
        );
        let s = p("u@[::1]:22:/d");
        assert_eq!((s.host.as_str(), s.port), ("::1", Some(22)));
        let s = p("ssh://u@h:2200/x/y");
        assert_eq!(
            (s.host.as_str(), s.port, s.path.as_str()),
            ("h", Some(2200), "/x/y")
        );
        assert_eq!(p("h:dir:with:colons").path, "dir:with:colons");
    }

    #[test]
    fn rejects() {
        for bad in [
            "nocolon",
            ":/x",
            "h:",
            "@h:/x",
            "h:0:/x",
            "h:99999:/x",
            "./a b:/x",
        ] {
            assert!(RemoteSpec::parse(bad).is_err(), "{bad} should be refused");
        }
    }
}
