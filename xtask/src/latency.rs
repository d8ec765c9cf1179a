//! `cargo xtask latency`: what one control step costs each imitation policy, measured side by
//! side in one process (the paper's Fig. 3b compares NF-BC, VQ-BeT and Diffusion Policy this
//! way, with its own numbers).
//!
//! Each agent of a suite's imitation experiment on one task is built with that experiment's
//! config (its sizes, horizons and sampler), untrained (the cost of acting does not depend on
//! the weights), and asked for actions at batch 1 from an observation history of the task's
//! width. Timed: one `act` call (for a chunked policy, one full chunk: every denoising step of
//! the diffusion policy, the transformer pass and decoding of VQ-BeT, the flow pass and its
//! denoising step of NF-BC), the median over the calls of a time budget after two warm-up
//! calls; and that time per environment step, over the `execute` actions each call supplies.
//! Not timed: the environment, the normaliser (a few multiply-adds), thread start-up.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use envs::Task;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rl::DataSpec;

use crate::suite;

#[derive(Args, Debug)]
pub struct LatencyArgs {
    /// The suite whose imitation experiment gives the agents and their configs.
    #[arg(long, default_value = "paper")]
    suite: String,
    /// The imitation task (its experiment's agents are timed).
    #[arg(long, default_value = "pusht")]
    task: String,
    /// Time budget per agent (at least 3 calls are timed whatever it is).
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Agents to time (default: the experiment's, `random` left out).
    #[arg(long, value_delimiter = ',')]
    agents: Vec<String>,
}

struct Row {
    agent: String,
    parameters: usize,
    call_ms: f64,
    calls: usize,
    execute: usize,
}

/// Trainable parameters: the elements an optimiser keeps moments for (`opt….m.i`), so EMA copies,
/// codebooks updated by averages and the normaliser are not counted.
fn trainable_parameters(state: &[(String, candle_core::Tensor)]) -> usize {
    state.iter().filter(|(k, _)| k.starts_with("opt") && k.contains(".m.")).map(|(_, t)| t.elem_count()).sum()
}

pub fn run(args: LatencyArgs) -> Result<()> {
    let path = suite::resolve(&args.suite);
    let s = suite::load(&path, std::path::Path::new("results"), std::path::Path::new("data"))?;
    let task = Task::resolve(&args.task)?;
    if !task.is_imitation() {
        bail!("{} is not an imitation task; the latency table compares imitation policies", args.task);
    }
    let mut runs: Vec<&suite::SuiteRun> = Vec::new();
    for r in s.runs.iter().filter(|r| r.spec.task == args.task && r.spec.agent != crate::agents::FLOOR) {
        if !runs.iter().any(|x| x.spec.agent == r.spec.agent) && (args.agents.is_empty() || args.agents.contains(&r.spec.agent)) {
            runs.push(r);
        }
    }
    if runs.is_empty() {
        bail!("suite {} has no run of {} on {}", s.name, if args.agents.is_empty() { "any agent".to_string() } else { args.agents.join(", ") }, args.task);
    }
    let device = candle_core::Device::Cpu;
    let mut rows = Vec::new();
    for r in runs {
        let (agent, _, _) = crate::agents::make_agent(&r.spec.agent, r.spec.agent_table.as_ref(), &task, 0, &r.spec.train, &device)?;
        let (width, execute) = match agent.data_spec() {
            DataSpec::Chunks { obs_history, execute, .. } => (obs_history * task.obs_dim, execute),
            _ => (task.obs_dim, 1),
        };
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let obs: Vec<f32> = (0..width).map(|_| rng.random_range(-1.0..1.0)).collect();
        let mut call = || -> Result<f64> {
            let t = Instant::now();
            agent.act(&obs, None, 1, &mut rng).with_context(|| format!("{} acting at batch 1", r.spec.agent))?;
            Ok(t.elapsed().as_secs_f64())
        };
        call()?;
        call()?;
        let (mut times, t0) = (Vec::new(), Instant::now());
        while times.len() < 3 || t0.elapsed() < Duration::from_secs_f64(args.seconds) {
            times.push(call()?);
        }
        times.sort_by(f64::total_cmp);
        rows.push(Row { agent: r.spec.agent.clone(), parameters: trainable_parameters(&agent.state()?), call_ms: times[times.len() / 2] * 1e3, calls: times.len(), execute });
    }
    println!("Batch-1 action latency on {} (suite {}, CPU, {} thread(s); configs from {}):\n", args.task, s.name, candle_core::utils::get_num_threads(), path.display());
    println!("| agent | trainable parameters | one call (ms, median) | calls timed | actions per call | per environment step (ms) |");
    println!("|---|---|---|---|---|---|");
    for r in rows {
        println!("| `{}` | {:.2}M | {:.2} | {} | {} | {:.2} |", r.agent, r.parameters as f64 / 1e6, r.call_ms, r.calls, r.execute, r.call_ms / r.execute as f64);
    }
    Ok(())
}
