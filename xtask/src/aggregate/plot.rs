//! Plot: learning curves per task and a bar chart per setting, PNG and SVG.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use plotters::prelude::*;
use polars::prelude::{DataFrame, Float64Chunked};

use super::load::Curve;
use super::summarise::mean_std_count;

const COLOURS: [RGBColor; 8] =
    [RGBColor(228, 26, 28), RGBColor(55, 126, 184), RGBColor(77, 175, 74), RGBColor(152, 78, 163), RGBColor(255, 127, 0), RGBColor(166, 86, 40), RGBColor(247, 129, 191), RGBColor(100, 100, 100)];

/// Learning curves of one task: per agent, mean ± std (shaded) over the seeds that reached each
/// step. `curves[k]` are agent `k`'s curves.
pub fn plot_curves(dir: &Path, suite: &str, setting: &str, task: &envs::Task, agents: &[String], curves: &[Option<&Vec<Curve>>]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let series: Vec<CurveStats> = curves
        .iter()
        .enumerate()
        .filter_map(|(k, c)| {
            let mut by_step: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
            for cv in c.iter().copied().flatten() {
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
                            let (m, sd, _) = mean_std_count(&Float64Chunked::from_vec("v".into(), v));
                            (s as f64, m.unwrap_or(0.0), sd)
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
    let stem = format!("{suite}-{setting}-{}", task.name());
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

/// Agent index and its (step, mean, std) points.
type CurveStats = (usize, Vec<(f64, f64, f64)>);

fn draw_curves<DB: DrawingBackend>(root: DrawingArea<DB, plotters::coord::Shift>, task: &envs::Task, setting: &str, xmax: f64, series: &[CurveStats], agents: &[String]) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("{} ({setting})", task.name()), ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(45)
        .build_cartesian_2d(0.0..xmax, 0.0..100.0)
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let (x, y) = match task.kind {
        envs::TaskKind::Imitation => ("gradient steps", "score (% of top score)"),
        envs::TaskKind::Online => ("environment steps", "success on the hard goals (%)"),
        _ => ("gradient steps", "success (%)"),
    };
    chart.configure_mesh().x_desc(x).y_desc(y).draw().map_err(|e| anyhow::anyhow!("{e:?}"))?;
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

/// The setting's bar chart: per agent, the mean over tasks (± std over tasks) of `over_tasks`
/// ([`super::summarise::mean_over_tasks`]).
pub fn plot_bars(dir: &Path, suite: &str, setting: &str, agents: &[String], over_tasks: &DataFrame) -> Result<Vec<PathBuf>> {
    let (a, m, s) = (over_tasks.column("agent")?.str()?, over_tasks.column("mean")?.f64()?, over_tasks.column("std")?.f64()?);
    let mut vals: Vec<(usize, f64, f64)> = (0..over_tasks.height()).filter_map(|i| Some((agents.iter().position(|x| Some(x.as_str()) == a.get(i))?, m.get(i)?, s.get(i).unwrap_or(0.0)))).collect();
    vals.sort_by_key(|v| v.0);
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
