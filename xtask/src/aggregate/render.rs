//! Render: the DataFrames of `summarise` as Markdown and CSV text.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use polars::prelude::*;
use serde::Serialize;

/// A Markdown table row: `| a | b |`.
fn md_row<S: AsRef<str>>(cells: impl IntoIterator<Item = S>) -> String {
    let mut row = String::from("|");
    for c in cells {
        row.push(' ');
        row.push_str(c.as_ref());
        row.push_str(" |");
    }
    row.push('\n');
    row
}

/// A Markdown header row and its rule.
fn md_header<S: AsRef<str>>(cells: impl IntoIterator<Item = S>) -> String {
    let cells: Vec<S> = cells.into_iter().collect();
    format!("{}|{}\n", md_row(cells.iter().map(AsRef::as_ref).collect::<Vec<_>>()), "---|".repeat(cells.len()))
}

/// One agent's (mean, std, seeds) per task, from the pivot's `{agent}_…` columns.
fn cells(wide: &DataFrame, agent: &str) -> PolarsResult<Vec<Option<(f64, f64, u32)>>> {
    let (m, s, n) = (wide.column(&format!("{agent}_mean"))?.f64()?, wide.column(&format!("{agent}_std"))?.f64()?, wide.column(&format!("{agent}_seeds"))?.u32()?);
    Ok((0..wide.height()).map(|i| Some((m.get(i)?, s.get(i).unwrap_or(0.0), n.get(i).unwrap_or(0)))).collect())
}

/// What a setting's Markdown table is made of.
pub struct SettingTable<'a> {
    pub suite: &'a str,
    pub setting: &'a str,
    /// The task × agent pivot ([`super::summarise::pivot`]).
    pub wide: &'a DataFrame,
    /// Per agent, mean over tasks ([`super::summarise::mean_over_tasks`]).
    pub over_tasks: &'a DataFrame,
    pub agents: &'a [String],
    /// Imitation settings show VQ-BeT scores and their mean row is in % of each task's top score.
    pub imitation: bool,
    /// (NF agent, the baselines it is compared against).
    pub pairs: &'a [(String, Vec<String>)],
    /// "task / agent / seed S (status)" of each run without a result.
    pub missing: &'a [String],
    /// Which number the cells are; the heading and caption say it.
    pub metric: Metric,
}

/// The number a setting table shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// The mean of [`Metric::Final`] over the last three evaluations (the runs' `last3`): what
    /// OGBench and FQL report, so the goal-conditioned and offline-RL settings' first table.
    Last3,
    /// The final evaluation's score (success in %, or an imitation task's score at each
    /// episode's end): the imitation settings' headline number, and the second table of the
    /// others.
    Final,
    /// An imitation task's best score within each episode, averaged over episodes: PushT's max
    /// coverage, which the study reports beside the final one.
    EpisodeBest,
    /// An online maze's final success on its hard goals (the study's Fig. 6), then on its easy
    /// goals, then the share of the maze the agent visited while training.
    HardGoals,
    EasyGoals,
    Coverage,
    /// A singletask (offline-RL) task's mean episode return at the final evaluation: at small
    /// budgets it moves long before success does.
    Return,
}

/// The setting's Markdown: caption, task × agent table (mean ± std over seeds, best in bold, `—`
/// where no run finished), the mean-over-tasks row, wins of each NF agent against its baselines,
/// and the runs left out.
pub fn setting_markdown(t: &SettingTable<'_>) -> PolarsResult<String> {
    let (heading, caption) = match (t.imitation, t.metric) {
        (true, Metric::Final) => (
            ": final evaluation",
            "Score at the final evaluation, as the study reports it (mean over episodes of the score at each episode's end: PushT's final coverage 0–1; multigoal4, blockpush2, kitchen2d: goals, blocks, sub-tasks done), mean ± std over seeds; best in bold. The mean row is in % of each task's top score. The next table has each episode's best score (PushT's max coverage).",
        ),
        (true, Metric::EpisodeBest) => (
            ": each episode's best score",
            "The same evaluations scored by each episode's best moment instead of its end (PushT's max coverage, which the study reports beside the final one; for the counting tasks it differs from the final score only where a block left its target or a sub-task came undone), mean ± std over seeds; best in bold. The mean row is in % of each task's top score.",
        ),
        (true, Metric::Last3) => (
            ": mean of the last three evaluations",
            "Score at each episode's end averaged over the last three evaluations, as OGBench and FQL report it, mean ± std over seeds; best in bold. The mean row is in % of each task's top score.",
        ),
        (false, Metric::Last3) => (
            ": mean of the last three evaluations",
            "Success (%) averaged over the last three evaluations, as OGBench and FQL report it, mean ± std over seeds; best in bold. The next table has the final evaluation's success.",
        ),
        (false, Metric::Final) => (": final evaluation", "Final evaluation's success (%), mean ± std over seeds; best in bold."),
        (false, Metric::EpisodeBest) => (": each episode's best score", "Each episode's best score, mean ± std over seeds; best in bold."),
        (_, Metric::HardGoals) => (
            ": hard goals, final evaluation",
            "Success (%) on each maze's hard goal set (JaxGCRL's far cells; an episode succeeds if it comes within 0.5 of the goal at any step, the deterministic policy, 1,000-step episodes) at the final evaluation, mean ± std over seeds; best in bold. The next tables have the easy goals (every free cell) and the coverage.",
        ),
        (_, Metric::EasyGoals) => (": easy goals, final evaluation", "Success (%) on each maze's easy goal set (every free cell but the start), as the table above; best in bold."),
        (_, Metric::Return) => (
            ": final evaluation's return",
            "Mean episode return at the final evaluation (the singletask tasks' reward, OGBench's: −1 per step until the task is done on the mazes and soccer; on the manipulation tasks minus the number of parts not yet in place, each step), mean ± std over seeds; best in bold. Where no agent succeeds the return still orders them; the mean row averages the raw returns.",
        ),
        (_, Metric::Coverage) => (
            ": coverage",
            "Share (%) of the maze's free cells the agent's own data visited over its whole run (exploration is what this setting tests), mean ± std over seeds; best in bold.",
        ),
    };
    // VQ-BeT scores (PushT coverage 0–1, counts 0–4) need more digits than success in %.
    let digits = if t.imitation { 2 } else { 1 };
    let mut md = format!("## {} — {}{heading}\n\n{caption}\n\n", t.suite, t.setting);
    md.push_str(&md_header(["task", "stands in for"].into_iter().map(String::from).chain(t.agents.iter().cloned())));
    let per_agent: Vec<Vec<Option<(f64, f64, u32)>>> = t.agents.iter().map(|a| cells(t.wide, a)).collect::<PolarsResult<_>>()?;
    let (tasks, stands) = (t.wide.column("task")?.str()?, t.wide.column("stands_in_for")?.str()?);
    for i in 0..t.wide.height() {
        let best = per_agent.iter().filter_map(|c| c[i]).map(|c| c.0).fold(f64::NEG_INFINITY, f64::max);
        let row = per_agent.iter().map(|c| match c[i] {
            Some((m, sd, _)) if (m - best).abs() < 1e-9 => format!("**{m:.digits$} ± {sd:.digits$}**"),
            Some((m, sd, _)) => format!("{m:.digits$} ± {sd:.digits$}"),
            None => "—".into(),
        });
        md.push_str(&md_row([tasks.get(i).unwrap_or_default().to_string(), stands.get(i).unwrap_or_default().to_string()].into_iter().chain(row)));
    }
    let (oa, om, on) = (t.over_tasks.column("agent")?.str()?, t.over_tasks.column("mean")?.f64()?, t.over_tasks.column("tasks")?.u32()?);
    let over: BTreeMap<&str, (f64, u32)> = (0..t.over_tasks.height()).filter_map(|i| Some((oa.get(i)?, (om.get(i)?, on.get(i)?)))).collect();
    let mean_row = t.agents.iter().map(|a| over.get(a.as_str()).map(|(m, n)| format!("{m:.1} ({n} tasks)")).unwrap_or_else(|| "—".into()));
    // The mean row's second cell is empty without the padding an empty `stands in for` gets.
    md.push_str(&format!("| **mean over tasks** | |{}", &md_row(mean_row)[1..]));
    // Wins: an NF agent beats a baseline on a task when its mean is higher.
    let mut wins = String::new();
    for (nf, bases) in t.pairs {
        let Some(x) = t.agents.iter().position(|a| a == nf) else { continue };
        for b in bases {
            let Some(y) = t.agents.iter().position(|a| a == b) else { continue };
            let both: Vec<(f64, f64)> = per_agent[x].iter().zip(&per_agent[y]).filter_map(|(p, q)| Some((p.as_ref()?.0, q.as_ref()?.0))).collect();
            // No task where both have a number (e.g. records older than this table's column):
            // nothing to count, rather than "0 of 0".
            if !both.is_empty() {
                wins.push_str(&format!("- {nf} beats {b} on {} of {} tasks\n", both.iter().filter(|(p, q)| p > q).count(), both.len()));
            }
        }
    }
    if !wins.is_empty() {
        md.push('\n');
        md.push_str(&wins);
    }
    if !t.missing.is_empty() {
        md.push_str(&format!("\nMissing runs ({}), not included above:\n", t.missing.len()));
        for x in t.missing {
            md.push_str(&format!("- {x}\n"));
        }
    }
    Ok(md)
}

/// The pivot as CSV: every column as it is, floats with 3 decimals, null as an empty field.
pub fn table_csv(wide: &DataFrame) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(wide.get_column_names().iter().map(|n| n.as_str()))?;
    let columns = wide.columns();
    for i in 0..wide.height() {
        let row: Vec<String> = columns
            .iter()
            .map(|c| match c.get(i) {
                Ok(AnyValue::Null) | Err(_) => String::new(),
                Ok(AnyValue::Float64(x)) => format!("{x:.3}"),
                Ok(AnyValue::String(s)) => s.to_string(),
                Ok(v) => v.to_string(),
            })
            .collect();
        w.write_record(&row)?;
    }
    w.into_inner().context("writing a table as CSV")
}

/// A number as Rust prints it (shortest round-trip form: `0.7`, `1`), the way `final.toml`'s
/// numbers have always appeared in `SUITE-runs.csv`.
fn plain(x: Option<f64>) -> Option<String> {
    x.map(|x| x.to_string())
}

/// One row of `SUITE-runs.csv`: one run of the suite, with empty numbers where it has no result.
#[derive(Serialize)]
struct RunRow<'a> {
    setting: &'a str,
    task: &'a str,
    agent: &'a str,
    seed: u64,
    status: &'a str,
    success: Option<String>,
    #[serde(rename = "return")]
    ret: Option<String>,
    score: Option<String>,
    score_final: Option<String>,
    success_last3: Option<String>,
    score_final_last3: Option<String>,
    best_score: Option<String>,
    steps_per_second: Option<String>,
    action_latency_us: Option<String>,
    stands_in_for: Option<&'a str>,
    dir: &'a str,
}

/// `SUITE-runs.csv` from the runs table.
pub fn runs_csv(runs: &DataFrame) -> Result<Vec<u8>> {
    let s = |name: &str| -> Result<&StringChunked> { Ok(runs.column(name)?.str()?) };
    let f = |name: &str| -> Result<&Float64Chunked> { Ok(runs.column(name)?.f64()?) };
    let (setting, task, agent, status, stands, dir) = (s("setting")?, s("task")?, s("agent")?, s("status")?, s("stands_in_for")?, s("dir")?);
    let seed = runs.column("seed")?.u64()?;
    let (success, ret, score, score_final, best, sps, lat) = (f("success")?, f("return")?, f("score")?, f("score_final")?, f("best_score")?, f("steps_per_second")?, f("action_latency_us")?);
    let (success_last3, score_final_last3) = (f("success_last3")?, f("score_final_last3")?);
    let mut w = csv::Writer::from_writer(Vec::new());
    for i in 0..runs.height() {
        w.serialize(RunRow {
            setting: setting.get(i).unwrap_or_default(),
            task: task.get(i).unwrap_or_default(),
            agent: agent.get(i).unwrap_or_default(),
            seed: seed.get(i).unwrap_or_default(),
            status: status.get(i).unwrap_or_default(),
            success: plain(success.get(i)),
            ret: plain(ret.get(i)),
            score: plain(score.get(i)),
            score_final: plain(score_final.get(i)),
            success_last3: plain(success_last3.get(i)),
            score_final_last3: plain(score_final_last3.get(i)),
            best_score: plain(best.get(i)),
            steps_per_second: sps.get(i).map(|x| format!("{x:.3}")),
            action_latency_us: lat.get(i).map(|x| format!("{x:.1}")),
            stands_in_for: stands.get(i),
            dir: dir.get(i).unwrap_or_default(),
        })?;
    }
    if runs.height() == 0 {
        // serde writes the header with the first row; an empty suite still gets one.
        w.write_record([
            "setting",
            "task",
            "agent",
            "seed",
            "status",
            "success",
            "return",
            "score",
            "score_final",
            "success_last3",
            "score_final_last3",
            "best_score",
            "steps_per_second",
            "action_latency_us",
            "stands_in_for",
            "dir",
        ])?;
    }
    w.into_inner().context("writing the runs table as CSV")
}

/// "task / agent / seed S (status)" for each run of `setting` without a number in `column`
/// (`value`, `last3`), in suite order. A finished run without one has a record from before the
/// number existed, and says so.
pub fn missing(runs: &DataFrame, setting: &str, column: &str) -> PolarsResult<Vec<String>> {
    let left = runs.filter(&(runs.column("setting")?.str()?.equal(setting) & runs.column(column)?.is_null()))?;
    let (task, agent, seed, status) = (left.column("task")?.str()?, left.column("agent")?.str()?, left.column("seed")?.u64()?, left.column("status")?.str()?);
    Ok((0..left.height())
        .map(|i| {
            let status = match status.get(i).unwrap_or_default() {
                "done" => "done, but its final.toml predates this table's number".to_string(),
                s => s.to_string(),
            };
            format!("{} / {} / seed {} ({status})", task.get(i).unwrap_or_default(), agent.get(i).unwrap_or_default(), seed.get(i).unwrap_or_default())
        })
        .collect())
}

/// The timing table: per setting (in name order), task and agent (in suite order) with a result,
/// the mean over seeds of training speed and batch-1 action latency.
pub fn timing_markdown(summary: &DataFrame, order: &BTreeMap<String, (Vec<String>, Vec<String>)>) -> PolarsResult<String> {
    let mut md = md_header(["task", "agent", "steps/s (training + evaluation)", "action latency (batch 1, median)"]);
    let (setting, task, agent) = (summary.column("setting")?.str()?, summary.column("task")?.str()?, summary.column("agent")?.str()?);
    let (sps, lat) = (summary.column("steps_per_second")?.f64()?, summary.column("action_latency_us")?.f64()?);
    let mut at: BTreeMap<(&str, &str, &str), usize> = BTreeMap::new();
    for i in 0..summary.height() {
        if let (Some(s), Some(t), Some(a)) = (setting.get(i), task.get(i), agent.get(i)) {
            at.insert((s, t, a), i);
        }
    }
    for (s, (tasks, agents)) in order {
        for t in tasks {
            for a in agents {
                if let Some(&i) = at.get(&(s.as_str(), t.as_str(), a.as_str())) {
                    md.push_str(&md_row([t.clone(), a.clone(), format!("{:.1}", sps.get(i).unwrap_or(f64::NAN)), format!("{:.0} µs", lat.get(i).unwrap_or(f64::NAN))]));
                }
            }
        }
    }
    Ok(md)
}
