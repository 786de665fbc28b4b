//! What a bootstrap run tells: Terraform-like lines (`+ secrets/secret (kv-v2)`,
//! `~ policy/tenant-acme (rules)`, `= auth/approle` with `-verbose`) and a summary, or with
//! `-format=json` one report `{"created", "updated", "unchanged", "dry_run", ...}`.
//!
//! No secret is ever shown, with one exception the user asks for: a server initialised with
//! `-format=json` and no `-keys-file` has its keys in the report's `init`.

use std::path::Path;

use serde_json::{json, Value as Json};

use super::plan::{Change, Step};
use super::seal::{Initialised, Ready};
use super::spec::InitSpec;
use crate::cli::args::OutputFormat;
use crate::cli::output;

pub struct Report {
    format: OutputFormat,
    verbose: bool,
    dry_run: bool,
    /// The bootstrap file, as given.
    file: String,
    created: Vec<String>,
    updated: Vec<String>,
    unchanged: Vec<String>,
    /// Existing userpass users whose password was not compared.
    passwords_kept: Vec<String>,
    unsealed: bool,
}

impl Report {
    pub fn new(format: OutputFormat, verbose: bool, dry_run: bool, file: &Path) -> Self {
        Report {
            format,
            verbose,
            dry_run,
            file: file.display().to_string(),
            created: Vec::new(),
            updated: Vec::new(),
            unchanged: Vec::new(),
            passwords_kept: Vec::new(),
            unsealed: false,
        }
    }

    fn say(&self, line: &str) {
        if self.format == OutputFormat::Table {
            println!("{line}");
        }
    }

    /// The lines about init and unseal, before the items.
    pub fn ready(
        &mut self,
        ready: &Ready,
        initialised: Option<&Initialised>,
        keys_file: Option<&Path>,
    ) {
        if let Some(init) = initialised {
            let kind = if init.recovery {
                "recovery key shares"
            } else {
                "key shares"
            };
            let place = match &init.keys_file {
                Some(path) => format!(
                    "its unseal keys and root token are in {} (mode 0600)",
                    path.display()
                ),
                None => "its keys and root token are in the report's \"init\"".to_string(),
            };
            self.say(&format!(
                "Initialised the server with {} {kind} and a threshold of {}; {place}.",
                init.shares, init.threshold
            ));
        }
        if let Some(count) = ready.unsealed_with {
            self.unsealed = true;
            let keys = if count == 1 { "key" } else { "keys" };
            self.say(&match (initialised, keys_file) {
                (None, Some(path)) => {
                    format!(
                        "Unsealed the server with {count} {keys} from {}.",
                        path.display()
                    )
                }
                _ => format!("Unsealed the server with {count} of the new {keys}."),
            });
        }
        if self.dry_run {
            self.say("Dry run: nothing is written.");
        }
    }

    /// One item, printed as soon as it is done so that a later failure leaves a true record.
    pub fn record(&mut self, step: &Step) {
        let line = match &step.change {
            Change::Create => {
                self.created.push(step.item.clone());
                match &step.detail {
                    Some(detail) => format!("+ {} ({detail})", step.item),
                    None => format!("+ {}", step.item),
                }
            }
            Change::Update(fields) => {
                self.updated.push(step.item.clone());
                format!("~ {} ({})", step.item, fields.join(", "))
            }
            Change::Unchanged => {
                self.unchanged.push(step.item.clone());
                format!("= {}", step.item)
            }
        };
        if step.password_kept {
            self.passwords_kept.push(step.item.clone());
        }
        if step.change != Change::Unchanged || self.verbose {
            self.say(&line);
        }
    }

    /// The end of a run that reached the items: the summary, or the JSON report (also after
    /// a failure, so that new keys are never lost).
    pub fn finish(&self, initialised: Option<&Initialised>, error: Option<&str>) {
        match self.format {
            OutputFormat::Json => print!("{}", output::json(&self.json(initialised, error))),
            OutputFormat::Table if error.is_none() => {
                if !self.passwords_kept.is_empty() {
                    println!(
                        "The passwords of existing users were not compared, because they cannot \
                         be read back ({}); -reset-passwords sets them.",
                        self.passwords_kept.join(", ")
                    );
                }
                println!("{}", self.summary());
            }
            OutputFormat::Table => {}
        }
    }

    fn summary(&self) -> String {
        let (created, updated, unchanged) =
            (self.created.len(), self.updated.len(), self.unchanged.len());
        if created + updated == 0 {
            format!("No changes: the server matches {}.", self.file)
        } else if self.dry_run {
            format!(
                "Dry run: {created} to create, {updated} to update, {unchanged} unchanged; \
                 nothing was written."
            )
        } else {
            format!(
                "Bootstrap complete: {created} created, {updated} updated, {unchanged} unchanged."
            )
        }
    }

    fn json(&self, initialised: Option<&Initialised>, error: Option<&str>) -> Json {
        let mut report = json!({
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "dry_run": self.dry_run,
            "passwords_not_compared": self.passwords_kept,
            "initialized": initialised.is_some(),
            "unsealed": self.unsealed,
        });
        if let Some(init) = initialised {
            report["init"] = match &init.keys_file {
                Some(path) => json!({
                    "keys_file": path.display().to_string(),
                    "shares": init.shares,
                    "threshold": init.threshold,
                    "recovery_seal": init.recovery,
                }),
                // The user asked for the keys on standard output.
                None => serde_json::from_str(&init.keys_json).unwrap_or(Json::Null),
            };
        }
        if let Some(error) = error {
            report["error"] = json!(error);
        }
        report
    }

    /// A dry run on a server that is not initialised stops at the first step.
    pub fn would_initialise(&self, init: InitSpec, keys_file: Option<&Path>) {
        match self.format {
            OutputFormat::Json => print!(
                "{}",
                output::json(&json!({
                    "created": [], "updated": [], "unchanged": [], "dry_run": true,
                    "would_initialize": {"shares": init.shares, "threshold": init.threshold},
                }))
            ),
            OutputFormat::Table => {
                let keys = keys_file.map_or_else(
                    || "into the JSON output".to_string(),
                    |p| format!("to {}", p.display()),
                );
                println!(
                    "Dry run: the server is not initialised. A run would initialise it ({} key \
                     shares, threshold {}), write its keys {keys}, unseal it and apply {}. \
                     Nothing more can be planned before that; nothing was written.",
                    init.shares, init.threshold, self.file
                );
            }
        }
    }

    /// A dry run on a sealed server stops there: unsealing is not left to a dry run.
    pub fn would_unseal(&self, keys_file: Option<&Path>) {
        let keys = keys_file.map_or_else(String::new, |p| p.display().to_string());
        match self.format {
            OutputFormat::Json => print!(
                "{}",
                output::json(&json!({
                    "created": [], "updated": [], "unchanged": [], "dry_run": true,
                    "would_unseal": true,
                }))
            ),
            OutputFormat::Table => println!(
                "Dry run: the server is sealed. A run would unseal it with the keys in {keys}; \
                 a dry run does not. Unseal it first to see the plan; nothing was written."
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(item: &str, change: Change) -> Step {
        Step {
            item: item.into(),
            detail: Some("kv-v2".into()),
            change,
            writes: Vec::new(),
            password_kept: false,
        }
    }

    #[test]
    fn the_summary_counts_each_kind_of_change() {
        let mut report = Report::new(OutputFormat::Json, false, false, Path::new("spec.hcl"));
        assert_eq!(report.summary(), "No changes: the server matches spec.hcl.");
        report.record(&step("secrets/secret", Change::Create));
        report.record(&step("policy/p", Change::Update(vec!["rules".into()])));
        report.record(&step("auth/approle", Change::Unchanged));
        assert_eq!(
            report.summary(),
            "Bootstrap complete: 1 created, 1 updated, 1 unchanged."
        );
        let json = report.json(None, Some("policy/q: boom"));
        assert_eq!(json["created"], json!(["secrets/secret"]));
        assert_eq!(json["updated"], json!(["policy/p"]));
        assert_eq!(json["unchanged"], json!(["auth/approle"]));
        assert_eq!(json["dry_run"], json!(false));
        assert_eq!(json["error"], json!("policy/q: boom"));
        assert!(json.get("init").is_none());

        let mut dry = Report::new(OutputFormat::Json, false, true, Path::new("spec.hcl"));
        dry.record(&step("secrets/secret", Change::Create));
        assert_eq!(
            dry.summary(),
            "Dry run: 1 to create, 0 to update, 0 unchanged; nothing was written."
        );
    }
}
