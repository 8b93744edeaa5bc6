//! The scenario format's JSON Schema: the committed file is what the code generates (so CI
//! fails when it is stale), every scenario and fixture points its editor at it and passes it,
//! and it rejects what the loader rejects: unknown keys, two actions in a step, a bad duration.

use std::path::PathBuf;

use sipamo::sim::scenario::schema::{SCHEMA_PATH, modeline, scenario_schema, scenario_schema_text};
use sipamo::sim::scenario::{load, suite};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn validator() -> jsonschema::Validator {
    jsonschema::validator_for(&scenario_schema()).expect("the schema is itself valid")
}

/// YAML as the editor's language server sees it: a JSON document.
fn as_json(yaml: &str) -> serde_json::Value {
    let v: serde_yaml::Value = serde_yaml::from_str(yaml).expect("YAML");
    serde_json::to_value(v).expect("JSON")
}

fn errors(yaml: &str) -> Vec<String> {
    validator()
        .iter_errors(&as_json(yaml))
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

fn files() -> Vec<PathBuf> {
    let mut all = suite::discover(&[root().join("scenarios")]).expect("scenarios/");
    all.extend(suite::discover(&[root().join("fixtures")]).expect("fixtures/"));
    assert!(all.len() > 50, "found only {} files", all.len());
    all
}

#[test]
fn the_committed_schema_is_what_the_code_generates() {
    let committed = std::fs::read_to_string(root().join(SCHEMA_PATH)).unwrap_or_default();
    assert!(
        committed == scenario_schema_text(),
        "{SCHEMA_PATH} is stale: run `cargo run -- schema -o {SCHEMA_PATH}` and commit it"
    );
}

#[test]
fn every_scenario_and_fixture_points_its_editor_at_the_schema() {
    for file in files() {
        let rel = file.strip_prefix(root()).expect("under the root");
        let depth = rel.components().count() - 1;
        let text = std::fs::read_to_string(&file).expect("readable");
        let first = text.lines().next().unwrap_or("");
        assert_eq!(first, modeline(depth), "{}", rel.display());
        let target = file
            .parent()
            .expect("a folder")
            .join(first.split("$schema=").nth(1).expect("a $schema= path"));
        assert!(
            target.exists(),
            "{}: {} is missing",
            rel.display(),
            target.display()
        );
    }
}

#[test]
fn every_scenario_and_fixture_passes_the_schema() {
    let v = validator();
    for file in files() {
        let text = std::fs::read_to_string(&file).expect("readable");
        let found: Vec<String> = v
            .iter_errors(&as_json(&text))
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(found.is_empty(), "{}: {found:#?}", file.display());
    }
}

const GOOD: &str = "name: ok\nsettings: { default_responsible: 1 }\n\
    steps:\n  - at: 5m10s\n    call: { client: \"+7 916 123-45-67\", ring: [\"201\"] }\n";

#[test]
fn a_minimal_scenario_passes() {
    assert_eq!(errors(GOOD), Vec::<String>::new());
}

/// Each mistake is refused by the loader and by the schema alike.
#[test]
fn the_schema_rejects_what_the_loader_rejects() {
    let cases = [
        ("unknown top-level key", GOOD.replace("name: ok", "name: ok\nnmae: typo")),
        ("unknown key in a call", GOOD.replace("ring:", "rnig:")),
        ("unknown settings key", GOOD.replace("default_responsible: 1", "default_responsible: 1, colour: red")),
        ("two actions in a step", format!("{GOOD}    crm: {{ complete_task: {{ client: \"1234567\" }} }}\n")),
        ("no action in a step", GOOD.replace("    call: { client: \"+7 916 123-45-67\", ring: [\"201\"] }\n", "")),
        ("a bad duration", GOOD.replace("5m10s", "10s5m")),
        ("an unknown rule ID", format!("{GOOD}rules: [R-NOPE]\n")),
        ("a phone with letters", GOOD.replace("+7 916 123-45-67", "call me")),
        ("no settings", "name: x\n".to_string()),
        ("two crm actions", GOOD.replace("call: { client: \"+7 916 123-45-67\", ring: [\"201\"] }", "crm: { complete_task: { client: \"1234567\" }, delete_task: { client: \"1234567\" } }")),
        ("an unknown expect key", format!("{GOOD}expect: {{ contact: 1 }}\n")),
        ("a bad Unsorted state", format!("{GOOD}expect: {{ unsorted: [{{ state: lost }}] }}\n")),
    ];
    let dir = tempfile::tempdir().expect("temp dir");
    for (what, yaml) in cases {
        let path = dir.path().join("case.yaml");
        std::fs::write(&path, &yaml).expect("write");
        assert!(
            load::load_file(&path).is_err(),
            "{what}: the loader took it\n{yaml}"
        );
        assert!(
            !errors(&yaml).is_empty(),
            "{what}: the schema took it\n{yaml}"
        );
    }
}

#[test]
fn documented_keys_beyond_the_format_page_carry_descriptions() {
    let schema = scenario_schema();
    let text = serde_json::to_string(&schema).expect("JSON");
    for key in [
        "seed",
        "settle",
        "parked",
        "invariants",
        "error",
        "call_id",
        "move_task",
        "delete_task",
        "phones",
    ] {
        assert!(text.contains(&format!("\"{key}\"")), "{key} missing");
    }
    let described = |pointer: &str| {
        schema
            .pointer(pointer)
            .and_then(|v| v.get("description"))
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
    };
    assert!(described("/properties/seed").is_some());
    assert!(described("/properties/settle").is_some());
    assert!(described("/$defs/Expect/properties/parked").is_some());
    assert!(described("/$defs/CallStep/properties/call_id").is_some());
    assert!(described("/$defs/CrmAction/properties/move_task").is_some());
}
