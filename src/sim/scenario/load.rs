//! Loading scenario files: YAML syntax, unknown and duplicate keys, bad values and `at` going
//! backwards are reported as `file:line:col: what is wrong`. Nothing here panics on any input.

use std::fmt;
use std::path::{Path, PathBuf};

use super::model::Scenario;

/// A scenario file that cannot be used, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LoadError {
    pub(crate) file: String,
    pub(crate) line: usize,
    pub(crate) column: usize,
    pub(crate) message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// A scenario and the file it came from.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub(crate) path: PathBuf,
    pub scenario: Scenario,
}

/// Largest scenario file accepted.
const MAX_BYTES: u64 = 4 << 20;

pub fn load_file(path: &Path) -> Result<Loaded, LoadError> {
    let label = path.display().to_string();
    let at = |message: String| LoadError {
        file: label.clone(),
        line: 1,
        column: 1,
        message,
    };
    let meta = std::fs::metadata(path).map_err(|e| at(format!("cannot read: {e}")))?;
    if meta.len() > MAX_BYTES {
        return Err(at(format!(
            "the file is {} bytes; scenarios are limited to {MAX_BYTES}",
            meta.len()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| at(format!("cannot read: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        at(format!(
            "not UTF-8 text (byte {})",
            e.utf8_error().valid_up_to()
        ))
    })?;
    parse(&text, &label).map(|scenario| Loaded {
        path: path.to_path_buf(),
        scenario,
    })
}

fn from_yaml_error(e: &serde_yaml::Error, file: &str, text: &str) -> LoadError {
    let (mut line, mut column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
    let mut message = e.to_string();
    // "… at line 3 column 5" repeats the position given in front.
    if let Some(i) = message.rfind(" at line ") {
        message.truncate(i);
    }
    // Duplicates are reported at the first occurrence (or at 1:1 on the top level);
    // point at the second one, which is the one to remove.
    if let Some(i) = message.find("duplicate entry with key \"") {
        let rest = &message[i + 26..];
        if let Some(key) = rest.strip_suffix('"') {
            let key = key.to_string();
            let indent = column.saturating_sub(1);
            let hits: Vec<usize> = text
                .lines()
                .enumerate()
                .skip(line.saturating_sub(1))
                .filter(|(_, l)| {
                    l.get(..indent).is_some_and(|pad| pad.trim().is_empty())
                        && l.get(indent..)
                            .is_some_and(|t| t.starts_with(&format!("{key}:")))
                })
                .map(|(i, _)| i + 1)
                .collect();
            if let Some(second) = hits.get(1) {
                line = *second;
                column = indent + 1;
            }
            message = format!(
                "{}duplicate key `{key}`: each key may appear once",
                &message[..i]
            );
        }
    }
    LoadError {
        file: file.to_string(),
        line,
        column,
        message,
    }
}

/// Lines (1-based) of the list items under the top-level `steps:` key.
fn step_lines(text: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut inside = false;
    for (i, l) in text.lines().enumerate() {
        if !l.starts_with(' ')
            && !l.starts_with('-')
            && !l.trim().is_empty()
            && !l.trim_start().starts_with('#')
        {
            inside = l.starts_with("steps:");
            continue;
        }
        if inside {
            let t = l.trim_start();
            let indent = l.len() - t.len();
            if t.starts_with("- ") && (out.is_empty() || indent <= step_indent(text, out[0])) {
                out.push(i + 1);
            }
        }
    }
    out
}

fn step_indent(text: &str, line: usize) -> usize {
    text.lines()
        .nth(line - 1)
        .map_or(0, |l| l.len() - l.trim_start().len())
}

/// Parses scenario text; `file` names it in errors.
pub(crate) fn parse(text: &str, file: &str) -> Result<Scenario, LoadError> {
    // First as plain YAML: syntax errors and duplicate keys (which typed reading would let
    // through for maps) are caught here with their position.
    serde_yaml::from_str::<serde_yaml::Value>(text).map_err(|e| from_yaml_error(&e, file, text))?;
    let mut scenario: Scenario =
        serde_yaml::from_str(text).map_err(|e| from_yaml_error(&e, file, text))?;
    if scenario.name.trim().is_empty() {
        return Err(LoadError {
            file: file.into(),
            line: 1,
            column: 1,
            message: "`name` must not be empty".into(),
        });
    }
    let lines = step_lines(text);
    if lines.len() == scenario.steps.len() {
        for (step, line) in scenario.steps.iter_mut().zip(lines) {
            step.line = line;
        }
    }
    for i in 1..scenario.steps.len() {
        let (prev, cur) = (&scenario.steps[i - 1], &scenario.steps[i]);
        if cur.at < prev.at {
            return Err(LoadError {
                file: file.into(),
                line: cur.line.max(1),
                column: 1,
                message: format!(
                    "steps[{i}].at: {} comes before the previous step's {}; `at` never goes backwards",
                    cur.at, prev.at
                ),
            });
        }
    }
    Ok(scenario)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const OK: &str = "name: t\nsettings:\n  default_responsible: 1001\ncrm:\n  users: [{ id: 1001, name: A }]\nsteps:\n  - at: 0s\n    call: { client: \"+79161234567\" }\n  - at: 1m\n    call:\n      client: \"+79161234567\"\n      ring: [\"201\"]\nexpect:\n  contacts: 1\n";

    #[test]
    fn a_valid_file_loads_with_step_lines() {
        let s = parse(OK, "ok.yaml").unwrap();
        assert_eq!(s.steps.len(), 2);
        assert_eq!((s.steps[0].line, s.steps[1].line), (7, 9));
    }

    #[rstest]
    #[case(OK.replace("expect:", "expekt:"), 13, "unknown field `expekt`")]
    #[case(OK.replace("at: 1m", "at: 1minute"), 9, "is not a duration")]
    #[case(OK.replace("at: 1m", "at: -5s"), 9, "not a duration")]
    #[case(OK.replace("client: \"+79161234567\" }", "client: \"call me\" }"), 8, "is not a phone number")]
    #[case(OK.replace("name: t", "name: t\nrules: [R-NOPE]"), 2, "unknown rule ID \"R-NOPE\"")]
    #[case(OK.replace("at: 1m", "at: 0s").replace("at: 0s\n    call: {", "at: 2m\n    call: {"), 9, "never goes backwards")]
    #[case(OK.replace("crm:", "name: again\ncrm:"), 4, "duplicate key `name`")]
    #[case(OK.replace("  users:", "  users: []\n  users:"), 6, "crm: duplicate key `users`")]
    #[case(OK.replace("ring: [\"201\"]", "ring: [\"2x1\"]"), 12, "is not a Sipuni employee")]
    fn errors_name_the_line_and_what_is_wrong(
        #[case] text: String,
        #[case] line: usize,
        #[case] needle: &str,
    ) {
        let e = parse(&text, "f.yaml").unwrap_err();
        assert!(e.message.contains(needle), "{e}");
        assert_eq!(e.line, line, "{e}");
        assert!(e.to_string().starts_with(&format!("f.yaml:{line}:")), "{e}");
    }

    #[test]
    fn no_input_makes_the_loader_panic() {
        // Every prefix and a family of byte mutations of a valid file.
        let bytes = OK.as_bytes();
        for cut in 0..bytes.len() {
            let _ = parse(&String::from_utf8_lossy(&bytes[..cut]), "p.yaml");
        }
        for i in 0..bytes.len() {
            for b in [
                b'{', b'[', b':', b'-', b'\'', b'"', b' ', b'\n', b'0', b'&', b'*', b'!',
            ] {
                let mut m = bytes.to_vec();
                m[i] = b;
                let _ = parse(&String::from_utf8_lossy(&m), "m.yaml");
            }
        }
    }
}
