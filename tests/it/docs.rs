//! The documentation is true to the repository: every link in the README, the changelog and
//! `docs/` resolves to a file in it, and `docs/spec/` is the spec the product is built to (the
//! shared copy beside the repository, when there is one).

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Markdown pages: the README, the changelog and every page under `docs/`.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![root().join("README.md"), root().join("CHANGELOG.md")];
    let mut dirs = vec![root().join("docs")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                pages.push(path);
            }
        }
    }
    pages.sort();
    pages
}

/// The targets of the inline links `[text](target)` of `text`, outside fenced code.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(after[..end].to_string());
            rest = &after[end..];
        }
    }
    out
}

/// A link that must resolve inside the repository (not a web address or an anchor alone).
fn local(target: &str) -> Option<&str> {
    let external = ["http://", "https://", "mailto:"]
        .iter()
        .any(|p| target.starts_with(p));
    let path = target.split('#').next().unwrap_or_default();
    (!external && !path.is_empty()).then_some(path)
}

#[test]
fn every_link_resolves_inside_the_repository() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        let dir = page.parent().unwrap();
        for target in links(&text) {
            let Some(path) = local(&target) else { continue };
            checked += 1;
            let resolved = dir.join(path);
            let inside = resolved
                .canonicalize()
                .is_ok_and(|p| p.starts_with(root().canonicalize().unwrap()));
            if !inside {
                broken.push(format!("{}: {target}", page.display()));
            }
        }
    }
    assert!(
        checked >= 10,
        "only {checked} links found: is the README empty?"
    );
    assert!(
        broken.is_empty(),
        "links that resolve to nothing here: {broken:#?}"
    );
}

#[test]
fn the_link_reader_finds_links_and_skips_code_and_web_addresses() {
    let text = "see [a](docs/a.md) and [b](https://x.y)\n```\n[c](nope.md)\n```\n[d](e.md#part)";
    assert_eq!(links(text), ["docs/a.md", "https://x.y", "e.md#part"]);
    assert_eq!(local("https://x.y"), None);
    assert_eq!(local("e.md#part"), Some("e.md"));
    assert_eq!(local("#part"), None);
}

#[test]
fn the_readme_is_read_in_five_minutes() {
    let lines = std::fs::read_to_string(root().join("README.md"))
        .unwrap()
        .lines()
        .count();
    assert!(
        lines <= 150,
        "README.md has {lines} lines: move detail to docs/"
    );
}

/// `docs/spec/` holds the spec as the product is built to it: the same bytes as the shared copy
/// beside the repository (`../shared/spec/`), when the checkout has one.
#[test]
fn the_spec_in_docs_is_the_shared_spec() {
    let shared = root().join("../shared/spec");
    if !shared.is_dir() {
        eprintln!(
            "*** no {} beside this checkout: docs/spec/ was NOT compared with it",
            shared.display()
        );
        return;
    }
    for name in ["behaviour.md", "scenario-format.md"] {
        let ours = std::fs::read(root().join("docs/spec").join(name)).unwrap();
        let theirs = std::fs::read(Path::new(&shared).join(name)).unwrap();
        assert!(
            ours == theirs,
            "docs/spec/{name} differs from {}: copy it over",
            shared.join(name).display()
        );
    }
}
