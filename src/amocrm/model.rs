//! amoCRM API v4 data as the client reads it. Lenient where amoCRM is inconsistent
//! (numbers sent as strings, `leads/complex` answered as a plain array or as HAL).

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// An id that may arrive as a number or a numeric string.
fn loose_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match Value::deserialize(d)? {
        Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| serde::de::Error::custom("expected a positive id")),
        Value::String(s) => s.trim().parse().map_err(serde::de::Error::custom),
        other => Err(serde::de::Error::custom(format!(
            "expected an id, got {other}"
        ))),
    }
}

fn loose_opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

#[derive(Clone, Debug, Deserialize)]
pub(crate) struct IdRef {
    #[serde(deserialize_with = "loose_u64")]
    pub(crate) id: u64,
}

#[derive(Clone, Debug, Deserialize)]
pub(crate) struct User {
    #[serde(deserialize_with = "loose_u64")]
    pub(crate) id: u64,
}

#[derive(Clone, Debug, Deserialize)]
pub(crate) struct Status {
    #[serde(deserialize_with = "loose_u64")]
    pub(crate) id: u64,
    #[serde(default, rename = "type")]
    pub(crate) kind: u8,
}

#[derive(Clone, Debug, Deserialize)]
pub(crate) struct PipelineEmbedded {
    #[serde(default)]
    pub(crate) statuses: Vec<Status>,
}

#[derive(Clone, Debug, Deserialize)]
pub(crate) struct Pipeline {
    #[serde(deserialize_with = "loose_u64")]
    pub(crate) id: u64,
    #[serde(default)]
    pub(crate) is_main: bool,
    #[serde(default, rename = "_embedded")]
    pub(crate) embedded: Option<PipelineEmbedded>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct ContactEmbedded {
    #[serde(default)]
    pub(crate) leads: Vec<IdRef>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Contact {
    #[serde(deserialize_with = "loose_u64")]
    pub(crate) id: u64,
    #[serde(default, deserialize_with = "loose_opt_u64")]
    pub responsible_user_id: Option<u64>,
    #[serde(default)]
    pub(crate) custom_fields_values: Option<Vec<Value>>,
    #[serde(default, rename = "_embedded")]
    pub(crate) embedded: Option<ContactEmbedded>,
}

impl Contact {
    /// Phone values of the PHONE field.
    pub(crate) fn phones(&self) -> Vec<String> {
        self.custom_fields_values
            .iter()
            .flatten()
            .filter(|f| f.get("field_code").and_then(Value::as_str) == Some("PHONE"))
            .flat_map(|f| {
                f.get("values")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|v| match v.get("value") {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn lead_ids(&self) -> Vec<u64> {
        self.embedded
            .as_ref()
            .map(|e| e.leads.iter().map(|l| l.id).collect())
            .unwrap_or_default()
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct Lead {
    #[serde(deserialize_with = "loose_u64")]
    pub id: u64,
    #[serde(deserialize_with = "loose_u64")]
    pub status_id: u64,
}

/// The stage of a won deal, the same in every pipeline («Успешно реализовано»).
pub const WON: u64 = 142;
/// The stage of a lost deal, the same in every pipeline («Закрыто и не реализовано»).
pub const LOST: u64 = 143;

impl Lead {
    /// Neither won nor lost.
    pub(crate) fn is_active(&self) -> bool {
        self.status_id != WON && self.status_id != LOST
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct Task {
    #[serde(deserialize_with = "loose_u64")]
    pub(crate) id: u64,
    #[serde(default)]
    pub is_completed: bool,
    #[serde(default)]
    pub complete_till: i64,
    #[serde(default)]
    pub text: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Note {
    #[serde(deserialize_with = "loose_u64")]
    pub(crate) id: u64,
    #[serde(default)]
    pub note_type: String,
    #[serde(default)]
    pub params: Value,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct UnsortedEmbedded {
    #[serde(default)]
    pub(crate) contacts: Vec<IdRef>,
    #[serde(default)]
    pub(crate) leads: Vec<LeadRef>,
}

/// A lead inside an Unsorted item: a stub (`id` only) or a full model with its stage.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct LeadRef {
    #[serde(deserialize_with = "loose_u64")]
    pub(crate) id: u64,
    #[serde(default, deserialize_with = "loose_opt_u64")]
    pub(crate) status_id: Option<u64>,
}

/// An Unsorted item (or the answer to creating, accepting or declining one).
#[derive(Clone, Debug, Deserialize)]
pub struct Unsorted {
    pub(crate) uid: String,
    #[serde(default)]
    pub source_uid: Option<String>,
    #[serde(default, rename = "_embedded")]
    pub(crate) embedded: UnsortedEmbedded,
}

/// One element of the `leads/complex` answer.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct ComplexCreated {
    #[serde(deserialize_with = "loose_u64")]
    pub(crate) id: u64,
    #[serde(default, deserialize_with = "loose_opt_u64")]
    pub(crate) contact_id: Option<u64>,
}

/// Every entry of a problem+json body's `validation-errors`, across batch items.
pub(crate) fn validation_errors(body: &Value) -> impl Iterator<Item = &Value> {
    body.get("validation-errors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|g| g.get("errors").and_then(Value::as_array))
        .flatten()
}

/// `_embedded.<key>` of a HAL body as a typed list (empty when absent).
pub(crate) fn embedded<T: serde::de::DeserializeOwned>(
    body: &Value,
    key: &str,
) -> Result<Vec<T>, serde_json::Error> {
    match body.get("_embedded").and_then(|e| e.get(key)) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(v) => serde_json::from_value(v.clone()),
    }
}

/// The `leads/complex` answer: a plain array, or (as one SDK models it) HAL `_embedded.leads`.
pub(crate) fn complex_created(body: &Value) -> Result<Vec<ComplexCreated>, serde_json::Error> {
    match body {
        Value::Array(_) => serde_json::from_value(body.clone()),
        _ => embedded(body, "leads"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn complex_answers_are_read_in_both_shapes() {
        let plain = json!([{ "id": 1, "contact_id": 2, "company_id": null, "request_id": ["0"], "merged": false }]);
        let hal = json!({ "_embedded": { "leads": [{ "id": "1", "contact_id": "2" }] } });
        for body in [plain, hal] {
            let c = complex_created(&body).unwrap();
            assert_eq!((c[0].id, c[0].contact_id), (1, Some(2)));
        }
    }
}
