//! The ACL of one token: its policies' rules merged per pattern, and Vault's priority matching.
//!
//! Rules fall into three tables by their pattern:
//! - exact paths (`secret/data/a`),
//! - prefix globs, a `*` at the very end (`secret/data/a*`), keyed by the prefix,
//! - segment patterns, holding `+` as a whole segment (`secret/+/a`, `secret/+/a*`).
//!
//! Rules of every policy that share a pattern are merged into one entry first (capabilities
//! united, parameter lists joined, a `deny` replacing everything). A request then uses exactly
//! one entry: the exact one if there is one, else the matching glob or segment pattern of the
//! highest priority. Nothing from lower-priority entries is added, so a `deny` or an empty
//! capability list in the chosen entry shadows broader grants.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::capability::Capabilities;
use super::parse::{ParameterValues, Permissions, Policy};
use super::template::{self, TemplateContext};
use crate::logical::{Error, Map, Operation};

/// A request as the ACL sees it.
#[derive(Debug, Clone, Copy)]
pub struct AccessRequest<'a> {
    pub operation: Operation,
    /// The absolute request path (`secret/data/a`); a LIST ends in `/`.
    pub path: &'a str,
    /// The body of a write, or the query parameters of a read.
    pub data: &'a Map,
    /// The backend's existence check for an `Update`, as Vault's router asks it: `Some(true)`
    /// needs `update`, `Some(false)` needs `create`. `None` means the path has no existence
    /// check, and Vault then treats every write as an update: `create` alone never suffices,
    /// or a create-only grant could overwrite what exists.
    pub entry_exists: Option<bool>,
    /// The path is root-protected by its backend and needs `sudo` as well.
    pub root_protected: bool,
    /// The TTL of the response wrapping the client asked for, if any.
    pub wrap_ttl: Option<Duration>,
}

/// The compiled ACL of a set of policies and, for templated rules, one caller's identity. The
/// core caches it until a policy or identity write (see `core::acl_cache`).
#[derive(Debug, Default)]
pub struct Acl {
    root: bool,
    exact: HashMap<String, Permissions>,
    prefix: HashMap<String, Permissions>,
    /// Distinct lengths of the keys of `prefix`, longest first.
    prefix_lengths: Vec<usize>,
    segment: Vec<SegmentRule>,
    /// The earliest `expiration` among the rules it holds: from then on it grants too much
    /// and must be built again.
    expires: Option<SystemTime>,
}

/// A pattern with `+` segments.
#[derive(Debug)]
struct SegmentRule {
    /// The segments of the pattern without its trailing `*`.
    parts: Vec<String>,
    /// The pattern without its trailing `*`, for priority.
    stem: String,
    /// Ends in `*`: the last segment is a prefix and further segments may follow.
    is_prefix: bool,
    /// Byte offset of the first `+` in the pattern, Vault's "first wildcard position".
    first_plus: usize,
    /// Number of `+` segments.
    wildcards: usize,
    permissions: Permissions,
}

/// How a pattern ranks among the non-exact patterns matching one path; the greatest wins.
/// In order: a later first wildcard, not a prefix glob, fewer `+`, a longer stem, and finally
/// the lexicographically larger stem (which only separates patterns Vault also separates
/// arbitrarily).
type Priority<'a> = (usize, bool, Reverse<usize>, usize, &'a str);

impl SegmentRule {
    fn compile(pattern: &str, permissions: Permissions) -> SegmentRule {
        let (stem, is_prefix) = match pattern.strip_suffix('*') {
            Some(stem) => (stem, true),
            None => (pattern, false),
        };
        let parts: Vec<String> = stem.split('/').map(str::to_string).collect();
        SegmentRule {
            wildcards: parts.iter().filter(|p| *p == "+").count(),
            parts,
            stem: stem.to_string(),
            is_prefix,
            first_plus: pattern.find('+').unwrap_or(0),
            permissions,
        }
    }

    fn matches(&self, path_parts: &[&str]) -> bool {
        if path_parts.len() < self.parts.len()
            || (!self.is_prefix && path_parts.len() != self.parts.len())
        {
            return false;
        }
        path_parts
            .iter()
            .take(self.parts.len())
            .enumerate()
            .all(|(i, seg)| self.part_matches(i, seg))
    }

    /// Whether paths this rule matches can lie under the mount whose segments are
    /// `mount_parts`: the rule's leading segments match all of the mount's.
    fn reaches(&self, mount_parts: &[&str]) -> bool {
        self.parts.len() >= mount_parts.len()
            && mount_parts
                .iter()
                .enumerate()
                .all(|(i, seg)| self.part_matches(i, seg))
    }

    /// Whether the rule's `i`th segment takes `seg`: `+`, the same text, or, for the last
    /// segment of a prefix pattern, a prefix of it.
    fn part_matches(&self, i: usize, seg: &str) -> bool {
        let rule = self.parts[i].as_str();
        rule == "+"
            || rule == seg
            || (self.is_prefix && i == self.parts.len() - 1 && seg.starts_with(rule))
    }

    fn priority(&self) -> Priority<'_> {
        (
            self.first_plus,
            !self.is_prefix,
            Reverse(self.wildcards),
            self.stem.len(),
            &self.stem,
        )
    }
}

/// Which table a (rendered) pattern belongs to, and its key there.
enum Pattern<'a> {
    Exact(&'a str),
    Prefix(&'a str),
    Segment(&'a str),
}

fn classify(pattern: &str) -> Pattern<'_> {
    // Vault's test: only a `+` that starts a segment makes a segment pattern; `a+b` is literal,
    // and `a/+b` is a segment pattern whose `+b` segment is literal.
    let has_segment_wildcard =
        pattern == "+" || pattern.contains("/+") || pattern.starts_with("+/");
    if has_segment_wildcard {
        Pattern::Segment(pattern)
    } else if let Some(prefix) = pattern.strip_suffix('*') {
        Pattern::Prefix(prefix)
    } else {
        Pattern::Exact(pattern)
    }
}

/// Folds `new` into `existing`, the merge of two rules for one pattern.
fn merge(existing: &mut Permissions, new: &Permissions) {
    if existing.capabilities.contains(Capabilities::DENY) {
        return;
    }
    if new.capabilities.contains(Capabilities::DENY) {
        existing.capabilities = Capabilities::DENY;
        existing.allowed_parameters.clear();
        existing.denied_parameters.clear();
        return;
    }
    existing.capabilities |= new.capabilities;
    // The shortest wrapping bounds win.
    if new.max_wrapping_ttl > 0
        && (existing.max_wrapping_ttl == 0 || new.max_wrapping_ttl < existing.max_wrapping_ttl)
    {
        existing.max_wrapping_ttl = new.max_wrapping_ttl;
    }
    if new.min_wrapping_ttl > 0
        && (existing.min_wrapping_ttl == 0 || new.min_wrapping_ttl < existing.min_wrapping_ttl)
    {
        existing.min_wrapping_ttl = new.min_wrapping_ttl;
    }
    merge_parameters(&mut existing.allowed_parameters, &new.allowed_parameters);
    merge_parameters(&mut existing.denied_parameters, &new.denied_parameters);
    for name in &new.required_parameters {
        if !existing.required_parameters.contains(name) {
            existing.required_parameters.push(name.clone());
        }
    }
}

/// Joins the value lists per parameter; an empty list ("any value") absorbs the other.
fn merge_parameters(existing: &mut ParameterValues, new: &ParameterValues) {
    for (name, values) in new {
        match existing.get_mut(name) {
            Some(current) if current.is_empty() => {}
            Some(current) if values.is_empty() => current.clear(),
            Some(current) => {
                let mut joined = values.clone();
                joined.append(current);
                *current = joined;
            }
            None => {
                existing.insert(name.clone(), values.clone());
            }
        }
    }
}

impl Acl {
    /// Builds the ACL of a token holding `policies`, rendering templated rules for `ctx` (a
    /// templated rule matches nothing without one). `root` must come alone, as in Vault.
    pub fn new(policies: &[Arc<Policy>], ctx: Option<&TemplateContext>) -> Result<Acl, Error> {
        Acl::new_at(policies, ctx, SystemTime::now())
    }

    /// As [`Acl::new`], with rules whose `expiration` is before `now` left out.
    pub fn new_at(
        policies: &[Arc<Policy>],
        ctx: Option<&TemplateContext>,
        now: SystemTime,
    ) -> Result<Acl, Error> {
        let mut acl = Acl::default();
        let mut segment: HashMap<String, Permissions> = HashMap::new();
        // Segment patterns in first-seen order, so that merges are deterministic.
        let mut segment_order: Vec<String> = Vec::new();

        for policy in policies {
            if policy.is_root() {
                if policies.len() != 1 {
                    return Err(Error::internal("other policies present along with root"));
                }
                acl.root = true;
            }
            for rule in policy.paths() {
                if let Some(t) = rule.expiration {
                    if now > t {
                        continue;
                    }
                    acl.expires = Some(acl.expires.map_or(t, |e| e.min(t)));
                }
                let rendered;
                let pattern = if rule.templated {
                    match ctx.and_then(|c| template::render(&rule.path, c)) {
                        Some(p) => {
                            rendered = p;
                            rendered.as_str()
                        }
                        None => continue,
                    }
                } else {
                    rule.path.as_str()
                };
                let (table, key) = match classify(pattern) {
                    Pattern::Exact(k) => (&mut acl.exact, k),
                    Pattern::Prefix(k) => (&mut acl.prefix, k),
                    Pattern::Segment(k) => {
                        if !segment.contains_key(k) {
                            segment_order.push(k.to_string());
                        }
                        (&mut segment, k)
                    }
                };
                match table.get_mut(key) {
                    Some(existing) => merge(existing, &rule.permissions),
                    None => {
                        table.insert(key.to_string(), rule.permissions.clone());
                    }
                }
            }
        }

        acl.segment = segment_order
            .into_iter()
            .filter_map(|k| {
                let perms = segment.remove(&k)?;
                Some(SegmentRule::compile(&k, perms))
            })
            .collect();
        let mut lengths: Vec<usize> = acl.prefix.keys().map(String::len).collect();
        lengths.sort_unstable_by(|a, b| b.cmp(a));
        lengths.dedup();
        acl.prefix_lengths = lengths;
        Ok(acl)
    }

    /// True for the ACL of the `root` policy.
    pub fn is_root(&self) -> bool {
        self.root
    }

    /// Whether this ACL is still what [`Acl::new_at`] would build at `now`: no rule it holds
    /// has expired since.
    pub fn is_current_at(&self, now: SystemTime) -> bool {
        self.expires.is_none_or(|t| now <= t)
    }

    /// The capabilities on `path`, as `sys/capabilities` answers. Like Vault, this looks the
    /// path up as a LIST does, so `a/b/` is also matched by rules for `a/b`.
    pub fn capabilities(&self, path: &str) -> Capabilities {
        if self.root {
            return Capabilities::ROOT;
        }
        self.lookup(path, true)
            .map(|p| p.capabilities)
            .unwrap_or_default()
    }

    /// Whether the ACL grants anything at or below a mount (`secret/`, `auth/userpass/`), as
    /// Vault decides which mounts `sys/internal/ui/mounts` shows a token: a grant on the mount
    /// path itself, or any non-deny rule whose pattern lies under it or whose `+` segments
    /// can reach it.
    pub fn has_mount_access(&self, mount: &str) -> bool {
        let grants = |c: Capabilities| !c.is_empty() && !c.is_deny();
        if grants(self.capabilities(mount)) {
            return true;
        }
        let under = |(pattern, p): (&String, &Permissions)| {
            pattern.starts_with(mount) && grants(p.capabilities)
        };
        if self.exact.iter().any(under) || self.prefix.iter().any(under) {
            return true;
        }
        let mount_parts: Vec<&str> = mount.trim_end_matches('/').split('/').collect();
        self.segment
            .iter()
            .any(|rule| grants(rule.permissions.capabilities) && rule.reaches(&mount_parts))
    }

    /// Whether the ACL allows an operation; see [`Acl::allow_request`].
    pub fn allow(
        &self,
        operation: Operation,
        path: &str,
        data: &Map,
        entry_exists: Option<bool>,
        root_protected: bool,
    ) -> Result<(), Error> {
        self.allow_request(&AccessRequest {
            operation,
            path,
            data,
            entry_exists,
            root_protected,
            wrap_ttl: None,
        })
    }

    /// Decides a request: `Ok` or `PermissionDenied`. As in Vault, a request that breaks a
    /// parameter or wrapping constraint is denied like any other (403).
    pub fn allow_request(&self, req: &AccessRequest<'_>) -> Result<(), Error> {
        if self.root {
            return Ok(());
        }
        let perms = self
            .lookup(req.path, req.operation == Operation::List)
            .ok_or(Error::PermissionDenied)?;
        let caps = perms.capabilities;
        if caps.contains(Capabilities::DENY) {
            return Err(Error::PermissionDenied);
        }
        if req.root_protected && !caps.contains(Capabilities::SUDO) {
            return Err(Error::PermissionDenied);
        }
        let needed = match req.operation {
            Operation::Read => Capabilities::READ,
            Operation::List => Capabilities::LIST,
            Operation::Delete => Capabilities::DELETE,
            Operation::Patch => Capabilities::PATCH,
            Operation::Update => match req.entry_exists {
                Some(false) => Capabilities::CREATE,
                Some(true) | None => Capabilities::UPDATE,
            },
        };
        if !caps.intersects(needed) {
            return Err(Error::PermissionDenied);
        }
        if !wrapping_allowed(perms, req.wrap_ttl) {
            return Err(Error::PermissionDenied);
        }
        // Vault checks parameters of every operation that carries them, reads included.
        let checks_parameters = matches!(
            req.operation,
            Operation::Read | Operation::Update | Operation::Patch
        );
        if checks_parameters && !parameters_allowed(perms, req.data) {
            return Err(Error::PermissionDenied);
        }
        Ok(())
    }

    /// The entry deciding `path`. A LIST (and `sys/capabilities`) also tries the path without
    /// its trailing `/`: first as an exact rule, and last, when no pattern matched the path as
    /// given, against the patterns. That order keeps a `deny` on `a/*` in force for a LIST of
    /// `a/`, since the prefix `a/` matches before the slash is dropped.
    fn lookup(&self, path: &str, list: bool) -> Option<&Permissions> {
        let path = path.trim_start_matches('/');
        if let Some(p) = self.exact.get(path) {
            return Some(p);
        }
        let trimmed = path.strip_suffix('/');
        if list {
            if let Some(p) = trimmed.and_then(|t| self.exact.get(t)) {
                return Some(p);
            }
        }
        if let Some(p) = self.non_exact(path) {
            return Some(p);
        }
        match trimmed {
            Some(t) if list => self.non_exact(t),
            _ => None,
        }
    }

    /// The highest-priority glob or segment entry matching `path`.
    fn non_exact(&self, path: &str) -> Option<&Permissions> {
        let prefix = self.longest_prefix(path);
        if self.segment.is_empty() {
            return prefix.map(|(_, p)| p);
        }
        // The longest prefix glob outranks every shorter one (its `*` comes later), so it is
        // the only one that can compete with the segment patterns.
        let mut best: Option<(Priority<'_>, &Permissions)> =
            prefix.map(|(stem, p)| ((stem.len(), false, Reverse(0), stem.len(), stem), p));
        let parts: Vec<&str> = path.split('/').collect();
        for rule in &self.segment {
            if !rule.matches(&parts) {
                continue;
            }
            let priority = rule.priority();
            if best.as_ref().is_none_or(|(b, _)| priority > *b) {
                best = Some((priority, &rule.permissions));
            }
        }
        best.map(|(_, p)| p)
    }

    fn longest_prefix<'a>(&'a self, path: &str) -> Option<(&'a str, &'a Permissions)> {
        self.prefix_lengths
            .iter()
            .filter(|&&len| len <= path.len() && path.is_char_boundary(len))
            .find_map(|&len| self.prefix.get_key_value(&path[..len]))
            .map(|(k, v)| (k.as_str(), v))
    }
}

fn wrapping_allowed(perms: &Permissions, wrap_ttl: Option<Duration>) -> bool {
    let ttl = wrap_ttl.map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    if perms.max_wrapping_ttl > 0 && ttl.is_none_or(|t| t > perms.max_wrapping_ttl) {
        return false;
    }
    if perms.min_wrapping_ttl > 0 && ttl.is_none_or(|t| t < perms.min_wrapping_ttl) {
        return false;
    }
    // Merging can produce this even though one rule cannot.
    !(perms.min_wrapping_ttl != 0
        && perms.max_wrapping_ttl != 0
        && perms.max_wrapping_ttl < perms.min_wrapping_ttl)
}

/// `required_parameters`, then `denied_parameters` (which win), then `allowed_parameters`.
/// Parameter names compare case-insensitively, except that a required name must appear in the
/// request in lower case (Vault lowercases the name, not the request's keys).
fn parameters_allowed(perms: &Permissions, data: &Map) -> bool {
    if perms
        .required_parameters
        .iter()
        .any(|name| !data.contains_key(&name.to_lowercase()))
    {
        return false;
    }
    if data.is_empty() {
        return true;
    }
    let denied = &perms.denied_parameters;
    if !denied.is_empty() {
        if denied.contains_key("*") {
            return false;
        }
        let hit = data.iter().any(|(name, value)| {
            denied
                .get(&name.to_lowercase())
                .is_some_and(|list| value_in_list(value, list))
        });
        if hit {
            return false;
        }
    }
    let allowed = &perms.allowed_parameters;
    if allowed.is_empty() {
        return true;
    }
    let allow_all = allowed.contains_key("*");
    if allow_all && allowed.len() == 1 {
        return true;
    }
    data.iter()
        .all(|(name, value)| match allowed.get(&name.to_lowercase()) {
            None => allow_all,
            Some(list) => value_in_list(value, list),
        })
}

/// An empty list admits every value.
fn value_in_list(value: &Value, list: &[Value]) -> bool {
    list.is_empty() || list.iter().any(|item| value_matches(item, value))
}

/// Vault's comparison of a policy value with a request value: strings by glob, everything else
/// by deep equality of the decoded types. Numbers never compare equal, because Vault decodes
/// request numbers as `json.Number` and policy numbers as Go ints or floats.
fn value_matches(item: &Value, value: &Value) -> bool {
    match (item, value) {
        (Value::String(pattern), Value::String(s)) => glob_match(pattern, s),
        _ => deep_equal(item, value),
    }
}

fn deep_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| deep_equal(p, q))
        }
        // Numbers: see `value_matches`. Objects: HCL decodes them to a different Go type than
        // JSON does, so Vault never finds them equal either.
        _ => false,
    }
}

/// A leading and/or trailing `*` in `pattern` is a wildcard; a pattern shorter than two bytes
/// (so `*` itself) only matches itself, as in Vault.
fn glob_match(pattern: &str, value: &str) -> bool {
    if pattern.len() < 2 {
        return pattern == value;
    }
    match (pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
        (Some(_), Some(_)) => value.contains(&pattern[1..pattern.len() - 1]),
        (Some(suffix), None) => value.ends_with(suffix),
        (None, Some(prefix)) => value.starts_with(prefix),
        (None, None) => pattern == value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_values() {
        assert!(glob_match("x*", "xa"));
        assert!(glob_match("x*", "x"));
        assert!(!glob_match("x*", "ax"));
        assert!(glob_match("*y", "ay"));
        assert!(glob_match("*mid*", "amidb"));
        assert!(glob_match("**", "anything"));
        assert!(glob_match("*", "*"));
        assert!(!glob_match("*", "anything"));
        assert!(glob_match("", ""));
        assert!(!glob_match("", "a"));
        assert!(glob_match("a*b", "a*b"));
        assert!(!glob_match("a*b", "axb"));
    }

    #[test]
    fn value_types() {
        use serde_json::json;
        assert!(value_matches(&json!(true), &json!(true)));
        assert!(!value_matches(&json!(true), &json!(false)));
        assert!(!value_matches(&json!(5), &json!(5)));
        assert!(!value_matches(&json!(5), &json!("5")));
        assert!(value_matches(&json!(null), &json!(null)));
        assert!(!value_matches(&json!(null), &json!("")));
        assert!(value_matches(&json!(["a", "b"]), &json!(["a", "b"])));
        assert!(!value_matches(&json!(["a*"]), &json!(["ab"])));
        assert!(!value_matches(&json!({"a": "b"}), &json!({"a": "b"})));
    }
}
