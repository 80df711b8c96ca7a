//! Building and comparing directory trees for the transfer tests.

#![allow(dead_code, reason = "each test file uses a different subset")]

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

/// What a tree snapshot records per name.
pub type Snapshot = BTreeMap<String, (char, Vec<u8>, u32, i64)>;

/// name -> (kind, content, mode, mtime) for every entry under `root`, `.ludus*` names included.
pub fn snapshot(root: &Path) -> Snapshot {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(root).min_depth(1) {
        let e = e.expect("walk");
        let rel = e
            .path()
            .strip_prefix(root)
            .expect("prefix")
            .to_string_lossy()
            .into_owned();
        let m = e.path().symlink_metadata().expect("meta");
        let (kind, content, mtime) = if m.is_dir() {
            ('d', Vec::new(), 0)
        } else if m.file_type().is_symlink() {
            (
                'l',
                std::fs::read_link(e.path())
                    .expect("link")
                    .to_string_lossy()
                    .as_bytes()
                    .to_vec(),
                0,
            )
        } else {
            ('f', std::fs::read(e.path()).expect("read"), m.mtime())
        };
        out.insert(rel, (kind, content, m.mode() & 0o777, mtime));
    }
    out
}

pub fn set_mtime(p: &Path, secs: u64) {
    let t = std::time::UNIX_EPOCH + Duration::from_secs(secs);
    std::fs::File::options()
        .write(true)
        .open(p)
        .expect("open")
        .set_modified(t)
        .expect("set mtime");
}

pub fn write(root: &Path, name: &str, data: &[u8]) {
    let p = root.join(name);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(&p, data).expect("write");
}

/// A tree with nested dirs, an empty dir, an empty file, a 5 MB binary, unicode and spaces,
/// and several permission modes.
pub fn make_tree(root: &Path) {
    write(root, "nested/a/b/c.txt", b"hello");
    std::fs::create_dir_all(root.join("empty_dir")).expect("empty dir");
    write(root, "empty_file", b"");
    let mut x: u64 = 0x2545F4914F6CDD1D;
    let big: Vec<u8> = (0..5_000_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    write(root, "big.bin", &big);
    write(
        root,
        "ünïcödé dir/file with space.txt",
        "grüße\n".as_bytes(),
    );
    write(root, "script.sh", b"#!/bin/sh\necho hi\n");
    std::fs::set_permissions(
        root.join("script.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
    write(root, "secret", b"s");
    std::fs::set_permissions(root.join("secret"), std::fs::Permissions::from_mode(0o600))
        .expect("chmod");
    set_mtime(&root.join("nested/a/b/c.txt"), 1_000_000_000);
}

pub fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("bad JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

pub fn files_only(s: Snapshot) -> Snapshot {
    // Directory modes may differ (umask); compare them separately where it matters.
    s.into_iter()
        .map(|(k, (t, c, m, mt))| {
            if t == 'd' {
                (k, (t, c, 0, 0))
            } else {
                (k, (t, c, m, mt))
            }
        })
        .collect()
}

/// Plants an executable `#!/bin/sh` script named `name` in `dir`.
pub fn fake_tool(dir: &Path, name: &str, script: &str) {
    std::fs::create_dir_all(dir).expect("bin dir");
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{script}")).expect("write tool");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}
