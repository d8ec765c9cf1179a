//! PushT pictures: the `show-task pusht` overview (goal pose, a few demos' initial T poses and the
//! paths of agent and T) and [`draw_frame`], one dataset row drawn as diffusion_policy renders
//! it (y down, light-green goal, slate T, blue agent, red cross on the action).

use std::path::Path;

use anyhow::{Context, Result};
use envs::pusht::{AGENT_RADIUS, GOAL_POSE, T_BOXES, WALL_HI, WALL_LO, WORKSPACE};
use envs::{Dataset, Split};
use plotters::coord::types::RangedCoordf32;
use plotters::coord::Shift;
use plotters::prelude::*;

const GOAL: RGBColor = RGBColor(144, 238, 144);
const BLOCK: RGBColor = RGBColor(119, 136, 153);
const AGENT: RGBColor = RGBColor(65, 105, 225);
const WALL: RGBColor = RGBColor(211, 211, 211);
const DEMO_COLOURS: [RGBColor; 5] = [RGBColor(228, 26, 28), RGBColor(55, 126, 184), RGBColor(77, 175, 74), RGBColor(152, 78, 163), RGBColor(255, 127, 0)];

type Chart<'a, 'b> = ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf32, RangedCoordf32>>;

/// Workspace coordinates, y down as pygame draws them.
fn chart<'a, 'b>(area: &'a DrawingArea<BitMapBackend<'b>, Shift>) -> Result<Chart<'a, 'b>> {
    Ok(ChartBuilder::on(area).margin(4).build_cartesian_2d(0f32..WORKSPACE, WORKSPACE..0f32)?)
}

fn walls(chart: &mut Chart<'_, '_>) -> Result<()> {
    for r in [[0.0, 0.0, WALL_LO, WORKSPACE], [WALL_HI, 0.0, WORKSPACE, WORKSPACE], [0.0, 0.0, WORKSPACE, WALL_LO], [0.0, WALL_HI, WORKSPACE, WORKSPACE]] {
        chart.draw_series(std::iter::once(Rectangle::new([(r[0], r[1]), (r[2], r[3])], WALL.filled())))?;
    }
    Ok(())
}

/// The T's two boxes at `pose`, filled with `style`.
fn tee(chart: &mut Chart<'_, '_>, pose: [f32; 3], style: ShapeStyle) -> Result<()> {
    for k in 0..T_BOXES.len() {
        let pts: Vec<(f32, f32)> = envs::pusht::box_corners(pose, k).iter().map(|p| (p[0], p[1])).collect();
        chart.draw_series(std::iter::once(Polygon::new(pts, style)))?;
    }
    Ok(())
}

fn tee_outline(chart: &mut Chart<'_, '_>, pose: [f32; 3], colour: RGBColor) -> Result<()> {
    let mut pts: Vec<(f32, f32)> = envs::pusht::outline(pose).iter().map(|p| (p[0], p[1])).collect();
    pts.push(pts[0]);
    chart.draw_series(std::iter::once(PathElement::new(pts, colour.stroke_width(2))))?;
    Ok(())
}

/// One row of a `pusht` dataset: goal, T, agent and the row's action, filling `area`.
pub fn draw_frame(area: &DrawingArea<BitMapBackend<'_>, Shift>, ds: &Dataset, row: usize) -> Result<()> {
    anyhow::ensure!(ds.qpos_dim == 5 && row < ds.len(), "draw_frame: row {row} of a dataset with {} rows and qpos dim {} (pusht has 5)", ds.len(), ds.qpos_dim);
    area.fill(&WHITE)?;
    let mut c = chart(area)?;
    walls(&mut c)?;
    let q = ds.qpos_row(row);
    tee(&mut c, GOAL_POSE, GOAL.filled())?;
    tee(&mut c, [q[2], q[3], q[4]], BLOCK.filled())?;
    c.draw_series(std::iter::once(Circle::new((q[0], q[1]), AGENT_RADIUS * area.dim_in_pixel().0 as f32 / WORKSPACE, AGENT.filled())))?;
    let a = ds.action(row);
    c.draw_series(std::iter::once(Cross::new((a[0], a[1]), 6, RED.stroke_width(2))))?;
    Ok(())
}

/// The overview: the goal T, and for `demos` expert demonstrations the initial T (outline), the
/// agent's path (solid) and the T origin's path (thin), one colour per demo, the final T faint.
pub fn draw(name: &str, meta: &envs::TaskMeta, out: &Path, demos: usize, seed: u64) -> Result<()> {
    let root = BitMapBackend::new(out, (870, 640)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, rest) = root.split_vertically(70);
    let (body, side) = rest.split_horizontally(560);
    top.draw(&Text::new(name.to_string(), (10, 8), ("sans-serif", 20).into_font()))?;
    top.draw(&Text::new(format!("stands in for {}", meta.stands_in_for), (10, 34), ("sans-serif", 11).into_font().color(&RGBColor(80, 80, 80))))?;
    top.draw(&Text::new("green: goal pose; outlines: initial T of each demo; lines: agent path", (10, 52), ("sans-serif", 11).into_font().color(&RGBColor(80, 80, 80))))?;
    let mut c = chart(&body)?;
    walls(&mut c)?;
    tee(&mut c, GOAL_POSE, GOAL.filled())?;
    if let (Some(recipe), true) = (meta.recipe, demos > 0) {
        let ds = envs::generate_with(name, seed, Split::Train, demos, recipe.episode_len)?;
        for (k, (s, e)) in ds.episodes().into_iter().enumerate() {
            let colour = DEMO_COLOURS[k % DEMO_COLOURS.len()];
            let (q0, q1) = (ds.qpos_row(s), ds.qpos_row(e - 1));
            tee(&mut c, [q1[2], q1[3], q1[4]], colour.mix(0.15).filled())?;
            tee_outline(&mut c, [q0[2], q0[3], q0[4]], colour)?;
            let agent: Vec<(f32, f32)> = (s..e).map(|t| (ds.qpos_row(t)[0], ds.qpos_row(t)[1])).collect();
            c.draw_series(std::iter::once(PathElement::new(agent, colour.mix(0.7).stroke_width(1))))?;
            let block: Vec<(f32, f32)> = (s..e).map(|t| (ds.qpos_row(t)[2], ds.qpos_row(t)[3])).collect();
            c.draw_series(std::iter::once(PathElement::new(block, colour.stroke_width(3))))?;
            c.draw_series(std::iter::once(Circle::new((q0[0], q0[1]), 6, colour.filled())))?;
        }
        // The first demo's first and last rows as the env renders them.
        if let Some(&(s, e)) = ds.episodes().first() {
            let (upper, lower) = side.split_vertically(285);
            for (area, row, label) in [(&upper, s, "demo 1, first row"), (&lower, e - 1, "demo 1, last row")] {
                let (caption, frame) = area.split_vertically(20);
                caption.draw(&Text::new(label, (8, 2), ("sans-serif", 12).into_font()))?;
                draw_frame(&frame.margin(0, 8, 8, 8), &ds, row)?;
            }
        }
    }
    root.present().with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}
