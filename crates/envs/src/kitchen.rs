//! `kitchen2d`: a planar effector operating 7 appliances, standing in for VQ-BeT's Franka Kitchen
//! (relay kitchen, `kitchen-all-v0`) imitation task.
//!
//! What is copied from relay kitchen: the 7 sub-tasks and their names (microwave, kettle, bottom
//! burner, top burner, light switch, slide cabinet, hinge cabinet); a sub-task counts as done when
//! its object's state is within `BONUS_THRESH` = 0.3 of its goal state and stays counted (the
//! reference removes it from `tasks_to_complete`); the score is the number of completed
//! sub-tasks, 0–4, reward = score gain, and the episode terminates at 4; the 280-step evaluation
//! limit that BeT / VQ-BeT use for relay kitchen; the observation holds the effector and every object's state
//! (as relay kitchen's 30-D observation holds the robot and object `qpos`) and no completion
//! flags; each demonstration completes 4 sub-tasks in some order, and most of the reference's
//! demos start with a few favourite orderings ([`ORDER_FAMILIES`]).
//!
//! What is ours:
//! - **Effector.** A disc of radius [`EFFECTOR_RADIUS`] moved kinematically: `p ← p + STEP·clip(a)`
//!   (a velocity command, as relay kitchen's 9-D joint-velocity action, but 2-D and in the
//!   plane; no momentum, so the observation needs no velocity). The workspace is
//!   `[0, 4] × [0, 3]` ([`WIDTH`] × [`HEIGHT`]).
//! - **Appliances**, each a hand-written deterministic mechanism with a state normalised to
//!   `[0, 1]` (0 = closed/off, 1 = the goal state), except the kettle's 2-D position:
//!   - *microwave* and *hinge cabinet*: hinged doors of length [`DOOR_LEN`] turning 90° about a
//!     corner hinge (mirror images). Their handles are grips, not solids: while the effector's
//!     centre is within [`GRIP_RADIUS`] of a handle at the start of a step, the door turns by
//!     the effector's motion projected on the handle's arc tangent (the handle follows the
//!     effector's tangential motion; moving radially releases it);
//!   - *slide cabinet*: a knob (solid disc, [`KNOB_RADIUS`]) on a straight rail, pushed along it;
//!   - *light switch*: a knob on a short rail with an over-centre spring: past the middle it snaps
//!     on by [`SNAP_RATE`] a step, below it springs back off (a toggle lever);
//!   - *kettle*: a free solid disc ([`KETTLE_RADIUS`]) pushed quasi-statically (it moves only as
//!     far as the effector presses into it, along the contact normal) within its counter, from
//!     its start spot to a target spot [`KETTLE_TRAVEL`] away;
//!   - *bottom* and *top burner*: dwell pads (the "2 dwell pads" of the design): a burner's knob
//!     turns by `1/DWELL_STEPS` each step the effector's centre rests on its pad while moving at
//!     most [`DWELL_MAX_SPEED`] of full speed, so passing over a pad does nothing. A knob stays
//!     where it was turned.
//!
//!   `BONUS_THRESH` = 0.3 is applied to these normalised states (relay kitchen applies it in
//!   joint units, which are a different fraction of each joint's travel); for the kettle it is
//!   0.3 of its travel.
//! - **No penetration** between the effector and the solid bodies (kettle, slide knob, light
//!   knob): every contact is resolved by moving the body (or, at the end of its travel, pushing
//!   the effector back out), and a last check reverts the whole step if anything would overlap
//!   or leave its region, so the invariant holds by construction.
//! - **The expert** ([`KitchenExpert`]) and its order families; the layout.
//!
//! The study trained on relay kitchen's 566 HUMAN teleoperated demonstrations; ours are scripted.
//! Consequences: the modes are cleaner (the same approach path, stand-off points and pull
//! motions every time, only the order and a little action noise vary), there are no idle pauses,
//! hesitations, failed grasps or re-tries, and demo lengths vary less. A policy that imitates our
//! demos has an easier time than on human data; the numbers are not comparable to the study's.
//!
//! The expert never touches an appliance it is not operating: it travels between stand-off
//! points through the free middle of the kitchen ([`INTERIOR_LO`]–[`INTERIOR_HI`]), which no
//! handle, knob, pad or the kettle reaches, and approaches and leaves each appliance along
//! hand-checked segments (tests check that untouched appliances keep their initial states).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::dataset::Dataset;
use crate::env::{check_reset, BoxSpec, Env, Episode, GoalEnv, Info, TaskInfo, Transition};
use crate::error::{EnvError, Result};
use crate::family::{BaseKind, BaseTask, Family, StandsIn};
use crate::normalize::Scaling;
use crate::recipe::{DataKind, DatasetRecipe};
use crate::shapes::{check_row, path, Colour, Draw, Item, Layer, Paint, Scene, Shape, View};
use crate::vec2::{add, dist, dot, norm, scale, sub, unit_or};

pub const WIDTH: f32 = 4.0;
pub const HEIGHT: f32 = 3.0;
pub const EFFECTOR_RADIUS: f32 = 0.05;
/// Effector displacement per step at full action (chosen so the expert's 4 sub-tasks fit the
/// 280-step limit with room to spare: see `tests/kitchen.rs` for the measured demo lengths).
pub const STEP: f32 = 0.08;
pub const DOOR_LEN: f32 = 0.7;
/// A door handle follows the effector while the effector's centre is this close to it.
pub const GRIP_RADIUS: f32 = 0.1;
pub const KNOB_RADIUS: f32 = 0.07;
pub const KETTLE_RADIUS: f32 = 0.12;
pub const PAD_RADIUS: f32 = 0.1;
/// Resting steps that turn a burner knob from off to fully on.
pub const DWELL_STEPS: f32 = 12.0;
/// A step counts as resting on a pad when the effector moved at most this fraction of [`STEP`].
pub const DWELL_MAX_SPEED: f32 = 0.5;
/// How far the light switch's spring moves it per step.
pub const SNAP_RATE: f32 = 0.1;
/// Relay kitchen's completion threshold (on our normalised states; see the module docs).
pub const BONUS_THRESH: f32 = 0.3;
/// The relay-kitchen evaluation limit of BeT / VQ-BeT; the expert needs 109–236 steps (median 181)
/// on the default dataset seed, so a good imitator has room for hesitation.
pub const MAX_EPISODE_STEPS: usize = 280;
/// The score at which an episode terminates (each relay-kitchen demo completes 4 sub-tasks).
pub const TOP_SCORE: usize = 4;

pub const MICROWAVE_HINGE: [f32; 2] = [0.15, 0.15];
pub const HINGE_CABINET_HINGE: [f32; 2] = [0.15, 2.85];
/// Slide cabinet knob rail: closed end, open end.
pub const SLIDE_RAIL: [[f32; 2]; 2] = [[2.4, 2.8], [3.2, 2.8]];
/// Light switch knob rail: off end, on end (pushed down).
pub const LIGHT_RAIL: [[f32; 2]; 2] = [[3.8, 1.9], [3.8, 1.5]];
pub const BOTTOM_BURNER_PAD: [f32; 2] = [3.5, 0.35];
pub const TOP_BURNER_PAD: [f32; 2] = [3.5, 0.95];
pub const KETTLE_START: [f32; 2] = [2.6, 0.45];
pub const KETTLE_TARGET: [f32; 2] = [1.7, 0.45];
pub const KETTLE_TRAVEL: f32 = 0.9;
/// The counter the kettle's centre stays on.
pub const KETTLE_LO: [f32; 2] = [1.2, 0.17];
pub const KETTLE_HI: [f32; 2] = [3.1, 0.55];
/// The free middle of the kitchen: no appliance can be operated from inside it.
pub const INTERIOR_LO: [f32; 2] = [1.0, 0.75];
pub const INTERIOR_HI: [f32; 2] = [3.3, 2.4];

/// Observation and `qpos` layout: effector x, y, then each sub-task's state in [`SubTask::ALL`]
/// order (the kettle's takes 2 entries).
pub const OBS_DIM: usize = 10;

/// The 7 relay-kitchen sub-tasks, in relay kitchen's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SubTask {
    Microwave,
    Kettle,
    BottomBurner,
    TopBurner,
    LightSwitch,
    SlideCabinet,
    HingeCabinet,
}

impl SubTask {
    pub const ALL: [SubTask; 7] = [SubTask::Microwave, SubTask::Kettle, SubTask::BottomBurner, SubTask::TopBurner, SubTask::LightSwitch, SubTask::SlideCabinet, SubTask::HingeCabinet];

    /// Relay kitchen's name (`kitchen_envs.py`'s `OBS_ELEMENT_INDICES` keys).
    pub fn name(self) -> &'static str {
        match self {
            SubTask::Microwave => "microwave",
            SubTask::Kettle => "kettle",
            SubTask::BottomBurner => "bottom burner",
            SubTask::TopBurner => "top burner",
            SubTask::LightSwitch => "light switch",
            SubTask::SlideCabinet => "slide cabinet",
            SubTask::HingeCabinet => "hinge cabinet",
        }
    }
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A door turning 90° about `hinge`; `sign` +1 opens counter-clockwise from pointing along +x.
#[derive(Clone, Copy, Debug)]
pub struct Door {
    pub hinge: [f32; 2],
    pub sign: f32,
}

pub const MICROWAVE_DOOR: Door = Door { hinge: MICROWAVE_HINGE, sign: 1.0 };
pub const HINGE_CABINET_DOOR: Door = Door { hinge: HINGE_CABINET_HINGE, sign: -1.0 };

impl Door {
    pub fn angle(&self, s: f32) -> f32 {
        self.sign * s * std::f32::consts::FRAC_PI_2
    }
    /// Unit vector from the hinge to the handle.
    pub fn radial(&self, s: f32) -> [f32; 2] {
        let th = self.angle(s);
        [th.cos(), th.sin()]
    }
    pub fn handle(&self, s: f32) -> [f32; 2] {
        add(self.hinge, scale(DOOR_LEN, self.radial(s)))
    }
    /// d handle / d s.
    pub fn dhds(&self, s: f32) -> [f32; 2] {
        let r = self.radial(s);
        scale(DOOR_LEN * self.sign * std::f32::consts::FRAC_PI_2, [-r[1], r[0]])
    }
}

/// A knob on a straight rail from `ends[0]` (s = 0) to `ends[1]` (s = 1).
#[derive(Clone, Copy, Debug)]
pub struct Rail {
    pub ends: [[f32; 2]; 2],
}

pub const SLIDE: Rail = Rail { ends: SLIDE_RAIL };
pub const LIGHT: Rail = Rail { ends: LIGHT_RAIL };

impl Rail {
    pub fn length(&self) -> f32 {
        dist(self.ends[0], self.ends[1])
    }
    /// Unit vector toward the s = 1 end.
    pub fn dir(&self) -> [f32; 2] {
        scale(1.0 / self.length(), sub(self.ends[1], self.ends[0]))
    }
    pub fn at(&self, s: f32) -> [f32; 2] {
        add(self.ends[0], scale(s, sub(self.ends[1], self.ends[0])))
    }
}

/// The full physical state (what `qpos` holds and a picture needs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KitchenState {
    pub effector: [f32; 2],
    pub microwave: f32,
    pub kettle: [f32; 2],
    pub bottom_burner: f32,
    pub top_burner: f32,
    pub light: f32,
    pub slide: f32,
    pub hinge: f32,
}

impl KitchenState {
    /// Everything closed and off, the kettle on its start spot, the effector mid-kitchen.
    pub const CLOSED: KitchenState = KitchenState { effector: [2.0, 1.5], microwave: 0.0, kettle: KETTLE_START, bottom_burner: 0.0, top_burner: 0.0, light: 0.0, slide: 0.0, hinge: 0.0 };

    pub fn write(&self, out: &mut [f32]) {
        out[..OBS_DIM].copy_from_slice(&[self.effector[0], self.effector[1], self.microwave, self.kettle[0], self.kettle[1], self.bottom_burner, self.top_burner, self.light, self.slide, self.hinge]);
    }
    /// Reads a `qpos` (or observation) row.
    pub fn from_row(q: &[f32]) -> Result<Self> {
        if q.len() != OBS_DIM {
            return Err(EnvError::Invalid(format!("kitchen2d: a state row has {OBS_DIM} entries, got {}", q.len())));
        }
        Ok(Self { effector: [q[0], q[1]], microwave: q[2], kettle: [q[3], q[4]], bottom_burner: q[5], top_burner: q[6], light: q[7], slide: q[8], hinge: q[9] })
    }
    /// Normalised distance of `task`'s object from its goal state (0 = at the goal).
    pub fn goal_distance(&self, task: SubTask) -> f32 {
        match task {
            SubTask::Microwave => 1.0 - self.microwave,
            SubTask::Kettle => dist(self.kettle, KETTLE_TARGET) / KETTLE_TRAVEL,
            SubTask::BottomBurner => 1.0 - self.bottom_burner,
            SubTask::TopBurner => 1.0 - self.top_burner,
            SubTask::LightSwitch => 1.0 - self.light,
            SubTask::SlideCabinet => 1.0 - self.slide,
            SubTask::HingeCabinet => 1.0 - self.hinge,
        }
    }
    /// Relay kitchen's completion rule for `task` in this state.
    pub fn at_goal(&self, task: SubTask) -> bool {
        self.goal_distance(task) < BONUS_THRESH
    }
}

const EFFECTOR_LO: [f32; 2] = [EFFECTOR_RADIUS, EFFECTOR_RADIUS];
const EFFECTOR_HI: [f32; 2] = [WIDTH - EFFECTOR_RADIUS, HEIGHT - EFFECTOR_RADIUS];
/// Centre distance at which the effector touches a knob / the kettle.
pub const KNOB_CONTACT: f32 = EFFECTOR_RADIUS + KNOB_RADIUS;
pub const KETTLE_CONTACT: f32 = EFFECTOR_RADIUS + KETTLE_RADIUS;
/// Slack of the no-penetration check (float rounding of the contact solve).
pub const CONTACT_SLACK: f32 = 1e-4;

fn clamp2(p: [f32; 2], lo: [f32; 2], hi: [f32; 2]) -> [f32; 2] {
    [p[0].clamp(lo[0], hi[0]), p[1].clamp(lo[1], hi[1])]
}

/// Whether `s` is a state the dynamics can produce: the effector inside the workspace and clear
/// of the solid bodies, the kettle on its counter, every joint within its travel.
pub fn is_valid(s: &KitchenState) -> bool {
    let inside = |p: [f32; 2], lo: [f32; 2], hi: [f32; 2]| (0..2).all(|k| p[k] >= lo[k] - 1e-6 && p[k] <= hi[k] + 1e-6);
    let joints = [s.microwave, s.bottom_burner, s.top_burner, s.light, s.slide, s.hinge];
    inside(s.effector, EFFECTOR_LO, EFFECTOR_HI)
        && inside(s.kettle, KETTLE_LO, KETTLE_HI)
        && joints.iter().all(|j| (0.0..=1.0).contains(j))
        && dist(s.effector, s.kettle) >= KETTLE_CONTACT - CONTACT_SLACK
        && dist(s.effector, SLIDE.at(s.slide)) >= KNOB_CONTACT - CONTACT_SLACK
        && dist(s.effector, LIGHT.at(s.light)) >= KNOB_CONTACT - CONTACT_SLACK
}

/// Resolves an overlap of the effector at `p` with the knob of `rail` at `s`: the knob slides
/// along its rail just far enough; at the end of its travel the effector is pushed back out.
fn push_rail(rail: &Rail, s: &mut f32, p: &mut [f32; 2]) {
    let r = KNOB_CONTACT;
    let f = sub(rail.at(*s), *p);
    if dot(f, f) >= r * r {
        return;
    }
    // |f + x·d| = r, the root on the side the knob already lies.
    let d = rail.dir();
    let fd = dot(f, d);
    let disc = (fd * fd - dot(f, f) + r * r).max(0.0).sqrt();
    let x = if fd >= 0.0 { -fd + disc } else { -fd - disc };
    *s = (*s + x / rail.length()).clamp(0.0, 1.0);
    let h = rail.at(*s);
    if dist(*p, h) < r {
        let away = if fd >= 0.0 { scale(-1.0, d) } else { d };
        *p = add(h, scale(r, unit_or(sub(*p, h), away)));
    }
}

/// One step of the kitchen's dynamics (see the module docs); returns the new state. Invalid
/// outcomes (a push-out into a wall or another body) leave the state unchanged.
pub fn dynamics(state: &KitchenState, action: [f32; 2]) -> KitchenState {
    let mut s = *state;
    let a = [action[0].clamp(-1.0, 1.0), action[1].clamp(-1.0, 1.0)];
    let p0 = s.effector;
    let mut p = clamp2(add(p0, scale(STEP, a)), EFFECTOR_LO, EFFECTOR_HI);
    let dp = sub(p, p0);

    // Doors: grips, engaged by where the effector starts the step.
    for (door, v) in [(MICROWAVE_DOOR, &mut s.microwave), (HINGE_CABINET_DOOR, &mut s.hinge)] {
        if dist(p0, door.handle(*v)) <= GRIP_RADIUS {
            let g = door.dhds(*v);
            *v = (*v + dot(dp, g) / dot(g, g)).clamp(0.0, 1.0);
        }
    }
    // Burners: dwell pads.
    if norm(dp) <= DWELL_MAX_SPEED * STEP {
        for (pad, v) in [(BOTTOM_BURNER_PAD, &mut s.bottom_burner), (TOP_BURNER_PAD, &mut s.top_burner)] {
            if dist(p, pad) <= PAD_RADIUS {
                *v = (*v + 1.0 / DWELL_STEPS).min(1.0);
            }
        }
    }
    // Kettle: quasi-static push along the contact normal, kept on its counter.
    let f = sub(s.kettle, p);
    if dot(f, f) < KETTLE_CONTACT * KETTLE_CONTACT {
        let n = unit_or(f, unit_or(dp, [1.0, 0.0]));
        s.kettle = clamp2(add(p, scale(KETTLE_CONTACT, n)), KETTLE_LO, KETTLE_HI);
        if dist(p, s.kettle) < KETTLE_CONTACT {
            p = add(s.kettle, scale(KETTLE_CONTACT, unit_or(sub(p, s.kettle), scale(-1.0, n))));
        }
    }
    push_rail(&SLIDE, &mut s.slide, &mut p);
    push_rail(&LIGHT, &mut s.light, &mut p);
    // The light switch's over-centre spring, unless the effector is in the way.
    if s.light > 0.0 && s.light < 1.0 {
        let next = if s.light > 0.5 { (s.light + SNAP_RATE).min(1.0) } else { (s.light - SNAP_RATE).max(0.0) };
        if dist(p, LIGHT.at(next)) >= KNOB_CONTACT {
            s.light = next;
        }
    }
    s.effector = p;
    if is_valid(&s) {
        s
    } else {
        *state
    }
}

/// The kitchen task. Observation = `qpos` = [`KitchenState::write`]'s 10 entries; `qvel` in the
/// datasets is the effector's last displacement over [`STEP`].
#[derive(Clone, Debug)]
pub struct KitchenEnv {
    name: String,
    obs_spec: BoxSpec,
    act_spec: BoxSpec,
    tasks: Vec<TaskInfo>,
    state: KitchenState,
    /// Latched completions (hidden state, as relay kitchen's `tasks_to_complete`).
    completed: [bool; 7],
    episode: Episode,
}

impl Default for KitchenEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl KitchenEnv {
    pub const NAME: &'static str = "kitchen2d";

    pub fn new() -> Self {
        let mut low = vec![0.0; OBS_DIM];
        let mut high = vec![1.0; OBS_DIM];
        low[..2].copy_from_slice(&EFFECTOR_LO);
        high[..2].copy_from_slice(&EFFECTOR_HI);
        low[3..5].copy_from_slice(&KETTLE_LO);
        high[3..5].copy_from_slice(&KETTLE_HI);
        let tasks = vec![TaskInfo {
            name: "task1".into(),
            description: "from a random start, complete any 4 of the 7 sub-tasks (microwave, kettle, bottom/top burner, light switch, slide/hinge cabinet) in 280 steps".into(),
        }];
        Self {
            name: Self::NAME.into(),
            obs_spec: BoxSpec::new(low, high),
            act_spec: BoxSpec::uniform(2, -1.0, 1.0),
            tasks,
            state: KitchenState::CLOSED,
            completed: [false; 7],
            episode: Episode::NOT_STARTED,
        }
    }

    pub fn state(&self) -> &KitchenState {
        &self.state
    }
    /// Places the kitchen in `state` (tests, pictures) with no sub-task completed yet, and
    /// starts an episode. The caller passes a valid state ([`is_valid`]).
    pub fn set_state(&mut self, state: KitchenState) {
        self.state = state;
        self.completed = [false; 7];
        self.latch();
        self.episode.reset();
    }
    /// Which sub-tasks have been completed this episode ([`SubTask::ALL`] order).
    pub fn completed(&self) -> [bool; 7] {
        self.completed
    }
    /// The VQ-BeT score: completed sub-tasks, capped at [`TOP_SCORE`].
    pub fn score(&self) -> usize {
        self.completed.iter().filter(|&&c| c).count().min(TOP_SCORE)
    }
    pub fn observe(&self, obs: &mut [f32]) {
        self.state.write(obs);
    }

    fn latch(&mut self) {
        for t in SubTask::ALL {
            self.completed[t.index()] |= self.state.at_goal(t);
        }
    }

    /// Applies the dynamics and the completion rule (no episode bookkeeping); returns the score
    /// gain.
    pub fn advance(&mut self, action: [f32; 2]) -> usize {
        let before = self.score();
        self.state = dynamics(&self.state, action);
        self.latch();
        self.score() - before
    }

    /// A random initial state from `rng`, as relay kitchen jitters its initial `qpos`: the
    /// effector anywhere in the middle of the kitchen, doors, slide and burner knobs up to 3 % open,
    /// the kettle within ±2 cm of its spot, the light off.
    pub fn random_state<R: Rng>(rng: &mut R) -> KitchenState {
        let mut u = |lo: f32, hi: f32| rng.random_range(lo..=hi);
        KitchenState {
            effector: [u(1.3, 3.0), u(1.0, 2.1)],
            microwave: u(0.0, 0.03),
            kettle: [KETTLE_START[0] + u(-0.02, 0.02), KETTLE_START[1] + u(-0.02, 0.02)],
            bottom_burner: u(0.0, 0.03),
            top_burner: u(0.0, 0.03),
            light: 0.0,
            slide: u(0.0, 0.03),
            hinge: u(0.0, 0.03),
        }
    }
}

impl Env for KitchenEnv {
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
        check_reset(&self.name, &self.obs_spec, obs, task, self.tasks.len())?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        self.set_state(Self::random_state(&mut rng));
        self.observe(obs);
        Ok(())
    }

    fn step_into(&mut self, action: &[f32], obs: &mut [f32]) -> Result<Transition> {
        self.episode.begin(&self.name, &self.act_spec, &self.obs_spec, action, obs)?;
        let gain = self.advance([action[0], action[1]]);
        self.observe(obs);
        let score = self.score();
        let success = score >= TOP_SCORE;
        let info = Info { success, success_easy: success, score: score as f32 };
        Ok(self.episode.end(Transition { reward: gain as f32, terminated: success, truncated: false, info }, MAX_EPISODE_STEPS))
    }
}

impl GoalEnv for KitchenEnv {
    fn goal(&self) -> &[f32] {
        &[]
    }
    fn success(&self) -> bool {
        self.score() >= TOP_SCORE
    }
    fn tasks(&self) -> &[TaskInfo] {
        &self.tasks
    }
    fn current_task(&self) -> Option<usize> {
        Some(1)
    }
    fn top_score(&self) -> f32 {
        TOP_SCORE as f32
    }
    fn boxed_clone(&self) -> Box<dyn GoalEnv> {
        Box::new(self.clone())
    }
}

impl Draw for KitchenEnv {
    /// The kitchen from above: walls, counter, rails, burner pads, the interior the expert
    /// travels through, every appliance's goal state ghosted, the moving parts in the current
    /// state (one colour per sub-task; pads fill as their knobs turn; a black ring once past
    /// relay kitchen's completion threshold), the effector, and (overview only) the names.
    fn scene(&self) -> Scene {
        kitchen_scene(&self.state)
    }
    fn scene_of_row(&self, ds: &Dataset, row: usize) -> Result<Scene> {
        check_row(&self.name, ds, row, OBS_DIM)?;
        Ok(kitchen_scene(&KitchenState::from_row(&ds.qpos_row(row)[..OBS_DIM])?))
    }
    /// The effector's path, coloured by the sub-task the demo completes first.
    fn demo_shapes(&self, ds: &Dataset, rows: (usize, usize), _demo: usize) -> Vec<Item> {
        let state = |t: usize| KitchenState::from_row(&ds.qpos_row(t)[..OBS_DIM]).ok();
        let start = state(rows.0);
        let first = (rows.0..rows.1).find_map(|t| {
            let s = state(t)?;
            SubTask::ALL.into_iter().find(|&k| s.at_goal(k) && !start.is_some_and(|s0| s0.at_goal(k)))
        });
        let colour = first.map_or(Colour::Trail, sub_task_colour);
        vec![Item { shape: path(ds, rows, [0, 1]), paint: Paint::line(colour, 1.0).opacity(0.6), layer: Layer::Note }]
    }
}

/// One colour per sub-task, in [`SubTask::ALL`] order.
pub fn sub_task_colour(t: SubTask) -> Colour {
    const RGB: [(u8, u8, u8); 7] = [(228, 26, 28), (55, 126, 184), (255, 127, 0), (166, 86, 40), (200, 170, 0), (77, 175, 74), (152, 78, 163)];
    let (r, g, b) = RGB[t.index()];
    Colour::Rgb(r, g, b)
}

fn kitchen_scene(st: &KitchenState) -> Scene {
    let c = sub_task_colour;
    let mut s = Scene::new([0.0; 2], [WIDTH, HEIGHT], View::XRightYUp);
    s.fixed(Shape::rect([0.0; 2], [WIDTH, HEIGHT]), Paint::outlined(Colour::Rgb(250, 248, 242), Colour::Ink, 2.0));
    s.fixed(Shape::rect([KETTLE_LO[0] - KETTLE_RADIUS, KETTLE_LO[1] - KETTLE_RADIUS], [KETTLE_HI[0] + KETTLE_RADIUS, KETTLE_HI[1] + KETTLE_RADIUS]), Paint::fill(Colour::Rgb(225, 215, 195)));
    s.fixed(Shape::rect(INTERIOR_LO, INTERIOR_HI), Paint::line(Colour::Rgb(200, 200, 200), 1.0));
    for rail in [SLIDE, LIGHT] {
        s.fixed(Shape::segment(rail.ends[0], rail.ends[1]), Paint::line(Colour::Rgb(120, 120, 120), 3.0));
    }
    for (pad, t) in [(BOTTOM_BURNER_PAD, SubTask::BottomBurner), (TOP_BURNER_PAD, SubTask::TopBurner)] {
        s.fixed(Shape::disc(pad, PAD_RADIUS), Paint::fill(c(t)).opacity(0.15));
        s.fixed(Shape::disc(pad, PAD_RADIUS), Paint::line(c(t), 1.0));
    }
    for door in [MICROWAVE_DOOR, HINGE_CABINET_DOOR] {
        s.fixed(Shape::disc(door.hinge, 0.03), Paint::fill(Colour::Ink));
    }
    // The goal states, ghosted.
    let ghost = |t: SubTask| Paint::line(c(t), 2.0).opacity(0.35);
    s.fixed(Shape::segment(MICROWAVE_DOOR.hinge, MICROWAVE_DOOR.handle(1.0)), ghost(SubTask::Microwave));
    s.fixed(Shape::segment(HINGE_CABINET_DOOR.hinge, HINGE_CABINET_DOOR.handle(1.0)), ghost(SubTask::HingeCabinet));
    s.fixed(Shape::disc(SLIDE.at(1.0), KNOB_RADIUS), ghost(SubTask::SlideCabinet));
    s.fixed(Shape::disc(LIGHT.at(1.0), KNOB_RADIUS), ghost(SubTask::LightSwitch));
    s.fixed(Shape::disc(KETTLE_TARGET, KETTLE_RADIUS), ghost(SubTask::Kettle));
    // The moving parts.
    for (door, v, t) in [(MICROWAVE_DOOR, st.microwave, SubTask::Microwave), (HINGE_CABINET_DOOR, st.hinge, SubTask::HingeCabinet)] {
        s.state(Shape::segment(door.hinge, door.handle(v)), Paint::line(c(t), 5.0));
        s.state(Shape::disc(door.handle(v), 0.04), Paint::fill(c(t)));
    }
    for (pad, v, t) in [(BOTTOM_BURNER_PAD, st.bottom_burner, SubTask::BottomBurner), (TOP_BURNER_PAD, st.top_burner, SubTask::TopBurner)] {
        s.state(Shape::disc(pad, PAD_RADIUS * v.clamp(0.0, 1.0).sqrt()), Paint::fill(c(t)));
    }
    s.state(Shape::disc(SLIDE.at(st.slide), KNOB_RADIUS), Paint::fill(c(SubTask::SlideCabinet)));
    s.state(Shape::disc(LIGHT.at(st.light), KNOB_RADIUS), Paint::fill(c(SubTask::LightSwitch)));
    s.state(Shape::disc(st.kettle, KETTLE_RADIUS), Paint::fill(c(SubTask::Kettle)));
    let marks = [
        (SubTask::Microwave, MICROWAVE_DOOR.handle(st.microwave), 0.06),
        (SubTask::HingeCabinet, HINGE_CABINET_DOOR.handle(st.hinge), 0.06),
        (SubTask::SlideCabinet, SLIDE.at(st.slide), KNOB_RADIUS),
        (SubTask::LightSwitch, LIGHT.at(st.light), KNOB_RADIUS),
        (SubTask::Kettle, st.kettle, KETTLE_RADIUS),
        (SubTask::BottomBurner, BOTTOM_BURNER_PAD, PAD_RADIUS),
        (SubTask::TopBurner, TOP_BURNER_PAD, PAD_RADIUS),
    ];
    let mut done = 0;
    for (t, at, r) in marks {
        if st.at_goal(t) {
            s.state(Shape::disc(at, r + 0.015), Paint::line(Colour::Ink, 2.0));
            done += 1;
        }
    }
    s.state(Shape::disc(st.effector, EFFECTOR_RADIUS), Paint::fill(Colour::Rgb(30, 30, 30)));
    let labels = [
        (SubTask::Microwave, [0.95, 0.1]),
        (SubTask::Kettle, [2.45, 0.72]),
        (SubTask::BottomBurner, [3.1, 0.2]),
        (SubTask::TopBurner, [3.15, 1.12]),
        (SubTask::LightSwitch, [3.3, 2.05]),
        (SubTask::SlideCabinet, [2.35, 2.66]),
        (SubTask::HingeCabinet, [0.95, 2.78]),
    ];
    for (t, p) in labels {
        s.note(Shape::text(p, t.name(), 13.0), Paint::line(c(t), 1.0));
    }
    s.status = format!("{done} of 7 sub-tasks done");
    s.legend = "faint: goal states; paths: the effector in demos, coloured by the first sub-task done".into();
    s
}

/// How a demo's order of sub-tasks is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrderFamily {
    /// The microwave first, then 3 of the other 6 in a random order.
    MicrowaveFirst,
    /// The kettle first, then 3 of the other 6 in a random order.
    KettleFirst,
    /// Any 4 of the 7 in a random order (the long tail of orderings).
    Any,
}

/// The order families and their probabilities. Relay kitchen's human demos favour a few
/// orderings, most starting with the microwave or the kettle; these weights are ours (chosen so
/// the first sub-task is visibly multimodal: microwave ≈ 0.40 + 0.30/7 ≈ 44 %, kettle ≈ 34 %,
/// each other ≈ 4 %), not counted from the reference data.
pub const ORDER_FAMILIES: [(OrderFamily, f32); 3] = [(OrderFamily::MicrowaveFirst, 0.4), (OrderFamily::KettleFirst, 0.3), (OrderFamily::Any, 0.3)];

/// The solution mode of one demo: its family and the ordered sub-tasks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KitchenMode {
    pub family: OrderFamily,
    pub order: [SubTask; 4],
}

impl KitchenMode {
    pub fn sample<R: Rng>(rng: &mut R) -> Self {
        let u: f32 = rng.random();
        let mut acc = 0.0;
        let mut family = OrderFamily::Any;
        for (f, p) in ORDER_FAMILIES {
            acc += p;
            if u < acc {
                family = f;
                break;
            }
        }
        let mut pool: Vec<SubTask> = SubTask::ALL.to_vec();
        let mut order = [SubTask::Microwave; 4];
        let first = match family {
            OrderFamily::MicrowaveFirst => Some(SubTask::Microwave),
            OrderFamily::KettleFirst => Some(SubTask::Kettle),
            OrderFamily::Any => None,
        };
        let mut k = 0;
        if let Some(f) = first {
            pool.retain(|&t| t != f);
            order[0] = f;
            k = 1;
        }
        while k < 4 {
            order[k] = pool.remove(rng.random_range(0..pool.len()));
            k += 1;
        }
        Self { family, order }
    }
}

/// Where the expert waits before operating `task`: a point of the free interior.
pub fn stage(task: SubTask) -> [f32; 2] {
    match task {
        SubTask::Microwave => [1.1, 0.8],
        SubTask::Kettle => [2.9, 0.8],
        SubTask::BottomBurner => [3.25, 0.75],
        SubTask::TopBurner => [3.25, 1.2],
        SubTask::LightSwitch => [3.3, 2.15],
        SubTask::SlideCabinet => [2.1, 2.35],
        SubTask::HingeCabinet => [1.1, 2.2],
    }
}

/// The point from which the expert starts operating `task` in state `s`.
fn pre_point(task: SubTask, s: &KitchenState) -> [f32; 2] {
    match task {
        SubTask::Microwave => add(MICROWAVE_DOOR.handle(s.microwave), scale(0.2, MICROWAVE_DOOR.radial(s.microwave))),
        SubTask::HingeCabinet => add(HINGE_CABINET_DOOR.handle(s.hinge), scale(0.2, HINGE_CABINET_DOOR.radial(s.hinge))),
        SubTask::SlideCabinet => sub(SLIDE.at(s.slide), scale(KNOB_CONTACT + 0.05, SLIDE.dir())),
        SubTask::LightSwitch => sub(LIGHT.at(s.light), scale(KNOB_CONTACT + 0.05, LIGHT.dir())),
        SubTask::Kettle => sub(s.kettle, scale(KETTLE_CONTACT + 0.08, kettle_push_dir(s.kettle))),
        SubTask::BottomBurner => BOTTOM_BURNER_PAD,
        SubTask::TopBurner => TOP_BURNER_PAD,
    }
}

/// The way out after operating `task`, ending inside the free interior.
fn retreat(task: SubTask, s: &KitchenState) -> Vec<[f32; 2]> {
    let p = s.effector;
    match task {
        SubTask::Microwave | SubTask::HingeCabinet => {
            let (door, v) = if task == SubTask::Microwave { (MICROWAVE_DOOR, s.microwave) } else { (HINGE_CABINET_DOOR, s.hinge) };
            // Radially away first: that motion does not turn the door.
            let out = add(door.handle(v), scale(0.25, door.radial(v)));
            vec![out, [INTERIOR_LO[0] + 0.1, out[1]]]
        }
        SubTask::SlideCabinet => vec![[p[0] - 0.1, p[1]], [p[0] - 0.1, INTERIOR_HI[1] - 0.05]],
        SubTask::LightSwitch => vec![[p[0], p[1] + 0.1], [INTERIOR_HI[0] - 0.05, p[1] + 0.1]],
        SubTask::Kettle => vec![[p[0] + 0.1, p[1]], [p[0] + 0.1, INTERIOR_LO[1] + 0.1]],
        SubTask::BottomBurner => vec![stage(SubTask::BottomBurner)],
        SubTask::TopBurner => vec![stage(SubTask::TopBurner)],
    }
}

/// Whether the expert is done with `task` (it aims past the completion threshold, at the goal
/// state itself, as the demos do).
fn finished(task: SubTask, s: &KitchenState) -> bool {
    match task {
        SubTask::Kettle => dot(sub(s.kettle, KETTLE_TARGET), kettle_way()) > -0.02,
        SubTask::BottomBurner | SubTask::TopBurner => s.goal_distance(task) < 1e-3,
        _ => s.goal_distance(task) < 0.03,
    }
}

/// Unit vector of the kettle's way, start to target.
fn kettle_way() -> [f32; 2] {
    unit_or(sub(KETTLE_TARGET, KETTLE_START), [-1.0, 0.0])
}

/// The expert pushes the kettle toward a point 0.4 beyond the target on its way: near the target
/// the direction to the target itself would swing with every bit of lateral drift.
fn kettle_push_dir(k: [f32; 2]) -> [f32; 2] {
    unit_or(sub(add(KETTLE_TARGET, scale(0.4, kettle_way())), k), kettle_way())
}

/// Action toward `w`, arriving exactly when within a step (norm ≤ `max`).
fn toward(p: [f32; 2], w: [f32; 2], max: f32) -> [f32; 2] {
    let d = scale(1.0 / STEP, sub(w, p));
    let n = norm(d);
    if n > max {
        scale(max / n, d)
    } else {
        d
    }
}

/// The push along `dir` of a body at `c` with contact distance `r`, or `None` when the effector
/// is not lined up behind it.
fn push_action(p: [f32; 2], c: [f32; 2], dir: [f32; 2], r: f32, depth: f32) -> Option<[f32; 2]> {
    let q = sub(p, c);
    let along = dot(q, dir);
    let perp = norm(sub(q, scale(along, dir)));
    (perp < 0.03 && along > -r - 0.12 && along < -r + 0.02).then(|| toward(p, sub(c, scale(r - depth, dir)), 1.0))
}

#[derive(Clone, Debug, PartialEq)]
enum Phase {
    /// Before the first sub-task (its stand-off points depend on the initial state).
    Start,
    Travel(Vec<[f32; 2]>),
    Operate,
    Retreat(Vec<[f32; 2]>),
}

/// Waypoints within this distance count as reached.
const WAYPOINT_TOL: f32 = 0.03;

/// The scripted expert: for each sub-task of its [`KitchenMode`] in turn, travel through the
/// interior to the sub-task's stand-off point, operate the appliance (pull the door handle along
/// its arc, push a knob along its rail, push the kettle to its target, or rest on the pad), then
/// back out into the interior.
#[derive(Clone, Debug)]
pub struct KitchenExpert {
    pub mode: KitchenMode,
    next: usize,
    phase: Phase,
}

impl KitchenExpert {
    pub fn new(mode: KitchenMode) -> Self {
        Self { mode, next: 0, phase: Phase::Start }
    }
    /// Whether all 4 sub-tasks are done.
    pub fn is_done(&self) -> bool {
        self.next >= 4
    }

    /// The noiseless action for state `s` (advances the expert's plan).
    pub fn clean_action(&mut self, s: &KitchenState) -> [f32; 2] {
        let p = s.effector;
        // Each pass either returns or moves the plan on; 16 passes is more than any plan needs.
        for _ in 0..16 {
            if self.next >= 4 {
                return [0.0; 2];
            }
            let task = self.mode.order[self.next];
            match &mut self.phase {
                Phase::Start => self.phase = Phase::Travel(vec![stage(task), pre_point(task, s)]),
                Phase::Travel(q) | Phase::Retreat(q) if !q.is_empty() => {
                    if dist(p, q[0]) < WAYPOINT_TOL {
                        q.remove(0);
                        continue;
                    }
                    return toward(p, q[0], 1.0);
                }
                Phase::Travel(_) => self.phase = Phase::Operate,
                Phase::Operate => {
                    if finished(task, s) {
                        self.phase = Phase::Retreat(retreat(task, s));
                        continue;
                    }
                    return operate(task, s);
                }
                Phase::Retreat(_) => {
                    self.next += 1;
                    if self.next < 4 {
                        let t = self.mode.order[self.next];
                        self.phase = Phase::Travel(vec![stage(t), pre_point(t, s)]);
                    }
                }
            }
        }
        [0.0; 2]
    }

    /// Dataset action: clean action + N(0, noise²) per component, clipped to [-1, 1].
    pub fn noisy_action<R: Rng>(&mut self, s: &KitchenState, noise: f32, rng: &mut R) -> [f32; 2] {
        let a = self.clean_action(s);
        let n0: f32 = rng.sample(StandardNormal);
        let n1: f32 = rng.sample(StandardNormal);
        [(a[0] + noise * n0).clamp(-1.0, 1.0), (a[1] + noise * n1).clamp(-1.0, 1.0)]
    }
}

/// The expert's action while operating `task`.
fn operate(task: SubTask, s: &KitchenState) -> [f32; 2] {
    let p = s.effector;
    match task {
        SubTask::Microwave | SubTask::HingeCabinet => {
            let (door, v) = if task == SubTask::Microwave { (MICROWAVE_DOOR, s.microwave) } else { (HINGE_CABINET_DOOR, s.hinge) };
            let h = door.handle(v);
            if dist(p, h) > 0.04 {
                return toward(p, h, 1.0);
            }
            // Pull along the arc's tangent, correcting back onto the handle.
            toward(p, add(h, scale(STEP, unit_or(door.dhds(v), [0.0, 1.0]))), 1.0)
        }
        SubTask::SlideCabinet | SubTask::LightSwitch => {
            let (rail, v) = if task == SubTask::SlideCabinet { (SLIDE, s.slide) } else { (LIGHT, s.light) };
            let (h, d) = (rail.at(v), rail.dir());
            push_action(p, h, d, KNOB_CONTACT, STEP).unwrap_or_else(|| toward(p, sub(h, scale(KNOB_CONTACT + 0.05, d)), 1.0))
        }
        SubTask::Kettle => {
            let k = s.kettle;
            let d = kettle_push_dir(k);
            let depth = STEP.min((-dot(sub(k, KETTLE_TARGET), kettle_way())).max(0.0) + 0.01);
            if let Some(a) = push_action(p, k, d, KETTLE_CONTACT, depth) {
                return a;
            }
            let behind = sub(k, scale(KETTLE_CONTACT + 0.08, d));
            // Circle round the kettle when the straight way to the back passes through it.
            let w = sub(behind, p);
            let t = (dot(sub(k, p), w) / dot(w, w).max(1e-9)).clamp(0.0, 1.0);
            if dist(add(p, scale(t, w)), k) < KETTLE_CONTACT + 0.03 {
                let r = unit_or(sub(p, k), scale(-1.0, d));
                // Rotate r toward −d (the back), the short way round.
                let side = if r[0] * d[1] - r[1] * d[0] >= 0.0 { -1.0 } else { 1.0 };
                let th = side * 0.8f32;
                let (c, sn) = (th.cos(), th.sin());
                let around = [c * r[0] - sn * r[1], sn * r[0] + c * r[1]];
                return toward(p, add(k, scale(KETTLE_CONTACT + 0.1, around)), 1.0);
            }
            toward(p, behind, 1.0)
        }
        SubTask::BottomBurner | SubTask::TopBurner => {
            let pad = if task == SubTask::BottomBurner { BOTTOM_BURNER_PAD } else { TOP_BURNER_PAD };
            toward(p, pad, 0.4)
        }
    }
}

/// One demonstration (`DataKind::Demos`): a random initial state, a [`KitchenMode`] drawn from
/// [`ORDER_FAMILIES`], the expert's noisy actions until it has completed its 4 sub-tasks (the
/// score reaches 4) or `cap` rows are written. The last row holds the final observation with a
/// zero action and `terminals = 1`.
pub fn demo_episode(recipe: DatasetRecipe, cap: usize, seed: u64) -> Result<(Dataset, KitchenMode)> {
    if cap < 2 {
        return Err(EnvError::Invalid(format!("kitchen2d: a demo needs at least 2 rows, the cap is {cap}")));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut env = KitchenEnv::new();
    env.set_state(KitchenEnv::random_state(&mut rng));
    let mode = KitchenMode::sample(&mut rng);
    let mut expert = KitchenExpert::new(mode);
    let mut ds = Dataset::new(OBS_DIM, 2, OBS_DIM, 2, 0);
    ds.reserve(cap.min(MAX_EPISODE_STEPS + 1));
    let mut obs = [0.0f32; OBS_DIM];
    let mut vel = [0.0f32; 2];
    for t in 0..cap {
        env.observe(&mut obs);
        let last = env.score() >= TOP_SCORE || t + 1 == cap;
        let a = if last { [0.0; 2] } else { expert.noisy_action(env.state(), recipe.noise, &mut rng) };
        ds.observations.extend_from_slice(&obs);
        ds.qpos.extend_from_slice(&obs);
        ds.qvel.extend_from_slice(&vel);
        ds.actions.extend_from_slice(&a);
        ds.terminals.push(if last { 1.0 } else { 0.0 });
        if last {
            break;
        }
        let p0 = env.state().effector;
        env.advance(a);
        vel = scale(1.0 / STEP, sub(env.state().effector, p0));
    }
    Ok((ds, mode))
}

/// 281 rows = the 280-step evaluation limit + the final observation (the expert's demos take
/// 110–237 rows, median 182, on the default seed); noise 0.1 as OGBench's manipulation oracles.
const DEMOS: DatasetRecipe = DatasetRecipe { kind: DataKind::Demos, episodes: 200, episode_len: 281, noise: 0.1 };

/// The kitchen2d family's row: one imitation task.
pub static FAMILY: Family = Family {
    // Raw, as the reference's relay kitchen: observations lie in [0, 3.9], actions in [−1, 1].
    tasks: &[BaseTask { name: "kitchen2d", stands_in_for: StandsIn::Study("Franka Kitchen (relay kitchen; human demos, ours scripted)"), kind: BaseKind::Imitation(DEMOS, Scaling::Raw), params: () }],
    make: |_, _, _| Box::new(KitchenEnv::new()),
    episode: |_, recipe, len, seed| demo_episode(recipe, len, seed).map(|(demo, _)| demo),
    singletask_rewards: None,
};
