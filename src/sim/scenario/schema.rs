//! The JSON Schema of the scenario format, generated from the Rust types that read it
//! (`schemars`): what `sipamo schema` prints and `schema/scenario.schema.json` holds, so YAML
//! editors complete keys and flag mistakes as QA types. Types with a hand-written `Deserialize`
//! get their schema here, written to accept exactly what that `Deserialize` accepts.

use std::borrow::Cow;

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::{Value, json};

use super::model::{
    CountOr, CrmAction, PhoneField, RawCrmAction, RawStep, RuleId, ShortField, Start, StatusField,
    Step, Text,
};
use crate::duration::Span;
use crate::engine::Rule;
use crate::engine::rules::settings_schema::short_number_schema;
use crate::sim::mock::UnsortedState;

/// Where the committed schema lives, relative to the repository root.
pub const SCHEMA_PATH: &str = "schema/scenario.schema.json";

/// The first line of a scenario file that points YAML editors at the schema, for a file
/// `depth` folders below the repository root (`scenarios/missed/x.yaml` is 2).
pub fn modeline(depth: usize) -> String {
    format!(
        "# yaml-language-server: $schema={}{SCHEMA_PATH}",
        "../".repeat(depth)
    )
}

/// The schema of a whole scenario file (JSON Schema 2020-12).
pub fn scenario_schema() -> Value {
    let generator = SchemaSettings::draft2020_12()
        .for_deserialize()
        .into_generator();
    let mut root = generator.into_root_schema_for::<super::model::Scenario>();
    root.insert(
        "$id".into(),
        json!("https://sipamo.invalid/schema/scenario.schema.json"),
    );
    root.insert("title".into(), json!("sipamo scenario"));
    root.to_value()
}

/// The schema as committed: pretty JSON with a final newline.
pub fn scenario_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&scenario_schema())
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

fn name(s: &'static str) -> Cow<'static, str> {
    Cow::Borrowed(s)
}

/// A duration pattern: number+unit groups in the order h, m, s.
const DURATION: &str = "^([0-9]+h)?([0-9]+m)?([0-9]+s)?$";

impl JsonSchema for Span {
    fn schema_name() -> Cow<'static, str> {
        name("Duration")
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Virtual time: number+unit groups in the order h, m, s (0s, 90s, 5m10s, 1h0m20s); a bare integer is seconds.",
            "anyOf": [
                { "type": "string", "pattern": DURATION, "minLength": 2 },
                { "type": "integer", "minimum": 0 }
            ]
        })
    }
}

impl JsonSchema for PhoneField {
    fn schema_name() -> Cow<'static, str> {
        name("Phone")
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A phone in any common notation (\"+7 916 123-45-67\", \"8 (916) 123-45-67\", \"79161234567\"): 3 to 15 digits; 10 digits are Russian national.",
            "anyOf": [
                { "type": "string", "pattern": "^[0-9 +().\u{a0}-]+$" },
                { "type": "integer", "minimum": 100 }
            ]
        })
    }
}

impl JsonSchema for ShortField {
    fn schema_name() -> Cow<'static, str> {
        name("ShortNumber")
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        short_number_schema()
    }
}

impl JsonSchema for RuleId {
    fn schema_name() -> Cow<'static, str> {
        name("RuleId")
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let one_of: Vec<Value> = Rule::ALL
            .into_iter()
            .map(|r| json!({ "const": r.id(), "description": r.title() }))
            .collect();
        json_schema!({
            "description": "A rule ID of the behaviour spec.",
            "type": "string",
            "oneOf": one_of
        })
    }
}

impl JsonSchema for Text {
    fn schema_name() -> Cow<'static, str> {
        name("Text")
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": ["string", "number", "boolean"] })
    }
}

impl JsonSchema for Start {
    fn schema_name() -> Cow<'static, str> {
        name("Start")
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Virtual time of `at: 0s`, RFC 3339 (2026-03-02T10:00:00+03:00); default 2026-03-02T10:00:00+03:00.",
            "type": "string",
            "format": "date-time"
        })
    }
}

/// `^\s*(A|B)\s*$` matching each word in any case, without inline flags (which the
/// ECMA-262 regexes of editors do not have).
fn any_case_pattern(words: &[&str]) -> String {
    let alternatives: Vec<String> = words
        .iter()
        .map(|w| {
            w.chars()
                .map(|c| format!("[{}{}]", c.to_ascii_uppercase(), c.to_ascii_lowercase()))
                .collect()
        })
        .collect();
    format!("^\\s*({})\\s*$", alternatives.join("|"))
}

impl JsonSchema for StatusField {
    fn schema_name() -> Cow<'static, str> {
        name("HangupStatus")
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Sipuni hangup status (any case).",
            "type": "string",
            "pattern": any_case_pattern(&["ANSWER", "BUSY", "NOANSWER", "CANCEL", "CONGESTION", "CHANUNAVAIL"]),
            "examples": ["NOANSWER", "BUSY", "CANCEL", "CONGESTION", "CHANUNAVAIL", "ANSWER"]
        })
    }
}

impl JsonSchema for UnsortedState {
    fn schema_name() -> Cow<'static, str> {
        name("UnsortedState")
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "enum": ["pending", "accepted", "declined"] })
    }
}

impl<T: JsonSchema> JsonSchema for CountOr<T> {
    fn schema_name() -> Cow<'static, str> {
        Cow::Owned(format!("CountOr{}", T::schema_name()))
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let item = generator.subschema_for::<T>();
        json_schema!({
            "description": "A count of visible entities, or a list matched one to one.",
            "anyOf": [
                { "type": "integer", "minimum": 0 },
                { "type": "array", "items": item }
            ]
        })
    }
}

impl JsonSchema for CrmAction {
    fn schema_name() -> Cow<'static, str> {
        name("CrmAction")
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut schema = RawCrmAction::json_schema(generator);
        schema.insert("minProperties".into(), json!(1));
        schema.insert("maxProperties".into(), json!(1));
        schema
    }
}

impl JsonSchema for Step {
    fn schema_name() -> Cow<'static, str> {
        name("Step")
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut schema = RawStep::json_schema(generator);
        let one_of: Vec<Value> = ["call", "event", "crm", "fault", "settings"]
            .into_iter()
            .map(|k| json!({ "required": [k] }))
            .collect();
        schema.insert("oneOf".into(), Value::Array(one_of));
        schema
    }
}

/// `event:` — a raw Sipuni event, field → scalar value.
pub(crate) fn raw_event(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "A raw Sipuni event as the wire sends it: field → value (string, number, boolean or empty); a missing `timestamp` is the step's virtual time.",
        "type": "object",
        "additionalProperties": { "type": ["string", "number", "boolean", "null"] }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_modeline_climbs_to_the_root() {
        assert_eq!(
            modeline(2),
            "# yaml-language-server: $schema=../../schema/scenario.schema.json"
        );
    }

    #[test]
    fn the_schema_closes_every_object_the_format_closes() {
        let schema = scenario_schema();
        assert_eq!(schema["additionalProperties"], json!(false));
        assert_eq!(schema["required"], json!(["name", "settings"]));
        let step = &schema["$defs"]["Step"];
        assert_eq!(step["additionalProperties"], json!(false));
        assert_eq!(step["oneOf"].as_array().map(Vec::len), Some(5));
    }

    #[test]
    fn every_rule_id_is_offered_with_its_title() {
        let schema = scenario_schema();
        let ids = schema["$defs"]["RuleId"]["oneOf"]
            .as_array()
            .map_or(0, Vec::len);
        assert_eq!(ids, Rule::ALL.len());
    }
}
