//! The online loop with a minimal online agent (hindsight goal-conditioned BC of a linear
//! tanh policy: regress the taken action on (state, future state)): resume is bit-exact, runs
//! are reproducible, and bad input fails with a clear error.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;
use envs::{Batch, Task};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rl::{Agent, DataSpec, Explorer, GoalContext, Metrics, OnlineConfig, TrainConfig};

const MAZE: &str = "pointmaze-umaze-online";

/// a = tanh(W [s, g − s] + b), trained by Adam on the squared error to the buffer's actions;
/// explores with N(0, 0.3²) noise around it; commands each environment's first candidate.
struct HindsightBc {
    vars: VarMap,
    opt: nf_core::AdamW,
    online: OnlineConfig,
}

impl HindsightBc {
    fn new(online: OnlineConfig) -> Self {
        let vars = VarMap::new();
        // A fixed start (candle's random inits draw from a global generator).
        let w = vars.get((4, 2), "w", candle_nn::Init::Const(0.0), DType::F32, &Device::Cpu).unwrap();
        let init: Vec<f32> = (0..8).map(|i| 0.1 * ((i as f32) * 1.7).sin()).collect();
        vars.data().lock().unwrap()["w"].set(&Tensor::from_vec(init, w.dims(), &Device::Cpu).unwrap()).unwrap();
        vars.get(2, "b", candle_nn::Init::Const(0.0), DType::F32, &Device::Cpu).unwrap();
        let opt = nf_core::AdamW::adam(rl::sorted_vars(&vars), 1e-2).unwrap();
        Self { vars, opt, online }
    }

    fn forward(&self, obs: &[f32], goals: &[f32], n: usize) -> rl::Result<Tensor> {
        let x: Vec<f32> = obs.chunks(2).zip(goals.chunks(2)).flat_map(|(s, g)| [s[0] / 10.0, s[1] / 10.0, (g[0] - s[0]) / 10.0, (g[1] - s[1]) / 10.0]).collect();
        let x = Tensor::from_vec(x, (n, 4), &Device::Cpu)?;
        let data = self.vars.data().lock().unwrap();
        Ok(x.matmul(data["w"].as_tensor())?.broadcast_add(data["b"].as_tensor())?.tanh()?)
    }
}

impl Agent for HindsightBc {
    fn name(&self) -> &str {
        "hindsight-bc"
    }
    fn data_spec(&self) -> DataSpec {
        DataSpec::Online(self.online.clone())
    }
    fn update(&mut self, batch: &Batch, rng: &mut ChaCha8Rng) -> rl::Result<Metrics> {
        // A random row mask, so that the update consumes the stream as real agents do.
        let keep: Vec<f32> = (0..batch.batch).map(|_| if rng.random::<f32>() < 0.9 { 1.0 } else { 0.0 }).collect();
        let a = Tensor::from_slice(&batch.actions, (batch.batch, 2), &Device::Cpu)?;
        let keep = Tensor::from_vec(keep, (batch.batch, 1), &Device::Cpu)?;
        let err = ((self.forward(&batch.observations, &batch.goals, batch.batch)? - a)?.sqr()?.broadcast_mul(&keep))?;
        let loss = err.mean_all()?;
        let value = rl::scalar(&loss)?;
        self.opt.step(&loss.backward()?)?;
        Ok(vec![("loss".into(), rl::check_finite("loss", value)?)])
    }
    fn act(&self, obs: &[f32], goals: Option<&[f32]>, n: usize, _: &mut ChaCha8Rng) -> rl::Result<Vec<f32>> {
        Ok(self.forward(obs, goals.expect("goal-conditioned"), n)?.flatten_all()?.to_vec1()?)
    }
    fn state(&self) -> rl::Result<Vec<(String, Tensor)>> {
        let mut s = rl::varmap_state(&self.vars, "hbc.");
        s.extend(self.opt.state("hbc.opt.")?);
        Ok(s)
    }
    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> rl::Result<()> {
        rl::load_varmap(&self.vars, state, "hbc.")?;
        self.opt.load_state("hbc.opt.", state)?;
        Ok(())
    }
    fn explorer(&self) -> Option<&dyn Explorer> {
        Some(self)
    }
}

impl Explorer for HindsightBc {
    fn explore(&self, obs: &[f32], goals: &[f32], n: usize, rng: &mut ChaCha8Rng) -> rl::Result<Vec<f32>> {
        let mean: Vec<f32> = self.forward(obs, goals, n)?.flatten_all()?.to_vec1()?;
        Ok(mean.into_iter().map(|m| m + 0.3 * rng.sample::<f32, _>(rand_distr::StandardNormal)).collect())
    }
    fn practice_goals(&self, ctx: &GoalContext<'_>, _: &mut ChaCha8Rng) -> rl::Result<Vec<f32>> {
        Ok((0..ctx.envs).flat_map(|e| ctx.candidates[e * ctx.per_env * ctx.obs_dim..][..ctx.obs_dim].to_vec()).collect())
    }
}

fn small() -> OnlineConfig {
    OnlineConfig { envs: 8, unroll: 25, buffer: 400, prefill: 50, updates: 4, candidates: 4, ..Default::default() }
}

fn cfg(steps: u64) -> TrainConfig {
    TrainConfig { steps, batch_size: 32, eval_every: 1_000, eval_episodes: 2, seed: 3 }
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nf-rl-online-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// metrics.csv without its timing column.
fn metrics(d: &Path) -> Vec<Vec<String>> {
    let m = rl::train::MetricsCsv::read(d.join(rl::METRICS_FILE)).unwrap();
    let keep: Vec<usize> = m.header().iter().enumerate().filter(|(_, h)| !h.starts_with("time/")).map(|(i, _)| i).collect();
    m.rows().iter().map(|r| keep.iter().map(|&i| r[i].to_string()).collect()).collect()
}

fn tensors(d: &Path) -> HashMap<String, Vec<f32>> {
    candle_core::safetensors::load(d.join(rl::LAST_CHECKPOINT), &Device::Cpu)
        .unwrap()
        .into_iter()
        .map(|(k, t)| (k, t.flatten_all().unwrap().to_dtype(DType::F64).unwrap().to_dtype(DType::F32).unwrap().to_vec1().unwrap()))
        .collect()
}

/// A run killed after its first evaluation and resumed ends bit for bit where the uninterrupted
/// run ends: metrics, agent, buffer, environments and visited cells (the buffer and the
/// environments' mid-episode states are in the checkpoint). A second run from scratch gives the
/// same numbers too.
#[test]
fn a_resumed_online_run_matches_the_uninterrupted_one_bit_for_bit() {
    let task = Task::resolve(MAZE).unwrap();
    // 8 envs × 25 steps = 200 env steps an unroll; 3,000 steps = 15 unrolls (2 prefill), 1,000-step
    // episodes reset mid-unroll, the 400-row ring wraps, and evaluations land at 1,000, 2,000, 3,000.
    let whole = dir("whole");
    rl::train_online(&mut HindsightBc::new(small()), &task, &cfg(3_000), &whole, &mut |_| {}).unwrap();
    let again = dir("again");
    rl::train_online(&mut HindsightBc::new(small()), &task, &cfg(3_000), &again, &mut |_| {}).unwrap();
    let parts = dir("parts");
    // "Killed" after the evaluation at 1,000 (a run with a shorter budget stops there), resumed
    // by a fresh agent.
    rl::train_online(&mut HindsightBc::new(small()), &task, &cfg(1_000), &parts, &mut |_| {}).unwrap();
    let resumed = rl::train_online(&mut HindsightBc::new(small()), &task, &cfg(3_000), &parts, &mut |_| {}).unwrap();
    assert_eq!(resumed.resumed_from, 1_000);
    let m = metrics(&whole);
    assert_eq!(m.len(), 3, "{m:?}");
    assert_eq!(m, metrics(&again), "two runs from scratch differ");
    assert_eq!(m, metrics(&parts), "the resumed run's metrics differ");
    let (a, b) = (tensors(&whole), tensors(&parts));
    assert!(a.contains_key("online.buffer.obs") && a.contains_key("online.env.snapshots") && a.contains_key("hbc.w"), "{:?}", a.keys());
    assert_eq!(a.len(), b.len());
    for (k, v) in &a {
        assert_eq!(Some(v), b.get(k), "checkpoint tensor `{k}` differs after resume");
    }
    let h = rl::train::MetricsCsv::read(whole.join(rl::METRICS_FILE)).unwrap();
    for col in ["explore/coverage", "train/sgd_steps", "eval/hard/success", "eval/easy/at_goal", "train/loss"] {
        assert!(h.header().iter().any(|c| c == col), "metrics.csv lacks `{col}`: {:?}", h.header());
    }
    // 13 training unrolls × 4 updates.
    assert_eq!(h.series("step", "train/sgd_steps").unwrap().last().unwrap().1, 52.0);
    for d in [whole, again, parts] {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// Bad input fails before anything runs, naming what is wrong.
#[test]
fn bad_online_input_fails_clearly() {
    let online = Task::resolve(MAZE).unwrap();
    let offline = Task::resolve("pointmaze-medium-navigate").unwrap();
    let run = |agent: &mut dyn Agent, task: &Task| rl::train_online(agent, task, &cfg(400), &dir("bad"), &mut |_| {}).unwrap_err().to_string();
    let err = run(&mut HindsightBc::new(small()), &offline);
    assert!(err.contains("is an online agent") && err.contains("pointmaze-medium-navigate is an offline task"), "{err}");
    let err = run(&mut HindsightBc::new(OnlineConfig { buffer: 20, ..small() }), &online);
    assert!(err.contains("online.buffer") && err.contains("one unroll of 25 steps"), "{err}");
    let err = run(&mut HindsightBc::new(OnlineConfig { env_goals: "medium".into(), ..small() }), &online);
    assert!(err.contains("`online.env_goals` = \"medium\"") && err.contains("easy, hard"), "{err}");
    // An offline agent cannot train online, and an online agent has no dataset to train on.
    let mut offline_agent = baselines_free_offline_agent();
    let err = run(&mut offline_agent, &online);
    assert!(err.contains("offline agent"), "{err}");
    let data = envs::generate_with("pointmaze-medium-navigate", 0, envs::Split::Train, 2, 50).unwrap();
    let err = rl::train(&mut HindsightBc::new(small()), &offline, data, &cfg(10), &dir("bad2"), &mut |_| {}).unwrap_err().to_string();
    assert!(err.contains("collects its own data"), "{err}");
}

/// The same agent, claiming to be an offline (dataset) agent.
fn baselines_free_offline_agent() -> impl Agent {
    struct Offline(HindsightBc);
    impl Agent for Offline {
        fn name(&self) -> &str {
            "offline"
        }
        fn data_spec(&self) -> DataSpec {
            DataSpec::Transitions
        }
        fn update(&mut self, b: &Batch, r: &mut ChaCha8Rng) -> rl::Result<Metrics> {
            self.0.update(b, r)
        }
        fn act(&self, o: &[f32], g: Option<&[f32]>, n: usize, r: &mut ChaCha8Rng) -> rl::Result<Vec<f32>> {
            self.0.act(o, g, n, r)
        }
        fn state(&self) -> rl::Result<Vec<(String, Tensor)>> {
            self.0.state()
        }
        fn load_state(&mut self, s: &HashMap<String, Tensor>) -> rl::Result<()> {
            self.0.load_state(s)
        }
    }
    Offline(HindsightBc::new(small()))
}
