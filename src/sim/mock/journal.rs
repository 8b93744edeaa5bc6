//! The mock's request journal: every request in arrival order, as data and as compact YAML.

use serde::Serialize;
use serde_json::Value;

/// One request the mock received and what it answered.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct JournalEntry {
    /// Position in the journal, from 0.
    pub(crate) seq: usize,
    /// Virtual (or wall) time of arrival, Unix milliseconds.
    pub at_ms: i64,
    pub method: String,
    pub path: String,
    /// The decoded query pairs, in the order sent.
    pub query: Vec<(String, String)>,
    /// The JSON body, or the raw text when it was not JSON.
    pub(crate) body: Option<Value>,
    pub status: u16,
    /// The write was applied but the answer was held back (a `hang` fault).
    pub hung: bool,
    /// Validation error codes of a 400 answer (`NotUnique`, `NotFound`, ...).
    pub(crate) codes: Vec<String>,
}

impl JournalEntry {
    /// The request's JSON body (or its raw text when it was not JSON).
    pub fn body(&self) -> Option<&Value> {
        self.body.as_ref()
    }

    /// `GET /api/v4/contacts?query=79161234567&with=leads`, decoded for reading.
    pub fn request_line(&self) -> String {
        let mut line = format!("{} {}", self.method, self.path);
        if !self.query.is_empty() {
            line.push('?');
            let parts: Vec<String> = self.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
            line.push_str(&parts.join("&"));
        }
        line
    }
}

#[derive(Serialize)]
struct View<'a> {
    t: String,
    req: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<&'a Value>,
    status: u16,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    hung: bool,
}

/// Renders entries as the compact YAML used in snapshots; `origin_ms` is time zero
/// (`t` is written as `+MM:SS.mmm` from it, or `+H:MM:SS.mmm` past an hour).
pub fn to_yaml(entries: &[JournalEntry], origin_ms: i64) -> String {
    let views: Vec<View> = entries
        .iter()
        .map(|e| View {
            t: offset(e.at_ms - origin_ms),
            req: e.request_line(),
            body: e.body.as_ref(),
            status: e.status,
            hung: e.hung,
        })
        .collect();
    if views.is_empty() {
        return "[]\n".into();
    }
    serde_yaml::to_string(&views).unwrap_or_else(|e| format!("# journal not renderable: {e}\n"))
}

/// `+MM:SS.mmm` (or `+H:MM:SS.mmm`) for an offset in milliseconds.
pub(crate) fn offset(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "+" };
    let ms = ms.unsigned_abs();
    let (h, m, s, milli) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    if h > 0 {
        format!("{sign}{h}:{m:02}:{s:02}.{milli:03}")
    } else {
        format!("{sign}{m:02}:{s:02}.{milli:03}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_form_is_compact_and_decoded() {
        let e = JournalEntry {
            seq: 0,
            at_ms: 61_500,
            method: "GET".into(),
            path: "/api/v4/contacts".into(),
            query: vec![("query".into(), "79161234567".into())],
            body: None,
            status: 204,
            hung: false,
            codes: Vec::new(),
        };
        let y = to_yaml(&[e], 0);
        assert_eq!(
            y,
            "- t: +01:01.500\n  req: GET /api/v4/contacts?query=79161234567\n  status: 204\n"
        );
    }

    #[test]
    fn offsets_past_an_hour_show_hours() {
        assert_eq!(offset(3_661_001), "+1:01:01.001");
    }
}
