//! Listings of a directory tree on either side: every file, directory and symlink with size,
//! modification time (whole seconds) and permission bits, keyed by its `/`-separated relative
//! name. Also the `--include` / `--exclude` filter applied to them.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use globset::{Glob, GlobSet, GlobSetBuilder};

use super::RemoteError;
use super::safety::{check_relative, check_symlink, is_internal};

/// What a listed name is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symlink, with its target.
    Symlink(String),
}

impl Kind {
    /// A word for messages.
    pub fn word(&self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Dir => "directory",
            Kind::Symlink(_) => "symlink",
        }
    }
}

/// One listed name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Relative, `/`-separated name.
    pub name: String,
    /// File, directory or symlink.
    pub kind: Kind,
    /// Size in bytes (0 for directories).
    pub size: u64,
    /// Modification time, whole seconds since the epoch.
    pub mtime: i64,
    /// Permission bits (`0o7777` mask).
    pub mode: u32,
}

/// A tree listing, sorted by name.
pub type Listing = BTreeMap<String, Entry>;

/// Lists a local directory (a missing directory lists as empty). Names must be UTF-8.
pub fn list_local(root: &Path) -> Result<Listing, RemoteError> {
    let mut out = Listing::new();
    if !root.exists() {
        return Ok(out);
    }
    for item in walkdir::WalkDir::new(root).min_depth(1).follow_links(false) {
        let item = item.map_err(|e| {
            let path = e.path().unwrap_or(root).to_path_buf();
            RemoteError::io(
                path,
                e.into_io_error()
                    .unwrap_or_else(|| std::io::Error::other("filesystem loop")),
            )
        })?;
        let rel = item
            .path()
            .strip_prefix(root)
            .map_err(|_| RemoteError::io(item.path(), std::io::Error::other("outside the root")))?;
        let name = rel
            .to_str()
            .ok_or_else(|| {
                RemoteError::io(
                    item.path(),
                    std::io::Error::other("the name is not UTF-8; rename it to transfer it"),
                )
            })?
            .to_string();
        if is_internal(&name) {
            continue;
        }
        let meta = item
            .path()
            .symlink_metadata()
            .map_err(|e| RemoteError::io(item.path(), e))?;
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            Kind::Dir
        } else if ft.is_symlink() {
            let target =
                std::fs::read_link(item.path()).map_err(|e| RemoteError::io(item.path(), e))?;
            Kind::Symlink(target.to_string_lossy().into_owned())
        } else if ft.is_file() {
            Kind::File
        } else {
            continue; // sockets, fifos, devices: not transferred
        };
        let size = if kind == Kind::File { meta.len() } else { 0 };
        out.insert(
            name.clone(),
            Entry {
                name,
                kind,
                size,
                mtime: meta.mtime(),
                mode: meta.mode() & 0o7777,
            },
        );
    }
    Ok(out)
}

/// Parses the NUL-separated output of the remote `find -printf '%y\0%s\0%T@\0%m\0%P\0%l\0'`.
/// Every name is checked with [`check_relative`] (and symlink targets with [`check_symlink`]
/// when `check_links`), so a malicious listing is refused before anything is written.
pub fn parse_find(host: &str, out: &[u8], check_links: bool) -> Result<Listing, RemoteError> {
    let bad = |problem: String| RemoteError::Protocol {
        host: host.to_string(),
        what: "listing the remote directory".to_string(),
        problem,
    };
    let text = std::str::from_utf8(out)
        .map_err(|_| bad("a remote name is not UTF-8; rename it to transfer it".to_string()))?;
    let mut fields = text.split('\0');
    let mut listing = Listing::new();
    while let Some(ty) = fields.next() {
        if ty.is_empty() {
            break;
        }
        let mut next = || {
            fields
                .next()
                .ok_or_else(|| bad("truncated listing".to_string()))
        };
        let (size, mtime, mode, name, link) = (next()?, next()?, next()?, next()?, next()?);
        check_relative(host, name)?;
        if is_internal(name) {
            continue;
        }
        let kind = match ty {
            "f" => Kind::File,
            "d" => Kind::Dir,
            "l" => {
                if check_links {
                    check_symlink(host, name, link)?;
                }
                Kind::Symlink(link.to_string())
            }
            _ => continue,
        };
        let size: u64 = size
            .parse()
            .map_err(|_| bad(format!("bad size `{size}` for {name}")))?;
        let secs = mtime.split('.').next().unwrap_or(mtime);
        let mtime: i64 = secs
            .parse()
            .map_err(|_| bad(format!("bad time `{mtime}` for {name}")))?;
        let mode = u32::from_str_radix(mode, 8)
            .map_err(|_| bad(format!("bad mode `{mode}` for {name}")))?;
        let size = if kind == Kind::File { size } else { 0 };
        listing.insert(
            name.to_string(),
            Entry {
                name: name.to_string(),
                kind,
                size,
                mtime,
                mode,
            },
        );
    }
    Ok(listing)
}

/// `--include` / `--exclude` globs over relative names. A pattern also covers everything
/// below a directory it names (`logs` means `logs` and `logs/**`). With no include, everything
/// is included; excludes win.
#[derive(Clone, Debug)]
pub struct Filter {
    include: Option<GlobSet>,
    exclude: GlobSet,
}

impl Filter {
    /// Builds the filter.
    pub fn new(include: &[String], exclude: &[String]) -> Result<Filter, RemoteError> {
        let include = if include.is_empty() {
            None
        } else {
            Some(build(include)?)
        };
        Ok(Filter {
            include,
            exclude: build(exclude)?,
        })
    }

    /// True if `name` is selected.
    pub fn selects(&self, name: &str) -> bool {
        if self.exclude.is_match(name) {
            return false;
        }
        self.include.as_ref().is_none_or(|inc| inc.is_match(name))
    }

    /// True if a directory should be created or kept even without selected files below it.
    pub fn selects_dir(&self, name: &str) -> bool {
        self.selects(name)
            || self
                .include
                .as_ref()
                .is_some_and(|_| self.selects(&format!("{name}/")))
    }

    /// Keeps the selected entries, plus the directories leading to them.
    pub fn apply(&self, listing: &Listing) -> Listing {
        let mut out = Listing::new();
        for (name, e) in listing {
            let keep = if e.kind == Kind::Dir {
                self.selects_dir(name)
            } else {
                self.selects(name)
            };
            if keep && !ancestor_excluded(&self.exclude, name) {
                out.insert(name.clone(), e.clone());
                let mut parent = name.as_str();
                while let Some((p, _)) = parent.rsplit_once('/') {
                    if let Some(d) = listing.get(p) {
                        out.entry(p.to_string()).or_insert_with(|| d.clone());
                    }
                    parent = p;
                }
            }
        }
        out
    }
}

fn ancestor_excluded(exclude: &GlobSet, name: &str) -> bool {
    let mut parent = name;
    while let Some((p, _)) = parent.rsplit_once('/') {
        if exclude.is_match(p) {
            return true;
        }
        parent = p;
    }
    false
}

fn build(patterns: &[String]) -> Result<GlobSet, RemoteError> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        let trimmed = p.trim_end_matches('/');
        let trimmed = trimmed.strip_prefix("./").unwrap_or(trimmed);
        for pat in [trimmed.to_string(), format!("{trimmed}/**")] {
            let g = Glob::new(&pat).map_err(|e| RemoteError::BadGlob {
                pattern: p.clone(),
                problem: e.kind().to_string(),
            })?;
            b.add(g);
        }
    }
    b.build().map_err(|e| RemoteError::BadGlob {
        pattern: patterns.join(" "),
        problem: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, kind: Kind) -> (String, Entry) {
        (
            name.to_string(),
            Entry {
                name: name.to_string(),
                kind,
                size: 1,
                mtime: 0,
                mode: 0o644,
            },
        )
    }

    fn listing() -> Listing {
        [
            entry("logs", Kind::Dir),
            entry("logs/a.csv", Kind::File),
            entry("logs/deep", Kind::Dir),
            entry("logs/deep/b.csv", Kind::File),
            entry("logs/x.tmp", Kind::File),
            entry("instances", Kind::Dir),
            entry("instances/1.bin", Kind::File),
            entry("cache", Kind::Dir),
            entry("cache/c", Kind::File),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn include_and_exclude() {
        let f = Filter::new(&["logs/**".into()], &["*.tmp".into()]).expect("globs");
        let got: Vec<String> = f.apply(&listing()).into_keys().collect();
        assert_eq!(
            got,
            vec!["logs", "logs/a.csv", "logs/deep", "logs/deep/b.csv"]
        );
        let f = Filter::new(&[], &["cache".into()]).expect("globs");
        let got = f.apply(&listing());
        assert!(!got.contains_key("cache") && !got.contains_key("cache/c"));
        assert!(got.contains_key("instances/1.bin"));
    }

    #[test]
    fn find_output() {
        let out = b"f\x0012\x001700000000.5\x00644\x00a b/\xc3\xbc.txt\x00\x00d\x004096\x001700000000.0\x00755\x00a b\x00\x00";
        let l = parse_find("h", out, true).expect("parses");
        assert_eq!(l["a b/ü.txt"].size, 12);
        assert_eq!(l["a b/ü.txt"].mtime, 1_700_000_000);
        assert_eq!(l["a b"].kind, Kind::Dir);
        let evil = b"f\x001\x001.0\x00644\x00../../etc/x\x00\x00";
        assert!(matches!(
            parse_find("h", evil, true),
            Err(RemoteError::UnsafePath { .. })
        ));
        let abs = b"f\x001\x001.0\x00644\x00/etc/x\x00\x00";
        assert!(parse_find("h", abs, true).is_err());
        let link = b"l\x000\x001.0\x00777\x00l\x00/etc\x00";
        assert!(parse_find("h", link, true).is_err());
        assert!(parse_find("h", link, false).is_ok());
    }
}
