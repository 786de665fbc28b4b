//! Identity templating of policy paths: `{{identity.entity.id}}` and friends.
//!
//! A templated path is rendered for each request from the caller's identity, so that changing an
//! entity's metadata changes access on the very next request. Each template value becomes one
//! literal path segment. A value that is missing, empty, `.`, or that holds `/`, `*`, `+`, `..` or
//! a control character would widen or escape that segment, so the whole path rule is dropped:
//! it matches nothing. (OpenBao fails the whole request for `/`, `*` and `+`, and inserts `""`,
//! `.` and `..` as they are; mainkey drops just the rule, for all of them.)

use std::collections::BTreeMap;

/// The identity a templated policy is rendered for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateContext {
    pub entity_id: String,
    pub entity_name: String,
    pub entity_metadata: BTreeMap<String, String>,
    pub aliases: Vec<TemplateAlias>,
    pub groups: Vec<TemplateGroup>,
}

/// One alias of the entity, found by its auth mount's accessor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateAlias {
    pub mount_accessor: String,
    pub id: String,
    pub name: String,
    pub metadata: BTreeMap<String, String>,
}

/// A group the entity belongs to (directly or inherited).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateGroup {
    pub id: String,
    pub name: String,
    pub metadata: BTreeMap<String, String>,
}

/// Checks that `{{` and `}}` are balanced and reports whether the path holds a template at all.
/// The directive names are not checked here: an unknown one, like a missing value, only makes
/// the rule match nothing, as in Vault.
pub(crate) fn check_balanced(path: &str) -> Result<bool, &'static str> {
    const UNBALANCED: &str = "unbalanced templating characters";
    let mut pieces = path.split("{{");
    if pieces.next().is_some_and(|head| head.contains("}}")) {
        return Err(UNBALANCED);
    }
    let mut templated = false;
    for piece in pieces {
        if piece.split("}}").count() != 2 {
            return Err(UNBALANCED);
        }
        templated = true;
    }
    Ok(templated)
}

/// Renders every template of `path` for `ctx`. `None` when any directive is unknown, its value
/// missing or unsafe as a segment, or the braces are unbalanced: the rule then matches nothing.
pub fn render(path: &str, ctx: &TemplateContext) -> Option<String> {
    let mut pieces = path.split("{{");
    let head = pieces.next()?;
    if head.contains("}}") {
        return None;
    }
    let mut out = String::with_capacity(path.len() * 2);
    out.push_str(head);
    for piece in pieces {
        let (directive, rest) = piece.split_once("}}")?;
        if rest.contains("}}") {
            return None;
        }
        let value = lookup(directive.trim(), ctx)?;
        if !is_safe_segment(value) {
            return None;
        }
        out.push_str(value);
        out.push_str(rest);
    }
    Some(out)
}

/// A value may stand in a path only as one plain segment.
fn is_safe_segment(value: &str) -> bool {
    !value.is_empty()
        && value != "."
        && !value.contains("..")
        && !value.contains(['/', '*', '+'])
        && !value.chars().any(char::is_control)
}

fn lookup<'a>(directive: &str, ctx: &'a TemplateContext) -> Option<&'a str> {
    if let Some(rest) = directive.strip_prefix("identity.entity.") {
        return entity(rest, ctx);
    }
    if let Some(rest) = directive.strip_prefix("identity.groups.") {
        return group(rest, ctx);
    }
    None
}

fn entity<'a>(selector: &str, ctx: &'a TemplateContext) -> Option<&'a str> {
    match selector {
        "id" => Some(&ctx.entity_id),
        "name" => Some(&ctx.entity_name),
        _ => {
            if let Some(key) = selector.strip_prefix("metadata.") {
                return ctx.entity_metadata.get(key).map(String::as_str);
            }
            let rest = selector.strip_prefix("aliases.")?;
            let (accessor, field) = rest.split_once('.')?;
            let alias = ctx.aliases.iter().find(|a| a.mount_accessor == accessor)?;
            match field {
                "id" => Some(&alias.id),
                "name" => Some(&alias.name),
                _ => {
                    let key = field.strip_prefix("metadata.")?;
                    alias.metadata.get(key).map(String::as_str)
                }
            }
        }
    }
}

fn group<'a>(selector: &str, ctx: &'a TemplateContext) -> Option<&'a str> {
    let (by, rest) = selector.split_once('.')?;
    let (key, field) = rest.split_once('.')?;
    let found = match by {
        "ids" => ctx.groups.iter().find(|g| g.id == key)?,
        "names" => ctx.groups.iter().find(|g| g.name == key)?,
        _ => return None,
    };
    match field {
        "id" => Some(&found.id),
        "name" => Some(&found.name),
        _ => {
            let key = field.strip_prefix("metadata.")?;
            found.metadata.get(key).map(String::as_str)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> TemplateContext {
        TemplateContext {
            entity_id: "e-123".into(),
            entity_name: "svc-nexa".into(),
            entity_metadata: [("tenant_id".to_string(), "rut-76832940-3".to_string())].into(),
            aliases: vec![
                TemplateAlias {
                    mount_accessor: "auth_approle_1".into(),
                    id: "al-1".into(),
                    name: "role-abc".into(),
                    metadata: [("team".to_string(), "ops".to_string())].into(),
                },
                TemplateAlias {
                    mount_accessor: "auth_userpass_2".into(),
                    id: "al-2".into(),
                    name: "alice".into(),
                    metadata: BTreeMap::new(),
                },
            ],
            groups: vec![TemplateGroup {
                id: "g-1".into(),
                name: "admins".into(),
                metadata: [("site".to_string(), "scl".to_string())].into(),
            }],
        }
    }

    #[test]
    fn renders_every_directive() {
        let c = ctx();
        let cases = [
            ("a/{{identity.entity.id}}/b", "a/e-123/b"),
            ("a/{{identity.entity.name}}", "a/svc-nexa"),
            (
                "secret/data/tenant/{{identity.entity.metadata.tenant_id}}/*",
                "secret/data/tenant/rut-76832940-3/*",
            ),
            ("x/{{identity.entity.aliases.auth_approle_1.id}}", "x/al-1"),
            (
                "x/{{identity.entity.aliases.auth_approle_1.name}}",
                "x/role-abc",
            ),
            (
                "x/{{identity.entity.aliases.auth_approle_1.metadata.team}}",
                "x/ops",
            ),
            (
                "x/{{identity.entity.aliases.auth_userpass_2.name}}",
                "x/alice",
            ),
            ("g/{{identity.groups.ids.g-1.name}}", "g/admins"),
            ("g/{{identity.groups.names.admins.id}}", "g/g-1"),
            ("g/{{identity.groups.names.admins.metadata.site}}", "g/scl"),
            ("sp/{{ identity.entity.id }}", "sp/e-123"),
            (
                "two/{{identity.entity.id}}-{{identity.entity.name}}",
                "two/e-123-svc-nexa",
            ),
            ("plain/path", "plain/path"),
        ];
        for (path, want) in cases {
            assert_eq!(render(path, &c).as_deref(), Some(want), "{path}");
        }
    }

    #[test]
    fn missing_or_unknown_values_render_nothing() {
        let c = ctx();
        for path in [
            "a/{{identity.entity.metadata.nope}}",
            "a/{{identity.entity.aliases.auth_nope.name}}",
            "a/{{identity.entity.aliases.auth_userpass_2.metadata.team}}",
            "a/{{identity.entity.aliases.auth_approle_1.custom_metadata.x}}",
            "a/{{identity.entity.aliases.auth_approle_1}}",
            "a/{{identity.entity.metadata}}",
            "a/{{identity.entity.groups.names}}",
            "a/{{identity.groups.ids.g-2.name}}",
            "a/{{identity.groups.names.users.id}}",
            "a/{{identity.groups.other.admins.id}}",
            "a/{{identity.groups.names.admins}}",
            "a/{{time.now}}",
            "a/{{foo}}",
            "a/{{}}",
            "a/{{identity.entity.id",
            "a/}}{{identity.entity.id}}",
            "a/{{identity.entity.id}}}}",
        ] {
            assert_eq!(render(path, &c), None, "{path}");
        }
        let empty = TemplateContext::default();
        assert_eq!(render("a/{{identity.entity.id}}", &empty), None);
        assert_eq!(render("a/{{identity.entity.name}}", &empty), None);
    }

    #[test]
    fn hostile_values_render_nothing() {
        for value in [
            "*", "+", "a/b", "..", "", ".", "a..b", "x*", "+x", "/", "a\0b", "a\nb", "\u{7f}",
        ] {
            let mut c = ctx();
            c.entity_metadata.insert("tenant_id".into(), value.into());
            assert_eq!(
                render(
                    "secret/data/tenant/{{identity.entity.metadata.tenant_id}}/nexa",
                    &c
                ),
                None,
                "{value:?}"
            );
        }
        let mut c = ctx();
        c.entity_name = "a/../b".into();
        assert_eq!(render("u/{{identity.entity.name}}", &c), None);
        // Ordinary values with dots and spaces stay usable.
        c.entity_metadata
            .insert("tenant_id".into(), "v1.2 x".into());
        assert_eq!(
            render("t/{{identity.entity.metadata.tenant_id}}", &c).as_deref(),
            Some("t/v1.2 x")
        );
    }

    #[test]
    fn balance_check() {
        assert_eq!(check_balanced("a/b"), Ok(false));
        assert_eq!(check_balanced("a/{{x}}"), Ok(true));
        assert_eq!(check_balanced("a/{{x}}/{{y}}"), Ok(true));
        assert!(check_balanced("a/{{x").is_err());
        assert!(check_balanced("a/}}x").is_err());
        assert!(check_balanced("a/{{x}}}}").is_err());
        assert!(check_balanced("a/{{x{{y}}").is_err());
    }
}
