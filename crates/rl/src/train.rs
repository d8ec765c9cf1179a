//! The one training loop every agent shares: sample a batch, `update`, evaluate every
//! `eval_every` steps, append a row to `metrics.csv`, keep `last.safetensors` (with the step)
//! and `best.safetensors`, and resume a killed run from its last checkpoint.
//!
//! Every file is written to a temporary name and renamed, so a kill never leaves a half-written
//! file. Each step's randomness is derived from (seed, step), so a resumed run continues with
//! exactly the numbers an uninterrupted run would have produced.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{Device, Tensor};
use envs::{Batch, Dataset, GcSampler, Task, TransitionSampler};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::agent::{Agent, DataSpec, Members, Metrics};
use crate::error::{Result, RlError};
use crate::eval::{evaluate, EvalReport};
use crate::normalize::{check_raw, has_normalizer, scale_for, Normalized};
use crate::seeds::mix;

pub const METRICS_FILE: &str = "metrics.csv";
pub const LAST_CHECKPOINT: &str = "last.safetensors";
pub const BEST_CHECKPOINT: &str = "best.safetensors";
const STEP_KEY: &str = "train.step";
/// The best evaluation score so far (the key keeps its first name so older checkpoints resume).
const BEST_KEY: &str = "train.best_success";

/// How long to train and how often to evaluate. Defaults follow NF-GCBC's paper runs
/// (1M steps, batch 256, evaluation every 50k steps with 50 episodes per task).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    pub steps: u64,
    pub batch_size: usize,
    pub eval_every: u64,
    pub eval_episodes: usize,
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self { steps: 1_000_000, batch_size: 256, eval_every: 50_000, eval_episodes: 50, seed: 0 }
    }
}

/// What a progress view needs after each step.
pub struct Progress<'a> {
    pub step: u64,
    pub total: u64,
    pub metrics: &'a [(String, f64)],
    pub last_eval: Option<&'a EvalReport>,
}

#[derive(Clone, Debug)]
pub struct TrainSummary {
    pub final_eval: EvalReport,
    /// The best evaluation's mean score: the success rate for goal-conditioned tasks (the best
    /// checkpoint is this evaluation's).
    pub best_score: f64,
    /// The step the run started from (0, or the resumed checkpoint's).
    pub resumed_from: u64,
    pub steps_per_second: f64,
}

enum Sampler {
    Goal(GcSampler),
    Plain(TransitionSampler),
    Chunks(TransitionSampler, usize, usize),
}

impl Sampler {
    fn sample_into(&self, batch: usize, rng: &mut ChaCha8Rng, out: &mut Batch) {
        match self {
            Sampler::Goal(s) => s.sample_into(batch, rng, out),
            Sampler::Plain(s) => s.sample_transitions_into(batch, rng, out),
            Sampler::Chunks(s, h, k) => s.sample_chunks_into(batch, *h, *k, rng, out),
        }
    }
}

/// Writes `bytes` to `path` atomically and durably: a fresh temporary file in the same directory
/// (named and cleaned up on error by `tempfile`), synced, then renamed over `path`.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut builder = tempfile::Builder::new();
    // tempfile's default is 0600; a run directory's files get the usual 0666 & umask.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut tmp = builder.tempfile_in(dir).map_err(|e| RlError::io(dir, e))?;
    tmp.write_all(bytes).map_err(|e| RlError::io(tmp.path(), e))?;
    tmp.as_file().sync_all().map_err(|e| RlError::io(tmp.path(), e))?;
    tmp.persist(path).map_err(|e| RlError::io(path, e.error))?;
    Ok(())
}

fn save_checkpoint(agent: &dyn Agent, path: &Path, step: u64, best: f64, extra: &[(String, Tensor)]) -> Result<()> {
    let mut map: HashMap<String, Tensor> = agent.state()?.into_iter().collect();
    map.extend(extra.iter().cloned());
    map.insert(STEP_KEY.into(), Tensor::new(&[step as i64], &Device::Cpu)?);
    map.insert(BEST_KEY.into(), Tensor::new(&[best], &Device::Cpu)?);
    let tmp = path.with_extension("tmp");
    candle_core::safetensors::save(&map, &tmp).map_err(|e| RlError::Checkpoint { path: path.into(), reason: e.to_string() })?;
    std::fs::rename(&tmp, path).map_err(|e| RlError::io(path, e))
}

/// Loads a checkpoint into `agent`; returns (step, best success so far). A checkpoint that holds
/// a normaliser is refused: its policy acts in scaled units, so load it with
/// [`crate::load_policy`], which puts the normaliser in front of it.
pub fn load_checkpoint(agent: &mut dyn Agent, path: &Path) -> Result<(u64, f64)> {
    let (map, step, best) = read_checkpoint(path)?;
    if has_normalizer(&map) && !agent.state()?.iter().any(|(k, _)| map.contains_key(k) && k.starts_with("normalizer.")) {
        return Err(RlError::Checkpoint {
            path: path.into(),
            reason: "holds a normaliser (its policy was trained on scaled data): load it with rl::load_policy, which scales the policy's inputs and outputs".into(),
        });
    }
    agent.load_state(&map).map_err(|e| RlError::Checkpoint { path: path.into(), reason: e.to_string() })?;
    Ok((step, best))
}

/// `metrics.csv`: a header fixed by the first evaluation, then one row per evaluation. Its columns
/// depend on the task (`eval/task1/success`, …) and the agent (`train/<loss term>`), so it is read
/// and written as a header plus records rather than serde rows. Numbers keep the formats they have
/// always had (`{:.4}` rates, `{:.3}` returns, `{:.6}` losses), so older files read and resume.
pub struct MetricsCsv {
    path: PathBuf,
    header: csv::StringRecord,
    rows: Vec<csv::StringRecord>,
}

impl MetricsCsv {
    /// Reads `path`; a file that does not exist yet reads as empty.
    pub fn read(path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self { path, header: csv::StringRecord::new(), rows: Vec::new() }),
            Err(e) => return Err(RlError::io(&path, e)),
        };
        let csv_err = |e: csv::Error| RlError::io(&path, e.into());
        // Flexible: a row shorter than the header reads (its missing columns are empty), as it
        // always has.
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(std::io::BufReader::new(file));
        let header = reader.headers().map_err(csv_err)?.clone();
        let rows = reader.records().collect::<std::result::Result<Vec<_>, _>>().map_err(csv_err)?;
        Ok(Self { path, header, rows })
    }

    /// Opens `path` for a run starting at step `upto`, keeping only rows up to it (rows after a
    /// resumed checkpoint are recomputed).
    fn open(path: PathBuf, upto: u64) -> Result<Self> {
        let mut m = Self::read(path)?;
        m.rows.retain(|r| r.get(0).and_then(|s| s.parse::<u64>().ok()).is_some_and(|s| s <= upto));
        Ok(m)
    }

    pub fn header(&self) -> &csv::StringRecord {
        &self.header
    }

    pub fn rows(&self) -> &[csv::StringRecord] {
        &self.rows
    }

    /// `(x, y)` of every row where both columns hold numbers; `None` when either column is absent.
    pub fn series(&self, x: &str, y: &str) -> Option<Vec<(f64, f64)>> {
        let (xi, yi) = (self.header.iter().position(|h| h == x)?, self.header.iter().position(|h| h == y)?);
        Some(self.rows.iter().filter_map(|r| Some((r.get(xi)?.parse().ok()?, r.get(yi)?.parse().ok()?))).collect())
    }

    /// Appends one evaluation's columns (the first call fixes the header; a column the header
    /// lacks is dropped, one the row lacks is empty) and rewrites the file atomically.
    fn push(&mut self, cols: Vec<(String, String)>) -> Result<()> {
        if self.header.is_empty() {
            self.header = cols.iter().map(|(k, _)| k.as_str()).collect();
        }
        let row = self.header.iter().map(|h| cols.iter().find(|(k, _)| k == h).map(|(_, v)| v.as_str()).unwrap_or_default()).collect();
        self.rows.push(row);
        let mut w = csv::Writer::from_writer(Vec::new());
        let csv_err = |e: csv::Error| RlError::io(&self.path, e.into());
        w.write_record(&self.header).map_err(csv_err)?;
        for r in &self.rows {
            w.write_record(r).map_err(csv_err)?;
        }
        let bytes = w.into_inner().map_err(|e| RlError::io(&self.path, e.into_error()))?;
        write_atomic(&self.path, &bytes)
    }
}

impl Sampler {
    /// The sampler `spec` trains on, over `data` for `task`.
    fn new(spec: DataSpec, task: &Task, data: Dataset) -> Result<Self> {
        Ok(match spec {
            DataSpec::GoalConditioned(gc) => Sampler::Goal(GcSampler::new(data, gc)?),
            DataSpec::ValueGoals(goals) => Sampler::Goal(GcSampler::value_based(data, goals)?),
            DataSpec::Transitions => {
                // The imitation tasks have no rewards; only BC, which ignores them, runs there.
                let (r, m) = if task.is_imitation() { (vec![0.0; data.len()], vec![1.0; data.len()]) } else { envs::singletask_rewards(task, &data)? };
                Sampler::Plain(TransitionSampler::new(data)?.with_rewards(r, m)?)
            }
            DataSpec::Chunks { obs_history, action_chunk, .. } => {
                // A window longer than every episode would be all padding (the first observation
                // or the last action repeated): refuse it rather than train on it.
                let longest = longest_episode(&data);
                for (field, len) in [("obs_history", obs_history), ("action_chunk", action_chunk)] {
                    if len > longest {
                        return Err(RlError::Config {
                            agent: "data".into(),
                            reason: format!("`{field}` = {len} is longer than every episode of {}'s dataset (the longest has {longest} transitions)", task.name()),
                        });
                    }
                }
                Sampler::Chunks(TransitionSampler::new(data)?, obs_history, action_chunk)
            }
            DataSpec::Online(_) => {
                return Err(RlError::Config {
                    agent: "data".into(),
                    reason: format!("an online agent collects its own data; train it with rl::train_online on an online maze, not on {}'s dataset", task.name()),
                })
            }
        })
    }
}

/// The most transitions in one episode of `data` (rows up to and excluding its terminal row).
fn longest_episode(data: &Dataset) -> usize {
    let (mut longest, mut run) = (0, 0);
    for &t in &data.terminals {
        if t != 0.0 {
            longest = longest.max(run);
            run = 0;
        } else {
            run += 1;
        }
    }
    longest.max(run)
}

/// A checkpoint's tensors, step and best score (without loading them into an agent).
pub(crate) fn read_checkpoint(path: &Path) -> Result<(HashMap<String, Tensor>, u64, f64)> {
    let map = candle_core::safetensors::load(path, &Device::Cpu).map_err(|e| RlError::Checkpoint { path: path.into(), reason: format!("not a readable safetensors file ({e})") })?;
    let step = map.get(STEP_KEY).ok_or_else(|| RlError::Checkpoint { path: path.into(), reason: format!("`{STEP_KEY}` missing") })?.to_vec1::<i64>()?[0] as u64;
    let best = map.get(BEST_KEY).map(|t| t.to_vec1::<f64>()).transpose()?.map(|v| v[0]).unwrap_or(f64::NEG_INFINITY);
    Ok((map, step, best))
}

/// One run's bookkeeping in its directory: the metrics file, the loss averages since the last
/// evaluation, the best score and the checkpoints. A solo run has one; a member ensemble one per
/// member, so each member's directory is exactly what its solo run writes.
pub(crate) struct RunLog {
    cfg: TrainConfig,
    last: PathBuf,
    best_path: PathBuf,
    csv: MetricsCsv,
    best: f64,
    sums: Vec<(String, f64)>,
    count: usize,
    pub(crate) last_eval: Option<EvalReport>,
    have_checkpoint: bool,
    pub(crate) start: u64,
}

impl RunLog {
    /// Opens `dir` (created if needed) for a run with `cfg`; returns the log and the resumed
    /// checkpoint's tensors, if `dir/last.safetensors` exists.
    pub(crate) fn open(dir: &Path, cfg: &TrainConfig) -> Result<(Self, Option<HashMap<String, Tensor>>)> {
        std::fs::create_dir_all(dir).map_err(|e| RlError::io(dir, e))?;
        let last = dir.join(LAST_CHECKPOINT);
        let (state, start, best) = if last.exists() {
            let (map, step, best) = read_checkpoint(&last)?;
            (Some(map), step, best)
        } else {
            (None, 0, f64::NEG_INFINITY)
        };
        let csv = MetricsCsv::open(dir.join(METRICS_FILE), start)?;
        let have_checkpoint = last.exists();
        let log = Self { cfg: cfg.clone(), best_path: dir.join(BEST_CHECKPOINT), last, csv, best, sums: Vec::new(), count: 0, last_eval: None, have_checkpoint, start };
        Ok((log, state))
    }

    /// The error of a non-finite loss at `step` (0-based), with the step and last checkpoint filled in.
    pub(crate) fn fill(&self, e: RlError, step: u64) -> RlError {
        match e {
            RlError::NonFinite { term, value, .. } => RlError::NonFinite { step: step + 1, term, value, last_checkpoint: self.have_checkpoint.then(|| self.last.clone()) },
            other => other,
        }
    }

    pub(crate) fn record(&mut self, metrics: &Metrics) {
        for (k, v) in metrics {
            match self.sums.iter_mut().find(|(n, _)| n == k) {
                Some((_, s)) => *s += v,
                None => self.sums.push((k.clone(), *v)),
            }
        }
        self.count += 1;
    }

    /// Whether step `done` (1-based) ends with an evaluation.
    pub(crate) fn evaluates_at(&self, done: u64) -> bool {
        done.is_multiple_of(self.cfg.eval_every) || done == self.cfg.steps
    }

    /// Evaluates `agent` after step `done`, appends the row, and writes the checkpoints.
    pub(crate) fn evaluate(&mut self, agent: &dyn Agent, task: &Task, done: u64, steps_per_second: f64) -> Result<()> {
        self.evaluate_with(agent, task, done, steps_per_second, |_| Vec::new(), &[])
    }

    /// [`RunLog::evaluate`] with more columns (computed from the report) and more tensors in
    /// the last checkpoint (an online run's buffer and environments; not in the best one, which
    /// is a policy).
    pub(crate) fn evaluate_with(
        &mut self,
        agent: &dyn Agent,
        task: &Task,
        done: u64,
        steps_per_second: f64,
        extra_cols: impl FnOnce(&EvalReport) -> Vec<(String, String)>,
        extra_state: &[(String, Tensor)],
    ) -> Result<()> {
        let report = evaluate(agent, task, self.cfg.eval_episodes, mix(&[self.cfg.seed, done, 0xE7A1]))?;
        let mut cols = vec![
            ("step".to_string(), done.to_string()),
            ("eval/success".into(), format!("{:.4}", report.success)),
            ("eval/return".into(), format!("{:.3}", report.ret)),
            ("eval/score".into(), format!("{:.4}", report.score)),
            ("eval/score_final".into(), format!("{:.4}", report.score_final)),
        ];
        for t in &report.tasks {
            cols.push((format!("eval/{}/success", t.task), format!("{:.4}", t.success)));
            cols.push((format!("eval/{}/return", t.task), format!("{:.3}", t.ret)));
        }
        for (k, s) in &self.sums {
            cols.push((format!("train/{k}"), format!("{:.6}", s / self.count as f64)));
        }
        cols.extend(extra_cols(&report));
        cols.push(("time/steps_per_s".into(), format!("{steps_per_second:.2}")));
        self.csv.push(cols)?;
        if report.score > self.best {
            self.best = report.score;
            save_checkpoint(agent, &self.best_path, done, self.best, &[])?;
        }
        save_checkpoint(agent, &self.last, done, self.best, extra_state)?;
        self.have_checkpoint = true;
        self.sums.clear();
        self.count = 0;
        self.last_eval = Some(report);
        Ok(())
    }

    /// The run's summary (evaluating once more if it resumed after its last evaluation).
    pub(crate) fn finish(self, agent: &dyn Agent, task: &Task, elapsed: f64) -> Result<TrainSummary> {
        let final_eval = match self.last_eval {
            Some(r) => r,
            // Resumed after the last evaluation had already been written: evaluate once more.
            None => evaluate(agent, task, self.cfg.eval_episodes, mix(&[self.cfg.seed, self.cfg.steps, 0xE7A1]))?,
        };
        Ok(TrainSummary { final_eval, best_score: self.best, resumed_from: self.start, steps_per_second: (self.cfg.steps - self.start) as f64 / elapsed.max(1e-9) })
    }
}

/// Trains `agent` on `task` from `data`, writing into `dir` (created if needed). If
/// `dir/last.safetensors` exists the run resumes from it. On a task whose data is scaled
/// ([`envs::Scaling::MinMax`]) the agent trains on the scaled data and is evaluated and saved
/// behind its normaliser ([`Normalized`]), so it acts in the environment's units.
pub fn train(agent: &mut dyn Agent, task: &Task, data: Dataset, cfg: &TrainConfig, dir: &Path, progress: &mut dyn FnMut(Progress<'_>)) -> Result<TrainSummary> {
    match scale_for(task, data)? {
        (None, data) => train_on(agent, task, data, cfg, dir, progress),
        (Some(norm), data) => train_on(&mut Normalized::new(agent, norm), task, data, cfg, dir, progress),
    }
}

fn train_on(agent: &mut dyn Agent, task: &Task, data: Dataset, cfg: &TrainConfig, dir: &Path, progress: &mut dyn FnMut(Progress<'_>)) -> Result<TrainSummary> {
    let sampler = Sampler::new(agent.data_spec(), task, data)?;
    let (mut log, state) = RunLog::open(dir, cfg)?;
    if let Some(state) = state {
        check_raw(task, &state, &dir.join(LAST_CHECKPOINT))?;
        agent.load_state(&state).map_err(|e| RlError::Checkpoint { path: dir.join(LAST_CHECKPOINT), reason: e.to_string() })?;
    }
    let mut batch = Batch::default();
    let t0 = Instant::now();
    let mut window = Instant::now();
    let mut window_steps = 0u64;
    for step in log.start..cfg.steps {
        let mut rng = ChaCha8Rng::seed_from_u64(mix(&[cfg.seed, step]));
        sampler.sample_into(cfg.batch_size, &mut rng, &mut batch);
        let metrics = agent.update(&batch, &mut rng).map_err(|e| log.fill(e, step))?;
        log.record(&metrics);
        window_steps += 1;
        let done = step + 1;
        if log.evaluates_at(done) {
            let sps = window_steps as f64 / window.elapsed().as_secs_f64().max(1e-9);
            log.evaluate(agent, task, done, sps)?;
            window = Instant::now();
            window_steps = 0;
        }
        progress(Progress { step: done, total: cfg.steps, metrics: &metrics, last_eval: log.last_eval.as_ref() });
    }
    log.finish(agent, task, t0.elapsed().as_secs_f64())
}

/// Trains a member ensemble: member e is the run with `cfgs[e]` (its seed) in `dirs[e]`, and
/// writes there exactly what that solo run writes: the same batches and noise (drawn from its
/// own seed's streams), metrics, evaluations and checkpoints (in the solo agent's format, so a
/// member's run resumes solo or in another ensemble alike). `solo` is a scratch agent of the
/// same config that member states are loaded into to be evaluated and saved.
///
/// All members must resume from the same step. A member whose loss goes non-finite fails with
/// the usual error (step, term, checkpoint) and is left out of the steps after; the others go on.
/// Returns each member's outcome.
pub fn train_members(
    ens: &mut dyn Members,
    solo: &mut dyn Agent,
    task: &Task,
    data: Dataset,
    cfgs: &[TrainConfig],
    dirs: &[PathBuf],
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Vec<Result<TrainSummary>>> {
    match scale_for(task, data)? {
        (None, data) => train_members_on(ens, solo, task, data, cfgs, dirs, progress),
        (Some(norm), data) => train_members_on(ens, &mut Normalized::new(solo, norm), task, data, cfgs, dirs, progress),
    }
}

fn train_members_on(
    ens: &mut dyn Members,
    solo: &mut dyn Agent,
    task: &Task,
    data: Dataset,
    cfgs: &[TrainConfig],
    dirs: &[PathBuf],
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Vec<Result<TrainSummary>>> {
    let n = ens.count();
    if cfgs.len() != n || dirs.len() != n {
        return Err(RlError::Config { agent: solo.name().into(), reason: format!("an ensemble of {n} members got {} configs and {} run directories", cfgs.len(), dirs.len()) });
    }
    let same = |a: &TrainConfig, b: &TrainConfig| TrainConfig { seed: 0, ..a.clone() } == TrainConfig { seed: 0, ..b.clone() };
    if let Some(c) = cfgs.iter().find(|c| !same(c, &cfgs[0])) {
        return Err(RlError::Config { agent: solo.name().into(), reason: format!("ensemble members differ in more than the seed: {c:?} vs {:?}", cfgs[0]) });
    }
    let cfg = &cfgs[0];
    let sampler = Sampler::new(ens.data_spec(), task, data)?;
    let mut logs = Vec::with_capacity(n);
    for (e, (dir, c)) in dirs.iter().zip(cfgs).enumerate() {
        let (log, state) = RunLog::open(dir, c)?;
        if let Some(state) = state {
            check_raw(task, &state, &dir.join(LAST_CHECKPOINT))?;
            solo.load_state(&state).map_err(|err| RlError::Checkpoint { path: dir.join(LAST_CHECKPOINT), reason: err.to_string() })?;
            ens.load_member_state(e, &state).map_err(|err| RlError::Checkpoint { path: dir.join(LAST_CHECKPOINT), reason: err.to_string() })?;
        }
        logs.push(log);
    }
    let start = logs[0].start;
    if let Some((e, log)) = logs.iter().enumerate().find(|(_, l)| l.start != start) {
        return Err(RlError::Config {
            agent: solo.name().into(),
            reason: format!("member {e} ({}) resumes at step {}, member 0 at {start}; an ensemble's members must be at the same step", dirs[e].display(), log.start),
        });
    }
    let mut outcome: Vec<Option<RlError>> = (0..n).map(|_| None).collect();
    let mut batches: Vec<Batch> = (0..n).map(|_| Batch::default()).collect();
    let t0 = Instant::now();
    let mut window = Instant::now();
    let mut window_steps = 0u64;
    for step in start..cfg.steps {
        let live: Vec<bool> = outcome.iter().map(Option::is_none).collect();
        if !live.contains(&true) {
            break;
        }
        let mut rngs: Vec<ChaCha8Rng> = cfgs.iter().map(|c| ChaCha8Rng::seed_from_u64(mix(&[c.seed, step]))).collect();
        for ((batch, rng), alive) in batches.iter_mut().zip(rngs.iter_mut()).zip(&live) {
            if *alive {
                sampler.sample_into(cfg.batch_size, rng, batch);
            }
        }
        let results = ens.update(&batches, &mut rngs, &live)?;
        let mut shown = Vec::new();
        for (e, r) in results.into_iter().enumerate() {
            match r {
                Some(Ok(metrics)) => {
                    logs[e].record(&metrics);
                    if shown.is_empty() {
                        shown = metrics;
                    }
                }
                Some(Err(err)) => outcome[e] = Some(logs[e].fill(err, step)),
                None => {}
            }
        }
        window_steps += 1;
        let done = step + 1;
        let mut last_eval = None;
        if logs[0].evaluates_at(done) {
            let sps = window_steps as f64 / window.elapsed().as_secs_f64().max(1e-9);
            for e in (0..n).filter(|&e| outcome[e].is_none()) {
                load_member(ens, solo, e)?;
                logs[e].evaluate(solo, task, done, sps)?;
            }
            last_eval = logs.iter().zip(&outcome).find(|(_, o)| o.is_none()).and_then(|(l, _)| l.last_eval.clone());
            window = Instant::now();
            window_steps = 0;
        }
        progress(Progress { step: done, total: cfg.steps, metrics: &shown, last_eval: last_eval.as_ref() });
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let mut out = Vec::with_capacity(n);
    for (e, (log, failed)) in logs.into_iter().zip(outcome).enumerate() {
        out.push(match failed {
            Some(err) => Err(err),
            None => {
                load_member(ens, solo, e)?;
                log.finish(solo, task, elapsed)
            }
        });
    }
    Ok(out)
}

/// Loads member e's state into a solo agent of the same config (to evaluate, save or time it).
pub fn load_member(ens: &dyn Members, solo: &mut dyn Agent, e: usize) -> Result<()> {
    let state: HashMap<String, Tensor> = ens.member_state(e)?.into_iter().collect();
    solo.load_state(&state)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chunk or history longer than every episode is refused, naming the field and the
    /// longest episode; one that fits is taken.
    #[test]
    fn a_window_longer_than_every_episode_is_refused() {
        let task = Task::resolve("blockpush2").unwrap();
        let mut ds = Dataset::new(6, 2, 0, 0, 0);
        // Two episodes of 4 and 6 rows: 3 and 5 transitions.
        ds.terminals = [vec![0.0, 0.0, 0.0, 1.0], vec![0.0, 0.0, 0.0, 0.0, 0.0, 1.0]].concat();
        ds.observations = vec![0.0; 10 * 6];
        ds.actions = vec![0.0; 10 * 2];
        assert_eq!(longest_episode(&ds), 5);
        let chunks = |h, k| DataSpec::Chunks { obs_history: h, action_chunk: k, execute: 1 };
        assert!(Sampler::new(chunks(2, 5), &task, ds.clone()).is_ok());
        let e = Sampler::new(chunks(2, 8), &task, ds.clone()).err().unwrap().to_string();
        assert!(e.contains("`action_chunk` = 8") && e.contains("longest has 5"), "{e}");
        let e = Sampler::new(chunks(9, 2), &task, ds).err().unwrap().to_string();
        assert!(e.contains("`obs_history` = 9"), "{e}");
    }

    /// The file keeps the bytes the hand-written writer produced (so older files and tools read
    /// it), and resuming at a step drops exactly the rows after it.
    #[test]
    fn metrics_csv_keeps_its_format_and_truncates_on_resume() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(METRICS_FILE);
        let row = |step: u64, s: &str| vec![("step".to_string(), step.to_string()), ("eval/success".into(), s.into()), ("train/loss".into(), "0.125000".into())];
        let mut m = MetricsCsv::open(path.clone(), 0).unwrap();
        for (k, s) in [(100, "0.5000"), (200, "0.7500"), (300, "1.0000")] {
            m.push(row(k, s)).unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "step,eval/success,train/loss\n100,0.5000,0.125000\n200,0.7500,0.125000\n300,1.0000,0.125000\n");
        // A later row with a column the header lacks drops it; one it misses is left empty.
        let mut m = MetricsCsv::open(path.clone(), 200).unwrap();
        m.push(vec![("step".into(), "300".into()), ("eval/success".into(), "0.2500".into()), ("extra".into(), "9".into())]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "step,eval/success,train/loss\n100,0.5000,0.125000\n200,0.7500,0.125000\n300,0.2500,\n");
        let back = MetricsCsv::read(&path).unwrap();
        assert_eq!(back.series("step", "eval/success").unwrap(), vec![(100.0, 0.5), (200.0, 0.75), (300.0, 0.25)]);
        assert!(back.series("step", "eval/score_final").is_none());
        // Only the run directory's files exist: no temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
