//! The settings file's JSON Schema where serde's shape does not say it: the forms a
//! short number, a task deadline, a pipeline and the users map may be written in.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use super::settings::{Deadline, PipelineRef};
use crate::sipuni::event::ShortNumber;

fn name(s: &'static str) -> Cow<'static, str> {
    Cow::Borrowed(s)
}

/// An employee: a short number or `idNNN`, as a string or a bare number.
pub(crate) fn short_number_schema() -> Schema {
    json_schema!({
        "description": "An employee: a Sipuni short number of 2 to 6 digits (\"201\"), or idNNN, the employee's Sipuni id, for a leg rung on a mobile (\"id265648\").",
        "anyOf": [
            { "type": "string", "pattern": "^\\s*([0-9]{2,6}|id[0-9]{1,12})\\s*$" },
            { "type": "integer", "minimum": 10, "maximum": 999_999 }
        ]
    })
}

impl JsonSchema for ShortNumber {
    fn schema_name() -> Cow<'static, str> {
        name("ShortNumber")
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        short_number_schema()
    }
}

impl JsonSchema for Deadline {
    fn schema_name() -> Cow<'static, str> {
        name("TaskDeadline")
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Task deadline in seconds (> 0), or a duration (5m); empty means 3600.",
            "anyOf": [
                { "type": "integer", "minimum": 1 },
                { "type": "string", "pattern": "^\\s*([0-9]+|([0-9]+h)?([0-9]+m)?([0-9]+s)?)?\\s*$" },
                { "type": "null" }
            ]
        })
    }
}

impl JsonSchema for PipelineRef {
    fn schema_name() -> Cow<'static, str> {
        name("PipelineRef")
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A pipeline («воронка») id, or { id, status } with its first stage.",
            "anyOf": [
                { "type": "integer", "minimum": 0 },
                {
                    "type": "object",
                    "properties": {
                        "id": { "type": "integer", "minimum": 0 },
                        "status": { "type": ["integer", "null"], "minimum": 0 }
                    },
                    "required": ["id"],
                    "additionalProperties": false
                }
            ]
        })
    }
}
