//! Ablation tables: a setting whose experiments are `[[experiment.variant]]`s gets, before its
//! regular task × variant tables, the paper's layout: one row per variant, and per task our number
//! beside the paper's for the row the task stands in for. The paper's numbers come from MuJoCo
//! tasks and human demonstrations, ours from native stand-ins: the columns are side by side for
//! the shape of each effect, never as a comparison of values. A sweep (every variant has a
//! `value`) also gets a plot of the score against that value.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use plotters::prelude::*;
use polars::prelude::*;
use serde::Serialize;

use super::summarise;
use crate::suite::{column, Paper, RunVariant, Suite};

/// One ablation setting, in the suite's order.
pub struct Ablation {
    pub setting: String,
    pub agent: String,
    pub tasks: Vec<String>,
    /// Each variant with the paper's entry per task.
    pub variants: Vec<(RunVariant, BTreeMap<String, Paper>)>,
    /// Seeds each cell should have.
    pub seeds: usize,
}

/// The suite's ablation settings (those whose runs carry a variant).
pub fn ablations(suite: &Suite) -> Vec<Ablation> {
    let mut out: Vec<Ablation> = Vec::new();
    for r in &suite.runs {
        let Some(v) = &r.variant else { continue };
        let k = match out.iter().position(|a| a.setting == r.setting) {
            Some(k) => k,
            None => {
                out.push(Ablation { setting: r.setting.clone(), agent: r.spec.agent.clone(), tasks: Vec::new(), variants: Vec::new(), seeds: 0 });
                out.len() - 1
            }
        };
        let a = &mut out[k];
        if !a.tasks.contains(&r.spec.task) {
            a.tasks.push(r.spec.task.clone());
        }
        let j = match a.variants.iter().position(|(x, _)| x.name == v.name) {
            Some(j) => j,
            None => {
                a.variants.push((RunVariant { paper: None, ..v.clone() }, BTreeMap::new()));
                a.variants.len() - 1
            }
        };
        if let Some(p) = &v.paper {
            a.variants[j].1.insert(r.spec.task.clone(), p.clone());
        }
    }
    for a in &mut out {
        let first = suite.runs.iter().find(|r| r.setting == a.setting).map(|r| (r.spec.task.clone(), r.column()));
        a.seeds = suite.runs.iter().filter(|r| Some((r.spec.task.clone(), r.column())) == first).count();
    }
    out
}

/// One cell: our mean, std and finished seeds (as a fraction of the task's top score or of 1
/// success), and the seeds that diverged.
#[derive(Clone, Debug, Default)]
struct Cell {
    mean: Option<f64>,
    std: f64,
    seeds: u32,
    diverged: Vec<String>,
}

/// One ablation's numbers, summarised once for its table, CSV and plot.
pub struct Cells {
    /// Imitation tasks (final score) rather than goal-conditioned ones (success).
    imitation: bool,
    /// (task, column) → cell.
    cells: BTreeMap<(String, String), Cell>,
}

impl Cells {
    fn get(&self, a: &Ablation, task: &str, v: &RunVariant) -> Option<&Cell> {
        self.cells.get(&(task.to_string(), column(&a.agent, Some(&v.name))))
    }
}

/// The cells of one ablation from the runs table: `column` is `last3` for goal-conditioned tasks
/// (in %), `value` for imitation (the final score); both become fractions of the top.
pub fn cells(a: &Ablation, runs: &DataFrame, tasks: &BTreeMap<String, envs::Task>) -> Result<Cells> {
    let imitation = a.tasks.iter().all(|t| tasks[t].is_imitation());
    let column = if imitation { "value" } else { "last3" };
    let summary = summarise::for_setting(&summarise::summarise_by(runs, column)?, &a.setting)?;
    let (t, ag, m, sd, n) = (summary.column("task")?.str()?, summary.column("agent")?.str()?, summary.column("mean")?.f64()?, summary.column("std")?.f64()?, summary.column("seeds")?.u32()?);
    let mut out: BTreeMap<(String, String), Cell> = BTreeMap::new();
    for i in 0..summary.height() {
        let (Some(task), Some(col)) = (t.get(i), ag.get(i)) else { continue };
        let top = if imitation { tasks[task].top_score as f64 } else { 100.0 };
        out.insert((task.to_string(), col.to_string()), Cell { mean: m.get(i).map(|v| v / top), std: sd.get(i).unwrap_or(0.0) / top, seeds: n.get(i).unwrap_or(0), diverged: Vec::new() });
    }
    let (setting, task, agent, seed, div) = (runs.column("setting")?.str()?, runs.column("task")?.str()?, runs.column("agent")?.str()?, runs.column("seed")?.u64()?, runs.column("diverged")?.str()?);
    for i in 0..runs.height() {
        if setting.get(i) != Some(a.setting.as_str()) {
            continue;
        }
        if let (Some(task), Some(col), Some(d)) = (task.get(i), agent.get(i), div.get(i)) {
            out.entry((task.to_string(), col.to_string())).or_default().diverged.push(format!("seed {} at {d}", seed.get(i).unwrap_or_default()));
        }
    }
    Ok(Cells { imitation, cells: out })
}

fn render_cell(c: Option<&Cell>, seeds: usize) -> String {
    let Some(c) = c else { return "—".into() };
    let mut s = match c.mean {
        Some(m) if c.seeds as usize == seeds => format!("{m:.2} ± {:.2}", c.std),
        Some(m) => format!("{m:.2} ± {:.2} ({} of {seeds} seeds)", c.std, c.seeds),
        None => String::new(),
    };
    if !c.diverged.is_empty() {
        if !s.is_empty() {
            s.push_str("; ");
        }
        s.push_str(&format!("**diverged**: {}", c.diverged.join("; ")));
    }
    if s.is_empty() {
        "—".into()
    } else {
        s
    }
}

/// The ablation's Markdown table in the paper's layout.
pub fn markdown(suite: &str, a: &Ablation, cells: &Cells, tasks: &BTreeMap<String, envs::Task>) -> String {
    let what = if cells.imitation { "final evaluation's score as a fraction of the task's top score" } else { "success averaged over the last three evaluations" };
    let mut md = format!("## {suite} — {}: ablation of {}\n\n", a.setting, a.agent);
    md.push_str(&format!(
        "Ours: {what}, mean ± std over {} seeds, on native stand-in tasks. \"Paper\": the study's number for the MuJoCo or human-demonstration task each stand-in replaces; \
         different tasks, shown for the shape of each effect, not comparable with ours. A run whose loss went non-finite is shown as diverged, with its step and loss term.\n\n",
        a.seeds
    ));
    let mut header = vec!["variant".to_string()];
    for t in &a.tasks {
        header.push(format!("{t} (ours)"));
        header.push(format!("paper: {}", tasks[t].meta.stands_in_for));
    }
    md.push_str(&format!("| {} |\n|{}\n", header.join(" | "), "---|".repeat(header.len())));
    for (v, paper) in &a.variants {
        let mut row = vec![v.label.clone()];
        for t in &a.tasks {
            row.push(render_cell(cells.get(a, t, v), a.seeds));
            row.push(paper.get(t).map_or("—".into(), |p| p.to_string()));
        }
        md.push_str(&format!("| {} |\n", row.join(" | ")));
    }
    md
}

#[derive(Serialize)]
struct Row<'a> {
    setting: &'a str,
    variant: &'a str,
    label: &'a str,
    value: Option<f64>,
    task: &'a str,
    stands_in_for: String,
    mean: Option<String>,
    std: Option<String>,
    seeds: u32,
    diverged: String,
    paper: Option<String>,
}

/// The ablation's CSV: one row per (variant, task).
pub fn csv(a: &Ablation, cells: &Cells, tasks: &BTreeMap<String, envs::Task>) -> Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for (v, paper) in &a.variants {
        for t in &a.tasks {
            let c = cells.get(a, t, v).cloned().unwrap_or_default();
            w.serialize(Row {
                setting: &a.setting,
                variant: &v.name,
                label: &v.label,
                value: v.value,
                task: t,
                stands_in_for: tasks[t].meta.stands_in_for.to_string(),
                mean: c.mean.map(|m| format!("{m:.4}")),
                std: c.mean.map(|_| format!("{:.4}", c.std)),
                seeds: c.seeds,
                diverged: c.diverged.join("; "),
                paper: paper.get(t).map(|p| p.to_string()),
            })?;
        }
    }
    Ok(String::from_utf8(w.into_inner()?)?)
}

const OURS: RGBColor = RGBColor(55, 126, 184);
const PAPER: RGBColor = RGBColor(228, 26, 28);

/// A sweep's plot (every variant has a `value`): per task, our score (± std over seeds) and the
/// paper's against the value, PNG and SVG. Nothing for an ablation that is not a sweep.
pub fn plot(dir: &Path, suite: &str, a: &Ablation, cells: &Cells) -> Result<Vec<PathBuf>> {
    if a.variants.iter().any(|(v, _)| v.value.is_none()) {
        return Ok(Vec::new());
    }
    // The axis is the one key every variant sets (σ = 0 also sets `denoise`).
    let common: Vec<&String> = a.variants[0].0.keys.iter().filter(|k| a.variants.iter().all(|(v, _)| v.keys.contains(k))).collect();
    let x_desc = match common[..] {
        [one] => one.clone(),
        _ => "value".to_string(),
    };
    let mut series: Vec<Sweep> = Vec::new();
    for t in &a.tasks {
        let ours = a.variants.iter().filter_map(|(v, _)| {
            let c = cells.get(a, t, v)?;
            Some((v.value?, c.mean?, c.std))
        });
        series.push((format!("{t} (ours)"), OURS, ours.collect()));
        let paper = a.variants.iter().filter_map(|(v, p)| match p.get(t)? {
            Paper::Number(y) => Some((v.value?, *y, 0.0)),
            Paper::Text(_) => None,
        });
        // Short labels: the legend must not cover the points (the table names the rows).
        series.push((format!("paper, {t}'s row (not comparable)"), PAPER, paper.collect()));
    }
    let xs = || a.variants.iter().filter_map(|(v, _)| v.value);
    let (lo, hi) = (xs().fold(f64::INFINITY, f64::min), xs().fold(f64::NEG_INFINITY, f64::max));
    let pad = ((hi - lo) * 0.05).max(1e-3);
    let mut out = Vec::new();
    for ext in ["png", "svg"] {
        let path = dir.join(format!("{suite}-{}-sweep.{ext}", a.setting));
        let caption = format!("{}: {} against {x_desc}", a.setting, a.agent);
        if ext == "png" {
            draw(BitMapBackend::new(&path, (640, 420)).into_drawing_area(), &caption, &x_desc, (lo - pad)..(hi + pad), &series)?;
        } else {
            draw(SVGBackend::new(&path, (640, 420)).into_drawing_area(), &caption, &x_desc, (lo - pad)..(hi + pad), &series)?;
        }
        out.push(path);
    }
    Ok(out)
}

/// A sweep series: its legend, colour and (x, mean, std) points.
type Sweep = (String, RGBColor, Vec<(f64, f64, f64)>);

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, plotters::coord::Shift>, caption: &str, x_desc: &str, x: std::ops::Range<f64>, series: &[Sweep]) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let err = |e: &dyn std::fmt::Debug| anyhow::anyhow!("{e:?}");
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root).caption(caption, ("sans-serif", 16)).margin(10).x_label_area_size(35).y_label_area_size(45).build_cartesian_2d(x, 0.0..1.15).map_err(|e| err(&e))?;
    chart.configure_mesh().x_desc(x_desc).y_desc("score (fraction of top) or success").draw().map_err(|e| err(&e))?;
    for (label, c, pts) in series {
        if pts.is_empty() {
            continue;
        }
        let c = *c;
        chart.draw_series(pts.iter().map(|&(x, m, s)| PathElement::new(vec![(x, (m - s).max(0.0)), (x, (m + s).min(1.0))], c.stroke_width(1)))).map_err(|e| err(&e))?;
        chart.draw_series(pts.iter().map(|&(x, m, _)| Circle::new((x, m), 3, c.filled()))).map_err(|e| err(&e))?;
        chart
            .draw_series(LineSeries::new(pts.iter().map(|&(x, m, _)| (x, m)), c.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], c.stroke_width(2)));
    }
    chart.configure_series_labels().position(SeriesLabelPosition::UpperRight).background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
