//! A task's state as plain shapes in world coordinates, so one painter (in `xtask`) draws every
//! task and every dataset row without knowing any task's internals, and this crate needs no
//! plotting library.
//!
//! Colours are *semantic* where a role exists ([`Colour::Wall`], [`Colour::Agent`],
//! [`Colour::Goal`], …; the painter owns the palette, and recolours `Agent` and `Goal` per task
//! when it overlays several evaluation tasks on one map) and plain RGB where a task has its own
//! look (PushT's light-green goal, the kitchen's one colour per appliance). Sizes of shapes are in
//! world units; line widths and text sizes are in pixels, since they are about legibility, not
//! about the world.

use crate::dataset::Dataset;
use crate::error::Result;

/// What a shape is painted with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Colour {
    /// Walls and arena borders (dark grey).
    Wall,
    /// A table top or floor (beige).
    Floor,
    /// The body the policy moves (blue; the task's colour in an overlay of tasks).
    Agent,
    /// The goal marker (green; the task's colour in an overlay of tasks).
    Goal,
    /// A path drawn from data (grey).
    Trail,
    /// Text and outlines (black).
    Ink,
    /// The `k`-th colour of a qualitative palette (ColorBrewer Set1: red, blue, green, purple,
    /// orange, …): cubes, blocks, evaluation tasks, demos.
    Category(usize),
    /// A colour of the task's own.
    Rgb(u8, u8, u8),
}

impl Colour {
    pub const WHITE: Colour = Colour::Rgb(255, 255, 255);
}

/// Fill and outline of a shape; text and polylines use `line`'s colour.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Paint {
    pub fill: Option<Colour>,
    /// Outline colour and width in pixels.
    pub line: Option<(Colour, f32)>,
    /// 1 = opaque; less lets what is under show through (a ghosted goal, a faint trail).
    pub opacity: f32,
}

impl Paint {
    pub fn fill(c: Colour) -> Self {
        Self { fill: Some(c), line: None, opacity: 1.0 }
    }
    pub fn line(c: Colour, width: f32) -> Self {
        Self { fill: None, line: Some((c, width)), opacity: 1.0 }
    }
    /// Filled with `fill`, outlined in `line`.
    pub fn outlined(fill: Colour, line: Colour, width: f32) -> Self {
        Self { fill: Some(fill), line: Some((line, width)), opacity: 1.0 }
    }
    pub fn opacity(self, opacity: f32) -> Self {
        Self { opacity, ..self }
    }
}

/// A shape in world coordinates.
#[derive(Clone, Debug, PartialEq)]
pub enum Shape {
    Disc {
        centre: [f32; 2],
        radius: f32,
    },
    /// An axis-aligned box (a rotated one is a [`Shape::Polygon`], see [`Shape::oriented_box`]).
    Rect {
        lo: [f32; 2],
        hi: [f32; 2],
    },
    /// A closed polygon.
    Polygon(Vec<[f32; 2]>),
    /// An open path: segments, trails.
    Polyline(Vec<[f32; 2]>),
    /// `text` with its top-left corner at `at`, `size` pixels high.
    Text {
        at: [f32; 2],
        text: String,
        size: f32,
    },
}

impl Shape {
    pub fn disc(centre: [f32; 2], radius: f32) -> Self {
        Shape::Disc { centre, radius }
    }
    /// The square of half-side `half` around `c`.
    pub fn square(c: [f32; 2], half: f32) -> Self {
        Shape::Rect { lo: [c[0] - half, c[1] - half], hi: [c[0] + half, c[1] + half] }
    }
    pub fn rect(lo: [f32; 2], hi: [f32; 2]) -> Self {
        Shape::Rect { lo, hi }
    }
    pub fn segment(a: [f32; 2], b: [f32; 2]) -> Self {
        Shape::Polyline(vec![a, b])
    }
    pub fn text(at: [f32; 2], text: impl Into<String>, size: f32) -> Self {
        Shape::Text { at, text: text.into(), size }
    }
    /// The box of half-sides `half` around `centre`, turned by `angle` (radians, counter-clockwise
    /// in world coordinates).
    pub fn oriented_box(centre: [f32; 2], half: [f32; 2], angle: f32) -> Self {
        let (s, c) = angle.sin_cos();
        Shape::Polygon(
            [[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]].iter().map(|[u, v]| [centre[0] + c * u * half[0] - s * v * half[1], centre[1] + s * u * half[0] + c * v * half[1]]).collect(),
        )
    }
    /// A plus sign of arm `r` at `c` (an effector, an action target) as one polyline pair.
    pub fn cross(c: [f32; 2], r: f32) -> [Self; 2] {
        [Shape::segment([c[0] - r, c[1]], [c[0] + r, c[1]]), Shape::segment([c[0], c[1] - r], [c[0], c[1] + r])]
    }
    /// A representative point: a disc's centre, a box's centre, a path's first point.
    pub fn anchor(&self) -> [f32; 2] {
        match self {
            Shape::Disc { centre, .. } => *centre,
            Shape::Rect { lo, hi } => [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0],
            Shape::Polygon(p) => {
                let n = p.len().max(1) as f32;
                [p.iter().map(|q| q[0]).sum::<f32>() / n, p.iter().map(|q| q[1]).sum::<f32>() / n]
            }
            Shape::Polyline(p) => p.first().copied().unwrap_or_default(),
            Shape::Text { at, .. } => *at,
        }
    }
}

/// Which part of a picture an item belongs to; an overlay of several evaluation tasks draws the
/// fixed layer once and the others per task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    /// What no step changes: walls, table, targets.
    Fixed,
    /// The moving parts: agent, objects, lights.
    State,
    /// The goal of the episode, drawn inside the state's scene (a maze's goal square).
    Goal,
    /// Annotations that fit only the large overview picture (labels, start regions); rollout
    /// frames leave them out.
    Note,
}

/// One shape with its paint and layer.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub shape: Shape,
    pub paint: Paint,
    pub layer: Layer,
}

/// How world axes map onto the picture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// x to the right, y up (the usual plot).
    XRightYUp,
    /// x to the right, y down (OGBench's maze maps with row 0 on top; pygame's PushT).
    XRightYDown,
    /// x down, y to the right (the arm tasks' table seen from the robot; JaxGCRL mazes).
    XDownYRight,
}

/// A picture of a task's state: the world box it spans, the view, and the shapes, painted in
/// order.
#[derive(Clone, Debug, PartialEq)]
pub struct Scene {
    pub lo: [f32; 2],
    pub hi: [f32; 2],
    pub view: View,
    pub items: Vec<Item>,
    /// One line on the state ("2/4 goals"), shown above a rollout frame; may be empty.
    pub status: String,
    /// One line saying what the shapes mean, shown under an overview's title; may be empty.
    pub legend: String,
}

impl Scene {
    pub fn new(lo: [f32; 2], hi: [f32; 2], view: View) -> Self {
        Self { lo, hi, view, items: Vec::new(), status: String::new(), legend: String::new() }
    }
    pub fn push(&mut self, layer: Layer, shape: Shape, paint: Paint) {
        self.items.push(Item { shape, paint, layer });
    }
    pub fn fixed(&mut self, shape: Shape, paint: Paint) {
        self.push(Layer::Fixed, shape, paint)
    }
    pub fn state(&mut self, shape: Shape, paint: Paint) {
        self.push(Layer::State, shape, paint)
    }
    pub fn goal(&mut self, shape: Shape, paint: Paint) {
        self.push(Layer::Goal, shape, paint)
    }
    pub fn note(&mut self, shape: Shape, paint: Paint) {
        self.push(Layer::Note, shape, paint)
    }
    /// Whether `p` lies within the scene's box.
    pub fn contains(&self, p: [f32; 2]) -> bool {
        (0..2).all(|k| p[k] >= self.lo[k] && p[k] <= self.hi[k])
    }
    /// The items of `layer`.
    pub fn layer(&self, layer: Layer) -> impl Iterator<Item = &Item> {
        self.items.iter().filter(move |i| i.layer == layer)
    }
    /// The state-layer items filled with `colour` (tests count cubes, blocks, lit buttons this way).
    pub fn filled_with(&self, colour: Colour) -> Vec<&Item> {
        self.items.iter().filter(|i| i.layer == Layer::State && i.paint.fill == Some(colour)).collect()
    }
}

/// How a task draws itself. Every [`crate::GoalEnv`] implements it (it is a supertrait), so a
/// picture of any task is made from these shapes alone.
pub trait Draw {
    /// The current state (valid after `reset`).
    fn scene(&self) -> Scene;
    /// The current episode's goal drawn as a state (the cubes where they should end up), for
    /// tasks whose goal is a whole configuration; `None` where the goal is already a marker in
    /// [`Draw::scene`] (mazes, soccer) or where there is no goal (the imitation tasks).
    fn goal_scene(&self) -> Option<Scene> {
        None
    }
    /// The state stored in row `row` of a dataset of this task (its `qpos`, button states and,
    /// where drawn, action), for rollout frames.
    fn scene_of_row(&self, ds: &Dataset, row: usize) -> Result<Scene>;
    /// Shapes an overview draws for demo `demo` of a dataset (rows `rows.0..rows.1`): the paths
    /// of the agent or of the objects, coloured as the task finds telling.
    fn demo_shapes(&self, ds: &Dataset, rows: (usize, usize), demo: usize) -> Vec<Item> {
        let _ = (ds, rows, demo);
        Vec::new()
    }
}

/// The rows of the episode holding `row` from its first row up to `row` (the path so far in a
/// rollout frame).
pub(crate) fn episode_start(ds: &Dataset, row: usize) -> usize {
    (0..row).rev().find(|&t| ds.terminals[t] > 0.5).map_or(0, |t| t + 1)
}

/// Checks that `row` is a row of `ds` with `qpos_dim` at least `need` (what `scene_of_row` reads).
pub(crate) fn check_row(task: &str, ds: &Dataset, row: usize, need: usize) -> Result<()> {
    if row >= ds.len() || ds.qpos_dim < need {
        return Err(crate::EnvError::Invalid(format!("{task}: cannot draw row {row} of a dataset with {} rows and {} qpos columns (needs {need})", ds.len(), ds.qpos_dim)));
    }
    Ok(())
}

/// A polyline through `qpos` columns `cols` of rows `rows.0..rows.1`.
pub(crate) fn path(ds: &Dataset, rows: (usize, usize), cols: [usize; 2]) -> Shape {
    Shape::Polyline((rows.0..rows.1).map(|t| [ds.qpos_row(t)[cols[0]], ds.qpos_row(t)[cols[1]]]).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GoalEnv, Split};

    /// What every family's pictures must satisfy: after `reset_to_task(1, 0)` the scene's moving
    /// discs lie in its box, `count` finds the family's parts, a few steps at the top of the
    /// action box change the moving layer, and the dataset's first row draws (a row past the end
    /// is an error). Returns the env after the steps and the first scene.
    fn check_family(name: &str, count: impl Fn(&Scene) -> usize, expected: usize) -> (Box<dyn GoalEnv>, Scene) {
        let mut env = crate::make(name).unwrap();
        env.reset_to_task(1, 0).unwrap();
        let before = env.scene();
        assert_eq!(count(&before), expected, "{name}: wrong number of parts in {before:#?}");
        for item in before.items.iter().filter(|i| i.layer == Layer::State) {
            if let Shape::Disc { centre, .. } = item.shape {
                assert!(before.contains(centre), "{name}: disc at {centre:?} outside {:?}..{:?}", before.lo, before.hi);
            }
        }
        let action = env.action_spec().high.clone();
        for _ in 0..5 {
            env.step(&action).unwrap();
        }
        let after = env.scene();
        let moving = |s: &Scene| s.layer(Layer::State).cloned().collect::<Vec<_>>();
        assert_ne!(moving(&before), moving(&after), "{name}: the scene did not change in 5 steps");
        assert_eq!(count(&after), expected, "{name}: parts appeared or vanished while stepping");
        let meta = crate::meta(name).unwrap();
        let ds = crate::generate_with(meta.dataset.as_deref().unwrap(), 0, Split::Train, 1, meta.recipe.unwrap().episode_len).unwrap();
        let row = env.scene_of_row(&ds, 0).unwrap();
        assert_eq!(count(&row), expected, "{name}: a dataset row draws a different set of parts");
        assert!(env.scene_of_row(&ds, ds.len()).is_err(), "{name}: drew a row past the end");
        (env, before)
    }

    fn discs(s: &Scene, colour: Colour) -> usize {
        s.filled_with(colour).iter().filter(|i| matches!(i.shape, Shape::Disc { .. })).count()
    }

    #[test]
    fn maze_scene_has_walls_one_agent_and_the_goal() {
        let (env, s) = check_family("pointmaze-large-navigate", |s| discs(s, Colour::Agent), 1);
        assert!(s.layer(Layer::Fixed).count() > 20, "walls missing");
        let goal: Vec<_> = s.layer(Layer::Goal).collect();
        assert_eq!(goal.len(), 1);
        assert!(s.contains(goal[0].shape.anchor()));
        // The disc is where the observation says the agent is.
        let mut env = env;
        let obs = env.reset_to_task(2, 3).unwrap();
        assert_eq!(env.scene().filled_with(Colour::Agent)[0].shape.anchor(), [obs[0], obs[1]]);
    }

    #[test]
    fn online_maze_scene_shows_its_goal_set() {
        let mut env = crate::make("pointmaze-umaze-online").unwrap();
        env.reset_to_task(1, 0).unwrap();
        // The easy task's goal set (every G cell) plus the episode's goal.
        assert!(env.scene().layer(Layer::Goal).count() >= 2);
    }

    #[test]
    fn soccer_scene_has_agent_ball_and_goal() {
        let (_, s) = check_family("pointsoccer-arena-navigate", |s| discs(s, Colour::Agent) + discs(s, Colour::WHITE), 2);
        assert_eq!(s.layer(Layer::Goal).count(), 1);
    }

    #[test]
    fn puzzle_scene_lights_the_buttons_that_are_on() {
        let lit = |s: &Scene| s.filled_with(crate::puzzle::LIT).len();
        let buttons = |s: &Scene| s.layer(Layer::State).filter(|i| matches!(i.shape, Shape::Rect { .. })).count();
        let (env, s) = check_family("kinpuzzle-3x3-play", buttons, 9);
        let tasks = crate::puzzle::puzzle_tasks(3, 3);
        assert_eq!(lit(&s), tasks[0].0.iter().filter(|&&b| b == 1).count());
        let goal = env.goal_scene().unwrap();
        assert_eq!((buttons(&goal), lit(&goal)), (9, tasks[0].1.iter().filter(|&&b| b == 1).count()));
    }

    #[test]
    fn cube_scene_has_one_square_per_cube_and_the_gripper() {
        let cubes = |s: &Scene| (0..4).map(|k| s.filled_with(Colour::Category(k)).len()).sum();
        let (env, s) = check_family("kincube-double-play", cubes, 2);
        // The effector's cross: two segments.
        assert_eq!(s.layer(Layer::State).filter(|i| matches!(i.shape, Shape::Polyline(_))).count(), 2);
        assert_eq!(cubes(&env.goal_scene().unwrap()), 2);
    }

    #[test]
    fn kinscene_scene_has_cube_buttons_drawer_and_window() {
        let parts = |s: &Scene| s.filled_with(Colour::Category(0)).len() + s.items.iter().filter(|i| matches!(&i.shape, Shape::Text { .. })).count();
        // One cube, and the labels of the two buttons and the two handles.
        let (env, s) = check_family("kinscene-play", parts, 5);
        let texts: Vec<String> = s.items.iter().filter_map(|i| if let Shape::Text { text, .. } = &i.shape { Some(text.clone()) } else { None }).collect();
        assert!(texts.iter().any(|t| t.starts_with("drawer")) && texts.iter().any(|t| t.starts_with("window")), "{texts:?}");
        let goal = env.goal_scene().unwrap();
        assert!(goal.items.iter().any(|i| matches!(&i.shape, Shape::Text { text, .. } if text == "drawer -0.16")), "task1's goal opens the drawer");
    }

    #[test]
    fn pusht_scene_has_the_goal_the_tee_and_the_agent() {
        let parts = |s: &Scene| s.layer(Layer::State).filter(|i| matches!(i.shape, Shape::Polygon(_) | Shape::Disc { .. })).count();
        let (_, s) = check_family("pusht", parts, 3);
        assert_eq!(s.layer(Layer::Goal).count(), 2, "the goal T's two boxes");
    }

    #[test]
    fn multigoal_scene_has_four_goals_and_the_body() {
        let parts = |s: &Scene| (0..4).map(|k| s.filled_with(Colour::Category(k)).len()).sum::<usize>() + discs(s, Colour::Rgb(40, 40, 40));
        let (_, s) = check_family("multigoal4", parts, 5);
        assert_eq!(s.status, "0/4 goals");
    }

    #[test]
    fn blockpush_scene_has_two_blocks_and_the_pusher() {
        let parts = |s: &Scene| s.filled_with(Colour::Category(0)).len() + s.filled_with(Colour::Category(1)).len() + discs(s, Colour::Rgb(60, 60, 60));
        let (_, s) = check_family("blockpush2", parts, 3);
        assert_eq!(s.status, "0/2 blocks in targets");
    }

    #[test]
    fn kitchen_scene_has_every_appliance_and_the_effector() {
        // Two doors (line + handle), two pads, two knobs, the kettle, the effector.
        let parts = |s: &Scene| s.layer(Layer::State).filter(|i| i.paint.fill.is_some()).count();
        check_family("kitchen2d", parts, 8);
    }
}
