//! `show-task blockpush2`: the table, the two target zones, the blocks' and the pusher's start
//! regions, and the blocks' paths in a few demos (coloured by block); plus the per-row frame the
//! rollout GIFs draw.

use std::path::Path;

use anyhow::{Context, Result};
use envs::blockpush::{score_of, BLOCK_HALF, BLOCK_JITTER, BLOCK_SPOTS, PUSHER_JITTER, PUSHER_RADIUS, PUSHER_START, TABLE, TARGETS, TARGET_HALF};
use envs::Split;
use plotters::coord::Shift;
use plotters::prelude::*;

/// Block 0 (left spot) red, block 1 (right spot) blue; targets in the same two hues, lighter.
const BLOCK_COLOURS: [RGBColor; 2] = [RGBColor(214, 39, 40), RGBColor(31, 119, 180)];
const TARGET_COLOUR: RGBColor = RGBColor(255, 190, 60);

type Chart<'a, 'b> = ChartContext<'a, BitMapBackend<'b>, Cartesian2d<plotters::coord::types::RangedCoordf32, plotters::coord::types::RangedCoordf32>>;

fn square(c: [f32; 2], h: f32) -> [(f32, f32); 2] {
    [(c[0] - h, c[1] - h), (c[0] + h, c[1] + h)]
}

fn disc(c: [f32; 2], r: f32) -> Vec<(f32, f32)> {
    (0..32).map(|k| k as f32 * std::f32::consts::TAU / 32.0).map(|t| (c[0] + r * t.cos(), c[1] + r * t.sin())).collect()
}

/// The table and the two target zones (numbered 0, 1).
fn draw_table(chart: &mut Chart<'_, '_>) -> Result<()> {
    chart.draw_series(std::iter::once(Rectangle::new([(0.0, 0.0), (TABLE, TABLE)], RGBColor(235, 225, 205).filled())))?;
    chart.draw_series(std::iter::once(Rectangle::new([(0.0, 0.0), (TABLE, TABLE)], RGBColor(110, 110, 120).stroke_width(3))))?;
    for (k, t) in TARGETS.iter().enumerate() {
        chart.draw_series(std::iter::once(Rectangle::new(square(*t, TARGET_HALF), TARGET_COLOUR.mix(0.35).filled())))?;
        chart.draw_series(std::iter::once(Rectangle::new(square(*t, TARGET_HALF), TARGET_COLOUR.stroke_width(2))))?;
        chart.draw_series(std::iter::once(Text::new(format!("target {k}"), (t[0] - TARGET_HALF, t[1] + TARGET_HALF + 0.7), ("sans-serif", 13).into_font())))?;
    }
    Ok(())
}

fn draw_state(chart: &mut Chart<'_, '_>, pusher: [f32; 2], blocks: [[f32; 2]; 2]) -> Result<()> {
    for (i, b) in blocks.iter().enumerate() {
        chart.draw_series(std::iter::once(Rectangle::new(square(*b, BLOCK_HALF), BLOCK_COLOURS[i].filled())))?;
        chart.draw_series(std::iter::once(Rectangle::new(square(*b, BLOCK_HALF), BLACK.stroke_width(1))))?;
    }
    chart.draw_series(std::iter::once(Polygon::new(disc(pusher, PUSHER_RADIUS), RGBColor(60, 60, 60).filled())))?;
    Ok(())
}

/// The `show-task` picture: the layout, the start regions (dashed), a start state and the paths
/// of both blocks (and, faintly, the pusher) in `trajectories` demos.
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
    top.draw(&Text::new("outlines: start regions; lines: block paths in demos (grey: pusher); any block to any target", (10, 72), ("sans-serif", 12).into_font()))?;
    let mut chart = ChartBuilder::on(&body).margin(10).build_cartesian_2d(0.0f32..TABLE, 0.0f32..TABLE)?;
    draw_table(&mut chart)?;
    for (i, s) in BLOCK_SPOTS.iter().enumerate() {
        chart.draw_series(std::iter::once(Rectangle::new(square(*s, BLOCK_JITTER + BLOCK_HALF), BLOCK_COLOURS[i].stroke_width(1))))?;
    }
    let p = PUSHER_START;
    let pj = PUSHER_JITTER;
    chart.draw_series(std::iter::once(Rectangle::new(
        [(p[0] - pj[0] - PUSHER_RADIUS, p[1] - pj[1] - PUSHER_RADIUS), (p[0] + pj[0] + PUSHER_RADIUS, p[1] + pj[1] + PUSHER_RADIUS)],
        RGBColor(60, 60, 60).stroke_width(1),
    )))?;
    if let (Some(recipe), true) = (meta.recipe, trajectories > 0) {
        let ds = envs::generate_with(name, seed, Split::Train, trajectories, recipe.episode_len)?;
        for (s, e) in ds.episodes() {
            let path = |k: usize| -> Vec<(f32, f32)> { (s..e).map(|t| (ds.qpos_row(t)[2 * k], ds.qpos_row(t)[2 * k + 1])).collect() };
            chart.draw_series(std::iter::once(PathElement::new(path(0), RGBColor(90, 90, 90).mix(0.3).stroke_width(1))))?;
            for (i, colour) in BLOCK_COLOURS.iter().enumerate() {
                chart.draw_series(std::iter::once(PathElement::new(path(i + 1), colour.mix(0.7).stroke_width(2))))?;
            }
        }
    }
    draw_state(&mut chart, PUSHER_START, BLOCK_SPOTS)?;
    root.present().with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

/// Row `row` of a `blockpush2` dataset: table, targets, blocks, pusher and the score.
pub fn draw_frame(area: &DrawingArea<BitMapBackend<'_>, Shift>, ds: &envs::Dataset, row: usize) -> Result<()> {
    anyhow::ensure!(ds.qpos_dim == 6 && ds.obs_dim == 6, "not a blockpush2 dataset (qpos {} wide, observations {})", ds.qpos_dim, ds.obs_dim);
    anyhow::ensure!(row < ds.len(), "row {row} is past the dataset's {} rows", ds.len());
    // Callers other than `show_task` (the rollout GIFs) may not have registered the font yet.
    plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, dejavu::sans::regular()).map_err(|_| anyhow::anyhow!("registering the DejaVu font"))?;
    area.fill(&WHITE)?;
    let q = ds.qpos_row(row);
    let (pusher, blocks) = ([q[0], q[1]], [[q[2], q[3]], [q[4], q[5]]]);
    let mut chart = ChartBuilder::on(area).margin(8).caption(format!("row {row}: {}/2 blocks in targets", score_of(blocks)), ("sans-serif", 16)).build_cartesian_2d(0.0f32..TABLE, 0.0f32..TABLE)?;
    draw_table(&mut chart)?;
    draw_state(&mut chart, pusher, blocks)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    /// Frames of the first, a middle and the terminal row of a demo draw into a real PNG.
    #[test]
    fn dataset_rows_draw_as_frames() {
        let ds = envs::generate_with("blockpush2", 1, envs::Split::Train, 1, 2000).unwrap();
        let out = std::env::temp_dir().join(format!("nf-rl-frame-blockpush2-{}.png", std::process::id()));
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
