//! One run re-run from its own record: `xtask train --config RUN/config.toml` gives the same
//! numbers, and a record named for another run is refused before anything trains.

use std::path::{Path, PathBuf};
use std::process::Output;

mod common;
use common::xtask;

fn root(name: &str) -> PathBuf {
    common::scratch("rerun", name)
}

fn train(dir: &Path, seed: &str, config: &Path, out: &Path) -> Output {
    xtask()
        .args(["train", "--agent", "gcbc", "--task", "pointmaze-medium-navigate", "--seed", seed, "--config"])
        .arg(config)
        .arg("--data")
        .arg(dir.join("data"))
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

/// metrics.csv without its wall-clock columns (`time/…`), which no two runs share.
fn numbers(run: &Path) -> Vec<Vec<String>> {
    let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let keep: Vec<usize> = (0..header.len()).filter(|&i| !header[i].starts_with("time/")).collect();
    csv.lines()
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            keep.iter().map(|&i| cells[i].to_string()).collect()
        })
        .collect()
}

#[test]
fn a_run_re_run_from_its_config_toml_gives_the_same_numbers() {
    let dir = root("same");
    let first = dir.join("first");
    // A non-default agent table and train section, so the record (not the defaults) must be read.
    let start = dir.join("start.toml");
    std::fs::write(&start, "[train]\nsteps = 60\neval_every = 30\neval_episodes = 2\nbatch_size = 32\n\n[agent]\nhidden = [24, 24]\n").unwrap();
    let out = train(&dir, "3", &start, &first);
    assert!(out.status.success(), "{}", text(&out));

    let record = first.join("config.toml");
    let again = dir.join("again");
    let out = train(&dir, "3", &record, &again);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(again.join("config.toml")).unwrap(), std::fs::read_to_string(&record).unwrap(), "the re-run resolves to the same record");
    let (a, b) = (numbers(&first), numbers(&again));
    assert_eq!(a.len(), 3, "a header and one row per evaluation: {a:?}");
    assert_eq!(a, b, "every evaluation and loss value identical");
}

#[test]
fn a_record_of_another_run_is_refused_with_the_key_and_both_values() {
    let dir = root("refused");
    let record = dir.join("config.toml");
    std::fs::write(&record, "agent_name = \"gcbc\"\ntask = \"pointmaze-medium-navigate\"\nseed = 1\n\n[train]\nsteps = 60\nbatch_size = 32\neval_every = 30\neval_episodes = 2\nseed = 1\n\n[agent]\n")
        .unwrap();
    let out = train(&dir, "2", &record, &dir.join("run"));
    assert!(!out.status.success());
    let msg = text(&out);
    assert!(msg.contains("config.toml") && msg.contains("`seed` is \"1\", but the command line gives \"2\""), "{msg}");
    assert!(!dir.join("run").join("metrics.csv").exists(), "nothing trained");

    // A half-record (identity but no [train]) is not a record.
    std::fs::write(&record, "agent_name = \"gcbc\"\ntask = \"pointmaze-medium-navigate\"\nseed = 2\n").unwrap();
    let out = train(&dir, "2", &record, &dir.join("run"));
    assert!(!out.status.success());
    let msg = text(&out);
    assert!(msg.contains("not a run's config.toml") && msg.contains("train"), "{msg}");
}
