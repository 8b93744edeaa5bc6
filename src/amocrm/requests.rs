//! The bodies of the amoCRM writes the engine sends, typed: a contact, a lead (alone, with a new
//! contact for `leads/complex`, or linked to a contact), an Unsorted sip item, a callback task
//! and a call note. Each serialises to exactly the JSON amoCRM API v4 documents.

use serde::Serialize;

/// The text of a callback task («Перезвонить клиенту»), followed by the phone.
pub(crate) const TASK_TEXT: &str = "Перезвонить клиенту";
/// `source` of call notes and `source_name` of Unsorted items.
pub(crate) const SOURCE: &str = "Sipuni";

/// An entity a task or a note is put on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EntityRef {
    Lead(u64),
    Contact(u64),
}

impl EntityRef {
    /// The entity type as amoCRM's paths and `entity_type` name it.
    pub(crate) fn kind(self) -> &'static str {
        match self {
            EntityRef::Lead(_) => "leads",
            EntityRef::Contact(_) => "contacts",
        }
    }

    pub(crate) fn id(self) -> u64 {
        match self {
            EntityRef::Lead(id) | EntityRef::Contact(id) => id,
        }
    }
}

/// One value of the `PHONE` field.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct PhoneValue {
    pub(crate) value: String,
    pub(crate) enum_code: &'static str,
}

/// The contact's `PHONE` field («Телефон»), by its code.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct PhoneField {
    pub(crate) field_code: &'static str,
    pub(crate) values: Vec<PhoneValue>,
}

impl PhoneField {
    /// A work phone written as `e164`.
    pub(crate) fn work(e164: String) -> Self {
        PhoneField {
            field_code: "PHONE",
            values: vec![PhoneValue {
                value: e164,
                enum_code: "WORK",
            }],
        }
    }
}

/// `POST /api/v4/contacts` (and a contact embedded in a lead or an Unsorted item).
#[derive(Clone, Debug, Serialize)]
pub(crate) struct NewContact {
    pub(crate) name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) responsible_user_id: Option<u64>,
    pub(crate) custom_fields_values: Vec<PhoneField>,
}

/// A contact of a new lead: created with it (`leads/complex`), or an existing one linked.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum LeadContact {
    New(NewContact),
    Existing { id: u64 },
}

/// `_embedded` of a new lead.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct LeadEmbedded {
    pub(crate) contacts: Vec<LeadContact>,
}

/// `POST /api/v4/leads` or `POST /api/v4/leads/complex`.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct NewLead {
    pub(crate) name: String,
    pub(crate) responsible_user_id: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) pipeline_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) status_id: Option<u64>,
    #[serde(rename = "_embedded", skip_serializing_if = "Option::is_none")]
    pub(crate) embedded: Option<LeadEmbedded>,
}

/// `metadata` of an Unsorted sip item: the call.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct SipMetadata {
    pub(crate) is_call_event_needed: bool,
    pub(crate) uniq: String,
    pub(crate) duration: u64,
    pub(crate) service_code: &'static str,
    pub(crate) phone: String,
    pub(crate) called_at: i64,
    pub(crate) from: String,
    pub(crate) call_responsible: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) link: Option<String>,
}

/// The lead an Unsorted item proposes.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct ItemLead {
    pub(crate) name: String,
}

/// `_embedded` of an Unsorted sip item.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct SipEmbedded {
    pub(crate) leads: Vec<ItemLead>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) contacts: Option<Vec<NewContact>>,
}

/// `POST /api/v4/leads/unsorted/sip`: one item («Неразобранное»).
#[derive(Clone, Debug, Serialize)]
pub(crate) struct NewSipItem {
    pub(crate) source_name: &'static str,
    pub(crate) source_uid: String,
    pub(crate) pipeline_id: u64,
    pub(crate) created_at: i64,
    pub(crate) metadata: SipMetadata,
    #[serde(rename = "_embedded")]
    pub(crate) embedded: SipEmbedded,
}

/// `POST /api/v4/tasks`: the callback task («Перезвонить клиенту»).
#[derive(Clone, Debug, Serialize)]
pub(crate) struct NewTask {
    /// 1: «Связаться» (a call).
    pub(crate) task_type_id: u8,
    pub(crate) text: String,
    pub(crate) complete_till: i64,
    pub(crate) entity_id: u64,
    pub(crate) entity_type: &'static str,
    pub(crate) responsible_user_id: u64,
}

/// `params` of a call note.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct CallParams {
    pub(crate) uniq: String,
    pub(crate) duration: u64,
    pub(crate) source: &'static str,
    pub(crate) phone: String,
    pub(crate) call_status: u8,
    pub(crate) call_responsible: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) link: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) call_result: Option<&'static str>,
}

/// `POST /api/v4/{leads|contacts}/{id}/notes`: the call note («звонок»).
#[derive(Clone, Debug, Serialize)]
pub(crate) struct CallNote {
    /// `call_in` or `call_out`.
    pub(crate) note_type: &'static str,
    pub(crate) responsible_user_id: u64,
    pub(crate) params: CallParams,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_lead_with_a_new_contact_is_the_documented_complex_shape() {
        let lead = NewLead {
            name: "Входящий звонок +79161234567".into(),
            responsible_user_id: 1001,
            pipeline_id: Some(3001),
            status_id: None,
            embedded: Some(LeadEmbedded {
                contacts: vec![LeadContact::New(NewContact {
                    name: "+79161234567".into(),
                    responsible_user_id: Some(1001),
                    custom_fields_values: vec![PhoneField::work("+79161234567".into())],
                })],
            }),
        };
        assert_eq!(
            serde_json::to_value(&lead).unwrap(),
            json!({
                "name": "Входящий звонок +79161234567", "responsible_user_id": 1001, "pipeline_id": 3001,
                "_embedded": { "contacts": [{ "name": "+79161234567", "responsible_user_id": 1001,
                    "custom_fields_values": [{ "field_code": "PHONE", "values": [{ "value": "+79161234567", "enum_code": "WORK" }] }] }] }
            })
        );
        let linked = LeadContact::Existing { id: 5 };
        assert_eq!(serde_json::to_value(&linked).unwrap(), json!({ "id": 5 }));
    }
}
