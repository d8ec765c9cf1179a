//! The runner end to end, through the real binary: a suite runs, a killed run resumes from its
//! checkpoint, finished runs are skipped, a failing run is recorded while the others go on.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn xtask() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_xtask"));
    c.env("RAYON_NUM_THREADS", "1");
    c
}

fn root(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nf-rl-bench-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
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
}
