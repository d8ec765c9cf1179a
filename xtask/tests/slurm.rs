//! `--launcher slurm` against a real one-node cluster (`scripts/slurm-local.sh start`; `.ci/run`
//! starts one): an array of tiny runs completes through `sbatch`, and aggregates; with
//! `--members 2` each array task trains a member ensemble with the solo runs' results.

use std::process::Command;

#[test]
fn a_slurm_array_of_tiny_runs_completes_and_aggregates() {
    let up = Command::new("sinfo").args(["-h", "-o", "%t"]).output().map(|o| o.status.success() && !o.stdout.is_empty()).unwrap_or(false);
    if !up {
        if std::env::var_os("CI").is_some() {
            panic!("CI is set but no Slurm cluster answers `sinfo`: `.ci/run` must start scripts/slurm-local.sh");
        }
        eprintln!("SKIPPED a_slurm_array_of_tiny_runs_completes_and_aggregates: no Slurm cluster (run `sudo scripts/slurm-local.sh start`)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("nf-rl-slurm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let suite = dir.join("tiny.toml");
    std::fs::write(&suite, "[suite]\nseeds = [0, 1]\neval_episodes = 2\nbatch_size = 32\n\n[[experiment]]\nsetting = \"cil\"\ntasks = [\"pointmaze-medium-navigate\"]\nagents = [\"gcbc\", \"fm-gcbc\"]\nsteps = 100\neval_every = 50\n[experiment.agent.gcbc]\nhidden = [32]\n[experiment.agent.fm-gcbc]\nhidden = [32]\n").unwrap();
    let data = dir.join("data");
    let bench = |results: &std::path::Path, extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["bench", "--launcher", "slurm", "--wait", "--jobs", "2", "--suite"])
            .arg(&suite)
            .arg("--results")
            .arg(results)
            .arg("--data")
            .arg(&data)
            .args(extra)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{text}");
        text
    };
    let results = dir.join("results");
    let text = bench(&results, &[]);
    assert!(text.contains("submitted Slurm job"), "{text}");
    for agent in ["gcbc", "fm-gcbc"] {
        for seed in [0, 1] {
            let run = results.join(format!("runs/tiny/cil/pointmaze-medium-navigate/{agent}/seed{seed}"));
            assert!(run.join("final.toml").exists(), "{agent} seed {seed} has no result: {text}");
        }
    }
    let md = std::fs::read_to_string(results.join("tables/tiny-cil.md")).unwrap();
    assert!(md.contains("| pointmaze-medium-navigate |") && !md.contains("Missing runs"), "{md}");
    let sbatch = |results: &std::path::Path| std::fs::read_to_string(std::fs::read_dir(results.join("slurm")).unwrap().next().unwrap().unwrap().path().join("array.sbatch")).unwrap();
    let script = sbatch(&results);
    assert!(script.contains("#SBATCH --array=0-3%2") && script.contains("run-one"), "{script}");

    // `--members 2`: each agent's two seeds are one array task (a member ensemble), and every
    // run ends as it did solo, metrics row for row.
    let grouped = dir.join("grouped");
    let text = bench(&grouped, &["--members", "2"]);
    let script = sbatch(&grouped);
    assert!(script.contains("#SBATCH --array=0-1%2") && script.contains("0,1") && script.contains("2,3"), "{script}\n{text}");
    for agent in ["gcbc", "fm-gcbc"] {
        for seed in [0, 1] {
            let run = format!("runs/tiny/cil/pointmaze-medium-navigate/{agent}/seed{seed}");
            // Every column but the last (wall-clock steps per second).
            let metrics = |r: &std::path::Path| -> Vec<String> {
                let csv = std::fs::read_to_string(r.join(&run).join("metrics.csv")).unwrap_or_else(|e| panic!("{run}: {e}\n{text}"));
                csv.lines().map(|l| l.rsplit_once(',').unwrap().0.to_string()).collect()
            };
            assert_eq!(metrics(&grouped), metrics(&results), "{run}: the ensemble member differs from its solo run");
        }
    }
}
