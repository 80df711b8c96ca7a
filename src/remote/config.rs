//! The subset of the OpenSSH client config (`~/.ssh/config`, or `-F FILE`) that ludus honours:
//! `Host` blocks (patterns with `*`, `?` and `!negation`), `HostName`, `User`, `Port`,
//! `IdentityFile`, `UserKnownHostsFile` and `Include`. As in OpenSSH, the first value found
//! for a keyword wins, and `IdentityFile` lines accumulate. `Match` blocks are not evaluated:
//! their settings are ignored. Other keywords are ignored.

use std::path::{Path, PathBuf};

use super::RemoteError;

/// The settings that apply to one host alias.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostConfig {
    /// `HostName`: the real host name or address (with `%h` already expanded).
    pub host_name: Option<String>,
    /// `User`.
    pub user: Option<String>,
    /// `Port`.
    pub port: Option<u16>,
    /// `IdentityFile` entries, in order, unexpanded (`~` and `%` tokens are expanded later).
    pub identity_files: Vec<String>,
    /// `UserKnownHostsFile` entries, unexpanded.
    pub known_hosts_files: Vec<String>,
}

/// Reads `path` (a missing file gives an empty config) and returns the settings for `alias`.
pub fn load(path: &Path, alias: &str, home: &Path) -> Result<HostConfig, RemoteError> {
    let mut cfg = HostConfig::default();
    apply_file(path, alias, home, &mut cfg, 0)?;
    Ok(cfg)
}

/// Parses config text and returns the settings for `alias` (no `Include`s are followed).
pub fn parse_str(text: &str, file: &Path, alias: &str) -> Result<HostConfig, RemoteError> {
    let mut cfg = HostConfig::default();
    apply_text(text, file, alias, None, &mut cfg, 0)?;
    Ok(cfg)
}

fn apply_file(
    path: &Path,
    alias: &str,
    home: &Path,
    cfg: &mut HostConfig,
    depth: usize,
) -> Result<(), RemoteError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(RemoteError::io(path, e)),
    };
    apply_text(&text, path, alias, Some(home), cfg, depth)
}

fn apply_text(
    text: &str,
    file: &Path,
    alias: &str,
    home: Option<&Path>,
    cfg: &mut HostConfig,
    depth: usize,
) -> Result<(), RemoteError> {
    let mut active = true;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let err = |problem: String| RemoteError::Config {
            file: file.to_path_buf(),
            line: line_no,
            problem,
        };
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, rest) = split_keyword(line);
        let args = split_args(rest).map_err(&err)?;
        let key = key.to_ascii_lowercase();
        match key.as_str() {
            "host" => {
                active = host_matches(&args, alias);
                continue;
            }
            "match" => {
                active = args.len() == 1 && args[0].eq_ignore_ascii_case("all");
                continue;
            }
            _ => {}
        }
        if !active {
            continue;
        }
        let first = || {
            args.first()
                .cloned()
                .ok_or_else(|| err(format!("`{key}` needs a value")))
        };
        match key.as_str() {
            "hostname" if cfg.host_name.is_none() => {
                cfg.host_name = Some(first()?.replace("%h", alias))
            }
            "user" if cfg.user.is_none() => cfg.user = Some(first()?),
            "port" if cfg.port.is_none() => {
                let v = first()?;
                let port = v
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| err(format!("bad port `{v}`")))?;
                cfg.port = Some(port);
            }
            "identityfile" => cfg.identity_files.push(first()?),
            "userknownhostsfile" if cfg.known_hosts_files.is_empty() => {
                cfg.known_hosts_files = args.clone()
            }
            "include" => {
                let Some(home) = home else { continue };
                if depth > 8 {
                    return Err(err("Include nested too deeply".to_string()));
                }
                for arg in &args {
                    let p = expand_tilde(arg, home);
                    let p = if p.is_absolute() {
                        p
                    } else {
                        home.join(".ssh").join(p)
                    };
                    apply_file(&p, alias, home, cfg, depth + 1)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn split_keyword(line: &str) -> (&str, &str) {
    let end = line
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(line.len());
    let rest = line[end..].trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest).trim_start();
    (&line[..end], rest)
}

fn split_args(rest: &str) -> Result<Vec<String>, String> {
    let mut args = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&c) = chars.peek() else { break };
        if c == '#' {
            break;
        }
        let mut arg = String::new();
        if c == '"' {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some(ch) => arg.push(ch),
                    None => return Err("unterminated quote".to_string()),
                }
            }
        } else {
            while let Some(&ch) = chars.peek() {
                if ch.is_whitespace() {
                    break;
                }
                arg.push(ch);
                chars.next();
            }
        }
        args.push(arg);
    }
    Ok(args)
}

/// OpenSSH pattern-list matching: any positive match and no negated match.
pub fn host_matches(patterns: &[String], name: &str) -> bool {
    let mut matched = false;
    for pat in patterns {
        if let Some(neg) = pat.strip_prefix('!') {
            if wildcard_match(neg, name) {
                return false;
            }
        } else if wildcard_match(pat, name) {
            matched = true;
        }
    }
    matched
}

/// `*` and `?` wildcard match, case-insensitive as host names are.
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let n: Vec<char> = name.to_ascii_lowercase().chars().collect();
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// Expands a leading `~` or `~/` against `home`.
pub fn expand_tilde(s: &str, home: &Path) -> PathBuf {
    if s == "~" {
        home.to_path_buf()
    } else if let Some(rest) = s.strip_prefix("~/") {
        home.join(rest)
    } else {
        PathBuf::from(s)
    }
}

/// Expands `~` and the `%d %h %p %r %u %%` tokens of IdentityFile and UserKnownHostsFile.
pub fn expand_path(
    s: &str,
    home: &Path,
    host: &str,
    port: u16,
    remote_user: &str,
    local_user: &str,
) -> PathBuf {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('d') => out.push_str(&home.to_string_lossy()),
            Some('h') => out.push_str(host),
            Some('p') => out.push_str(&port.to_string()),
            Some('r') => out.push_str(remote_user),
            Some('u') => out.push_str(local_user),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    expand_tilde(&out, home)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "\
# comment
Host mycluster cluster-*
    HostName login.%h.example.org
    User me
    Port 2222
    IdentityFile ~/.ssh/cluster_ed25519
Host *.example.org !bad.example.org
    User other
    IdentityFile=\"~/.ssh/with space\"
Match host foo
    User matched
Host *
    User fallback
    Port 22
    IdentityFile ~/.ssh/id_ed25519
";

    fn get(alias: &str) -> HostConfig {
        parse_str(CONFIG, Path::new("config"), alias).expect("parses")
    }

    #[test]
    fn first_value_wins_and_identities_accumulate() {
        let c = get("mycluster");
        assert_eq!(c.host_name.as_deref(), Some("login.mycluster.example.org"));
        assert_eq!(c.user.as_deref(), Some("me"));
        assert_eq!(c.port, Some(2222));
        assert_eq!(
            c.identity_files,
            vec!["~/.ssh/cluster_ed25519", "~/.ssh/id_ed25519"]
        );
    }

    #[test]
    fn negation_and_quotes() {
        let c = get("a.example.org");
        assert_eq!(c.user.as_deref(), Some("other"));
        assert_eq!(c.identity_files[0], "~/.ssh/with space");
        assert_eq!(get("bad.example.org").user.as_deref(), Some("fallback"));
        assert_eq!(get("cluster-7").port, Some(2222));
        assert_eq!(get("elsewhere").host_name, None);
    }

    #[test]
    fn bad_port_names_line() {
        let e = parse_str("Host x\n  Port abc\n", Path::new("cfg"), "x").expect_err("bad port");
        assert!(e.to_string().contains("cfg:2"), "{e}");
    }

    #[test]
    fn tokens() {
        let p = expand_path("%d/.ssh/%r@%h:%p", Path::new("/home/u"), "h", 22, "r", "u");
        assert_eq!(p, PathBuf::from("/home/u/.ssh/r@h:22"));
        assert!(wildcard_match("c*t?r", "cluster"));
        assert!(!wildcard_match("c*x", "cluster"));
    }
}
