//! Interrupted transfers against a real OpenSSH server on 127.0.0.1: the client is killed
//! mid-transfer, no half file ever shows under its real name, and the next run finishes the
//! job without sending again what already arrived.

use std::time::{Duration, Instant};

use crate::support::sshd::Sshd;
use crate::support::tree::{files_only, json, snapshot, write};

#[test]
fn resume_after_client_killed() {
    let sshd = Sshd::start();
    let src = sshd.dir.path().join("src");
    let chunk: Vec<u8> = (0..2 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    for i in 0..16 {
        write(&src, &format!("part{i:02}.bin"), &chunk);
    }
    let dst = sshd.remote_dir("big");
    let staging = dst.join(".ludus-partial");
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("ludus"));
    cmd.env("HOME", &sshd.home)
        .env_remove("SSH_AUTH_SOCK")
        .arg("upload")
        .arg(&src)
        .arg(sshd.target(&dst));
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().expect("spawn");
    let t0 = Instant::now();
    loop {
        let staged = std::fs::read_dir(&staging).map(|d| d.count()).unwrap_or(0);
        if staged >= 3 {
            break;
        }
        assert!(
            child.try_wait().expect("wait").is_none(),
            "upload finished before it could be interrupted"
        );
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "upload never started"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().expect("kill");
    child.wait().expect("reap");
    // Nothing is visible under its real name yet: every file is still staged.
    let visible: Vec<String> = std::fs::read_dir(&dst)
        .expect("dst")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        visible,
        vec![".ludus-partial"],
        "half-installed files visible"
    );

    let out = sshd
        .ludus()
        .args(["upload", "--json"])
        .arg(&src)
        .arg(sshd.target(&dst))
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j = json(&out);
    let resumed = j["files_resumed"].as_u64().expect("resumed");
    assert!(resumed >= 2, "expected staged files to be reused: {j}");
    assert_eq!(j["files_sent"].as_u64().expect("sent") + resumed, 16);
    assert!(!staging.exists(), "staging left behind");
    assert_eq!(files_only(snapshot(&src)), files_only(snapshot(&dst)));
}

#[test]
fn download_resumes_after_client_killed() {
    let sshd = Sshd::start();
    let remote = sshd.remote_dir("results");
    let chunk: Vec<u8> = (0..2 * 1024 * 1024u32).map(|i| (i % 241) as u8).collect();
    for i in 0..16 {
        write(&remote, &format!("log{i:02}.bin"), &chunk);
    }
    let local = sshd.dir.path().join("local");
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("ludus"));
    cmd.env("HOME", &sshd.home)
        .env_remove("SSH_AUTH_SOCK")
        .arg("download")
        .arg(sshd.target(&remote))
        .arg(&local);
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().expect("spawn");
    let t0 = Instant::now();
    let complete = || {
        std::fs::read_dir(&local)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                    .count()
            })
            .unwrap_or(0)
    };
    while complete() < 3 {
        assert!(
            child.try_wait().expect("wait").is_none(),
            "download finished before it could be interrupted"
        );
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "download never started"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().expect("kill");
    child.wait().expect("reap");
    // Every file under its real name is complete; the one in flight is only a `.ludus-part`.
    for e in std::fs::read_dir(&local).expect("local") {
        let e = e.expect("entry");
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') {
            assert_eq!(
                e.metadata().expect("meta").len(),
                chunk.len() as u64,
                "{name} is a half file"
            );
        }
    }
    let out = sshd
        .ludus()
        .args(["download", "--json"])
        .arg(sshd.target(&remote))
        .arg(&local)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j = json(&out);
    assert!(
        j["files_skipped"].as_u64().expect("skipped") >= 3,
        "finished files must not be fetched again: {j}"
    );
    let names: Vec<String> = snapshot(&local).into_keys().collect();
    assert_eq!(names.len(), 16, "leftover temporary files: {names:?}");
    assert_eq!(files_only(snapshot(&remote)), files_only(snapshot(&local)));
}

#[test]
fn upload_resumes_a_half_sent_file_in_place() {
    let sshd = Sshd::start();
    let src = sshd.dir.path().join("src");
    let big: Vec<u8> = (0..32 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    write(&src, "checkpoint.bin", &big);
    let dst = sshd.remote_dir("ckpt");
    let staged = dst.join(".ludus-partial/checkpoint.bin");
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("ludus"));
    cmd.env("HOME", &sshd.home)
        .env_remove("SSH_AUTH_SOCK")
        .arg("upload")
        .arg(&src)
        .arg(sshd.target(&dst));
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().expect("spawn");
    let t0 = Instant::now();
    while std::fs::metadata(&staged).map(|m| m.len()).unwrap_or(0) < 4 << 20 {
        assert!(
            child.try_wait().expect("wait").is_none(),
            "upload finished before it could be interrupted"
        );
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "upload never started"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().expect("kill");
    child.wait().expect("reap");
    assert!(
        !dst.join("checkpoint.bin").exists(),
        "a half file is visible under its real name"
    );
    let staged_len = std::fs::metadata(&staged).expect("staged").len();
    let out = sshd
        .ludus()
        .args(["upload", "--json"])
        .arg(&src)
        .arg(sshd.target(&dst))
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j = json(&out);
    assert_eq!(j["files_resumed"], 1, "{j}");
    // The interrupted run's remote tar may still have written a little after the kill.
    let sent = j["bytes_sent"].as_u64().expect("bytes");
    assert!(
        sent <= big.len() as u64 - staged_len,
        "only the rest is sent: {j}"
    );
    assert_eq!(
        std::fs::read(dst.join("checkpoint.bin")).expect("installed"),
        big
    );
    assert_eq!(files_only(snapshot(&src)), files_only(snapshot(&dst)));
}
