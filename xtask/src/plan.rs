//! The budget planner: `bench --dry-run`'s estimate of a suite's wall time on this machine.
//!
//! A run costs its gradient steps plus its evaluations. Both are measured, not modelled: each
//! distinct agent configuration is built as the runner builds it ([`crate::agents::make_agent`])
//! and timed for a few `update` calls on a synthetic batch of the run's shapes and for `act` at the
//! batch the evaluation uses (all of a task's episodes at once, as [`rl::evaluate`] steps them);
//! each task's environments are timed for a few vectorised steps. The probes run in a child
//! process with the thread count the runs get, so they see what a run sees; their results are
//! shared by every run with the same key, so a 1,030-run suite probes each combination once.
//! Runs the runner groups into a member ensemble ([`crate::bench::group_runs`]) are priced as
//! the ensemble: its gradient step is timed with the group's member count and shared by them.
//!
//! Online runs (the unsupervised-GCRL setting) cost their SGD steps and their collection (see
//! [`online_train_s`]).
//!
//! Not counted: dataset generation and loading, batch sampling, process start. Evaluations count
//! every episode to its step limit, as if none succeeded early: an upper bound.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use envs::Task;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rl::DataSpec;

use crate::device::DeviceName;
use crate::rundir::RunDir;
use crate::suite::{self, Suite, SuiteRun};

/// Warm-up calls before a timing (first-call allocations, lazy snapshots).
const WARMUP: usize = 2;
/// A timing takes at least this many calls and at least [`MIN_TIME`], at most [`MAX_CALLS`].
const MIN_CALLS: usize = 3;
const MAX_CALLS: usize = 200;
const MIN_TIME: Duration = Duration::from_millis(250);

/// The hidden `probe` subcommand: times the agents of runs `agents` and the environments of
/// runs `envs` of a suite, one line per probe on stdout (what [`estimate`] starts and reads).
#[derive(Args, Debug)]
pub struct ProbeArgs {
    #[arg(long)]
    suite: String,
    #[arg(long, default_value = "results")]
    results: std::path::PathBuf,
    #[arg(long, default_value = "data")]
    data: std::path::PathBuf,
    #[arg(long, default_value = "cpu")]
    device: DeviceName,
    /// Run indices whose agent to time, each as `i` (solo) or `i:E` (an ensemble of E members).
    #[arg(long, value_delimiter = ',')]
    agents: Vec<String>,
    /// Run indices whose task environments to time.
    #[arg(long, value_delimiter = ',')]
    envs: Vec<usize>,
}

/// Mean seconds per call of `f`, after [`WARMUP`] calls.
fn time_calls(mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    for _ in 0..WARMUP {
        f()?;
    }
    let t0 = Instant::now();
    let mut calls = 0;
    while calls < MIN_CALLS || (t0.elapsed() < MIN_TIME && calls < MAX_CALLS) {
        f()?;
        calls += 1;
    }
    Ok(t0.elapsed().as_secs_f64() / calls as f64)
}

/// What one agent probe measured, and the budget the agent fitted the run to (`random` turns
/// any budget into a single evaluation).
#[derive(Clone, Copy, Debug, PartialEq)]
struct AgentProbe {
    step_s: f64,
    /// One `act` call at the evaluation's batch (its episodes).
    act_s: f64,
    steps: u64,
    eval_every: u64,
}

/// `members > 1` times the ensemble of that many members (as [`crate::train`] builds it for a
/// group) and reports its step divided among them: a member-step.
fn probe_agent(run: &SuiteRun, members: usize, device: &candle_core::Device) -> Result<AgentProbe> {
    let spec = &run.spec;
    let task = Task::resolve(&spec.task)?;
    let (mut agent, _, fitted) = crate::agents::make_agent(&spec.agent, spec.agent_table.as_ref(), &task, spec.seed, &spec.train, device)?;
    let data_spec = agent.data_spec();
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let batch = rl::synthetic_batch(fitted.batch_size, task.obs_dim, task.act_dim, &data_spec, &mut rng);
    let what = || format!("probing {}'s gradient step on {}", spec.agent, spec.task);
    let step_s = if members > 1 {
        let seeds: Vec<u64> = (0..members as u64).map(|e| spec.seed + e).collect();
        let mut train = spec.train.clone();
        let cfg = crate::agents::configure(&spec.agent, spec.agent_table.as_ref())?;
        let Some((mut ens, _, _)) = cfg.build_members(&mut train, task.obs_dim, task.act_dim, &seeds, device)? else {
            bail!("{} has no member ensemble, yet the runner grouped it", spec.agent);
        };
        let batches: Vec<envs::loader::Batch> = (0..members).map(|_| rl::synthetic_batch(train.batch_size, task.obs_dim, task.act_dim, &data_spec, &mut rng)).collect();
        let mut rngs: Vec<ChaCha8Rng> = seeds.iter().map(|&s| ChaCha8Rng::seed_from_u64(s)).collect();
        let live = vec![true; members];
        time_calls(|| {
            for m in ens.update(&batches, &mut rngs, &live).with_context(what)?.into_iter().flatten() {
                m.with_context(what)?;
            }
            Ok(())
        })? / members as f64
    } else {
        time_calls(|| agent.update(&batch, &mut rng).map(drop).with_context(what))?
    };
    let episodes = fitted.eval_episodes;
    let width = match data_spec {
        DataSpec::Chunks { obs_history, .. } => obs_history.max(1) * task.obs_dim,
        _ => task.obs_dim,
    };
    let obs: Vec<f32> = (0..episodes * width).map(|_| rng.random_range(-1.0..1.0)).collect();
    let goals: Option<Vec<f32>> = data_spec.is_goal_conditioned().then(|| (0..episodes * task.obs_dim).map(|_| rng.random_range(-1.0..1.0)).collect());
    let act_s = time_calls(|| agent.act(&obs, goals.as_deref(), episodes, &mut rng).map(drop).with_context(|| format!("probing {}'s action on {}", spec.agent, spec.task)))?;
    Ok(AgentProbe { step_s, act_s, steps: fitted.steps, eval_every: fitted.eval_every })
}

/// Seconds per step of a [`envs::vec_env::VecEnv`] of `episodes` copies of `task`, under random
/// actions (the evaluation's environment work per policy step).
fn probe_env(task: &Task, episodes: usize) -> Result<f64> {
    let env = task.make()?;
    let mut venv = envs::vec_env::VecEnv::from_env(env.as_ref(), episodes);
    let k = task.meta.singletask.unwrap_or(1);
    let seeds: Vec<u64> = (0..episodes as u64).collect();
    venv.reset(&seeds, Some(k))?;
    let spec = env.action_spec().clone();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let active = vec![true; episodes];
    let mut steps = 0;
    time_calls(|| {
        // An episode that ends is reset, so every timed step steps all environments.
        if steps % task.max_episode_steps.max(1) == 0 {
            venv.reset(&seeds, Some(k))?;
        }
        steps += 1;
        let mut actions: Vec<f32> = (0..episodes * task.act_dim).map(|_| rng.random_range(-1.0..1.0)).collect();
        for row in actions.chunks_mut(task.act_dim) {
            spec.clip(row);
        }
        venv.step(&actions, &active)?;
        Ok(())
    })
}

/// Executes the probes of a [`ProbeArgs`] (the child process [`estimate`] starts).
pub fn probe(args: ProbeArgs) -> Result<()> {
    let s = suite::load(&suite::resolve(&args.suite), &args.results, &args.data)?;
    let device = args.device.open()?;
    let run = |i: usize| s.runs.get(i).with_context(|| format!("suite {} has {} runs; no index {i}", s.name, s.runs.len()));
    for a in &args.agents {
        let (i, members) = match a.split_once(':') {
            Some((i, e)) => (i, e),
            None => (a.as_str(), "1"),
        };
        let bad = || format!("--agents takes `i` or `i:E` (run index, member count), not `{a}`");
        let (i, members): (usize, usize) = (i.parse().with_context(bad)?, members.parse().with_context(bad)?);
        let p = probe_agent(run(i)?, members.max(1), &device)?;
        println!("agent {i}:{members} {:e} {:e} {} {}", p.step_s, p.act_s, p.steps, p.eval_every);
    }
    for &i in &args.envs {
        let r = run(i)?;
        let task = Task::resolve(&r.spec.task)?;
        println!("env {i} {:e}", probe_env(&task, r.spec.train.eval_episodes)?);
    }
    Ok(())
}

/// Runs that share this key share a probe. The resolved config is a function of the agent, its
/// table and the run budget, so the key holds those (the seed aside) and the task's dimensions.
/// Floating-point settings (learning rates, discounts, α, γ, τ, noise scales) change the numbers a
/// step computes, not its work, so runs that differ only in them share a probe: the paper suite's
/// per-task α and γ would otherwise multiply its probes by five.
fn agent_key(run: &SuiteRun, task: &Task) -> String {
    fn shape(v: &toml::Value) -> Option<toml::Value> {
        match v {
            toml::Value::Float(_) => None,
            toml::Value::Table(t) => Some(toml::Value::Table(t.iter().filter_map(|(k, v)| shape(v).map(|v| (k.clone(), v))).collect())),
            toml::Value::Array(a) => Some(toml::Value::Array(a.iter().filter_map(shape).collect())),
            other => Some(other.clone()),
        }
    }
    let table = run.spec.agent_table.as_ref().map(|t| shape(&toml::Value::Table(t.clone())).map(|v| v.to_string()).unwrap_or_default()).unwrap_or_default();
    let t = &run.spec.train;
    format!("{}|{table}|{}x{}|{} steps/{} eval/{} episodes/{} batch", run.spec.agent, task.obs_dim, task.act_dim, t.steps, t.eval_every, t.eval_episodes, t.batch_size)
}

/// Environments of one dataset step alike (a singletask variant is its base task with a fixed
/// goal), so they share an environment probe.
fn env_key(run: &SuiteRun, task: &Task) -> String {
    format!("{}|{}", task.meta.dataset.clone().unwrap_or_else(|| task.name().to_string()), run.spec.train.eval_episodes)
}

/// How many evaluations a run that resumes at step `start` still does: one at every multiple of
/// `eval_every` after `start` and one at the last step (as [`rl::train`] does), or a single one
/// when it resumes at its last step.
fn evaluations(start: u64, steps: u64, eval_every: u64) -> u64 {
    if start >= steps {
        return 1;
    }
    let ev = eval_every.max(1);
    steps / ev - start / ev + u64::from(!steps.is_multiple_of(ev))
}

/// One evaluation's policy calls and environment steps: every evaluation task's episodes run in
/// lock-step to the step limit; a chunked agent acts once per `execute` steps.
fn evaluation_calls(data_spec: &DataSpec, eval_tasks: u64, max_steps: u64) -> (u64, u64) {
    let per_act = match data_spec {
        DataSpec::Chunks { action_chunk, execute, .. } => (*execute).clamp(1, (*action_chunk).max(1)) as u64,
        _ => 1,
    };
    (eval_tasks * max_steps.div_ceil(per_act), eval_tasks * max_steps)
}

/// An online run's training time from environment step `start`: its SGD steps (`updates` after
/// each unroll past the prefill) at the probed step time, and its collection, every environment
/// acting and stepping once per step, priced from the evaluation-batch probes scaled by rows
/// (`envs` / `eval_episodes`). Not counted: the agents' goal choice before each unroll.
fn online_train_s(o: &rl::OnlineConfig, start: u64, a: &AgentProbe, env_s: f64, eval_episodes: usize) -> f64 {
    let per_unroll = (o.envs * o.unroll) as u64;
    let (from, to) = (start / per_unroll, a.steps.div_ceil(per_unroll));
    let prefill = o.prefill.div_ceil(o.unroll) as u64;
    let sgd = (to.saturating_sub(from.max(prefill))) * o.updates as u64;
    let rows = o.envs as f64 / eval_episodes.max(1) as f64;
    let collect = (to.saturating_sub(from) * o.unroll as u64) as f64 * rows * (a.act_s + env_s);
    sgd as f64 * a.step_s + collect
}

/// The step a pending run resumes from: its last evaluation, which its last checkpoint holds.
fn resume_step(run: &SuiteRun) -> Result<u64> {
    let dir = RunDir::new(&run.spec.out);
    if !dir.has_checkpoint() {
        return Ok(0);
    }
    let m = rl::train::MetricsCsv::read(dir.metrics_path()).with_context(|| format!("reading {}", dir.metrics_path().display()))?;
    Ok(m.rows().last().and_then(|r| r.get(0)).and_then(|s| s.parse().ok()).unwrap_or(0))
}

/// `42.0 s`, `3.5 min`, `2.1 h`, `4.2 d`.
fn human(secs: f64) -> String {
    match secs {
        s if s < 120.0 => format!("{s:.1} s"),
        s if s < 7200.0 => format!("{:.1} min", s / 60.0),
        s if s < 172_800.0 => format!("{:.1} h", s / 3600.0),
        s => format!("{:.1} d", s / 86_400.0),
    }
}

/// Where the suite file, its results and its datasets are (what the probe process is given).
#[derive(Clone, Copy)]
pub struct Files<'a> {
    pub suite: &'a Path,
    pub results: &'a Path,
    pub data: &'a Path,
}

/// One pending run's estimated cost.
struct RunCost<'a> {
    setting: &'a str,
    agent: &'a str,
    train_s: f64,
    eval_s: f64,
}

/// Probes the suite's distinct configurations on `device` (in a child process with
/// `RAYON_NUM_THREADS = threads`, as each run gets) and returns the estimate as text: per
/// experiment and agent, and in total, with the pending runs shared evenly by `at_once` slots
/// (`None`: Slurm decides, so only the run time is given).
/// `groups` are the processes the runner would start ([`crate::bench::group_runs`]): a run in a
/// group of E is priced at the ensemble's step over E.
/// `pending`: the runs to price (the unfinished ones of the chosen `--part`); the others count zero.
pub fn estimate(s: &Suite, files: Files<'_>, device: DeviceName, at_once: Option<usize>, threads: &str, pending: &[usize], groups: &[Vec<usize>]) -> Result<String> {
    let Files { suite: suite_path, results, data } = files;
    let members: HashMap<usize, usize> = groups.iter().flat_map(|g| g.iter().map(move |&i| (i, g.len()))).collect();
    let of = |i: usize| members.get(&i).copied().unwrap_or(1);
    let mut tasks: HashMap<&str, (Task, u64)> = HashMap::new();
    for r in &s.runs {
        if !tasks.contains_key(r.spec.task.as_str()) {
            let task = Task::resolve(&r.spec.task)?;
            let eval_tasks = if task.meta.singletask.is_some() { 1 } else { task.make()?.tasks().len() as u64 };
            tasks.insert(&r.spec.task, (task, eval_tasks));
        }
    }
    // The first pending run of each key (and group size) stands for the others.
    let (mut agent_of, mut env_of) = (BTreeMap::<(String, usize), usize>::new(), BTreeMap::<String, usize>::new());
    for &i in pending {
        let r = &s.runs[i];
        let task = &tasks[r.spec.task.as_str()].0;
        agent_of.entry((agent_key(r, task), of(i))).or_insert(i);
        env_of.entry(env_key(r, task)).or_insert(i);
    }
    let agent_list = agent_of.iter().map(|((_, e), i)| format!("{i}:{e}")).collect::<Vec<_>>().join(",");
    let env_list = env_of.values().map(|i| i.to_string()).collect::<Vec<_>>().join(",");
    let t0 = Instant::now();
    let (mut agent_probes, mut env_probes) = (HashMap::<(usize, usize), AgentProbe>::new(), HashMap::<usize, f64>::new());
    if !pending.is_empty() {
        let exe = std::env::current_exe().context("locating the xtask binary")?;
        let out = Command::new(exe)
            .arg("probe")
            .arg("--suite")
            .arg(suite_path)
            .arg("--results")
            .arg(results)
            .arg("--data")
            .arg(data)
            .arg("--device")
            .arg(device.to_string())
            .arg(format!("--agents={agent_list}"))
            .arg(format!("--envs={env_list}"))
            .env("RAYON_NUM_THREADS", threads)
            .output()
            .context("starting the probe process")?;
        if !out.status.success() {
            bail!("the probe process failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim());
        }
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let w: Vec<&str> = line.split_whitespace().collect();
            let bad = || anyhow::anyhow!("unexpected probe output `{line}`");
            let num = |k: usize| -> Result<f64> { w.get(k).and_then(|v| v.parse().ok()).ok_or_else(bad) };
            match w.first() {
                Some(&"agent") => {
                    let (i, e) = w.get(1).and_then(|v| v.split_once(':')).ok_or_else(bad)?;
                    let idx = (i.parse::<usize>().map_err(|_| bad())?, e.parse::<usize>().map_err(|_| bad())?);
                    agent_probes.insert(idx, AgentProbe { step_s: num(2)?, act_s: num(3)?, steps: num(4)? as u64, eval_every: num(5)? as u64 });
                }
                Some(&"env") => {
                    let idx = w.get(1).and_then(|v| v.parse::<usize>().ok()).ok_or_else(bad)?;
                    env_probes.insert(idx, num(2)?);
                }
                _ => return Err(bad()),
            }
        }
    }
    let probe_s = t0.elapsed().as_secs_f64();
    let mut costs = Vec::with_capacity(pending.len());
    for &i in pending {
        let r = &s.runs[i];
        let (task, eval_tasks) = &tasks[r.spec.task.as_str()];
        let a = agent_probes.get(&(agent_of[&(agent_key(r, task), of(i))], of(i))).with_context(|| format!("no agent probe for run {i}"))?;
        let env_s = env_probes.get(&env_of[&env_key(r, task)]).with_context(|| format!("no environment probe for run {i}"))?;
        let start = resume_step(r)?.min(a.steps);
        let data_spec = crate::agents::configure(&r.spec.agent, r.spec.agent_table.as_ref())?.data_spec();
        let (acts, env_steps) = evaluation_calls(&data_spec, *eval_tasks, task.max_episode_steps as u64);
        let evals = evaluations(start, a.steps, a.eval_every) as f64;
        let train_s = match &data_spec {
            DataSpec::Online(o) => online_train_s(o, start, a, *env_s, r.spec.train.eval_episodes),
            _ => (a.steps - start) as f64 * a.step_s,
        };
        costs.push(RunCost { setting: &r.setting, agent: &r.spec.agent, train_s, eval_s: evals * (acts as f64 * a.act_s + env_steps as f64 * env_s) });
    }
    Ok(render(s, &costs, pending.len(), device, at_once, threads, (agent_of.len(), env_of.len(), probe_s)))
}

fn render(s: &Suite, costs: &[RunCost], pending: usize, device: DeviceName, at_once: Option<usize>, threads: &str, (agents, envs, probe_s): (usize, usize, f64)) -> String {
    let mut out = String::new();
    let share = match at_once {
        Some(n) => format!("{n} runs at a time, {threads} thread(s) each; the runs are assumed to share the machine evenly"),
        None => format!("Slurm decides how many run at once ({threads} thread(s) each); wall = run time / runs at once"),
    };
    out.push_str(&format!("\nestimated time on {device} ({share}): {pending} of {} runs pending (finished runs count zero)\n", s.runs.len()));
    out.push_str(&format!(
        "  probed {agents} agent configurations and {envs} task environments in {probe_s:.1} s (timed gradient steps on a synthetic batch, evaluation-sized actions and environment steps)\n"
    ));
    // `+ 0.0`: the sum over no pending runs is -0.0, which would print as "-0.0 s".
    let seconds = |secs: f64| {
        let secs = secs + 0.0;
        if secs < 120.0 {
            format!("{secs:.1} s")
        } else {
            format!("{secs:.1} s ({})", human(secs))
        }
    };
    let wall = |run_s: f64| match at_once {
        Some(n) => format!("wall {}", seconds(run_s / n as f64)),
        None => "wall: depends on the cluster".to_string(),
    };
    let mut settings: Vec<&str> = Vec::new();
    for r in &s.runs {
        if !settings.contains(&r.setting.as_str()) {
            settings.push(&r.setting);
        }
    }
    let mut total = 0.0;
    for setting in settings {
        let of: Vec<&RunCost> = costs.iter().filter(|c| c.setting == setting).collect();
        let run_s: f64 = of.iter().map(|c| c.train_s + c.eval_s).sum();
        total += run_s;
        out.push_str(&format!("  experiment {setting}: {} pending runs, run time {}, {}\n", of.len(), seconds(run_s), wall(run_s)));
        let mut agents: Vec<&str> = Vec::new();
        for c in &of {
            if !agents.contains(&c.agent) {
                agents.push(c.agent);
            }
        }
        for agent in agents {
            let mine: Vec<&&RunCost> = of.iter().filter(|c| c.agent == agent).collect();
            let n = mine.len() as f64;
            let (train, eval): (f64, f64) = (mine.iter().map(|c| c.train_s).sum(), mine.iter().map(|c| c.eval_s).sum());
            out.push_str(&format!("    {agent:10} {:4} runs: training {} + evaluation {} per run\n", mine.len(), human(train / n), human(eval / n)));
        }
    }
    out.push_str(&format!("  total: {pending} pending runs, run time {}, {}\n", seconds(total), wall(total)));
    out.push_str("  not counted: dataset generation and loading, batch sampling, process start; evaluations run every episode to its step limit (an upper bound)\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The counts follow the training loop: an evaluation at every multiple of `eval_every` and
    /// at the last step, none repeated on resume, one more when resuming at the last step.
    #[test]
    fn evaluations_follow_the_training_loop() {
        assert_eq!(evaluations(0, 1500, 500), 3);
        assert_eq!(evaluations(0, 1000, 300), 4);
        assert_eq!(evaluations(1000, 1500, 500), 1);
        assert_eq!(evaluations(600, 1000, 300), 2);
        assert_eq!(evaluations(1500, 1500, 500), 1);
        assert_eq!(evaluations(0, 1, 1), 1);
    }

    /// A chunked agent acts once per `execute` steps; environments step every step.
    #[test]
    fn chunked_agents_act_once_per_executed_chunk() {
        let chunks = DataSpec::Chunks { obs_history: 2, action_chunk: 8, execute: 4 };
        assert_eq!(evaluation_calls(&chunks, 1, 300), (75, 300));
        assert_eq!(evaluation_calls(&chunks, 1, 301), (76, 301));
        assert_eq!(evaluation_calls(&DataSpec::Transitions, 5, 1000), (5000, 5000));
    }

    /// Runs differing only in floating-point settings share a probe; a different width or
    /// budget does not.
    #[test]
    fn float_settings_share_a_probe_and_shapes_do_not() {
        let s = suite::load(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../benchmarks/quick.toml")), Path::new("R"), Path::new("D")).unwrap();
        let run = s.runs.iter().find(|r| r.spec.agent == "nf-gcbc").unwrap().clone();
        let task = Task::resolve(&run.spec.task).unwrap();
        let with = |key: &str, v: toml::Value| {
            let mut r = run.clone();
            r.spec.agent_table.get_or_insert_with(toml::Table::new).insert(key.into(), v);
            agent_key(&r, &task)
        };
        let base = agent_key(&run, &task);
        assert_eq!(with("lr", toml::Value::Float(0.5)), base);
        assert_eq!(with("gamma", toml::Value::Float(0.9)), base);
        assert_ne!(with("channels", toml::Value::Integer(32)), base);
        let mut longer = run.clone();
        longer.spec.train.steps *= 2;
        assert_ne!(agent_key(&longer, &task), base);
    }
}
