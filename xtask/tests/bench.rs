//! The runner end to end, through the real binary: a suite runs, a killed run resumes from its
//! checkpoint, finished runs are skipped, a failing run is recorded while the others go on.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod common;
use common::xtask;

fn root(name: &str) -> PathBuf {
    common::scratch("bench", name)
}

fn suite(dir: &Path, steps: u64, extra: &str) -> PathBuf {
    let p = dir.join("tiny.toml");
    std::fs::write(
        &p,
        format!(
            "[suite]\nseeds = [0]\neval_episodes = 2\nbatch_size = 32\n\n[[experiment]]\nsetting = \"cil\"\ntasks = [\"pointmaze-medium-navigate\"]\nagents = [\"gcbc\", \"nf-gcbc\"]\nsteps = {steps}\neval_every = 100\n[experiment.agent.gcbc]\nhidden = [32]\n[experiment.agent.nf-gcbc]\nblocks = 2\nchannels = 16\nencoder_hidden = [16]\nrep = 8\n{extra}"
        ),
    )
    .unwrap();
    p
}

#[test]
fn a_killed_run_resumes_and_finished_runs_are_skipped() {
    let dir = root("resume");
    let s = suite(&dir, 4000, "");
    let (results, data) = (dir.join("results"), dir.join("data"));
    let run_dir = results.join("runs/tiny/cil/pointmaze-medium-navigate/gcbc/seed0");
    // Start run 0 alone and kill it once it has written a checkpoint.
    let mut child = xtask().args(["run-one", "--suite"]).arg(&s).args(["--index", "0", "--results"]).arg(&results).arg("--data").arg(&data).spawn().unwrap();
    let t0 = Instant::now();
    while !run_dir.join("last.safetensors").exists() {
        assert!(t0.elapsed() < Duration::from_secs(300), "no checkpoint after 5 minutes");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!run_dir.join("final.toml").exists(), "the run finished before it could be killed");
    let rows_before = std::fs::read_to_string(run_dir.join("metrics.csv")).unwrap().lines().count() - 1;
    assert!((1..40).contains(&rows_before));
    // The suite: run 0 resumes, run 1 runs; then a second `bench` skips both.
    let out = xtask().args(["bench", "--suite"]).arg(&s).arg("--results").arg(&results).arg("--data").arg(&data).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    let metrics = std::fs::read_to_string(run_dir.join("metrics.csv")).unwrap();
    let steps: Vec<u64> = metrics.lines().skip(1).map(|l| l.split(',').next().unwrap().parse().unwrap()).collect();
    assert_eq!(steps, (1..=40).map(|k| 100 * k).collect::<Vec<_>>(), "one row per evaluation, none lost or repeated");
    assert_eq!(std::fs::read_to_string(run_dir.join("status")).unwrap().trim(), "done");
    assert!(text.contains("tables in"), "{text}");
    assert!(results.join("tables/tiny-cil.md").exists());
    let again = xtask().args(["bench", "--suite"]).arg(&s).arg("--results").arg(&results).arg("--data").arg(&data).output().unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("2 runs already finished: skipped"));
}

#[test]
fn a_failing_run_is_recorded_and_the_others_go_on() {
    let dir = root("fail");
    // An out-of-range value (gamma = 1.0) is refused when the suite is read, before any run.
    let s = suite(&dir, 200, "gamma = 1.0\n");
    let (results, data) = (dir.join("results"), dir.join("data"));
    let out = xtask().args(["bench", "--suite"]).arg(&s).arg("--results").arg(&results).arg("--data").arg(&data).output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && text.contains("nf-gcbc") && text.contains("`gamma`"), "{text}");
    assert!(!results.join("runs").exists(), "nothing ran");
    // A learning rate of 1e30 is in range but blows the loss up at run time: nf-gcbc fails with a
    // non-finite loss; gcbc must still finish.
    let s = suite(&dir, 200, "lr = 1e30\n");
    let out = xtask().args(["bench", "--suite"]).arg(&s).arg("--results").arg(&results).arg("--data").arg(&data).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    let base = results.join("runs/tiny/cil/pointmaze-medium-navigate");
    assert!(base.join("gcbc/seed0/final.toml").exists(), "{text}");
    let status = std::fs::read_to_string(base.join("nf-gcbc/seed0/status")).unwrap();
    assert!(status.starts_with("failed") && status.contains("loss term"), "{status}");
    let md = std::fs::read_to_string(results.join("tables/tiny-cil.md")).unwrap();
    assert!(md.contains("Missing runs (1)") && md.contains("nf-gcbc"), "{md}");
    // The divergence is recorded with its step and term, and settles the run: a second bench
    // does not rerun it, and its exit status still says the suite has a run without a score.
    let diverged = std::fs::read_to_string(base.join("nf-gcbc/seed0/diverged.toml")).unwrap();
    assert!(diverged.contains("step = ") && diverged.contains("term = \"nll\""), "{diverged}");
    let again = xtask().args(["bench", "--suite"]).arg(&s).arg("--results").arg(&results).arg("--data").arg(&data).output().unwrap();
    let text = String::from_utf8_lossy(&again.stdout).to_string() + &String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success() && text.contains("2 runs already finished: skipped") && text.contains("1 of them diverged"), "{text}");
    assert!(text.contains("1 diverged") && text.contains("nf-gcbc pointmaze-medium-navigate seed0"), "{text}");
}

#[test]
fn cuda_devices_without_the_cuda_build_are_refused_clearly() {
    let dir = root("cuda");
    let s = suite(&dir, 100, "");
    let out = xtask().args(["bench", "--devices", "cuda:0,cuda:1", "--suite"]).arg(&s).arg("--results").arg(dir.join("r")).arg("--data").arg(dir.join("d")).output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    if cfg!(feature = "cuda") {
        return;
    }
    assert!(text.contains("cuda:0") && text.contains("--features cuda"), "{text}");
    // A typo is refused by the argument parser, naming the value and the valid forms.
    let bad = xtask().args(["bench", "--devices", "gpu0", "--suite"]).arg(&s).output().unwrap();
    let text = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && text.contains("gpu0") && text.contains("`cpu`, `cuda:N`"), "{text}");
    let bad = xtask().args(["bench", "--launcher", "pbs", "--suite"]).arg(&s).output().unwrap();
    let text = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && text.contains("pbs") && text.contains("local") && text.contains("slurm"), "{text}");
    for jobs in ["0", "two", "1.5"] {
        let bad = xtask().args(["bench", "--jobs", jobs, "--suite"]).arg(&s).output().unwrap();
        let text = String::from_utf8_lossy(&bad.stderr);
        assert!(!bad.status.success() && text.contains(&format!("`{jobs}`")) && text.contains("`auto`"), "{jobs}: {text}");
    }
    // A dry run still lists the runs, and says what a GPU estimate needs.
    let dry = xtask().args(["bench", "--devices", "cuda:0", "--dry-run", "--suite"]).arg(&s).arg("--results").arg(dir.join("r")).output().unwrap();
    let text = String::from_utf8_lossy(&dry.stdout).to_string() + &String::from_utf8_lossy(&dry.stderr);
    assert!(dry.status.success() && text.contains("pointmaze-medium-navigate") && text.contains("no time estimate on cuda:0") && text.contains("--features cuda"), "{text}");
}

/// The `wall N s` figures of a dry run's estimate: one per experiment, then the total.
fn walls(text: &str) -> (Vec<(String, f64)>, f64) {
    let wall = |line: &str| -> f64 { line.split("wall ").nth(1).and_then(|w| w.split(' ').next()).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("no wall figure in `{line}`")) };
    let experiments = text.lines().filter_map(|l| l.trim_start().strip_prefix("experiment ").map(|rest| (rest.split(':').next().unwrap().to_string(), wall(l)))).collect();
    let total = text.lines().find(|l| l.trim_start().starts_with("total:")).map(wall).unwrap_or_else(|| panic!("no total in:\n{text}"));
    (experiments, total)
}

/// `bench --dry-run` on the quick suite (with tiny budgets, as the probe does not depend on them)
/// estimates each experiment's wall time from measured probes: positive figures that sum to the
/// total, ten times the steps give a larger total, and finished runs count zero.
#[test]
fn a_dry_run_estimates_the_quick_suites_wall_time() {
    let dir = root("plan");
    let quick = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../benchmarks/quick.toml")).unwrap();
    let budget = |steps: u64| -> PathBuf {
        let text: String = quick
            .lines()
            .map(|l| {
                if l.starts_with("steps = ") {
                    format!("steps = {steps}\n")
                } else if l.starts_with("eval_every = ") {
                    "eval_every = 20\n".to_string()
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        let d = dir.join(format!("steps{steps}"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("quick.toml"), text).unwrap();
        d.join("quick.toml")
    };
    let results = dir.join("results");
    let dry = |suite: &Path, extra: &[&str]| {
        let out = xtask().args(["bench", "--dry-run", "--jobs", "2", "--suite"]).arg(suite).arg("--results").arg(&results).arg("--data").arg(dir.join("data")).args(extra).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{text}");
        text
    };
    let (small, large) = (budget(40), budget(400));
    let text = dry(&small, &[]);
    assert!(text.contains("estimated time on cpu (2 runs at a time") && text.contains("34 of 34 runs pending"), "{text}");
    let (experiments, total) = walls(&text);
    assert_eq!(experiments.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["conditional-il", "offline-rl", "imitation", "unsupervised-gcrl"], "{text}");
    assert!(experiments.iter().all(|(_, w)| *w > 0.0), "{text}");
    let sum: f64 = experiments.iter().map(|(_, w)| w).sum();
    assert!((sum - total).abs() <= 0.05 * (experiments.len() + 1) as f64, "experiments sum to {sum}, total {total}:\n{text}");
    let (_, total_large) = walls(&dry(&large, &[]));
    assert!(total_large > 3.0 * total, "10× the steps: {total_large} s against {total} s");
    // A finished run (final.toml present) counts zero; the listing marks it done.
    let finished = results.join("runs/quick/conditional-il/pointmaze-medium-navigate/nf-gcbc/seed0");
    std::fs::create_dir_all(&finished).unwrap();
    std::fs::write(finished.join("final.toml"), "").unwrap();
    let text = dry(&small, &[]);
    assert!(text.contains("33 of 34 runs pending") && text.contains("seed 0 (40 steps) done"), "{text}");
    assert!(!dir.join("data").exists(), "a dry run generates no dataset");
    // `--no-estimate`: the listing alone, without a probe.
    let text = dry(&small, &["--no-estimate"]);
    assert!(text.contains("nf-gcbc") && !text.contains("estimated time") && !text.contains("probed"), "{text}");
    // `--part 1/2`: the quick suite's seed-0 runs (17 of 34, the finished one among them) are
    // the first part, listed and priced alone; `--part 2/2` the seed-1 runs.
    let text = dry(&small, &["--part", "1/2"]);
    assert!(text.contains("part 1/2: 17 of the 34 runs") && text.contains("16 of 34 runs pending") && !text.contains(" seed 1 ("), "{text}");
    let text = dry(&small, &["--part", "2/2", "--no-estimate"]);
    assert!(text.contains("part 2/2: 17 of the 34 runs") && !text.contains(" seed 0 ("), "{text}");
    // `--members 2`: a cell's two seeds form one ensemble, probed as one (each agent once, at
    // its group's size), except the finished run's cell, whose other seed runs solo, and
    // `random`, `vq-bet`, `diffusion-policy` and the online agents, which have no ensemble form.
    let text = dry(&small, &["--members", "2"]);
    assert!(text.contains("member ensembles (--members 2): 33 pending runs in 27 processes"), "{text}");
    let (experiments, _) = walls(&text);
    assert!(experiments.iter().all(|(_, w)| *w > 0.0), "{text}");
}

/// `--members 3` trains a cell's three seeds as one member ensemble in one process; each run
/// directory ends as with `--members 1` (one process per run): the same evaluations and loss
/// averages, row for row (bitwise on the CPU, where an ensemble runs each member's solo gemm).
#[test]
fn a_cells_seeds_train_as_one_member_ensemble_with_the_solo_results() {
    let dir = root("members");
    let p = dir.join("seeds.toml");
    std::fs::write(
        &p,
        "[suite]\nseeds = [0, 1, 2]\neval_episodes = 2\nbatch_size = 32\n\n[[experiment]]\nsetting = \"cil\"\ntasks = [\"pointmaze-medium-navigate\"]\nagents = [\"nf-gcbc\"]\nsteps = 200\neval_every = 100\n[experiment.agent.nf-gcbc]\nblocks = 2\nchannels = 16\nencoder_hidden = [16]\nrep = 8\n",
    )
    .unwrap();
    let data = dir.join("data");
    let run = |members: &str, results: &Path| {
        let out = xtask().args(["bench", "--jobs", "1", "--members", members, "--suite"]).arg(&p).arg("--results").arg(results).arg("--data").arg(&data).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{text}");
        text
    };
    let (grouped, solo) = (dir.join("grouped"), dir.join("solo"));
    assert!(run("3", &grouped).contains("3 runs in 1 processes"));
    assert!(!run("1", &solo).contains("processes"));
    let strip = |p: PathBuf| -> Vec<String> { std::fs::read_to_string(p).unwrap().lines().map(|l| l.rsplit_once(',').unwrap().0.to_string()).collect() };
    for seed in 0..3 {
        let rel = format!("runs/seeds/cil/pointmaze-medium-navigate/nf-gcbc/seed{seed}");
        assert_eq!(std::fs::read_to_string(grouped.join(&rel).join("status")).unwrap().trim(), "done");
        assert_eq!(strip(grouped.join(&rel).join("metrics.csv")), strip(solo.join(&rel).join("metrics.csv")), "seed {seed}");
    }
    let log = std::fs::read_to_string(grouped.join("runs/seeds/cil/pointmaze-medium-navigate/nf-gcbc/seed2/log.txt")).unwrap_or_default();
    assert!(log.contains("member ensemble"), "{log}");
}
