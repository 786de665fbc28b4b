//! Records the commit date and revision of the source tree: `sys/seal-status` reports the
//! date as `commit_date`, as OpenBao does, and `mainkey_build_info` the revision. Outside a
//! git checkout they fall back to the Unix epoch and "unknown".

use std::process::Command;

/// The last commit's `format`, or `None` outside a git checkout.
fn last_commit(format: &str) -> Option<String> {
    Command::new("git")
        .args([
            "log",
            "-1",
            &format!("--format={format}"),
            "--date=format-local:%Y-%m-%dT%H:%M:%SZ",
        ])
        .env("TZ", "UTC")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn main() {
    let date = last_commit("%cd").unwrap_or_else(|| "1970-01-01T00:00:00Z".to_string());
    let revision = last_commit("%h").unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=MAINKEY_COMMIT_DATE={date}");
    println!("cargo:rustc-env=MAINKEY_REVISION={revision}");
    println!("cargo:rerun-if-changed=.git/HEAD");
    // A commit on the checked-out branch moves the branch's ref, not HEAD.
    if let Some(branch) = std::fs::read_to_string(".git/HEAD")
        .ok()
        .and_then(|head| head.strip_prefix("ref: ").map(|r| r.trim().to_string()))
        .filter(|branch| std::path::Path::new(".git").join(branch).is_file())
    {
        println!("cargo:rerun-if-changed=.git/{branch}");
    }
}
