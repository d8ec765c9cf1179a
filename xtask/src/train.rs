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
    /// A TOML file with optional `[train]` and `[agent]` sections, or a run's own `config.toml` (same agent, task and seed) to re-run it (command-line flags win).
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
    let name = || args.config.as_ref().unwrap().display().to_string();
    // A run's own resolved `config.toml` (it has `agent_name`) is read as the typed record, so a
    // half-record is refused like any other malformed record, and its identity must be the
    // command line's: re-running a record under another seed would silently be a different run.
    let (train, agent) = if file.contains_key("agent_name") {
        let record: RunConfig = toml::Value::Table(file).try_into().with_context(|| format!("{}: not a run's config.toml", name()))?;
        for (key, recorded, given) in
            [("agent_name", record.agent_name.clone(), args.agent.clone()), ("task", record.task.clone(), args.task.clone()), ("seed", record.seed.to_string(), args.seed.to_string())]
        {
            if recorded != given {
                bail!("{}: `{key}` is {recorded:?}, but the command line gives {given:?}", name());
            }
        }
        (Some(record.train), Some(record.agent))
    } else {
        if let Some(key) = file.keys().find(|k| !matches!(k.as_str(), "train" | "agent")) {
            bail!("{}: unknown section `{key}` (expected [train] and/or [agent], or a run's whole config.toml)", name());
        }
        let train = match file.get("train") {
            None => None,
            Some(v) => Some(v.clone().try_into().with_context(|| format!("{}: [train]", name()))?),
        };
        let agent = match file.get("agent") {
            None => None,
            Some(toml::Value::Table(t)) => Some(t.clone()),
            Some(_) => bail!("{}: [agent] must be a table", name()),
        };
        (train, agent)
    };
    let mut cfg: TrainConfig = train.unwrap_or_default();
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
    let spec = RunSpec {
        agent: args.agent.clone(),
        task: args.task.clone(),
        seed: args.seed,
        train: cfg,
        agent_table: agent,
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
        Err(e) => {
            dir.record_if_diverged(e)?;
            RunStatus::Failed(format!("{e:#}"))
        }
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

    // The online mazes have no dataset: the agent collects its own data.
    let data = if task.kind == envs::TaskKind::Online {
        None
    } else {
        let outcome = envs::manifest::ensure(&spec.data, &spec.task, 0, envs::Split::Train)?;
        let data = envs::Dataset::load_npz(outcome.path())?;
        data.check_for_task(outcome.path(), &spec.task)?;
        Some(data)
    };

    let bar = if show_progress {
        let unit = if data.is_none() { "environment steps" } else { "steps" };
        println!("{} on {} (seed {}), {} {unit} → {}", spec.agent, spec.task, spec.seed, cfg.steps, out.display());
        let bar = ProgressBar::new(cfg.steps);
        bar.set_style(ProgressStyle::with_template("[{elapsed_precise}] {bar:30} {pos}/{len} ({per_sec}, eta {eta}) {msg}").unwrap());
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut show = |p: rl::Progress<'_>| {
        bar.set_position(p.step);
        if p.step.is_multiple_of(50) || p.last_eval.is_some() {
            let loss = p.metrics.first().map(|(k, v)| format!("{k} {v:.3}")).unwrap_or_default();
            let ev = p.last_eval.map(|e| format!(" | eval success {:.2}", e.success)).unwrap_or_default();
            bar.set_message(format!("{loss}{ev}"));
        }
    };
    let summary = match data {
        Some(data) => rl::train(agent.as_mut(), &task, data, cfg, out, &mut show)?,
        None => rl::train_online(agent.as_mut(), &task, cfg, out, &mut show)?,
    };
    bar.finish_and_clear();
    let latency_us = action_latency_us(agent.as_ref(), obs_dim)?;
    dir.write_final(&run_final(spec, dir, cfg.steps, &summary, latency_us, meta)?)?;
    Ok(summary)
}

/// Trains `specs` (runs that differ only in their seed and run directory) as one member
/// ensemble in this process; each member's directory ends as its solo run's would (config,
/// metrics, checkpoints, `final.toml`, `status`). One spec is a solo run.
pub fn execute_group(specs: &[RunSpec]) -> Result<()> {
    match specs {
        [] => Ok(()),
        [one] => execute(one, false).map(|_| ()),
        _ => {
            let dirs: Vec<RunDir> = specs.iter().map(|s| RunDir::new(&s.out)).collect();
            for d in &dirs {
                d.create()?;
            }
            let result = execute_group_inner(specs, &dirs);
            let failed = match &result {
                Ok(outcomes) => outcomes.iter().filter(|o| o.is_err()).count(),
                Err(_) => specs.len(),
            };
            for (e, d) in dirs.iter().enumerate() {
                let status = match &result {
                    Ok(outcomes) => match &outcomes[e] {
                        Ok(()) => RunStatus::Done,
                        Err(err) => {
                            d.record_if_diverged(err)?;
                            RunStatus::Failed(format!("{err:#}"))
                        }
                    },
                    Err(err) => RunStatus::Failed(format!("{err:#}")),
                };
                d.write_status(&status)?;
            }
            if failed > 0 {
                bail!("{failed} of {} member runs failed (see each run's `status`)", specs.len());
            }
            Ok(())
        }
    }
}

/// Whether two runs may share a member ensemble: everything but the seed and the run directory
/// equal.
pub fn compatible(a: &RunSpec, b: &RunSpec) -> bool {
    a.agent == b.agent && a.task == b.task && a.agent_table == b.agent_table && a.data == b.data && TrainConfig { seed: 0, ..a.train.clone() } == TrainConfig { seed: 0, ..b.train.clone() }
}

fn execute_group_inner(specs: &[RunSpec], dirs: &[RunDir]) -> Result<Vec<Result<()>>> {
    let first = &specs[0];
    if let Some(s) = specs.iter().find(|s| !compatible(s, first)) {
        bail!("runs {} and {} differ in more than their seed; they cannot share a member ensemble", first.out.display(), s.out.display());
    }
    for d in dirs {
        d.write_status(&RunStatus::Running)?;
    }
    let task = envs::Task::resolve(&first.task)?;
    let device = first.device.open()?;
    let cfg = crate::agents::configure(&first.agent, first.agent_table.as_ref())?;
    crate::agents::check_task(&cfg, &task)?;
    let mut fitted = first.train.clone();
    let seeds: Vec<u64> = specs.iter().map(|s| s.seed).collect();
    let Some((mut ens, mut scratch, agent_toml)) = cfg.build_members(&mut fitted, task.obs_dim, task.act_dim, &seeds, &device)? else {
        bail!("{} trains solo only (it has no member ensemble); run it with --members 1", first.agent);
    };
    let agent_table: toml::Table = agent_toml.parse().with_context(|| format!("{}: the resolved config is not a TOML table", first.agent))?;
    let mut cfgs = Vec::with_capacity(specs.len());
    for (spec, dir) in specs.iter().zip(dirs) {
        let train = TrainConfig { seed: spec.seed, ..fitted.clone() };
        let resolved = RunConfig { agent_name: spec.agent.clone(), task: spec.task.clone(), seed: spec.seed, train: train.clone(), agent: agent_table.clone() };
        if dir.has_checkpoint() && dir.read_config()?.as_ref() != Some(&resolved) {
            bail!("{} holds a run with a different config ({}); resume with the same settings, or choose another --out", spec.out.display(), dir.config_path().display());
        }
        dir.write_config(&resolved)?;
        cfgs.push(train);
    }
    let outcome = envs::manifest::ensure(&first.data, &first.task, 0, envs::Split::Train)?;
    let data = envs::Dataset::load_npz(outcome.path())?;
    data.check_for_task(outcome.path(), &first.task)?;
    let outs: Vec<std::path::PathBuf> = specs.iter().map(|s| s.out.clone()).collect();
    let results = rl::train_members(ens.as_mut(), scratch.as_mut(), &task, data, &cfgs, &outs, &mut |_| {})?;
    let meta = &task.meta;
    let mut done = Vec::with_capacity(specs.len());
    for (e, (r, (spec, dir))) in results.into_iter().zip(specs.iter().zip(dirs)).enumerate() {
        done.push(match r {
            Err(err) => Err(err.into()),
            Ok(summary) => {
                rl::train::load_member(ens.as_ref(), scratch.as_mut(), e)?;
                let latency_us = action_latency_us(scratch.as_ref(), task.obs_dim)?;
                dir.write_final(&run_final(spec, dir, fitted.steps, &summary, latency_us, meta)?)?;
                Ok(())
            }
        });
    }
    Ok(done)
}

/// What `final.toml` records of a finished run in `dir`: the final evaluation from `summary`, the
/// means over the last evaluations from the run's `metrics.csv`.
fn run_final(spec: &RunSpec, dir: &RunDir, steps: u64, summary: &rl::TrainSummary, action_latency_us: f64, meta: &envs::TaskMeta) -> Result<RunFinal> {
    let e = &summary.final_eval;
    Ok(RunFinal {
        agent: spec.agent.clone(),
        task: spec.task.clone(),
        seed: spec.seed,
        steps,
        success: e.success,
        ret: e.ret,
        best_score: summary.best_score,
        score: Some(e.score),
        score_final: Some(e.score_final),
        success_last3: dir.mean_of_last_evals("eval/success")?,
        score_final_last3: dir.mean_of_last_evals("eval/score_final")?,
        steps_per_second: summary.steps_per_second,
        action_latency_us,
        stands_in_for: meta.stands_in_for.clone(),
        tasks: e.tasks.iter().map(|t| (t.task.clone(), TaskFinal { success: t.success, ret: t.ret, score: Some(t.score), score_final: Some(t.score_final), at_goal: Some(t.at_goal) })).collect(),
        coverage: dir.last_eval("explore/coverage")?,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `final.toml`'s last-three means come from the run's `metrics.csv` (in the format `rl`
    /// writes it): the last three of five evaluations, or all of them when there are two; the
    /// final evaluation's numbers stay those of the summary.
    #[test]
    fn run_final_records_the_mean_of_the_last_three_evaluations() {
        let root = std::env::temp_dir().join(format!("nf-rl-train-last3-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let header = "step,eval/success,eval/return,eval/score,eval/score_final,eval/task1/success,eval/task1/return,train/loss,time/steps_per_s\n";
        // (step, success, score_final) per evaluation.
        let five = [(100, 0.1, 1.0), (200, 0.2, 2.0), (300, 0.5, 3.0), (400, 0.75, 4.0), (500, 1.0, 2.0)];
        for (task, rows, want) in [
            // Last three: success (0.5 + 0.75 + 1) / 3, score_final (3 + 4 + 2) / 3.
            ("pointmaze-medium-navigate", &five[..], (0.75, 3.0)),
            // Fewer than three: the mean of those there are.
            ("pusht", &five[2..4], (0.625, 3.5)),
        ] {
            let spec =
                RunSpec { agent: "nf-bc".into(), task: task.into(), seed: 0, train: TrainConfig::default(), agent_table: None, data: "data".into(), out: root.join(task), device: DeviceName::Cpu };
            let dir = RunDir::new(&spec.out);
            dir.create().unwrap();
            let mut csv = header.to_string();
            for (step, s, f) in rows {
                csv.push_str(&format!("{step},{s:.4},-1.000,{f:.4},{f:.4},{s:.4},-1.000,0.500000,10.00\n"));
            }
            std::fs::write(dir.metrics_path(), csv).unwrap();
            let &(_, s, f) = rows.last().unwrap();
            let report = rl::EvalReport { tasks: vec![], success: s, ret: -1.0, score: f, score_final: f };
            let summary = rl::TrainSummary { final_eval: report, best_score: 1.0, resumed_from: 0, steps_per_second: 10.0 };
            let t = envs::Task::resolve(task).unwrap();
            let fin = run_final(&spec, &dir, 500, &summary, 100.0, &t.meta).unwrap();
            assert_eq!((fin.success_last3, fin.score_final_last3), (Some(want.0), Some(want.1)), "{task}");
            assert_eq!((fin.success, fin.score_final), (s, Some(f)), "{task}: the final evaluation is kept");
            // Written and read back; the table number is % success or the imitation score.
            dir.write_final(&fin).unwrap();
            let back = dir.read_final().unwrap().unwrap();
            assert_eq!(back, fin);
            let table = if t.is_imitation() { want.1 } else { 100.0 * want.0 };
            assert_eq!(back.metric_last3(&t), Some(table), "{task}");
        }
        // A run without evaluations in its `metrics.csv` records none.
        let dir = RunDir::new(root.join("none"));
        dir.create().unwrap();
        assert_eq!(dir.mean_of_last_evals("eval/success").unwrap(), None);
        std::fs::write(dir.metrics_path(), header).unwrap();
        assert_eq!(dir.mean_of_last_evals("eval/success").unwrap(), None);
    }
}
