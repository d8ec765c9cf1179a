//! `cargo xtask show-task NAME --out FILE.png`: a top-down picture of a task so a newcomer sees
//! at a glance what it is — the maze with its 5 evaluation start/goal pairs and ~50 dataset
//! trajectories, a puzzle's task grids, the cube tasks' initial and goal cubes, or the soccer
//! arena's tasks and ball paths.

use std::path::Path;

use anyhow::{Context, Result};
use envs::maze::{Maze, MAZE_UNIT, TELEPORT_IN, TELEPORT_OUT};
use envs::{GoalEnv, Split};
use plotters::prelude::*;
use plotters::style::FontStyle;

#[path = "show_blockpush2.rs"]
pub mod show_blockpush2;
#[path = "show_kitchen.rs"]
mod show_kitchen;
#[path = "show_multigoal4.rs"]
pub mod show_multigoal4;
#[path = "show_pusht.rs"]
pub(crate) mod show_pusht;
#[path = "show_scene.rs"]
mod show_scene;

const TASK_COLOURS: [RGBColor; 5] = [RGBColor(228, 26, 28), RGBColor(55, 126, 184), RGBColor(77, 175, 74), RGBColor(152, 78, 163), RGBColor(255, 127, 0)];

#[path = "rollout.rs"]
mod rollout;

/// `show-task NAME --rollout DEMO`: see [`rollout`].
pub fn show_rollout(name: &str, demo: usize, out: &Path, seed: u64) -> Result<()> {
    plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular()).map_err(|_| anyhow::anyhow!("registering the DejaVu font"))?;
    rollout::show_rollout(name, demo, out, seed)
}

pub fn show_task(name: &str, out: &Path, trajectories: usize, seed: u64) -> Result<()> {
    plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular()).map_err(|_| anyhow::anyhow!("registering the DejaVu font"))?;
    let meta = envs::meta(name)?;
    let env = envs::make(name)?;
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    if name.starts_with("kinpuzzle") {
        draw_puzzle(name, &meta, env.as_ref(), out)
    } else if name.starts_with("kincube") {
        draw_cubes(name, &meta, out)
    } else if name.starts_with("kinscene") {
        show_scene::draw_scene(name, &meta, out)
    } else if name.starts_with("pointsoccer") {
        draw_soccer(name, &meta, out, trajectories, seed)
    } else if name == "multigoal4" {
        show_multigoal4::draw(name, &meta, out, trajectories, seed)
    } else if name == "blockpush2" {
        show_blockpush2::draw(name, &meta, out, trajectories, seed)
    } else if name == "kitchen2d" {
        show_kitchen::draw(name, &meta, out, trajectories, seed)
    } else if name == "pusht" {
        show_pusht::draw(name, &meta, out, trajectories, seed)
    } else {
        draw_maze(name, &meta, out, trajectories, seed)
    }
}

fn draw_maze(name: &str, meta: &envs::TaskMeta, out: &Path, trajectories: usize, seed: u64) -> Result<()> {
    let env = envs::registry::make_maze(name)?;
    let maze: &Maze = env.maze();
    // In JaxGCRL coordinates x runs down the rows, so plot (y, x) to keep the map's orientation
    // (row 0 at the top, as the maps are written).
    let to_plot = |p: [f32; 2]| -> (f32, f32) {
        match maze.convention {
            envs::maze::Convention::Ogbench => (p[0], p[1]),
            envs::maze::Convention::JaxGcrl => (p[1], p[0]),
        }
    };
    let (lo, hi) = maze.bounds();
    let (a, b) = (to_plot(lo), to_plot(hi));
    let px = 60.0; // pixels per cell
    let (w, h) = (((b.0 - a.0) / MAZE_UNIT * px) as u32 + 20, ((b.1 - a.1) / MAZE_UNIT * px) as u32 + 80);
    let root = BitMapBackend::new(out, (w.max(520), h)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, body) = root.split_vertically(60);
    top.draw(&Text::new(name.to_string(), (10, 8), ("sans-serif", 20).into_font()))?;
    top.draw(&Text::new(format!("stands in for {}", meta.stands_in_for), (10, 34), ("sans-serif", 13).into_font().color(&RGBColor(80, 80, 80))))?;
    let mut chart = ChartBuilder::on(&body).margin(10).build_cartesian_2d(a.0..b.0, b.1..a.1)?;
    let half = MAZE_UNIT / 2.0;
    for i in 0..maze.rows() {
        for j in 0..maze.cols() {
            if maze.is_wall(i as isize, j as isize) {
                let c = to_plot(maze.ij_to_xy((i, j)));
                chart.draw_series(std::iter::once(Rectangle::new([(c.0 - half, c.1 - half), (c.0 + half, c.1 + half)], RGBColor(110, 110, 120).filled())))?;
            }
        }
    }
    if maze.layout == envs::maze::Layout::Teleport {
        for (cells, colour) in [(&TELEPORT_IN[..], RGBColor(250, 200, 60)), (&TELEPORT_OUT[..], RGBColor(120, 200, 250))] {
            for &ij in cells {
                let c = to_plot(maze.ij_to_xy(ij));
                chart.draw_series(std::iter::once(Circle::new(c, 18, colour.mix(0.6).filled())))?;
            }
        }
    }
    // Dataset trajectories.
    if let (Some(recipe), true) = (meta.recipe, trajectories > 0) {
        let ds = envs::generate_with(meta.dataset.as_deref().unwrap(), seed, Split::Train, trajectories, recipe.episode_len)?;
        for (s, e) in ds.episodes() {
            let pts: Vec<(f32, f32)> = (s..e).map(|t| to_plot([ds.qpos_row(t)[0], ds.qpos_row(t)[1]])).collect();
            chart.draw_series(std::iter::once(PathElement::new(pts, RGBColor(90, 90, 90).mix(0.25).stroke_width(1))))?;
        }
    }
    // Evaluation tasks: start (circle) → goal (square), one colour per task.
    let full = envs::make(name)?;
    for (k, task) in full.tasks().iter().enumerate() {
        let colour = TASK_COLOURS[k % 5];
        match env_task_cells(name, &env, k + 1) {
            Some((a, b)) => {
                let (pa, pb) = (to_plot(maze.ij_to_xy(a)), to_plot(maze.ij_to_xy(b)));
                chart.draw_series(std::iter::once(Circle::new(pa, 9, colour.filled())))?;
                chart.draw_series(std::iter::once(Rectangle::new([(pb.0 - 0.8, pb.1 - 0.8), (pb.0 + 0.8, pb.1 + 0.8)], colour.filled())))?;
                chart.draw_series(std::iter::once(Text::new(format!("{}", k + 1), (pa.0 + 0.5, pa.1 - 0.5), ("sans-serif", 16).into_font().color(&BLACK))))?;
                chart.draw_series(std::iter::once(Text::new(format!("{}", k + 1), (pb.0 + 0.9, pb.1 - 0.5), ("sans-serif", 16).into_font().color(&BLACK))))?;
            }
            None => {
                // Online mazes: the start and the goal set of this task.
                let mut e = envs::make(name)?;
                let mut goals = Vec::new();
                for s in 0..200 {
                    e.reset_to_task(k + 1, s)?;
                    let g = [e.goal()[0], e.goal()[1]];
                    if !goals.contains(&g) {
                        goals.push(g);
                    }
                }
                let size = if task.name == "hard" { 12 } else { 6 };
                for g in goals {
                    chart.draw_series(std::iter::once(Circle::new(to_plot(g), size, colour.filled())))?;
                }
                let start = to_plot(maze.ij_to_xy((1, 1)));
                chart.draw_series(std::iter::once(Text::new("R", (start.0 - 0.5, start.1 - 0.8), ("sans-serif", 20).into_font())))?;
            }
        }
    }
    root.present().with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

/// The soccer arena: walls, the ball's paths in ~`trajectories` dataset episodes, and each task's
/// agent start (filled circle), ball start (ring) and goal (square).
fn draw_soccer(name: &str, meta: &envs::TaskMeta, out: &Path, trajectories: usize, seed: u64) -> Result<()> {
    let env = envs::soccer::SoccerEnv::new(name, None);
    let maze = env.maze();
    let (lo, hi) = maze.bounds();
    let px = 60.0;
    let (w, h) = (((hi[0] - lo[0]) / MAZE_UNIT * px) as u32 + 20, ((hi[1] - lo[1]) / MAZE_UNIT * px) as u32 + 80);
    let root = BitMapBackend::new(out, (w.max(520), h)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, body) = root.split_vertically(60);
    top.draw(&Text::new(name.to_string(), (10, 8), ("sans-serif", 20).into_font()))?;
    top.draw(&Text::new(format!("stands in for {}", meta.stands_in_for), (10, 34), ("sans-serif", 13).into_font().color(&RGBColor(80, 80, 80))))?;
    let mut chart = ChartBuilder::on(&body).margin(10).build_cartesian_2d(lo[0]..hi[0], hi[1]..lo[1])?;
    let half = MAZE_UNIT / 2.0;
    for i in 0..maze.rows() {
        for j in 0..maze.cols() {
            if maze.is_wall(i as isize, j as isize) {
                let c = maze.ij_to_xy((i, j));
                chart.draw_series(std::iter::once(Rectangle::new([(c[0] - half, c[1] - half), (c[0] + half, c[1] + half)], RGBColor(110, 110, 120).filled())))?;
            }
        }
    }
    if let (Some(recipe), true) = (meta.recipe, trajectories > 0) {
        let ds = envs::generate_with(meta.dataset.as_deref().unwrap(), seed, Split::Train, trajectories, recipe.episode_len)?;
        for (s, e) in ds.episodes() {
            let ball: Vec<(f32, f32)> = (s..e).map(|t| (ds.qpos_row(t)[2], ds.qpos_row(t)[3])).collect();
            chart.draw_series(std::iter::once(PathElement::new(ball, RGBColor(90, 90, 90).mix(0.25).stroke_width(1))))?;
        }
    }
    for k in 1..=5 {
        let Some((agent, ball, goal)) = envs::soccer::soccer_task_cells(k) else { continue };
        let colour = TASK_COLOURS[k - 1];
        let (a, b, g) = (maze.ij_to_xy(agent), maze.ij_to_xy(ball), maze.ij_to_xy(goal));
        chart.draw_series(std::iter::once(Circle::new((a[0], a[1]), 9, colour.filled())))?;
        chart.draw_series(std::iter::once(Circle::new((b[0], b[1]), 9, colour.stroke_width(3))))?;
        chart.draw_series(std::iter::once(Rectangle::new([(g[0] - 0.8, g[1] - 0.8), (g[0] + 0.8, g[1] + 0.8)], colour.filled())))?;
        for p in [a, g] {
            chart.draw_series(std::iter::once(Text::new(format!("{k}"), (p[0] + 0.6, p[1] - 0.5), ("sans-serif", 16).into_font().color(&BLACK))))?;
        }
    }
    root.present().with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

fn env_task_cells(name: &str, env: &envs::pointmaze::MazeEnv, k: usize) -> Option<((usize, usize), (usize, usize))> {
    if name.ends_with("-online") {
        None
    } else {
        env.task_cells(k)
    }
}

fn draw_puzzle(name: &str, meta: &envs::TaskMeta, env: &dyn GoalEnv, out: &Path) -> Result<()> {
    let (rows, cols) = if name.starts_with("kinpuzzle-3x3") { (3, 3) } else { (4, 4) };
    let tasks = envs::puzzle::puzzle_tasks(rows, cols);
    let cell = 28i32;
    let grid_w = cols as i32 * cell;
    let (w, h) = (60 + 2 * grid_w + 120, 70 + tasks.len() as i32 * (rows as i32 * cell + 30));
    let root = BitMapBackend::new(out, (w.max(480) as u32, h as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    root.draw(&Text::new(name.to_string(), (10, 8), ("sans-serif", 20).into_font()))?;
    root.draw(&Text::new(format!("stands in for {}", meta.stands_in_for), (10, 34), ("sans-serif", 13).into_font().color(&RGBColor(80, 80, 80))))?;
    let on = RGBColor(250, 200, 40);
    let off = RGBColor(60, 60, 80);
    for (k, (init, goal)) in tasks.iter().enumerate() {
        let y0 = 60 + k as i32 * (rows as i32 * cell + 30);
        root.draw(&Text::new(env.tasks()[k].name.clone(), (10, y0 + rows as i32 * cell / 2 - 8), ("sans-serif", 15).into_font()))?;
        for (g, states) in [init, goal].into_iter().enumerate() {
            let x0 = 70 + g as i32 * (grid_w + 60);
            for i in 0..rows {
                for j in 0..cols {
                    let s = states[i * cols + j];
                    let (x, y) = (x0 + j as i32 * cell, y0 + i as i32 * cell);
                    root.draw(&Rectangle::new([(x + 2, y + 2), (x + cell - 2, y + cell - 2)], if s == 1 { on.filled() } else { off.filled() }))?;
                }
            }
            if g == 0 {
                root.draw(&Text::new("→", (x0 + grid_w + 20, y0 + rows as i32 * cell / 2 - 10), ("sans-serif", 20).into_font()))?;
            }
        }
    }
    root.present().with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

/// The cube tasks seen from above: the table (x down, y to the right), each cube a coloured
/// square, a stacked cube drawn raised by half its height.
fn draw_cubes(name: &str, meta: &envs::TaskMeta, out: &Path) -> Result<()> {
    let tasks = envs::cube::cube_tasks(envs::cube::cube_count(name)?);
    let scale = 200.0f32; // pixels per metre
    let (pw, ph) = ((0.7 * scale) as i32, (0.35 * scale) as i32);
    let (w, h) = (170 + 2 * pw + 60, 70 + tasks.len() as i32 * (ph + 30));
    let root = BitMapBackend::new(out, (w.max(480) as u32, h as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    root.draw(&Text::new(name.to_string(), (10, 8), ("sans-serif", 20).into_font()))?;
    root.draw(&Text::new(format!("stands in for {}", meta.stands_in_for), (10, 34), ("sans-serif", 13).into_font().color(&RGBColor(80, 80, 80))))?;
    let table = RGBColor(225, 215, 195);
    let half = (envs::cube::CUBE_HALF * scale) as i32;
    for (k, t) in tasks.iter().enumerate() {
        let y0 = 60 + k as i32 * (ph + 30);
        root.draw(&Text::new(t.name.to_string(), (10, y0 + ph / 2 - 8), ("sans-serif", 13).into_font()))?;
        for (g, cubes) in [&t.init, &t.goal].into_iter().enumerate() {
            let x0 = 170 + g as i32 * (pw + 40);
            root.draw(&Rectangle::new([(x0, y0), (x0 + pw, y0 + ph)], table.filled()))?;
            for (i, c) in cubes.iter().enumerate() {
                let px = x0 + ((c[1] + 0.35) * scale) as i32;
                let py = y0 + ((c[0] - 0.25) * scale) as i32 - ((c[2] - envs::cube::TABLE_Z) * scale * 0.5) as i32;
                let corners = [(px - half, py - half), (px + half, py + half)];
                root.draw(&Rectangle::new(corners, TASK_COLOURS[i % TASK_COLOURS.len()].filled()))?;
                root.draw(&Rectangle::new(corners, BLACK.stroke_width(1)))?;
            }
            if g == 0 {
                root.draw(&Text::new("→", (x0 + pw + 12, y0 + ph / 2 - 10), ("sans-serif", 20).into_font()))?;
            }
        }
    }
    root.present().with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    /// Every task draws: a real PNG, not an empty canvas (a blank 520×600 PNG compresses to a
    /// few hundred bytes; walls, trajectories and text take several kilobytes).
    #[test]
    fn every_task_draws_a_picture() {
        let dir = std::env::temp_dir().join(format!("nf-rl-show-task-{}", std::process::id()));
        let mut names = envs::base_tasks();
        // show-task cannot draw the soccer arena yet (it draws mazes and puzzles only).
        names.extend(["pointmaze-umaze-online", "pointmaze-bigmaze-online", "pointmaze-hardestmaze-online"].map(String::from));
        for name in names {
            let out = dir.join(format!("{name}.png"));
            super::show_task(&name, &out, 5, 0).unwrap();
            let bytes = std::fs::read(&out).unwrap();
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{name}");
            assert!(bytes.len() > 5_000, "{name}: suspiciously small picture ({} bytes)", bytes.len());
        }
        assert!(super::show_task("antmaze-large-navigate", &dir.join("x.png"), 5, 0).is_err());
    }
}
