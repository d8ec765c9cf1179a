//! `cargo xtask bench`: expand a suite into runs and execute them, several at a time, each in
//! its own process (a crash or a kill costs one run, and a Slurm array task runs the very same
//! `run-one` entry point). Finished runs (`final.toml` present) are skipped; killed ones resume
//! from their checkpoint. Ends with the aggregate tables.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::suite;
use crate::train::{FINAL_FILE, STATUS_FILE};

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Suite name (`benchmarks/NAME.toml`) or path.
    #[arg(long, default_value = "quick")]
    pub suite: String,
    /// Runs at a time (CPU).
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// `cpu` (the CUDA device list arrives with the runner's CUDA support).
    #[arg(long, default_value = "cpu")]
    pub devices: String,
    /// `local` (Slurm arrives with the runner issue's Slurm launcher).
    #[arg(long, default_value = "local")]
    pub launcher: String,
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    #[arg(long, default_value = "data")]
    pub data: PathBuf,
    /// Check the suite and list its runs without running anything.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Args, Debug)]
pub struct RunOneArgs {
    #[arg(long)]
    pub suite: String,
    #[arg(long)]
    pub index: usize,
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    #[arg(long, default_value = "data")]
    pub data: PathBuf,
}

/// Executes run `index` of a suite (what each worker process, or Slurm array task, does).
pub fn run_one(args: RunOneArgs) -> Result<()> {
    let s = suite::load(&suite::resolve(&args.suite), &args.results, &args.data)?;
    let run = s.runs.get(args.index).with_context(|| format!("suite {} has {} runs; no index {}", s.name, s.runs.len(), args.index))?;
    crate::train::execute(&run.spec, false)?;
    Ok(())
}

fn done(out: &Path) -> bool {
    out.join(FINAL_FILE).exists()
}

pub fn run(args: BenchArgs) -> Result<()> {
    if args.devices != "cpu" {
        bail!("--devices {}: only `cpu` is supported so far (CUDA spreading is still to come; the `cuda` feature itself works, see README)", args.devices);
    }
    if args.launcher != "local" {
        bail!("--launcher {}: only `local` is supported so far (the Slurm launcher is still to come)", args.launcher);
    }
    let path = suite::resolve(&args.suite);
    let s = suite::load(&path, &args.results, &args.data)?;
    println!("suite {} ({}): {} runs, {} at a time", s.name, path.display(), s.runs.len(), args.jobs.max(1));
    if !s.description.is_empty() {
        println!("{}", s.description.trim());
    }
    if args.dry_run {
        for (i, r) in s.runs.iter().enumerate() {
            let state = if done(&r.spec.out) { "done" } else { "to run" };
            println!("{i:5} {:16} {:48} {:8} seed {} ({} steps) {state}", r.setting, r.spec.task, r.spec.agent, r.spec.seed, r.spec.train.steps);
        }
        return Ok(());
    }
    // Datasets first, in this process: workers then only read them (no manifest races).
    let mut tasks: Vec<&str> = s.runs.iter().map(|r| r.spec.task.as_str()).collect();
    tasks.sort();
    tasks.dedup();
    for t in tasks {
        let o = envs::manifest::ensure(&args.data, t, 0, envs::Split::Train)?;
        if o.generated() {
            println!("generated {}", o.path().display());
        }
    }
    let pending: Vec<usize> = (0..s.runs.len()).filter(|&i| !done(&s.runs[i].spec.out)).collect();
    let skipped = s.runs.len() - pending.len();
    if skipped > 0 {
        println!("{skipped} runs already finished: skipped");
    }
    let exe = std::env::current_exe().context("locating the xtask binary")?;
    let threads = (std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) / args.jobs.max(1)).max(1);
    let bar = ProgressBar::new(pending.len() as u64);
    bar.set_style(ProgressStyle::with_template("[{elapsed_precise}] {bar:30} {pos}/{len} runs (eta {eta}) {msg}").unwrap());
    let mut queue = pending.into_iter();
    let mut running: Vec<(usize, Child)> = Vec::new();
    let mut failed: Vec<(usize, String)> = Vec::new();
    loop {
        while running.len() < args.jobs.max(1) {
            let Some(i) = queue.next() else { break };
            let out = &s.runs[i].spec.out;
            std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
            let log = std::fs::File::create(out.join("log.txt")).with_context(|| format!("creating {}/log.txt", out.display()))?;
            let child = Command::new(&exe)
                .args(["run-one", "--suite"])
                .arg(&path)
                .arg("--index")
                .arg(i.to_string())
                .arg("--results")
                .arg(&args.results)
                .arg("--data")
                .arg(&args.data)
                .env("RAYON_NUM_THREADS", std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| threads.to_string()))
                .stdout(Stdio::from(log.try_clone()?))
                .stderr(Stdio::from(log))
                .spawn()
                .context("starting a run process")?;
            running.push((i, child));
        }
        if running.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
        let mut k = 0;
        while k < running.len() {
            if let Some(status) = running[k].1.try_wait()? {
                let (i, _) = running.remove(k);
                let out = &s.runs[i].spec.out;
                if !status.success() || !done(out) {
                    let recorded = std::fs::read_to_string(out.join(STATUS_FILE)).unwrap_or_default();
                    let why = if recorded.starts_with("failed") { recorded.trim().to_string() } else { format!("failed: process exited with {status}; see {}/log.txt", out.display()) };
                    crate::train::write_atomic(&out.join(STATUS_FILE), &format!("{why}\n"))?;
                    bar.println(format!("FAILED {} {} seed{}: {why}", s.runs[i].spec.agent, s.runs[i].spec.task, s.runs[i].spec.seed));
                    failed.push((i, why));
                }
                bar.inc(1);
            } else {
                k += 1;
            }
        }
        let names: Vec<String> = running.iter().map(|(i, _)| format!("{}/{}", s.runs[*i].spec.agent, s.runs[*i].spec.task)).collect();
        bar.set_message(format!("running {} | failed {} | {}", running.len(), failed.len(), names.join(", ")));
    }
    bar.finish_and_clear();
    println!("{} runs finished, {} failed, {} skipped", s.runs.len() - failed.len() - skipped, failed.len(), skipped);
    let report = crate::aggregate::aggregate(&s, &args.results)?;
    println!("{report}");
    if !failed.is_empty() {
        bail!("{} runs failed (their errors are in each run's `status` file)", failed.len());
    }
    Ok(())
}
