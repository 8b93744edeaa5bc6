//! The plan of the house holds: the simulation sits behind one gate in `src/sim/` (and the
//! command line that starts it), production code never imports it, the engine's files import
//! each other without a circle, and `engine/rules/` is pure (nothing async, no client, no
//! memory, no effects).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, as paths relative to the repository root.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![root().join(dir)];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path.strip_prefix(root()).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

/// Production code: `src/` but the simulation and the command line.
fn production_files() -> Vec<PathBuf> {
    rust_files(Path::new("src"))
        .into_iter()
        .filter(|p| !p.starts_with("src/sim") && !p.starts_with("src/cli"))
        .collect()
}

fn text(p: &Path) -> String {
    std::fs::read_to_string(root().join(p)).unwrap()
}

/// The lines of `source` that are code, not comments.
fn code_lines(source: &str) -> impl Iterator<Item = (usize, &str)> {
    source
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .map(|(i, l)| (i + 1, l))
}

#[test]
fn the_simulation_has_one_gate_and_production_never_imports_it() {
    let mut wrong = Vec::new();
    for p in production_files() {
        let whole = text(&p);
        // A file's unit tests (its `#[cfg(test)] mod tests`, at its end) may use the test kit.
        let source = whole
            .split("#[cfg(test)]\nmod tests")
            .next()
            .unwrap_or_default();
        for (n, line) in code_lines(source) {
            let gate = line.contains("feature = \"sim\"");
            let allowed_gate =
                p == Path::new("src/lib.rs") && line.trim() == "#[cfg(feature = \"sim\")]";
            if gate && !allowed_gate {
                wrong.push(format!(
                    "{}:{n}: a `sim` gate outside src/sim: {}",
                    p.display(),
                    line.trim()
                ));
            }
            if line.contains("crate::sim") || line.contains("sipamo::sim") {
                wrong.push(format!(
                    "{}:{n}: production imports the simulation: {}",
                    p.display(),
                    line.trim()
                ));
            }
        }
    }
    let lib = text(Path::new("src/lib.rs"));
    assert_eq!(
        lib.matches("#[cfg(feature = \"sim\")]").count(),
        1,
        "lib.rs has exactly one gate, the one on `pub mod sim`"
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The module path of a file under `src/`: `src/engine/rules/decide/mod.rs` is
/// `engine::rules::decide`.
fn module_of(p: &Path) -> Vec<String> {
    let rel = p.strip_prefix("src").unwrap();
    let mut segs: Vec<String> = rel
        .with_extension("")
        .iter()
        .map(|s| s.to_string_lossy().into_owned())
        .collect();
    if segs.last().is_some_and(|s| s == "mod") {
        segs.pop();
    }
    segs
}

/// The paths a `use` tree names, braces expanded: `super::{a, b::{c, d}}` gives
/// `super::a`, `super::b::c`, `super::b::d`.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        return vec![tree.split(" as ").next().unwrap_or(tree).trim().to_string()];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .flat_map(expand)
        .map(|p| {
            if p == "self" {
                prefix.trim_end_matches("::").to_string()
            } else {
                format!("{prefix}{p}")
            }
        })
        .collect()
}

/// Every path a file names: its `use` trees and the `super::…`/`crate::…` paths in its code.
fn paths_named(source: &str) -> Vec<String> {
    let code: String = code_lines(source).map(|(_, l)| format!("{l}\n")).collect();
    let mut out = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("use ") {
        let before = rest[..at].chars().last();
        rest = &rest[at + 4..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(end) = rest.find(';') {
            out.extend(expand(&rest[..end].replace('\n', " ")));
        }
    }
    for word in code.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')) {
        if word.starts_with("super::") || word.starts_with("crate::") {
            out.push(word.trim_end_matches(':').to_string());
        }
    }
    out
}

/// The absolute module path `path` names from inside module `at` (a file's own module; for a
/// `mod.rs`, `super` is its parent directory's module).
fn absolute(at: &[String], path: &str) -> Vec<String> {
    let mut segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut base: Vec<String> = match segs.first() {
        Some(&"crate") => {
            segs.remove(0);
            Vec::new()
        }
        Some(&"super") | Some(&"self") => at.to_vec(),
        _ => return Vec::new(),
    };
    while let Some(&s) = segs.first() {
        match s {
            "super" => {
                base.pop();
            }
            "self" => {}
            _ => break,
        }
        segs.remove(0);
    }
    base.extend(segs.into_iter().map(str::to_string));
    base
}

/// Which engine file each engine file imports from.
fn engine_graph() -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let files = rust_files(Path::new("src/engine"));
    let by_module: BTreeMap<Vec<String>, PathBuf> =
        files.iter().map(|p| (module_of(p), p.clone())).collect();
    let mut graph = BTreeMap::new();
    for p in &files {
        let at = module_of(p);
        let mut to = BTreeSet::new();
        for path in paths_named(&text(p)) {
            let mut abs = absolute(&at, &path);
            // The longest prefix that is a file of the engine.
            while !abs.is_empty() && !by_module.contains_key(&abs) {
                abs.pop();
            }
            if let Some(target) = by_module.get(&abs)
                && target != p
                && abs.len() > 1
            {
                to.insert(target.clone());
            }
        }
        graph.insert(p.clone(), to);
    }
    graph
}

/// A circle of imports through `from`, if there is one.
fn circle_from(
    graph: &BTreeMap<PathBuf, BTreeSet<PathBuf>>,
    from: &PathBuf,
) -> Option<Vec<PathBuf>> {
    let mut stack = vec![(from.clone(), vec![from.clone()])];
    let mut seen = BTreeSet::new();
    while let Some((at, trail)) = stack.pop() {
        for next in graph.get(&at).into_iter().flatten() {
            if next == from {
                return Some(trail.clone());
            }
            if seen.insert(next.clone()) {
                let mut t = trail.clone();
                t.push(next.clone());
                stack.push((next.clone(), t));
            }
        }
    }
    None
}

#[test]
fn the_engines_files_import_each_other_without_a_circle() {
    let graph = engine_graph();
    assert!(graph.len() > 20, "the engine's files are found: {graph:?}");
    let handler = PathBuf::from("src/engine/handler.rs");
    assert!(
        graph[&handler].contains(&PathBuf::from("src/engine/effects/mod.rs")),
        "the graph sees handler.rs use the effects: {:?}",
        graph[&handler]
    );
    let circles: Vec<String> = graph
        .keys()
        .filter_map(|f| circle_from(&graph, f))
        .map(|c| {
            c.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" → ")
        })
        .collect();
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}

#[test]
fn the_graph_reader_sees_a_circle_when_there_is_one() {
    let mut graph = BTreeMap::new();
    let (a, b, c) = (PathBuf::from("a"), PathBuf::from("b"), PathBuf::from("c"));
    graph.insert(a.clone(), BTreeSet::from([b.clone()]));
    graph.insert(b.clone(), BTreeSet::from([c.clone()]));
    graph.insert(c.clone(), BTreeSet::from([a.clone()]));
    assert_eq!(circle_from(&graph, &a), Some(vec![a.clone(), b, c]));
    assert_eq!(
        expand("super::{a, b::{c, d as e}, self}"),
        ["super::a", "super::b::c", "super::b::d", "super"]
    );
    let at: Vec<String> = ["engine", "effects", "facts"].map(String::from).to_vec();
    assert_eq!(
        absolute(&at, "super::lookup::find"),
        ["engine", "effects", "lookup", "find"]
    );
}

#[test]
fn the_rules_are_pure() {
    let forbidden = [
        "async ",
        ".await",
        "tokio",
        "AmoClient",
        "amocrm::client",
        "engine::memory",
        "engine::effects",
        "engine::handler",
        "super::super::super::",
    ];
    let mut wrong = Vec::new();
    for p in rust_files(Path::new("src/engine/rules")) {
        let source = text(&p);
        for (n, line) in code_lines(&source) {
            for f in forbidden.iter().filter(|f| line.contains(*f)) {
                wrong.push(format!(
                    "{}:{n}: `{f}` in the pure rules: {}",
                    p.display(),
                    line.trim()
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Errors are typed in the library (thiserror), with `anyhow` only at the command line and in
/// the bench: no `Result<_, String>` anywhere under `src/`.
#[test]
fn no_error_is_a_bare_string() {
    let mut wrong = Vec::new();
    for p in rust_files(Path::new("src")) {
        let source = text(&p);
        for (n, line) in code_lines(&source) {
            let string_error = line.find("Result<").is_some_and(|at| {
                let rest = &line[at..];
                rest.contains(", String>") || rest.contains(",String>")
            });
            if string_error {
                wrong.push(format!("{}:{n}: {}", p.display(), line.trim()));
            }
        }
    }
    assert!(wrong.is_empty(), "errors as strings:\n{}", wrong.join("\n"));
}
