//! The items in their order, each planned against the server as it is by then, written
//! (unless a dry run) and reported before the next: audit devices, secrets engines, auth
//! methods, policies, then roles, users and entities, then KV data, so that an item can
//! rely on the ones before it (a role on its auth method, a secret on its mount).

use super::plan::{item_error, Planner, Step};
use super::report::Report;
use super::spec::Spec;
use crate::cli::{output, CliError};

pub fn apply(spec: &Spec, planner: &mut Planner<'_>, report: &mut Report) -> Result<(), CliError> {
    if !spec.audit.is_empty() {
        let table = planner.table("sys/audit", "audit")?;
        for (name, audit) in &spec.audit {
            let step = planner.audit(name, audit, &table)?;
            done(planner, report, &step)?;
        }
    }
    for (section, items, api) in [
        ("secrets", &spec.secrets, "sys/mounts"),
        ("auth", &spec.auth, "sys/auth"),
    ] {
        if items.is_empty() {
            continue;
        }
        let table = planner.table(api, section)?;
        for (name, mount) in items {
            let step = planner.mount(section, name, mount, &table)?;
            done(planner, report, &step)?;
        }
    }
    for name in spec.policy.keys() {
        let step = planner.policy(name)?;
        done(planner, report, &step)?;
    }
    for (name, role) in &spec.approle_role {
        let step = planner.approle_role(name, role)?;
        done(planner, report, &step)?;
    }
    for (name, user) in &spec.userpass_user {
        let step = planner.userpass_user(name, user)?;
        done(planner, report, &step)?;
    }
    for (name, entity) in &spec.entity {
        let step = planner.entity(name, entity)?;
        done(planner, report, &step)?;
    }
    for name in spec.kv.keys() {
        let step = planner.kv(name)?;
        done(planner, report, &step)?;
    }
    Ok(())
}

/// Makes a step's writes (none in a dry run), then reports it.
fn done(planner: &Planner<'_>, report: &mut Report, step: &Step) -> Result<(), CliError> {
    if !planner.dry_run {
        for write in &step.writes {
            let answer = planner
                .client
                .put(&write.path, Some(&write.body))
                .map_err(item_error(&step.item))?;
            // The server's warnings name fields (an unknown role field, say), never values.
            eprint!("{}", output::warnings(answer.as_ref()));
        }
    }
    report.record(step);
    Ok(())
}
