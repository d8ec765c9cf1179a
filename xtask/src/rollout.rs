//! `cargo xtask show-task NAME --rollout DEMO --out FILE.gif` (or `FILE.png`): one episode of the
//! task's dataset, as the scripted expert played it, so a newcomer sees what the expert does.
//!
//! The episode is episode `DEMO` of the training split that `cargo xtask datasets` would write
//! (same seed, same bytes), regenerated here rather than read from disk so the command works
//! before any dataset exists. A `.gif` animates it (at most [`MAX_FRAMES`] frames, evenly
//! spaced, 10 per second); any other extension gets a strip of [`STRIP_FRAMES`] frames side by
//! side in one PNG, which is what fits in a README or a paper.

use std::path::Path;

use anyhow::{bail, Context, Result};
use envs::maze::{Maze, MAZE_UNIT};
use envs::{Dataset, Split};
use plotters::coord::Shift;
use plotters::prelude::*;

const MAX_FRAMES: usize = 150;
const STRIP_FRAMES: usize = 8;
const FRAME: (u32, u32) = (360, 360);

/// One frame's drawing area.
pub type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Draws episode `demo` of `name`'s dataset (base task name or a singletask variant, whose
/// dataset is the base task's) into `out`.
pub fn show_rollout(name: &str, demo: usize, out: &Path, seed: u64) -> Result<()> {
    let meta = envs::meta(name)?;
    let (Some(base), Some(recipe)) = (meta.dataset.clone(), meta.recipe) else {
        bail!("{name} has no dataset (the online mazes collect their own data), so it has no demonstrations to show");
    };
    // Episodes are generated independently from (seed, episode index), so the first `demo + 1`
    // episodes hold episode `demo` exactly as the full dataset does.
    if demo >= recipe.episodes {
        bail!("--rollout {demo}: {base}'s training split has {} episodes (0 … {})", recipe.episodes, recipe.episodes - 1);
    }
    let ds = envs::generate_with(&base, seed, Split::Train, demo + 1, recipe.episode_len)?;
    let (start, end) = *ds.episodes().last().context("the generator returned no episode")?;
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let gif = out.extension().is_some_and(|e| e.eq_ignore_ascii_case("gif"));
    let frames = (if gif { MAX_FRAMES } else { STRIP_FRAMES }).min(end - start);
    let rows: Vec<usize> = (0..frames).map(|k| start + k * (end - 1 - start) / (frames - 1).max(1)).collect();
    let caption = |row: usize| format!("{base} · demo {demo} · step {}/{}", row - start, end - 1 - start);
    if gif {
        let root = BitMapBackend::gif(out, (FRAME.0, FRAME.1 + 24), 100).with_context(|| format!("creating {}", out.display()))?.into_drawing_area();
        for &row in &rows {
            root.fill(&WHITE)?;
            let (top, body) = root.split_vertically(24);
            top.draw(&Text::new(caption(row), (6, 4), ("sans-serif", 13).into_font()))?;
            draw_frame(&body, &base, &ds, start, row)?;
            root.present().with_context(|| format!("writing {}", out.display()))?;
        }
    } else {
        let root = BitMapBackend::new(out, (FRAME.0 * frames as u32, FRAME.1 + 24)).into_drawing_area();
        root.fill(&WHITE)?;
        for (k, area) in root.split_evenly((1, frames)).iter().enumerate() {
            let (top, body) = area.split_vertically(24);
            top.draw(&Text::new(format!("step {}", rows[k] - start), (6, 4), ("sans-serif", 13).into_font()))?;
            draw_frame(&body, &base, &ds, start, rows[k])?;
        }
        root.present().with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(())
}

/// The state at `row` of episode rows `start..` of a dataset generated for `base`.
fn draw_frame(area: &Area<'_>, base: &str, ds: &Dataset, start: usize, row: usize) -> Result<()> {
    let family = base.split('-').next().unwrap_or(base);
    match family {
        "pointmaze" | "accelmaze" => maze_frame(area, base, ds, start, row),
        "pointsoccer" => soccer_frame(area, base, ds, start, row),
        "kinpuzzle" => puzzle_frame(area, ds, row),
        "kincube" => cube_frame(area, ds, row),
        "kinscene" => super::show_scene::draw_frame(area, ds, row),
        "multigoal4" => super::show_multigoal4::draw_frame(area, ds, row),
        "blockpush2" => super::show_blockpush2::draw_frame(area, ds, row),
        "kitchen2d" => super::show_kitchen::draw_frame(area, ds, row),
        "pusht" => super::show_pusht::draw_frame(area, ds, row),
        _ => bail!("show-task --rollout does not draw {base} yet"),
    }
}

/// Walls of `maze`, in its own coordinates (OGBench convention: x right, y down the rows).
fn maze_chart<'a, 'b>(area: &'a Area<'b>, maze: &Maze) -> Result<ChartContext<'a, BitMapBackend<'b>, Cartesian2d<plotters::coord::types::RangedCoordf32, plotters::coord::types::RangedCoordf32>>> {
    let (lo, hi) = maze.bounds();
    let mut chart = ChartBuilder::on(area).margin(6).build_cartesian_2d(lo[0]..hi[0], hi[1]..lo[1])?;
    let half = MAZE_UNIT / 2.0;
    for i in 0..maze.rows() {
        for j in 0..maze.cols() {
            if maze.is_wall(i as isize, j as isize) {
                let c = maze.ij_to_xy((i, j));
                chart.draw_series(std::iter::once(Rectangle::new([(c[0] - half, c[1] - half), (c[0] + half, c[1] + half)], RGBColor(110, 110, 120).filled())))?;
            }
        }
    }
    Ok(chart)
}

/// The agent (blue) and its path so far.
fn maze_frame(area: &Area<'_>, base: &str, ds: &Dataset, start: usize, row: usize) -> Result<()> {
    let env = envs::registry::make_maze(base)?;
    let mut chart = maze_chart(area, env.maze())?;
    let path: Vec<(f32, f32)> = (start..=row).map(|t| (ds.qpos_row(t)[0], ds.qpos_row(t)[1])).collect();
    chart.draw_series(std::iter::once(PathElement::new(path, RGBColor(55, 126, 184).mix(0.5).stroke_width(2))))?;
    let q = ds.qpos_row(row);
    chart.draw_series(std::iter::once(Circle::new((q[0], q[1]), 6, RGBColor(55, 126, 184).filled())))?;
    Ok(())
}

/// The agent (blue), the ball (white, black rim) and the ball's path so far.
fn soccer_frame(area: &Area<'_>, base: &str, ds: &Dataset, start: usize, row: usize) -> Result<()> {
    let env = envs::soccer::SoccerEnv::new(base, None);
    let mut chart = maze_chart(area, env.maze())?;
    let ball: Vec<(f32, f32)> = (start..=row).map(|t| (ds.qpos_row(t)[2], ds.qpos_row(t)[3])).collect();
    chart.draw_series(std::iter::once(PathElement::new(ball, RGBColor(90, 90, 90).mix(0.5).stroke_width(2))))?;
    let q = ds.qpos_row(row);
    chart.draw_series(std::iter::once(Circle::new((q[0], q[1]), 7, RGBColor(55, 126, 184).filled())))?;
    chart.draw_series(std::iter::once(Circle::new((q[2], q[3]), 5, WHITE.filled())))?;
    chart.draw_series(std::iter::once(Circle::new((q[2], q[3]), 5, BLACK.stroke_width(1))))?;
    Ok(())
}

/// The table seen from above (x down, y to the right, as `show-task` draws the cube tasks):
/// a chart over OGBench's effector workspace.
fn table_chart<'a, 'b>(area: &'a Area<'b>) -> Result<ChartContext<'a, BitMapBackend<'b>, Cartesian2d<plotters::coord::types::RangedCoordf32, plotters::coord::types::RangedCoordf32>>> {
    let (lo, hi) = (envs::arm::WORKSPACE_LO, envs::arm::WORKSPACE_HI);
    // Equal extents on both axes (the frame is square), so cubes stay square.
    let (cx, half) = ((lo[0] + hi[0]) / 2.0, (hi[1] - lo[1]) / 2.0);
    let mut chart = ChartBuilder::on(area).margin(6).build_cartesian_2d(lo[1]..hi[1], (cx + half)..(cx - half))?;
    chart.draw_series(std::iter::once(Rectangle::new([(lo[1], lo[0]), (hi[1], hi[0])], RGBColor(235, 228, 212).filled())))?;
    Ok(chart)
}

/// The effector: a cross, red when the gripper is closed; higher effectors are drawn larger.
fn draw_effector<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<plotters::coord::types::RangedCoordf32, plotters::coord::types::RangedCoordf32>>,
    x: f32,
    y: f32,
    z: f32,
    closed: bool,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let r = 0.012 + 0.05 * z;
    let colour = if closed { RGBColor(200, 30, 30) } else { RGBColor(30, 30, 30) };
    chart
        .draw_series([PathElement::new(vec![(y - r, x), (y + r, x)], colour.stroke_width(3)), PathElement::new(vec![(y, x - r), (y, x + r)], colour.stroke_width(3))])
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(())
}

/// The Lights-Out buttons (yellow on, dark off) and the effector.
fn puzzle_frame(area: &Area<'_>, ds: &Dataset, row: usize) -> Result<()> {
    let mut chart = table_chart(area)?;
    let n = ds.button_dim;
    let side = (n as f32).sqrt().round() as usize;
    let (rows, cols) = (side, n / side.max(1));
    let b = ds.buttons_row(row);
    for i in 0..rows {
        for j in 0..cols {
            // OGBench's button centres (10 cm pitch around x = 0.425, y = 0).
            let x = envs::arm::CENTER_X - 0.05 * (rows as f32 - 1.0) + 0.1 * i as f32;
            let y = -0.05 * (cols as f32 - 1.0) + 0.1 * j as f32;
            let colour = if b[i * cols + j] == 1 { RGBColor(250, 200, 40) } else { RGBColor(60, 60, 80) };
            chart.draw_series(std::iter::once(Rectangle::new([(y - 0.04, x - 0.04), (y + 0.04, x + 0.04)], colour.filled())))?;
        }
    }
    let q = ds.qpos_row(row);
    draw_effector(&mut chart, q[0], q[1], q[2], false)
}

/// The cubes (a rotated square each; a stacked one outlined thicker) and the effector.
fn cube_frame(area: &Area<'_>, ds: &Dataset, row: usize) -> Result<()> {
    const COLOURS: [RGBColor; 4] = [RGBColor(228, 26, 28), RGBColor(55, 126, 184), RGBColor(77, 175, 74), RGBColor(152, 78, 163)];
    let mut chart = table_chart(area)?;
    let q = ds.qpos_row(row);
    let cubes = (ds.qpos_dim - 5) / 4;
    let h = envs::cube::CUBE_HALF;
    for i in 0..cubes {
        let c = &q[5 + 4 * i..9 + 4 * i];
        let (s, co) = c[3].sin_cos();
        let corners: Vec<(f32, f32)> = [(-h, -h), (h, -h), (h, h), (-h, h)].iter().map(|(dx, dy)| (c[1] + s * dx + co * dy, c[0] + co * dx - s * dy)).collect();
        chart.draw_series(std::iter::once(Polygon::new(corners.clone(), COLOURS[i % COLOURS.len()].filled())))?;
        let width = if c[2] > envs::cube::TABLE_Z + h { 3 } else { 1 };
        let mut ring = corners;
        ring.push(ring[0]);
        chart.draw_series(std::iter::once(PathElement::new(ring, BLACK.stroke_width(width))))?;
    }
    draw_effector(&mut chart, q[0], q[1], q[2], q[4] > envs::cube::GRIP_THRESHOLD)
}

#[cfg(test)]
mod tests {
    /// A strip and a GIF for one task of each family: real images, not blank canvases, and an
    /// out-of-range demo index is an error naming the episode count.
    #[test]
    fn rollouts_draw_for_every_family() {
        let dir = std::env::temp_dir().join(format!("nf-rl-rollout-{}", std::process::id()));
        plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, dejavu::sans::regular()).ok();
        for name in ["pointmaze-medium-stitch", "pointsoccer-arena-stitch", "kinpuzzle-3x3-play", "kincube-double-play", "kinscene-play", "pusht", "multigoal4", "blockpush2", "kitchen2d"] {
            for ext in ["png", "gif"] {
                let out = dir.join(format!("{name}.{ext}"));
                super::show_rollout(name, 1, &out, 0).unwrap();
                let n = std::fs::metadata(&out).unwrap().len();
                assert!(n > 5000, "{}: {n} bytes", out.display());
            }
        }
        let err = super::show_rollout("pointmaze-medium-stitch", 5000, &dir.join("x.png"), 0).unwrap_err().to_string();
        assert!(err.contains("5000 episodes"), "{err}");
        let err = super::show_rollout("pointmaze-umaze-online", 0, &dir.join("x.png"), 0).unwrap_err().to_string();
        assert!(err.contains("no dataset"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
