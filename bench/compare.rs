//! `zart-bench compare REV [RUNS] [SECONDS] [DRIVERS]`: this build against commit `REV`,
//! interleaved, each figure as the median of its runs and the ratio after/before.
//!
//! `REV` is built once (release) in a worktree under `target/compare/`, into a target folder
//! kept there for later comparisons. Then the two benchmarks take turns, `RUNS` times each
//! (3 unless given), the order swapped every round so that a machine getting busier or
//! quieter weighs on both alike; both use this workspace's ceiling scripts. A figure with a
//! ceiling is compared by its ratio to the ceiling of its own run, which cancels what the
//! machine did to both; one without (latencies, calls) by its value. The table goes to
//! standard output and `target/zart-bench-compare-report.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::target::workspace;
use crate::BoxError;

/// Runs the comparison `args` (what follows `compare`) asks for.
pub fn run(mut args: impl Iterator<Item = String>) -> Result<(), BoxError> {
    let usage = "usage: zart-bench compare REV [RUNS] [SECONDS] [postgres|sqlite|all]";
    let rev = args.next().ok_or(usage)?;
    let number = |arg: Option<String>, default: u64, what: &str| -> Result<u64, BoxError> {
        match arg {
            None => Ok(default),
            Some(arg) => match arg.parse() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(
                    format!("{what} must be a whole number above 0, not {arg:?}; {usage}").into(),
                ),
            },
        }
    };
    let runs = number(args.next(), 3, "RUNS")?;
    let secs = number(args.next(), 5, "SECONDS")?;
    let drivers = args.next().unwrap_or_else(|| "all".to_owned());

    let root = workspace().canonicalize()?;
    let commit = git(
        &root,
        &["rev-parse", "--verify", &format!("{rev}^{{commit}}")],
    )
    .map_err(|e| format!("{rev:?} is not a commit of this repository: {e}"))?;
    let before = build(&root, &commit)?;
    let after = std::env::current_exe()?;
    let reports = root.join("target/compare/reports");
    std::fs::create_dir_all(&reports)?;

    let mut figures: BTreeMap<Figure, [Vec<f64>; 2]> = BTreeMap::new();
    for round in 0..runs {
        let order = match round % 2 {
            0 => [(0, &before), (1, &after)],
            _ => [(1, &after), (0, &before)],
        };
        for (side, binary) in order {
            let name = ["before", "after"][side];
            eprintln!(
                "== round {} of {runs}: {name} ({}) ==",
                round + 1,
                binary.display()
            );
            let report = reports.join(format!("{name}-{round}.md"));
            bench(&root, binary, secs, &drivers, &report)?;
            for (figure, value) in parse(&std::fs::read_to_string(&report)?) {
                figures.entry(figure).or_default()[side].push(value);
            }
        }
    }

    let table = render(&rev, &commit, runs, secs, &figures);
    println!("{table}");
    let path = root.join("target/zart-bench-compare-report.md");
    std::fs::write(&path, &table)?;
    eprintln!("report written to {}", path.display());
    Ok(())
}

/// `git args` in `dir`, its trimmed output.
fn git(dir: &Path, args: &[&str]) -> Result<String, BoxError> {
    let output = Command::new("git").args(args).current_dir(dir).output()?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr)
            .trim()
            .to_owned()
            .into());
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// The release benchmark of `commit`, built once in a worktree of its own (removed after
/// the build) and kept as `target/compare/zart-bench-<commit>`.
fn build(root: &Path, commit: &str) -> Result<PathBuf, BoxError> {
    let dir = root.join("target/compare");
    let binary = dir.join(format!("zart-bench-{commit}"));
    if binary.is_file() {
        eprintln!("using {} (built earlier)", binary.display());
        return Ok(binary);
    }
    std::fs::create_dir_all(&dir)?;
    let source = dir.join(format!("src-{commit}"));
    let source_arg = source.to_string_lossy().into_owned();
    if !source.is_dir() {
        git(root, &["worktree", "add", "--detach", &source_arg, commit])?;
    }
    eprintln!("building the benchmark of {commit} (release)...");
    let built = Command::new("cargo")
        .args(["build", "--release", "--quiet", "-p", "zart-bench"])
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .current_dir(&source)
        .status();
    let removed = git(root, &["worktree", "remove", "--force", &source_arg]);
    if !built?.success() {
        return Err(format!("building zart-bench at {commit} failed (above)").into());
    }
    removed?;
    std::fs::copy(dir.join("target/release/zart-bench"), &binary)?;
    Ok(binary)
}

/// One run of `binary`, its report written to `report`, with this workspace's ceilings.
fn bench(
    root: &Path,
    binary: &Path,
    secs: u64,
    drivers: &str,
    report: &Path,
) -> Result<(), BoxError> {
    let shared = root.join("../shared/bench");
    let status = Command::new(binary)
        .args([secs.to_string(), drivers.to_owned()])
        .env("ZART_BENCH_REPORT", report)
        .env("ZART_SQL_LIMIT", shared.join("sql-limit/run.sh"))
        .env("ZART_SQLITE_LIMIT", shared.join("sqlite-limit/run.sh"))
        .stdout(std::process::Stdio::null())
        .status()?;
    if !status.success() {
        return Err(format!("{} ended with {status}", binary.display()).into());
    }
    Ok(())
}

/// A figure of a report: the section it is in (the store and its setting) and its name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Figure {
    section: String,
    name: String,
    /// How it is compared: `×` (ratio to the ceiling) or the figure's unit.
    unit: String,
}

/// The figures of a report: a ratio to the ceiling where the row has one, else the value.
pub fn parse(report: &str) -> Vec<(Figure, f64)> {
    let mut section = String::new();
    let mut figures = Vec::new();
    for line in report.lines() {
        if let Some(title) = line.strip_prefix("Zart queue benchmark on ") {
            section = store_of(title).to_owned();
            continue;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let [_, name, value, _ceiling, ratio, _] = cells[..] else {
            continue;
        };
        if name == "figure" || name.starts_with("---") {
            continue;
        }
        let (number, unit) = match ratio.strip_suffix('×') {
            Some(ratio) => (ratio.trim(), "×".to_owned()),
            None => match value.split_once(' ') {
                Some((number, unit)) => (number, unit.to_owned()),
                None => continue,
            },
        };
        if let Ok(number) = number.parse::<f64>() {
            let figure = Figure {
                section: section.clone(),
                name: name.to_owned(),
                unit,
            };
            figures.push((figure, number));
        }
    }
    figures
}

/// The store and its setting a report's title names: what comes before its date
/// ("SQLite (synchronous=NORMAL, the default), 2026-12-07 ..").
fn store_of(title: &str) -> &str {
    let mut from = 0;
    while let Some(found) = title[from..].find(", ") {
        let at = from + found;
        if title[at + 2..].starts_with(|c: char| c.is_ascii_digit()) {
            return &title[..at];
        }
        from = at + 2;
    }
    title
}

fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// `value` with three significant decimals at most, as the reports print their figures.
fn shown(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Whether a smaller value of `unit` is the better one (times, calls).
fn lower_is_better(unit: &str) -> bool {
    matches!(unit, "ms" | "µs" | "calls")
}

fn render(
    rev: &str,
    commit: &str,
    runs: u64,
    secs: u64,
    figures: &BTreeMap<Figure, [Vec<f64>; 2]>,
) -> String {
    let mut out = format!(
        "This build against {rev} ({commit}): {runs} interleaved runs each, {secs} s windows; \
         medians, and the ratio after/before (ratios to the ceiling of each run where the \
         figure has one).\n\n| store | figure | before | after | after/before |\n|---|---|---:|---:|---:|\n"
    );
    for (figure, [before, after]) in figures {
        let (Some(b), Some(a)) = (median(before), median(after)) else {
            continue;
        };
        let ratio = match b == 0.0 {
            true => "n/a".to_owned(),
            false => format!("{:.2}", a / b),
        };
        let better = match lower_is_better(&figure.unit) {
            true => " (lower is better)",
            false => "",
        };
        out.push_str(&format!(
            "| {} | {}{better} | {} {unit} | {} {unit} | {ratio} |\n",
            figure.section,
            figure.name,
            shown(b),
            shown(a),
            unit = figure.unit,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_reads_as_ratios_where_there_is_a_ceiling_and_values_elsewhere() {
        let report = "Zart queue benchmark on SQLite (synchronous=NORMAL, the default), 2026-12-07 23:51 UTC (5 s windows)\n\n\
            | figure | zart | raw-SQL ceiling | ratio |\n|---|---:|---:|---:|\n\
            | drain, 100k no-op backlog, one worker | 38946.0 tasks/s | sqlite_claim_complete_batch100 = 253249 | 0.15 × |\n\
            | latency p50, schedule_now → handler start | 0.7 ms | | |\n\n\
            Zart queue benchmark on PostgreSQL, 2026-12-07 23:52 UTC (5 s windows; ceiling: x 5, same run)\n\n\
            | figure | zart | raw-SQL ceiling | ratio |\n|---|---:|---:|---:|\n\
            | durable, store calls of one 3-step execution | 5.0 calls | | |\n";
        let figures = parse(report);
        let read: Vec<(&str, &str, &str, f64)> = figures
            .iter()
            .map(|(f, v)| (f.section.as_str(), f.name.as_str(), f.unit.as_str(), *v))
            .collect();
        assert_eq!(
            read,
            [
                (
                    "SQLite (synchronous=NORMAL, the default)",
                    "drain, 100k no-op backlog, one worker",
                    "×",
                    0.15
                ),
                (
                    "SQLite (synchronous=NORMAL, the default)",
                    "latency p50, schedule_now → handler start",
                    "ms",
                    0.7
                ),
                (
                    "PostgreSQL",
                    "durable, store calls of one 3-step execution",
                    "calls",
                    5.0
                ),
            ]
        );
    }

    #[test]
    fn values_are_shown_without_float_noise() {
        assert_eq!(shown(0.060000000000000005), "0.06");
        assert_eq!(shown(0.33499999999999996), "0.335");
        assert_eq!(shown(5.0), "5");
        assert_eq!(shown(38946.04), "38946.04");
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }
}
