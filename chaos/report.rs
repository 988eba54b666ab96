//! What one run comes to: throughput against its baseline, from the completions the
//! cluster recorded each second, and the ledger's account of every task.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, TimeDelta, Utc};

use crate::faults::Fault;
use crate::ledger::Run;

/// A step run that began this long after its step's checkpoint was written re-ran a
/// completed step. (The checkpoint's time is its statement's start; its commit follows
/// within milliseconds.)
const CHECKPOINT_MARGIN: TimeDelta = TimeDelta::seconds(1);

/// The figures of one run.
#[derive(Debug)]
pub struct Figures {
    pub baseline: f64,
    pub during: f64,
    pub after: f64,
    /// Seconds from the fault's end until throughput holds 90% of the baseline (over 3 s).
    pub back_to_90: Option<i64>,
    pub scheduled: usize,
    pub lost: usize,
    pub duplicates: usize,
    pub explained: usize,
    pub refused: usize,
    pub step_duplicates: usize,
    pub steps_explained: usize,
    pub completed_steps_rerun: usize,
    /// Lines of the workers' logs saying PostgreSQL aborted a statement for a deadlock.
    pub deadlocks: usize,
    /// Lines of the workers' logs reporting a wait for a connection.
    pub slow_waits: usize,
}

/// The windows of a run, in seconds since the epoch.
pub struct Timeline {
    pub baseline: (i64, i64),
    pub fault: (i64, i64),
    pub after: (i64, i64),
}

/// Completions per second, by epoch second.
pub type Series = HashMap<i64, u64>;

fn mean(series: &Series, (from, to): (i64, i64)) -> f64 {
    if to <= from {
        return 0.0;
    }
    let sum: u64 = (from..to)
        .map(|s| series.get(&s).copied().unwrap_or(0))
        .sum();
    sum as f64 / (to - from) as f64
}

/// Figures from the run's completions per second, its ledger, the final status of each
/// scheduled task, and its steps' checkpoint times.
pub fn figures(
    series: &Series,
    timeline: &Timeline,
    faults: &[Fault],
    runs: &[Run],
    scheduled: &[String],
    completed: &HashSet<String>,
    checkpoints: &HashMap<(String, String), DateTime<Utc>>,
) -> Figures {
    let baseline = mean(series, timeline.baseline);
    let share = |window| match baseline > 0.0 {
        true => mean(series, window) / baseline,
        false => 0.0,
    };
    // A short fault (a kill) is judged over the 10 s after it.
    let during_window = match timeline.fault.1 - timeline.fault.0 < 10 {
        true => (timeline.fault.0, timeline.fault.0 + 10),
        false => timeline.fault,
    };
    let back_to_90 = (timeline.fault.1..timeline.after.1 - 2)
        .find(|&s| mean(series, (s, s + 3)) >= 0.9 * baseline)
        .map(|s| s - timeline.fault.1);

    let mut by_task: HashMap<&str, Vec<&Run>> = HashMap::new();
    let mut by_step: HashMap<(&str, &str), Vec<&Run>> = HashMap::new();
    let mut refused = 0;
    let mut completed_steps_rerun = 0;
    for run in runs {
        match (run.kind.as_str(), &run.step) {
            ("task", _) => by_task.entry(&run.task_id).or_default().push(run),
            ("step", Some(step)) => {
                by_step.entry((&run.task_id, step)).or_default().push(run);
                let key = (run.task_id.clone(), step.clone());
                if checkpoints
                    .get(&key)
                    .is_some_and(|written| run.at > *written + CHECKPOINT_MARGIN)
                {
                    completed_steps_rerun += 1;
                }
            }
            ("lease_lost", _) => refused += 1,
            _ => {}
        }
    }
    let (duplicates, explained) = repeats(by_task.values(), faults);
    let (step_duplicates, steps_explained) = repeats(by_step.values(), faults);
    let lost = scheduled
        .iter()
        .filter(|id| !completed.contains(*id))
        .count();
    Figures {
        baseline,
        during: share(during_window),
        after: share((timeline.after.1 - 20, timeline.after.1)),
        back_to_90,
        scheduled: scheduled.len(),
        lost,
        duplicates,
        explained,
        refused,
        step_duplicates,
        steps_explained,
        completed_steps_rerun,
        deadlocks: 0,
        slow_waits: 0,
    }
}

/// Runs beyond the first of each task (or step), and how many of those a fault explains:
/// the earlier run's worker was killed before the later run began, or a fault that struck
/// everyone overlapped the time between the two runs' starts.
fn repeats<'a>(groups: impl Iterator<Item = &'a Vec<&'a Run>>, faults: &[Fault]) -> (usize, usize) {
    let (mut repeated, mut explained) = (0, 0);
    for runs in groups {
        for pair in runs.windows(2) {
            let (earlier, later) = (pair[0], pair[1]);
            repeated += 1;
            let struck = faults.iter().any(|f| match &f.worker {
                // Whatever a killed worker recorded began before it died: an entry stamped
                // after its death was a write in flight when it was killed.
                Some(killed) => *killed == earlier.worker && later.at >= f.from,
                None => f.from <= later.at && f.until >= earlier.at,
            });
            if struck {
                explained += 1;
            }
        }
    }
    (repeated, explained)
}

/// Completions in each second from the baseline's start to the run's end, with the fault's
/// seconds in brackets: the shape behind a row's shares.
pub fn seconds(series: &Series, timeline: &Timeline) -> String {
    (timeline.baseline.0..timeline.after.1)
        .map(|s| {
            let n = series.get(&s).copied().unwrap_or(0);
            match (timeline.fault.0..timeline.fault.1).contains(&s) {
                true => format!("[{n}]"),
                false => n.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The Markdown table's header.
pub const HEADER: &str = "| scenario | load | baseline (tasks/s) | during | after | back to 90% | scheduled | lost | duplicate runs (explained) | refused stale outcomes | duplicate step runs (explained) | completed steps re-run | deadlocks logged | connection waits logged |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|";

/// One row of the table.
pub fn row(scenario: &str, load: &str, f: &Figures) -> String {
    let back = match f.back_to_90 {
        Some(s) => format!("{s} s"),
        None => "not within the run".to_owned(),
    };
    format!(
        "| {scenario} | {load} | {:.0} | {:.0}% | {:.0}% | {back} | {} | {} | {} ({}) | {} | {} ({}) | {} | {} | {} |",
        f.baseline,
        f.during * 100.0,
        f.after * 100.0,
        f.scheduled,
        f.lost,
        f.duplicates,
        f.explained,
        f.refused,
        f.step_duplicates,
        f.steps_explained,
        f.completed_steps_rerun,
        f.deadlocks,
        f.slow_waits
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(second: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_000_000 + second, 0).unwrap_or_default()
    }

    fn run(kind: &str, task: &str, step: Option<&str>, worker: &str, second: i64) -> Run {
        Run {
            kind: kind.to_owned(),
            task_id: task.to_owned(),
            step: step.map(str::to_owned),
            worker: worker.to_owned(),
            at: at(second),
        }
    }

    #[test]
    fn throughput_shares_and_recovery_come_from_the_windows() {
        // 100/s for the baseline, 20/s during a 5 s fault, then 50/s for 3 s and 100/s.
        let mut series = Series::new();
        let second = |s: i64| 1_000_000 + s;
        for s in 0..10 {
            series.insert(second(s), 100);
        }
        for s in 10..15 {
            series.insert(second(s), 20);
        }
        for s in 15..18 {
            series.insert(second(s), 50);
        }
        for s in 18..45 {
            series.insert(second(s), 100);
        }
        let timeline = Timeline {
            baseline: (second(0), second(10)),
            fault: (second(10), second(15)),
            after: (second(15), second(45)),
        };
        let f = figures(
            &series,
            &timeline,
            &[],
            &[],
            &[],
            &HashSet::new(),
            &HashMap::new(),
        );
        assert_eq!(f.baseline, 100.0);
        // A fault under 10 s is judged over the 10 s after it struck: 5 × 20 + 3 × 50 + 2 × 100.
        assert!((f.during - 0.45).abs() < 1e-9, "{}", f.during);
        assert!((f.after - 1.0).abs() < 1e-9, "{}", f.after);
        // The first 3 s window at 90% or more starts at second 18, 3 s after the fault.
        assert_eq!(f.back_to_90, Some(3));
    }

    #[test]
    fn the_ledger_counts_losses_repeats_their_explanations_and_rerun_steps() {
        let faults = [Fault {
            from: at(10),
            until: at(10),
            worker: Some("w1".to_owned()),
        }];
        let runs = [
            // Run by w1, which was killed, then again by w2: explained.
            run("task", "a", None, "w1", 9),
            run("task", "a", None, "w2", 45),
            // Stamped by w1 after its death (a write in flight), run again: explained.
            run("task", "d", None, "w1", 11),
            run("task", "d", None, "w2", 46),
            // Run twice by w2, never struck: not explained.
            run("task", "b", None, "w2", 20),
            run("task", "b", None, "w2", 21),
            // A step whose checkpoint was written at 30 s, run again at 40 s.
            run("step", "f", Some("charge"), "w2", 29),
            run("step", "f", Some("charge"), "w2", 40),
            run("lease_lost", "b", None, "w2", 22),
        ];
        let scheduled: Vec<String> = ["a", "b", "c", "d", "f"].map(str::to_owned).to_vec();
        let completed: HashSet<String> = ["a", "b", "d", "f"].map(str::to_owned).into();
        let checkpoints = HashMap::from([(("f".to_owned(), "charge".to_owned()), at(30))]);
        let timeline = Timeline {
            baseline: (0, 1),
            fault: (1, 2),
            after: (2, 30),
        };
        let f = figures(
            &Series::new(),
            &timeline,
            &faults,
            &runs,
            &scheduled,
            &completed,
            &checkpoints,
        );
        assert_eq!((f.scheduled, f.lost), (5, 1), "c never completed");
        assert_eq!((f.duplicates, f.explained), (3, 2));
        assert_eq!(f.refused, 1);
        assert_eq!((f.step_duplicates, f.steps_explained), (1, 0));
        assert_eq!(
            f.completed_steps_rerun, 1,
            "the run 10 s after the checkpoint"
        );
    }
}
