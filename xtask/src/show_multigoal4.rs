//! `show-task multigoal4`: the open arena, the four corner goals with their 1.5 reach, the start
//! square, and demo paths coloured by the corner each demo visits first; plus the per-row frame
//! the rollout GIFs draw.

use std::path::Path;

use anyhow::{Context, Result};
use envs::multigoal::{ARENA_HI, ARENA_LO, GOALS, GOAL_RADIUS, START_HI, START_LO};
use envs::Split;
use plotters::coord::Shift;
use plotters::prelude::*;

/// One colour per goal (indexed like `GOALS`).
const GOAL_COLOURS: [RGBColor; 4] = [RGBColor(228, 26, 28), RGBColor(55, 126, 184), RGBColor(77, 175, 74), RGBColor(152, 78, 163)];

fn disc(c: [f32; 2], r: f32) -> Vec<(f32, f32)> {
    (0..48).map(|k| k as f32 * std::f32::consts::TAU / 48.0).map(|t| (c[0] + r * t.cos(), c[1] + r * t.sin())).collect()
}

type Chart<'a, 'b> = ChartContext<'a, BitMapBackend<'b>, Cartesian2d<plotters::coord::types::RangedCoordf32, plotters::coord::types::RangedCoordf32>>;

/// The arena's floor, the start square and the goals (filled once `visited`).
fn draw_arena(chart: &mut Chart<'_, '_>, visited: [bool; 4]) -> Result<()> {
    chart.draw_series(std::iter::once(Rectangle::new([(ARENA_LO, ARENA_LO), (ARENA_HI, ARENA_HI)], RGBColor(245, 242, 235).filled())))?;
    chart.draw_series(std::iter::once(Rectangle::new([(ARENA_LO, ARENA_LO), (ARENA_HI, ARENA_HI)], RGBColor(110, 110, 120).stroke_width(3))))?;
    chart.draw_series(std::iter::once(Rectangle::new([(START_LO, START_LO), (START_HI, START_HI)], RGBColor(200, 200, 200).filled())))?;
    for (k, g) in GOALS.iter().enumerate() {
        let c = GOAL_COLOURS[k];
        let fill = if visited[k] { c.mix(0.6).filled() } else { c.mix(0.12).filled() };
        chart.draw_series(std::iter::once(Polygon::new(disc(*g, GOAL_RADIUS), fill)))?;
        chart.draw_series(std::iter::once(PathElement::new(disc(*g, GOAL_RADIUS).into_iter().chain(std::iter::once((g[0] + GOAL_RADIUS, g[1]))).collect::<Vec<_>>(), c.stroke_width(2))))?;
    }
    Ok(())
}

fn flags(q: &[f32]) -> [bool; 4] {
    [q[2] > 0.5, q[3] > 0.5, q[4] > 0.5, q[5] > 0.5]
}

/// The `show-task` picture: the layout and `trajectories` demo paths, coloured by first corner.
pub fn draw(name: &str, meta: &envs::TaskMeta, out: &Path, trajectories: usize, seed: u64) -> Result<()> {
    let root = BitMapBackend::new(out, (620, 716)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, body) = root.split_vertically(96);
    top.draw(&Text::new(name.to_string(), (10, 8), ("sans-serif", 20).into_font()))?;
    // The stand-in line is long: two lines, broken at a space.
    let stands = format!("stands in for {}", meta.stands_in_for);
    let cut = if stands.len() > 100 { stands.char_indices().take_while(|&(i, _)| i < 100).filter(|&(_, c)| c == ' ').map(|(i, _)| i).last().unwrap_or(stands.len()) } else { stands.len() };
    for (k, line) in [&stands[..cut], stands[cut..].trim_start()].into_iter().enumerate() {
        top.draw(&Text::new(line.to_string(), (10, 34 + 15 * k as i32), ("sans-serif", 12).into_font().color(&RGBColor(80, 80, 80))))?;
    }
    top.draw(&Text::new("grey: start U[7,9]²; discs: goals (reach 1.5); paths coloured by the first goal visited", (10, 72), ("sans-serif", 12).into_font()))?;
    let mut chart = ChartBuilder::on(&body).margin(10).build_cartesian_2d(ARENA_LO..ARENA_HI, ARENA_LO..ARENA_HI)?;
    draw_arena(&mut chart, [false; 4])?;
    if let (Some(recipe), true) = (meta.recipe, trajectories > 0) {
        let ds = envs::generate_with(name, seed, Split::Train, trajectories, recipe.episode_len)?;
        for (s, e) in ds.episodes() {
            // The first goal whose flag switches on.
            let first = (s..e).find_map(|t| flags(ds.qpos_row(t)).iter().position(|&f| f)).unwrap_or(0);
            let pts: Vec<(f32, f32)> = (s..e).map(|t| (ds.qpos_row(t)[0], ds.qpos_row(t)[1])).collect();
            chart.draw_series(std::iter::once(PathElement::new(pts, GOAL_COLOURS[first].mix(0.6).stroke_width(1))))?;
            let q = ds.qpos_row(s);
            chart.draw_series(std::iter::once(Circle::new((q[0], q[1]), 3, BLACK.filled())))?;
        }
    }
    root.present().with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

/// Row `row` of a `multigoal4` dataset: the arena, the goals reached so far (filled), the body
/// and its velocity (scaled ×20), and the score.
pub fn draw_frame(area: &DrawingArea<BitMapBackend<'_>, Shift>, ds: &envs::Dataset, row: usize) -> Result<()> {
    anyhow::ensure!(ds.qpos_dim == 6 && ds.obs_dim == 4, "not a multigoal4 dataset (qpos {} wide, observations {})", ds.qpos_dim, ds.obs_dim);
    anyhow::ensure!(row < ds.len(), "row {row} is past the dataset's {} rows", ds.len());
    // Callers other than `show_task` (the rollout GIFs) may not have registered the font yet.
    plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, dejavu::sans::regular()).map_err(|_| anyhow::anyhow!("registering the DejaVu font"))?;
    area.fill(&WHITE)?;
    let q = ds.qpos_row(row);
    let visited = flags(q);
    let score = visited.iter().filter(|&&v| v).count();
    let mut chart = ChartBuilder::on(area).margin(8).caption(format!("row {row}: {score}/4 goals"), ("sans-serif", 16)).build_cartesian_2d(ARENA_LO..ARENA_HI, ARENA_LO..ARENA_HI)?;
    draw_arena(&mut chart, visited)?;
    let (p, v) = ([q[0], q[1]], ds.observation(row)[2..4].to_vec());
    chart.draw_series(std::iter::once(PathElement::new(vec![(p[0], p[1]), (p[0] + 20.0 * v[0], p[1] + 20.0 * v[1])], BLACK.stroke_width(2))))?;
    chart.draw_series(std::iter::once(Polygon::new(disc(p, 0.5), RGBColor(40, 40, 40).filled())))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    /// Frames of the first, a middle and the terminal row of a demo draw into a real PNG.
    #[test]
    fn dataset_rows_draw_as_frames() {
        let ds = envs::generate_with("multigoal4", 1, envs::Split::Train, 1, 2000).unwrap();
        let out = std::env::temp_dir().join(format!("nf-rl-frame-multigoal4-{}.png", std::process::id()));
        {
            use plotters::prelude::IntoDrawingArea;
            let root = plotters::prelude::BitMapBackend::new(&out, (900, 300)).into_drawing_area();
            let panels = root.split_evenly((1, 3));
            for (panel, row) in panels.iter().zip([0, ds.len() / 2, ds.len() - 1]) {
                super::draw_frame(panel, &ds, row).unwrap();
            }
            root.present().unwrap();
            assert!(super::draw_frame(&panels[0], &ds, ds.len()).is_err());
        }
        let bytes = std::fs::read(&out).unwrap();
        assert!(bytes.len() > 5_000, "suspiciously small frame picture ({} bytes)", bytes.len());
        let _ = std::fs::remove_file(&out);
    }
}
