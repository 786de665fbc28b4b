//! The `token_*` fields that every role or user of an auth method carries (Vault's
//! `tokenutil`), with their deprecated aliases (`policies`, `ttl`, `period`, ...).
//!
//! One deliberate difference from Vault: policy names are normalized on write (trimmed,
//! lowercased, empties and duplicates dropped) and a list that names `root` is refused, so no
//! role or user can ever hand out a root token. Vault stores `token_policies` as typed and only
//! refuses `root` when a login tries to use it.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::cidr;
use super::input;
use crate::logical::{Auth, Error, IpNet, Map};

/// Vault's default `max_lease_ttl` (768h). The request does not carry the mount's tuned
/// maximum, so checks that Vault makes against it use this value.
pub const SYSTEM_MAX_LEASE_TTL: u64 = 768 * 3600;

/// Every `token_*` field name, for unknown-field warnings.
pub const KEYS: &[&str] = &[
    "token_bound_cidrs",
    "token_explicit_max_ttl",
    "token_max_ttl",
    "token_no_default_policy",
    "token_num_uses",
    "token_period",
    "token_policies",
    "token_strictly_bind_ip",
    "token_ttl",
    "token_type",
];

/// `own` and every `token_*` field: all that a role's or user's endpoint declares, for its
/// unknown-field warnings.
pub fn with_token_keys(own: &[&'static str]) -> Vec<&'static str> {
    [own, KEYS].concat()
}

/// The token type a role issues. Batch tokens are not supported by mainkey's token store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    #[default]
    Default,
    Service,
}

impl TokenType {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenType::Default => "default",
            TokenType::Service => "service",
        }
    }
}

/// The token settings of a role or user, as stored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenFields {
    /// Canonical renderings (`10.0.0.0/8`, `127.0.0.1`), parsed again at login.
    pub token_bound_cidrs: Vec<String>,
    pub token_explicit_max_ttl: u64,
    pub token_max_ttl: u64,
    pub token_no_default_policy: bool,
    pub token_num_uses: u64,
    pub token_period: u64,
    /// Normalized names, in the order given; never `root`.
    pub token_policies: Vec<String>,
    pub token_strictly_bind_ip: bool,
    pub token_ttl: u64,
    pub token_type: TokenType,
}

/// The deprecated fields a role or user may still carry. Vault shows them on read only when
/// they were set through their old names.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LegacyFields {
    pub policies: Vec<String>,
    pub ttl: u64,
    pub max_ttl: u64,
    pub bound_cidrs: Vec<String>,
    pub period: u64,
}

impl LegacyFields {
    /// The deprecated fields that are set, as Vault shows them on read beside the `token_*`
    /// ones ([`TokenFields::render`]); unset ones are left out.
    pub fn render(&self, out: &mut Map) {
        if !self.policies.is_empty() {
            out.insert("policies".into(), self.policies.clone().into());
        }
        if self.ttl > 0 {
            out.insert("ttl".into(), self.ttl.into());
        }
        if self.max_ttl > 0 {
            out.insert("max_ttl".into(), self.max_ttl.into());
        }
        if self.period > 0 {
            out.insert("period".into(), self.period.into());
        }
        if !self.bound_cidrs.is_empty() {
            out.insert("bound_cidrs".into(), self.bound_cidrs.clone().into());
        }
    }
}

/// A deprecated alias and the `token_*` field it stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Legacy {
    Policies,
    Ttl,
    MaxTtl,
    BoundCidrs,
    Period,
}

impl Legacy {
    pub fn key(self) -> &'static str {
        match self {
            Legacy::Policies => "policies",
            Legacy::Ttl => "ttl",
            Legacy::MaxTtl => "max_ttl",
            Legacy::BoundCidrs => "bound_cidrs",
            Legacy::Period => "period",
        }
    }

    fn new_key(self) -> &'static str {
        match self {
            Legacy::Policies => "token_policies",
            Legacy::Ttl => "token_ttl",
            Legacy::MaxTtl => "token_max_ttl",
            Legacy::BoundCidrs => "token_bound_cidrs",
            Legacy::Period => "token_period",
        }
    }
}

/// Lowercases and trims policy names, dropping empties and duplicates (first one wins).
pub fn normalize_policies(names: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in names {
        let n = name.trim().to_lowercase();
        if !n.is_empty() && !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

/// Vault's `policyutil.ParsePolicies` for the legacy `policies` field: normalized and sorted.
fn parse_legacy_policies(names: &[String]) -> Vec<String> {
    let mut out = normalize_policies(names);
    out.sort();
    out
}

fn refuse_root(policies: &[String]) -> Result<(), Error> {
    if policies.iter().any(|p| p == "root") {
        return Err(Error::bad_request(
            "the \"root\" policy cannot be granted by an auth method",
        ));
    }
    Ok(())
}

fn parse_bound_cidrs(items: &[String]) -> Result<Vec<String>, Error> {
    items
        .iter()
        .map(|s| {
            cidr::parse_addr(s)
                .map(|n| cidr::render(&n))
                .map_err(Error::bad_request)
        })
        .collect()
}

/// Options that differ between auth methods.
#[derive(Clone, Copy, Debug, Default)]
pub struct ParseOptions {
    /// AppRole turns `default-service` into `service` with a warning; userpass refuses it.
    pub token_type_compat: bool,
}

impl TokenFields {
    /// Applies the `token_*` fields present in `data` (Vault's `ParseTokenFields`), in Vault's
    /// order of checks. Returns warnings for the response.
    pub fn parse(&mut self, data: &Map, opts: ParseOptions) -> Result<Vec<String>, Error> {
        let mut warnings = Vec::new();
        if let Some(items) = input::comma_strings(data, "token_bound_cidrs")? {
            self.token_bound_cidrs = parse_bound_cidrs(&items)?;
        }
        if let Some(v) = input::duration(data, "token_explicit_max_ttl")? {
            self.token_explicit_max_ttl = v;
        }
        if let Some(v) = input::duration(data, "token_max_ttl")? {
            self.token_max_ttl = v;
        }
        if let Some(v) = input::boolean(data, "token_no_default_policy")? {
            self.token_no_default_policy = v;
        }
        if let Some(v) = input::duration(data, "token_period")? {
            self.token_period = v;
        }
        if let Some(items) = input::comma_strings(data, "token_policies")? {
            let policies = normalize_policies(&items);
            refuse_root(&policies)?;
            self.token_policies = policies;
        }
        if let Some(raw) = input::string(data, "token_type")? {
            self.token_type = match raw.as_str() {
                "" | "default" => TokenType::Default,
                "service" => TokenType::Service,
                "default-service" if opts.token_type_compat => {
                    warnings.push(
                        "default-service has no useful meaning; adjusting to service".to_string(),
                    );
                    TokenType::Service
                }
                "batch" | "default-batch" if opts.token_type_compat || raw == "batch" => {
                    return Err(Error::bad_request(
                        "'token_type' \"batch\" is not supported: mainkey issues service tokens only",
                    ))
                }
                other => {
                    return Err(Error::bad_request(format!(
                        "invalid 'token_type' value {}",
                        crate::logical::fields::go_quote(other)
                    )))
                }
            };
        }
        if let Some(n) = input::int(data, "token_num_uses")? {
            self.token_num_uses = u64::try_from(n)
                .map_err(|_| Error::bad_request("'token_num_uses' cannot be negative"))?;
        }
        if let Some(v) = input::duration(data, "token_ttl")? {
            self.token_ttl = v;
        }
        if self.token_ttl > 0 && self.token_max_ttl > 0 && self.token_ttl > self.token_max_ttl {
            return Err(Error::bad_request(
                "'token_ttl' cannot be greater than 'token_max_ttl'",
            ));
        }
        if let Some(v) = input::boolean(data, "token_strictly_bind_ip")? {
            self.token_strictly_bind_ip = v;
        }
        if self.token_strictly_bind_ip && !self.token_bound_cidrs.is_empty() {
            return Err(Error::bad_request(
                "'token_strictly_bind_ip' conflicts with 'token_bound_cidrs'; set only one",
            ));
        }
        Ok(warnings)
    }

    /// Vault's `UpgradeValue` for each deprecated alias in `which`: an old key alone sets both
    /// the old and the new field; a new key alone clears the old one; both set the old one to
    /// the new value.
    pub fn upgrade(
        &mut self,
        legacy: &mut LegacyFields,
        data: &Map,
        which: &[Legacy],
    ) -> Result<(), Error> {
        for &l in which {
            let new_given = input::has(data, l.new_key());
            let old_given = input::has(data, l.key());
            match l {
                Legacy::Policies => {
                    if !new_given {
                        if let Some(items) = input::comma_strings(data, "policies")? {
                            let p = parse_legacy_policies(&items);
                            refuse_root(&p)?;
                            legacy.policies = p.clone();
                            self.token_policies = p;
                        }
                    } else if old_given {
                        legacy.policies = self.token_policies.clone();
                    } else {
                        legacy.policies.clear();
                    }
                }
                Legacy::BoundCidrs => {
                    if !new_given {
                        if let Some(items) = input::comma_strings(data, "bound_cidrs")? {
                            let c = parse_bound_cidrs(&items)?;
                            legacy.bound_cidrs = c.clone();
                            self.token_bound_cidrs = c;
                        }
                    } else if old_given {
                        legacy.bound_cidrs = self.token_bound_cidrs.clone();
                    } else {
                        legacy.bound_cidrs.clear();
                    }
                }
                Legacy::Ttl | Legacy::MaxTtl | Legacy::Period => {
                    let (old, new) = match l {
                        Legacy::Ttl => (&mut legacy.ttl, &mut self.token_ttl),
                        Legacy::MaxTtl => (&mut legacy.max_ttl, &mut self.token_max_ttl),
                        _ => (&mut legacy.period, &mut self.token_period),
                    };
                    if !new_given {
                        if let Some(v) = input::duration(data, l.key())? {
                            *old = v;
                            *new = v;
                        }
                    } else if old_given {
                        *old = *new;
                    } else {
                        *old = 0;
                    }
                }
            }
        }
        if self.token_strictly_bind_ip && !self.token_bound_cidrs.is_empty() {
            return Err(Error::bad_request(
                "'token_strictly_bind_ip' conflicts with 'token_bound_cidrs'; set only one",
            ));
        }
        Ok(())
    }

    /// The fields as Vault's `PopulateTokenData` shows them on read.
    pub fn render(&self, out: &mut Map) {
        let list = |v: &[String]| Value::from(v.to_vec());
        out.insert("token_bound_cidrs".into(), list(&self.token_bound_cidrs));
        out.insert(
            "token_explicit_max_ttl".into(),
            self.token_explicit_max_ttl.into(),
        );
        out.insert("token_max_ttl".into(), self.token_max_ttl.into());
        out.insert(
            "token_no_default_policy".into(),
            self.token_no_default_policy.into(),
        );
        out.insert("token_num_uses".into(), self.token_num_uses.into());
        out.insert("token_period".into(), self.token_period.into());
        out.insert("token_policies".into(), list(&self.token_policies));
        out.insert(
            "token_strictly_bind_ip".into(),
            self.token_strictly_bind_ip.into(),
        );
        out.insert("token_ttl".into(), self.token_ttl.into());
        out.insert("token_type".into(), self.token_type.as_str().into());
    }

    /// The terms a token from this role or user renews on now (Vault's renew callbacks copy
    /// these three onto the token's auth).
    pub fn renewal(&self) -> super::Renewal {
        super::Renewal {
            ttl: self.token_ttl,
            max_ttl: self.token_max_ttl,
            period: self.token_period,
        }
    }

    /// The token bindings of a login (Vault's `PopulateTokenAuth`). `remote` is the caller's
    /// address, which `token_strictly_bind_ip` binds the token to.
    pub fn fill_auth(&self, auth: &mut Auth, remote: Option<IpAddr>) -> Result<(), Error> {
        let mut policies = normalize_policies(&self.token_policies);
        policies.sort();
        // Refused on write already; checked again so a hand-edited entry cannot slip through.
        if policies.iter().any(|p| p == "root") {
            return Err(Error::bad_request("auth methods cannot create root tokens"));
        }
        auth.policies = policies;
        auth.ttl = self.token_ttl;
        auth.max_ttl = self.token_max_ttl;
        auth.period = self.token_period;
        auth.explicit_max_ttl = self.token_explicit_max_ttl;
        auth.num_uses = self.token_num_uses;
        auth.no_default_policy = self.token_no_default_policy;
        auth.renewable = true;
        auth.bound_cidrs = cidr::parse_stored(&self.token_bound_cidrs)?;
        if self.token_strictly_bind_ip {
            // Fail closed: a token that must stay on the login address needs one.
            let ip = remote.ok_or(Error::PermissionDenied)?;
            auth.bound_cidrs = vec![IpNet {
                addr: ip,
                prefix: if ip.is_ipv4() { 32 } else { 128 },
            }];
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logical::fields::into_map;
    use serde_json::json;

    fn parsed(v: Value) -> Result<TokenFields, Error> {
        let mut t = TokenFields::default();
        t.parse(&into_map(v), ParseOptions::default())?;
        Ok(t)
    }

    #[test]
    fn renders_every_field_like_vault() {
        let mut out = Map::new();
        TokenFields::default().render(&mut out);
        assert_eq!(
            Value::Object(
                crate::logical::fields::sorted(Value::Object(out))
                    .as_object()
                    .cloned()
                    .unwrap()
            ),
            json!({
                "token_bound_cidrs": [], "token_explicit_max_ttl": 0, "token_max_ttl": 0,
                "token_no_default_policy": false, "token_num_uses": 0, "token_period": 0,
                "token_policies": [], "token_strictly_bind_ip": false, "token_ttl": 0,
                "token_type": "default"
            })
        );
    }

    #[test]
    fn parses_weak_input() {
        let t = parsed(json!({
            "token_ttl": "1h", "token_max_ttl": 7200, "token_period": "5m",
            "token_explicit_max_ttl": "1d", "token_num_uses": "3",
            "token_no_default_policy": "true", "token_bound_cidrs": "10.0.0.0/8, 127.0.0.1/32",
            "token_policies": "Admin, b ,,admin", "token_type": "service"
        }))
        .unwrap();
        assert_eq!(t.token_ttl, 3600);
        assert_eq!(t.token_max_ttl, 7200);
        assert_eq!(t.token_period, 300);
        assert_eq!(t.token_explicit_max_ttl, 86_400);
        assert_eq!(t.token_num_uses, 3);
        assert!(t.token_no_default_policy);
        assert_eq!(t.token_bound_cidrs, vec!["10.0.0.0/8", "127.0.0.1"]);
        assert_eq!(t.token_policies, vec!["admin", "b"]);
        assert_eq!(t.token_type, TokenType::Service);
    }

    #[test]
    fn refuses_bad_input_with_vaults_messages() {
        let cases = [
            (json!({"token_ttl": "-1s"}), "error converting input for field \"token_ttl\": cannot provide negative value '-1'"),
            (json!({"token_ttl": "2h", "token_max_ttl": "1h"}), "'token_ttl' cannot be greater than 'token_max_ttl'"),
            // OpenBao 2.7.2's answer for a duration beyond Go's range.
            (json!({"token_ttl": "9223372036854775807"}), "error converting input for field \"token_ttl\": multiplication of durations resulted in overflow, one operand may be too large"),
            (json!({"token_period": 9_223_372_037_u64}), "error converting input for field \"token_period\": multiplication of durations resulted in overflow, one operand may be too large"),
            (json!({"token_num_uses": -1}), "'token_num_uses' cannot be negative"),
            (json!({"token_type": "xx"}), "invalid 'token_type' value \"xx\""),
            (json!({"token_bound_cidrs": "bad"}), "error parsing address \"bad\": Unable to convert \"bad\" to an IPv4 or IPv6 address, or a UNIX Socket"),
            (json!({"token_no_default_policy": "maybe"}), "error converting input for field \"token_no_default_policy\": '' cannot parse value as 'bool': strconv.ParseBool: invalid syntax"),
            (json!({"token_strictly_bind_ip": true, "token_bound_cidrs": "10.0.0.0/8"}), "'token_strictly_bind_ip' conflicts with 'token_bound_cidrs'; set only one"),
        ];
        for (input, want) in cases {
            let e = parsed(input.clone()).unwrap_err();
            assert!(matches!(e, Error::BadRequest(_)), "{input}");
            assert_eq!(e.to_string(), want, "{input}");
        }
        // Batch tokens are not issued by mainkey.
        assert!(parsed(json!({"token_type": "batch"})).is_err());
        // `default-service` is only AppRole's backwards-compatible spelling.
        assert!(parsed(json!({"token_type": "default-service"})).is_err());
        let mut t = TokenFields::default();
        let w = t
            .parse(
                &into_map(json!({"token_type": "default-service"})),
                ParseOptions {
                    token_type_compat: true,
                },
            )
            .unwrap();
        assert_eq!(t.token_type, TokenType::Service);
        assert_eq!(
            w,
            vec!["default-service has no useful meaning; adjusting to service"]
        );
    }

    #[test]
    fn root_can_never_be_granted() {
        for spelling in ["root", "Root", " root", "root ", "a,ROOT", "a, root ,b"] {
            let e = parsed(json!({ "token_policies": spelling })).unwrap_err();
            assert!(matches!(e, Error::BadRequest(_)), "{spelling}");
            let mut t = TokenFields::default();
            let mut legacy = LegacyFields::default();
            let e = t
                .upgrade(
                    &mut legacy,
                    &into_map(json!({ "policies": spelling })),
                    &[Legacy::Policies],
                )
                .unwrap_err();
            assert!(matches!(e, Error::BadRequest(_)), "legacy {spelling}");
        }
        // A list as JSON, too.
        assert!(parsed(json!({"token_policies": ["a", " ROOT "]})).is_err());
        // And a hand-edited stored entry is refused at login.
        let t = TokenFields {
            token_policies: vec!["Root".into()],
            ..Default::default()
        };
        let mut auth = Auth::default();
        assert!(t.fill_auth(&mut auth, None).is_err());
        // `rooted` is just a name.
        assert!(parsed(json!({"token_policies": "rooted"})).is_ok());
    }

    #[test]
    fn legacy_aliases_upgrade_like_vault() {
        let all = [
            Legacy::Policies,
            Legacy::Ttl,
            Legacy::MaxTtl,
            Legacy::BoundCidrs,
        ];
        let mut t = TokenFields::default();
        let mut l = LegacyFields::default();
        let d = into_map(
            json!({"policies": "Zed, B,a,b,,default", "ttl": "1h", "max_ttl": "2h", "bound_cidrs": "10.0.0.0/8"}),
        );
        t.parse(&d, ParseOptions::default()).unwrap();
        t.upgrade(&mut l, &d, &all).unwrap();
        assert_eq!(t.token_policies, vec!["a", "b", "default", "zed"]);
        assert_eq!(l.policies, t.token_policies);
        assert_eq!(
            (t.token_ttl, l.ttl, t.token_max_ttl, l.max_ttl),
            (3600, 3600, 7200, 7200)
        );
        assert_eq!(l.bound_cidrs, vec!["10.0.0.0/8"]);

        // Both given: the new one wins and the old one mirrors it.
        let d = into_map(json!({"token_policies": "d", "policies": "e"}));
        t.parse(&d, ParseOptions::default()).unwrap();
        t.upgrade(&mut l, &d, &all).unwrap();
        assert_eq!(
            (t.token_policies.clone(), l.policies.clone()),
            (vec!["d".to_string()], vec!["d".to_string()])
        );

        // The new one alone clears the old one.
        let d = into_map(json!({"token_policies": "f", "token_ttl": "5m"}));
        t.parse(&d, ParseOptions::default()).unwrap();
        t.upgrade(&mut l, &d, &all).unwrap();
        assert!(l.policies.is_empty());
        assert_eq!((t.token_ttl, l.ttl), (300, 0));
        // Untouched aliases stay.
        assert_eq!(l.max_ttl, 7200);
    }

    #[test]
    fn fills_an_auth() {
        let t = parsed(json!({
            "token_policies": "b,A", "token_ttl": 60, "token_max_ttl": 120, "token_period": 30,
            "token_explicit_max_ttl": 600, "token_num_uses": 2, "token_no_default_policy": true,
            "token_bound_cidrs": "10.0.0.0/8"
        }))
        .unwrap();
        let mut auth = Auth::default();
        t.fill_auth(&mut auth, None).unwrap();
        assert_eq!(auth.policies, vec!["a", "b"]);
        assert_eq!(
            (
                auth.ttl,
                auth.max_ttl,
                auth.period,
                auth.explicit_max_ttl,
                auth.num_uses
            ),
            (60, 120, 30, 600, 2)
        );
        assert!(auth.no_default_policy && auth.renewable);
        assert_eq!(auth.bound_cidrs, vec![IpNet::parse("10.0.0.0/8").unwrap()]);

        let strict = parsed(json!({"token_strictly_bind_ip": true})).unwrap();
        let mut auth = Auth::default();
        strict
            .fill_auth(&mut auth, Some("192.0.2.7".parse().unwrap()))
            .unwrap();
        assert_eq!(
            auth.bound_cidrs,
            vec![IpNet::parse("192.0.2.7/32").unwrap()]
        );
        assert!(matches!(
            strict.fill_auth(&mut Auth::default(), None),
            Err(Error::PermissionDenied)
        ));
    }
}
