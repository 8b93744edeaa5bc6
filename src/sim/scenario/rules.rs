//! The rule IDs of `spec/behaviour.md`, which scenarios cite under `rules:`.

use crate::engine::Rule;

pub(crate) fn is_rule(id: &str) -> bool {
    all_ids().any(|r| r == id)
}

/// Every rule ID, in the order of the spec.
pub(crate) fn all_ids() -> impl Iterator<Item = &'static str> {
    Rule::ALL.into_iter().map(Rule::id)
}

/// Rule IDs named in a behaviour spec (`**R-XXX ...**` headings), in order.
pub(crate) fn ids_in_spec(markdown: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in markdown.lines() {
        if let Some(rest) = line.strip_prefix("**R-") {
            let id: String = format!(
                "R-{}",
                rest.chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect::<String>()
            );
            let id = id.trim_end_matches('-').to_string();
            if !out.contains(&id) {
                out.push(id);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `lib.rs` maps every rule to the function that decides it: the file exists, has the
    /// function, and the function (its doc comment or its body) cites the rule.
    #[test]
    fn the_crate_map_names_the_deciding_function_of_every_rule() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let lib = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
        let mut wrong = Vec::new();
        for id in all_ids() {
            let row = lib
                .lines()
                .filter(|l| l.starts_with("//! | R-"))
                .find(|l| {
                    l.split('|')
                        .nth(1)
                        .is_some_and(|ids| ids.split(',').any(|r| r.trim() == id))
                })
                .unwrap_or_else(|| panic!("{id} is not in lib.rs's rule map"));
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let (file, fns) = (cells[2].trim_matches('`'), cells[3]);
            let text = std::fs::read_to_string(root.join(file))
                .unwrap_or_else(|e| panic!("{id}: {file}: {e}"));
            let names: Vec<&str> = fns.split(',').map(|f| f.trim().trim_matches('`')).collect();
            assert!(
                !names.is_empty() && !names[0].is_empty(),
                "{id}: no function in {row:?}"
            );
            for name in names {
                // The rule's ID, or its variant in a reason the function gives.
                let variant = Rule::ALL
                    .into_iter()
                    .find(|r| r.id() == id)
                    .map(|r| format!("Rule::{r:?}."));
                match function_text(&text, name) {
                    None => wrong.push(format!("{id}: no `fn {name}` in {file}")),
                    Some(body)
                        if !body.contains(id)
                            && !variant.as_ref().is_some_and(|v| body.contains(v.as_str())) =>
                    {
                        wrong.push(format!("{id}: `fn {name}` in {file} does not cite it"));
                    }
                    Some(_) => {}
                }
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    /// The doc comment and the text of `fn name` in `source`, up to the end of its block.
    fn function_text<'a>(source: &'a str, name: &str) -> Option<&'a str> {
        let at = source
            .find(&format!("fn {name}("))
            .or_else(|| source.find(&format!("fn {name}<")))?;
        let line_start = source[..at].rfind('\n').map_or(0, |i| i + 1);
        let indent = source[line_start..at].len() - source[line_start..at].trim_start().len();
        let mut start = line_start;
        for line in source[..line_start].lines().rev() {
            let t = line.trim_start();
            if t.starts_with("///") || t.starts_with("#[") {
                start -= line.len() + 1;
            } else {
                break;
            }
        }
        let close = format!("\n{}}}", " ".repeat(indent));
        let end = source[at..]
            .find(&close)
            .map_or(source.len(), |e| at + e + close.len());
        Some(&source[start..end])
    }

    #[test]
    fn rule_headings_are_read_from_a_spec() {
        let md = "**R-CFG-1 Deal needs a contact.** text\n\n**R-IN-U1 Immediate mode.** more\nR-IN-U1 again";
        assert_eq!(ids_in_spec(md), vec!["R-CFG-1", "R-IN-U1"]);
    }
}
