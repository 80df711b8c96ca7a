//! Transfers that try to write outside their target, against a real sshd on 127.0.0.1, over
//! the tar stream and over SFTP: symlinks that only escape once resolved through other links
//! (received in the same download or in an earlier one), a tar stream that sends a symlink
//! where the listing had a file, a staging path or temporary name planted as a symlink by
//! another user of a shared folder (before the transfer, or while it runs), and legal file
//! names too long for a naive temporary name. Every attack must leave the folder around the
//! target exactly as it was.

use std::os::unix::fs::symlink;
use std::path::Path;

use crate::support::sshd::{Sshd, SshdOptions};
use crate::support::tree::{Snapshot, fake_tool, files_only, json, set_mtime, snapshot, write};

/// The snapshot of `parent` without what lies under `target` (its child named `target`).
fn around(parent: &Path, target: &str) -> Snapshot {
    snapshot(parent)
        .into_iter()
        .filter(|(k, _)| k != target && !k.starts_with(&format!("{target}/")))
        .collect()
}

/// Panics if a symlink under `root` resolves to a path outside it.
fn links_stay_inside(root: &Path) {
    if !root.exists() {
        return;
    }
    let real_root = std::fs::canonicalize(root).expect("canonical root");
    for e in walkdir::WalkDir::new(root).min_depth(1) {
        let e = e.expect("walk");
        if e.path_is_symlink()
            && let Ok(real) = std::fs::canonicalize(e.path())
        {
            assert!(
                real.starts_with(&real_root),
                "{} leads outside the target, to {}",
                e.path().display(),
                real.display()
            );
        }
    }
}

fn download(sshd: &Sshd, remote: &Path, local: &Path, sftp: bool) -> (i32, String) {
    let mut cmd = sshd.ludus();
    cmd.arg("download");
    if sftp {
        cmd.arg("--sftp");
    }
    let out = cmd
        .arg(sshd.target(remote))
        .arg(local)
        .output()
        .expect("run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn upload(sshd: &Sshd, local: &Path, remote: &Path, sftp: bool) -> (i32, String) {
    let mut cmd = sshd.ludus();
    cmd.arg("upload");
    if sftp {
        cmd.arg("--sftp");
    }
    let out = cmd
        .arg(local)
        .arg(sshd.target(remote))
        .output()
        .expect("run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn download_refuses_links_that_escape_through_other_links() {
    let sshd = Sshd::start();
    for sftp in [false, true] {
        let how = if sftp { "sftp" } else { "tar" };
        // `self -> .` then `logs -> self/self/../escaped`: each harmless as text, yet on disk
        // the `..` climbs out of the target.
        let remote = sshd.remote_dir(&format!("chain-{how}"));
        write(&remote, "data.csv", b"1,2\n");
        symlink(".", remote.join("self")).expect("link");
        symlink("self/self/../escaped", remote.join("logs")).expect("link");
        let parent = sshd.dir.path().join(format!("local-{how}"));
        std::fs::create_dir_all(&parent).expect("parent");
        write(&parent, "keep.txt", b"mine");
        let before = around(&parent, "target");
        let (code, err) = download(&sshd, &remote, &parent.join("target"), sftp);
        assert_eq!(code, 2, "{how}: escaping link accepted: {err}");
        assert!(
            err.contains("refusing") && err.contains("logs -> self/self/../escaped"),
            "{how}: {err}"
        );
        assert_eq!(around(&parent, "target"), before, "{how}: wrote outside");
        links_stay_inside(&parent.join("target"));
        assert!(!parent.join("escaped").exists());
    }
}

#[test]
fn download_refuses_a_link_that_makes_an_earlier_one_escape() {
    let sshd = Sshd::start();
    for sftp in [false, true] {
        let how = if sftp { "sftp" } else { "tar" };
        // First download: `up -> sub/..` is the target itself, fine.
        let remote = sshd.remote_dir(&format!("later-{how}"));
        write(&remote, "data.csv", b"1");
        symlink("sub/..", remote.join("up")).expect("link");
        let parent = sshd.dir.path().join(format!("local-{how}"));
        let target = parent.join("target");
        std::fs::create_dir_all(&parent).expect("parent");
        let (code, err) = download(&sshd, &remote, &target, sftp);
        assert_eq!(code, 0, "{how}: {err}");
        links_stay_inside(&target);
        // Second download adds `sub -> .`: now `up` would be the target's parent.
        symlink(".", remote.join("sub")).expect("link");
        let before = around(&parent, "target");
        let (code, err) = download(&sshd, &remote, &target, sftp);
        assert_eq!(code, 2, "{how}: link accepted: {err}");
        assert!(err.contains("refusing"), "{how}: {err}");
        assert_eq!(around(&parent, "target"), before, "{how}");
        links_stay_inside(&target);
    }
}

#[test]
fn download_refuses_a_tar_entry_other_than_the_listed_one() {
    let bin = tempfile::tempdir().expect("bin");
    let listing = bin.path().join("listing");
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
    let remote = sshd.remote_dir("swap");
    write(&remote, "x", b"x");
    // The listing says: `self -> .` and a file `x`; the stream then sends `x` as a symlink that
    // escapes through `self`.
    std::fs::write(
        &listing,
        "l\x000\x001700000000.0\x00777\x00self\x00.\x00f\x001\x001700000000.0\x00644\x00x\x00\x00",
    )
    .expect("listing");
    let mut evil = Vec::new();
    {
        let mut b = tar::Builder::new(&mut evil);
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        b.append_link(&mut h, "./self", ".").expect("self");
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        b.append_link(&mut h, "./x", "self/../escaped").expect("x");
        b.finish().expect("finish");
    }
    let tar_file = bin.path().join("evil.tar");
    std::fs::write(&tar_file, &evil).expect("tar");
    fake_tool(bin.path(), "tar", &format!("cat {}\n", tar_file.display()));
    let parent = sshd.dir.path().join("local");
    std::fs::create_dir_all(&parent).expect("parent");
    let before = around(&parent, "target");
    let (code, err) = download(&sshd, &remote, &parent.join("target"), false);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("refusing") && err.contains("listing had a file"),
        "{err}"
    );
    assert_eq!(around(&parent, "target"), before);
    links_stay_inside(&parent.join("target"));
}

#[test]
fn upload_never_writes_through_a_planted_staging_link() {
    let sshd = Sshd::start();
    let shared = sshd.remote_dir("shared");
    let victim = shared.join("victim");
    write(&victim, "f", b"victim's own f");
    write(&victim, "secret", b"not yours");
    let dst = shared.join("project");
    write(&dst, "keep", b"k");
    // Another user of the shared folder plants the staging path as a link to their files.
    symlink("../victim", dst.join(".ludus-partial")).expect("plant");
    let src = sshd.dir.path().join("src");
    write(&src, "f", b"new f");
    write(&src, "logs/a.csv", b"1");
    let before = snapshot(&victim);
    let (code, err) = upload(&sshd, &src, &dst, false);
    assert_eq!(snapshot(&victim), before, "the victim's files changed");
    assert!(
        !dst.join("secret").exists(),
        "an outside file was linked in"
    );
    assert_eq!(code, 2, "planted staging link accepted: {err}");
    assert!(
        err.contains("refusing") && err.contains(".ludus-partial"),
        "{err}"
    );
    assert!(
        std::fs::symlink_metadata(dst.join(".ludus-partial"))
            .expect("still there")
            .file_type()
            .is_symlink(),
        "ludus does not remove what it did not create"
    );
}

#[test]
fn upload_refuses_a_staging_link_planted_while_it_runs() {
    // A `mkdir` that plants the link just before the remote script creates its staging
    // directory, as a racing user would.
    let bin = tempfile::tempdir().expect("bin");
    let sshd_dir = tempfile::tempdir().expect("shared");
    let shared = sshd_dir.path().join("shared");
    let victim = shared.join("victim");
    write(&victim, "f", b"victim's own f");
    write(&victim, "secret", b"not yours");
    let dst = shared.join("project");
    write(&dst, "keep", b"k");
    let flag = bin.path().join("planted");
    fake_tool(
        bin.path(),
        "mkdir",
        &format!(
            "if [ ! -e {flag} ]; then : > {flag}; ln -s ../victim {dst}/.ludus-partial; fi\nexec /bin/mkdir \"$@\"\n",
            flag = flag.display(),
            dst = dst.display()
        ),
    );
    let sshd = Sshd::start_with(SshdOptions {
        path: Some(format!("{}:/usr/bin:/bin", bin.path().display())),
        ..Default::default()
    });
    let src = sshd.dir.path().join("src");
    write(&src, "f", b"new f");
    write(&src, "logs/a.csv", b"1");
    let before = snapshot(&victim);
    let (code, err) = upload(&sshd, &src, &dst, false);
    assert!(flag.exists(), "the race was not staged");
    assert_eq!(snapshot(&victim), before, "the victim's files changed");
    assert!(
        !dst.join("secret").exists(),
        "an outside file was linked in"
    );
    assert_eq!(code, 2, "planted staging link followed: {err}");
    assert!(err.contains(".ludus-partial"), "{err}");
}

#[test]
fn sftp_upload_replaces_a_planted_temporary_link() {
    let sshd = Sshd::start();
    let shared = sshd.remote_dir("shared");
    let victim = shared.join("victim");
    write(&victim, "f", b"victim's own f");
    let dst = shared.join("project");
    write(&dst, "keep", b"k");
    std::fs::create_dir_all(dst.join("logs")).expect("logs");
    symlink("../victim/f", dst.join(".f.ludus-part")).expect("plant");
    symlink("../../victim/f", dst.join("logs/.a.csv.ludus-part")).expect("plant");
    let src = sshd.dir.path().join("src");
    write(&src, "f", b"new f");
    write(&src, "logs/a.csv", b"1");
    let before = snapshot(&victim);
    let (code, err) = upload(&sshd, &src, &dst, true);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        snapshot(&victim),
        before,
        "written through the planted link"
    );
    assert_eq!(std::fs::read(dst.join("f")).expect("f"), b"new f");
    assert_eq!(std::fs::read(dst.join("logs/a.csv")).expect("a"), b"1");
    assert!(!dst.join(".f.ludus-part").exists());
}

#[test]
fn a_250_byte_file_name_transfers_both_ways() {
    let sshd = Sshd::start();
    let long = format!("{}.csv", "n".repeat(246));
    assert_eq!(long.len(), 250);
    let src = sshd.dir.path().join("src");
    write(&src, &long, b"top");
    write(&src, &format!("logs/{long}"), b"nested");
    for sftp in [false, true] {
        let how = if sftp { "sftp" } else { "tar" };
        let remote = sshd.remote_dir(how);
        let (code, err) = upload(&sshd, &src, &remote, sftp);
        assert_eq!(code, 0, "{how} upload: {err}");
        let back = sshd.dir.path().join(format!("back-{how}"));
        let (code, err) = download(&sshd, &remote, &back, sftp);
        assert_eq!(code, 0, "{how} download: {err}");
        assert_eq!(
            files_only(snapshot(&src)),
            files_only(snapshot(&back)),
            "{how}"
        );
        // An interrupted run's temporary file of the same name is replaced, not left.
        write(&src, &long, b"changed");
        let (code, err) = upload(&sshd, &src, &remote, sftp);
        assert_eq!(code, 0, "{how}: {err}");
        let (code, err) = download(&sshd, &remote, &back, sftp);
        assert_eq!(code, 0, "{how}: {err}");
        assert_eq!(std::fs::read(back.join(&long)).expect("read"), b"changed");
        assert_eq!(
            std::fs::read_dir(&back).expect("ls").count(),
            2,
            "{how}: a temporary file was left"
        );
        write(&src, &long, b"top");
    }
}

#[test]
fn a_write_error_names_the_real_file() {
    let sshd = Sshd::start();
    let remote = sshd.remote_dir("r");
    write(&remote, "result.csv", b"1");
    let target = sshd.dir.path().join("target");
    // Where the temporary file would go, something that cannot be removed as a file.
    write(&target, ".result.csv.ludus-part/x", b"");
    for sftp in [false, true] {
        let (code, err) = download(&sshd, &remote, &target, sftp);
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains(&target.join("result.csv").display().to_string()),
            "{err}"
        );
        assert!(
            !err.contains("ludus-part"),
            "names the temporary file: {err}"
        );
    }
}

#[test]
fn upload_delete_never_removes_through_a_link_planted_while_it_runs() {
    // An `xargs` that swaps a directory about to be emptied for a link to someone else's files,
    // just before `--delete` removes its contents.
    let bin = tempfile::tempdir().expect("bin");
    let shared_dir = tempfile::tempdir().expect("shared");
    let shared = shared_dir.path().join("shared");
    let victim = shared.join("victim");
    write(&victim, "x", b"victim's x");
    let dst = shared.join("project");
    write(&dst, "old/x", b"stale");
    let flag = bin.path().join("planted");
    fake_tool(
        bin.path(),
        "xargs",
        &format!(
            "case \"$*\" in *rm*) if [ ! -e {flag} ]; then : > {flag}; mv {dst}/old {dst}/.moved; ln -s ../victim {dst}/old; fi;; esac\nexec /usr/bin/xargs \"$@\"\n",
            flag = flag.display(),
            dst = dst.display()
        ),
    );
    let sshd = Sshd::start_with(SshdOptions {
        path: Some(format!("{}:/usr/bin:/bin", bin.path().display())),
        ..Default::default()
    });
    let src = sshd.dir.path().join("src");
    write(&src, "f", b"new f");
    let before = snapshot(&victim);
    let out = sshd
        .ludus()
        .args(["upload", "--delete"])
        .arg(&src)
        .arg(sshd.target(&dst))
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(flag.exists(), "the race was not staged: {err}");
    assert_eq!(
        snapshot(&victim),
        before,
        "deleted through the planted link"
    );
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("not a real directory"), "{err}");
}

#[test]
fn upload_refuses_a_remote_folder_that_is_another_users_symlink() {
    let sshd = Sshd::start();
    let shared = sshd.remote_dir("shared");
    let victim = shared.join("victim");
    write(&victim, "f", b"victim's own f");
    // Another user (here `nobody`) makes the folder we are about to upload into a link to
    // files we can write.
    let dst = shared.join("run");
    symlink("victim", &dst).expect("plant");
    std::os::unix::fs::lchown(&dst, Some(65534), Some(65534)).expect("chown the link");
    let src = sshd.dir.path().join("src");
    write(&src, "f", b"new f");
    for sftp in [false, true] {
        let before = snapshot(&victim);
        let (code, err) = upload(&sshd, &src, &dst.join("sub"), sftp);
        assert_eq!(snapshot(&victim), before, "uploaded through the link");
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains("refusing") && err.contains("owned by another user"),
            "{err}"
        );
    }
}

#[test]
fn upload_does_not_resume_from_a_staging_dir_others_can_write() {
    use std::os::unix::fs::PermissionsExt;
    let sshd = Sshd::start();
    let dst = sshd.remote_dir("project");
    let src = sshd.dir.path().join("src");
    write(&src, "f", b"good!");
    set_mtime(&src.join("f"), 1_000_000_000);
    // A staging directory anyone can write into, holding a file of the same size and time as
    // ours (which an interrupted upload would have left), but someone else's content.
    let staging = dst.join(".ludus-partial");
    write(&staging, "f", b"evil!");
    set_mtime(&staging.join("f"), 1_000_000_000);
    std::fs::set_permissions(&staging, std::fs::Permissions::from_mode(0o777)).expect("chmod");
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
    assert_eq!(std::fs::read(dst.join("f")).expect("f"), b"good!");
    assert_eq!(json(&out)["files_resumed"], 0);
    assert!(!staging.exists());
}
