//! `cargo xtask aggregate`: the study's tables and plots from a suite's run directories.
//!
//! Per setting: rows = tasks (each naming the paper task it stands in for), columns = agents,
//! cells = final success in % as mean ± std over seeds (sample std; 0 for one seed), the best
//! mean of a row in bold, an aggregate row (mean over tasks), and "wins out of N tasks" of each
//! NF agent against each baseline. Missing runs are listed under the table, never averaged away.
//! Plots: learning curves per task (mean ± std shaded) and a bar chart per setting, PNG and SVG;
//! and a timing table (train steps/s, batch-1 action latency). `SUITE-runs.csv` lists every run
//! of the suite, one row each (missing ones with their status and empty numbers), for analysis in
//! Polars or pandas.
//!
//! Why not Polars here: its supported aggregation API is `polars-lazy` (the eager `GroupBy::mean`
//! and `std` are deprecated), and `polars` with `lazy` + `csv` had not finished a cold release build
//! after 10 minutes on a 2-core machine: that would double CI and every user's first
//! `cargo xtask bench`. The tables need a mean and a std over a few seeds per cell, which the
//! dozen lines below do; the tidy `SUITE-runs.csv` is one `pl.read_csv` away for anything more.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use plotters::prelude::*;
use serde::Deserialize;

use crate::suite::Suite;
use crate::train::FINAL_FILE;

#[derive(Debug, Deserialize)]
struct Final {
    success: f64,
    #[serde(rename = "return")]
    ret: f64,
    /// Runs written before scores existed have `best_success`, the same number for the
    /// goal-conditioned tasks they could run on.
    #[serde(alias = "best_success")]
    best_score: f64,
    /// Absent in runs written before scores existed; the success rate for goal-conditioned tasks.
    #[serde(default)]
    score: Option<f64>,
    #[serde(default)]
    score_final: Option<f64>,
    steps_per_second: f64,
    action_latency_us: f64,
    stands_in_for: String,
}

impl Final {
    /// The number a table shows for this run: success in % for goal-conditioned tasks; for
    /// imitation tasks the study's score (mean over episodes of the score at the episode's end:
    /// PushT's final coverage 0–1, or the count of goals, blocks or sub-tasks).
    fn metric(&self, task: &str) -> f64 {
        if envs::Task::resolve(task).is_ok_and(|t| t.is_imitation()) {
            self.score_final.unwrap_or(self.success)
        } else {
            100.0 * self.success
        }
    }
}

fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let s = if v.len() > 1 { (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt() } else { 0.0 };
    (m, s)
}

/// A CSV field, quoted when it holds a comma, quote or line break (RFC 4180).
fn csv_quote(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Learning curve of one run: (step, eval success), or for an imitation task (step, final eval
/// score as a fraction of the task's top score).
fn curve(dir: &Path, task: &str) -> Option<Vec<(f64, f64)>> {
    let text = std::fs::read_to_string(dir.join(rl::METRICS_FILE)).ok()?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next()?.split(',').collect();
    let (column, top) = if envs::Task::resolve(task).is_ok_and(|t| t.is_imitation()) { ("eval/score_final", envs::make(task).ok()?.top_score() as f64) } else { ("eval/success", 1.0) };
    let (si, ei) = (header.iter().position(|h| *h == "step")?, header.iter().position(|h| *h == column)?);
    Some(
        lines
            .filter_map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                Some((f.get(si)?.parse().ok()?, f.get(ei)?.parse::<f64>().ok()? / top))
            })
            .collect(),
    )
}

struct Cell {
    finals: Vec<Final>,
    curves: Vec<Vec<(f64, f64)>>,
}

/// Writes tables and plots for `suite` under `results/` and returns a short report (paths and
/// the first setting's table).
pub fn aggregate(suite: &Suite, results: &Path) -> Result<String> {
    let tables = results.join("tables");
    let plots = results.join("plots");
    for d in [&tables, &plots] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    // setting → task → agent → cell
    let mut grid: BTreeMap<String, BTreeMap<String, BTreeMap<String, Cell>>> = BTreeMap::new();
    let mut order: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
    let mut missing: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut stands: BTreeMap<String, String> = BTreeMap::new();
    let mut runs_csv = String::from("setting,task,agent,seed,status,success,return,score,score_final,best_score,steps_per_second,action_latency_us,stands_in_for,dir\n");
    for r in &suite.runs {
        let (tasks, agents) = order.entry(r.setting.clone()).or_default();
        if !tasks.contains(&r.spec.task) {
            tasks.push(r.spec.task.clone());
        }
        if !agents.contains(&r.spec.agent) {
            agents.push(r.spec.agent.clone());
        }
        let cell = grid.entry(r.setting.clone()).or_default().entry(r.spec.task.clone()).or_default().entry(r.spec.agent.clone()).or_insert(Cell { finals: vec![], curves: vec![] });
        match std::fs::read_to_string(r.spec.out.join(FINAL_FILE)) {
            Ok(text) => {
                let f: Final = toml::from_str(&text).with_context(|| format!("{}", r.spec.out.join(FINAL_FILE).display()))?;
                let _ = writeln!(
                    runs_csv,
                    "{},{},{},{},done,{},{},{},{},{},{:.3},{:.1},{},{}",
                    r.setting,
                    r.spec.task,
                    r.spec.agent,
                    r.spec.seed,
                    f.success,
                    f.ret,
                    f.score.map(|x| x.to_string()).unwrap_or_default(),
                    f.score_final.map(|x| x.to_string()).unwrap_or_default(),
                    f.best_score,
                    f.steps_per_second,
                    f.action_latency_us,
                    csv_quote(&f.stands_in_for),
                    csv_quote(&r.spec.out.display().to_string())
                );
                stands.insert(r.spec.task.clone(), f.stands_in_for.clone());
                cell.finals.push(f);
                if let Some(c) = curve(&r.spec.out, &r.spec.task) {
                    cell.curves.push(c);
                }
            }
            Err(_) => {
                let status = std::fs::read_to_string(r.spec.out.join(crate::train::STATUS_FILE)).unwrap_or_else(|_| "not started".into());
                let _ = writeln!(runs_csv, "{},{},{},{},{},,,,,,,,,{}", r.setting, r.spec.task, r.spec.agent, r.spec.seed, csv_quote(status.trim()), csv_quote(&r.spec.out.display().to_string()));
                missing.entry(r.setting.clone()).or_default().push(format!("{} / {} / seed {} ({})", r.spec.task, r.spec.agent, r.spec.seed, status.trim()));
            }
        }
    }
    let mut report = String::new();
    let mut timing = String::from("| task | agent | steps/s (training + evaluation) | action latency (batch 1, median) |\n|---|---|---|---|\n");
    let mut written: Vec<PathBuf> = Vec::new();
    for (setting, (tasks, agents)) in &order {
        let cells = &grid[setting];
        // Imitation settings show VQ-BeT scores (PushT coverage 0–1, counts 0–4) and need more
        // digits; their mean row is in % of each task's top score, so tasks on different scales
        // can be averaged.
        let imitation = tasks.iter().all(|t| envs::Task::resolve(t).is_ok_and(|t| t.is_imitation()));
        let caption = if imitation {
            "Score at the final evaluation, as the study reports it (mean over episodes of the score at each episode's end: PushT's final coverage 0–1; multigoal4, blockpush2, kitchen2d: goals, blocks, sub-tasks done), mean ± std over seeds; best in bold. The mean row is in % of each task's top score. `SUITE-runs.csv` also has each episode's best score (PushT's max coverage)."
        } else {
            "Final success (%), mean ± std over seeds; best in bold."
        };
        let digits = if imitation { 2 } else { 1 };
        let mut md = format!("## {} — {setting}\n\n{caption}\n\n| task | stands in for | {} |\n|---|---|{}\n", suite.name, agents.join(" | "), "---|".repeat(agents.len()));
        let mut csv = format!("task,stands_in_for,{}\n", agents.iter().flat_map(|a| [format!("{a}_mean"), format!("{a}_std"), format!("{a}_seeds")]).collect::<Vec<_>>().join(","));
        let mut per_agent_means: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
        for task in tasks {
            let stats: Vec<Option<(f64, f64, usize)>> = agents
                .iter()
                .map(|a| {
                    let c = &cells[task][a];
                    (!c.finals.is_empty()).then(|| {
                        let v: Vec<f64> = c.finals.iter().map(|f| f.metric(task)).collect();
                        let (m, s) = mean_std(&v);
                        (m, s, v.len())
                    })
                })
                .collect();
            let best = stats.iter().flatten().map(|s| s.0).fold(f64::NEG_INFINITY, f64::max);
            let row: Vec<String> = stats
                .iter()
                .map(|s| match s {
                    Some((m, sd, _)) if (*m - best).abs() < 1e-9 => format!("**{m:.digits$} ± {sd:.digits$}**"),
                    Some((m, sd, _)) => format!("{m:.digits$} ± {sd:.digits$}"),
                    None => "—".into(),
                })
                .collect();
            let stand = stands.get(task).cloned().unwrap_or_default();
            let _ = writeln!(md, "| {task} | {stand} | {} |", row.join(" | "));
            let _ =
                writeln!(csv, "{task},{},{}", csv_quote(&stand), stats.iter().map(|s| s.map(|(m, sd, n)| format!("{m:.3},{sd:.3},{n}")).unwrap_or_else(|| ",,0".into())).collect::<Vec<_>>().join(","));
            let top = if imitation { envs::make(task).map(|e| e.top_score() as f64).unwrap_or(1.0) } else { 100.0 };
            for (a, s) in agents.iter().zip(&stats) {
                if let Some((m, _, _)) = s {
                    per_agent_means.entry(a.as_str()).or_default().push(100.0 * m / top);
                }
                let c = &cells[task][a];
                if !c.finals.is_empty() {
                    let sps = c.finals.iter().map(|f| f.steps_per_second).sum::<f64>() / c.finals.len() as f64;
                    let lat = c.finals.iter().map(|f| f.action_latency_us).sum::<f64>() / c.finals.len() as f64;
                    let _ = writeln!(timing, "| {task} | {a} | {sps:.1} | {lat:.0} µs |");
                }
            }
            written.extend(plot_curves(&plots, &suite.name, setting, task, agents, cells.get(task))?);
        }
        let agg: Vec<String> = agents.iter().map(|a| per_agent_means.get(a.as_str()).map(|v| format!("{:.1} ({} tasks)", mean_std(v).0, v.len())).unwrap_or_else(|| "—".into())).collect();
        let _ = writeln!(md, "| **mean over tasks** | | {} |", agg.join(" | "));
        // Wins: an NF agent beats a baseline on a task when its mean success is higher.
        let mut wins = String::new();
        for (nf, bases) in crate::agents::table_pairs() {
            if !agents.iter().any(|a| a == nf) {
                continue;
            }
            for b in bases.iter().filter(|b| agents.iter().any(|a| a == *b)) {
                let (mut w, mut n) = (0, 0);
                for task in tasks {
                    let (x, y) = (&cells[task][nf], &cells[task][*b]);
                    if !x.finals.is_empty() && !y.finals.is_empty() {
                        n += 1;
                        let mx = x.finals.iter().map(|f| f.metric(task)).sum::<f64>() / x.finals.len() as f64;
                        let my = y.finals.iter().map(|f| f.metric(task)).sum::<f64>() / y.finals.len() as f64;
                        w += (mx > my) as usize;
                    }
                }
                let _ = writeln!(wins, "- {nf} beats {b} on {w} of {n} tasks");
            }
        }
        if !wins.is_empty() {
            let _ = write!(md, "\n{wins}");
        }
        if let Some(m) = missing.get(setting) {
            let _ = writeln!(md, "\nMissing runs ({}), not included above:", m.len());
            for x in m {
                let _ = writeln!(md, "- {x}");
            }
        }
        let md_path = tables.join(format!("{}-{setting}.md", suite.name));
        let csv_path = tables.join(format!("{}-{setting}.csv", suite.name));
        crate::train::write_atomic(&md_path, &md)?;
        crate::train::write_atomic(&csv_path, &csv)?;
        written.extend(plot_bars(&plots, &suite.name, setting, agents, &per_agent_means)?);
        if report.is_empty() {
            report = md.clone();
        }
        written.push(md_path);
        written.push(csv_path);
    }
    let runs_path = tables.join(format!("{}-runs.csv", suite.name));
    crate::train::write_atomic(&runs_path, &runs_csv)?;
    written.push(runs_path);
    let timing_path = tables.join(format!("{}-timing.md", suite.name));
    crate::train::write_atomic(&timing_path, &timing)?;
    written.push(timing_path);
    Ok(format!("{report}\ntables in {}, plots in {} ({} files)", tables.display(), plots.display(), written.len()))
}

const COLOURS: [RGBColor; 8] =
    [RGBColor(228, 26, 28), RGBColor(55, 126, 184), RGBColor(77, 175, 74), RGBColor(152, 78, 163), RGBColor(255, 127, 0), RGBColor(166, 86, 40), RGBColor(247, 129, 191), RGBColor(100, 100, 100)];

fn plot_curves(dir: &Path, suite: &str, setting: &str, task: &str, agents: &[String], cells: Option<&BTreeMap<String, Cell>>) -> Result<Vec<PathBuf>> {
    let Some(cells) = cells else { return Ok(vec![]) };
    let mut out = Vec::new();
    // Mean ± std per step over the seeds that reached it.
    let series: Vec<Series> = agents
        .iter()
        .enumerate()
        .filter_map(|(k, a)| {
            let c = cells.get(a)?;
            let mut by_step: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
            for cv in &c.curves {
                for &(s, v) in cv {
                    by_step.entry(s as u64).or_default().push(100.0 * v);
                }
            }
            (!by_step.is_empty()).then(|| {
                (
                    k,
                    by_step
                        .into_iter()
                        .map(|(s, v)| {
                            let (m, sd) = mean_std(&v);
                            (s as f64, m, sd)
                        })
                        .collect(),
                )
            })
        })
        .collect();
    if series.is_empty() {
        return Ok(out);
    }
    let xmax = series.iter().flat_map(|(_, s)| s.iter().map(|p| p.0)).fold(1.0, f64::max);
    let stem = format!("{suite}-{setting}-{task}");
    for ext in ["png", "svg"] {
        let path = dir.join(format!("{stem}.{ext}"));
        if ext == "png" {
            draw_curves(BitMapBackend::new(&path, (640, 420)).into_drawing_area(), task, setting, xmax, &series, agents)?;
        } else {
            draw_curves(SVGBackend::new(&path, (640, 420)).into_drawing_area(), task, setting, xmax, &series, agents)?;
        }
        out.push(path);
    }
    Ok(out)
}

type Series = (usize, Vec<(f64, f64, f64)>);

fn draw_curves<DB: DrawingBackend>(root: DrawingArea<DB, plotters::coord::Shift>, task: &str, setting: &str, xmax: f64, series: &[Series], agents: &[String]) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("{task} ({setting})"), ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(45)
        .build_cartesian_2d(0.0..xmax, 0.0..100.0)
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let y = if envs::Task::resolve(task).is_ok_and(|t| t.is_imitation()) { "score (% of top score)" } else { "success (%)" };
    chart.configure_mesh().x_desc("gradient steps").y_desc(y).draw().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    for (k, s) in series {
        let c = COLOURS[k % COLOURS.len()];
        let mut band: Vec<(f64, f64)> = s.iter().map(|p| (p.0, (p.1 + p.2).min(100.0))).collect();
        band.extend(s.iter().rev().map(|p| (p.0, (p.1 - p.2).max(0.0))));
        chart.draw_series(std::iter::once(Polygon::new(band, c.mix(0.2).filled()))).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        chart
            .draw_series(LineSeries::new(s.iter().map(|p| (p.0, p.1)), c.stroke_width(2)))
            .map_err(|e| anyhow::anyhow!("{e:?}"))?
            .label(agents[*k].clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], c.stroke_width(2)));
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    root.present().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(())
}

fn plot_bars(dir: &Path, suite: &str, setting: &str, agents: &[String], means: &BTreeMap<&str, Vec<f64>>) -> Result<Vec<PathBuf>> {
    let vals: Vec<(usize, f64, f64)> = agents
        .iter()
        .enumerate()
        .filter_map(|(k, a)| {
            means.get(a.as_str()).map(|v| {
                let (m, s) = mean_std(v);
                (k, m, s)
            })
        })
        .collect();
    let mut out = Vec::new();
    if vals.is_empty() {
        return Ok(out);
    }
    for ext in ["png", "svg"] {
        let path = dir.join(format!("{suite}-{setting}-bars.{ext}"));
        if ext == "png" {
            draw_bars(BitMapBackend::new(&path, (560, 380)).into_drawing_area(), setting, agents, &vals)?;
        } else {
            draw_bars(SVGBackend::new(&path, (560, 380)).into_drawing_area(), setting, agents, &vals)?;
        }
        out.push(path);
    }
    Ok(out)
}

fn draw_bars<DB: DrawingBackend>(root: DrawingArea<DB, plotters::coord::Shift>, setting: &str, agents: &[String], vals: &[(usize, f64, f64)]) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("{setting}: mean over tasks (± std over tasks)"), ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(45)
        .build_cartesian_2d((0..agents.len()).into_segmented(), 0.0..100.0)
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    chart
        .configure_mesh()
        .x_label_formatter(&|x| match x {
            SegmentValue::CenterOf(i) => agents.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .y_desc("success, or % of top score")
        .draw()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    chart
        .draw_series(vals.iter().map(|&(k, m, _)| {
            let c = COLOURS[k % COLOURS.len()];
            Rectangle::new([(SegmentValue::Exact(k), 0.0), (SegmentValue::Exact(k + 1), m)], c.mix(0.7).filled())
        }))
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    chart
        .draw_series(vals.iter().map(|&(k, m, s)| PathElement::new(vec![(SegmentValue::CenterOf(k), (m - s).max(0.0)), (SegmentValue::CenterOf(k), (m + s).min(100.0))], BLACK.stroke_width(2))))
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    root.present().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixture of finished runs with known numbers: means, stds, bold, wins, missing runs and
    /// non-empty plots.
    #[test]
    fn aggregation_of_a_fixture() {
        let root = std::env::temp_dir().join(format!("nf-rl-aggregate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let suite_path = root.join("fx.toml");
        std::fs::write(&suite_path, "[suite]\nseeds = [0, 1]\n\n[[experiment]]\nsetting = \"cil\"\ntasks = [\"pointmaze-medium-navigate\", \"pointmaze-large-navigate\"]\nagents = [\"nf-gcbc\", \"gcbc\"]\nsteps = 10\neval_every = 5\n").unwrap();
        let results = root.join("results");
        let suite = crate::suite::load(&suite_path, &results, Path::new("data")).unwrap();
        plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, dejavu::sans::regular()).ok();
        // success per (task, agent, seed); large/gcbc/seed1 is missing.
        let table = [
            ("pointmaze-medium-navigate", "nf-gcbc", 0, 0.5),
            ("pointmaze-medium-navigate", "nf-gcbc", 1, 0.7),
            ("pointmaze-medium-navigate", "gcbc", 0, 0.2),
            ("pointmaze-medium-navigate", "gcbc", 1, 0.2),
            ("pointmaze-large-navigate", "nf-gcbc", 0, 0.1),
            ("pointmaze-large-navigate", "nf-gcbc", 1, 0.1),
            ("pointmaze-large-navigate", "gcbc", 0, 0.3),
        ];
        for r in &suite.runs {
            let Some(&(_, _, _, s)) = table.iter().find(|(t, a, seed, _)| *t == r.spec.task && *a == r.spec.agent && *seed == r.spec.seed) else { continue };
            std::fs::create_dir_all(&r.spec.out).unwrap();
            std::fs::write(
                r.spec.out.join(FINAL_FILE),
                format!("success = {s}\nreturn = -{s}\nbest_success = {s}\nsteps_per_second = 10.0\naction_latency_us = 100.0\nstands_in_for = \"row X, native\"\n"),
            )
            .unwrap();
            std::fs::write(r.spec.out.join(rl::METRICS_FILE), format!("step,eval/success,time/steps_per_s\n5,{},1\n10,{s},1\n", s / 2.0)).unwrap();
        }
        let report = aggregate(&suite, &results).unwrap();
        let md = std::fs::read_to_string(results.join("tables/fx-cil.md")).unwrap();
        println!("{md}");
        // medium: nf-gcbc 60.0 ± 14.1 (bold), gcbc 20.0 ± 0.0; large: nf 10.0 ± 0.0, gcbc 30.0 ± 0.0 (bold, one seed).
        assert!(md.contains("| pointmaze-medium-navigate | row X, native | **60.0 ± 14.1** | 20.0 ± 0.0 |"), "{md}");
        assert!(md.contains("| pointmaze-large-navigate | row X, native | 10.0 ± 0.0 | **30.0 ± 0.0** |"), "{md}");
        assert!(md.contains("| **mean over tasks** | | 35.0 (2 tasks) | 25.0 (2 tasks) |"), "{md}");
        assert!(md.contains("nf-gcbc beats gcbc on 1 of 2 tasks"), "{md}");
        assert!(md.contains("Missing runs (1)") && md.contains("pointmaze-large-navigate / gcbc / seed 1"), "{md}");
        let csv = std::fs::read_to_string(results.join("tables/fx-cil.csv")).unwrap();
        assert!(csv.contains("pointmaze-medium-navigate,\"row X, native\",60.000,14.142,2,20.000,0.000,2"), "{csv}");
        // Every run of the suite, one row each; the missing one keeps its status and no numbers.
        let runs = std::fs::read_to_string(results.join("tables/fx-runs.csv")).unwrap();
        assert_eq!(runs.lines().count(), 1 + 8, "{runs}");
        // The fixture's final.toml files are in the format written before scores existed
        // (`best_success`, no `score`): they still read, with empty score columns.
        assert!(runs.contains("cil,pointmaze-medium-navigate,nf-gcbc,1,done,0.7,-0.7,,,0.7,10.000,100.0,\"row X, native\","), "{runs}");
        assert!(runs.contains("cil,pointmaze-large-navigate,gcbc,1,not started,,,,,,,,,"), "{runs}");
        for f in ["fx-cil-pointmaze-medium-navigate.png", "fx-cil-pointmaze-medium-navigate.svg", "fx-cil-bars.png", "fx-cil-bars.svg"] {
            let n = std::fs::metadata(results.join("plots").join(f)).map(|m| m.len()).unwrap_or(0);
            assert!(n > 2000, "{f}: {n} bytes");
        }
        assert!(report.contains("tables in"));
    }
}
