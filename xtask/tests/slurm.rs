//! `--launcher slurm` against a real one-node cluster (`scripts/slurm-local.sh start`; `.ci/run`
//! starts one): an array of tiny runs completes through `sbatch`, and aggregates.

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
    let (results, data) = (dir.join("results"), dir.join("data"));
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["bench", "--launcher", "slurm", "--wait", "--jobs", "2", "--suite"])
        .arg(&suite)
        .arg("--results")
        .arg(&results)
        .arg("--data")
        .arg(&data)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("submitted Slurm job"), "{text}");
    for agent in ["gcbc", "fm-gcbc"] {
        for seed in [0, 1] {
            let run = results.join(format!("runs/tiny/cil/pointmaze-medium-navigate/{agent}/seed{seed}"));
            assert!(run.join("final.toml").exists(), "{agent} seed {seed} has no result: {text}");
        }
    }
    let md = std::fs::read_to_string(results.join("tables/tiny-cil.md")).unwrap();
    assert!(md.contains("| pointmaze-medium-navigate |") && !md.contains("Missing runs"), "{md}");
    let sbatch = std::fs::read_dir(results.join("slurm")).unwrap().next().unwrap().unwrap().path().join("array.sbatch");
    let script = std::fs::read_to_string(sbatch).unwrap();
    assert!(script.contains("#SBATCH --array=0-3%2") && script.contains("run-one"), "{script}");
}
