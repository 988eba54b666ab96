//! Copies README.md's examples that run to `$OUT_DIR`: its first ```rust block to
//! `readme.rs`, which the example `readme` includes, and the block under "## Transactional
//! enqueue" to `outbox.rs`, which the example `outbox` includes. What runs is the README's
//! text as written there.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    println!("cargo:rerun-if-changed=../README.md");
    let copied = copy_example("", "readme.rs")
        .and_then(|()| copy_example("## Transactional enqueue", "outbox.rs"));
    match copied {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// Copies the first ```rust block after the line `heading` (from the top if empty) to
/// `$OUT_DIR/target`.
fn copy_example(heading: &str, target: &str) -> Result<(), String> {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let text = std::fs::read_to_string(&readme)
        .map_err(|error| format!("cannot read {}: {error}", readme.display()))?;
    let mut lines = text
        .lines()
        .skip_while(|line| !heading.is_empty() && *line != heading)
        .skip_while(|line| !line.starts_with("```rust"));
    if lines.next().is_none() {
        return Err(format!(
            "{} has no ```rust block under {heading:?}",
            readme.display()
        ));
    }
    let mut block = String::new();
    for line in lines.take_while(|line| *line != "```") {
        block.push_str(line);
        block.push('\n');
    }
    let out_dir = std::env::var("OUT_DIR").map_err(|_| "cargo sets no OUT_DIR".to_owned())?;
    let target = Path::new(&out_dir).join(target);
    std::fs::write(&target, block)
        .map_err(|error| format!("cannot write {}: {error}", target.display()))
}
