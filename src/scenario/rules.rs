//! The rule IDs of `spec/behaviour.md`, which scenarios cite under `rules:`.

use crate::engine::Rule;

pub(crate) fn is_rule(id: &str) -> bool {
    Rule::parse(id).is_some()
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

    /// `lib.rs` maps every rule to the files that decide it; each file named exists and
    /// mentions the rule.
    #[test]
    fn the_crate_map_names_an_existing_file_for_every_rule() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let lib = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
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
            let files: Vec<&str> = row
                .split('`')
                .filter(|part| part.starts_with("src/") && part.ends_with(".rs"))
                .collect();
            assert!(!files.is_empty(), "{id}: no file named in {row:?}");
            let text = std::fs::read_to_string(root.join(files[0]))
                .unwrap_or_else(|e| panic!("{id}: {}: {e}", files[0]));
            assert!(text.contains(id), "{id} is not mentioned in {}", files[0]);
        }
    }

    #[test]
    fn rule_headings_are_read_from_a_spec() {
        let md = "**R-CFG-1 Deal needs a contact.** text\n\n**R-IN-U1 Immediate mode.** more\nR-IN-U1 again";
        assert_eq!(ids_in_spec(md), vec!["R-CFG-1", "R-IN-U1"]);
    }
}
