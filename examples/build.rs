//! Copies README.md's first ```rust block to `$OUT_DIR/readme.rs`, which the example
//! `readme` includes: the README's first example is compiled and run as written there.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    println!("cargo:rerun-if-changed=../README.md");
    match copy_first_example() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

fn copy_first_example() -> Result<(), String> {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let text = std::fs::read_to_string(&readme)
        .map_err(|error| format!("cannot read {}: {error}", readme.display()))?;
    let mut lines = text.lines().skip_while(|line| !line.starts_with("```rust"));
    if lines.next().is_none() {
        return Err(format!("{} has no ```rust block", readme.display()));
    }
    let mut block = String::new();
    for line in lines.take_while(|line| *line != "```") {
        block.push_str(line);
        block.push('\n');
    }
    let out_dir = std::env::var("OUT_DIR").map_err(|_| "cargo sets no OUT_DIR".to_owned())?;
    let target = Path::new(&out_dir).join("readme.rs");
    std::fs::write(&target, block)
        .map_err(|error| format!("cannot write {}: {error}", target.display()))
}
