//! Load: every run of a suite into one Polars `DataFrame` (one row per run, finished or not),
//! plus the learning curves of the finished ones.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use polars::prelude::*;

use crate::rundir::RunDir;
use crate::suite::Suite;

/// A learning curve: (step, success) or, for imitation tasks, (step, final score / top score).
pub type Curve = Vec<(f64, f64)>;

/// What the later steps work from.
pub struct Records {
    /// One row per run of the suite, in the suite's order: `setting, task, agent, seed, status`,
    /// the numbers of `final.toml` (null for unfinished runs), `stands_in_for`, `dir`, `value`,
    /// the final evaluation's number the tables show for the run
    /// ([`crate::rundir::RunFinal::metric`]), and `last3`, the same averaged over the last three
    /// evaluations ([`crate::rundir::RunFinal::metric_last3`]; null also for records from before
    /// it existed), and `diverged`, what [`crate::rundir::Diverged`] says of a run whose loss went
    /// non-finite ([`crate::rundir::Diverged::at`]); for the online mazes `hard` and `easy`,
    /// the final evaluation's success (%) on each goal set, and `coverage`, the share (%) of the
    /// maze's free cells visited while training (null elsewhere). `agent` is the run's table column ([`crate::suite::SuiteRun::column`]:
    /// `agent@variant` in an ablation).
    pub runs: DataFrame,
    /// Settings in name order, each with its tasks and agents in the suite's order.
    pub order: BTreeMap<String, (Vec<String>, Vec<String>)>,
    /// Every task of the suite, resolved once.
    pub tasks: BTreeMap<String, envs::Task>,
    /// (setting, task, agent) → one curve per finished seed that has a `metrics.csv`.
    pub curves: BTreeMap<(String, String, String), Vec<Curve>>,
}

/// Reads every run directory of `suite`. An unreadable `final.toml` or `status` fails, naming the
/// file; a run without `final.toml` is a row with its status and no numbers.
pub fn load(suite: &Suite) -> Result<Records> {
    let mut order: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
    let mut tasks = BTreeMap::new();
    let mut curves: BTreeMap<(String, String, String), Vec<Curve>> = BTreeMap::new();
    let n = suite.runs.len();
    let (mut setting, mut task, mut agent, mut seed, mut status, mut dir) =
        (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let mut num: [Vec<Option<f64>>; 14] = Default::default();
    let mut stands: Vec<Option<String>> = Vec::with_capacity(n);
    let mut diverged: Vec<Option<String>> = Vec::with_capacity(n);
    for r in &suite.runs {
        let (ts, ags) = order.entry(r.setting.clone()).or_default();
        if !ts.contains(&r.spec.task) {
            ts.push(r.spec.task.clone());
        }
        let column = r.column();
        if !ags.contains(&column) {
            ags.push(column.clone());
        }
        if !tasks.contains_key(&r.spec.task) {
            tasks.insert(r.spec.task.clone(), envs::Task::resolve(&r.spec.task)?);
        }
        let t = &tasks[&r.spec.task];
        let run = RunDir::new(&r.spec.out);
        setting.push(r.setting.clone());
        task.push(r.spec.task.clone());
        agent.push(column.clone());
        seed.push(r.spec.seed);
        dir.push(r.spec.out.display().to_string());
        match run.read_final()? {
            Some(f) => {
                status.push("done".to_string());
                let values = [
                    Some(f.success),
                    Some(f.ret),
                    f.score,
                    f.score_final,
                    f.success_last3,
                    f.score_final_last3,
                    Some(f.best_score),
                    Some(f.steps_per_second),
                    Some(f.action_latency_us),
                    Some(f.metric(t)),
                    f.metric_last3(t),
                    f.tasks.get("hard").map(|h| 100.0 * h.success),
                    f.tasks.get("easy").map(|e| 100.0 * e.success),
                    f.coverage.map(|c| 100.0 * c),
                ];
                for (col, v) in num.iter_mut().zip(values) {
                    col.push(v);
                }
                stands.push(Some(f.stands_in_for.clone()));
                diverged.push(None);
                if let Some(c) = curve(&run, t)? {
                    curves.entry((r.setting.clone(), r.spec.task.clone(), column.clone())).or_default().push(c);
                }
            }
            None => {
                let s = run.read_status()?.map(|s| s.to_string()).unwrap_or_else(|| "not started".into());
                status.push(s);
                for col in &mut num {
                    col.push(None);
                }
                stands.push(None);
                diverged.push(run.read_diverged()?.map(|d| d.at()));
            }
        }
    }
    let [success, ret, score, score_final, success_last3, score_final_last3, best_score, sps, latency, value, last3, hard, easy, coverage] = num;
    let runs = DataFrame::new_infer_height(vec![
        Column::new("setting".into(), setting),
        Column::new("task".into(), task),
        Column::new("agent".into(), agent),
        Column::new("seed".into(), seed),
        Column::new("status".into(), status),
        Column::new("success".into(), success),
        Column::new("return".into(), ret),
        Column::new("score".into(), score),
        Column::new("score_final".into(), score_final),
        Column::new("success_last3".into(), success_last3),
        Column::new("score_final_last3".into(), score_final_last3),
        Column::new("best_score".into(), best_score),
        Column::new("steps_per_second".into(), sps),
        Column::new("action_latency_us".into(), latency),
        Column::new("stands_in_for".into(), stands),
        Column::new("dir".into(), dir),
        Column::new("value".into(), value),
        Column::new("last3".into(), last3),
        Column::new("diverged".into(), diverged),
        Column::new("hard".into(), hard),
        Column::new("easy".into(), easy),
        Column::new("coverage".into(), coverage),
    ]);
    let runs = anyhow::Context::context(runs, "building the runs table")?;
    Ok(Records { runs, order, tasks, curves })
}

/// Learning curve of one run from its `metrics.csv`: eval success (an online maze's: on its hard
/// goals, against environment steps), or for an imitation task the final eval score as a fraction
/// of the task's top score. `None` without the file or the column.
fn curve(run: &RunDir, task: &envs::Task) -> Result<Option<Curve>> {
    if !run.metrics_path().exists() {
        return Ok(None);
    }
    let m = rl::train::MetricsCsv::read(run.metrics_path()).with_context(|| format!("reading the learning curve of {}", run.path().display()))?;
    let (column, top) = match task.kind {
        envs::TaskKind::Imitation => ("eval/score_final", task.top_score as f64),
        envs::TaskKind::Online => ("eval/hard/success", 1.0),
        _ => ("eval/success", 1.0),
    };
    Ok(m.series("step", column).map(|s| s.into_iter().map(|(step, v)| (step, v / top)).collect()))
}
