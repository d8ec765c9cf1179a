//! `cargo xtask train --agent A --task T --seed S --steps N`: one run, with a progress bar.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use rl::{DataSpec, TrainConfig};

use crate::device::DeviceName;
use crate::rundir::{RunConfig, RunDir, RunFinal, RunStatus, TaskFinal, CONFIG_FILE, FINAL_FILE};

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Agent name (`cargo xtask agents` lists them with what they run).
    #[arg(long, value_parser = crate::agents::possible_values())]
    agent: String,
    /// Task name (`cargo xtask tasks` lists them).
    #[arg(long)]
    task: String,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long)]
    steps: Option<u64>,
    #[arg(long)]
    eval_every: Option<u64>,
    #[arg(long)]
    eval_episodes: Option<usize>,
    #[arg(long)]
    batch_size: Option<usize>,
    /// A TOML file with optional `[train]` and `[agent]` sections (command-line flags win).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Where datasets live (generated there if missing).
    #[arg(long, default_value = "data")]
    data: PathBuf,
    /// The run directory (default `results/runs/TASK/AGENT/seedS`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// `cpu` or `cuda:N` (needs the `cuda` feature: `cargo run --release -p xtask --features cuda -- train …`).
    #[arg(long, default_value = "cpu")]
    device: DeviceName,
}

pub fn run(args: TrainArgs) -> Result<()> {
    let file: toml::Table = match &args.config {
        None => toml::Table::new(),
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            text.parse().with_context(|| format!("parsing {}", p.display()))?
        }
    };
    for key in file.keys() {
        if key != "train" && key != "agent" {
            bail!("{}: unknown section `{key}` (expected [train] and/or [agent])", args.config.as_ref().unwrap().display());
        }
    }
    let mut cfg: TrainConfig = match file.get("train") {
        None => TrainConfig::default(),
        Some(v) => v.clone().try_into().with_context(|| format!("{}: [train]", args.config.as_ref().unwrap().display()))?,
    };
    cfg.seed = args.seed;
    if let Some(s) = args.steps {
        cfg.steps = s;
    }
    if let Some(s) = args.eval_every {
        cfg.eval_every = s;
    }
    if let Some(s) = args.eval_episodes {
        cfg.eval_episodes = s;
    }
    if let Some(s) = args.batch_size {
        cfg.batch_size = s;
    }
    cfg.validate()?;
    let agent_table = match file.get("agent") {
        None => None,
        Some(toml::Value::Table(t)) => Some(t.clone()),
        Some(_) => bail!("[agent] must be a table"),
    };

    let spec = RunSpec {
        agent: args.agent.clone(),
        task: args.task.clone(),
        seed: args.seed,
        train: cfg,
        agent_table,
        data: args.data.clone(),
        out: args.out.clone().unwrap_or_else(|| PathBuf::from("results/runs").join(&args.task).join(&args.agent).join(format!("seed{}", args.seed))),
        device: args.device,
    };
    let summary = execute(&spec, true)?;
    if summary.resumed_from > 0 {
        println!("resumed from step {}", summary.resumed_from);
    }
    println!("final evaluation ({} episodes per task):", spec.train.eval_episodes);
    for t in &summary.final_eval.tasks {
        println!("  {:8} success {:.2}  return {:8.2}  score {:.3} (final {:.3})", t.task, t.success, t.ret, t.score, t.score_final);
    }
    println!("  {:8} success {:.2}  return {:8.2}   (best score {:.2}; {:.1} steps/s)", "mean", summary.final_eval.success, summary.final_eval.ret, summary.best_score, summary.steps_per_second);
    println!("wrote {}/{{{CONFIG_FILE},{},{},{},{FINAL_FILE}}}", spec.out.display(), rl::METRICS_FILE, rl::LAST_CHECKPOINT, rl::BEST_CHECKPOINT);
    Ok(())
}

/// One fully specified run: what `cargo xtask train` and each suite run execute.
#[derive(Clone, Debug)]
pub struct RunSpec {
    pub agent: String,
    pub task: String,
    pub seed: u64,
    pub train: TrainConfig,
    pub agent_table: Option<toml::Table>,
    pub data: PathBuf,
    pub out: PathBuf,
    /// Not part of the run's identity (a run may resume on another device).
    pub device: DeviceName,
}

/// Trains and evaluates `spec` into `spec.out`: config.toml, metrics, checkpoints, then
/// `final.toml` and `status`. A run directory with a checkpoint resumes; one whose config
/// differs is refused.
pub fn execute(spec: &RunSpec, show_progress: bool) -> Result<rl::TrainSummary> {
    let dir = RunDir::new(&spec.out);
    dir.create()?;
    let result = execute_inner(spec, &dir, show_progress);
    let status = match &result {
        Ok(_) => RunStatus::Done,
        Err(e) => RunStatus::Failed(format!("{e:#}")),
    };
    dir.write_status(&status)?;
    result
}

fn execute_inner(spec: &RunSpec, dir: &RunDir, show_progress: bool) -> Result<rl::TrainSummary> {
    let (cfg, out) = (&spec.train, &spec.out);
    dir.write_status(&RunStatus::Running)?;
    let task = envs::Task::resolve(&spec.task)?;
    let meta = &task.meta;
    let obs_dim = task.obs_dim;
    let device = spec.device.open()?;
    let (mut agent, agent_toml, fitted) = crate::agents::make_agent(&spec.agent, spec.agent_table.as_ref(), &task, spec.seed, cfg, &device)?;
    let cfg = &fitted;
    let resolved = RunConfig {
        agent_name: spec.agent.clone(),
        task: spec.task.clone(),
        seed: spec.seed,
        train: cfg.clone(),
        agent: agent_toml.parse().with_context(|| format!("{}: the resolved config is not a TOML table", spec.agent))?,
    };
    if dir.has_checkpoint() && dir.read_config()?.as_ref() != Some(&resolved) {
        bail!("{} holds a run with a different config ({}); resume with the same settings, or choose another --out", out.display(), dir.config_path().display());
    }
    dir.write_config(&resolved)?;

    let outcome = envs::manifest::ensure(&spec.data, &spec.task, 0, envs::Split::Train)?;
    let data = envs::Dataset::load_npz(outcome.path())?;
    data.check_for_task(outcome.path(), &spec.task)?;

    let bar = if show_progress {
        println!("{} on {} (seed {}), {} steps → {}", spec.agent, spec.task, spec.seed, cfg.steps, out.display());
        let bar = ProgressBar::new(cfg.steps);
        bar.set_style(ProgressStyle::with_template("[{elapsed_precise}] {bar:30} {pos}/{len} ({per_sec}, eta {eta}) {msg}").unwrap());
        bar
    } else {
        ProgressBar::hidden()
    };
    let summary = rl::train(agent.as_mut(), &task, data, cfg, out, &mut |p| {
        bar.set_position(p.step);
        if p.step % 50 == 0 || p.last_eval.is_some() {
            let loss = p.metrics.first().map(|(k, v)| format!("{k} {v:.3}")).unwrap_or_default();
            let ev = p.last_eval.map(|e| format!(" | eval success {:.2}", e.success)).unwrap_or_default();
            bar.set_message(format!("{loss}{ev}"));
        }
    })?;
    bar.finish_and_clear();
    let latency_us = action_latency_us(agent.as_ref(), obs_dim)?;
    let e = &summary.final_eval;
    dir.write_final(&RunFinal {
        agent: spec.agent.clone(),
        task: spec.task.clone(),
        seed: spec.seed,
        steps: cfg.steps,
        success: e.success,
        ret: e.ret,
        best_score: summary.best_score,
        score: Some(e.score),
        score_final: Some(e.score_final),
        steps_per_second: summary.steps_per_second,
        action_latency_us: latency_us,
        stands_in_for: meta.stands_in_for.clone(),
        tasks: e.tasks.iter().map(|t| (t.task.clone(), TaskFinal { success: t.success, ret: t.ret, score: Some(t.score), score_final: Some(t.score_final) })).collect(),
    })?;
    Ok(summary)
}

/// Median time of one batch-1 action (the real-time control path), in microseconds.
fn action_latency_us(agent: &dyn rl::Agent, obs_dim: usize) -> Result<f64> {
    use rand::SeedableRng;
    let width = match agent.data_spec() {
        DataSpec::Chunks { obs_history, .. } => obs_history * obs_dim,
        _ => obs_dim,
    };
    let obs = vec![0.1f32; width];
    let goal = vec![0.2f32; obs_dim];
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let mut times = Vec::with_capacity(21);
    for _ in 0..21 {
        let t0 = std::time::Instant::now();
        agent.act(&obs, Some(&goal), 1, &mut rng)?;
        times.push(t0.elapsed().as_secs_f64() * 1e6);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[10])
}
