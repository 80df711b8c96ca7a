//! `ludus upload` / `ludus download` against a real OpenSSH server on 127.0.0.1 (started per
//! test from `support/sshd.rs`): round trips, incremental runs, filters, dry run and delete,
//! host key checks, hostile listings, ssh config aliases and the SFTP fallback.

use std::ffi::OsStr;
use std::os::unix::fs::MetadataExt;
use std::process::Output;

use crate::support::sshd::{Sshd, SshdOptions};
use crate::support::tree::{fake_tool, files_only, json, make_tree, set_mtime, snapshot, write};

/// Runs `ludus ARGS... FROM TO` against `sshd` and checks its exit code (showing stderr when it
/// differs); returns the output.
#[track_caller]
fn ludus(
    sshd: &Sshd,
    args: &[&str],
    from: impl AsRef<OsStr>,
    to: impl AsRef<OsStr>,
    code: i32,
) -> Output {
    let out = sshd
        .ludus()
        .args(args)
        .arg(from)
        .arg(to)
        .output()
        .expect("ludus starts");
    assert_eq!(
        out.status.code(),
        Some(code),
        "ludus {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn round_trip_then_nothing_to_send() {
    let sshd = Sshd::start();
    let src = sshd.dir.path().join("src");
    make_tree(&src);
    let dst = sshd.remote_dir("run");
    let out = ludus(&sshd, &["upload", "--json"], &src, sshd.target(&dst), 0);
    let j = json(&out);
    assert_eq!(j["method"], "tar");
    assert_eq!(j["files_sent"], 6);
    assert_eq!(
        files_only(snapshot(&src)),
        files_only(snapshot(&dst)),
        "remote tree differs"
    );
    assert!(dst.join("empty_dir").is_dir());

    // Second identical upload: nothing sent, and it says so.
    let out = ludus(&sshd, &["upload"], &src, sshd.target(&dst), 0);
    let text = String::from_utf8_lossy(&out.stdout);
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.add_filter(&sshd.dir.path().display().to_string(), "[TMP]");
    settings.add_filter(&format!(":{}:", sshd.port), ":[PORT]:");
    settings.add_filter(&format!(r"\b{}@", sshd.user), "[USER]@");
    settings.add_filter(r"\(\d+\.\d+ s\)", "([DURATION])");
    settings.bind(|| insta::assert_snapshot!("upload_nothing_to_transfer", text));

    // Download back into a fresh directory: same tree.
    let back = sshd.dir.path().join("back");
    ludus(&sshd, &["download", "--json"], sshd.target(&dst), &back, 0);
    assert_eq!(
        files_only(snapshot(&src)),
        files_only(snapshot(&back)),
        "downloaded tree differs"
    );
    let out = ludus(&sshd, &["download", "--json"], sshd.target(&dst), &back, 0);
    assert_eq!(json(&out)["files_sent"], 0);

    // One touched file is the only one sent; --checksum catches a same-size, same-time edit.
    write(&src, "secret", b"t");
    set_mtime(
        &src.join("secret"),
        std::fs::metadata(dst.join("secret")).expect("meta").mtime() as u64,
    );
    let out = ludus(&sshd, &["upload", "--json"], &src, sshd.target(&dst), 0);
    assert_eq!(json(&out)["files_sent"], 0, "size and time match: skipped");
    let out = ludus(
        &sshd,
        &["upload", "--json", "--checksum"],
        &src,
        sshd.target(&dst),
        0,
    );
    assert_eq!(json(&out)["files_sent"], 1);
    assert_eq!(std::fs::read(dst.join("secret")).expect("read"), b"t");
}

#[test]
fn include_exclude_dry_run_and_delete() {
    let sshd = Sshd::start();
    let remote = sshd.remote_dir("exp");
    write(&remote, "logs/a.csv", b"a");
    write(&remote, "logs/deep/b.csv", b"b");
    write(&remote, "logs/x.tmp", b"x");
    write(&remote, "instances/1.bin", b"1");
    let local = sshd.dir.path().join("local");
    ludus(
        &sshd,
        &["download", "--include", "logs/**", "--exclude", "*.tmp"],
        sshd.target(&remote),
        &local,
        0,
    );
    let names: Vec<String> = snapshot(&local).into_keys().collect();
    assert_eq!(
        names,
        vec!["logs", "logs/a.csv", "logs/deep", "logs/deep/b.csv"]
    );

    // Upload back with an extra local file; --dry-run changes nothing.
    write(&local, "logs/new.csv", b"n");
    let before = snapshot(&remote);
    let out = ludus(
        &sshd,
        &["upload", "--dry-run", "--json"],
        &local,
        sshd.target(&remote),
        0,
    );
    assert_eq!(json(&out)["files_sent"], 1);
    assert_eq!(json(&out)["dry_run"], true);
    assert_eq!(before, snapshot(&remote), "dry run changed the remote");

    // Without --delete, nothing remote is deleted; with it (and the filter), only unmatched
    // names inside the filter go.
    std::fs::remove_file(local.join("logs/a.csv")).expect("rm");
    ludus(&sshd, &["upload"], &local, sshd.target(&remote), 0);
    assert!(remote.join("logs/a.csv").exists() && remote.join("logs/new.csv").exists());
    ludus(
        &sshd,
        &[
            "upload",
            "--delete",
            "--exclude",
            "*.tmp",
            "--include",
            "logs/**",
        ],
        &local,
        sshd.target(&remote),
        0,
    );
    assert!(!remote.join("logs/a.csv").exists());
    assert!(
        remote.join("logs/x.tmp").exists(),
        "excluded names are never deleted"
    );
    assert!(
        remote.join("instances/1.bin").exists(),
        "names outside --include are never deleted"
    );
}

#[test]
fn unknown_host_key_refused_then_accepted() {
    let sshd = Sshd::start_with(SshdOptions {
        no_known_hosts: true,
        ..Default::default()
    });
    let src = sshd.dir.path().join("src");
    write(&src, "f", b"x");
    let dst = sshd.remote_dir("d");
    let out = ludus(&sshd, &["upload"], &src, sshd.target(&dst), 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not known")
            && err.contains("SHA256:")
            && err.contains("--accept-new-host-key"),
        "{err}"
    );
    assert!(!dst.exists(), "nothing may be sent to an unverified host");

    ludus(
        &sshd,
        &["upload", "--accept-new-host-key"],
        &src,
        sshd.target(&dst),
        0,
    );
    let kh = std::fs::read_to_string(sshd.known_hosts()).expect("known_hosts written");
    assert!(kh.contains(&sshd.known_hosts_line()), "{kh}");
    ludus(&sshd, &["upload"], &src, sshd.target(&dst), 0);
}

#[test]
fn changed_host_key_refused_even_with_accept() {
    let sshd = Sshd::start();
    let other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    std::fs::write(
        sshd.known_hosts(),
        format!("[127.0.0.1]:{} {other}\n", sshd.port),
    )
    .expect("known_hosts");
    let src = sshd.dir.path().join("src");
    write(&src, "f", b"x");
    let dst = sshd.remote_dir("d");
    let out = ludus(
        &sshd,
        &["upload", "--accept-new-host-key"],
        &src,
        sshd.target(&dst),
        2,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("HAS CHANGED") && err.contains("known_hosts:1"),
        "{err}"
    );
    assert!(!dst.exists());
    let kh = std::fs::read_to_string(sshd.known_hosts()).expect("known_hosts");
    assert_eq!(kh.lines().count(), 1, "known_hosts must not be touched");
}

#[test]
fn hashed_known_hosts_entry_and_config_alias() {
    let sshd = Sshd::start();
    let out = std::process::Command::new("ssh-keygen")
        .arg("-H")
        .arg("-f")
        .arg(sshd.known_hosts())
        .output()
        .expect("ssh-keygen -H");
    assert!(out.status.success());
    let kh = std::fs::read_to_string(sshd.known_hosts()).expect("kh");
    assert!(kh.starts_with("|1|"), "{kh}");
    // The user key lives outside the default place: only the config names it.
    let key = sshd.dir.path().join("cluster_key");
    std::fs::rename(sshd.home.join(".ssh/id_ed25519"), &key).expect("move key");
    std::fs::write(
        sshd.home.join(".ssh/config"),
        format!(
            "Host mycluster\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  IdentityFile {}\n",
            sshd.port,
            sshd.user,
            key.display()
        ),
    )
    .expect("config");
    let src = sshd.dir.path().join("src");
    write(&src, "f", b"x");
    let dst = sshd.remote_dir("alias");
    ludus(
        &sshd,
        &["upload"],
        &src,
        format!("mycluster:{}", dst.display()),
        0,
    );
    assert_eq!(std::fs::read(dst.join("f")).expect("uploaded"), b"x");

    // -F names another config file.
    let other = sshd.dir.path().join("other_config");
    std::fs::write(
        &other,
        format!(
            "Host other\n  HostName 127.0.0.1\n  Port {}\n  IdentityFile {}\n",
            sshd.port,
            key.display()
        ),
    )
    .expect("cfg");
    let back = sshd.dir.path().join("back");
    let config = other.display().to_string();
    ludus(
        &sshd,
        &["download", "-F", &config],
        format!("{}@other:{}", sshd.user, dst.display()),
        &back,
        0,
    );
    assert_eq!(std::fs::read(back.join("f")).expect("downloaded"), b"x");
}

#[test]
fn malicious_remote_names_refused() {
    let bin = tempfile::tempdir().expect("bin");
    let listing = bin.path().join("listing");
    // `find` answers the probe, then prints whatever listing the test planted.
    fake_tool(
        bin.path(),
        "find",
        &format!(
            "case \"$*\" in *maxdepth*) exit 0;; esac\ncat {}\n",
            listing.display()
        ),
    );
    let sshd = Sshd::start_with(SshdOptions {
        path: Some(format!("{}:/usr/bin:/bin", bin.path().display())),
        ..Default::default()
    });
    let remote = sshd.remote_dir("evil");
    write(&remote, "ok.txt", b"ok");
    let outside = sshd.dir.path().join("outside");
    std::fs::create_dir_all(&outside).expect("outside");
    let local = outside.join("target");
    for (evil, what) in [
        ("f\x001\x001700000000.0\x00644\x00../escape\x00\x00", "`..`"),
        (
            "f\x001\x001700000000.0\x00644\x00/tmp/ludus-escape\x00\x00",
            "absolute",
        ),
        (
            "l\x000\x001700000000.0\x00777\x00link\x00../../..\x00",
            "symlink",
        ),
    ] {
        std::fs::write(
            &listing,
            format!("f\x002\x001700000000.0\x00644\x00ok.txt\x00\x00{evil}"),
        )
        .expect("listing");
        let out = ludus(&sshd, &["download"], sshd.target(&remote), &local, 2);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("refusing"), "{what}: {err}");
        assert_eq!(
            std::fs::read_dir(&outside).expect("outside").count(),
            0,
            "{what}: something was written"
        );
    }

    // An honest listing, but a tar stream whose entry climbs out of the target.
    std::fs::write(&listing, "f\x001\x001700000000.0\x00644\x00escape\x00\x00").expect("listing");
    let mut evil_tar = Vec::new();
    {
        let mut b = tar::Builder::new(&mut evil_tar);
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..9].copy_from_slice(b"../escape");
        h.set_size(1);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, &b"x"[..]).expect("append");
        b.finish().expect("finish");
    }
    let tar_file = bin.path().join("evil.tar");
    std::fs::write(&tar_file, &evil_tar).expect("tar");
    fake_tool(bin.path(), "tar", &format!("cat {}\n", tar_file.display()));
    let out = ludus(&sshd, &["download"], sshd.target(&remote), &local, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing") && err.contains("../escape"),
        "{err}"
    );
    assert!(!outside.join("escape").exists());
}

#[test]
fn falls_back_to_sftp_without_tar() {
    let empty = tempfile::tempdir().expect("empty PATH dir");
    let sshd = Sshd::start_with(SshdOptions {
        path: Some(empty.path().display().to_string()),
        ..Default::default()
    });
    let src = sshd.dir.path().join("src");
    make_tree(&src);
    std::os::unix::fs::symlink("nested/a", src.join("link")).expect("symlink");
    let dst = sshd.remote_dir("sftp");
    let out = ludus(&sshd, &["upload", "--json"], &src, sshd.target(&dst), 0);
    assert_eq!(json(&out)["method"], "sftp");
    assert_eq!(files_only(snapshot(&src)), files_only(snapshot(&dst)));
    let out = ludus(&sshd, &["upload", "--json"], &src, sshd.target(&dst), 0);
    assert_eq!(json(&out)["files_sent"], 0);
    let back = sshd.dir.path().join("back");
    let out = ludus(&sshd, &["download", "--json"], sshd.target(&dst), &back, 0);
    assert_eq!(json(&out)["method"], "sftp");
    assert_eq!(files_only(snapshot(&src)), files_only(snapshot(&back)));
}

#[test]
fn passphrase_key_fails_clearly_in_batch() {
    let sshd = Sshd::start();
    let key = sshd.home.join(".ssh/id_ed25519");
    std::fs::remove_file(&key).expect("rm key");
    std::fs::remove_file(sshd.home.join(".ssh/id_ed25519.pub")).expect("rm pub");
    let out = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "secret words", "-f"])
        .arg(&key)
        .output()
        .expect("ssh-keygen");
    assert!(out.status.success());
    let authorized = sshd.dir.path().join("authorized_keys");
    std::fs::copy(sshd.home.join(".ssh/id_ed25519.pub"), &authorized).expect("authorize");
    let src = sshd.dir.path().join("src");
    write(&src, "f", b"x");
    let dst = sshd.remote_dir("d");
    // stdin is a pipe, not a terminal: nobody can be asked.
    let out = sshd
        .ludus()
        .arg("upload")
        .arg(&src)
        .arg(sshd.target(&dst))
        .write_stdin("")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("passphrase") && err.contains("ssh-add"),
        "{err}"
    );
}
