//! `kinscene-play`: a cube, two lock buttons, a drawer and a window worked by the kinematic
//! gripper of [`crate::cube`], standing in for OGBench's `scene-play`
//! (`manipspace/envs/scene_env.py`).
//!
//! What is copied from OGBench: the 5-D action and its scale, the effector workspace, the scene's
//! arm sampling bounds (z up to 0.35) and object sampling bounds (`[[0.3, −0.07], [0.45, 0.18]]`),
//! the locks (button 0 locks the drawer and button 1 the window; state 0 = locked), the joint
//! ranges (drawer `[−0.16, 0]`, window `[0, 0.2]`), the put-in-drawer target `(0.33, −0.24,
//! 0.066)` and `_is_in_drawer` box (x ∈ [0.21, 0.45], y ∈ handle − [0.27, 0.07]), the five
//! evaluation tasks (cube jittered by U(±1 cm) with a random yaw, drawer and window by U(±1 cm)
//! clipped to their ranges), the 750-step limit, the success rule (cube within 0.04 (3-D), both
//! buttons equal, |drawer − target| ≤ 0.04, |window − target| ≤ 0.04), the singletask reward
//! (`#satisfied − 5`), the observation scalers (drawer ×18, window ×15) and the data collection
//! (`set_new_target`: cube / button / drawer / window with weights 1 (0 once the cube is in the
//! drawer), 1, 0.25 or 1 (locked or not), 0.25 or 1; put in the drawer with probability 0.3 when
//! it is open beyond 0.12; a drawer target of −0.16 if it is closed beyond −0.08 else 0, a window
//! target of 0.2 if it is at most 0.1 else 0) with OGBench's drawer/window plan oracle
//! (`oracles/plan/drawer_plan.py`: approach 12 cm above the handle, grasp, move, release, clear;
//! segments of 1, ½, ½, ½, ½, ½, 1 × 0.4 s jittered by ±10 %).
//!
//! What is ours (OGBench's MuJoCo bodies are replaced by kinematic rules; the geometry values
//! are plausible choices, not read from OGBench's XML):
//! - **Cube.** kincube's grasp, release, settling and no-interpenetration rules, unchanged (the
//!   same [`crate::cube`] simulation), with the scene's solid fixtures in place of the bare
//!   table: the drawer tray (floor top at z = 0.046 so a cube inside rests at OGBench's
//!   0.066, 1 cm walls up to z = 0.10), the cabinet the tray slides into (a slab at
//!   z ∈ [0.11, 0.16] over y ≤ −0.29 and two side walls), the two button boxes and the window
//!   frame. A carried cube is stopped at a contact; a released cube drops onto the highest
//!   fixture under it (no tipping off fixture edges).
//! - **Buttons.** Puzzle's press model ([`crate::puzzle`]: 8 cm squares, top at z = 0.05, a press
//!   when an armed button reaches 2 cm depth, re-armed below 1 cm), centred at
//!   [`BUTTON_XY`]; a press toggles that button only.
//! - **Drawer and window.** A handle *engages* when no cube is held and the effector is within
//!   [`HANDLE_TOL_AXIAL`] of it along the joint axis, [`HANDLE_TOL_ACROSS`] across and
//!   [`HANDLE_TOL_Z`] vertically at the start of a step (open or closed gripper). While engaged
//!   and unlocked, the joint follows the effector's displacement along the axis, clipped to its
//!   range; a locked joint does not move. The drawer handle is at
//!   `(0.33, −0.23 − drawer, 0.08)` (the drawer opens towards +y), the window handle at
//!   `(0.30 + window, 0.27, 0.15)`. Free cubes inside the tray ride with it; a tray move that
//!   would push into a cube outside is cut short at the contact.
//! - **Play data.** As OGBench, but a drawer or window target drawn while it is locked is
//!   preceded by the press that unlocks it (OGBench's oracle tries the locked joint and fails).
//!
//! Observation (20, smaller than OGBench's arm proprioception): kincube's effector block
//! `[(x − 0.425)·10, y·10, z·10, cos yaw, sin yaw, closure·3]`, its cube block
//! `[(x − 0.425)·10, y·10, z·10, cos yaw, sin yaw, attached]`, per button
//! `[state == 0, state == 1, depth·120]`, then `drawer·18`, `window·15`.
//!
//! Dataset `qpos` (11): `[x, y, z, yaw, closure, cube x, y, z, yaw, drawer, window]`;
//! `button_states` (2, int64). Singletask relabelling reads the cube from `qpos[5..8]`, the
//! joints from `qpos[9]` and `qpos[10]` and the buttons from `button_states`.

use std::collections::VecDeque;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::arm::{add_plan_noise, effector_obs_bounds, interpolate_keyframes, jitter_times, record_play, sample_pose_within, wrap_angle, PlaySim, ARM_SAMPLE_LO, POS_OBS_SCALE, SEGMENT_STEPS};
use crate::cube::{cubes_overlap, pick_place_plan, rects_overlap, CubePose, Fixtures, Sim, CONTACT_EPS, CUBE_HALF, GRIPPER_OBS_SCALE, TABLE_Z};
use crate::dataset::Dataset;
use crate::env::{check_reset, pick_task, BoxSpec, Env, Episode, GoalEnv, Info, TaskInfo, Transition};
use crate::error::{EnvError, Result};
use crate::family::{BaseKind, BaseTask, Family, Relabelled, StandsIn};
use crate::puzzle::{button_depth, button_plan, press_edge, BUTTON_HALF_WIDTH, BUTTON_TOP_Z, BUTTON_TRAVEL, DEPTH_OBS_SCALE};
use crate::recipe::{DatasetRecipe, MANIPULATION_PLAY};
use crate::relabel::per_row;
use crate::shapes::{self as sh, Draw};

pub use crate::arm::plan_action;

/// OGBench scene's evaluation time limit.
pub const MAX_EPISODE_STEPS: usize = 750;
/// OGBench's tolerances: cube (3-D, metres), drawer and window (joint units, metres).
pub const SUCCESS_TOL: f32 = 0.04;
/// Joint ranges (OGBench): the drawer opens to −0.16, the window to 0.2.
pub const DRAWER_RANGE: [f32; 2] = [-0.16, 0.0];
pub const WINDOW_RANGE: [f32; 2] = [0.0, 0.2];
/// OGBench's observation scalers of the drawer and window joints.
pub const DRAWER_OBS_SCALE: f32 = 18.0;
pub const WINDOW_OBS_SCALE: f32 = 15.0;
/// OGBench scene's arm sampling bounds (z up to 0.35, higher than the cube env's 0.25).
pub const ARM_SAMPLE_HI: [f32; 3] = [0.6, 0.2, 0.35];
/// OGBench scene's object (and table target) sampling bounds `[x, y]`.
pub const OBJECT_SAMPLE_LO: [f32; 2] = [0.3, -0.07];
pub const OBJECT_SAMPLE_HI: [f32; 2] = [0.45, 0.18];
/// OGBench's put-in-drawer target (the open drawer's centre) and its probability.
pub const DRAWER_CENTER: [f32; 3] = [0.33, -0.24, 0.066];
pub const P_PUT_IN_DRAWER: f32 = 0.3;
/// Button centres (ours): to the robot's far side of the cube area, clear of the tray.
pub const BUTTON_XY: [[f32; 2]; 2] = [[0.55, -0.12], [0.55, 0.08]];
/// Drawer geometry (ours, consistent with OGBench's `_is_in_drawer` and drawer centre): the
/// handle's x, its y when closed (it is at `DRAWER_HANDLE_Y0 − drawer`) and z; the interior
/// x range and y range relative to the handle; wall thickness, floor top and rim height.
pub const DRAWER_X: f32 = 0.33;
pub const DRAWER_HANDLE_Y0: f32 = -0.23;
pub const DRAWER_HANDLE_Z: f32 = 0.08;
pub const DRAWER_INTERIOR_X: [f32; 2] = [0.21, 0.45];
pub const DRAWER_INTERIOR_DY: [f32; 2] = [-0.27, -0.07];
pub const DRAWER_WALL: f32 = 0.01;
pub const DRAWER_FLOOR_Z: f32 = DRAWER_CENTER[2] - CUBE_HALF;
pub const DRAWER_RIM_Z: f32 = 0.10;
/// The cabinet (ours): its front face, and the slab above the tray slot.
pub const CABINET_FRONT_Y: f32 = -0.29;
pub const CABINET_SLAB_Z: [f32; 2] = [0.11, 0.16];
/// Window handle (ours): x at window = 0, y, z; the frame the pane slides in is a solid slab
/// behind it.
pub const WINDOW_HANDLE_X0: f32 = 0.30;
pub const WINDOW_HANDLE_Y: f32 = 0.27;
pub const WINDOW_HANDLE_Z: f32 = 0.15;
/// Handle engagement tolerances (ours): along the joint axis, across it (horizontal), vertical.
pub const HANDLE_TOL_AXIAL: f32 = 0.02;
pub const HANDLE_TOL_ACROSS: f32 = 0.03;
pub const HANDLE_TOL_Z: f32 = 0.02;
/// OGBench's drawer/window plans jitter keyframe times by ±10 % of a segment.
pub const HANDLE_TIME_JITTER: f32 = 0.1;

/// A scene configuration: what a task starts from or must reach.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SceneConfig {
    pub cube: [f32; 3],
    pub buttons: [u8; 2],
    pub drawer: f32,
    pub window: f32,
}

/// One OGBench evaluation task.
#[derive(Clone, Debug, PartialEq)]
pub struct SceneTask {
    pub name: &'static str,
    pub init: SceneConfig,
    pub goal: SceneConfig,
}

/// OGBench's five scene tasks (`scene_env.py`, `set_tasks`).
pub fn scene_tasks() -> Vec<SceneTask> {
    let c = |cube: [f32; 3], buttons: [u8; 2], drawer: f32, window: f32| SceneConfig { cube, buttons, drawer, window };
    const IN_DRAWER: [f32; 3] = [0.33, -0.356, 0.065986];
    vec![
        SceneTask { name: "task1_open", init: c([0.35, 0.05, 0.02], [1, 1], 0.0, 0.0), goal: c([0.35, 0.05, 0.02], [1, 1], -0.16, 0.2) },
        SceneTask { name: "task2_unlock_and_lock", init: c([0.35, -0.05, 0.02], [0, 0], -0.16, 0.2), goal: c([0.35, -0.05, 0.02], [0, 0], 0.0, 0.0) },
        SceneTask { name: "task3_rearrange_medium", init: c([0.4, -0.05, 0.02], [1, 0], 0.0, 0.2), goal: c([0.4, 0.15, 0.02], [1, 1], -0.16, 0.0) },
        SceneTask { name: "task4_put_in_drawer", init: c([0.35, 0.05, 0.02], [0, 0], 0.0, 0.0), goal: c(IN_DRAWER, [1, 0], 0.0, 0.0) },
        SceneTask { name: "task5_rearrange_hard", init: c([0.35, 0.15, 0.02], [0, 0], 0.0, 0.0), goal: c(IN_DRAWER, [0, 0], 0.0, 0.2) },
    ]
}

/// Which of OGBench's five sub-conditions hold: `[cube, button 0, button 1, drawer, window]`.
pub fn satisfied<T: Copy + Into<i64>>(cube: [f32; 3], buttons: &[T], drawer: f32, window: f32, goal: &SceneConfig) -> [bool; 5] {
    let d = ((cube[0] - goal.cube[0]).powi(2) + (cube[1] - goal.cube[1]).powi(2) + (cube[2] - goal.cube[2]).powi(2)).sqrt();
    [
        d <= SUCCESS_TOL,
        buttons[0].into() == goal.buttons[0] as i64,
        buttons[1].into() == goal.buttons[1] as i64,
        (drawer - goal.drawer).abs() <= SUCCESS_TOL,
        (window - goal.window).abs() <= SUCCESS_TOL,
    ]
}

/// OGBench's singletask reward from a dataset row (`qpos` layout in the module docs, the row's
/// `button_states`): `(#satisfied − 5, mask)`, `mask = 1 − all satisfied`.
pub fn singletask_reward<T: Copy + Into<i64>>(qpos: &[f32], buttons: &[T], goal: &SceneConfig) -> (f32, f32) {
    assert!(qpos.len() >= 11 && buttons.len() >= 2, "singletask_reward: qpos has {} entries (need 11), {} button states (need 2)", qpos.len(), buttons.len());
    let s = satisfied([qpos[5], qpos[6], qpos[7]], buttons, qpos[9], qpos[10], goal);
    let n = s.iter().filter(|&&b| b).count();
    (n as f32 - 5.0, if n == 5 { 0.0 } else { 1.0 })
}

/// An axis-aligned solid box `[lo, hi]` (metres).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Solid {
    pub lo: [f32; 3],
    pub hi: [f32; 3],
}

impl Solid {
    fn footprint_overlaps(&self, c: &CubePose) -> bool {
        let centre = [0.5 * (self.lo[0] + self.hi[0]), 0.5 * (self.lo[1] + self.hi[1])];
        let half = [0.5 * (self.hi[0] - self.lo[0]), 0.5 * (self.hi[1] - self.lo[1])];
        rects_overlap(centre, half, 0.0, [c.pos[0], c.pos[1]], [CUBE_HALF, CUBE_HALF], c.yaw)
    }
    fn overlaps(&self, c: &CubePose) -> bool {
        c.pos[2] - CUBE_HALF < self.hi[2] - CONTACT_EPS && c.pos[2] + CUBE_HALF > self.lo[2] + CONTACT_EPS && self.footprint_overlaps(c)
    }
}

/// The drawer handle's y for drawer position `q` (the drawer opens towards +y).
pub fn drawer_handle(q: f32) -> [f32; 3] {
    [DRAWER_X, DRAWER_HANDLE_Y0 - q, DRAWER_HANDLE_Z]
}

/// The window handle for window position `q` (the window opens towards +x).
pub fn window_handle(q: f32) -> [f32; 3] {
    [WINDOW_HANDLE_X0 + q, WINDOW_HANDLE_Y, WINDOW_HANDLE_Z]
}

/// The tray's interior `[x_lo, y_lo, x_hi, y_hi]` for drawer position `q`.
pub fn drawer_interior(q: f32) -> [f32; 4] {
    let h = drawer_handle(q)[1];
    [DRAWER_INTERIOR_X[0], h + DRAWER_INTERIOR_DY[0], DRAWER_INTERIOR_X[1], h + DRAWER_INTERIOR_DY[1]]
}

/// Whether a point's (x, y) is inside the tray's interior (OGBench's `_is_in_drawer`, in xy).
pub fn in_drawer(p: [f32; 3], q: f32) -> bool {
    let [x0, y0, x1, y1] = drawer_interior(q);
    (x0..=x1).contains(&p[0]) && (y0..=y1).contains(&p[1])
}

/// Every solid fixture for drawer position `q`: the cabinet (slab and side walls), the two
/// button boxes, the window frame, then the tray (floor and four walls).
pub fn solids(q: f32) -> [Solid; 11] {
    let [x0, y0, x1, y1] = drawer_interior(q);
    let w = DRAWER_WALL;
    let (cx0, cx1) = (x0 - 2.0 * w, x1 + 2.0 * w);
    let b = |c: [f32; 2]| Solid { lo: [c[0] - BUTTON_HALF_WIDTH, c[1] - BUTTON_HALF_WIDTH, 0.0], hi: [c[0] + BUTTON_HALF_WIDTH, c[1] + BUTTON_HALF_WIDTH, BUTTON_TOP_Z] };
    [
        Solid { lo: [cx0, -0.55, CABINET_SLAB_Z[0]], hi: [cx1, CABINET_FRONT_Y, CABINET_SLAB_Z[1]] },
        Solid { lo: [cx0, -0.55, 0.0], hi: [x0 - w, CABINET_FRONT_Y, CABINET_SLAB_Z[0]] },
        Solid { lo: [x1 + w, -0.55, 0.0], hi: [cx1, CABINET_FRONT_Y, CABINET_SLAB_Z[0]] },
        b(BUTTON_XY[0]),
        b(BUTTON_XY[1]),
        Solid { lo: [0.20, 0.31, 0.0], hi: [0.65, 0.33, 0.36] },
        Solid { lo: [x0 - w, y0 - w, 0.0], hi: [x1 + w, y1 + w, DRAWER_FLOOR_Z] },
        Solid { lo: [x0 - w, y0 - w, 0.0], hi: [x0, y1 + w, DRAWER_RIM_Z] },
        Solid { lo: [x1, y0 - w, 0.0], hi: [x1 + w, y1 + w, DRAWER_RIM_Z] },
        Solid { lo: [x0 - w, y0 - w, 0.0], hi: [x1 + w, y0, DRAWER_RIM_Z] },
        Solid { lo: [x0 - w, y1, 0.0], hi: [x1 + w, y1 + w, DRAWER_RIM_Z] },
    ]
}

/// The scene's fixtures for the cube simulation: the table plus [`solids`] at the drawer's
/// position (the drawer joint lives here so that the cube rules see the tray where it is).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct SceneFixtures {
    drawer: f32,
}

impl Fixtures for SceneFixtures {
    fn blocks(&self, c: &CubePose) -> bool {
        c.pos[2] < TABLE_Z - 1e-6 || solids(self.drawer).iter().any(|s| s.overlaps(c))
    }
    fn rest_z(&self, c: &CubePose) -> f32 {
        let bottom = c.pos[2] - CUBE_HALF;
        solids(self.drawer).iter().filter(|s| s.hi[2] <= bottom + CONTACT_EPS && s.footprint_overlaps(c)).map(|s| s.hi[2] + CUBE_HALF).fold(TABLE_Z, f32::max)
    }
}

/// The whole kinematic scene: kincube's effector-and-cube simulation (with the scene's
/// fixtures), the buttons' press model, and the window joint.
#[derive(Clone, Debug)]
struct Scene {
    sim: Sim<SceneFixtures>,
    buttons: [u8; 2],
    armed: [bool; 2],
    depth: [f32; 2],
    window: f32,
}

fn engaged(pos: [f32; 3], handle: [f32; 3], axis: usize) -> bool {
    let across = 1 - axis;
    (pos[axis] - handle[axis]).abs() <= HANDLE_TOL_AXIAL && (pos[across] - handle[across]).abs() <= HANDLE_TOL_ACROSS && (pos[2] - handle[2]).abs() <= HANDLE_TOL_Z
}

impl Scene {
    fn new() -> Self {
        Self { sim: Sim::with_fixtures(1, SceneFixtures { drawer: 0.0 }), buttons: [0; 2], armed: [true; 2], depth: [0.0; 2], window: 0.0 }
    }
    fn drawer(&self) -> f32 {
        self.sim.fixtures.drawer
    }
    /// Places everything (gripper open, nothing held) without pressing anything.
    fn set(&mut self, pos: [f32; 3], yaw: f32, cube: CubePose, buttons: [u8; 2], drawer: f32, window: f32) {
        self.sim.pos = pos;
        self.sim.yaw = yaw;
        self.sim.grip = 0.0;
        self.sim.grasp = None;
        self.sim.cubes[0] = cube;
        self.sim.fixtures.drawer = drawer.clamp(DRAWER_RANGE[0], DRAWER_RANGE[1]);
        self.window = window.clamp(WINDOW_RANGE[0], WINDOW_RANGE[1]);
        self.buttons = buttons;
        for (k, xy) in BUTTON_XY.iter().enumerate() {
            self.depth[k] = button_depth(*xy, pos);
            self.armed[k] = self.depth[k] < crate::puzzle::PRESS_DEPTH;
        }
    }
    /// One control step; returns the number of button presses.
    fn apply(&mut self, action: &[f32]) -> usize {
        let p0 = self.sim.pos;
        let free = self.sim.grasp.is_none();
        let drawer_engaged = free && engaged(p0, drawer_handle(self.drawer()), 1);
        let window_engaged = free && engaged(p0, window_handle(self.window), 0);
        self.sim.apply(action);
        let p1 = self.sim.pos;
        if drawer_engaged && self.buttons[0] == 1 {
            // The handle sits at y = Y0 − drawer, so it follows Δy with drawer −= Δy.
            self.move_drawer(self.drawer() - (p1[1] - p0[1]));
        }
        if window_engaged && self.buttons[1] == 1 {
            self.window = (self.window + p1[0] - p0[0]).clamp(WINDOW_RANGE[0], WINDOW_RANGE[1]);
        }
        let mut presses = 0;
        for (k, xy) in BUTTON_XY.iter().enumerate() {
            self.depth[k] = button_depth(*xy, p1);
            if press_edge(&mut self.armed[k], self.depth[k]) {
                self.buttons[k] ^= 1;
                presses += 1;
            }
        }
        presses
    }
    /// Slides the drawer towards `target` (clipped to its range) with the free cubes inside the
    /// tray riding along, cut short (bisection) where the tray or a riding cube would hit a cube
    /// or a fixture.
    fn move_drawer(&mut self, target: f32) {
        let q0 = self.drawer();
        let q1 = target.clamp(DRAWER_RANGE[0], DRAWER_RANGE[1]);
        if q1 == q0 {
            return;
        }
        let held = self.sim.grasp.map(|g| g.cube);
        let riding: Vec<bool> =
            self.sim.cubes.iter().enumerate().map(|(i, c)| Some(i) != held && in_drawer(c.pos, q0) && c.pos[2] - CUBE_HALF >= DRAWER_FLOOR_Z - 1e-4 && c.pos[2] - CUBE_HALF < DRAWER_RIM_Z).collect();
        let moved =
            |q: f32| -> Vec<CubePose> { self.sim.cubes.iter().zip(&riding).map(|(c, &r)| if r { CubePose { pos: [c.pos[0], c.pos[1] - (q - q0), c.pos[2]], yaw: c.yaw } } else { *c }).collect() };
        let fits = |q: f32| {
            let fx = SceneFixtures { drawer: q };
            let cubes = moved(q);
            cubes.iter().enumerate().all(|(i, c)| !fx.blocks(c) && cubes.iter().skip(i + 1).all(|o| !cubes_overlap(c, o)))
        };
        let q = if fits(q1) {
            q1
        } else {
            let (mut lo, mut hi) = (0.0f32, 1.0f32);
            for _ in 0..12 {
                let mid = 0.5 * (lo + hi);
                if fits(q0 + (q1 - q0) * mid) {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            q0 + (q1 - q0) * lo
        };
        self.sim.cubes = moved(q);
        self.sim.fixtures.drawer = q;
        self.sim.settle();
    }
    fn cube(&self) -> CubePose {
        self.sim.cubes[0]
    }
    fn satisfied(&self, goal: &SceneConfig) -> [bool; 5] {
        satisfied(self.cube().pos, &self.buttons, self.drawer(), self.window, goal)
    }
    fn observe(&self, obs: &mut [f32]) {
        self.sim.observe(&mut obs[..12]);
        for k in 0..2 {
            let b = &mut obs[12 + 3 * k..15 + 3 * k];
            b[0] = (self.buttons[k] == 0) as u8 as f32;
            b[1] = (self.buttons[k] != 0) as u8 as f32;
            b[2] = self.depth[k] * DEPTH_OBS_SCALE;
        }
        obs[18] = self.drawer() * DRAWER_OBS_SCALE;
        obs[19] = self.window * WINDOW_OBS_SCALE;
    }
    fn qpos(&self, out: &mut Vec<f32>) {
        self.sim.qpos(out);
        out.push(self.drawer());
        out.push(self.window);
    }
}

/// Observation dimension (layout in the module docs).
pub const OBS_DIM: usize = 20;
/// Dataset `qpos` (and `qvel`) dimension.
pub const QPOS_DIM: usize = 11;

fn observation_spec() -> BoxSpec {
    let (lo, hi) = effector_obs_bounds();
    let s = POS_OBS_SCALE;
    let cx = crate::arm::CENTER_X;
    // The cube: carried up to the grasp tolerance outside the effector workspace, or riding in
    // the closed drawer (interior down to y = −0.50).
    let mut low = vec![lo[0], lo[1], lo[2], -1.0, -1.0, 0.0, (0.15 - cx) * s, -0.55 * s, (TABLE_Z - 1e-5) * s, -1.0, -1.0, 0.0];
    let mut high = vec![hi[0], hi[1], hi[2], 1.0, 1.0, GRIPPER_OBS_SCALE, (0.70 - cx) * s, 0.45 * s, 0.45 * s, 1.0, 1.0, 1.0];
    for _ in 0..2 {
        low.extend_from_slice(&[0.0, 0.0, 0.0]);
        high.extend_from_slice(&[1.0, 1.0, BUTTON_TRAVEL * DEPTH_OBS_SCALE]);
    }
    low.extend_from_slice(&[DRAWER_RANGE[0] * DRAWER_OBS_SCALE, WINDOW_RANGE[0] * WINDOW_OBS_SCALE]);
    high.extend_from_slice(&[DRAWER_RANGE[1] * DRAWER_OBS_SCALE, WINDOW_RANGE[1] * WINDOW_OBS_SCALE]);
    BoxSpec::new(low, high)
}

/// One sub-task of the plan oracles.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SubTask {
    /// Pick the cube and place it at this pose.
    Cube(CubePose),
    /// Press (toggle) button k.
    Press(usize),
    /// Move the drawer to this position.
    Drawer(f32),
    /// Move the window to this position.
    Window(f32),
}

/// OGBench's `DrawerPlanOracle` (also used for the window) in control steps: keyframes
/// initial → 12 cm above the handle → the handle → (gripper closes) → the goal handle position →
/// (gripper opens) → 12 cm above it → a random final pose, at 0, 1, 1.5, 2, 2.5, 3, 3.5, 4.5
/// segments, each jittered by ±10 %. The yaw stays the effector's (our handles do not care).
pub fn handle_plan(rng: &mut ChaCha8Rng, eff: [f32; 5], from: [f32; 3], to: [f32; 3], noise: f32) -> Vec<[f32; 5]> {
    let (fp, fyaw) = sample_pose_within(rng, ARM_SAMPLE_LO, ARM_SAMPLE_HI);
    let y = eff[3];
    let at = |p: [f32; 3], dz: f32, g: f32| [p[0], p[1], p[2] + dz, y, g];
    let keys = [eff, at(from, 0.12, 0.0), at(from, 0.0, 0.0), at(from, 0.0, 1.0), at(to, 0.0, 1.0), at(to, 0.0, 0.0), at(to, 0.12, 0.0), [fp[0], fp[1], fp[2], fyaw, 0.0]];
    let mut times = [0.0f32, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.5].map(|s| s * SEGMENT_STEPS);
    jitter_times(rng, &mut times, HANDLE_TIME_JITTER);
    let mut plan = interpolate_keyframes(&keys, &times);
    add_plan_noise(rng, &mut plan, noise);
    plan
}

/// The plan that carries out `sub` from the scene's current state.
fn sub_plan(rng: &mut ChaCha8Rng, scene: &Scene, sub: SubTask, noise: f32) -> Vec<[f32; 5]> {
    let eff = scene.sim.state();
    match sub {
        SubTask::Cube(target) => pick_place_plan(rng, eff, scene.cube(), target, noise),
        SubTask::Press(k) => button_plan(rng, [eff[0], eff[1], eff[2], eff[3]], BUTTON_XY[k], noise),
        SubTask::Drawer(q) => handle_plan(rng, eff, drawer_handle(scene.drawer()), drawer_handle(q), noise),
        SubTask::Window(q) => handle_plan(rng, eff, window_handle(scene.window), window_handle(q), noise),
    }
}

/// The drawer counts as open enough to put a cube in or take it out beyond this (OGBench's
/// put-in-drawer condition).
const DRAWER_OPEN: f32 = -0.12;

/// The evaluation oracle's next sub-task towards `goal`, or `None` when every condition holds.
/// Order: the cube first (unlocking and opening the drawer first when the cube goes into or
/// comes out of it; a cube for the drawer is placed where closing the drawer to its goal
/// carries it onto its target), then the drawer, then the window (each unlocked first if
/// needed), then the buttons (relocking).
fn next_subtask(scene: &Scene, goal: &SceneConfig) -> Option<SubTask> {
    let q = scene.drawer();
    let cube = scene.cube();
    let goal_in = in_drawer(goal.cube, goal.drawer);
    let cube_in = in_drawer(cube.pos, q);
    // Where the cube must be now so that the drawer's move to its goal brings it to its target.
    let target = if goal_in { [goal.cube[0], goal.cube[1] + (goal.drawer - q), DRAWER_CENTER[2]] } else { goal.cube };
    let dist = |a: [f32; 3], b: [f32; 3]| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt();
    let cube_ok = if goal_in && cube_in { dist(cube.pos, target) <= 0.5 * SUCCESS_TOL } else { dist(cube.pos, goal.cube) <= SUCCESS_TOL };
    let joint = |lock: usize, sub: SubTask| if scene.buttons[lock] == 0 { SubTask::Press(lock) } else { sub };
    if !cube_ok {
        if (goal_in || cube_in) && q > DRAWER_OPEN {
            return Some(joint(0, SubTask::Drawer(DRAWER_RANGE[0])));
        }
        return Some(SubTask::Cube(CubePose { pos: target, yaw: 0.0 }));
    }
    if (q - goal.drawer).abs() > SUCCESS_TOL {
        return Some(joint(0, SubTask::Drawer(goal.drawer)));
    }
    if (scene.window - goal.window).abs() > SUCCESS_TOL {
        return Some(joint(1, SubTask::Window(goal.window)));
    }
    (0..2).find(|&k| scene.buttons[k] != goal.buttons[k]).map(SubTask::Press)
}

/// The scene task with a kinematic gripper (module docs: rules, geometry and layout).
///
/// Reset: the task's initial configuration (cube jittered by U(±1 cm) with a uniform yaw, drawer
/// and window by U(±1 cm) clipped to their ranges), gripper open, effector uniform in OGBench
/// scene's arm sampling bounds with yaw uniform in [−π, π]. The goal observation is the
/// observation of the goal configuration (cube yaw 0, not attached, buttons unpressed) with the
/// effector at the reset pose. Goal-conditioned episodes terminate on success with reward 1
/// (else 0); the singletask variant rewards `#satisfied − 5` and also terminates on success.
#[derive(Clone, Debug)]
pub struct SceneEnv {
    name: String,
    singletask: Option<usize>,
    obs_spec: BoxSpec,
    act_spec: BoxSpec,
    task_list: Vec<SceneTask>,
    tasks: Vec<TaskInfo>,
    scene: Scene,
    goal: SceneConfig,
    goal_obs: Vec<f32>,
    episode: Episode,
    task: Option<usize>,
}

impl SceneEnv {
    /// `name` is the registry name; `singletask = Some(k)` fixes evaluation task k (1-based).
    pub fn new(name: &str, singletask: Option<usize>) -> Self {
        let task_list = scene_tasks();
        let fmt = |c: &SceneConfig| format!("cube ({}, {}, {}) buttons {}{} drawer {} window {}", c.cube[0], c.cube[1], c.cube[2], c.buttons[0], c.buttons[1], c.drawer, c.window);
        let goal = task_list[0].goal;
        let tasks = task_list.iter().enumerate().map(|(k, t)| TaskInfo { name: format!("task{}", k + 1), description: format!("{}: {} → {}", t.name, fmt(&t.init), fmt(&t.goal)) }).collect();
        Self {
            name: name.into(),
            singletask,
            obs_spec: observation_spec(),
            act_spec: BoxSpec::uniform(5, -1.0, 1.0),
            task_list,
            tasks,
            scene: Scene::new(),
            goal,
            goal_obs: vec![0.0; OBS_DIM],
            episode: Episode::NOT_STARTED,
            task: None,
        }
    }
    pub fn cube(&self) -> CubePose {
        self.scene.cube()
    }
    /// Whether the cube is held.
    pub fn attached(&self) -> bool {
        self.scene.sim.grasp.is_some()
    }
    pub fn buttons(&self) -> [u8; 2] {
        self.scene.buttons
    }
    pub fn drawer(&self) -> f32 {
        self.scene.drawer()
    }
    pub fn window(&self) -> f32 {
        self.scene.window
    }
    /// The current episode's goal configuration.
    pub fn goal_config(&self) -> &SceneConfig {
        &self.goal
    }
    /// Effector `[x, y, z, yaw, closure]` (what [`plan_action`] takes).
    pub fn effector_state(&self) -> [f32; 5] {
        self.scene.sim.state()
    }
    /// The state as a dataset `qpos` row (layout in the module docs).
    pub fn qpos(&self) -> Vec<f32> {
        let mut q = Vec::with_capacity(QPOS_DIM);
        self.scene.qpos(&mut q);
        q
    }
    /// The evaluation oracle's next sub-task and its plan (noiseless or with the play noise),
    /// or `None` when the goal holds.
    pub fn oracle_plan(&self, rng: &mut ChaCha8Rng, noise: f32) -> Option<(SubTask, Vec<[f32; 5]>)> {
        let sub = next_subtask(&self.scene, &self.goal)?;
        Some((sub, sub_plan(rng, &self.scene, sub, noise)))
    }
    fn n_satisfied(&self) -> usize {
        self.scene.satisfied(&self.goal).iter().filter(|&&b| b).count()
    }
}

impl Env for SceneEnv {
    fn name(&self) -> &str {
        &self.name
    }
    fn observation_spec(&self) -> &BoxSpec {
        &self.obs_spec
    }
    fn action_spec(&self) -> &BoxSpec {
        &self.act_spec
    }
    fn max_episode_steps(&self) -> usize {
        MAX_EPISODE_STEPS
    }

    fn reset_into(&mut self, seed: u64, task: Option<usize>, obs: &mut [f32]) -> Result<()> {
        let n_tasks = self.tasks.len();
        check_reset(&self.name, &self.obs_spec, obs, task, n_tasks)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let k = pick_task(self.singletask, task, n_tasks, &mut rng);
        let t = self.task_list[k - 1].clone();
        let (pos, yaw) = sample_pose_within(&mut rng, ARM_SAMPLE_LO, ARM_SAMPLE_HI);
        let [x, y, z] = t.init.cube;
        let jx = rng.random_range(-0.01f32..=0.01);
        let jy = rng.random_range(-0.01f32..=0.01);
        let cube = CubePose { pos: [x + jx, y + jy, z], yaw: wrap_angle(rng.random_range(0.0..2.0 * std::f32::consts::PI)) };
        let drawer = t.init.drawer + rng.random_range(-0.01f32..=0.01);
        let window = t.init.window + rng.random_range(-0.01f32..=0.01);
        self.scene.set(pos, yaw, cube, t.init.buttons, drawer, window);
        self.goal = t.goal;
        let mut goal_scene = self.scene.clone();
        goal_scene.set(pos, yaw, CubePose { pos: t.goal.cube, yaw: 0.0 }, t.goal.buttons, t.goal.drawer, t.goal.window);
        goal_scene.depth = [0.0; 2];
        goal_scene.observe(&mut self.goal_obs);
        self.task = Some(k);
        self.episode.reset();
        self.scene.observe(obs);
        Ok(())
    }

    fn step_into(&mut self, action: &[f32], obs: &mut [f32]) -> Result<Transition> {
        self.episode.begin(&self.name, &self.act_spec, &self.obs_spec, action, obs)?;
        self.scene.apply(action);
        self.scene.observe(obs);
        let n = self.n_satisfied();
        let success = n == 5;
        let reward = if self.singletask.is_some() { n as f32 - 5.0 } else { success as u8 as f32 };
        Ok(self.episode.end(Transition { reward, terminated: success, truncated: false, info: Info::goal(success, success) }, MAX_EPISODE_STEPS))
    }
}

impl GoalEnv for SceneEnv {
    fn goal(&self) -> &[f32] {
        &self.goal_obs
    }
    fn success(&self) -> bool {
        self.n_satisfied() == 5
    }
    fn tasks(&self) -> &[TaskInfo] {
        &self.tasks
    }
    fn current_task(&self) -> Option<usize> {
        self.task
    }
    fn boxed_clone(&self) -> Box<dyn GoalEnv> {
        Box::new(self.clone())
    }
}

impl Draw for SceneEnv {
    /// The table from above (x down, y right, as the cube tasks): the cabinet (translucent) over
    /// the drawer tray at its position, the window frame, the lock buttons (red = 0, locked;
    /// white = 1, unlocked, OGBench's colours), the handles (red while locked) with their
    /// positions, the cube and the effector.
    fn scene(&self) -> sh::Scene {
        let c = self.scene.cube();
        let cfg = SceneConfig { cube: c.pos, buttons: self.scene.buttons, drawer: self.scene.drawer(), window: self.scene.window };
        kinscene_picture(&cfg, Some((self.scene.sim.pos, self.scene.sim.grip >= crate::cube::GRIP_THRESHOLD)))
    }
    /// The goal configuration.
    fn goal_scene(&self) -> Option<sh::Scene> {
        Some(kinscene_picture(&self.goal, None))
    }
    fn scene_of_row(&self, ds: &Dataset, row: usize) -> Result<sh::Scene> {
        sh::check_row(&self.name, ds, row, QPOS_DIM)?;
        if ds.button_dim != 2 {
            return Err(EnvError::Invalid(format!("{}: the dataset has {} buttons per row, the scene 2", self.name, ds.button_dim)));
        }
        let (q, b) = (ds.qpos_row(row), ds.buttons_row(row));
        let cfg = SceneConfig { cube: [q[5], q[6], q[7]], buttons: [b[0] as u8, b[1] as u8], drawer: q[9], window: q[10] };
        Ok(kinscene_picture(&cfg, Some(([q[0], q[1], q[2]], q[4] >= crate::cube::GRIP_THRESHOLD))))
    }
}

fn kinscene_picture(cfg: &SceneConfig, effector: Option<([f32; 3], bool)>) -> sh::Scene {
    use sh::{Colour, Paint, Shape};
    let mut s = sh::Scene::new([0.18, -0.56], [0.67, 0.36], sh::View::XDownYRight);
    s.fixed(Shape::rect(s.lo, s.hi), Paint::fill(Colour::Floor));
    let rect = |b: &Solid| Shape::rect([b.lo[0], b.lo[1]], [b.hi[0], b.hi[1]]);
    let solid = solids(cfg.drawer);
    s.state(rect(&solid[0]), Paint::fill(Colour::Rgb(120, 120, 130)).opacity(0.45));
    let tray = drawer_interior(cfg.drawer);
    s.state(rect(&solid[6]), Paint::fill(Colour::Rgb(150, 100, 60)));
    s.state(Shape::rect([tray[0], tray[1]], [tray[2], tray[3]]), Paint::fill(Colour::Rgb(205, 170, 120)));
    s.fixed(rect(&solid[5]), Paint::fill(Colour::Rgb(90, 130, 170)));
    let locked = Colour::Rgb(220, 40, 40);
    for (b, xy) in BUTTON_XY.iter().enumerate() {
        s.state(Shape::square(*xy, BUTTON_HALF_WIDTH), Paint::outlined(if cfg.buttons[b] == 0 { locked } else { Colour::WHITE }, Colour::Ink, 1.0));
        s.state(Shape::text([xy[0] - 0.02, xy[1] - 0.025], format!("b{b}"), 12.0), Paint::line(Colour::Ink, 1.0));
    }
    // Handles: the drawer's (locked by b0) and the window's (locked by b1).
    for (lock, hd, label) in [(0, drawer_handle(cfg.drawer), format!("drawer {:.2}", cfg.drawer)), (1, window_handle(cfg.window), format!("window {:.2}", cfg.window))] {
        s.state(Shape::disc([hd[0], hd[1]], 0.018), Paint::fill(if cfg.buttons[lock] == 0 { locked } else { Colour::Rgb(40, 40, 40) }));
        s.state(Shape::text([hd[0] - 0.02, hd[1] + 0.025], label, 11.0), Paint::line(Colour::Ink, 1.0));
    }
    crate::cube::draw_cubes(&mut s, std::iter::once((cfg.cube, 0.0)));
    if let Some((p, closed)) = effector {
        crate::arm::draw_effector(&mut s, p, closed);
    }
    s
}

/// OGBench's `set_new_target` for data collection (weights in the module docs); a drawer or
/// window target drawn while it is locked is preceded by the unlocking press.
fn new_subtasks(rng: &mut ChaCha8Rng, scene: &Scene, queue: &mut VecDeque<SubTask>) {
    let available = !in_drawer(scene.cube().pos, scene.drawer());
    let b = scene.buttons;
    let w = [if available { 1.0 } else { 0.0 }, 1.0, if b[0] == 0 { 0.25 } else { 1.0 }, if b[1] == 0 { 0.25 } else { 1.0 }];
    let total: f32 = w.iter().sum();
    let mut u = rng.random::<f32>() * total;
    let mut kind = 3;
    for (i, wi) in w.iter().enumerate() {
        if u < *wi {
            kind = i;
            break;
        }
        u -= wi;
    }
    match kind {
        0 => {
            let put_in = scene.drawer() < DRAWER_OPEN && rng.random::<f32>() < P_PUT_IN_DRAWER;
            let pos = if put_in {
                [DRAWER_CENTER[0] + rng.random_range(-0.005f32..=0.005), DRAWER_CENTER[1] + rng.random_range(-0.005f32..=0.005), DRAWER_CENTER[2]]
            } else {
                [rng.random_range(OBJECT_SAMPLE_LO[0]..=OBJECT_SAMPLE_HI[0]), rng.random_range(OBJECT_SAMPLE_LO[1]..=OBJECT_SAMPLE_HI[1]), TABLE_Z]
            };
            let yaw = wrap_angle(rng.random_range(0.0..2.0 * std::f32::consts::PI));
            queue.push_back(SubTask::Cube(CubePose { pos, yaw }));
        }
        1 => queue.push_back(SubTask::Press(rng.random_range(0..2))),
        2 => {
            if b[0] == 0 {
                queue.push_back(SubTask::Press(0));
            }
            queue.push_back(SubTask::Drawer(if scene.drawer() >= -0.08 { DRAWER_RANGE[0] } else { DRAWER_RANGE[1] }));
        }
        _ => {
            if b[1] == 0 {
                queue.push_back(SubTask::Press(1));
            }
            queue.push_back(SubTask::Window(if scene.window <= 0.1 { WINDOW_RANGE[1] } else { WINDOW_RANGE[0] }));
        }
    }
}

/// The play loop's view of the scene: `qpos` as in the module docs (yaws at 3 and 8).
impl PlaySim for Scene {
    fn observe(&self, obs: &mut [f32]) {
        Scene::observe(self, obs)
    }
    fn qpos(&self, out: &mut Vec<f32>) {
        Scene::qpos(self, out)
    }
    fn is_angle(&self, c: usize) -> bool {
        c == 3 || c == 8
    }
    fn buttons(&self, out: &mut Vec<i64>) {
        out.extend(self.buttons.iter().map(|&s| s as i64));
    }
    fn effector(&self) -> [f32; 5] {
        self.sim.state()
    }
    fn apply(&mut self, action: &[f32; 5]) {
        Scene::apply(self, action);
    }
}

/// One play episode of `len` rows (OGBench `generate_manipspace.py`, `scene-play`): a uniformly
/// random effector pose (scene bounds), cube (object bounds, uniform yaw), button states,
/// drawer and window; the plan oracles carry out random sub-tasks ([`new_subtasks`]), each
/// planned from the state where it starts. Rows follow kincube's `play_episode`: `qpos` as in
/// the module docs, `qvel` its finite difference into the row over [`crate::arm::CONTROL_DT`] (zeros on row
/// 0; yaws wrapped), `button_states` the buttons at the row, `terminals` = 1 on the last row.
/// Deterministic in `seed`.
pub fn play_episode(recipe: DatasetRecipe, len: usize, seed: u64) -> Result<Dataset> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut scene = Scene::new();
    let (pos, yaw) = sample_pose_within(&mut rng, ARM_SAMPLE_LO, ARM_SAMPLE_HI);
    let cube = CubePose {
        pos: [rng.random_range(OBJECT_SAMPLE_LO[0]..=OBJECT_SAMPLE_HI[0]), rng.random_range(OBJECT_SAMPLE_LO[1]..=OBJECT_SAMPLE_HI[1]), TABLE_Z],
        yaw: wrap_angle(rng.random_range(0.0..2.0 * std::f32::consts::PI)),
    };
    let buttons = [rng.random::<bool>() as u8, rng.random::<bool>() as u8];
    let drawer = rng.random_range(DRAWER_RANGE[0]..=DRAWER_RANGE[1]);
    let window = rng.random_range(WINDOW_RANGE[0]..=WINDOW_RANGE[1]);
    scene.set(pos, yaw, cube, buttons, drawer, window);

    let mut ds = Dataset::new(OBS_DIM, 5, QPOS_DIM, QPOS_DIM, 2);
    ds.reserve(len);
    let mut queue = VecDeque::new();
    let next_plan = |rng: &mut ChaCha8Rng, scene: &Scene| {
        if queue.is_empty() {
            new_subtasks(rng, scene, &mut queue);
        }
        let sub = queue.pop_front().expect("new_subtasks queues at least one sub-task");
        sub_plan(rng, scene, sub, recipe.noise)
    };
    record_play(&mut scene, &mut ds, len, &mut rng, next_plan);
    Ok(ds)
}

/// The scene family's row.
pub static FAMILY: Family = Family {
    tasks: &[BaseTask { name: "kinscene-play", stands_in_for: StandsIn::Study("scene-play"), kind: BaseKind::GoalConditioned(MANIPULATION_PLAY), params: () }],
    make: |_, name, singletask| Box::new(SceneEnv::new(name, singletask)),
    episode: |_, recipe, len, seed| play_episode(recipe, len, seed),
    singletask_rewards: Some(scene_singletask_rewards),
};

/// Each row's cube, drawer and window (`qpos`) and buttons against task `k`'s goal.
fn scene_singletask_rewards(_: &BaseTask, task: &str, k: usize, ds: &Dataset) -> Result<Relabelled> {
    let goal = scene_tasks()[k - 1].goal;
    if ds.qpos_dim < QPOS_DIM || ds.button_dim != 2 {
        return Err(EnvError::Invalid(format!("{task}: dataset has {} qpos columns and {} button states per row, the scene needs {} and 2", ds.qpos_dim, ds.button_dim, QPOS_DIM)));
    }
    Ok(per_row(ds, |r| singletask_reward(ds.qpos_row(r), ds.buttons_row(r), &goal)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_is_consistent_with_ogbench_targets() {
        // OGBench's put-in-drawer target is inside the open drawer, its task-4 target inside the
        // closed one, and a cube resting on the tray floor sits at OGBench's 0.066.
        assert!(in_drawer(DRAWER_CENTER, -0.16) && in_drawer(DRAWER_CENTER, -0.12));
        assert!(in_drawer(scene_tasks()[3].goal.cube, 0.0));
        let fx = SceneFixtures { drawer: -0.16 };
        let c = CubePose { pos: [DRAWER_CENTER[0], DRAWER_CENTER[1], 0.3], yaw: 0.7 };
        assert!((fx.rest_z(&c) - DRAWER_CENTER[2]).abs() < 1e-6);
        assert!(!fx.blocks(&CubePose { pos: DRAWER_CENTER, yaw: 0.7 }));
        // Every task's initial cube is clear of the fixtures, open or closed.
        for t in scene_tasks() {
            for q in [DRAWER_RANGE[0], DRAWER_RANGE[1]] {
                assert!(!SceneFixtures { drawer: q }.blocks(&CubePose { pos: t.init.cube, yaw: 0.7 }), "{}", t.name);
            }
        }
        // The handles are inside the effector workspace over their whole ranges.
        for h in [drawer_handle(DRAWER_RANGE[0]), drawer_handle(DRAWER_RANGE[1]), window_handle(WINDOW_RANGE[0]), window_handle(WINDOW_RANGE[1])] {
            for d in 0..3 {
                assert!((crate::arm::WORKSPACE_LO[d]..=crate::arm::WORKSPACE_HI[d]).contains(&h[d]), "{h:?}");
            }
        }
    }

    /// With the play noise, how often each sub-task's plan does what it was drawn for (measured
    /// and printed).
    #[test]
    fn noisy_sub_task_plans_mostly_succeed() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut scene = Scene::new();
        scene.set([0.4, 0.0, 0.25], 0.3, CubePose { pos: [0.4, 0.05, TABLE_Z], yaw: 0.2 }, [1, 1], 0.0, 0.0);
        let (mut ok, mut n) = ([0usize; 4], [0usize; 4]);
        for _ in 0..400 {
            let mut queue = VecDeque::new();
            new_subtasks(&mut rng, &scene, &mut queue);
            while let Some(sub) = queue.pop_front() {
                let before = scene.clone();
                let plan = sub_plan(&mut rng, &scene, sub, 0.1);
                for p in &plan {
                    scene.apply(&plan_action(p, scene.sim.state()));
                }
                let (i, good) = match sub {
                    SubTask::Cube(t) => (0, (0..3).map(|d| (scene.cube().pos[d] - t.pos[d]).powi(2)).sum::<f32>().sqrt() <= SUCCESS_TOL),
                    SubTask::Press(k) => (1, scene.buttons[k] != before.buttons[k] && scene.buttons[1 - k] == before.buttons[1 - k]),
                    SubTask::Drawer(q) => (2, (scene.drawer() - q).abs() <= SUCCESS_TOL),
                    SubTask::Window(q) => (3, (scene.window - q).abs() <= SUCCESS_TOL),
                };
                n[i] += 1;
                ok[i] += good as usize;
            }
        }
        println!("noisy sub-task plans (cube, press, drawer, window): {ok:?} of {n:?}");
        for i in 0..4 {
            assert!(n[i] >= 20, "sub-task kind {i} drawn only {} times", n[i]);
            assert!(ok[i] as f32 >= 0.85 * n[i] as f32, "sub-task kind {i}: {} of {}", ok[i], n[i]);
        }
    }
}
