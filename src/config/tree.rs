//! The normalized intermediate form that both HCL and JSON config files are walked into, so
//! that typed extraction (`extract.rs`) has exactly one path to follow whatever the file format.
//!
//! A body is an ordered list of items. An item is either a value (`key = value` in HCL) or a
//! block (`key "label" { ... }` in HCL, a nested object in JSON). Repeated blocks stay separate
//! items, in file order.

use serde_json::Value as Json;

/// A scalar, a list, or the shape of an object. Objects keep no content: no config key that
/// mainkey reads takes one, so they only exist to be named in error messages. Lists keep their
/// elements (`hosts = ["a", "b"]`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Value>),
    Object,
    /// An HCL expression that is not a literal (interpolation, variables, function calls...).
    /// Vault does not evaluate them either.
    Expression,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Content {
    Value(Value),
    Block(Body),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Item {
    pub key: String,
    /// Block labels, e.g. `["tcp"]` for `listener "tcp" {}`; always empty for values.
    pub labels: Vec<String>,
    pub content: Content,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Body {
    pub items: Vec<Item>,
}

impl Value {
    /// How a value is shown after "got" in an error message. Strings are cut short so that a
    /// pasted certificate or token does not end up whole in a log.
    pub fn describe(&self) -> String {
        const MAX_CHARS: usize = 40;
        match self {
            Value::Null => "null".into(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(x) => x.to_string(),
            Value::Str(s) if s.chars().count() > MAX_CHARS => {
                let head: String = s.chars().take(MAX_CHARS).collect();
                format!("{head:?}...")
            }
            Value::Str(s) => format!("{s:?}"),
            Value::List(_) => "a list".into(),
            Value::Object => "an object".into(),
            Value::Expression => {
                "an expression (interpolation, variables and functions are not supported)".into()
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// HCL
// ---------------------------------------------------------------------------------------------

pub(crate) fn from_hcl(body: &hcl::Body) -> Body {
    let items = body
        .iter()
        .map(|structure| match structure {
            hcl::Structure::Attribute(attr) => Item {
                key: attr.key().to_string(),
                labels: Vec::new(),
                content: Content::Value(hcl_value(attr.expr())),
            },
            hcl::Structure::Block(block) => Item {
                key: block.identifier().to_string(),
                labels: block
                    .labels()
                    .iter()
                    .map(|l| l.as_str().to_string())
                    .collect(),
                content: Content::Block(from_hcl(block.body())),
            },
        })
        .collect();
    Body { items }
}

fn hcl_value(expr: &hcl::Expression) -> Value {
    use hcl::expr::{Operation, UnaryOperator};
    use hcl::Expression as E;
    match expr {
        E::Null => Value::Null,
        E::Bool(b) => Value::Bool(*b),
        E::Number(n) => number(n.as_i64(), n.as_f64()),
        E::String(s) => Value::Str(s.clone()),
        // Recursion is bounded: hcl-edit refuses nesting past 64 levels.
        E::Array(elements) => Value::List(elements.iter().map(hcl_value).collect()),
        E::Object(_) => Value::Object,
        E::Parenthesis(inner) => hcl_value(inner),
        // HCL has no negative literals: `-1` is a negation applied to `1`. Vault's
        // `max_request_size = -1` needs it folded back into a number.
        E::Operation(op) => match op.as_ref() {
            Operation::Unary(unary) if unary.operator == UnaryOperator::Neg => {
                match hcl_value(&unary.expr) {
                    Value::Int(i) => i.checked_neg().map_or(Value::Expression, Value::Int),
                    Value::Float(x) => Value::Float(-x),
                    _ => Value::Expression,
                }
            }
            _ => Value::Expression,
        },
        _ => Value::Expression,
    }
}

fn number(as_int: Option<i64>, as_float: Option<f64>) -> Value {
    match (as_int, as_float) {
        (Some(i), _) => Value::Int(i),
        (None, Some(x)) => Value::Float(x),
        // Every HCL/JSON number is representable as f64; keep a safe fallback anyway.
        (None, None) => Value::Expression,
    }
}

// ---------------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------------

/// Keys whose JSON form is `{"<key>": {"<label>": {...}}}` (or a list of such objects), the
/// way Vault maps HCL blocks with one label onto JSON, at the top level.
const LABELLED_BLOCKS: &[&str] = &[
    "storage",
    "backend",
    "ha_storage",
    "listener",
    "seal",
    "service_registration",
    "audit",
    "plugin",
    "kms_library",
    "entropy",
    "user_lockout",
    "route",
];

/// The labelled blocks inside a top-level block of kind `kind`, in the same JSON shapes:
/// `gateway { listener "tcp" {...} }` and `route "x" { inject_header "X-A" {...} }`. Deeper
/// blocks have none.
fn labelled_children(kind: &str) -> &'static [&'static str] {
    match kind {
        "gateway" => &["listener"],
        "route" => &["inject_header"],
        _ => &[],
    }
}

/// A JSON shape problem: the block and the key it was found under, and what is wrong.
pub(crate) struct JsonShapeError {
    /// The enclosing block as HCL would write it (`route "shop"`); `None` at the top level.
    pub block: Option<String>,
    pub key: String,
    pub problem: String,
}

/// The top level of a JSON config: like any other body, except that the labelled block kinds
/// are unwrapped into one item per label (and per list element).
pub(crate) fn from_json(top: &Json) -> Result<Body, JsonShapeError> {
    let Json::Object(map) = top else {
        return Err(JsonShapeError {
            block: None,
            key: "(top level)".into(),
            problem: "expected a JSON object".into(),
        });
    };
    let mut items = Vec::new();
    for (key, value) in map {
        if LABELLED_BLOCKS.contains(&key.as_str()) {
            labelled_blocks(None, key, value, &mut items)?;
        } else {
            items.push(json_item(key, value, labelled_children(key))?);
        }
    }
    Ok(Body { items })
}

/// `{"tcp": {...}}`, `{"tcp": [{...}, {...}]}` or a list of those. `parent` is the enclosing
/// block for a labelled block inside another (`None` at the top level).
fn labelled_blocks(
    parent: Option<&str>,
    key: &str,
    value: &Json,
    out: &mut Vec<Item>,
) -> Result<(), JsonShapeError> {
    let shape_error = || JsonShapeError {
        block: parent.map(str::to_string),
        key: key.to_string(),
        problem: format!(
            "expected an object of the form {{\"<type>\": {{...}}}} or a list of them, got {}",
            json_kind(value)
        ),
    };
    match value {
        Json::Array(list) => {
            for element in list {
                if !element.is_object() {
                    return Err(shape_error());
                }
                labelled_blocks(parent, key, element, out)?;
            }
            Ok(())
        }
        Json::Object(by_label) => {
            for (label, body) in by_label {
                let bodies: Vec<&Json> = match body {
                    Json::Array(list) => list.iter().collect(),
                    other => vec![other],
                };
                let name = format!("{key} {label:?}");
                // Only top-level blocks hold labelled blocks of their own.
                let children = if parent.is_none() {
                    labelled_children(key)
                } else {
                    &[]
                };
                for body in bodies {
                    let Json::Object(_) = body else {
                        return Err(JsonShapeError {
                            block: parent.map(str::to_string),
                            key: name,
                            problem: format!("expected an object, got {}", json_kind(body)),
                        });
                    };
                    out.push(Item {
                        key: key.to_string(),
                        labels: vec![label.clone()],
                        content: Content::Block(json_body(body, &name, children)?),
                    });
                }
            }
            Ok(())
        }
        _ => Err(shape_error()),
    }
}

/// Inside a block, a nested object is an unlabelled block (e.g. a listener's `telemetry`),
/// unless its key is one of `labelled` (see [`labelled_children`]). `block` names this block.
fn json_body(value: &Json, block: &str, labelled: &[&str]) -> Result<Body, JsonShapeError> {
    let mut items = Vec::new();
    if let Json::Object(map) = value {
        for (key, value) in map {
            if labelled.contains(&key.as_str()) {
                labelled_blocks(Some(block), key, value, &mut items)?;
            } else {
                items.push(json_item(key, value, &[])?);
            }
        }
    }
    Ok(Body { items })
}

/// A key and its value; an object becomes a block whose labelled children are `labelled`.
fn json_item(key: &str, value: &Json, labelled: &[&str]) -> Result<Item, JsonShapeError> {
    let content = match value {
        Json::Object(_) => Content::Block(json_body(value, key, labelled)?),
        other => Content::Value(json_value(other)),
    };
    Ok(Item {
        key: key.to_string(),
        labels: Vec::new(),
        content,
    })
}

/// A JSON value as a config value. Recursion is bounded: serde_json refuses nesting past 128.
fn json_value(value: &Json) -> Value {
    match value {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => number(n.as_i64(), n.as_f64()),
        Json::String(s) => Value::Str(s.clone()),
        Json::Array(list) => Value::List(list.iter().map(json_value).collect()),
        Json::Object(_) => Value::Object,
    }
}

fn json_kind(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "a list",
        Json::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_hcl(text: &str) -> Body {
        from_hcl(&hcl::parse(text).expect("test HCL parses"))
    }

    #[test]
    fn hcl_negative_numbers_fold_into_literals() {
        let body = parse_hcl("a = -1\nb = -(2.5)\nc = -x\n");
        let values: Vec<_> = body.items.iter().map(|i| i.content.clone()).collect();
        assert_eq!(
            values,
            vec![
                Content::Value(Value::Int(-1)),
                Content::Value(Value::Float(-2.5)),
                Content::Value(Value::Expression),
            ]
        );
    }

    #[test]
    fn hcl_interpolation_is_an_expression() {
        let body = parse_hcl("a = \"${foo}\"\nb = upper(\"x\")\n");
        assert!(body
            .items
            .iter()
            .all(|i| i.content == Content::Value(Value::Expression)));
    }

    #[test]
    fn hcl_repeated_blocks_stay_separate_in_order() {
        let body = parse_hcl("listener \"tcp\" { a = 1 }\nlistener \"tcp\" { a = 2 }\n");
        assert_eq!(body.items.len(), 2);
        assert!(body
            .items
            .iter()
            .all(|i| i.labels == vec!["tcp".to_string()]));
    }

    #[test]
    fn json_labelled_blocks_accept_every_shape() {
        let one: Json = serde_json::json!({"listener": {"tcp": {"a": 1}}});
        let list: Json = serde_json::json!({"listener": [{"tcp": {"a": 1}}, {"tcp": {"a": 2}}]});
        let inner_list: Json = serde_json::json!({"listener": {"tcp": [{"a": 1}, {"a": 2}]}});
        assert_eq!(from_json(&one).ok().map(|b| b.items.len()), Some(1));
        assert_eq!(from_json(&list).ok().map(|b| b.items.len()), Some(2));
        assert_eq!(from_json(&inner_list).ok().map(|b| b.items.len()), Some(2));
        assert_eq!(from_json(&list).ok(), from_json(&inner_list).ok());
    }

    #[test]
    fn json_labelled_block_of_wrong_shape_is_an_error() {
        let bad: Json = serde_json::json!({"storage": "redb"});
        let err = from_json(&bad).err().map(|e| (e.key, e.problem));
        assert_eq!(
            err.map(|(k, p)| (k, p.ends_with("got a string"))),
            Some(("storage".to_string(), true))
        );
        let bad_body: Json = serde_json::json!({"storage": {"redb": 3}});
        assert_eq!(
            from_json(&bad_body).err().map(|e| e.key),
            Some("storage \"redb\"".to_string())
        );
    }

    #[test]
    fn long_strings_are_cut_in_descriptions() {
        let long = "x".repeat(500);
        let shown = Value::Str(long).describe();
        assert!(shown.len() < 60, "{shown}");
        assert!(shown.ends_with("..."));
    }
}
