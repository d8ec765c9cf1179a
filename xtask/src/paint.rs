//! The one painter: draws an [`envs::Scene`] (plain shapes in world coordinates) into a plotters
//! drawing area. Every task picture and every rollout frame goes through [`paint`], so no code
//! here knows what a maze or a cube is.

use anyhow::Result;
use envs::{Colour, Item, Layer, Paint, Scene, Shape, View};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

/// ColorBrewer Set1, for [`Colour::Category`] and for the per-task colours of an overlay.
pub const CATEGORY: [RGBColor; 9] = [
    RGBColor(228, 26, 28),
    RGBColor(55, 126, 184),
    RGBColor(77, 175, 74),
    RGBColor(152, 78, 163),
    RGBColor(255, 127, 0),
    RGBColor(166, 86, 40),
    RGBColor(200, 170, 0),
    RGBColor(247, 129, 191),
    RGBColor(153, 153, 153),
];

/// One drawing area of the bitmap backend.
pub type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Registers the bundled DejaVu font as `sans-serif` (plotters' bitmap backend has no system
/// fonts to fall back on). Calling it again is harmless.
pub fn register_font() -> Result<()> {
    plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular()).map_err(|_| anyhow::anyhow!("registering the DejaVu font"))
}

/// What to draw of a scene and how.
#[derive(Clone, Copy, Debug)]
pub struct Options<'a> {
    /// The layers drawn, in the scene's order.
    pub layers: &'a [Layer],
    /// Paints [`Colour::Agent`] and [`Colour::Goal`] in this colour (one evaluation task of an
    /// overlay).
    pub tint: Option<RGBColor>,
}

/// Every layer but the overview-only notes: a rollout frame or a small panel.
pub const FRAME_LAYERS: [Layer; 3] = [Layer::Fixed, Layer::State, Layer::Goal];

impl Default for Options<'_> {
    fn default() -> Self {
        Self { layers: &FRAME_LAYERS, tint: None }
    }
}

/// World → pixel map of a scene fitted into an area, equal scale on both axes, centred.
#[derive(Clone, Copy, Debug)]
pub struct Fit {
    lo: [f32; 2],
    hi: [f32; 2],
    view: View,
    scale: f32,
    offset: (f32, f32),
}

impl Fit {
    pub fn new(scene: &Scene, (w, h): (u32, u32)) -> Self {
        let (ww, wh) = world_size(scene);
        let scale = (w as f32 / ww).min(h as f32 / wh);
        let offset = ((w as f32 - ww * scale) / 2.0, (h as f32 - wh * scale) / 2.0);
        Self { lo: scene.lo, hi: scene.hi, view: scene.view, scale, offset }
    }
    pub fn px(&self, p: [f32; 2]) -> (i32, i32) {
        let (u, v) = match self.view {
            View::XRightYUp => (p[0] - self.lo[0], self.hi[1] - p[1]),
            View::XRightYDown => (p[0] - self.lo[0], p[1] - self.lo[1]),
            View::XDownYRight => (p[1] - self.lo[1], p[0] - self.lo[0]),
        };
        ((self.offset.0 + u * self.scale).round() as i32, (self.offset.1 + v * self.scale).round() as i32)
    }
}

/// The picture's (width, height) in world units.
pub fn world_size(scene: &Scene) -> (f32, f32) {
    let (dx, dy) = ((scene.hi[0] - scene.lo[0]).max(1e-6), (scene.hi[1] - scene.lo[1]).max(1e-6));
    match scene.view {
        View::XDownYRight => (dy, dx),
        _ => (dx, dy),
    }
}

/// The pixel size of a scene drawn at `scale` pixels per world unit.
pub fn pixel_size(scene: &Scene, scale: f32) -> (u32, u32) {
    let (w, h) = world_size(scene);
    ((w * scale).ceil() as u32, (h * scale).ceil() as u32)
}

pub fn rgb(c: Colour, tint: Option<RGBColor>) -> RGBColor {
    match c {
        Colour::Wall => RGBColor(110, 110, 120),
        Colour::Floor => RGBColor(235, 228, 212),
        Colour::Agent => tint.unwrap_or(RGBColor(55, 126, 184)),
        Colour::Goal => tint.unwrap_or(RGBColor(77, 175, 74)),
        Colour::Trail => RGBColor(90, 90, 90),
        Colour::Ink => BLACK,
        Colour::Category(k) => CATEGORY[k % CATEGORY.len()],
        Colour::Rgb(r, g, b) => RGBColor(r, g, b),
    }
}

/// Draws the chosen layers of `scene` into `area`, fitted.
pub fn paint(area: &Area<'_>, scene: &Scene, opts: Options<'_>) -> Result<Fit> {
    let fit = Fit::new(scene, area.dim_in_pixel());
    for item in scene.items.iter().filter(|i| opts.layers.contains(&i.layer)) {
        draw_item(area, &fit, item, opts.tint)?;
    }
    Ok(fit)
}

/// Draws `items` with an existing fit (overlays: dataset paths, a second task's state).
pub fn paint_items<'i>(area: &Area<'_>, fit: &Fit, items: impl IntoIterator<Item = &'i Item>, tint: Option<RGBColor>) -> Result<()> {
    for item in items {
        draw_item(area, fit, item, tint)?;
    }
    Ok(())
}

fn draw_item(area: &Area<'_>, fit: &Fit, item: &Item, tint: Option<RGBColor>) -> Result<()> {
    let Paint { fill, line, opacity } = item.paint;
    let fill = fill.map(|c| rgb(c, tint).mix(opacity as f64).filled());
    let line = line.map(|(c, w)| rgb(c, tint).mix(opacity as f64).stroke_width(w.round().max(1.0) as u32));
    match &item.shape {
        Shape::Disc { centre, radius } => {
            let r = (radius * fit.scale).round().max(1.0) as i32;
            for style in fill.into_iter().chain(line) {
                area.draw(&Circle::new(fit.px(*centre), r, style))?;
            }
        }
        Shape::Rect { lo, hi } => {
            let (a, b) = (fit.px(*lo), fit.px(*hi));
            let corners = [(a.0.min(b.0), a.1.min(b.1)), (a.0.max(b.0), a.1.max(b.1))];
            for style in fill.into_iter().chain(line) {
                area.draw(&Rectangle::new(corners, style))?;
            }
        }
        Shape::Polygon(points) => {
            let pts: Vec<(i32, i32)> = points.iter().map(|p| fit.px(*p)).collect();
            if let Some(style) = fill {
                area.draw(&Polygon::new(pts.clone(), style))?;
            }
            if let (Some(style), Some(&first)) = (line, pts.first()) {
                let mut ring = pts;
                ring.push(first);
                area.draw(&PathElement::new(ring, style))?;
            }
        }
        Shape::Polyline(points) => {
            if let Some(style) = line.or(fill) {
                area.draw(&PathElement::new(points.iter().map(|p| fit.px(*p)).collect::<Vec<_>>(), style))?;
            }
        }
        Shape::Text { at, text, size } => {
            let colour = item.paint.line.or(item.paint.fill.map(|c| (c, 1.0))).map_or(BLACK, |(c, _)| rgb(c, tint));
            area.draw(&Text::new(text.clone(), fit.px(*at), ("sans-serif", *size as f64).into_font().color(&colour)))?;
        }
    }
    Ok(())
}

/// `text` broken into lines of at most `width` characters at spaces.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split(' ') {
        match lines.last_mut() {
            Some(l) if l.chars().count() + 1 + word.chars().count() <= width => {
                l.push(' ');
                l.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The three views put a scene's corners where a reader expects them.
    #[test]
    fn views_map_corners() {
        let mut s = Scene::new([0.0, 0.0], [2.0, 1.0], View::XRightYUp);
        let f = Fit::new(&s, (200, 100));
        assert_eq!((f.px([0.0, 0.0]), f.px([2.0, 1.0])), ((0, 100), (200, 0)));
        s.view = View::XRightYDown;
        let f = Fit::new(&s, (200, 100));
        assert_eq!((f.px([0.0, 0.0]), f.px([2.0, 1.0])), ((0, 0), (200, 100)));
        s.view = View::XDownYRight;
        // x runs down (2 units), y right (1 unit): a 100×200 picture fitted into 200×100 is
        // scaled by ½ and centred horizontally.
        let f = Fit::new(&s, (200, 100));
        assert_eq!((f.px([0.0, 0.0]), f.px([2.0, 1.0])), ((75, 0), (125, 100)));
    }

    #[test]
    fn wrap_breaks_at_spaces() {
        assert_eq!(wrap("aa bb cc dd", 5), ["aa bb", "cc dd"]);
        assert_eq!(wrap("short", 80), ["short"]);
    }
}
