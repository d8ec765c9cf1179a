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

use crate::agent::{Agent, DataSpec};
use crate::error::{Result, RlError};
use crate::eval::{evaluate, EvalReport};
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

fn save_checkpoint(agent: &dyn Agent, path: &Path, step: u64, best: f64) -> Result<()> {
    let mut map: HashMap<String, Tensor> = agent.state()?.into_iter().collect();
    map.insert(STEP_KEY.into(), Tensor::new(&[step as i64], &Device::Cpu)?);
    map.insert(BEST_KEY.into(), Tensor::new(&[best], &Device::Cpu)?);
    let tmp = path.with_extension("tmp");
    candle_core::safetensors::save(&map, &tmp).map_err(|e| RlError::Checkpoint { path: path.into(), reason: e.to_string() })?;
    std::fs::rename(&tmp, path).map_err(|e| RlError::io(path, e))
}

/// Loads a checkpoint into `agent`; returns (step, best success so far).
pub fn load_checkpoint(agent: &mut dyn Agent, path: &Path) -> Result<(u64, f64)> {
    let map = candle_core::safetensors::load(path, &Device::Cpu).map_err(|e| RlError::Checkpoint { path: path.into(), reason: format!("not a readable safetensors file ({e})") })?;
    let step = map.get(STEP_KEY).ok_or_else(|| RlError::Checkpoint { path: path.into(), reason: format!("`{STEP_KEY}` missing") })?.to_vec1::<i64>()?[0] as u64;
    let best = map.get(BEST_KEY).map(|t| t.to_vec1::<f64>()).transpose()?.map(|v| v[0]).unwrap_or(f64::NEG_INFINITY);
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

/// Trains `agent` on `task` from `data`, writing into `dir` (created if needed). If
/// `dir/last.safetensors` exists the run resumes from it.
pub fn train(agent: &mut dyn Agent, task: &Task, data: Dataset, cfg: &TrainConfig, dir: &Path, progress: &mut dyn FnMut(Progress<'_>)) -> Result<TrainSummary> {
    std::fs::create_dir_all(dir).map_err(|e| RlError::io(dir, e))?;
    let sampler = match agent.data_spec() {
        DataSpec::GoalConditioned(gc) => Sampler::Goal(GcSampler::new(data, gc)?),
        DataSpec::Transitions => {
            // The imitation tasks have no rewards; only BC, which ignores them, runs there.
            let (r, m) = if task.is_imitation() { (vec![0.0; data.len()], vec![1.0; data.len()]) } else { envs::singletask_rewards(task, &data)? };
            Sampler::Plain(TransitionSampler::new(data)?.with_rewards(r, m)?)
        }
        DataSpec::Chunks { obs_history, action_chunk, .. } => Sampler::Chunks(TransitionSampler::new(data)?, obs_history, action_chunk),
    };
    let last = dir.join(LAST_CHECKPOINT);
    let best_path = dir.join(BEST_CHECKPOINT);
    let (start, mut best) = if last.exists() { load_checkpoint(agent, &last)? } else { (0, f64::NEG_INFINITY) };
    let mut csv = MetricsCsv::open(dir.join(METRICS_FILE), start)?;
    let mut batch = Batch::default();
    // `best` is the best evaluation's score: the success rate for goal-conditioned tasks, the
    // VQ-BeT score for imitation tasks.
    let mut sums: Vec<(String, f64)> = Vec::new();
    let mut count = 0usize;
    let mut last_eval: Option<EvalReport> = None;
    let mut have_checkpoint = last.exists();
    let t0 = Instant::now();
    let mut window = Instant::now();
    let mut window_steps = 0u64;
    for step in start..cfg.steps {
        let mut rng = ChaCha8Rng::seed_from_u64(mix(&[cfg.seed, step]));
        sampler.sample_into(cfg.batch_size, &mut rng, &mut batch);
        let metrics = agent.update(&batch, &mut rng).map_err(|e| match e {
            RlError::NonFinite { term, value, .. } => RlError::NonFinite { step: step + 1, term, value, last_checkpoint: have_checkpoint.then(|| last.clone()) },
            other => other,
        })?;
        for (k, v) in &metrics {
            match sums.iter_mut().find(|(n, _)| n == k) {
                Some((_, s)) => *s += v,
                None => sums.push((k.clone(), *v)),
            }
        }
        count += 1;
        window_steps += 1;
        let done = step + 1;
        if done % cfg.eval_every == 0 || done == cfg.steps {
            let sps = window_steps as f64 / window.elapsed().as_secs_f64().max(1e-9);
            let report = evaluate(agent, task, cfg.eval_episodes, mix(&[cfg.seed, done, 0xE7A1]))?;
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
            for (k, s) in &sums {
                cols.push((format!("train/{k}"), format!("{:.6}", s / count as f64)));
            }
            cols.push(("time/steps_per_s".into(), format!("{sps:.2}")));
            csv.push(cols)?;
            if report.score > best {
                best = report.score;
                save_checkpoint(agent, &best_path, done, best)?;
            }
            save_checkpoint(agent, &last, done, best)?;
            have_checkpoint = true;
            sums.clear();
            count = 0;
            window = Instant::now();
            window_steps = 0;
            last_eval = Some(report);
        }
        progress(Progress { step: done, total: cfg.steps, metrics: &metrics, last_eval: last_eval.as_ref() });
    }
    let final_eval = match last_eval {
        Some(r) => r,
        // Resumed after the last evaluation had already been written: evaluate once more.
        None => evaluate(agent, task, cfg.eval_episodes, mix(&[cfg.seed, cfg.steps, 0xE7A1]))?,
    };
    let elapsed = t0.elapsed().as_secs_f64();
    Ok(TrainSummary { final_eval, best_score: best, resumed_from: start, steps_per_second: (cfg.steps - start) as f64 / elapsed.max(1e-9) })
}

#[cfg(test)]
mod tests {
    use super::*;

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
