//! The project's task runner: `cargo xtask <task>` (an alias in `.cargo/config.toml`).
//! It is the only place that knows about devices, jobs and (later) Slurm. `bench`, `train` and
//! `aggregate` arrive with their issues.

mod agents;
mod aggregate;
mod bench;
mod device;
mod latency;
mod paint;
mod perf;
mod plan;
mod rundir;
mod show;
mod suite;
mod train;

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(about = "nf-rl developer tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

/// The benchmark groups of `cargo xtask perf --crate`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum PerfCrate {
    /// Every group below.
    All,
    /// The flow: training step, sampling, log-density.
    NfCore,
    /// Env stepping and dataset generation.
    Envs,
    /// Every registered agent's gradient step and batch-1 action.
    Agents,
}

#[derive(Subcommand)]
enum Task {
    /// Run the criterion benchmarks (flow training step and sampling, env stepping, dataset
    /// generation); extra args go to criterion.
    Perf {
        /// Which benchmarks.
        #[arg(long = "crate", value_enum, default_value_t = PerfCrate::All)]
        crate_: PerfCrate,
        /// Instead: the gradient steps of NF-GCBC, NF-RLBC and GCBC at the paper's sizes and the
        /// quick suite's NF-GCBC, beside the same models in JAX (`scripts/jax_reference.py`, run
        /// when `python3 -c 'import jax'` works), as one Markdown table.
        #[arg(long, conflicts_with = "crate_")]
        compare: bool,
        #[arg(trailing_var_arg = true)]
        args: Vec<String>,
    },
    /// Generate the offline datasets that are missing or stale (train and `-val` splits) and
    /// record them in DIR/manifest.toml; files whose checksum matches are skipped.
    Datasets {
        /// Base task names (default: every task with a dataset). `…-singletask-taskN` names map to
        /// their base task's dataset.
        #[arg(long = "task", num_args = 1..)]
        tasks: Vec<String>,
        #[arg(long, default_value = "data")]
        out: PathBuf,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Draw a task from above: the maze, its 5 evaluation start/goal pairs and dataset
    /// trajectories, or a puzzle's task grids.
    #[allow(clippy::enum_variant_names)] // clap names the subcommand `show-task` after it
    ShowTask {
        name: String,
        #[arg(long)]
        out: PathBuf,
        /// How many dataset trajectories to draw (mazes).
        #[arg(long, default_value_t = 50)]
        trajectories: usize,
        /// Instead of the task picture, draw dataset episode DEMO as the expert played it: an
        /// animation if --out ends in .gif, else a strip of frames.
        #[arg(long, value_name = "DEMO")]
        rollout: Option<usize>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// List every registered task and what it stands in for.
    Tasks,
    /// Print the agent registry as the README's Markdown table: each agent, the task kinds it
    /// runs, the agents its wins are counted against, and its source file.
    Agents,
    /// Run a suite (`benchmarks/NAME.toml`): every (setting, task, agent, seed), skipping
    /// finished runs and resuming killed ones, then write the tables and plots.
    Bench(bench::BenchArgs),
    /// Write a suite's tables (`results/tables`) and plots (`results/plots`) from its runs.
    Aggregate {
        #[arg(long, default_value = "quick")]
        suite: String,
        #[arg(long, default_value = "results")]
        results: PathBuf,
    },
    /// Execute one run of a suite (what `bench` starts per run; also a Slurm array task).
    #[command(hide = true)]
    RunOne(bench::RunOneArgs),
    /// Time a suite's agents and environments (what `bench --dry-run` starts for its estimate).
    #[command(hide = true)]
    Probe(plan::ProbeArgs),
    /// Time each imitation policy's action at batch 1 (one `act` call and per environment
    /// step) with its parameter count, from a suite's configs (default: the paper's on pusht).
    Latency(latency::LatencyArgs),
    /// Train one (agent, task, seed): metrics.csv (one row per evaluation), last/best
    /// checkpoints and the resolved config.toml in the run directory; a killed run resumes.
    Train(train::TrainArgs),
}

fn main() -> Result<()> {
    match Cli::parse().task {
        Task::Perf { crate_, compare, args } => {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            if compare {
                return perf::compare(&cargo, &args);
            }
            let crates: &[&str] = match crate_ {
                PerfCrate::All => &["nf-core", "envs", "xtask"],
                PerfCrate::NfCore => &["nf-core"],
                PerfCrate::Envs => &["envs"],
                PerfCrate::Agents => &["xtask"],
            };
            for c in crates {
                let status = Command::new(&cargo).args(["bench", "-p", c, "--"]).args(&args).status().context("running cargo bench")?;
                if !status.success() {
                    bail!("cargo bench -p {c} failed ({status})");
                }
            }
            Ok(())
        }
        Task::Datasets { tasks, out, seed } => datasets(tasks, out, seed),
        Task::ShowTask { name, out, trajectories, rollout, seed } => {
            match rollout {
                Some(demo) => show::show_rollout(&name, demo, &out, seed)?,
                None => show::show_task(&name, &out, trajectories, seed)?,
            }
            println!("wrote {}", out.display());
            Ok(())
        }
        Task::Train(args) => train::run(args),
        Task::Latency(args) => latency::run(args),
        Task::Bench(args) => {
            plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, dejavu::sans::regular()).map_err(|_| anyhow::anyhow!("registering the DejaVu font"))?;
            bench::run(args)
        }
        Task::RunOne(args) => bench::run_one(args),
        Task::Probe(args) => plan::probe(args),
        Task::Aggregate { suite, results } => {
            plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, dejavu::sans::regular()).map_err(|_| anyhow::anyhow!("registering the DejaVu font"))?;
            let s = suite::load(&suite::resolve(&suite), &results, std::path::Path::new("data"))?;
            println!("{}", aggregate::aggregate(&s, &results)?);
            Ok(())
        }
        Task::Agents => {
            print!("{}", agents::markdown_table()?);
            Ok(())
        }
        Task::Tasks => {
            for name in envs::task_names() {
                let m = envs::meta(&name)?;
                println!("{name:48} {}", m.stands_in_for);
            }
            Ok(())
        }
    }
}

fn datasets(tasks: Vec<String>, out: PathBuf, seed: u64) -> Result<()> {
    let mut bases: Vec<String> = Vec::new();
    let wanted = if tasks.is_empty() { envs::base_tasks() } else { tasks };
    for t in &wanted {
        let m = envs::meta(t)?;
        let base = m.dataset.with_context(|| format!("{t} has no offline dataset (online tasks collect their own data)"))?;
        if !bases.contains(&base) {
            bases.push(base);
        }
    }
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let jobs: Vec<(String, envs::Split)> = bases.iter().flat_map(|b| [(b.clone(), envs::Split::Train), (b.clone(), envs::Split::Val)]).collect();
    let bar = ProgressBar::new(jobs.len() as u64);
    bar.set_style(ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}").unwrap());
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    let (mut made, mut kept) = (0, 0);
    for (base, split) in jobs {
        bar.set_message(format!("{base}{}", split.suffix()));
        let t0 = Instant::now();
        let outcome = envs::manifest::ensure(&out, &base, seed, split)?;
        match &outcome {
            envs::manifest::EnsureOutcome::Generated { path, reason } => {
                made += 1;
                let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
                bar.println(format!("generated {} ({reason}; {:.1} MB in {:.2} s)", path.display(), size as f64 / 1e6, t0.elapsed().as_secs_f64()));
            }
            envs::manifest::EnsureOutcome::UpToDate { path } => {
                kept += 1;
                bar.println(format!("up to date {}", path.display()));
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    println!("{made} generated, {kept} up to date, in {} (manifest: {})", out.display(), out.join(envs::manifest::MANIFEST_FILE).display());
    Ok(())
}
