//! `show-task kinscene-play`: each evaluation task's initial and goal configurations seen from
//! above (x down, y to the right, as the cube pictures): the cabinet and the drawer tray at its
//! position with its handle, the window frame with the handle at the window's position, the two
//! lock buttons (red = 0, locked; white = 1, unlocked, OGBench's colours) and the cube.

use std::path::Path;

use anyhow::{Context, Result};
use envs::scene::{drawer_handle, drawer_interior, scene_tasks, solids, window_handle, SceneConfig, BUTTON_XY};
use plotters::prelude::*;

pub fn draw_scene(name: &str, meta: &envs::TaskMeta, out: &Path) -> Result<()> {
    let tasks = scene_tasks();
    let scale = 280.0f32; // pixels per metre
    let (x_lo, x_hi, y_lo, y_hi) = (0.18f32, 0.67f32, -0.56f32, 0.36f32);
    let (pw, ph) = (((y_hi - y_lo) * scale) as i32, ((x_hi - x_lo) * scale) as i32);
    let (w, h) = (190 + 2 * pw + 110, 70 + tasks.len() as i32 * (ph + 36));
    let root = BitMapBackend::new(out, (w as u32, h as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    root.draw(&Text::new(name.to_string(), (10, 8), ("sans-serif", 20).into_font()))?;
    root.draw(&Text::new(format!("stands in for {}", meta.stands_in_for), (10, 34), ("sans-serif", 13).into_font().color(&RGBColor(80, 80, 80))))?;
    for (k, t) in tasks.iter().enumerate() {
        let y0 = 64 + k as i32 * (ph + 36);
        root.draw(&Text::new(format!("task{}", k + 1), (10, y0 + ph / 2 - 20), ("sans-serif", 15).into_font()))?;
        root.draw(&Text::new(t.name.trim_start_matches(&format!("task{}_", k + 1)).to_string(), (10, y0 + ph / 2), ("sans-serif", 12).into_font()))?;
        for (g, cfg) in [&t.init, &t.goal].into_iter().enumerate() {
            let x0 = 190 + g as i32 * (pw + 40);
            // Plot coordinates: y → right, x → down.
            let at = |p: [f32; 2]| (x0 + ((p[1] - y_lo) * scale) as i32, y0 + ((p[0] - x_lo) * scale) as i32);
            root.draw(&Text::new(if g == 0 { "init" } else { "goal" }, (x0, y0 - 14), ("sans-serif", 11).into_font()))?;
            panel(&root, cfg, &at, (x0, y0, pw, ph), scale)?;
            if g == 0 {
                root.draw(&Text::new("→", (x0 + pw + 12, y0 + ph / 2 - 10), ("sans-serif", 20).into_font()))?;
            }
        }
    }
    root.present().with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

fn panel<DB: DrawingBackend>(root: &DrawingArea<DB, plotters::coord::Shift>, cfg: &SceneConfig, at: &dyn Fn([f32; 2]) -> (i32, i32), (x0, y0, pw, ph): (i32, i32, i32, i32), scale: f32) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.draw(&Rectangle::new([(x0, y0), (x0 + pw, y0 + ph)], RGBColor(225, 215, 195).filled()))?;
    let rect = |lo: [f32; 3], hi: [f32; 3]| [at([lo[0], lo[1]]), at([hi[0], hi[1]])];
    let s = solids(cfg.drawer);
    // Cabinet slab (translucent so the tray inside stays visible), then the tray, the window frame and the buttons.
    root.draw(&Rectangle::new(rect(s[0].lo, s[0].hi), RGBColor(120, 120, 130).mix(0.45).filled()))?;
    let tray = drawer_interior(cfg.drawer);
    root.draw(&Rectangle::new(rect(s[6].lo, s[6].hi), RGBColor(150, 100, 60).filled()))?;
    root.draw(&Rectangle::new([at([tray[0], tray[1]]), at([tray[2], tray[3]])], RGBColor(205, 170, 120).filled()))?;
    root.draw(&Rectangle::new(rect(s[5].lo, s[5].hi), RGBColor(90, 130, 170).filled()))?;
    for (b, xy) in BUTTON_XY.iter().enumerate() {
        let colour = if cfg.buttons[b] == 0 { RGBColor(220, 40, 40) } else { WHITE };
        let r = (envs::puzzle::BUTTON_HALF_WIDTH * scale) as i32;
        let c = at(*xy);
        root.draw(&Rectangle::new([(c.0 - r, c.1 - r), (c.0 + r, c.1 + r)], colour.filled()))?;
        root.draw(&Rectangle::new([(c.0 - r, c.1 - r), (c.0 + r, c.1 + r)], BLACK.stroke_width(1)))?;
        root.draw(&Text::new(format!("b{b}"), (c.0 - 7, c.1 - 7), ("sans-serif", 12).into_font()))?;
    }
    // Handles: the drawer's (locked by b0) and the window's (locked by b1), red when locked.
    for (lock, hd, label) in [(0, drawer_handle(cfg.drawer), format!("drawer {:.2}", cfg.drawer)), (1, window_handle(cfg.window), format!("window {:.2}", cfg.window))] {
        let colour = if cfg.buttons[lock] == 0 { RGBColor(220, 40, 40) } else { RGBColor(40, 40, 40) };
        let c = at([hd[0], hd[1]]);
        root.draw(&Circle::new(c, 5, colour.filled()))?;
        root.draw(&Text::new(label, (c.0 + 7, c.1 - 6), ("sans-serif", 11).into_font()))?;
    }
    let half = (envs::cube::CUBE_HALF * scale) as i32;
    let c = at([cfg.cube[0], cfg.cube[1]]);
    root.draw(&Rectangle::new([(c.0 - half, c.1 - half), (c.0 + half, c.1 + half)], RGBColor(228, 26, 28).filled()))?;
    root.draw(&Rectangle::new([(c.0 - half, c.1 - half), (c.0 + half, c.1 + half)], BLACK.stroke_width(1)))?;
    Ok(())
}

/// The state at row `row` of a `kinscene-play` dataset (for `show-task --rollout`): the panel
/// above at the row's drawer, window, buttons and cube, plus the effector (a cross, red while
/// the gripper is closed; larger when higher).
pub fn draw_frame(area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>, ds: &envs::Dataset, row: usize) -> Result<()> {
    let (x_lo, x_hi, y_lo, y_hi) = (0.18f32, 0.67f32, -0.56f32, 0.36f32);
    let (w, h) = area.dim_in_pixel();
    let scale = (w as f32 / (y_hi - y_lo)).min(h as f32 / (x_hi - x_lo));
    let at = |p: [f32; 2]| (((p[1] - y_lo) * scale) as i32, ((p[0] - x_lo) * scale) as i32);
    let q = ds.qpos_row(row);
    let b = ds.buttons_row(row);
    let cfg = SceneConfig { cube: [q[5], q[6], q[7]], buttons: [b[0] as u8, b[1] as u8], drawer: q[9], window: q[10] };
    panel(area, &cfg, &at, (0, 0, ((y_hi - y_lo) * scale) as i32, ((x_hi - x_lo) * scale) as i32), scale)?;
    let c = at([q[0], q[1]]);
    let r = (8.0 + 40.0 * q[2]) as i32;
    let colour = if q[4] > envs::cube::GRIP_THRESHOLD { RGBColor(200, 30, 30) } else { RGBColor(30, 30, 30) };
    area.draw(&PathElement::new(vec![(c.0 - r, c.1), (c.0 + r, c.1)], colour.stroke_width(3)))?;
    area.draw(&PathElement::new(vec![(c.0, c.1 - r), (c.0, c.1 + r)], colour.stroke_width(3)))?;
    Ok(())
}
