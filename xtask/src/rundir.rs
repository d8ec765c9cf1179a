//! The run directory: the one place that knows its file names and formats.
//!
//! - `config.toml` ([`RunConfig`]): the resolved run (agent, task, seed, `[train]`, `[agent]` with
//!   every default filled in); a resumed run must match it.
//! - `status` ([`RunStatus`]): `running`, `done` or `failed: <reason>`.
//! - `metrics.csv`: one row per evaluation, written by `rl::train` ([`rl::train::MetricsCsv`]).
//! - `last.safetensors`, `best.safetensors`: checkpoints, written by `rl::train`.
//! - `log.txt`: a bench worker's output.
//! - `final.toml` ([`RunFinal`]): the result; its presence marks the run done.
//! - `diverged.toml` ([`Diverged`]): a run whose loss went non-finite: the step and the term.
//!   Training is deterministic, so a rerun would diverge at the same step: `bench` counts the run
//!   as settled (a result the tables show, like σ = 0 in the study's Table 9) and does not rerun
//!   it; delete the directory to run it again.
//!
//! Each TOML file is one serde type that both writes and reads it, so the writer and the readers
//! cannot drift apart. Files written by earlier versions still read: see [`RunFinal`] and
//! [`RunDir::read_config`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

pub const CONFIG_FILE: &str = "config.toml";
pub const FINAL_FILE: &str = "final.toml";
pub const STATUS_FILE: &str = "status";
pub const LOG_FILE: &str = "log.txt";
pub const DIVERGED_FILE: &str = "diverged.toml";

/// How many of a run's last evaluations [`RunFinal::success_last3`] averages: OGBench and FQL
/// report the mean of the last three (at 800K, 900K and 1M of their 1M steps).
pub const LAST_EVALS: usize = 3;

/// The first line of `config.toml`, for a person who opens it.
const CONFIG_HEADER: &str = "# resolved by `cargo xtask`; a resumed run must match it\n";

/// A run directory (`results/runs/SUITE/SETTING/TASK/AGENT/seedS`, or `train --out`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn create(&self) -> Result<()> {
        std::fs::create_dir_all(&self.path).with_context(|| format!("creating {}", self.path.display()))
    }

    pub fn config_path(&self) -> PathBuf {
        self.path.join(CONFIG_FILE)
    }

    pub fn final_path(&self) -> PathBuf {
        self.path.join(FINAL_FILE)
    }

    pub fn status_path(&self) -> PathBuf {
        self.path.join(STATUS_FILE)
    }

    pub fn metrics_path(&self) -> PathBuf {
        self.path.join(rl::METRICS_FILE)
    }

    pub fn log_path(&self) -> PathBuf {
        self.path.join(LOG_FILE)
    }

    pub fn last_checkpoint(&self) -> PathBuf {
        self.path.join(rl::LAST_CHECKPOINT)
    }

    /// A finished run: `final.toml` is written last, so its presence means done.
    pub fn is_done(&self) -> bool {
        self.final_path().exists()
    }

    /// A run that has written a checkpoint, and so resumes from it.
    pub fn has_checkpoint(&self) -> bool {
        self.last_checkpoint().exists()
    }

    /// `log.txt`, created (or emptied) for a worker's output.
    pub fn create_log(&self) -> Result<std::fs::File> {
        let p = self.log_path();
        std::fs::File::create(&p).with_context(|| format!("creating {}", p.display()))
    }

    /// The resolved config, or `None` when the run has not written one.
    ///
    /// Versions before the typed config wrote the agent's nested tables (e.g. `[goals]`) after
    /// `[agent]` without its prefix, so they landed at the top level; they are moved back under
    /// `agent` here, which makes such a directory compare equal to the same run written today.
    pub fn read_config(&self) -> Result<Option<RunConfig>> {
        let path = self.config_path();
        let Some(text) = read_optional(&path)? else { return Ok(None) };
        let mut table: toml::Table = text.parse().with_context(|| format!("{}: not valid TOML", path.display()))?;
        let stray: Vec<String> = table.keys().filter(|k| !RunConfig::KEYS.contains(&k.as_str())).cloned().collect();
        for key in stray {
            let value = table.remove(&key).expect("listed above");
            if !value.is_table() {
                bail!("{}: unknown key `{key}` (expected {})", path.display(), RunConfig::KEYS.join(", "));
            }
            match table.entry("agent").or_insert_with(|| toml::Value::Table(toml::Table::new())) {
                toml::Value::Table(agent) => agent.insert(key, value),
                _ => bail!("{}: `agent` must be a table", path.display()),
            };
        }
        let cfg = RunConfig::deserialize(table).with_context(|| format!("{}: not a run config; delete the run directory to start the run afresh", path.display()))?;
        Ok(Some(cfg))
    }

    pub fn write_config(&self, cfg: &RunConfig) -> Result<()> {
        let text = toml::to_string(cfg).context("serialising the run config")?;
        write_atomic(&self.config_path(), &format!("{CONFIG_HEADER}{text}"))
    }

    /// The run's result, or `None` when it has not finished.
    pub fn read_final(&self) -> Result<Option<RunFinal>> {
        let path = self.final_path();
        let Some(text) = read_optional(&path)? else { return Ok(None) };
        let fin = toml::from_str(&text).with_context(|| format!("{}: not a run result; delete it (and `{STATUS_FILE}`) to run the run again with `cargo xtask bench`", path.display()))?;
        Ok(Some(fin))
    }

    pub fn write_final(&self, fin: &RunFinal) -> Result<()> {
        write_atomic(&self.final_path(), &toml::to_string(fin).context("serialising the run result")?)
    }

    /// The mean of `column` over the last [`LAST_EVALS`] rows of `metrics.csv` that hold a number
    /// there (over all of them when there are fewer); `None` without the file, the column or a
    /// number in it. `metrics.csv` has one row per evaluation across resumes, so this is the run's
    /// last evaluations whichever process wrote them.
    pub fn mean_of_last_evals(&self, column: &str) -> Result<Option<f64>> {
        Ok(mean_of_last_evals(&self.read_metrics()?, column))
    }

    /// The run's `metrics.csv`, read once for callers that take several columns from it.
    pub fn read_metrics(&self) -> Result<rl::train::MetricsCsv> {
        rl::train::MetricsCsv::read(self.metrics_path()).with_context(|| format!("reading {}", self.metrics_path().display()))
    }

    /// `column` at the last evaluation of `metrics.csv`; `None` without the file, the column or
    /// a number in it.
    pub fn last_eval(&self, column: &str) -> Result<Option<f64>> {
        let m = self.read_metrics()?;
        Ok(m.series("step", column).and_then(|s| s.last().map(|&(_, v)| v)))
    }

    /// The recorded status, or `None` when the run never started.
    pub fn read_status(&self) -> Result<Option<RunStatus>> {
        let path = self.status_path();
        let Some(text) = read_optional(&path)? else { return Ok(None) };
        text.parse().map(Some).with_context(|| format!("{}", path.display()))
    }

    pub fn write_status(&self, status: &RunStatus) -> Result<()> {
        write_atomic(&self.status_path(), &format!("{status}\n"))
    }

    pub fn diverged_path(&self) -> PathBuf {
        self.path.join(DIVERGED_FILE)
    }

    pub fn read_diverged(&self) -> Result<Option<Diverged>> {
        let path = self.diverged_path();
        let Some(text) = read_optional(&path)? else { return Ok(None) };
        toml::from_str(&text).map(Some).with_context(|| format!("{}: not a divergence record; delete the run directory to run it again", path.display()))
    }

    pub fn write_diverged(&self, d: &Diverged) -> Result<()> {
        write_atomic(&self.diverged_path(), &toml::to_string(d).context("serialising the divergence record")?)
    }

    /// Stopped by a non-finite loss, without a result.
    pub fn is_diverged(&self) -> bool {
        !self.is_done() && self.diverged_path().exists()
    }

    /// Finished, or diverged (a deterministic outcome, so not rerun).
    pub fn is_settled(&self) -> bool {
        self.is_done() || self.is_diverged()
    }

    /// Records `err`'s divergence if it is one (a loss term went NaN or infinite), and says so.
    pub fn record_if_diverged(&self, err: &anyhow::Error) -> Result<bool> {
        match err.chain().find_map(|e| e.downcast_ref::<rl::RlError>()) {
            Some(rl::RlError::NonFinite { step, term, value, .. }) => {
                self.write_diverged(&Diverged { step: *step, term: term.clone(), value: *value })?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

/// `diverged.toml`: the step at which a loss term went non-finite, the term and its value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Diverged {
    pub step: u64,
    pub term: String,
    pub value: f64,
}

impl Diverged {
    /// `step 812, `nll` = NaN`: where and how, for a table cell.
    pub fn at(&self) -> String {
        format!("step {}, `{}` = {}", self.step, self.term, self.value)
    }
}

impl fmt::Display for Diverged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "diverged at {}", self.at())
    }
}

/// The file's text, or `None` when it does not exist.
fn read_optional(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes `text` to `path` atomically: a fresh temporary file in the same directory (named, and
/// removed on error, by `tempfile`), renamed over `path`. Not synced: a run's durable state is its
/// checkpoint, which `rl` syncs; these files are rewritten on resume.
pub fn write_atomic(path: &Path, text: &str) -> Result<()> {
    write_atomic_bytes(path, text.as_bytes())
}

/// [`write_atomic`] for bytes that are not text (the tables' Parquet copies).
pub fn write_atomic_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut builder = tempfile::Builder::new();
    // tempfile's default is 0600; results get the usual 0666 & umask.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut tmp = builder.tempfile_in(dir).with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    tmp.write_all(bytes).with_context(|| format!("writing {}", tmp.path().display()))?;
    tmp.persist(path).with_context(|| format!("renaming onto {}", path.display()))?;
    Ok(())
}

/// `config.toml`: everything that makes a run what it is. The device is not part of it (a run
/// may resume on another device). No field has a default: a record without one is not a record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// The agent's registry name.
    pub agent_name: String,
    pub task: String,
    pub seed: u64,
    pub train: rl::TrainConfig,
    /// The agent's config with every default filled in, as its config type serialises it.
    pub agent: toml::Table,
}

impl RunConfig {
    const KEYS: [&str; 5] = ["agent_name", "task", "seed", "train", "agent"];
}

/// `final.toml`: the run's result.
///
/// Older versions wrote `best_success` where this has `best_score` (the same number for the
/// goal-conditioned tasks they ran) and no `score` / `score_final`; those files still read, with
/// the scores `None`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunFinal {
    pub agent: String,
    pub task: String,
    pub seed: u64,
    pub steps: u64,
    /// Final evaluation, mean over evaluation tasks: success rate 0–1.
    pub success: f64,
    #[serde(rename = "return")]
    pub ret: f64,
    /// The best evaluation's mean score (the best checkpoint's).
    #[serde(alias = "best_success")]
    pub best_score: f64,
    /// Final evaluation's mean of each episode's best score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// Final evaluation's mean of each episode's final score (the imitation tasks' table metric).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_final: Option<f64>,
    /// `success` averaged over the last [`LAST_EVALS`] evaluations (all of them when there are
    /// fewer): the number OGBench and FQL report, less noisy than one final evaluation. From
    /// `metrics.csv`, so with its rounding (4 decimals). `None` in records written before it
    /// existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_last3: Option<f64>,
    /// `score_final` averaged over the same last evaluations as `success_last3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_final_last3: Option<f64>,
    /// Training speed, evaluation included.
    pub steps_per_second: f64,
    /// Median batch-1 action time.
    pub action_latency_us: f64,
    /// The study's row this task stands in for.
    pub stands_in_for: String,
    /// Final evaluation per evaluation task (`task1` … `task5`, or `easy` / `hard`).
    #[serde(default)]
    pub tasks: BTreeMap<String, TaskFinal>,
    /// Online runs: the share of the maze's free cells visited while training, 0–1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<f64>,
}

impl RunFinal {
    /// The number a table shows for this run: success in % for goal-conditioned tasks; for
    /// imitation tasks the study's score (mean over episodes of the score at the episode's end:
    /// PushT's final coverage 0–1, or the count of goals, blocks or sub-tasks).
    pub fn metric(&self, task: &envs::Task) -> f64 {
        if task.is_imitation() {
            self.score_final.unwrap_or(self.success)
        } else {
            100.0 * self.success
        }
    }

    /// [`metric`](Self::metric) averaged over the last [`LAST_EVALS`] evaluations, the statistic
    /// the references report; `None` for a record written before it existed, which a table shows
    /// as missing rather than as 0.
    pub fn metric_last3(&self, task: &envs::Task) -> Option<f64> {
        if task.is_imitation() {
            self.score_final_last3
        } else {
            self.success_last3.map(|s| 100.0 * s)
        }
    }
}

/// One evaluation task's final result in `final.toml` (`[tasks.NAME]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskFinal {
    pub success: f64,
    #[serde(rename = "return")]
    pub ret: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_final: Option<f64>,
    /// Share of each episode's steps spent at the goal (JaxGCRL's time at goal; online mazes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_goal: Option<f64>,
}

/// `status`: where a run stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunStatus {
    Running,
    Done,
    Failed(String),
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunStatus::Running => f.write_str("running"),
            RunStatus::Done => f.write_str("done"),
            RunStatus::Failed(reason) => write!(f, "failed: {reason}"),
        }
    }
}

impl FromStr for RunStatus {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        Ok(match s {
            "running" => RunStatus::Running,
            "done" => RunStatus::Done,
            _ => match s.strip_prefix("failed") {
                Some(reason) => RunStatus::Failed(reason.strip_prefix(':').unwrap_or(reason).trim().to_string()),
                None => bail!("status `{s}`: expected `running`, `done` or `failed: <reason>`"),
            },
        })
    }
}

/// The mean of `column` over the last [`LAST_EVALS`] evaluations in `m`; `None` without the
/// column or a number in it.
pub fn mean_of_last_evals(m: &rl::train::MetricsCsv, column: &str) -> Option<f64> {
    let series = m.series("step", column)?;
    let last = &series[series.len().saturating_sub(LAST_EVALS)..];
    (!last.is_empty()).then(|| last.iter().map(|(_, v)| v).sum::<f64>() / last.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> RunDir {
        let d = std::env::temp_dir().join(format!("nf-rl-rundir-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let r = RunDir::new(d);
        r.create().unwrap();
        r
    }

    /// A non-finite loss, however deep in the error's context, is recorded with its step, term and
    /// value, and settles the run; any other error records nothing.
    #[test]
    fn a_divergence_is_recorded_and_settles_the_run() {
        let d = dir("diverged");
        let other = anyhow::anyhow!("disk full");
        assert!(!d.record_if_diverged(&other).unwrap() && !d.is_settled());
        let nan = anyhow::Error::from(rl::RlError::NonFinite { step: 812, term: "nll".into(), value: f64::NAN, last_checkpoint: None }).context("training nf-bc on pusht");
        assert!(d.record_if_diverged(&nan).unwrap());
        assert!(d.is_settled() && !d.is_done());
        let back = d.read_diverged().unwrap().unwrap();
        assert_eq!((back.step, back.term.as_str()), (812, "nll"));
        assert!(back.value.is_nan());
        assert_eq!(back.to_string(), "diverged at step 812, `nll` = NaN");
        std::fs::write(d.diverged_path(), "step = \"x\"\n").unwrap();
        assert!(format!("{:#}", d.read_diverged().unwrap_err()).contains(DIVERGED_FILE));
    }

    /// A `final.toml` as the code before scores existed wrote it (`format!`, `best_success`, no
    /// `score`, integral numbers without a decimal point) still reads.
    #[test]
    fn an_old_final_toml_still_reads() {
        let d = dir("old-final");
        std::fs::write(
            d.final_path(),
            "agent = \"gcbc\"\ntask = \"pointmaze-medium-navigate\"\nseed = 0\nsteps = 1500\nsuccess = 1\nreturn = -12.5\nbest_success = 0.8\nsteps_per_second = 210.123\naction_latency_us = 95.0\nstands_in_for = \"pointmaze-medium-navigate (row 1)\"\n\n[tasks.task1]\nsuccess = 1\nreturn = -10\n",
        )
        .unwrap();
        let f = d.read_final().unwrap().unwrap();
        assert_eq!((f.success, f.ret, f.best_score, f.score, f.score_final), (1.0, -12.5, 0.8, None, None));
        assert_eq!(f.tasks["task1"], TaskFinal { success: 1.0, ret: -10.0, score: None, score_final: None, at_goal: None });
        let task = envs::Task::resolve("pointmaze-medium-navigate").unwrap();
        assert_eq!(f.metric(&task), 100.0);
        // No last-three means: the tables show the run as missing there, not as 0.
        assert_eq!((f.success_last3, f.score_final_last3, f.metric_last3(&task)), (None, None, None));
        // Written back by today's type, it reads as the same record.
        d.write_final(&f).unwrap();
        assert_eq!(d.read_final().unwrap().unwrap(), f);
        // A broken one names the file and says what to do.
        std::fs::write(d.final_path(), "success = \"high\"\n").unwrap();
        let err = format!("{:#}", d.read_final().unwrap_err());
        assert!(err.contains(FINAL_FILE) && err.contains("delete it"), "{err}");
    }

    /// An old `config.toml` (its agent's nested tables at the top level) reads as the same typed
    /// config a run writes today, so resuming such a directory is not refused.
    #[test]
    fn an_old_config_toml_compares_equal_to_todays() {
        let d = dir("old-config");
        let train = rl::TrainConfig { steps: 1500, ..Default::default() };
        let agent: toml::Table = "hidden = [256, 256]\nlr = 0.001\n\n[goals]\np_curgoal = 0.0\ngamma = 0.9700000286102295\n".parse().unwrap();
        let cfg = RunConfig { agent_name: "gcbc".into(), task: "pointmaze-medium-navigate".into(), seed: 1, train: train.clone(), agent };
        let old = format!(
            "{CONFIG_HEADER}agent_name = \"gcbc\"\ntask = \"pointmaze-medium-navigate\"\nseed = 1\n\n[train]\n{}\n[agent]\nhidden = [256, 256]\nlr = 0.001\n\n[goals]\np_curgoal = 0.0\ngamma = 0.9700000286102295\n",
            toml::to_string(&train).unwrap()
        );
        std::fs::write(d.config_path(), old).unwrap();
        assert_eq!(d.read_config().unwrap().unwrap(), cfg);
        d.write_config(&cfg).unwrap();
        let text = std::fs::read_to_string(d.config_path()).unwrap();
        assert!(text.starts_with(CONFIG_HEADER) && text.contains("[agent.goals]"), "{text}");
        assert_eq!(d.read_config().unwrap().unwrap(), cfg);
        let mut other = cfg.clone();
        other.agent.insert("lr".into(), toml::Value::Float(0.01));
        assert_ne!(d.read_config().unwrap().unwrap(), other);
        // A top-level key that is not a table is not the old agent layout: named, with the valid keys.
        std::fs::write(d.config_path(), "agent_name = \"gcbc\"\ncolour = 3\n").unwrap();
        let err = format!("{:#}", d.read_config().unwrap_err());
        assert!(err.contains("colour") && err.contains("agent_name, task, seed, train, agent"), "{err}");
    }

    #[test]
    fn status_round_trips_and_rejects_other_text() {
        let d = dir("status");
        assert_eq!(d.read_status().unwrap(), None);
        for s in [RunStatus::Running, RunStatus::Done, RunStatus::Failed("gamma must be < 1: [agent] gamma = 1".into())] {
            d.write_status(&s).unwrap();
            assert_eq!(d.read_status().unwrap(), Some(s));
        }
        assert_eq!(std::fs::read_to_string(d.status_path()).unwrap(), "failed: gamma must be < 1: [agent] gamma = 1\n");
        std::fs::write(d.status_path(), "paused\n").unwrap();
        let err = format!("{:#}", d.read_status().unwrap_err());
        assert!(err.contains(STATUS_FILE) && err.contains("`running`, `done` or `failed: <reason>`"), "{err}");
    }
}
