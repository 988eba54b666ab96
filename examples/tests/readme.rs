//! README.md's "Add to Cargo.toml" block asks for what its first example uses, at the
//! versions this workspace builds that example with (`examples/readme.rs` compiles it).

use std::collections::BTreeSet;
use std::path::Path;

use toml::{Table, Value};

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}

fn parse(relative: &str, text: &str) -> Table {
    text.parse()
        .unwrap_or_else(|error| panic!("{relative} does not parse: {error}"))
}

/// The lines of the first fenced block that opens with `fence`, after the first line
/// containing `after`.
fn block(readme: &str, after: &str, fence: &str) -> String {
    let mut lines = readme
        .lines()
        .skip_while(|line| !line.contains(after))
        .skip_while(|line| !line.starts_with(fence));
    assert!(
        lines.next().is_some(),
        "README.md has no {fence} block after {after:?}"
    );
    let mut block = String::new();
    for line in lines.take_while(|line| *line != "```") {
        block.push_str(line);
        block.push('\n');
    }
    block
}

/// The README's Cargo.toml block: its `[dependencies]`.
fn readme_dependencies() -> Table {
    let block = block(&read("../README.md"), "Add to Cargo.toml", "```toml");
    let manifest = parse("README.md's Cargo.toml block", &block);
    match manifest.get("dependencies") {
        Some(Value::Table(dependencies)) => dependencies.clone(),
        _ => panic!("README.md's Cargo.toml block has no [dependencies] table:\n{block}"),
    }
}

/// The crates a Rust source names in paths (`serde::`, `#[tokio::main]`), the standard
/// library's aside.
fn crates_named(source: &str) -> BTreeSet<String> {
    let mut crates = BTreeSet::new();
    for (at, _) in source.match_indices("::") {
        let before = &source[..at];
        let start = before
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(0, |i| i + 1);
        let name = &before[start..];
        // Not a path's later segment (`a::b::`), nor a method's turbofish (`.f::<T>`).
        let is_path_start = !before[..start].ends_with("::") && !before[..start].ends_with('.');
        if is_path_start
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && !["std", "core", "alloc", "crate", "self", "super"].contains(&name)
        {
            crates.insert(name.to_owned());
        }
    }
    crates
}

fn features(spec: &Value) -> BTreeSet<String> {
    spec.get("features")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn version(spec: &Value) -> Option<&str> {
    spec.as_str()
        .or_else(|| spec.get("version").and_then(Value::as_str))
}

#[test]
fn the_cargo_toml_block_names_the_crates_the_first_example_uses() {
    let readme = read("../README.md");
    let example = block(&readme, "", "```rust");
    let asked: BTreeSet<String> = readme_dependencies()
        .keys()
        .map(|name| name.replace('-', "_"))
        .collect();
    assert_eq!(
        asked,
        crates_named(&example),
        "README.md's Cargo.toml block and the crates its first example uses differ"
    );
}

#[test]
fn the_cargo_toml_block_asks_for_the_versions_and_features_the_example_builds_with() {
    let ours = parse("examples/Cargo.toml", &read("Cargo.toml"));
    let workspace = parse("Cargo.toml", &read("../Cargo.toml"));
    let example = block(&read("../README.md"), "", "```rust");
    for (name, asked) in readme_dependencies() {
        if name == "zart" {
            assert!(
                asked.get("path").is_some() || version(&asked).is_some(),
                "README.md's zart dependency names neither a path nor a version"
            );
            continue;
        }
        let mut built = ours
            .get("dependencies")
            .and_then(|dependencies| dependencies.get(&name))
            .unwrap_or_else(|| panic!("README.md asks for {name}, which examples/Cargo.toml lacks"))
            .clone();
        if built.get("workspace").and_then(Value::as_bool) == Some(true) {
            let inherited = workspace
                .get("workspace")
                .and_then(|table| table.get("dependencies"))
                .and_then(|dependencies| dependencies.get(&name))
                .unwrap_or_else(|| panic!("the workspace declares no {name}"));
            let mut merged = inherited.clone();
            if let (Some(table), extra) = (merged.as_table_mut(), features(&built)) {
                let mut all = features(inherited);
                all.extend(extra);
                table.insert(
                    "features".to_owned(),
                    Value::Array(all.into_iter().map(Value::String).collect()),
                );
            }
            built = merged;
        }
        assert_eq!(
            version(&asked),
            version(&built),
            "README.md asks for {name} at another version than the example is built with"
        );
        let unknown: Vec<_> = features(&asked)
            .difference(&features(&built))
            .cloned()
            .collect();
        assert!(
            unknown.is_empty(),
            "README.md asks for features of {name} the example is not built with: {unknown:?}"
        );
    }
    // What the example's own code needs of them.
    let dependencies = readme_dependencies();
    let needs = [
        ("#[tokio::main]", "tokio", "macros"),
        ("#[tokio::main]", "tokio", "rt-multi-thread"),
        ("#[derive(", "serde", "derive"),
    ];
    for (used, name, feature) in needs {
        if example.contains(used) {
            let asked = dependencies.get(name).unwrap_or_else(|| {
                panic!("the example uses {used}: README.md must ask for {name}")
            });
            assert!(
                features(asked).contains(feature),
                "the example uses {used}: README.md must ask for {name}'s feature {feature:?}"
            );
        }
    }
    if example.contains("tracing_subscriber::fmt") {
        let asked = &dependencies["tracing-subscriber"];
        let defaults = asked.get("default-features").and_then(Value::as_bool) != Some(false);
        assert!(
            defaults || features(asked).contains("fmt"),
            "the example uses tracing_subscriber::fmt: README.md must ask for its feature \"fmt\""
        );
    }
}
