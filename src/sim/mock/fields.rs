//! Custom fields («дополнительные поля»): the account's field definitions and the values an
//! entity holds, read from `custom_fields_values` the way amoCRM reads them.
//!
//! Sources: amoCRM API v4 «Дополнительные поля» (custom-fields) and «Примеры заполнения
//! дополнительных полей» (custom-fields-values); the official PHP library's
//! `CustomFieldsValues` models, which send `field_id` or `field_code` and null `enum_id`/
//! `enum_code` for values without them.

use serde::Deserialize;
use serde_json::{Value, json};

use super::state::EntityKind;

/// The first id of field definitions (enum ids follow their field's id × 10).
const FIELD_BASE: u64 = 700_001;

/// A field's type as the API names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum FieldType {
    Text,
    Textarea,
    Numeric,
    Checkbox,
    Select,
    Multiselect,
    Multitext,
    Date,
    DateTime,
    Url,
}

impl FieldType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Textarea => "textarea",
            FieldType::Numeric => "numeric",
            FieldType::Checkbox => "checkbox",
            FieldType::Select => "select",
            FieldType::Multiselect => "multiselect",
            FieldType::Multitext => "multitext",
            FieldType::Date => "date",
            FieldType::DateTime => "date_time",
            FieldType::Url => "url",
        }
    }
    fn has_enums(self) -> bool {
        matches!(
            self,
            FieldType::Select | FieldType::Multiselect | FieldType::Multitext
        )
    }
}

/// One choice of a select field, or a kind of a multitext field (`WORK`, `MOB`, …).
#[derive(Clone, Debug)]
pub(crate) struct EnumDef {
    pub(crate) id: u64,
    pub(crate) value: String,
    pub(crate) sort: u64,
}

/// A field definition of the account.
#[derive(Clone, Debug)]
pub(crate) struct FieldDef {
    pub(crate) id: u64,
    pub(crate) entity: EntityKind,
    pub(crate) name: String,
    /// System fields only: `PHONE`, `EMAIL`, `POSITION`, `WEB`, `ADDRESS`.
    pub(crate) code: Option<String>,
    pub(crate) field_type: FieldType,
    pub(crate) enums: Vec<EnumDef>,
    pub(crate) sort: u64,
}

impl FieldDef {
    fn enum_by_id(&self, id: u64) -> Option<&EnumDef> {
        self.enums.iter().find(|e| e.id == id)
    }
    fn enum_by_value(&self, v: &str) -> Option<&EnumDef> {
        self.enums.iter().find(|e| e.value == v)
    }
}

/// One value of a field, as written.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct FieldItem {
    pub(crate) value: Value,
    pub(crate) enum_id: Option<u64>,
    /// Multitext kinds only (`MOB`); a select's choice is in `value`.
    pub(crate) enum_code: Option<String>,
}

/// The values an entity holds in one field.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct FieldValues {
    pub(crate) field_id: u64,
    pub(crate) values: Vec<FieldItem>,
}

const PHONE_KINDS: [&str; 6] = ["WORK", "WORKDD", "MOB", "FAX", "HOME", "OTHER"];
const EMAIL_KINDS: [&str; 3] = ["WORK", "PRIV", "OTHER"];

/// A field definition from the account YAML (`crm.custom_fields`).
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SeedField {
    /// `contacts`, `leads` or `companies`.
    pub(crate) entity: SeedEntity,
    pub(crate) name: String,
    #[serde(rename = "type")]
    pub(crate) field_type: FieldType,
    /// The choices of a select or multiselect field.
    #[serde(default)]
    pub(crate) enums: Vec<String>,
    /// Absent: the next free id.
    #[serde(default)]
    pub(crate) id: Option<u64>,
}

#[derive(Clone, Copy, Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SeedEntity {
    Contacts,
    Leads,
    Companies,
}

impl From<SeedEntity> for EntityKind {
    fn from(e: SeedEntity) -> Self {
        match e {
            SeedEntity::Contacts => EntityKind::Contacts,
            SeedEntity::Leads => EntityKind::Leads,
            SeedEntity::Companies => EntityKind::Companies,
        }
    }
}

/// What is wrong with a custom field of the account YAML.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BadField {
    #[error("field id {0} is taken")]
    Taken(u64),
    #[error("a select or multiselect field needs `enums`")]
    NeedsEnums,
    #[error("only select and multiselect fields take `enums`")]
    TakesNoEnums,
}

/// The account's field definitions.
#[derive(Clone, Debug)]
pub(crate) struct Fields {
    defs: Vec<FieldDef>,
    next_id: u64,
}

impl Default for Fields {
    /// Every account's system fields: PHONE, EMAIL and POSITION on contacts; PHONE, EMAIL, WEB
    /// and ADDRESS on companies. Leads have none.
    fn default() -> Self {
        let mut f = Fields {
            defs: Vec::new(),
            next_id: FIELD_BASE,
        };
        for entity in [EntityKind::Contacts, EntityKind::Companies] {
            f.add_system(
                entity,
                "Телефон",
                "PHONE",
                FieldType::Multitext,
                &PHONE_KINDS,
            );
            f.add_system(entity, "Email", "EMAIL", FieldType::Multitext, &EMAIL_KINDS);
        }
        f.add_system(
            EntityKind::Contacts,
            "Должность",
            "POSITION",
            FieldType::Text,
            &[],
        );
        f.add_system(EntityKind::Companies, "Web", "WEB", FieldType::Url, &[]);
        f.add_system(
            EntityKind::Companies,
            "Адрес",
            "ADDRESS",
            FieldType::Textarea,
            &[],
        );
        f
    }
}

impl Fields {
    fn add_system(
        &mut self,
        entity: EntityKind,
        name: &str,
        code: &str,
        t: FieldType,
        kinds: &[&str],
    ) {
        let id = self.next_id;
        self.push(FieldDef {
            id,
            entity,
            name: name.into(),
            code: Some(code.into()),
            field_type: t,
            enums: enums(id, kinds.iter().map(|k| (*k).to_string())),
            sort: 0,
        });
    }

    fn push(&mut self, mut def: FieldDef) {
        if def.id >= self.next_id {
            self.next_id = def.id + 1;
        }
        def.sort = self.defs.iter().filter(|d| d.entity == def.entity).count() as u64 + 1;
        self.defs.push(def);
    }

    /// Adds a field from the account YAML; `Err` says what is wrong with it.
    pub(crate) fn add_seeded(&mut self, f: &SeedField) -> Result<u64, BadField> {
        let id = f.id.unwrap_or(self.next_id);
        if self.defs.iter().any(|d| d.id == id) {
            return Err(BadField::Taken(id));
        }
        let wants_enums = matches!(f.field_type, FieldType::Select | FieldType::Multiselect);
        if wants_enums == f.enums.is_empty() {
            return Err(if wants_enums {
                BadField::NeedsEnums
            } else {
                BadField::TakesNoEnums
            });
        }
        self.push(FieldDef {
            id,
            entity: f.entity.into(),
            name: f.name.clone(),
            code: None,
            field_type: f.field_type,
            enums: enums(id, f.enums.iter().cloned()),
            sort: 0,
        });
        Ok(id)
    }

    /// The definitions of one entity kind, in order.
    pub(crate) fn of(&self, entity: EntityKind) -> impl Iterator<Item = &FieldDef> {
        self.defs.iter().filter(move |d| d.entity == entity)
    }

    pub(crate) fn get(&self, entity: EntityKind, id: u64) -> Option<&FieldDef> {
        self.of(entity).find(|d| d.id == id)
    }

    pub(crate) fn by_code(&self, entity: EntityKind, code: &str) -> Option<&FieldDef> {
        self.of(entity).find(|d| d.code.as_deref() == Some(code))
    }

    /// The PHONE field's id of an entity kind.
    pub(crate) fn phone_id(&self, entity: EntityKind) -> Option<u64> {
        self.by_code(entity, "PHONE").map(|d| d.id)
    }

    /// `values` of the PHONE field as text.
    pub(crate) fn phones_in(&self, entity: EntityKind, values: &[FieldValues]) -> Vec<String> {
        let Some(id) = self.phone_id(entity) else {
            return Vec::new();
        };
        values
            .iter()
            .filter(|v| v.field_id == id)
            .flat_map(|v| v.values.iter())
            .map(|i| match &i.value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect()
    }

    /// PHONE values of the first kind (`WORK`) for phones given as plain text.
    pub(crate) fn phone_values(&self, entity: EntityKind, phones: &[String]) -> Vec<FieldValues> {
        let Some(def) = self.by_code(entity, "PHONE") else {
            return Vec::new();
        };
        if phones.is_empty() {
            return Vec::new();
        }
        let kind = def.enums.first();
        vec![FieldValues {
            field_id: def.id,
            values: phones
                .iter()
                .map(|p| FieldItem {
                    value: Value::String(p.clone()),
                    enum_id: kind.map(|k| k.id),
                    enum_code: kind.map(|k| k.value.clone()),
                })
                .collect(),
        }]
    }

    /// `custom_fields_values` as amoCRM renders it: null when empty, else in definition order.
    pub(crate) fn render(&self, entity: EntityKind, values: &[FieldValues]) -> Value {
        let out: Vec<Value> = self
            .of(entity)
            .filter_map(|d| {
                let v = values.iter().find(|v| v.field_id == d.id)?;
                let items: Vec<Value> = v
                    .values
                    .iter()
                    .map(|i| {
                        let mut o = json!({ "value": i.value });
                        if d.field_type.has_enums() {
                            o["enum_id"] = json!(i.enum_id);
                        }
                        if d.field_type == FieldType::Multitext {
                            o["enum_code"] = json!(i.enum_code);
                        }
                        o
                    })
                    .collect();
                Some(json!({
                    "field_id": d.id,
                    "field_name": d.name,
                    "field_code": d.code,
                    "field_type": d.field_type.as_str(),
                    "values": items,
                }))
            })
            .collect();
        if out.is_empty() {
            Value::Null
        } else {
            Value::Array(out)
        }
    }

    /// A definition in the shape of `GET /api/v4/{entity}/custom_fields`.
    pub(crate) fn render_def(&self, base: &str, account_id: u64, d: &FieldDef) -> Value {
        let enums: Vec<Value> = d
            .enums
            .iter()
            .map(|e| json!({ "id": e.id, "value": e.value, "sort": e.sort }))
            .collect();
        json!({
            "id": d.id,
            "name": d.name,
            "type": d.field_type.as_str(),
            "account_id": account_id,
            "code": d.code,
            "sort": d.sort,
            "is_api_only": false,
            "enums": if enums.is_empty() { Value::Null } else { Value::Array(enums) },
            "group_id": null,
            "required_statuses": [],
            "is_deletable": d.code.is_none(),
            "is_predefined": d.code.is_some(),
            "entity_type": d.entity.as_str(),
            "remind": null,
            "_links": { "self": { "href": format!("{base}/api/v4/{}/custom_fields/{}", d.entity.as_str(), d.id) } },
        })
    }
}

fn enums(field_id: u64, values: impl Iterator<Item = String>) -> Vec<EnumDef> {
    values
        .enumerate()
        .map(|(i, value)| EnumDef {
            id: field_id * 10 + i as u64 + 1,
            value,
            sort: (i as u64 + 1) * 2,
        })
        .collect()
}

/// A `custom_fields_values` error: the path below the entry and amoCRM's code.
#[derive(Debug, PartialEq)]
pub(crate) struct FieldError {
    pub(crate) path: String,
    pub(crate) code: &'static str,
    pub(crate) detail: String,
}

fn ferr(path: String, code: &'static str, detail: impl Into<String>) -> FieldError {
    FieldError {
        path,
        code,
        detail: detail.into(),
    }
}

impl Fields {
    /// Reads `custom_fields_values` (an array) for an entity kind. Each entry names its field
    /// by `field_id` or `field_code`; `values: null` clears the field. Every error is returned
    /// with its path relative to the array.
    pub(crate) fn read(
        &self,
        entity: EntityKind,
        v: &Value,
    ) -> Result<Vec<FieldValues>, Vec<FieldError>> {
        let Some(entries) = v.as_array() else {
            return Err(vec![ferr(
                String::new(),
                "InvalidType",
                "custom_fields_values must be an array",
            )]);
        };
        let mut errs = Vec::new();
        let mut out: Vec<FieldValues> = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            let at = |f: &str| format!("{i}.{f}");
            let Some(def) = self.entry_field(entity, e, i, &mut errs) else {
                continue;
            };
            let values = match e.get("values") {
                None => {
                    errs.push(ferr(at("values"), "Required", "values is required"));
                    continue;
                }
                Some(Value::Null) => Vec::new(),
                Some(Value::Array(vs)) => vs
                    .iter()
                    .enumerate()
                    .filter_map(|(j, val)| {
                        read_value(def, val, &format!("{i}.values.{j}"), &mut errs)
                    })
                    .collect(),
                Some(_) => {
                    errs.push(ferr(
                        at("values"),
                        "InvalidType",
                        "values must be an array or null",
                    ));
                    continue;
                }
            };
            out.retain(|o| o.field_id != def.id);
            out.push(FieldValues {
                field_id: def.id,
                values,
            });
        }
        if errs.is_empty() { Ok(out) } else { Err(errs) }
    }

    fn entry_field(
        &self,
        entity: EntityKind,
        e: &Value,
        i: usize,
        errs: &mut Vec<FieldError>,
    ) -> Option<&FieldDef> {
        let id = e.get("field_id").filter(|v| !v.is_null());
        let code = e.get("field_code").filter(|v| !v.is_null());
        match (id, code) {
            (Some(id), _) => {
                let def = id.as_u64().and_then(|n| self.get(entity, n));
                if def.is_none() {
                    errs.push(ferr(
                        format!("{i}.field_id"),
                        "NotSupportedChoice",
                        format!(
                            "field {id} is not a field of {}; see GET /api/v4/{}/custom_fields",
                            entity.as_str(),
                            entity.as_str()
                        ),
                    ));
                }
                def
            }
            (None, Some(code)) => {
                let def = code.as_str().and_then(|c| self.by_code(entity, c));
                if def.is_none() {
                    errs.push(ferr(
                        format!("{i}.field_code"),
                        "NotSupportedChoice",
                        format!("field_code {code} is not a field of {}", entity.as_str()),
                    ));
                }
                def
            }
            (None, None) => {
                errs.push(ferr(
                    format!("{i}.field_id"),
                    "Required",
                    "give field_id (or field_code for system fields)",
                ));
                None
            }
        }
    }
}

/// One value checked against its field's type.
fn read_value(
    def: &FieldDef,
    val: &Value,
    path: &str,
    errs: &mut Vec<FieldError>,
) -> Option<FieldItem> {
    let at = |f: &str| format!("{path}.{f}");
    let value = val.get("value").cloned().unwrap_or(Value::Null);
    let enum_id = val.get("enum_id").filter(|v| !v.is_null());
    let enum_code = val.get("enum_code").filter(|v| !v.is_null());
    let bad = |errs: &mut Vec<FieldError>, what: &str| {
        errs.push(ferr(
            at("value"),
            "InvalidType",
            format!("a {} field takes {what}", def.field_type.as_str()),
        ));
        None
    };
    match def.field_type {
        FieldType::Text | FieldType::Textarea | FieldType::Url => match value {
            Value::String(s) if !s.is_empty() => Some(plain(Value::String(s))),
            Value::Number(n) => Some(plain(Value::String(n.to_string()))),
            _ => bad(errs, "a non-empty string"),
        },
        FieldType::Numeric => match &value {
            Value::Number(n) => Some(plain(Value::String(n.to_string()))),
            Value::String(s) if s.trim().parse::<f64>().is_ok() => {
                Some(plain(Value::String(s.trim().to_string())))
            }
            _ => bad(errs, "a number"),
        },
        FieldType::Checkbox => match value {
            Value::Bool(b) => Some(plain(Value::Bool(b))),
            _ => bad(errs, "true or false"),
        },
        FieldType::Date | FieldType::DateTime => match value.as_i64() {
            Some(t) => Some(plain(json!(t))),
            None => bad(errs, "Unix seconds"),
        },
        FieldType::Multitext => {
            let text = match value {
                Value::String(s) if !s.trim().is_empty() => s,
                Value::Number(n) => n.to_string(),
                _ => return bad(errs, "a non-empty string"),
            };
            read_kind(def, text, enum_id, enum_code, path, errs)
        }
        FieldType::Select | FieldType::Multiselect => read_choice(def, &value, enum_id, path, errs),
    }
}

/// A multitext value's kind: `enum_id`, else `enum_code`, else the field's first kind.
fn read_kind(
    def: &FieldDef,
    text: String,
    enum_id: Option<&Value>,
    enum_code: Option<&Value>,
    path: &str,
    errs: &mut Vec<FieldError>,
) -> Option<FieldItem> {
    let kind = match (enum_id, enum_code) {
        (Some(id), _) => id
            .as_u64()
            .and_then(|id| def.enum_by_id(id))
            .ok_or("enum_id"),
        (None, Some(code)) => code
            .as_str()
            .and_then(|c| def.enum_by_value(c))
            .ok_or("enum_code"),
        (None, None) => def.enums.first().ok_or("enum_id"),
    };
    match kind {
        Ok(k) => Some(FieldItem {
            value: Value::String(text),
            enum_id: Some(k.id),
            enum_code: Some(k.value.clone()),
        }),
        Err(which) => {
            let known: Vec<&str> = def.enums.iter().map(|e| e.value.as_str()).collect();
            errs.push(ferr(
                format!("{path}.{which}"),
                "NotSupportedChoice",
                format!(
                    "not a kind of {}; use one of {}",
                    def.name,
                    known.join(", ")
                ),
            ));
            None
        }
    }
}

/// A select value: its `enum_id`, else the choice whose text is `value`.
fn read_choice(
    def: &FieldDef,
    value: &Value,
    enum_id: Option<&Value>,
    path: &str,
    errs: &mut Vec<FieldError>,
) -> Option<FieldItem> {
    let choice = match (enum_id, value) {
        (Some(id), _) => id.as_u64().and_then(|id| def.enum_by_id(id)),
        (None, Value::String(s)) => def.enum_by_value(s),
        _ => None,
    };
    match choice {
        Some(c) => Some(FieldItem {
            value: Value::String(c.value.clone()),
            enum_id: Some(c.id),
            enum_code: None,
        }),
        None => {
            let at = if enum_id.is_some() {
                "enum_id"
            } else {
                "value"
            };
            errs.push(ferr(
                format!("{path}.{at}"),
                "NotSupportedChoice",
                format!("not a choice of {}", def.name),
            ));
            None
        }
    }
}

fn plain(value: Value) -> FieldItem {
    FieldItem {
        value,
        enum_id: None,
        enum_code: None,
    }
}

/// Merges an update into held values: a named field is replaced, an emptied one removed.
pub(crate) fn merge(held: &mut Vec<FieldValues>, update: Vec<FieldValues>) {
    for u in update {
        held.retain(|h| h.field_id != u.field_id);
        if !u.values.is_empty() {
            held.push(u);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_official_library_shape_reads_with_null_enums() {
        let f = Fields::default();
        let phone = f.phone_id(EntityKind::Contacts).unwrap();
        let body = json!([
            { "field_id": phone, "field_code": null, "values": [{ "value": "+79161234567", "enum_id": null, "enum_code": "MOB" }] },
            { "field_code": "EMAIL", "values": [{ "value": "a@b.c", "enum_id": null, "enum_code": null }] },
        ]);
        let got = f.read(EntityKind::Contacts, &body).unwrap();
        assert_eq!(got[0].values[0].enum_code.as_deref(), Some("MOB"));
        assert_eq!(got[1].values[0].enum_code.as_deref(), Some("WORK"));
        assert_eq!(
            f.phones_in(EntityKind::Contacts, &got),
            vec!["+79161234567"]
        );
    }

    #[test]
    fn an_unknown_field_id_is_refused_at_its_path() {
        let f = Fields::default();
        let e = f
            .read(
                EntityKind::Leads,
                &json!([{ "field_id": 1, "values": [{ "value": "x" }] }]),
            )
            .unwrap_err();
        assert_eq!(e[0].path, "0.field_id");
        assert_eq!(e[0].code, "NotSupportedChoice");
    }

    #[test]
    fn seeded_selects_take_their_choices_only() {
        let mut f = Fields::default();
        let seed: SeedField = serde_json::from_value(
            json!({ "entity": "leads", "name": "Источник", "type": "select", "enums": ["Сайт", "Звонок"] }),
        )
        .unwrap();
        let id = f.add_seeded(&seed).unwrap();
        let ok = f
            .read(
                EntityKind::Leads,
                &json!([{ "field_id": id, "values": [{ "value": "Звонок" }] }]),
            )
            .unwrap();
        assert_eq!(ok[0].values[0].enum_id, Some(id * 10 + 2));
        let bad = f
            .read(
                EntityKind::Leads,
                &json!([{ "field_id": id, "values": [{ "value": "Почта" }] }]),
            )
            .unwrap_err();
        assert_eq!(bad[0].path, "0.values.0.value");
    }
}
