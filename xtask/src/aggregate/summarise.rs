//! Summarise: mean, std and count over seeds per (setting, task, agent), with Polars; the mean
//! over tasks per agent; and the task × agent pivot a table is rendered from.

use std::collections::{BTreeMap, HashMap};

use polars::prelude::*;

/// Mean, sample std (ddof 1; 0 for a single value, as the tables have always shown) and count of
/// the non-null values.
pub fn mean_std_count(v: &Float64Chunked) -> (Option<f64>, f64, u32) {
    let n = (v.len() - v.null_count()) as u32;
    (v.mean(), if n > 1 { v.std(1).unwrap_or(0.0) } else { 0.0 }, n)
}

/// The first value of a group's string column (its group key, or a per-task constant).
fn first_str(g: &DataFrame, name: &str) -> PolarsResult<Option<String>> {
    Ok(g.column(name)?.str()?.iter().flatten().next().map(str::to_string))
}

/// Finished runs (`value` not null) grouped by (setting, task, agent), in order of first
/// appearance: `setting, task, agent, mean, std, seeds` over seeds of `value`, the mean
/// `steps_per_second` and `action_latency_us`, and the task's `stands_in_for`.
///
/// Eager `group_by(..).apply` rather than the deprecated eager `GroupBy::mean`/`std` or the lazy
/// API (see the module docs of `aggregate` for the build-time reason).
pub fn summarise(runs: &DataFrame) -> PolarsResult<DataFrame> {
    summarise_by(runs, "value")
}

/// [`summarise`] of another of the runs' number columns (`last3`: the mean of the last three
/// evaluations, the goal-conditioned and offline-RL tables' first table; `score`: each episode's
/// best score, the imitation tables' second table).
pub fn summarise_by(runs: &DataFrame, column: &str) -> PolarsResult<DataFrame> {
    let done = runs.filter(&runs.column(column)?.is_not_null())?;
    let schema: SchemaRef = Arc::new(Schema::from_iter([
        Field::new("setting".into(), DataType::String),
        Field::new("task".into(), DataType::String),
        Field::new("agent".into(), DataType::String),
        Field::new("mean".into(), DataType::Float64),
        Field::new("std".into(), DataType::Float64),
        Field::new("seeds".into(), DataType::UInt32),
        Field::new("steps_per_second".into(), DataType::Float64),
        Field::new("action_latency_us".into(), DataType::Float64),
        Field::new("stands_in_for".into(), DataType::String),
    ]));
    done.group_by_stable(["setting", "task", "agent"])?.apply_sliced(
        None,
        |g| {
            let (mean, std, seeds) = mean_std_count(g.column(column)?.f64()?);
            df!(
                "setting" => [first_str(&g, "setting")?],
                "task" => [first_str(&g, "task")?],
                "agent" => [first_str(&g, "agent")?],
                "mean" => [mean],
                "std" => [std],
                "seeds" => [seeds],
                "steps_per_second" => [g.column("steps_per_second")?.f64()?.mean()],
                "action_latency_us" => [g.column("action_latency_us")?.f64()?.mean()],
                "stands_in_for" => [first_str(&g, "stands_in_for")?],
            )
        },
        Some(&schema),
    )
}

/// One setting's rows of `summary`.
pub fn for_setting(summary: &DataFrame, setting: &str) -> PolarsResult<DataFrame> {
    summary.filter(&summary.column("setting")?.str()?.equal(setting))
}

/// Per agent, over the tasks where it has a result: mean, std and count of its mean in % of
/// `top[task]` (100 for success rates, so success in %; a task's top score for imitation
/// settings, so tasks on different scales can be averaged). Columns `agent, mean, std, tasks`.
pub fn mean_over_tasks(setting: &DataFrame, top: &BTreeMap<String, f64>) -> PolarsResult<DataFrame> {
    let tasks = setting.column("task")?.str()?;
    let pct: Float64Chunked = setting.column("mean")?.f64()?.iter().zip(tasks.iter()).map(|(m, t)| Some(100.0 * m? / top.get(t?).copied().unwrap_or(100.0))).collect();
    let with_pct = DataFrame::new_infer_height(vec![setting.column("agent")?.clone(), pct.with_name("pct".into()).into_column()])?;
    let schema: SchemaRef = Arc::new(Schema::from_iter([
        Field::new("agent".into(), DataType::String),
        Field::new("mean".into(), DataType::Float64),
        Field::new("std".into(), DataType::Float64),
        Field::new("tasks".into(), DataType::UInt32),
    ]));
    with_pct.group_by_stable(["agent"])?.apply_sliced(
        None,
        |g| {
            let (mean, std, n) = mean_std_count(g.column("pct")?.f64()?);
            df!("agent" => [first_str(&g, "agent")?], "mean" => [mean], "std" => [std], "tasks" => [n])
        },
        Some(&schema),
    )
}

/// (mean, std, seeds) of one (task, agent) cell of the pivot.
type Cell = (Option<f64>, Option<f64>, u32);

/// Task × agent for one setting's summary: `task`, `stands_in_for`, then `{agent}_mean`,
/// `{agent}_std`, `{agent}_seeds` for each agent (null mean and std, 0 seeds, where no run
/// finished), rows and agents in the order given.
///
/// Polars 0.55 has `pivot` only in its lazy API (`polars-lazy` and `polars-plan`, many minutes of
/// cold build); for a few dozen cells this loop over the summary's rows does the same.
pub fn pivot(setting: &DataFrame, tasks: &[String], agents: &[String]) -> PolarsResult<DataFrame> {
    let mut cells: HashMap<(&str, &str), Cell> = HashMap::new();
    let mut stands: HashMap<&str, &str> = HashMap::new();
    let (t, a, s) = (setting.column("task")?.str()?, setting.column("agent")?.str()?, setting.column("stands_in_for")?.str()?);
    let (m, sd, n) = (setting.column("mean")?.f64()?, setting.column("std")?.f64()?, setting.column("seeds")?.u32()?);
    for i in 0..setting.height() {
        let (Some(task), Some(agent)) = (t.get(i), a.get(i)) else { continue };
        cells.insert((task, agent), (m.get(i), sd.get(i), n.get(i).unwrap_or(0)));
        if let Some(st) = s.get(i) {
            stands.entry(task).or_insert(st);
        }
    }
    let mut columns =
        vec![Column::new("task".into(), tasks.to_vec()), Column::new("stands_in_for".into(), tasks.iter().map(|t| stands.get(t.as_str()).copied().unwrap_or_default()).collect::<Vec<_>>())];
    for agent in agents {
        let cell = |t: &String| cells.get(&(t.as_str(), agent.as_str())).copied().unwrap_or((None, None, 0));
        columns.push(Column::new(format!("{agent}_mean").into(), tasks.iter().map(|t| cell(t).0).collect::<Vec<_>>()));
        columns.push(Column::new(format!("{agent}_std").into(), tasks.iter().map(|t| cell(t).1).collect::<Vec<_>>()));
        columns.push(Column::new(format!("{agent}_seeds").into(), tasks.iter().map(|t| cell(t).2).collect::<Vec<_>>()));
    }
    DataFrame::new(tasks.len(), columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(rows: &[(&str, &str, &str, Option<f64>)]) -> DataFrame {
        let col = |k: usize| rows.iter().map(|r| [r.0, r.1, r.2][k].to_string()).collect::<Vec<_>>();
        df!(
            "setting" => col(0),
            "task" => col(1),
            "agent" => col(2),
            "value" => rows.iter().map(|r| r.3).collect::<Vec<_>>(),
            "steps_per_second" => rows.iter().map(|r| r.3.map(|_| 10.0)).collect::<Vec<_>>(),
            "action_latency_us" => rows.iter().map(|r| r.3.map(|_| 100.0)).collect::<Vec<_>>(),
            "stands_in_for" => rows.iter().map(|r| r.3.map(|_| format!("{} row", r.1))).collect::<Vec<_>>(),
        )
        .unwrap()
    }

    /// Mean, sample std and count per cell equal the hand computation; an unfinished run counts
    /// nowhere; one seed has std 0; groups keep the order in which they first appear.
    #[test]
    fn summarise_equals_the_hand_computation() {
        let df = runs(&[
            ("cil", "maze-a", "nf", Some(50.0)),
            ("cil", "maze-a", "nf", Some(70.0)),
            ("cil", "maze-a", "nf", Some(90.0)),
            ("cil", "maze-a", "gc", Some(20.0)),
            ("cil", "maze-a", "gc", None),
            ("cil", "maze-b", "nf", Some(10.0)),
            ("cil", "maze-b", "gc", None),
            ("orl", "maze-a", "nf", Some(1.0)),
            ("orl", "maze-a", "nf", Some(4.0)),
        ]);
        let s = summarise(&df).unwrap();
        let keys: Vec<String> = (0..s.height())
            .map(|i| {
                format!(
                    "{}/{}/{}",
                    s.column("setting").unwrap().str().unwrap().get(i).unwrap(),
                    s.column("task").unwrap().str().unwrap().get(i).unwrap(),
                    s.column("agent").unwrap().str().unwrap().get(i).unwrap()
                )
            })
            .collect();
        assert_eq!(keys, ["cil/maze-a/nf", "cil/maze-a/gc", "cil/maze-b/nf", "orl/maze-a/nf"]);
        let mean: Vec<f64> = s.column("mean").unwrap().f64().unwrap().iter().map(Option::unwrap).collect();
        let std: Vec<f64> = s.column("std").unwrap().f64().unwrap().iter().map(Option::unwrap).collect();
        let seeds: Vec<u32> = s.column("seeds").unwrap().u32().unwrap().iter().map(Option::unwrap).collect();
        // {50, 70, 90}: mean 70, sample variance (400 + 0 + 400) / 2 = 400, std 20. {1, 4}: mean
        // 2.5, variance (2.25 + 2.25) / 1 = 4.5.
        assert_eq!(mean, [70.0, 20.0, 10.0, 2.5]);
        for (got, want) in std.iter().zip([20.0, 0.0, 0.0, 4.5f64.sqrt()]) {
            assert!((got - want).abs() < 1e-12, "std {std:?}");
        }
        assert_eq!(seeds, [3, 1, 1, 2]);
        assert_eq!(s.column("stands_in_for").unwrap().str().unwrap().get(2), Some("maze-b row"));

        // The pivot: maze-b/gc never finished, so its cell is empty with 0 seeds.
        let cil = for_setting(&s, "cil").unwrap();
        let tasks = ["maze-a".to_string(), "maze-b".to_string()];
        let wide = pivot(&cil, &tasks, &["nf".to_string(), "gc".to_string()]).unwrap();
        let names: Vec<&str> = wide.get_column_names().into_iter().map(|n| n.as_str()).collect();
        assert_eq!(names, ["task", "stands_in_for", "nf_mean", "nf_std", "nf_seeds", "gc_mean", "gc_std", "gc_seeds"]);
        assert_eq!(wide.column("gc_mean").unwrap().f64().unwrap().iter().collect::<Vec<_>>(), [Some(20.0), None]);
        assert_eq!(wide.column("gc_seeds").unwrap().u32().unwrap().iter().collect::<Vec<_>>(), [Some(1), Some(0)]);

        // Mean over tasks in % of each task's top: nf (100·70/4, 100·10/1) = (1750, 1000) → mean 1375.
        let top = BTreeMap::from([("maze-a".to_string(), 4.0), ("maze-b".to_string(), 1.0)]);
        let m = mean_over_tasks(&cil, &top).unwrap();
        let nf_mean = m.column("mean").unwrap().f64().unwrap().get(0).unwrap();
        let nf_std = m.column("std").unwrap().f64().unwrap().get(0).unwrap();
        assert_eq!((nf_mean, m.column("tasks").unwrap().u32().unwrap().get(0)), (1375.0, Some(2)));
        assert!((nf_std - ((1750.0f64 - 1375.0).powi(2) * 2.0).sqrt()).abs() < 1e-9, "{nf_std}");
        assert_eq!(m.column("mean").unwrap().f64().unwrap().get(1), Some(500.0));
    }

    #[test]
    fn summarise_of_no_finished_run_is_empty() {
        let s = summarise(&runs(&[("cil", "maze-a", "nf", None)])).unwrap();
        assert_eq!(s.height(), 0);
        assert_eq!(s.width(), 9);
    }
}
