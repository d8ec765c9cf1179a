//! The online training loop of the unsupervised goal-conditioned setting, as JaxGCRL's scripts
//! run it (`unsupservised-gcrl/train_auto_NF_rl.py`, `train_crl_latent_actor*.py`, `buffer.py`):
//!
//! 1. `envs` environments step together (rayon, [`VecEnv`]); an episode that ends is reset at
//!    once (Brax's `AutoResetWrapper`).
//! 2. Before each unroll the agent chooses every environment's practice goal from `candidates`
//!    future states drawn from the buffer ([`Explorer::practice_goals`]); during the first
//!    `prefill` rows per environment the environments' own goals are used and nothing trains.
//! 3. Each environment acts for `unroll` steps with the exploration policy
//!    ([`Explorer::explore`]); every `(s, a)` goes into a per-environment trajectory ring.
//! 4. `updates` SGD steps follow, each on `batch_size` triples `(s_i, a_i, s_j)`: a uniform
//!    stored row i and a future row j of the same episode with P(j) ∝ γ^(j−i)
//!    ([`TrajectoryBuffer::sample`]).
//!
//! Run length and evaluation cadence are counted in environment steps: `[train] steps` is the
//! environment-step budget and `eval_every` the environment steps between evaluations (the
//! `step` column of `metrics.csv` is environment steps; `train/sgd_steps` counts updates).
//!
//! **Resume is bit-exact, from the checkpoint alone:** the last checkpoint holds the agent, the
//! whole buffer, every environment's mid-episode snapshot ([`envs::GoalEnv::snapshot`]), the
//! episode counters and the visited cells; every random stream is derived from
//! (seed, unroll index[, update index]), so nothing else carries state across unrolls. (Rebuilding
//! the buffer by replaying collection would need every past policy, so it is saved instead.)

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use candle_core::{Device, Tensor};
use envs::{Batch, Task, TaskKind, VecEnv};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::agent::{Agent, DataSpec};
use crate::error::{Result, RlError};
use crate::registry::Fields;
use crate::seeds::mix;
use crate::train::{Progress, RunLog, TrainConfig, TrainSummary};

/// The online loop's settings, part of each online agent's config (`[agent.online]`). Defaults are
/// the reference scripts' (`Args` of `train_auto_NF_rl.py`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OnlineConfig {
    /// Environments stepped together. Reference: `num_envs = 1024`.
    pub envs: usize,
    /// Steps per environment between goal choices (and training phases). Reference:
    /// `unroll_length = 62`.
    pub unroll: usize,
    /// Rows kept per environment (a ring; the oldest go first). Reference: `max_replay_size = 10000`.
    pub buffer: usize,
    /// Rows per environment collected with the environments' own goals before the first update.
    /// Reference: `min_replay_size = 1000`.
    pub prefill: usize,
    /// SGD steps after each unroll. Reference: 256 (one buffer sample is `num_envs` windows of
    /// `num_envs + 1` steps, 1024 × 1024 relabelled transitions, cut into batches of 4096).
    pub updates: usize,
    /// Candidate practice goals per environment, drawn from the buffer's future states.
    /// Reference: `num_envs` = 1024 (`get_worst_best_goal` over a `[num_envs, num_envs]` reshape).
    pub candidates: usize,
    /// Discount of the future-state sampler. Reference: `gamma = 0.99`.
    pub gamma: f64,
    /// The maze's goal set the environments draw their own goals from at each reset: the goals
    /// of the prefill and the ones CRL-oracle commands. Reference: the training env's
    /// `possible_goals`, every G cell = `easy`.
    pub env_goals: String,
}

impl Default for OnlineConfig {
    fn default() -> Self {
        Self { envs: 1024, unroll: 62, buffer: 10_000, prefill: 1_000, updates: 256, candidates: 1024, gamma: 0.99, env_goals: "easy".into() }
    }
}

impl OnlineConfig {
    /// Range checks, each error naming `[agent.online]`'s field.
    pub fn validate(&self, agent: &'static str) -> Result<()> {
        let f = Fields::of(agent);
        f.range("online.envs", self.envs, 1..)?;
        f.range("online.unroll", self.unroll, 1..)?;
        if self.buffer < self.unroll {
            return Err(f.error("online.buffer", format!("{} rows per environment cannot hold one unroll of {} steps", self.buffer, self.unroll)));
        }
        f.range("online.prefill", self.prefill, 0..=self.buffer)?;
        f.range("online.candidates", self.candidates, 1..)?;
        f.range("online.gamma", self.gamma, 0.0..1.0)
    }
}

/// What an agent is shown when it chooses practice goals (all rows `obs_dim` wide: goals are
/// observations, as everywhere in this workspace; on the online mazes both are the (x, y)
/// position, the coordinates JaxGCRL's goals index).
pub struct GoalContext<'a> {
    pub envs: usize,
    pub obs_dim: usize,
    /// `[envs, obs_dim]`: where each environment is now.
    pub observations: &'a [f32],
    /// `[envs, obs_dim]`: each environment's first observation of its running episode (CRL-minmax
    /// scores candidates from the start state).
    pub starts: &'a [f32],
    /// `[envs, obs_dim]`: the environments' own goals (the evaluation goals; CRL-oracle's).
    pub env_goals: &'a [f32],
    /// `[envs, per_env, obs_dim]`: future states drawn from the buffer.
    pub candidates: &'a [f32],
    pub per_env: usize,
}

/// What an online agent adds to [`Agent`].
pub trait Explorer {
    /// Exploration actions `[n, act_dim]` (the stochastic policy; [`Agent::act`] is the
    /// deterministic evaluation policy) for `n` rows of observations and commanded goals.
    fn explore(&self, obs: &[f32], goals: &[f32], n: usize, rng: &mut ChaCha8Rng) -> Result<Vec<f32>>;
    /// The goal `[envs, obs_dim]` each environment commands during its next unroll.
    fn practice_goals(&self, ctx: &GoalContext<'_>, rng: &mut ChaCha8Rng) -> Result<Vec<f32>>;
}

/// The per-environment trajectory rings: row t of environment e holds `(s_t, a_t)` and, once its
/// episode has ended, the time of the episode's last row (so a future state never crosses into
/// the next episode).
pub struct TrajectoryBuffer {
    envs: usize,
    capacity: usize,
    obs_dim: usize,
    act_dim: usize,
    obs: Vec<f32>,
    act: Vec<f32>,
    /// Per row: the time of its episode's last row, or −1 while that episode runs.
    end: Vec<i64>,
    /// Per environment: the time of the running episode's first row.
    start: Vec<u64>,
    /// Rows written per environment (every environment writes one per step).
    written: u64,
}

impl TrajectoryBuffer {
    pub fn new(envs: usize, capacity: usize, obs_dim: usize, act_dim: usize) -> Self {
        Self {
            envs,
            capacity,
            obs_dim,
            act_dim,
            obs: vec![0.0; envs * capacity * obs_dim],
            act: vec![0.0; envs * capacity * act_dim],
            end: vec![-1; envs * capacity],
            start: vec![0; envs],
            written: 0,
        }
    }

    /// Rows stored per environment.
    pub fn len(&self) -> usize {
        (self.written as usize).min(self.capacity)
    }

    pub fn is_empty(&self) -> bool {
        self.written == 0
    }

    fn slot(&self, e: usize, t: u64) -> usize {
        e * self.capacity + (t % self.capacity as u64) as usize
    }

    /// Appends one row per environment: `obs` `[envs, obs_dim]` (the state acted in), `act`
    /// `[envs, act_dim]`, and whether that step ended the environment's episode.
    pub fn push(&mut self, obs: &[f32], act: &[f32], ended: &[bool]) {
        let t = self.written;
        let oldest = (t + 1).saturating_sub(self.capacity as u64);
        for e in 0..self.envs {
            let k = self.slot(e, t);
            self.obs[k * self.obs_dim..(k + 1) * self.obs_dim].copy_from_slice(&obs[e * self.obs_dim..(e + 1) * self.obs_dim]);
            self.act[k * self.act_dim..(k + 1) * self.act_dim].copy_from_slice(&act[e * self.act_dim..(e + 1) * self.act_dim]);
            self.end[k] = -1;
            if ended[e] {
                for r in self.start[e].max(oldest)..=t {
                    let k = self.slot(e, r);
                    self.end[k] = t as i64;
                }
                self.start[e] = t + 1;
            }
        }
        self.written += 1;
    }

    /// The future offset k ∈ {1, …, left} with P(k) ∝ γ^k, by inverting its CDF at `u` ∈ [0, 1);
    /// 0 when the row has no future in its episode (`left` = 0: the goal is the state itself,
    /// as the reference's `1e-5` diagonal makes it).
    pub fn future_offset(gamma: f64, left: u64, u: f64) -> u64 {
        if left == 0 {
            return 0;
        }
        // P(k ≤ m) = (1 − γ^m) / (1 − γ^left), so k = 1 + ⌊ln(1 − u(1 − γ^left)) / ln γ⌋.
        let x = (1.0 - u * (1.0 - gamma.powi(left.min(i32::MAX as u64) as i32))).ln() / gamma.ln();
        (1 + x.floor() as u64).clamp(1, left)
    }

    /// A uniform stored row (environment, time) and its future row's time.
    fn draw(&self, gamma: f64, rng: &mut ChaCha8Rng) -> (usize, u64, u64) {
        let e = rng.random_range(0..self.envs);
        let t = rng.random_range(self.written - self.len() as u64..self.written);
        let last = match self.end[self.slot(e, t)] {
            -1 => self.written - 1,
            end => end as u64,
        };
        let k = Self::future_offset(gamma, last - t, rng.random::<f64>());
        (e, t, t + k)
    }

    fn obs_row(&self, e: usize, t: u64) -> &[f32] {
        let k = self.slot(e, t);
        &self.obs[k * self.obs_dim..(k + 1) * self.obs_dim]
    }

    /// `n` training triples into `out`: `observations` s_i, `actions` a_i and `goals` s_j, j a
    /// future row of the same episode with P(j) ∝ γ^(j−i). (The reference samples windows of
    /// `num_envs + 1` steps and relabels inside them; with γ = 0.99 the window's cut, 1024 steps
    /// on, changes no probability visibly, so rows are drawn independently here.)
    pub fn sample(&self, n: usize, gamma: f64, rng: &mut ChaCha8Rng, out: &mut Batch) {
        assert!(!self.is_empty(), "sampling an empty buffer");
        *out = Batch { batch: n, obs_dim: self.obs_dim, act_dim: self.act_dim, ..Default::default() };
        out.observations.reserve(n * self.obs_dim);
        out.actions.reserve(n * self.act_dim);
        out.goals.reserve(n * self.obs_dim);
        for _ in 0..n {
            let (e, t, j) = self.draw(gamma, rng);
            out.observations.extend_from_slice(self.obs_row(e, t));
            let k = self.slot(e, t);
            out.actions.extend_from_slice(&self.act[k * self.act_dim..(k + 1) * self.act_dim]);
            out.goals.extend_from_slice(self.obs_row(e, j));
        }
    }

    /// `n` goal candidates `[n, obs_dim]`: the future states of uniform rows, as the reference
    /// takes its candidates from a training sample's relabelled goals.
    pub fn sample_goals(&self, n: usize, gamma: f64, rng: &mut ChaCha8Rng) -> Vec<f32> {
        let mut out = Vec::with_capacity(n * self.obs_dim);
        for _ in 0..n {
            let (e, _, j) = self.draw(gamma, rng);
            out.extend_from_slice(self.obs_row(e, j));
        }
        out
    }

    fn state(&self, prefix: &str) -> Result<Vec<(String, Tensor)>> {
        let cpu = Device::Cpu;
        Ok(vec![
            (format!("{prefix}obs"), Tensor::from_slice(&self.obs, self.obs.len(), &cpu)?),
            (format!("{prefix}act"), Tensor::from_slice(&self.act, self.act.len(), &cpu)?),
            (format!("{prefix}end"), Tensor::from_slice(&self.end, self.end.len(), &cpu)?),
            (format!("{prefix}start"), Tensor::from_vec(self.start.iter().map(|&s| s as i64).collect::<Vec<_>>(), self.envs, &cpu)?),
            (format!("{prefix}written"), Tensor::new(&[self.written as i64], &cpu)?),
        ])
    }

    fn load_state(&mut self, state: &HashMap<String, Tensor>, prefix: &str) -> Result<()> {
        self.obs = vec_f32(state, &format!("{prefix}obs"), self.obs.len())?;
        self.act = vec_f32(state, &format!("{prefix}act"), self.act.len())?;
        self.end = vec_i64(state, &format!("{prefix}end"), self.end.len())?;
        self.start = vec_i64(state, &format!("{prefix}start"), self.envs)?.into_iter().map(|s| s as u64).collect();
        self.written = vec_i64(state, &format!("{prefix}written"), 1)?[0] as u64;
        Ok(())
    }
}

fn tensor<'a>(state: &'a HashMap<String, Tensor>, key: &str, len: usize) -> Result<&'a Tensor> {
    let t = state.get(key).ok_or_else(|| RlError::Config { agent: "online".into(), reason: format!("checkpoint lacks `{key}` (was it written by an offline run?)") })?;
    if t.elem_count() != len {
        return Err(RlError::Config { agent: "online".into(), reason: format!("`{key}` holds {} values; this run's [agent.online] settings need {len}", t.elem_count()) });
    }
    Ok(t)
}

fn vec_f32(state: &HashMap<String, Tensor>, key: &str, len: usize) -> Result<Vec<f32>> {
    Ok(tensor(state, key, len)?.flatten_all()?.to_vec1()?)
}

fn vec_i64(state: &HashMap<String, Tensor>, key: &str, len: usize) -> Result<Vec<i64>> {
    Ok(tensor(state, key, len)?.flatten_all()?.to_vec1()?)
}

/// The loop's state besides the agent and the buffer (all of it checkpointed).
struct Collector {
    venv: VecEnv,
    /// The evaluation task (1-based goal set) the environments' resets draw goals from.
    goal_set: usize,
    /// Per environment: episodes finished (the next reset's seed).
    episodes: Vec<u64>,
    /// `[envs, obs_dim]`: each running episode's first observation.
    starts: Vec<f32>,
    visited: Vec<bool>,
    sgd_steps: u64,
}

impl Collector {
    /// `envs` copies of `probe`'s task whose resets draw goals from goal set `goal_set`.
    fn new(probe: &dyn envs::GoalEnv, envs: usize, goal_set: usize) -> Self {
        Self { venv: VecEnv::from_env(probe, envs), goal_set, episodes: vec![0; envs], starts: Vec::new(), visited: vec![false; probe.coverage_regions()], sgd_steps: 0 }
    }

    /// A fresh start: every environment's first episode, its start and its cell.
    fn start(&mut self, seed: u64) -> Result<()> {
        let seeds: Vec<u64> = (0..self.venv.len()).map(|e| Self::reset_seed(seed, e, 0)).collect();
        self.venv.reset(&seeds, Some(self.goal_set))?;
        self.starts = self.venv.observations().to_vec();
        let first = self.starts.clone();
        self.visit(&first);
        Ok(())
    }

    fn reset_seed(seed: u64, e: usize, episode: u64) -> u64 {
        mix(&[seed, e as u64, episode, 0x0E_5E7])
    }

    fn visit(&mut self, obs: &[f32]) {
        let d = self.venv.obs_dim();
        for row in obs.chunks(d) {
            if let Some(r) = self.venv.envs()[0].coverage_region(row) {
                self.visited[r] = true;
            }
        }
    }

    fn coverage(&self) -> f64 {
        if self.visited.is_empty() {
            return 0.0;
        }
        self.visited.iter().filter(|&&v| v).count() as f64 / self.visited.len() as f64
    }

    /// One unroll: `steps` steps of every environment with `act` choosing actions; rows go into
    /// `buf`; ended episodes reset at once.
    fn unroll(&mut self, steps: usize, seed: u64, buf: Option<&mut TrajectoryBuffer>, act: &mut dyn FnMut(&[f32]) -> Result<Vec<f32>>) -> Result<()> {
        let n = self.venv.len();
        let d = self.venv.obs_dim();
        let spec = self.venv.envs()[0].action_spec().clone();
        let all = vec![true; n];
        let mut buf = buf;
        for _ in 0..steps {
            let before = self.venv.observations().to_vec();
            let mut actions = act(&before)?;
            if actions.len() != n * spec.dim() {
                return Err(RlError::Config { agent: "online".into(), reason: format!("the exploration policy returned {} action values for {n} environments × {} dims", actions.len(), spec.dim()) });
            }
            if let Some(v) = actions.iter().find(|v| !v.is_finite()) {
                return Err(RlError::NonFinite { step: 0, term: "exploration action".into(), value: *v as f64, last_checkpoint: None });
            }
            for row in actions.chunks_mut(spec.dim()) {
                spec.clip(row);
            }
            self.venv.step(&actions, &all)?;
            let ended: Vec<bool> = self.venv.transitions().iter().map(|t| t.terminated || t.truncated).collect();
            if let Some(b) = buf.as_deref_mut() {
                b.push(&before, &actions, &ended);
            }
            let now = self.venv.observations().to_vec();
            self.visit(&now);
            for e in (0..n).filter(|&e| ended[e]) {
                self.episodes[e] += 1;
                self.venv.reset_env(e, Self::reset_seed(seed, e, self.episodes[e]), Some(self.goal_set))?;
                self.starts[e * d..(e + 1) * d].copy_from_slice(&self.venv.observations()[e * d..(e + 1) * d]);
            }
        }
        Ok(())
    }

    fn state(&self) -> Result<Vec<(String, Tensor)>> {
        let cpu = Device::Cpu;
        let snaps = self.venv.snapshots()?;
        Ok(vec![
            ("online.env.snapshots".into(), Tensor::from_slice(&snaps, snaps.len(), &cpu)?),
            ("online.env.observations".into(), Tensor::from_slice(self.venv.observations(), self.venv.observations().len(), &cpu)?),
            ("online.env.goals".into(), Tensor::from_slice(self.venv.goals(), self.venv.goals().len(), &cpu)?),
            ("online.env.starts".into(), Tensor::from_slice(&self.starts, self.starts.len(), &cpu)?),
            ("online.env.episodes".into(), Tensor::from_vec(self.episodes.iter().map(|&e| e as i64).collect::<Vec<_>>(), self.episodes.len(), &cpu)?),
            ("online.visited".into(), Tensor::from_vec(self.visited.iter().map(|&v| v as u8).collect::<Vec<_>>(), self.visited.len(), &cpu)?),
            ("online.sgd_steps".into(), Tensor::new(&[self.sgd_steps as i64], &cpu)?),
        ])
    }

    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        let (n, d) = (self.venv.len(), self.venv.obs_dim());
        let snaps = state.get("online.env.snapshots").ok_or_else(|| RlError::Config { agent: "online".into(), reason: "checkpoint lacks `online.env.snapshots`".into() })?;
        let snaps: Vec<f32> = snaps.to_vec1()?;
        let obs = vec_f32(state, "online.env.observations", n * d)?;
        let goals = vec_f32(state, "online.env.goals", n * d)?;
        self.venv.restore(&snaps, &obs, &goals)?;
        self.starts = vec_f32(state, "online.env.starts", n * d)?;
        self.episodes = vec_i64(state, "online.env.episodes", n)?.into_iter().map(|e| e as u64).collect();
        let visited: Vec<u8> = tensor(state, "online.visited", self.visited.len())?.to_vec1()?;
        self.visited = visited.into_iter().map(|v| v != 0).collect();
        self.sgd_steps = vec_i64(state, "online.sgd_steps", 1)?[0] as u64;
        Ok(())
    }
}

fn online_config(agent: &dyn Agent, task: &Task) -> Result<OnlineConfig> {
    let DataSpec::Online(oc) = agent.data_spec() else {
        return Err(RlError::Config { agent: agent.name().into(), reason: format!("is an offline agent (it trains on a dataset), so it cannot train online on {}", task.name()) });
    };
    if task.kind != TaskKind::Online {
        return Err(RlError::Config {
            agent: agent.name().into(),
            reason: format!("is an online agent; {} is an offline task with a dataset (online agents run the online mazes, `pointmaze-…-online`)", task.name()),
        });
    }
    if agent.explorer().is_none() {
        return Err(RlError::Config { agent: agent.name().into(), reason: "asks for online data but has no exploration policy (Agent::explorer)".into() });
    }
    Ok(oc)
}

/// Trains an online agent on an online maze, writing into `dir` as [`crate::train`] does
/// (config and status are the runner's; this writes `metrics.csv` and the checkpoints) and
/// resuming from `dir/last.safetensors` if it exists. `cfg.steps` and `cfg.eval_every` are
/// environment steps; `cfg.batch_size` is the SGD batch; `cfg.eval_episodes` the episodes per
/// evaluation goal set.
pub fn train_online(agent: &mut dyn Agent, task: &Task, cfg: &TrainConfig, dir: &Path, progress: &mut dyn FnMut(Progress<'_>)) -> Result<TrainSummary> {
    let oc = online_config(agent, task)?;
    let name = agent.name().to_string();
    oc.validate("[agent.online]")?;
    let probe = task.make()?;
    let sets: Vec<&str> = probe.tasks().iter().map(|t| t.name.as_str()).collect();
    let goal_set = sets
        .iter()
        .position(|&s| s == oc.env_goals)
        .map(|k| k + 1)
        .ok_or_else(|| RlError::Config { agent: name.clone(), reason: format!("`online.env_goals` = \"{}\": {} has the goal sets {}", oc.env_goals, task.name(), sets.join(", ")) })?;
    let (n, obs_dim, act_dim) = (oc.envs, probe.observation_spec().dim(), probe.action_spec().dim());
    let mut buf = TrajectoryBuffer::new(n, oc.buffer, obs_dim, act_dim);
    let mut col = Collector::new(probe.as_ref(), n, goal_set);
    let (mut log, state) = RunLog::open(dir, cfg)?;
    let mut env_steps = log.start;
    match state {
        Some(map) => {
            let path = dir.join(crate::LAST_CHECKPOINT);
            let fail = |e: RlError| RlError::Checkpoint { path: path.clone(), reason: e.to_string() };
            agent.load_state(&map).map_err(fail)?;
            buf.load_state(&map, "online.buffer.").map_err(fail)?;
            col.load_state(&map).map_err(fail)?;
        }
        None => col.start(cfg.seed)?,
    }
    let per_unroll = (n * oc.unroll) as u64;
    let prefill_unrolls = oc.prefill.div_ceil(oc.unroll) as u64;
    let mut batch = Batch::default();
    let t0 = Instant::now();
    let mut window = Instant::now();
    let mut window_steps = 0u64;
    let mut metrics = Vec::new();
    while env_steps < cfg.steps {
        let it = env_steps / per_unroll;
        let mut rng = ChaCha8Rng::seed_from_u64(mix(&[cfg.seed, it, 0x0C0_11EC7]));
        let training = it >= prefill_unrolls;
        let explorer = agent.explorer().expect("checked by online_config");
        let goals = if training {
            let candidates = buf.sample_goals(n * oc.candidates, oc.gamma, &mut rng);
            let ctx = GoalContext { envs: n, obs_dim, observations: col.venv.observations(), starts: &col.starts, env_goals: col.venv.goals(), candidates: &candidates, per_env: oc.candidates };
            let goals = explorer.practice_goals(&ctx, &mut rng)?;
            if goals.len() != n * obs_dim {
                return Err(RlError::Config { agent: name.clone(), reason: format!("chose {} goal values for {n} environments × {obs_dim}", goals.len()) });
            }
            goals
        } else {
            col.venv.goals().to_vec()
        };
        col.unroll(oc.unroll, cfg.seed, Some(&mut buf), &mut |obs| explorer.explore(obs, &goals, n, &mut rng))?;
        let done = env_steps + per_unroll;
        if training {
            for u in 0..oc.updates {
                let mut urng = ChaCha8Rng::seed_from_u64(mix(&[cfg.seed, it, u as u64, 0x5_6D]));
                buf.sample(cfg.batch_size, oc.gamma, &mut urng, &mut batch);
                metrics = agent.update(&batch, &mut urng).map_err(|e| log.fill(e, done - 1))?;
                log.record(&metrics);
                col.sgd_steps += 1;
            }
        }
        window_steps += per_unroll;
        let evaluates = done / cfg.eval_every > env_steps / cfg.eval_every || done >= cfg.steps;
        env_steps = done;
        if evaluates {
            let sps = window_steps as f64 / window.elapsed().as_secs_f64().max(1e-9);
            let mut extra = buf.state("online.buffer.")?;
            extra.extend(col.state()?);
            let (sgd, coverage) = (col.sgd_steps, col.coverage());
            let cols = move |r: &crate::EvalReport| {
                let mut c = vec![("train/sgd_steps".to_string(), sgd.to_string()), ("explore/coverage".to_string(), format!("{coverage:.4}"))];
                c.extend(r.tasks.iter().map(|t| (format!("eval/{}/at_goal", t.task), format!("{:.4}", t.at_goal))));
                c
            };
            log.evaluate_with(agent, task, env_steps, sps, cols, &extra)?;
            window = Instant::now();
            window_steps = 0;
        }
        progress(Progress { step: env_steps, total: cfg.steps, metrics: &metrics, last_eval: log.last_eval.as_ref() });
    }
    log.finish(agent, task, t0.elapsed().as_secs_f64())
}

/// The share of an online maze's free cells a uniformly random policy visits in `env_steps`
/// steps over `envs` environments (the floor the agents' coverage is read against).
pub fn random_coverage(task: &Task, envs: usize, env_steps: u64, seed: u64) -> Result<f64> {
    let probe = task.make()?;
    let mut col = Collector::new(probe.as_ref(), envs, 1);
    col.start(seed)?;
    let act_dim = probe.action_spec().dim();
    let mut rng = ChaCha8Rng::seed_from_u64(mix(&[seed, 0x8A4D]));
    let steps = env_steps.div_ceil(envs as u64) as usize;
    col.unroll(steps, seed, None, &mut |obs| Ok((0..obs.len() / probe.observation_spec().dim() * act_dim).map(|_| rng.random_range(-1.0f32..1.0)).collect()))?;
    Ok(col.coverage())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The future offsets follow P(k) ∝ γ^k on {1, …, L}: the empirical frequencies of 200,000
    /// draws against the exact probabilities (chi-square over the 30 first offsets and the
    /// tail), for an episode end near (L = 40) and far (L = 5,000); L = 0 gives the row itself.
    #[test]
    fn future_offsets_follow_the_truncated_geometric() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for (gamma, left) in [(0.99, 40u64), (0.9, 5_000), (0.99, 5_000)] {
            let draws = 200_000;
            let mut counts = vec![0u64; left as usize + 1];
            for _ in 0..draws {
                let k = TrajectoryBuffer::future_offset(gamma, left, rng.random());
                assert!((1..=left).contains(&k));
                counts[k as usize] += 1;
            }
            let norm: f64 = (1..=left).map(|k| gamma.powi(k as i32)).sum();
            let p = |k: u64| gamma.powi(k as i32) / norm;
            let (mut chi2, mut dof) = (0.0, 0);
            let bins = 30.min(left);
            for k in 1..=bins {
                let want = p(k) * draws as f64;
                chi2 += (counts[k as usize] as f64 - want).powi(2) / want;
                dof += 1;
            }
            let tail_want: f64 = (bins + 1..=left).map(p).sum::<f64>() * draws as f64;
            if tail_want > 5.0 {
                let tail: u64 = counts[bins as usize + 1..].iter().sum();
                chi2 += (tail as f64 - tail_want).powi(2) / tail_want;
                dof += 1;
            }
            // The 99.9th percentile of χ² with ≤ 31 degrees of freedom is below 62.
            assert!(chi2 < 62.0, "γ {gamma}, L {left}: χ² = {chi2:.1} over {dof} bins");
            let mean = counts.iter().enumerate().map(|(k, &c)| k as f64 * c as f64).sum::<f64>() / draws as f64;
            let want_mean: f64 = (1..=left).map(|k| k as f64 * p(k)).sum();
            assert!((mean - want_mean).abs() < 0.02 * want_mean, "mean offset {mean} vs {want_mean}");
        }
        assert_eq!(TrajectoryBuffer::future_offset(0.99, 0, 0.5), 0);
    }

    /// Goals never cross an episode boundary or run past the newest row, and the ring keeps the
    /// newest `capacity` rows.
    #[test]
    fn buffer_goals_stay_in_their_episode() {
        // One environment, rows t = 0..30 with observation (t, episode); episodes end at t = 9
        // and t = 19; capacity 25 drops rows 0..5.
        let mut b = TrajectoryBuffer::new(1, 25, 2, 1);
        for t in 0..30u64 {
            let ep = (t / 10) as f32;
            b.push(&[t as f32, ep], &[0.5], &[t % 10 == 9]);
        }
        assert_eq!(b.len(), 25);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut batch = Batch::default();
        b.sample(5_000, 0.9, &mut rng, &mut batch);
        for (s, g) in batch.observations.chunks(2).zip(batch.goals.chunks(2)) {
            assert!(s[0] >= 5.0, "row {} was overwritten", s[0]);
            assert_eq!(s[1], g[1], "state {s:?} and goal {g:?} are in different episodes");
            let last_of_episode = if s[1] < 2.0 { s[1] * 10.0 + 9.0 } else { 29.0 };
            assert!(g[0] > s[0] || (g[0] == s[0] && s[0] == last_of_episode), "goal {g:?} for state {s:?}");
        }
    }
}
