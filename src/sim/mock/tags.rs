//! Tags («теги») as amoCRM has them: each entity kind (leads, contacts, companies) has its own
//! list (`GET`/`POST /api/v4/{entity}/tags`), and each entity its tags (`_embedded.tags`), set on
//! create and update by `_embedded.tags` (`null` clears them), `tags_to_add` and
//! `tags_to_delete`, each a list of `{id}` or `{name}` (amoCRM «Теги»; the official PHP
//! library's `Models/TagModel.php` and `Models/Traits/MutateTagsTrait.php`). A name not in the
//! kind's list yet is added to it.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::handlers::Item;
use super::state::EntityKind;

/// One tag of a kind's list.
#[derive(Clone, Debug)]
pub(crate) struct TagDef {
    pub(crate) kind: EntityKind,
    pub(crate) name: String,
    pub(crate) color: Option<String>,
}

/// Every tag list and which entity has which tags.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tags {
    defs: BTreeMap<u64, TagDef>,
    on: BTreeMap<(EntityKind, u64), Vec<u64>>,
    last: u64,
}

/// A tag named in a body: by id (it must be in the kind's list) or by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TagRef {
    Id(u64),
    Name(String),
}

/// What an entity's body says of its tags.
#[derive(Clone, Debug, Default)]
pub(crate) struct TagChange {
    /// `_embedded.tags`: `Some(list)` replaces the tags (`null` or `[]`: none).
    set: Option<Vec<TagRef>>,
    add: Vec<TagRef>,
    delete: Vec<TagRef>,
}

impl Tags {
    /// The kind's tags, by id.
    pub(crate) fn list(&self, kind: EntityKind) -> impl Iterator<Item = (u64, &TagDef)> {
        self.defs
            .iter()
            .filter(move |(_, d)| d.kind == kind)
            .map(|(id, d)| (*id, d))
    }

    fn by_name(&self, kind: EntityKind, name: &str) -> Option<u64> {
        self.list(kind)
            .find(|(_, d)| d.name.eq_ignore_ascii_case(name))
            .map(|(id, _)| id)
    }

    /// The tag of this name in the kind's list, added if it is not there.
    pub(crate) fn named(&mut self, kind: EntityKind, name: &str, color: Option<String>) -> u64 {
        if let Some(id) = self.by_name(kind, name) {
            return id;
        }
        self.last += 1;
        self.defs.insert(
            self.last,
            TagDef {
                kind,
                name: name.to_string(),
                color,
            },
        );
        self.last
    }

    fn resolve(&mut self, kind: EntityKind, r: &TagRef) -> u64 {
        match r {
            TagRef::Id(id) => *id,
            TagRef::Name(n) => self.named(kind, n, None),
        }
    }

    /// Applies a body's tags to an entity.
    pub(crate) fn apply(&mut self, kind: EntityKind, id: u64, change: &TagChange) {
        let mut tags = self.on.get(&(kind, id)).cloned().unwrap_or_default();
        if let Some(set) = &change.set {
            tags = set.iter().map(|r| self.resolve(kind, r)).collect();
        }
        for r in &change.add {
            let t = self.resolve(kind, r);
            tags.push(t);
        }
        for r in &change.delete {
            let t = match r {
                TagRef::Id(id) => Some(*id),
                TagRef::Name(n) => self.by_name(kind, n),
            };
            tags.retain(|x| Some(*x) != t);
        }
        let mut seen = Vec::new();
        tags.retain(|t| {
            let first = !seen.contains(t);
            seen.push(*t);
            first
        });
        self.on.insert((kind, id), tags);
    }

    /// An entity's `_embedded.tags`.
    pub(crate) fn of(&self, kind: EntityKind, id: u64) -> Value {
        let tags: Vec<Value> = self
            .on
            .get(&(kind, id))
            .into_iter()
            .flatten()
            .filter_map(|t| self.defs.get(t).map(|d| render(*t, d)))
            .collect();
        Value::Array(tags)
    }

    /// Whether the tag is in the kind's list.
    pub(crate) fn exists(&self, kind: EntityKind, id: u64) -> bool {
        self.defs.get(&id).is_some_and(|d| d.kind == kind)
    }
}

/// A tag as the API shows it.
pub(crate) fn render(id: u64, d: &TagDef) -> Value {
    json!({ "id": id, "name": d.name, "color": d.color })
}

/// Reads `_embedded.tags`, `tags_to_add` and `tags_to_delete` of an entity's body, failing
/// what is malformed or names a tag the kind's list does not have.
pub(crate) fn read_change(item: &mut Item, tags: &Tags, kind: EntityKind) -> TagChange {
    let set = match item.obj.get("_embedded").and_then(|e| e.get("tags")) {
        None => None,
        Some(Value::Null) => Some(Vec::new()),
        Some(v) => Some(refs(item, tags, kind, "_embedded.tags", v)),
    };
    let mut list = |key: &str| match item.obj.get(key) {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => refs(item, tags, kind, key, &v.clone()),
    };
    let add = list("tags_to_add");
    let delete = list("tags_to_delete");
    TagChange { set, add, delete }
}

fn refs(item: &mut Item, tags: &Tags, kind: EntityKind, path: &str, v: &Value) -> Vec<TagRef> {
    let Some(list) = v.as_array() else {
        item.fail(path, "InvalidType", "must be an array of {id} or {name}");
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, t) in list.iter().enumerate() {
        let at = format!("{path}.{i}");
        match (
            t.get("id").and_then(Value::as_u64),
            t.get("name").and_then(Value::as_str),
        ) {
            (Some(id), _) if tags.exists(kind, id) => out.push(TagRef::Id(id)),
            (Some(id), _) => item.fail(
                &format!("{at}.id"),
                "NotSupportedChoice",
                format!("tag {id} is not a tag of {}", kind.as_str()),
            ),
            (None, Some(name)) if !name.trim().is_empty() => {
                out.push(TagRef::Name(name.trim().to_string()));
            }
            _ => item.fail(&at, "Required", "a tag needs an id or a name"),
        }
    }
    out
}
