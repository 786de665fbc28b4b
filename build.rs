//! Records the commit date of the source tree, which `sys/seal-status` reports as
//! `commit_date` as OpenBao does. Outside a git checkout it falls back to the Unix epoch.

use std::process::Command;

fn main() {
    let date = Command::new("git")
        .args([
            "log",
            "-1",
            "--format=%cd",
            "--date=format-local:%Y-%m-%dT%H:%M:%SZ",
        ])
        .env("TZ", "UTC")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_string());
    println!("cargo:rustc-env=MAINKEY_COMMIT_DATE={date}");
    println!("cargo:rerun-if-changed=.git/HEAD");
}
