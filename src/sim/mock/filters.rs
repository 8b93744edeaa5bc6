//! The documented list filters and orders of leads, contacts and companies, applied to the
//! facts every entity has.
//!
//! Source: amoCRM API v4 «Фильтрация списков» (filters-api): `filter[id]`, `filter[name]`,
//! `filter[price]`, `filter[created_by]`, `filter[updated_by]`, `filter[responsible_user_id]`,
//! and `filter[created_at|updated_at|closed_at|closest_task_at]`, each either one timestamp or
//! a `[from]`/`[to]` range; the official PHP library's `Filters/LeadsFilter.php` sends the same.
//! Orders: `order[created_at|updated_at|id]=asc|desc`.

use super::query::Query;
use super::reply::Reply;

/// What a filter or an order can look at in an entity.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Facts<'a> {
    pub(crate) id: u64,
    pub(crate) name: &'a str,
    pub(crate) price: u64,
    pub(crate) created_by: u64,
    pub(crate) updated_by: u64,
    pub(crate) responsible: u64,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
    pub(crate) closed_at: Option<i64>,
    pub(crate) closest_task_at: Option<i64>,
}

/// An inclusive range of a number; one value is a range of one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Range {
    from: Option<i64>,
    to: Option<i64>,
}

impl Range {
    fn holds(self, v: Option<i64>) -> bool {
        v.is_some_and(|v| self.from.is_none_or(|f| v >= f) && self.to.is_none_or(|t| v <= t))
    }
}

/// The filters of one list request.
#[derive(Debug, Default)]
pub(crate) struct Filter {
    ids: Vec<u64>,
    names: Vec<String>,
    created_by: Vec<u64>,
    updated_by: Vec<u64>,
    responsible: Vec<u64>,
    ranges: Vec<(&'static str, Range)>,
}

/// The range filters and what each reads.
const RANGES: [&str; 5] = [
    "price",
    "created_at",
    "updated_at",
    "closed_at",
    "closest_task_at",
];

impl Filter {
    /// Reads the filters named in `taken` (e.g. `filter[created_at]`); other names are left to
    /// the caller (which refuses what it does not implement).
    pub(crate) fn parse(q: &Query, taken: &[&str]) -> Result<Filter, Reply> {
        let has = |n: &str| taken.contains(&format!("filter[{n}]").as_str());
        let ids = |n: &str| {
            if has(n) {
                q.ids(&format!("filter[{n}]"))
            } else {
                Ok(Vec::new())
            }
        };
        let mut f = Filter {
            ids: ids("id")?,
            names: if has("name") {
                q.list("filter[name]")
                    .into_iter()
                    .map(str::to_string)
                    .collect()
            } else {
                Vec::new()
            },
            created_by: ids("created_by")?,
            updated_by: ids("updated_by")?,
            responsible: ids("responsible_user_id")?,
            ranges: Vec::new(),
        };
        for name in RANGES.into_iter().filter(|n| has(n)) {
            if let Some(r) = range(q, name)? {
                f.ranges.push((name, r));
            }
        }
        Ok(f)
    }

    /// Adds `If-Modified-Since`: only what was updated after it.
    pub(crate) fn modified_since(mut self, since: Option<i64>) -> Self {
        if let Some(t) = since {
            self.ranges.push((
                "updated_at",
                Range {
                    from: t.checked_add(1),
                    to: None,
                },
            ));
        }
        self
    }

    pub(crate) fn matches(&self, e: &Facts) -> bool {
        (self.ids.is_empty() || self.ids.contains(&e.id))
            && (self.names.is_empty() || self.names.iter().any(|n| n == e.name))
            && (self.created_by.is_empty() || self.created_by.contains(&e.created_by))
            && (self.updated_by.is_empty() || self.updated_by.contains(&e.updated_by))
            && (self.responsible.is_empty() || self.responsible.contains(&e.responsible))
            && self.ranges.iter().all(|(name, r)| {
                let v = match *name {
                    "price" => i64::try_from(e.price).ok(),
                    "created_at" => Some(e.created_at),
                    "updated_at" => Some(e.updated_at),
                    "closed_at" => e.closed_at,
                    _ => e.closest_task_at,
                };
                r.holds(v)
            })
    }
}

/// `filter[name]=N` or `filter[name][from]=A&filter[name][to]=B`.
fn range(q: &Query, name: &str) -> Result<Option<Range>, Reply> {
    let num = |key: String| -> Result<Option<i64>, Reply> {
        match q.get(&key) {
            None => Ok(None),
            Some(v) => v.trim().parse().map(Some).map_err(|_| {
                Reply::bad_request(&key, "InvalidType", format!("{v:?} is not a whole number"))
            }),
        }
    };
    let exact = num(format!("filter[{name}]"))?;
    let from = num(format!("filter[{name}][from]"))?;
    let to = num(format!("filter[{name}][to]"))?;
    Ok(match (exact, from, to) {
        (Some(v), _, _) => Some(Range {
            from: Some(v),
            to: Some(v),
        }),
        (None, None, None) => None,
        (None, from, to) => Some(Range { from, to }),
    })
}

/// `order[created_at|updated_at|id]=asc|desc`; `None` keeps id order.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Order {
    by: &'static str,
    desc: bool,
}

impl Order {
    pub(crate) fn parse(q: &Query, taken: &[&str]) -> Result<Option<Order>, Reply> {
        for by in ["created_at", "updated_at", "id"] {
            let key = format!("order[{by}]");
            if !taken.contains(&key.as_str()) {
                continue;
            }
            match q.get(&key) {
                None => {}
                Some("asc") => return Ok(Some(Order { by, desc: false })),
                Some("desc") => return Ok(Some(Order { by, desc: true })),
                Some(v) => {
                    return Err(Reply::bad_request(
                        &key,
                        "NotSupportedChoice",
                        format!("{v:?} is not asc or desc"),
                    ));
                }
            }
        }
        Ok(None)
    }

    /// Sorts stably by the field, ties by id.
    pub(crate) fn sort<T>(self, items: &mut [T], facts: impl Fn(&T) -> Facts<'_>) {
        items.sort_by(|a, b| {
            let (a, b) = (facts(a), facts(b));
            let key = |f: &Facts| match self.by {
                "created_at" => f.created_at,
                "updated_at" => f.updated_at,
                _ => 0,
            };
            let o = key(&a).cmp(&key(&b)).then(a.id.cmp(&b.id));
            if self.desc { o.reverse() } else { o }
        });
    }
}

/// Filter and order names every entity list takes.
pub(crate) const COMMON: [&str; 11] = [
    "filter[id]",
    "filter[name]",
    "filter[created_by]",
    "filter[updated_by]",
    "filter[responsible_user_id]",
    "filter[created_at]",
    "filter[updated_at]",
    "filter[closest_task_at]",
    "order[created_at]",
    "order[updated_at]",
    "order[id]",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(id: u64, created_at: i64) -> Facts<'static> {
        Facts {
            id,
            created_at,
            updated_at: created_at,
            ..Facts::default()
        }
    }

    #[test]
    fn ranges_take_both_forms() {
        let taken = ["filter[created_at]"];
        let f = Filter::parse(
            &Query::parse(Some(
                "filter[created_at][from]=10&filter[created_at][to]=20",
            )),
            &taken,
        )
        .unwrap();
        assert!(f.matches(&facts(1, 15)) && !f.matches(&facts(1, 21)));
        let one = Filter::parse(&Query::parse(Some("filter[created_at]=21")), &taken).unwrap();
        assert!(one.matches(&facts(1, 21)) && !one.matches(&facts(1, 20)));
        let bad = Filter::parse(&Query::parse(Some("filter[created_at][from]=x")), &taken);
        assert_eq!(bad.unwrap_err().status, 400);
    }

    #[test]
    fn orders_sort_with_ties_by_id() {
        let mut v = vec![facts(3, 5), facts(1, 5), facts(2, 9)];
        let o = Order::parse(&Query::parse(Some("order[created_at]=desc")), &COMMON)
            .unwrap()
            .unwrap();
        o.sort(&mut v, |f| *f);
        assert_eq!(v.iter().map(|f| f.id).collect::<Vec<_>>(), [2, 3, 1]);
    }
}
