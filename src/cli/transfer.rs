//! `ludus upload` and `ludus download`: argument parsing and the summary line or JSON.

use std::path::PathBuf;
use std::process::ExitCode;

use super::args::SshArgs;
use super::terminal::{CliProgress, TtyPrompt, human_bytes};
use crate::remote::{self, Direction, Progress, RemoteSpec, Summary, TransferOptions};

const UPLOAD_HELP: &str = "\
Examples:
  ludus upload instances/quick mycluster:/scratch/me/quick
  ludus upload instances/quick me@login.example.org:2222:quick --exclude '*.tmp' --dry-run

HOST is user@host, user@host:port or a Host alias of ~/.ssh/config ($HOME/.ssh/config).
Files whose size and modification time already match are not sent again (--checksum compares
content instead); an interrupted upload resumes. Exit codes: 0 success, 2 error.";

const DOWNLOAD_HELP: &str = "\
Examples:
  ludus download mycluster:/scratch/me/quick logs/quick --include 'logs/**'
  ludus download mycluster:/scratch/me/quick results --json

Names that would land outside LOCAL_DIR (`..`, absolute paths, symlinks leading out) are
refused. Exit codes: 0 success, 2 error.";

/// Options shared by both directions.
#[derive(clap::Args, Debug)]
pub struct CommonArgs {
    /// Only transfer names matching this glob (relative to the directory; repeatable).
    #[arg(long, value_name = "GLOB")]
    include: Vec<String>,
    /// Skip names matching this glob (repeatable; wins over --include).
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<String>,
    /// Compare files by SHA-256 of their content instead of size and modification time.
    #[arg(long)]
    checksum: bool,
    /// Show what would be transferred; change nothing.
    #[arg(long, short = 'n')]
    dry_run: bool,
    /// Delete names on the receiving side that the sending side lacks (never by default).
    #[arg(long)]
    delete: bool,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Transfer file by file over SFTP even when the remote has tar.
    #[arg(long)]
    sftp: bool,
    #[command(flatten)]
    ssh: SshArgs,
}

/// Arguments of `ludus upload`.
#[derive(clap::Args, Debug)]
#[command(after_help = UPLOAD_HELP)]
pub struct UploadArgs {
    /// The local directory to send.
    local_dir: PathBuf,
    /// Where to put it: HOST:REMOTE_DIR.
    #[arg(value_name = "HOST:REMOTE_DIR")]
    remote: String,
    #[command(flatten)]
    common: CommonArgs,
}

/// Arguments of `ludus download`.
#[derive(clap::Args, Debug)]
#[command(after_help = DOWNLOAD_HELP)]
pub struct DownloadArgs {
    /// The remote directory to fetch: HOST:REMOTE_DIR.
    #[arg(value_name = "HOST:REMOTE_DIR")]
    remote: String,
    /// Where to put it locally (created if missing).
    local_dir: PathBuf,
    #[command(flatten)]
    common: CommonArgs,
}

/// Runs `ludus upload`.
pub fn run_upload(args: UploadArgs, _ctx: &super::Context) -> anyhow::Result<ExitCode> {
    let spec = RemoteSpec::parse(&args.remote)?;
    let opts = options(&args.common);
    let mut progress = CliProgress::new("upload");
    let result = remote::upload(&args.local_dir, &spec, &opts, &mut progress, &mut TtyPrompt);
    progress.finish();
    report(result?, &spec, &args.common)
}

/// Runs `ludus download`.
pub fn run_download(args: DownloadArgs, _ctx: &super::Context) -> anyhow::Result<ExitCode> {
    let spec = RemoteSpec::parse(&args.remote)?;
    let opts = options(&args.common);
    let mut progress = CliProgress::new("download");
    let result = remote::download(&spec, &args.local_dir, &opts, &mut progress, &mut TtyPrompt);
    progress.finish();
    report(result?, &spec, &args.common)
}

fn options(c: &CommonArgs) -> TransferOptions {
    TransferOptions {
        connect: c.ssh.options(),
        include: c.include.clone(),
        exclude: c.exclude.clone(),
        checksum: c.checksum,
        dry_run: c.dry_run,
        delete: c.delete,
        force_sftp: c.sftp,
    }
}

fn report(s: Summary, spec: &RemoteSpec, c: &CommonArgs) -> anyhow::Result<ExitCode> {
    let line = summary_line(&s, spec);
    if c.json {
        eprintln!("{line}");
        println!("{}", serde_json::to_string(&s)?);
    } else {
        println!("{line}");
    }
    Ok(ExitCode::from(super::EXIT_OK))
}

/// The one human line every transfer ends with.
pub fn summary_line(s: &Summary, spec: &RemoteSpec) -> String {
    let (verb, arrow) = match s.direction {
        Direction::Upload => (
            "upload",
            format!(
                "{} -> {}:{}",
                s.local_dir,
                spec.display_host(),
                s.remote_dir
            ),
        ),
        Direction::Download => (
            "download",
            format!(
                "{}:{} -> {}",
                spec.display_host(),
                s.remote_dir,
                s.local_dir
            ),
        ),
    };
    let dry = if s.dry_run {
        " (dry run: nothing changed)"
    } else {
        ""
    };
    if s.files_sent == 0 && s.files_resumed == 0 && s.dirs_created == 0 && s.deleted == 0 {
        return format!(
            "{verb} {arrow}: nothing to transfer, all {} files already match ({:.2} s){dry}",
            s.files_skipped, s.seconds
        );
    }
    let sent_word = match (s.dry_run, s.direction) {
        (true, _) => "to transfer",
        (false, Direction::Upload) => "sent",
        (false, Direction::Download) => "received",
    };
    let mut line = format!(
        "{verb} {arrow}: {} files {sent_word} ({}), {} skipped",
        s.files_sent,
        human_bytes(s.bytes_sent),
        s.files_skipped
    );
    if s.files_resumed > 0 {
        line.push_str(&format!(", {} resumed", s.files_resumed));
    }
    if s.dirs_created > 0 {
        line.push_str(&format!(", {} directories created", s.dirs_created));
    }
    if s.deleted > 0 {
        line.push_str(&format!(", {} deleted", s.deleted));
    }
    line.push_str(&format!(" in {:.2} s via {}{dry}", s.seconds, s.method));
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(sent: u64, skipped: u64) -> Summary {
        Summary {
            direction: Direction::Upload,
            host: "me@login:22".to_string(),
            remote_dir: "/scratch/me/quick".to_string(),
            local_dir: "instances/quick".to_string(),
            method: "tar",
            files_sent: sent,
            files_skipped: skipped,
            files_resumed: 0,
            dirs_created: 0,
            deleted: 0,
            bytes_sent: 3_565_158,
            seconds: 1.234,
            dry_run: false,
        }
    }

    #[test]
    fn summary_lines() {
        let spec = RemoteSpec::parse("mycluster:/scratch/me/quick").expect("spec");
        assert_eq!(
            summary_line(&summary(120, 5), &spec),
            "upload instances/quick -> mycluster:/scratch/me/quick: 120 files sent (3.4 MiB), 5 skipped in 1.23 s via tar"
        );
        assert_eq!(
            summary_line(&summary(0, 125), &spec),
            "upload instances/quick -> mycluster:/scratch/me/quick: nothing to transfer, all 125 files already match (1.23 s)"
        );
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(5 * 1024 * 1024), "5.0 MiB");
    }
}
