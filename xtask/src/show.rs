//! `cargo xtask show-task NAME --out FILE.png`: a picture of a task so a newcomer sees at a glance
//! what it is, drawn from the task's own shapes ([`envs::Draw`]) by the one painter
//! ([`crate::paint`]). Three layouts, chosen from what the task draws, not from its name:
//!
//! - **overlay** (the goal is a marker in the state's scene: mazes, soccer): the map once, the
//!   dataset's paths, and every evaluation task's start and goal in its own colour, numbered;
//! - **rows** (the goal is a whole configuration: puzzles, cubes, kinscene): per evaluation task,
//!   its initial state → its goal;
//! - **demos** (imitation tasks, no goal): an initial state with the paths of the dataset's
//!   demos, and beside it the first and last rows of the first demo.

use std::path::Path;

use anyhow::{Context, Result};
use envs::{Dataset, GoalEnv, Layer, Scene, Split};
use plotters::prelude::*;

use crate::paint::{self, Area, Options, FRAME_LAYERS};

#[path = "rollout.rs"]
mod rollout;

/// `show-task NAME --rollout DEMO`: see [`rollout`].
pub fn show_rollout(name: &str, demo: usize, out: &Path, seed: u64) -> Result<()> {
    paint::register_font()?;
    rollout::show_rollout(name, demo, out, seed)
}

pub fn show_task(name: &str, out: &Path, trajectories: usize, seed: u64) -> Result<()> {
    paint::register_font()?;
    let task = envs::Task::resolve(name)?;
    let mut env = task.make()?;
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let demos = match (&task.meta.dataset, task.meta.recipe, trajectories > 0) {
        (Some(base), Some(recipe), true) => Some(envs::generate_with(base, seed, Split::Train, trajectories, recipe.episode_len)?),
        _ => None,
    };
    env.reset_to_task(1, seed)?;
    let header = Header { name, stands_in_for: &task.meta.stands_in_for, legend: env.scene().legend };
    if task.is_imitation() {
        draw_demos(env.as_ref(), &header, demos.as_ref(), out)
    } else if env.goal_scene().is_some() {
        draw_rows(env.as_mut(), &header, seed, out)
    } else {
        draw_overlay(env.as_mut(), &header, demos.as_ref(), seed, out)
    }
}

/// The title block: name, what it stands in for, and the scene's legend.
struct Header<'a> {
    name: &'a str,
    stands_in_for: &'a str,
    legend: String,
}

impl Header<'_> {
    fn lines(&self) -> Vec<String> {
        paint::wrap(&format!("stands in for {}", self.stands_in_for), 100)
    }
    fn height(&self) -> u32 {
        40 + 15 * self.lines().len() as u32 + if self.legend.is_empty() { 0 } else { 18 }
    }
    fn draw(&self, area: &Area<'_>) -> Result<()> {
        area.draw(&Text::new(self.name.to_string(), (10, 8), ("sans-serif", 20).into_font()))?;
        let lines = self.lines();
        for (k, line) in lines.iter().enumerate() {
            area.draw(&Text::new(line.clone(), (10, 34 + 15 * k as i32), ("sans-serif", 12).into_font().color(&RGBColor(80, 80, 80))))?;
        }
        if !self.legend.is_empty() {
            area.draw(&Text::new(self.legend.clone(), (10, 38 + 15 * lines.len() as i32), ("sans-serif", 12).into_font()))?;
        }
        Ok(())
    }
}

/// Every episode's `(start, end)` rows in `demos` (none without a dataset).
fn episodes(demos: Option<&Dataset>) -> Vec<(usize, usize)> {
    demos.map(Dataset::episodes).unwrap_or_default()
}

/// The map once, the dataset's paths, then per evaluation task its state and goal in the task's
/// colour, numbered at the agent and at the goal (the last goal item).
fn draw_overlay(env: &mut dyn GoalEnv, header: &Header<'_>, demos: Option<&Dataset>, seed: u64, out: &Path) -> Result<()> {
    let base = env.scene();
    let scale = 720.0 / {
        let (w, h) = paint::world_size(&base);
        w.max(h)
    };
    let (w, h) = paint::pixel_size(&base, scale);
    let root = BitMapBackend::new(out, ((w + 20).max(520), h + 20 + header.height())).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, body) = root.split_vertically(header.height());
    header.draw(&top)?;
    let body = body.margin(10, 10, 10, 10);
    let fit = paint::paint(&body, &base, Options { layers: &[Layer::Fixed], tint: None })?;
    for (k, &rows) in episodes(demos).iter().enumerate() {
        paint::paint_items(&body, &fit, &env.demo_shapes(demos.expect("episodes come from a dataset"), rows, k), None)?;
    }
    for k in 1..=env.tasks().len() {
        env.reset_to_task(k, seed)?;
        let scene = env.scene();
        let tint = paint::CATEGORY[(k - 1) % 5];
        let moving: Vec<&envs::Item> = scene.items.iter().filter(|i| matches!(i.layer, Layer::State | Layer::Goal)).collect();
        paint::paint_items(&body, &fit, moving.iter().copied(), Some(tint))?;
        let marks = [scene.layer(Layer::State).next(), scene.layer(Layer::Goal).last()];
        for item in marks.into_iter().flatten() {
            let (x, y) = fit.px(item.shape.anchor());
            body.draw(&Text::new(format!("{k}"), (x + 12, y - 12), ("sans-serif", 16).into_font()))?;
        }
    }
    root.present().with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

/// Per evaluation task: its name, its initial state → its goal.
fn draw_rows(env: &mut dyn GoalEnv, header: &Header<'_>, seed: u64, out: &Path) -> Result<()> {
    const LABEL_W: u32 = 180;
    const PANEL_W: f32 = 260.0;
    let first = env.scene();
    let scale = PANEL_W / paint::world_size(&first).0;
    let (pw, ph) = paint::pixel_size(&first, scale);
    let n = env.tasks().len() as u32;
    let row_h = ph + 36;
    let (w, h) = (LABEL_W + 2 * pw + 130, header.height() + n * row_h + 10);
    let root = BitMapBackend::new(out, (w, h)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, body) = root.split_vertically(header.height());
    header.draw(&top)?;
    for k in 1..=n as usize {
        env.reset_to_task(k, seed)?;
        let info = env.tasks()[k - 1].clone();
        let (init, goal) = (env.scene(), env.goal_scene().context("a rows picture needs goal scenes")?);
        let y0 = (k as u32 - 1) * row_h + 18;
        let row = body.clone().shrink((0, y0), (w, ph));
        row.draw(&Text::new(info.name.clone(), (10, ph as i32 / 2 - 18), ("sans-serif", 15).into_font()))?;
        // The description's head ("task1_open: cube … → …" → "task1_open").
        if let Some((head, _)) = info.description.split_once(':') {
            row.draw(&Text::new(head.to_string(), (10, ph as i32 / 2 + 2), ("sans-serif", 12).into_font()))?;
        }
        for (g, (scene, tag)) in [(&init, "init"), (&goal, "goal")].into_iter().enumerate() {
            let x0 = LABEL_W + g as u32 * (pw + 60);
            body.draw(&Text::new(tag, (x0 as i32, y0 as i32 - 14), ("sans-serif", 11).into_font()))?;
            paint::paint(&body.clone().shrink((x0, y0), (pw, ph)), scene, Options::default())?;
        }
        row.draw(&Text::new("→", ((LABEL_W + pw + 20) as i32, ph as i32 / 2 - 10), ("sans-serif", 20).into_font()))?;
    }
    root.present().with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

/// An initial state with the demos' shapes under its moving parts and its goal on top; beside it the first demo's
/// first and last rows as rollout frames.
fn draw_demos(env: &dyn GoalEnv, header: &Header<'_>, demos: Option<&Dataset>, out: &Path) -> Result<()> {
    const MAIN: u32 = 560;
    const SIDE: u32 = 280;
    let scene = env.scene();
    let (ww, wh) = paint::world_size(&scene);
    let scale = MAIN as f32 / ww.max(wh);
    let (mw, mh) = paint::pixel_size(&scene, scale);
    let root = BitMapBackend::new(out, (mw + 20 + SIDE + 20, (mh + 20).max(2 * (SIDE + 24) + 20) + header.height())).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, body) = root.split_vertically(header.height());
    header.draw(&top)?;
    let (main, side) = body.split_horizontally(mw + 20);
    let main = main.shrink((10, 10), (mw, mh));
    let fit = paint::paint(&main, &scene, Options { layers: &[Layer::Fixed, Layer::Note], tint: None })?;
    let eps = episodes(demos);
    for (k, &rows) in eps.iter().enumerate() {
        paint::paint_items(&main, &fit, &env.demo_shapes(demos.expect("episodes come from a dataset"), rows, k), None)?;
    }
    // The goal last, so an initial state cannot hide it (PushT's T over its goal pose).
    paint::paint_items(&main, &fit, scene.layer(Layer::State).chain(scene.layer(Layer::Goal)), None)?;
    if let (Some(ds), Some(&(s, e))) = (demos, eps.first()) {
        for (slot, (row, what)) in [(s, "first row"), (e - 1, "last row")].into_iter().enumerate() {
            let frame = env.scene_of_row(ds, row)?;
            let area = side.clone().shrink((0, 10 + slot as u32 * (SIDE + 24)), (SIDE, SIDE + 24));
            let (caption, pic) = area.split_vertically(24);
            let status = if frame.status.is_empty() { String::new() } else { format!(": {}", frame.status) };
            caption.draw(&Text::new(format!("demo 1, {what}{status}"), (4, 4), ("sans-serif", 12).into_font()))?;
            paint::paint(&pic.margin(0, 8, 0, 8), &frame, Options::default())?;
        }
    }
    root.present().with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

/// A rollout frame: the row's scene without the overview's notes.
pub fn frame(area: &Area<'_>, scene: &Scene) -> Result<()> {
    paint::paint(area, scene, Options { layers: &FRAME_LAYERS, tint: None })?;
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
