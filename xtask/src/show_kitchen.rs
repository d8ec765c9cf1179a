//! Pictures of `kitchen2d`: the layout with every appliance's goal state ghosted and a few demo
//! paths ([`draw`], for `show-task`), and one dataset row's state ([`draw_frame`], for rollout
//! GIFs).

use std::path::Path;

use anyhow::{Context, Result};
use envs::kitchen::{
    KitchenState, SubTask, BOTTOM_BURNER_PAD, EFFECTOR_RADIUS, HEIGHT, HINGE_CABINET_DOOR, INTERIOR_HI, INTERIOR_LO, KETTLE_HI, KETTLE_LO, KETTLE_RADIUS, KETTLE_TARGET, KNOB_RADIUS, LIGHT,
    MICROWAVE_DOOR, PAD_RADIUS, SLIDE, TOP_BURNER_PAD, WIDTH,
};
use envs::{Dataset, Split};
use plotters::coord::types::RangedCoordf32;
use plotters::coord::Shift;
use plotters::prelude::*;

/// One colour per sub-task, in [`SubTask::ALL`] order.
const COLOURS: [RGBColor; 7] = [RGBColor(228, 26, 28), RGBColor(55, 126, 184), RGBColor(255, 127, 0), RGBColor(166, 86, 40), RGBColor(200, 170, 0), RGBColor(77, 175, 74), RGBColor(152, 78, 163)];

type Chart<'a, 'b> = ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf32, RangedCoordf32>>;

fn colour(t: SubTask) -> RGBColor {
    COLOURS[t.index()]
}

/// Pixels per world unit along x (circles are sized in pixels).
fn px(chart: &Chart, r: f32) -> i32 {
    let (a, b) = (chart.backend_coord(&(0.0, 0.0)), chart.backend_coord(&(r, 0.0)));
    (b.0 - a.0).abs().max(1)
}

fn disc(chart: &mut Chart, c: [f32; 2], r: f32, style: ShapeStyle) -> Result<()> {
    let radius = px(chart, r);
    chart.draw_series(std::iter::once(Circle::new((c[0], c[1]), radius, style)))?;
    Ok(())
}

fn line(chart: &mut Chart, a: [f32; 2], b: [f32; 2], style: ShapeStyle) -> Result<()> {
    chart.draw_series(std::iter::once(PathElement::new(vec![(a[0], a[1]), (b[0], b[1])], style)))?;
    Ok(())
}

/// The kitchen's fixed parts: walls, the counter, rails, pads, the interior the expert travels
/// through, and (with `goals`) each appliance's goal state ghosted.
fn draw_fixed(chart: &mut Chart, goals: bool) -> Result<()> {
    chart.draw_series(std::iter::once(Rectangle::new([(0.0, 0.0), (WIDTH, HEIGHT)], RGBColor(250, 248, 242).filled())))?;
    chart.draw_series(std::iter::once(Rectangle::new([(0.0, 0.0), (WIDTH, HEIGHT)], BLACK.stroke_width(2))))?;
    let counter = [KETTLE_LO[0] - KETTLE_RADIUS, KETTLE_LO[1] - KETTLE_RADIUS, KETTLE_HI[0] + KETTLE_RADIUS, KETTLE_HI[1] + KETTLE_RADIUS];
    chart.draw_series(std::iter::once(Rectangle::new([(counter[0], counter[1]), (counter[2], counter[3])], RGBColor(225, 215, 195).filled())))?;
    chart.draw_series(std::iter::once(Rectangle::new([(INTERIOR_LO[0], INTERIOR_LO[1]), (INTERIOR_HI[0], INTERIOR_HI[1])], RGBColor(200, 200, 200).stroke_width(1))))?;
    for rail in [SLIDE, LIGHT] {
        line(chart, rail.ends[0], rail.ends[1], RGBColor(120, 120, 120).stroke_width(3))?;
    }
    for (pad, t) in [(BOTTOM_BURNER_PAD, SubTask::BottomBurner), (TOP_BURNER_PAD, SubTask::TopBurner)] {
        disc(chart, pad, PAD_RADIUS, colour(t).mix(0.15).filled())?;
        disc(chart, pad, PAD_RADIUS, colour(t).stroke_width(1))?;
    }
    for door in [MICROWAVE_DOOR, HINGE_CABINET_DOOR] {
        disc(chart, door.hinge, 0.03, BLACK.filled())?;
    }
    if goals {
        let ghost = |t: SubTask| colour(t).mix(0.35).stroke_width(2);
        line(chart, MICROWAVE_DOOR.hinge, MICROWAVE_DOOR.handle(1.0), ghost(SubTask::Microwave))?;
        line(chart, HINGE_CABINET_DOOR.hinge, HINGE_CABINET_DOOR.handle(1.0), ghost(SubTask::HingeCabinet))?;
        disc(chart, SLIDE.at(1.0), KNOB_RADIUS, ghost(SubTask::SlideCabinet))?;
        disc(chart, LIGHT.at(1.0), KNOB_RADIUS, ghost(SubTask::LightSwitch))?;
        disc(chart, KETTLE_TARGET, KETTLE_RADIUS, ghost(SubTask::Kettle))?;
    }
    Ok(())
}

/// The moving parts in state `s`; burner pads fill as their knobs turn, and an appliance past
/// relay kitchen's completion threshold gets a black outline.
fn draw_state(chart: &mut Chart, s: &KitchenState) -> Result<()> {
    for (door, v, t) in [(MICROWAVE_DOOR, s.microwave, SubTask::Microwave), (HINGE_CABINET_DOOR, s.hinge, SubTask::HingeCabinet)] {
        line(chart, door.hinge, door.handle(v), colour(t).stroke_width(5))?;
        disc(chart, door.handle(v), 0.04, colour(t).filled())?;
    }
    for (pad, v, t) in [(BOTTOM_BURNER_PAD, s.bottom_burner, SubTask::BottomBurner), (TOP_BURNER_PAD, s.top_burner, SubTask::TopBurner)] {
        disc(chart, pad, PAD_RADIUS * v.clamp(0.0, 1.0).sqrt(), colour(t).filled())?;
    }
    disc(chart, SLIDE.at(s.slide), KNOB_RADIUS, colour(SubTask::SlideCabinet).filled())?;
    disc(chart, LIGHT.at(s.light), KNOB_RADIUS, colour(SubTask::LightSwitch).filled())?;
    disc(chart, s.kettle, KETTLE_RADIUS, colour(SubTask::Kettle).filled())?;
    let marks = [
        (SubTask::Microwave, MICROWAVE_DOOR.handle(s.microwave), 0.06),
        (SubTask::HingeCabinet, HINGE_CABINET_DOOR.handle(s.hinge), 0.06),
        (SubTask::SlideCabinet, SLIDE.at(s.slide), KNOB_RADIUS),
        (SubTask::LightSwitch, LIGHT.at(s.light), KNOB_RADIUS),
        (SubTask::Kettle, s.kettle, KETTLE_RADIUS),
        (SubTask::BottomBurner, BOTTOM_BURNER_PAD, PAD_RADIUS),
        (SubTask::TopBurner, TOP_BURNER_PAD, PAD_RADIUS),
    ];
    for (t, c, r) in marks {
        if s.at_goal(t) {
            disc(chart, c, r + 0.015, BLACK.stroke_width(2))?;
        }
    }
    disc(chart, s.effector, EFFECTOR_RADIUS, RGBColor(30, 30, 30).filled())?;
    Ok(())
}

fn labels(chart: &mut Chart) -> Result<()> {
    let at = [
        (SubTask::Microwave, [0.95, 0.1]),
        (SubTask::Kettle, [2.45, 0.72]),
        (SubTask::BottomBurner, [3.1, 0.2]),
        (SubTask::TopBurner, [3.15, 1.12]),
        (SubTask::LightSwitch, [3.3, 2.05]),
        (SubTask::SlideCabinet, [2.35, 2.66]),
        (SubTask::HingeCabinet, [0.95, 2.78]),
    ];
    for (t, p) in at {
        chart.draw_series(std::iter::once(Text::new(t.name().to_string(), (p[0], p[1]), ("sans-serif", 13).into_font().color(&colour(t)))))?;
    }
    Ok(())
}

fn chart<'a, 'b>(area: &'a DrawingArea<BitMapBackend<'b>, Shift>) -> Result<Chart<'a, 'b>> {
    Ok(ChartBuilder::on(area).margin(10).build_cartesian_2d(0f32..WIDTH, 0f32..HEIGHT)?)
}

/// `show-task kitchen2d`: the kitchen with the goal states ghosted, the effector's path in
/// `demos` expert demos coloured by each demo's first sub-task, and beside it the first demo's
/// first and last frames ([`draw_frame`]).
pub fn draw(name: &str, meta: &envs::TaskMeta, out: &Path, demos: usize, seed: u64) -> Result<()> {
    let root = BitMapBackend::new(out, (1080, 690)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, body) = root.split_vertically(60);
    top.draw(&Text::new(name.to_string(), (10, 8), ("sans-serif", 20).into_font()))?;
    top.draw(&Text::new(format!("stands in for {}", meta.stands_in_for), (10, 34), ("sans-serif", 12).into_font().color(&RGBColor(80, 80, 80))))?;
    let (main, side) = body.split_horizontally(820);
    let mut ch = chart(&main)?;
    draw_fixed(&mut ch, true)?;
    let recipe = meta.recipe.context("kitchen2d has a demo recipe")?;
    let mut first = None;
    for ep in 0..demos {
        let (ds, mode) = envs::kitchen::demo_episode(recipe, recipe.episode_len, envs::datagen::episode_seed(seed, Split::Train, ep))?;
        let path: Vec<(f32, f32)> = (0..ds.len()).map(|t| (ds.qpos_row(t)[0], ds.qpos_row(t)[1])).collect();
        ch.draw_series(std::iter::once(PathElement::new(path, colour(mode.order[0]).mix(0.6).stroke_width(1))))?;
        first.get_or_insert((ds, mode));
    }
    // The closed kitchen (every reset jitters it a little: doors and knobs up to 3 % open).
    draw_state(&mut ch, &KitchenState::CLOSED)?;
    labels(&mut ch)?;
    if let Some((ds, mode)) = first {
        let order: Vec<&str> = mode.order.iter().map(|t| t.name()).collect();
        let frames = side.split_evenly((2, 1));
        for (k, (area, row)) in frames.iter().zip([0, ds.len() - 1]).enumerate() {
            let (caption, pic) = area.split_vertically(40);
            let what = if k == 0 { "demo 1, first row".to_string() } else { format!("demo 1, row {row} (done)") };
            caption.draw(&Text::new(what, (5, 4), ("sans-serif", 13).into_font()))?;
            if k == 0 {
                caption.draw(&Text::new(order.join(" → "), (5, 22), ("sans-serif", 10).into_font().color(&RGBColor(80, 80, 80))))?;
            }
            draw_frame(&pic, &ds, row)?;
        }
    }
    root.present().with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

/// Draws the kitchen in the state of row `row` of a kitchen2d dataset, filling `area`.
pub fn draw_frame(area: &DrawingArea<BitMapBackend<'_>, Shift>, ds: &Dataset, row: usize) -> Result<()> {
    anyhow::ensure!(row < ds.len(), "row {row} is past the dataset's {} rows", ds.len());
    let s = KitchenState::from_row(ds.qpos_row(row))?;
    area.fill(&WHITE)?;
    let mut ch = chart(area)?;
    draw_fixed(&mut ch, true)?;
    draw_state(&mut ch, &s)?;
    Ok(())
}
