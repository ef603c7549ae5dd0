//! Tenant tools for function calling: their definitions, validated when saved, and the
//! checking of a call's arguments against a tool's JSON Schema. Plain Rust.
//!
//! A tool has a name the LLM calls it by, a description, the JSON Schema of its arguments (an
//! object, as OpenAI's function calling requires), the webhook that runs it, a timeout, and
//! whether the user's interruption may cancel it (a lookup may be; a booking usually may not).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::tenant::fields::{TenantError, UrlPolicy, provider_url};

/// Bounds of a tool definition.
pub mod bounds {
    pub const TOOLS_MAX: usize = 16;
    pub const NAME_MAX: usize = 64;
    pub const DESCRIPTION_MAX: usize = 1_024;
    /// The schema, serialised.
    pub const SCHEMA_MAX_BYTES: usize = 16 * 1024;
    pub const TIMEOUT_MIN_MS: u32 = 100;
    pub const TIMEOUT_MAX_MS: u32 = 30_000;
    /// A call's arguments, as the LLM sent them.
    pub const ARGUMENTS_MAX_BYTES: usize = 16 * 1024;
}

/// Names of the built-in tools; a tenant's tool may not take them.
pub const BUILT_IN: [&str; 3] = ["end_conversation", "transfer_to_human", "current_time"];

/// The definition the LLM is given for a built-in tool (OpenAI `tools` entry).
pub fn builtin_definition(name: &str) -> Option<Value> {
    let (description, parameters) = match name {
        "end_conversation" => (
            "End the conversation after your reply, when the user says goodbye or asks to stop.",
            serde_json::json!({"type": "object", "properties": {"reason": {"type": "string"}}}),
        ),
        "transfer_to_human" => (
            "Hand the conversation to a person, when the user asks for one or you cannot help.",
            serde_json::json!({"type": "object", "properties": {"reason": {"type": "string"}}, "required": ["reason"]}),
        ),
        "current_time" => (
            "The current date and time where the business is.",
            serde_json::json!({"type": "object", "properties": {}}),
        ),
        _ => return None,
    };
    Some(
        serde_json::json!({"type": "function", "function": {"name": name, "description": description, "parameters": parameters}}),
    )
}

/// Checks the enabled built-ins (known, unique) and the time zone's form (an IANA name such as
/// `Europe/London`, or `UTC`; the runtime's Intl resolves it).
pub fn validate_builtins(names: &[String], time_zone: &str) -> Result<(), TenantError> {
    for (i, name) in names.iter().enumerate() {
        if !BUILT_IN.contains(&name.as_str()) {
            return Err(TenantError::Invalid(
                "builtin_tools",
                "unknown built-in tool",
            ));
        }
        if names[..i].contains(name) {
            return Err(TenantError::Invalid(
                "builtin_tools",
                "names must be unique",
            ));
        }
    }
    let zone_ok = !time_zone.is_empty()
        && time_zone.len() <= 64
        && time_zone.split('/').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_+-".contains(&b))
        });
    if !zone_ok {
        return Err(TenantError::Invalid(
            "time_zone",
            "an IANA time zone such as Europe/London",
        ));
    }
    Ok(())
}

/// One tenant tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolSettings {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments: `{"type": "object", ...}`.
    pub parameters: Value,
    /// Called with the HMAC-signed arguments (see [`crate::tenant::webhook_signature`]).
    pub webhook_url: String,
    #[serde(default = "default_timeout")]
    pub timeout_ms: u32,
    /// Whether an interruption by the user aborts the call.
    #[serde(default = "yes")]
    pub cancellable: bool,
}

fn default_timeout() -> u32 {
    5_000
}
fn yes() -> bool {
    true
}

/// JSON Schema drafts a tool's schema may declare with `$schema` (or none: the latest).
const DRAFTS: [&str; 5] = [
    "http://json-schema.org/draft-04/schema#",
    "http://json-schema.org/draft-06/schema#",
    "http://json-schema.org/draft-07/schema#",
    "https://json-schema.org/draft/2019-09/schema",
    "https://json-schema.org/draft/2020-12/schema",
];

impl ToolSettings {
    pub fn validate(&self, policy: UrlPolicy) -> Result<(), TenantError> {
        let name_ok = !self.name.is_empty()
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if self.name.len() > bounds::NAME_MAX {
            return Err(TenantError::TooLong("tools.name"));
        }
        if !name_ok {
            return Err(TenantError::Invalid(
                "tools.name",
                "1 to 64 of a-z, A-Z, 0-9, _ and -",
            ));
        }
        if BUILT_IN.contains(&self.name.as_str()) {
            return Err(TenantError::Invalid(
                "tools.name",
                "that name belongs to a built-in tool",
            ));
        }
        if self.description.trim().is_empty() {
            return Err(TenantError::Missing("tools.description"));
        }
        if self.description.len() > bounds::DESCRIPTION_MAX {
            return Err(TenantError::TooLong("tools.description"));
        }
        provider_url("tools.webhook_url", &self.webhook_url, policy)?;
        if !(bounds::TIMEOUT_MIN_MS..=bounds::TIMEOUT_MAX_MS).contains(&self.timeout_ms) {
            return Err(TenantError::Invalid(
                "tools.timeout_ms",
                "between 100 and 30000",
            ));
        }
        validate_schema(&self.parameters)
    }
}

/// Checks that `schema` is a JSON Schema of an object that compiles on its own (no remote
/// references: nothing is fetched).
pub fn validate_schema(schema: &Value) -> Result<(), TenantError> {
    const FIELD: &str = "tools.parameters";
    if serde_json::to_vec(schema).map_or(usize::MAX, |v| v.len()) > bounds::SCHEMA_MAX_BYTES {
        return Err(TenantError::TooLong(FIELD));
    }
    let Some(object) = schema.as_object() else {
        return Err(TenantError::Invalid(FIELD, "a JSON Schema object"));
    };
    if object.get("type").and_then(Value::as_str) != Some("object") {
        return Err(TenantError::Invalid(
            FIELD,
            "the arguments must be an object: \"type\": \"object\"",
        ));
    }
    if let Some(draft) = object.get("$schema")
        && !draft.as_str().is_some_and(|d| DRAFTS.contains(&d))
    {
        return Err(TenantError::Invalid(FIELD, "an unknown $schema draft"));
    }
    if contains_remote_ref(schema) {
        return Err(TenantError::Invalid(
            FIELD,
            "only local $ref (\"#...\") are allowed",
        ));
    }
    jsonschema::validator_for(schema)
        .map(|_| ())
        .map_err(|_| TenantError::Invalid(FIELD, "not a valid JSON Schema"))
}

fn contains_remote_ref(v: &Value) -> bool {
    match v {
        Value::Object(map) => map.iter().any(|(k, v)| {
            (k == "$ref" || k == "$dynamicRef" || k == "$recursiveRef")
                && !v.as_str().is_some_and(|r| r.starts_with('#'))
                || contains_remote_ref(v)
        }),
        Value::Array(items) => items.iter().any(contains_remote_ref),
        _ => false,
    }
}

/// Checks a tool list: each tool, their count, and that names are unique.
pub fn validate_tools(tools: &[ToolSettings], policy: UrlPolicy) -> Result<(), TenantError> {
    if tools.len() > bounds::TOOLS_MAX {
        return Err(TenantError::TooMany("tools"));
    }
    for (i, tool) in tools.iter().enumerate() {
        tool.validate(policy)?;
        if tools[..i].iter().any(|t| t.name == tool.name) {
            return Err(TenantError::Invalid("tools.name", "names must be unique"));
        }
    }
    Ok(())
}

/// Why a call's arguments were refused; the text goes back to the LLM as the tool's result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgumentsError {
    #[error("the arguments are longer than 16 KiB")]
    TooLarge,
    #[error("the arguments are not valid JSON")]
    NotJson,
    #[error("the arguments do not match the tool's schema: {0}")]
    Schema(String),
}

/// Parses a call's arguments and checks them against the tool's schema. The error names the
/// failing location in the arguments (a JSON pointer), never a value.
pub fn check_arguments(schema: &Value, arguments: &str) -> Result<Value, ArgumentsError> {
    if arguments.len() > bounds::ARGUMENTS_MAX_BYTES {
        return Err(ArgumentsError::TooLarge);
    }
    // Models send "" for a tool without parameters.
    let text = if arguments.trim().is_empty() {
        "{}"
    } else {
        arguments
    };
    let value: Value = serde_json::from_str(text).map_err(|_| ArgumentsError::NotJson)?;
    let validator = jsonschema::validator_for(schema)
        .map_err(|_| ArgumentsError::Schema("the tool's schema does not compile".into()))?;
    let failures: Vec<String> = validator
        .iter_errors(&value)
        .take(3)
        .map(|e| {
            let at = e.instance_path().to_string();
            format!(
                "{} at {}",
                e.kind().keyword(),
                if at.is_empty() { "/" } else { &at }
            )
        })
        .collect();
    if failures.is_empty() {
        Ok(value)
    } else {
        Err(ArgumentsError::Schema(failures.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tool() -> ToolSettings {
        ToolSettings {
            name: "check_order".into(),
            description: "Looks up an order by its number.".into(),
            parameters: json!({
                "type": "object",
                "properties": {"order": {"type": "integer", "minimum": 1}, "email": {"type": "string"}},
                "required": ["order"],
                "additionalProperties": false
            }),
            webhook_url: "https://shop.example/aura/tools".into(),
            timeout_ms: 5_000,
            cancellable: true,
        }
    }

    #[test]
    fn a_good_tool_is_valid() {
        tool().validate(UrlPolicy::HttpsOnly).unwrap();
        let parsed: ToolSettings = serde_json::from_value(json!({
            "name": "t", "description": "d", "parameters": {"type": "object"},
            "webhook_url": "https://x.example/"
        }))
        .unwrap();
        assert_eq!((parsed.timeout_ms, parsed.cancellable), (5_000, true));
    }

    #[test]
    fn names_descriptions_urls_and_timeouts_are_checked() {
        let with = |f: &dyn Fn(&mut ToolSettings)| {
            let mut t = tool();
            f(&mut t);
            t.validate(UrlPolicy::HttpsOnly)
        };
        assert!(with(&|t| t.name = "check order".into()).is_err());
        assert!(with(&|t| t.name = String::new()).is_err());
        assert!(with(&|t| t.name = "x".repeat(65)).is_err());
        assert!(
            with(&|t| t.name = "end_conversation".into()).is_err(),
            "built-in"
        );
        assert!(with(&|t| t.description = " ".into()).is_err());
        assert!(with(&|t| t.description = "x".repeat(1_025)).is_err());
        assert!(with(&|t| t.webhook_url = "http://shop.example/hook".into()).is_err());
        assert!(with(&|t| t.webhook_url = "http://127.0.0.1:9000/hook".into()).is_err());
        assert!(with(&|t| t.timeout_ms = 50).is_err());
        assert!(with(&|t| t.timeout_ms = 60_000).is_err());
        let mut local = tool();
        local.webhook_url = "http://127.0.0.1:9000/hook".into();
        assert!(
            local.validate(UrlPolicy::AllowLoopback).is_ok(),
            "loopback in dev"
        );
    }

    #[test]
    fn schemas_must_be_valid_object_schemas_without_remote_refs() {
        for bad in [
            json!("object"),
            json!({"type": "string"}),
            json!({"properties": {}}),
            json!({"type": "object", "properties": {"a": {"type": "nope"}}}),
            json!({"type": "object", "minProperties": -1}),
            json!({"type": "object", "$schema": "https://example.com/my-meta"}),
            json!({"type": "object", "properties": {"a": {"$ref": "https://evil.example/s.json"}}}),
        ] {
            assert!(validate_schema(&bad).is_err(), "{bad} accepted");
        }
        let local_ref = json!({
            "type": "object",
            "$defs": {"id": {"type": "integer"}},
            "properties": {"order": {"$ref": "#/$defs/id"}}
        });
        validate_schema(&local_ref).unwrap();
        let huge = json!({"type": "object", "description": "x".repeat(20_000)});
        assert_eq!(
            validate_schema(&huge),
            Err(TenantError::TooLong("tools.parameters"))
        );
    }

    #[test]
    fn built_ins_have_definitions_and_are_validated() {
        for name in BUILT_IN {
            let def = builtin_definition(name).unwrap();
            validate_schema(&def["function"]["parameters"]).unwrap();
        }
        assert_eq!(builtin_definition("rm_rf"), None);
        assert!(validate_builtins(&["current_time".into()], "Europe/London").is_ok());
        assert!(validate_builtins(&[], "UTC").is_ok());
        assert!(validate_builtins(&["shell".into()], "UTC").is_err());
        assert!(validate_builtins(&["current_time".into(), "current_time".into()], "UTC").is_err());
        for zone in [
            "",
            "Europe//London",
            "../etc/passwd",
            "Europe/London; DROP",
            &"A".repeat(65),
        ] {
            assert!(validate_builtins(&[], zone).is_err(), "{zone}");
        }
    }

    #[test]
    fn tool_lists_are_bounded_and_names_unique() {
        assert!(validate_tools(&[tool(), tool()], UrlPolicy::HttpsOnly).is_err());
        let many: Vec<ToolSettings> = (0..17)
            .map(|i| ToolSettings {
                name: format!("t{i}"),
                ..tool()
            })
            .collect();
        assert_eq!(
            validate_tools(&many, UrlPolicy::HttpsOnly),
            Err(TenantError::TooMany("tools"))
        );
        validate_tools(&many[..16], UrlPolicy::HttpsOnly).unwrap();
    }

    #[test]
    fn arguments_are_parsed_and_checked_against_the_schema() {
        let schema = tool().parameters;
        assert_eq!(
            check_arguments(&schema, r#"{"order": 42}"#).unwrap(),
            json!({"order": 42})
        );
        assert_eq!(
            check_arguments(&schema, "{\"order\": 4"),
            Err(ArgumentsError::NotJson)
        );
        let missing = check_arguments(&schema, "{}").unwrap_err();
        assert!(
            matches!(&missing, ArgumentsError::Schema(m) if m.contains("required")),
            "{missing}"
        );
        let wrong = check_arguments(&schema, r#"{"order": "secret-value-123"}"#).unwrap_err();
        assert!(
            matches!(&wrong, ArgumentsError::Schema(m) if m.contains("/order")),
            "{wrong}"
        );
        assert!(
            !wrong.to_string().contains("secret-value-123"),
            "values are never quoted"
        );
        let extra = check_arguments(&schema, r#"{"order": 1, "admin": true}"#).unwrap_err();
        assert!(matches!(extra, ArgumentsError::Schema(_)));
        assert_eq!(
            check_arguments(
                &schema,
                &format!("{{\"email\": \"{}\"}}", "a".repeat(20_000))
            ),
            Err(ArgumentsError::TooLarge)
        );
        // No parameters: "" is an empty object.
        assert_eq!(
            check_arguments(&json!({"type": "object"}), "").unwrap(),
            json!({})
        );
    }
}
