//! amoCRM-style query strings: `filter[id][]=1&filter[id][]=2`, `limit`, `page`, `with`.

use super::reply::Reply;

/// Largest page amoCRM serves.
pub(crate) const MAX_LIMIT: usize = 250;

/// One `filter[statuses][N]` group: (pipeline id, status id), either left out.
pub(crate) type StatusFilter = (Option<u64>, Option<u64>);

/// Decoded query pairs, in order.
#[derive(Clone, Debug, Default)]
pub(crate) struct Query(pub(crate) Vec<(String, String)>);

impl Query {
    pub(crate) fn parse(raw: Option<&str>) -> Self {
        Query(
            raw.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
                .unwrap_or_default(),
        )
    }

    /// The request's whole query with `page` set to `page` (at the end), form-encoded: what
    /// amoCRM's `_links` carry, so that following `next` keeps the filters, `limit` and `with`.
    pub(crate) fn with_page(&self, page: usize) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.0.iter().filter(|(k, _)| k != "page") {
            out.append_pair(k, v);
        }
        out.append_pair("page", &page.to_string());
        out.finish()
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value given for `name`, `name[]` or `name[N]`.
    pub(crate) fn list(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| {
                k == name
                    || k.strip_prefix(name).is_some_and(|rest| {
                        rest.starts_with('[')
                            && rest.ends_with(']')
                            && rest[1..rest.len() - 1].chars().all(|c| c.is_ascii_digit())
                    })
            })
            .flat_map(|(_, v)| v.split(',').map(str::trim).filter(|s| !s.is_empty()))
            .collect()
    }

    /// Values of a list filter as ids; an error names the parameter.
    pub(crate) fn ids(&self, name: &str) -> Result<Vec<u64>, Reply> {
        self.list(name)
            .into_iter()
            .map(|v| {
                v.parse().map_err(|_| {
                    Reply::bad_request(name, "InvalidType", format!("{v:?} is not an id"))
                })
            })
            .collect()
    }

    /// `with=leads,contacts` contains `what`?
    pub(crate) fn with(&self, what: &str) -> bool {
        self.list("with").contains(&what)
    }

    /// Refuses the filters, orders and `with` values this route does not implement, naming
    /// each: amoCRM has more of them than the mock, and a test must never pass on one the mock
    /// ignored (it would see every entity instead of the filtered ones). `filters` lists the
    /// `filter[..]`/`order[..]` names taken (`filter[statuses]` covers its groups).
    pub(crate) fn only(&self, filters: &[&str], withs: &[&str]) -> Result<(), Reply> {
        for (k, _) in &self.0 {
            if k.starts_with("filter[") || k.starts_with("order[") {
                let base = k.find(']').map_or(k.as_str(), |i| &k[..=i]);
                if !filters.contains(&base) {
                    return Err(unsupported(k, base));
                }
            }
        }
        for w in self.list("with") {
            if !withs.contains(&w) {
                return Err(unsupported("with", &format!("with={w}")));
            }
        }
        Ok(())
    }

    /// [`Query::only`], then [`Query::paging`]: what a list route checks first.
    pub(crate) fn list_params(
        &self,
        filters: &[&str],
        withs: &[&str],
    ) -> Result<(usize, usize), Reply> {
        self.only(filters, withs)?;
        self.paging()
    }

    /// `page` (from 1) and `limit` (1..=250, default 50).
    pub(crate) fn paging(&self) -> Result<(usize, usize), Reply> {
        let limit = match self.get("limit") {
            None => 50,
            Some(v) => match v.parse::<usize>() {
                Ok(n @ 1..=MAX_LIMIT) => n,
                _ => {
                    return Err(Reply::bad_request(
                        "limit",
                        "InvalidValue",
                        format!("limit must be an integer from 1 to {MAX_LIMIT}, got {v:?}"),
                    ));
                }
            },
        };
        let page = match self.get("page") {
            None => 1,
            Some(v) => match v.parse::<usize>() {
                Ok(n @ 1..) => n,
                _ => {
                    return Err(Reply::bad_request(
                        "page",
                        "InvalidValue",
                        format!("page must be an integer from 1, got {v:?}"),
                    ));
                }
            },
        };
        Ok((page, limit))
    }

    /// `filter[statuses][N][pipeline_id]` / `[status_id]` groups; either may be left out (a
    /// status without its pipeline was reported to work: amocrm/amocrm-api-php issue 606).
    pub(crate) fn status_filters(&self) -> Result<Vec<StatusFilter>, Reply> {
        let mut groups: std::collections::BTreeMap<String, StatusFilter> = Default::default();
        for (k, v) in &self.0 {
            let Some(rest) = k.strip_prefix("filter[statuses][") else {
                continue;
            };
            let Some((idx, field)) = rest.split_once("][") else {
                continue;
            };
            let n: u64 = v
                .parse()
                .map_err(|_| Reply::bad_request(k, "InvalidType", format!("{v:?} is not an id")))?;
            let g = groups.entry(idx.to_string()).or_default();
            match field {
                "pipeline_id]" => g.0 = Some(n),
                "status_id]" => g.1 = Some(n),
                _ => {}
            }
        }
        Ok(groups.into_values().collect())
    }
}

fn unsupported(path: &str, what: &str) -> Reply {
    Reply::bad_request(
        path,
        "NotImplementedByMock",
        format!(
            "the mock does not implement {what} here (amoCRM may); it refuses it rather than \
             answer as if it were not there"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_filters_accept_every_array_notation() {
        let q = Query::parse(Some(
            "filter%5Bid%5D%5B%5D=1&filter[id][1]=2&filter[id]=3,4&x=5",
        ));
        assert_eq!(q.list("filter[id]"), vec!["1", "2", "3", "4"]);
        assert_eq!(q.ids("filter[id]").unwrap(), vec![1, 2, 3, 4]);
    }

    #[test]
    fn limit_over_250_is_refused() {
        assert_eq!(
            Query::parse(Some("limit=251")).paging().unwrap_err().status,
            400
        );
        assert_eq!(
            Query::parse(Some("limit=250&page=2")).paging().unwrap(),
            (2, 250)
        );
    }
}
