//! `pusht`: a native replica of diffusion_policy's PushT (`diffusion_policy/env/pusht/pusht_env.py`,
//! the task of IBC, Diffusion Policy and VQ-BeT), standing in for the study's PushT row.
//!
//! What is copied from the original:
//! - the 512×512 workspace, walls whose inner faces are at 7 and 504 (radius-2 segments from 5 to
//!   506), the kinematic agent disc of radius 15, the T block (two boxes, 120×30 at body-frame
//!   y ∈ [0, 30] and 30×90 at y ∈ [30, 120]; mass 1; moment 3000, which is pymunk's
//!   `moment_for_poly` of the first box taken twice, a quirk kept; centre of gravity (0, 45), the
//!   mean of the two boxes' centroids rather than the area-weighted 40.7, also kept);
//! - the goal pose (256, 256, π/4), action = the agent's target position in [0, 512]², the PD law
//!   `v += (100 (a − p) + 20 (0 − v)) dt` at 100 Hz with 10 substeps per 10 Hz control step, no
//!   gravity, `space.damping = 0`;
//! - coverage = area(T ∩ T_goal) / area(T_goal), reward = clip(coverage / 0.95, 0, 1), success and
//!   termination when coverage > 0.95, the 300-step evaluation limit;
//! - the reset distribution: agent `randint(50, 450)²`, block `randint(100, 400)²`, angle
//!   `randn·2π − π` (a normal, as the code has it, not a uniform), followed by one physics step;
//! - the 5-D state observation `[agent x, y, block x, y, block angle mod 2π]` of `PushTEnv`
//!   (not the 20-D keypoint variant, which is a function of the same state).
//!
//! Two behaviours of the original that a reader of its parameters might not expect, reproduced:
//! - pymunk's `damping` is the fraction of velocity a body *keeps* per second, so 0 means the T
//!   stops the moment it is no longer pushed (quasi-static pushing). Rapier has no such setting,
//!   so [`PushTEnv::advance`] zeroes the T's velocities before every physics substep; the contact
//!   solver then gives it exactly the velocity that keeps the agent out.
//! - `body.friction = 1` in `add_circle` / `add_tee` sets an attribute pymunk ignores (friction is
//!   a property of shapes, whose default is 0), so the original's contacts are frictionless;
//!   ours are too ([`FRICTION`]).
//!
//! What is ours: rapier2d's soft-contact solver instead of chipmunk's (penetrations are resolved
//! over a few substeps instead of one; the trajectories are close, not identical), the agent
//! redrawn when the reset draws it overlapping the T (pymunk would shove the T away on the first
//! step), the exact coverage by convex clipping ([`overlap_area`]) instead of shapely, and the
//! scripted expert ([`PushTExpert`]).
//!
//! The study trained on ~200 *human* teleoperated demonstrations (`pusht_cchi_v7_replay.zarr`);
//! ours are scripted. Consequences: our modes are cleaner and fewer (the expert's order of
//! rotating and translating, and which way it walks round the T), there are no idle pauses or
//! hesitations, the pushes are straight, and every demo ends as soon as coverage passes 0.95.
//! Numbers are therefore not comparable to the paper's.

use std::f32::consts::{FRAC_PI_4, PI, TAU};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rapier2d::prelude::*;

use crate::dataset::Dataset;
use crate::env::{check_reset, BoxSpec, Env, Episode, GoalEnv, Info, TaskInfo, Transition};
use crate::error::Result;
use crate::family::{BaseKind, BaseTask, Family, StandsIn};
use crate::normalize::Scaling;
use crate::recipe::{DataKind, DatasetRecipe};
use crate::shapes::{check_row, path, Colour, Draw, Item, Layer, Paint, Scene, Shape, View};
use crate::vec2::{add, cross, dot, norm, scale, sub};

/// Side of the square workspace and of the action box.
pub const WORKSPACE: f32 = 512.0;
/// Inner faces of the walls (pymunk segments from 5 to 506 with radius 2).
pub const WALL_LO: f32 = 7.0;
pub const WALL_HI: f32 = 504.0;
pub const AGENT_RADIUS: f32 = 15.0;
/// The T's two boxes in its body frame, `[x_min, y_min, x_max, y_max]` (`add_tee`, scale 30, length 4).
pub const T_BOXES: [[f32; 4]; 2] = [[-60.0, 0.0, 60.0, 30.0], [-15.0, 30.0, 15.0, 120.0]];
/// The T's outline in its body frame, counter-clockwise.
pub const T_OUTLINE: [[f32; 2]; 8] = [[-60.0, 0.0], [60.0, 0.0], [60.0, 30.0], [15.0, 30.0], [15.0, 120.0], [-15.0, 120.0], [-15.0, 30.0], [-60.0, 30.0]];
/// Area of the T (and of the goal T).
pub const T_AREA: f32 = 120.0 * 30.0 + 30.0 * 90.0;
/// The T's centre of gravity in its body frame (see the module docs).
pub const T_COG: [f32; 2] = [0.0, 45.0];
pub const T_MASS: f32 = 1.0;
pub const T_INERTIA: f32 = 3000.0;
/// Distance from the centre of gravity to the T's farthest vertex, (±15, 120).
pub const T_REACH: f32 = 76.485;
/// Goal pose of the T's body origin: x, y, angle.
pub const GOAL_POSE: [f32; 3] = [256.0, 256.0, FRAC_PI_4];
pub const SIM_HZ: f32 = 100.0;
/// Physics substeps per control step (100 Hz simulation, 10 Hz control).
pub const SUBSTEPS: usize = 10;
pub const KP: f32 = 100.0;
pub const KV: f32 = 20.0;
/// Contact friction (see the module docs: the original's is effectively 0).
pub const FRICTION: f32 = 0.0;
/// Coverage above which an episode succeeds and ends (`success_threshold`).
pub const SUCCESS_COVERAGE: f32 = 0.95;
pub const MAX_EPISODE_STEPS: usize = 300;
/// Rapier's length unit: its tolerances are scaled by it. The world is in pixels, so the default
/// (1) would cap bodies at 400 px/s; at 50 the allowed penetration is 0.25 px and the speed cap
/// 20 000 px/s, far above the agent's ~2 000 px/s.
const LENGTH_UNIT: f32 = 50.0;
/// How far ahead rapier looks for contacts (px): more than the agent's largest substep.
const PREDICTION: f32 = 25.0;

/// `a` wrapped into (−π, π].
fn wrap(a: f32) -> f32 {
    let r = (a + PI).rem_euclid(TAU) - PI;
    if r <= -PI {
        r + TAU
    } else {
        r
    }
}

/// A body-frame point of a T at `pose` = `[x, y, angle]`, in world coordinates.
#[inline]
pub fn to_world(pose: [f32; 3], p: [f32; 2]) -> [f32; 2] {
    let (s, c) = pose[2].sin_cos();
    [pose[0] + c * p[0] - s * p[1], pose[1] + s * p[0] + c * p[1]]
}

/// A body-frame direction rotated into the world.
#[inline]
fn rotate(angle: f32, v: [f32; 2]) -> [f32; 2] {
    let (s, c) = angle.sin_cos();
    [c * v[0] - s * v[1], s * v[0] + c * v[1]]
}

/// The four corners (counter-clockwise) of box `k` of a T at `pose`.
pub fn box_corners(pose: [f32; 3], k: usize) -> [[f32; 2]; 4] {
    let [x0, y0, x1, y1] = T_BOXES[k];
    [[x0, y0], [x1, y0], [x1, y1], [x0, y1]].map(|p| to_world(pose, p))
}

/// The T's outline at `pose` (counter-clockwise).
pub fn outline(pose: [f32; 3]) -> [[f32; 2]; 8] {
    T_OUTLINE.map(|p| to_world(pose, p))
}

/// Area of the intersection of two convex quadrilaterals (both counter-clockwise): the subject is
/// clipped by each edge of the clip polygon (Sutherland–Hodgman), then the shoelace formula.
fn convex_overlap(subject: &[[f32; 2]; 4], clip: &[[f32; 2]; 4]) -> f32 {
    // A convex 4-gon clipped by 4 half-planes has at most 8 vertices.
    let mut poly = [[0.0f32; 2]; 12];
    let mut n = 4;
    poly[..4].copy_from_slice(subject);
    let mut next = [[0.0f32; 2]; 12];
    for e in 0..4 {
        let (a, b) = (clip[e], clip[(e + 1) % 4]);
        let edge = sub(b, a);
        let side = |p: [f32; 2]| cross(edge, sub(p, a));
        let mut m = 0;
        for i in 0..n {
            let (p, q) = (poly[i], poly[(i + 1) % n]);
            let (sp, sq) = (side(p), side(q));
            if sp >= 0.0 {
                next[m] = p;
                m += 1;
            }
            if (sp >= 0.0) != (sq >= 0.0) {
                let t = sp / (sp - sq);
                next[m] = add(p, scale(t, sub(q, p)));
                m += 1;
            }
        }
        n = m;
        poly[..n].copy_from_slice(&next[..n]);
        if n < 3 {
            return 0.0;
        }
    }
    let mut twice = 0.0;
    for i in 0..n {
        twice += cross(poly[i], poly[(i + 1) % n]);
    }
    0.5 * twice.max(0.0)
}

/// Area of the intersection of two Ts at poses `a` and `b`: the sum over the 2×2 pairs of their
/// boxes, exact because the two boxes of a T overlap only along an edge.
pub fn overlap_area(a: [f32; 3], b: [f32; 3]) -> f32 {
    let (ba, bb) = ([box_corners(a, 0), box_corners(a, 1)], [box_corners(b, 0), box_corners(b, 1)]);
    let mut area = 0.0;
    for p in &ba {
        for q in &bb {
            area += convex_overlap(p, q);
        }
    }
    area
}

/// PushT's score: the fraction of the goal T covered by a T at `pose`.
pub fn coverage(pose: [f32; 3]) -> f32 {
    (overlap_area(pose, GOAL_POSE) / T_AREA).clamp(0.0, 1.0)
}

/// Whether the world point `p` lies inside the T at `pose`.
pub fn t_contains(pose: [f32; 3], p: [f32; 2]) -> bool {
    let (s, c) = pose[2].sin_cos();
    let d = sub(p, [pose[0], pose[1]]);
    let l = [c * d[0] + s * d[1], -s * d[0] + c * d[1]];
    T_BOXES.iter().any(|b| l[0] >= b[0] && l[0] <= b[2] && l[1] >= b[1] && l[1] <= b[3])
}

/// The closest point of the T's outline to `p` and its distance (negative inside the T).
pub fn t_signed_distance(pose: [f32; 3], p: [f32; 2]) -> ([f32; 2], f32) {
    let o = outline(pose);
    let mut best = (o[0], f32::INFINITY);
    for i in 0..8 {
        let (a, b) = (o[i], o[(i + 1) % 8]);
        let ab = sub(b, a);
        let t = (dot(sub(p, a), ab) / dot(ab, ab)).clamp(0.0, 1.0);
        let q = add(a, scale(t, ab));
        let d = norm(sub(p, q));
        if d < best.1 {
            best = (q, d);
        }
    }
    if t_contains(pose, p) {
        (best.0, -best.1)
    } else {
        best
    }
}

/// Distance from the segment `p → q` to the T (0 if it enters it).
fn segment_distance(pose: [f32; 3], p: [f32; 2], q: [f32; 2]) -> f32 {
    let o = outline(pose);
    let seg_seg = |a: [f32; 2], b: [f32; 2], c: [f32; 2], d: [f32; 2]| -> f32 {
        let (r, s) = (sub(b, a), sub(d, c));
        let den = cross(r, s);
        if den.abs() > 1e-9 {
            let t = cross(sub(c, a), s) / den;
            let u = cross(sub(c, a), r) / den;
            if (0.0..=1.0).contains(&t) && (0.0..=1.0).contains(&u) {
                return 0.0;
            }
        }
        let pt_seg = |x: [f32; 2], a: [f32; 2], b: [f32; 2]| {
            let ab = sub(b, a);
            let t = (dot(sub(x, a), ab) / dot(ab, ab).max(1e-12)).clamp(0.0, 1.0);
            norm(sub(x, add(a, scale(t, ab))))
        };
        pt_seg(a, c, d).min(pt_seg(b, c, d)).min(pt_seg(c, a, b)).min(pt_seg(d, a, b))
    };
    if t_contains(pose, p) || t_contains(pose, q) {
        return 0.0;
    }
    (0..8).map(|i| seg_seg(p, q, o[i], o[(i + 1) % 8])).fold(f32::INFINITY, f32::min)
}

/// The rapier world. `PhysicsPipeline` holds only scratch buffers and is not `Clone`, so a clone
/// gets a fresh one and copies everything else (contacts and their warm-start impulses
/// included), which keeps a cloned env stepping exactly like the original.
struct Sim {
    params: IntegrationParameters,
    pipeline: PhysicsPipeline,
    islands: IslandManager,
    broad: BroadPhaseBvh,
    narrow: NarrowPhase,
    bodies: RigidBodySet,
    colliders: ColliderSet,
    impulse_joints: ImpulseJointSet,
    multibody_joints: MultibodyJointSet,
    soft_bodies: SoftBodySet,
    ccd: CCDSolver,
    agent: RigidBodyHandle,
    block: RigidBodyHandle,
}

impl Clone for Sim {
    fn clone(&self) -> Self {
        Sim {
            params: self.params,
            pipeline: PhysicsPipeline::new(),
            islands: self.islands.clone(),
            broad: self.broad.clone(),
            narrow: self.narrow.clone(),
            bodies: self.bodies.clone(),
            colliders: self.colliders.clone(),
            impulse_joints: self.impulse_joints.clone(),
            multibody_joints: self.multibody_joints.clone(),
            soft_bodies: self.soft_bodies.clone(),
            ccd: self.ccd.clone(),
            agent: self.agent,
            block: self.block,
        }
    }
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim").finish_non_exhaustive()
    }
}

impl Sim {
    fn new() -> Self {
        let mut params = IntegrationParameters { dt: 1.0 / SIM_HZ, length_unit: LENGTH_UNIT, ..Default::default() };
        // The agent moves up to ~19 px per substep: contacts must be predicted that far ahead
        // (speculative contacts), or it sinks into the T before the solver sees it, and the
        // default corrective velocity (3 length units/s) would take seconds to push it back out.
        params.normalized_prediction_distance = PREDICTION / LENGTH_UNIT;
        params.normalized_max_corrective_velocity = 40.0;
        // Recycled contacts may be stale by a few pixels; the T's pose is the score.
        params.contact_recycling = false;
        let mut bodies = RigidBodySet::new();
        let mut colliders = ColliderSet::new();
        // Walls: thick boxes whose inner faces are the segments' (the agent is kinematic and
        // passes through them, as in pymunk, where kinematic bodies ignore static ones).
        let (t, mid, len) = (50.0f32, WORKSPACE / 2.0, WORKSPACE + 200.0);
        for (x, y, hx, hy) in [(WALL_LO - t, mid, t, len / 2.0), (WALL_HI + t, mid, t, len / 2.0), (mid, WALL_LO - t, len / 2.0, t), (mid, WALL_HI + t, len / 2.0, t)] {
            colliders.insert(ColliderBuilder::cuboid(hx, hy).translation(Vector::new(x, y)).friction(FRICTION).build());
        }
        let agent = bodies.insert(RigidBodyBuilder::kinematic_velocity_based().translation(Vector::new(256.0, 400.0)).can_sleep(false).build());
        colliders.insert_with_parent(ColliderBuilder::ball(AGENT_RADIUS).friction(FRICTION).build(), agent, &mut bodies);
        let block = bodies.insert(
            RigidBodyBuilder::dynamic()
                .translation(Vector::new(256.0, 300.0))
                .additional_mass_properties(MassProperties::new(Vector::new(T_COG[0], T_COG[1]), T_MASS, T_INERTIA))
                .can_sleep(false)
                .build(),
        );
        for b in T_BOXES {
            let c = ColliderBuilder::cuboid((b[2] - b[0]) / 2.0, (b[3] - b[1]) / 2.0).translation(Vector::new((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0)).density(0.0).friction(FRICTION).build();
            colliders.insert_with_parent(c, block, &mut bodies);
        }
        Sim {
            params,
            pipeline: PhysicsPipeline::new(),
            islands: IslandManager::new(),
            broad: BroadPhaseBvh::new(),
            narrow: NarrowPhase::new(),
            bodies,
            colliders,
            impulse_joints: ImpulseJointSet::new(),
            multibody_joints: MultibodyJointSet::new(),
            soft_bodies: SoftBodySet::new(),
            ccd: CCDSolver::new(),
            agent,
            block,
        }
    }

    fn step(&mut self) {
        // `space.damping = 0`: the T keeps no velocity from one substep to the next.
        let block = &mut self.bodies[self.block];
        block.set_linvel(Vector::ZERO, true);
        block.set_angvel(0.0, true);
        self.pipeline.step(
            Vector::ZERO,
            &self.params,
            &mut self.islands,
            &mut self.broad,
            &mut self.narrow,
            &mut self.bodies,
            &mut self.colliders,
            &mut self.impulse_joints,
            &mut self.multibody_joints,
            &mut self.soft_bodies,
            &mut self.ccd,
            &(),
            &(),
        );
    }
}

/// The PushT task. Observation `[agent x, y, block x, y, block angle mod 2π]` (the block's body
/// origin, the middle of the crossbar's long edge); action = the agent's target position;
/// `qpos = [agent x, y, block x, y, block angle]` (angle unwrapped), `qvel = [agent vx, vy]` (the
/// T has no velocity between steps, see the module docs).
///
/// [`Info::score`] is the raw coverage (the evaluation records its maximum and final values, as
/// the study does); success, and termination, is diffusion_policy's coverage > 0.95, below the
/// top score of 1 (full coverage), which a pushed T practically never reaches exactly.
///
/// Speed: ~13 600 control steps/s on one core (10 rapier substeps each; criterion, `pusht` group,
/// random targets, resets included), above the 10 000.
#[derive(Clone, Debug)]
pub struct PushTEnv {
    name: String,
    obs_spec: BoxSpec,
    act_spec: BoxSpec,
    tasks: Vec<TaskInfo>,
    sim: Sim,
    coverage: f32,
    episode: Episode,
}

impl PushTEnv {
    pub const OBS_DIM: usize = 5;

    pub fn new(name: &str) -> Self {
        let mut env = Self {
            name: name.into(),
            obs_spec: BoxSpec::new(vec![0.0; 5], vec![WORKSPACE, WORKSPACE, WORKSPACE, WORKSPACE, TAU]),
            act_spec: BoxSpec::uniform(2, 0.0, WORKSPACE),
            tasks: vec![TaskInfo { name: "task1".into(), description: "agent and T at random; push the T onto the goal pose (256, 256, π/4) until coverage > 0.95".into() }],
            sim: Sim::new(),
            coverage: 0.0,
            episode: Episode::NOT_STARTED,
        };
        env.coverage = coverage(env.block_pose());
        env
    }

    pub fn agent(&self) -> [f32; 2] {
        let t = self.sim.bodies[self.sim.agent].translation();
        [t.x, t.y]
    }
    pub fn agent_vel(&self) -> [f32; 2] {
        let v = self.sim.bodies[self.sim.agent].linvel();
        [v.x, v.y]
    }
    /// The T's body-origin pose `[x, y, angle]` (angle unwrapped).
    pub fn block_pose(&self) -> [f32; 3] {
        let b = &self.sim.bodies[self.sim.block];
        let t = b.translation();
        [t.x, t.y, b.rotation().angle()]
    }
    /// The coverage of the goal after the last step or reset.
    pub fn coverage(&self) -> f32 {
        self.coverage
    }

    /// Places the agent and the T (tests, generators); the episode restarts.
    pub fn set_state(&mut self, agent: [f32; 2], agent_vel: [f32; 2], block: [f32; 3]) {
        let a = &mut self.sim.bodies[self.sim.agent];
        a.set_translation(Vector::new(agent[0], agent[1]), true);
        a.set_linvel(Vector::new(agent_vel[0], agent_vel[1]), true);
        let b = &mut self.sim.bodies[self.sim.block];
        b.set_rotation(Rotation::new(block[2]), true);
        b.set_translation(Vector::new(block[0], block[1]), true);
        self.coverage = coverage(block);
        self.episode.reset();
    }

    pub fn observe(&self, obs: &mut [f32]) {
        let (a, b) = (self.agent(), self.block_pose());
        obs.copy_from_slice(&[a[0], a[1], b[0], b[1], b[2].rem_euclid(TAU)]);
    }

    /// One control step: the PD law towards `target` (clipped to the workspace) for each of the
    /// [`SUBSTEPS`] physics substeps. Returns the new coverage.
    pub fn advance(&mut self, target: [f32; 2]) -> f32 {
        let target = [target[0].clamp(0.0, WORKSPACE), target[1].clamp(0.0, WORKSPACE)];
        let dt = 1.0 / SIM_HZ;
        for _ in 0..SUBSTEPS {
            let agent = &mut self.sim.bodies[self.sim.agent];
            let (p, v) = (agent.translation(), agent.linvel());
            let acc = Vector::new(KP * (target[0] - p.x) - KV * v.x, KP * (target[1] - p.y) - KV * v.y);
            agent.set_linvel(v + acc * dt, true);
            self.sim.step();
        }
        self.coverage = coverage(self.block_pose());
        self.coverage
    }
}

impl Env for PushTEnv {
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
        let block = [rng.random_range(100..400) as f32, rng.random_range(100..400) as f32, rng.sample::<f32, _>(StandardNormal) * TAU - PI];
        let agent = loop {
            let a = [rng.random_range(50..450) as f32, rng.random_range(50..450) as f32];
            if t_signed_distance(block, a).1 > AGENT_RADIUS + 1.0 {
                break a;
            }
        };
        // A fresh world, so nothing (contacts, warm starts) carries over between episodes.
        self.sim = Sim::new();
        self.set_state(agent, [0.0; 2], block);
        // `_set_state` runs one physics step "to take effect" (it pushes a T drawn into a wall out).
        self.sim.step();
        self.coverage = coverage(self.block_pose());
        self.observe(obs);
        Ok(())
    }

    fn step_into(&mut self, action: &[f32], obs: &mut [f32]) -> Result<Transition> {
        self.episode.begin(&self.name, &self.act_spec, &self.obs_spec, action, obs)?;
        let c = self.advance([action[0], action[1]]);
        self.observe(obs);
        let success = c > SUCCESS_COVERAGE;
        let reward = (c / SUCCESS_COVERAGE).clamp(0.0, 1.0);
        Ok(self.episode.end(Transition { reward, terminated: success, truncated: false, info: Info { success, success_easy: success, score: c } }, MAX_EPISODE_STEPS))
    }
}

impl GoalEnv for PushTEnv {
    fn goal(&self) -> &[f32] {
        &[]
    }
    fn success(&self) -> bool {
        self.coverage > SUCCESS_COVERAGE
    }
    fn tasks(&self) -> &[TaskInfo] {
        &self.tasks
    }
    fn current_task(&self) -> Option<usize> {
        Some(1)
    }
    fn top_score(&self) -> f32 {
        1.0
    }
    fn boxed_clone(&self) -> Box<dyn GoalEnv> {
        Box::new(self.clone())
    }
}

impl Draw for PushTEnv {
    /// As diffusion_policy renders it (y down): the walls, the goal pose (light green), the T
    /// (slate) and the agent (blue).
    fn scene(&self) -> Scene {
        pusht_scene(self.agent(), self.block_pose(), None)
    }
    /// The row's state and its action (the red cross: where the agent is pulled to).
    fn scene_of_row(&self, ds: &Dataset, row: usize) -> Result<Scene> {
        check_row(&self.name, ds, row, 5)?;
        let (q, a) = (ds.qpos_row(row), ds.action(row));
        Ok(pusht_scene([q[0], q[1]], [q[2], q[3], q[4]], Some([a[0], a[1]])))
    }
    /// In the demo's colour: its initial T (outline), its final T (faint), the agent's path
    /// (thin), the T origin's path (thick) and the agent's start (a dot).
    fn demo_shapes(&self, ds: &Dataset, rows: (usize, usize), demo: usize) -> Vec<Item> {
        let colour = Colour::Category(demo);
        let (q0, q1) = (ds.qpos_row(rows.0), ds.qpos_row(rows.1 - 1));
        let note = |shape, paint| Item { shape, paint, layer: Layer::Note };
        let mut out: Vec<Item> = (0..T_BOXES.len()).map(|k| note(Shape::Polygon(box_corners([q1[2], q1[3], q1[4]], k).to_vec()), Paint::fill(colour).opacity(0.15))).collect();
        let mut ring = outline([q0[2], q0[3], q0[4]]).to_vec();
        ring.push(ring[0]);
        out.push(note(Shape::Polyline(ring), Paint::line(colour, 2.0)));
        out.push(note(path(ds, rows, [0, 1]), Paint::line(colour, 1.0).opacity(0.7)));
        out.push(note(path(ds, rows, [2, 3]), Paint::line(colour, 3.0)));
        out.push(note(Shape::disc([q0[0], q0[1]], 6.0), Paint::fill(colour)));
        out
    }
}

fn pusht_scene(agent: [f32; 2], block: [f32; 3], action: Option<[f32; 2]>) -> Scene {
    let mut s = Scene::new([0.0; 2], [WORKSPACE; 2], View::XRightYDown);
    let wall = Paint::fill(Colour::Rgb(211, 211, 211));
    for r in [[0.0, 0.0, WALL_LO, WORKSPACE], [WALL_HI, 0.0, WORKSPACE, WORKSPACE], [0.0, 0.0, WORKSPACE, WALL_LO], [0.0, WALL_HI, WORKSPACE, WORKSPACE]] {
        s.fixed(Shape::rect([r[0], r[1]], [r[2], r[3]]), wall);
    }
    // The goal pose is the goal layer (an overview draws it over an initial T), drawn first here.
    for k in 0..T_BOXES.len() {
        s.goal(Shape::Polygon(box_corners(GOAL_POSE, k).to_vec()), Paint::fill(Colour::Rgb(144, 238, 144)));
    }
    for k in 0..T_BOXES.len() {
        s.state(Shape::Polygon(box_corners(block, k).to_vec()), Paint::fill(Colour::Rgb(119, 136, 153)));
    }
    s.state(Shape::disc(agent, AGENT_RADIUS), Paint::fill(Colour::Rgb(65, 105, 225)));
    if let Some(a) = action {
        for arm in Shape::cross(a, 8.0) {
            s.state(arm, Paint::line(Colour::Rgb(255, 0, 0), 2.0));
        }
    }
    s.status = format!("coverage {:.2}", coverage(block));
    s.legend = "green: goal pose; outlines: initial T of each demo; lines: agent path (thin) and T path (thick)".into();
    s
}

/// Which solution the scripted expert chose for a demo: what it fixes first, and which way it
/// walks round the T when it changes the side it pushes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PushTMode {
    pub order: Order,
    pub turn: Turn,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Order {
    /// Bring the T's centre near the goal's, then turn it.
    TranslateFirst,
    /// Turn the T to the goal angle, then bring it over.
    RotateFirst,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Turn {
    Clockwise,
    CounterClockwise,
}

impl PushTMode {
    pub const ALL: [PushTMode; 4] = [
        PushTMode { order: Order::TranslateFirst, turn: Turn::Clockwise },
        PushTMode { order: Order::TranslateFirst, turn: Turn::CounterClockwise },
        PushTMode { order: Order::RotateFirst, turn: Turn::Clockwise },
        PushTMode { order: Order::RotateFirst, turn: Turn::CounterClockwise },
    ];
    /// The mode's index in [`PushTMode::ALL`].
    pub fn index(self) -> usize {
        Self::ALL.iter().position(|&m| m == self).expect("ALL lists every mode")
    }
}

/// A contact the expert may push at: a body-frame point on the T's outline and its outward normal.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Contact {
    point: [f32; 2],
    normal: [f32; 2],
}

/// Contact candidates every [`CONTACT_SPACING`] px along the outline, kept [`CORNER_MARGIN`] from
/// convex corners (the normal is ill-defined there) and a disc radius (+4) from the two concave
/// corners (a disc there touches both faces, so a push is not along one normal).
fn contact_candidates() -> Vec<Contact> {
    let concave = |p: [f32; 2]| p == [15.0, 30.0] || p == [-15.0, 30.0];
    let mut out = Vec::new();
    for i in 0..8 {
        let (a, b) = (T_OUTLINE[i], T_OUTLINE[(i + 1) % 8]);
        let e = sub(b, a);
        let len = norm(e);
        let u = scale(1.0 / len, e);
        let normal = [u[1], -u[0]];
        let start = if concave(a) { AGENT_RADIUS + 4.0 } else { CORNER_MARGIN };
        let end = len - if concave(b) { AGENT_RADIUS + 4.0 } else { CORNER_MARGIN };
        let n = ((end - start) / CONTACT_SPACING).floor() as usize;
        for k in 0..=n {
            let s = start + (end - start) * k as f32 / n.max(1) as f32;
            out.push(Contact { point: add(a, scale(s, u)), normal });
        }
    }
    out
}

const CONTACT_SPACING: f32 = 5.0;
const CORNER_MARGIN: f32 = 3.0;
/// Radius of the circle round the T's centre of gravity on which the agent walks between sides.
const ORBIT: f32 = T_REACH + AGENT_RADIUS + 12.0;
/// Gap between the agent and the T when it lines up for a push.
const APPROACH_GAP: f32 = 5.0;
/// How far out along a contact's normal the agent lines up before closing in.
const STANDOFF: f32 = 35.0;
/// The most a push advances the contact per control step (px): small enough to stop on target
/// within the PD's lag, large enough to cross the workspace in a few dozen steps.
const MAX_PUSH: f32 = 40.0;

/// The scripted PushT expert (see [`PushTExpert::action`]).
#[derive(Clone, Debug)]
pub struct PushTExpert {
    pub mode: PushTMode,
    candidates: Vec<Contact>,
    current: Option<usize>,
}

impl PushTExpert {
    pub fn new(mode: PushTMode) -> Self {
        Self { mode, candidates: contact_candidates(), current: None }
    }

    /// The error the pushes should remove, as a twist about the T's centre of gravity:
    /// `[dx, dy, dθ]` from the current pose to the goal pose.
    fn error(pose: [f32; 3]) -> ([f32; 2], [f32; 2], f32) {
        let cog = to_world(pose, T_COG);
        let goal = to_world(GOAL_POSE, T_COG);
        (cog, sub(goal, cog), wrap(GOAL_POSE[2] - pose[2]))
    }

    /// How much a rotation counts against a translation (px per radian): the mode's order shows
    /// here, by making the other error all but invisible until the first one is small.
    fn lever(&self, dp: f32, dth: f32) -> f32 {
        match self.mode.order {
            Order::TranslateFirst if dp > 20.0 => 8.0,
            Order::RotateFirst if dth.abs() > 0.2 => 400.0,
            _ => 60.0,
        }
    }

    /// For a candidate at `pose`: its world point and normal, the twist a unit push produces and
    /// how far the contact point moves per unit push.
    fn twist(pose: [f32; 3], cog: [f32; 2], c: &Contact) -> ([f32; 2], [f32; 2], [f32; 3], f32) {
        let p = to_world(pose, c.point);
        let n = rotate(pose[2], c.normal);
        let d = scale(-1.0, n);
        let arm = cross(sub(p, cog), d);
        ([p[0], p[1]], n, [d[0] / T_MASS, d[1] / T_MASS, arm / T_INERTIA], 1.0 / T_MASS + arm * arm / T_INERTIA)
    }

    /// The agent's target position for the current state.
    ///
    /// Every step the expert scores each contact candidate by how well the twist of a push there
    /// (pure normal force: the contacts are frictionless) lines up with the remaining pose error,
    /// in a metric that weighs rotation by the mode's lever; it keeps its current contact unless
    /// another is clearly better. In place at the contact it pushes by the least-squares amount
    /// (capped at [`MAX_PUSH`]); otherwise it walks there, round the T on a circle clear of it
    /// in the mode's direction when the straight way is blocked.
    pub fn action(&mut self, env: &PushTEnv) -> [f32; 2] {
        let pose = env.block_pose();
        let agent = env.agent();
        let (cog, ep, eth) = Self::error(pose);
        let lever = self.lever(norm(ep), eth);
        let w = lever * lever;
        let e_norm = (dot(ep, ep) + w * eth * eth).sqrt();
        if e_norm < 1e-3 {
            return agent;
        }
        let reachable = |q: [f32; 2]| (0.0..=WORKSPACE).contains(&q[0]) && (0.0..=WORKSPACE).contains(&q[1]);
        let score = |c: &Contact| -> f32 {
            let (p, n, t, _) = Self::twist(pose, cog, c);
            if !reachable(add(p, scale(AGENT_RADIUS, n))) {
                return f32::NEG_INFINITY;
            }
            let tn = (t[0] * t[0] + t[1] * t[1] + w * t[2] * t[2]).sqrt();
            (t[0] * ep[0] + t[1] * ep[1] + w * t[2] * eth) / (tn * e_norm) - 0.0003 * norm(sub(add(p, scale(AGENT_RADIUS, n)), agent))
        };
        let mut best = (f32::NEG_INFINITY, 0);
        for (i, c) in self.candidates.iter().enumerate() {
            let s = score(c);
            if s > best.0 {
                best = (s, i);
            }
        }
        let keep = self.current.filter(|&i| score(&self.candidates[i]) > best.0 - 0.15 && score(&self.candidates[i]) > 0.3);
        let idx = keep.unwrap_or(best.1);
        self.current = Some(idx);
        let c = self.candidates[idx];
        let (p, n, t, gain) = Self::twist(pose, cog, &c);
        let at = add(p, scale(AGENT_RADIUS, n));
        let rel = sub(agent, p);
        let (along, across) = (dot(rel, n), cross(n, rel));
        if across.abs() < 4.0 && along < AGENT_RADIUS + APPROACH_GAP + 3.0 && along > AGENT_RADIUS - 6.0 {
            // In place: push. The least-squares push length λ along the twist, as a distance
            // travelled by the contact point.
            let tn2 = t[0] * t[0] + t[1] * t[1] + w * t[2] * t[2];
            let lambda = ((t[0] * ep[0] + t[1] * ep[1] + w * t[2] * eth) / tn2).max(0.0);
            let push = (lambda * gain).min(MAX_PUSH);
            return sub(at, scale(push, n));
        }
        let pre = add(p, scale(AGENT_RADIUS + APPROACH_GAP, n));
        let (_, clearance) = t_signed_distance(pose, agent);
        if clearance < AGENT_RADIUS + 1.0 {
            // Touching the T at the wrong place: back off first.
            let (q, _) = t_signed_distance(pose, agent);
            let away = sub(agent, q);
            let dir = if norm(away) > 1e-3 { scale(1.0 / norm(away), away) } else { scale(1.0 / norm(sub(agent, cog)).max(1e-3), sub(agent, cog)) };
            return add(agent, scale(12.0, dir));
        }
        if segment_distance(pose, agent, pre) > AGENT_RADIUS + 1.0 {
            return pre;
        }
        // Out along the normal the way to the contact is clear (bar the far end of the T's
        // pockets, which the candidates avoid).
        let stand = add(p, scale(AGENT_RADIUS + STANDOFF, n));
        if segment_distance(pose, agent, stand) > AGENT_RADIUS + 1.0 {
            return stand;
        }
        // Walk round the T towards the stand-off point.
        let ra = sub(agent, cog);
        let rs = sub(stand, cog);
        let (phi_a, phi_t) = (ra[1].atan2(ra[0]), rs[1].atan2(rs[0]));
        let delta = wrap(phi_t - phi_a);
        if delta.abs() < 0.35 {
            return stand;
        }
        let pref = if self.mode.turn == Turn::CounterClockwise { 1.0 } else { -1.0 };
        let way = if delta * pref >= 0.0 { delta.abs() } else { TAU - delta.abs() };
        let sgn = if way <= 4.0 * PI / 3.0 { pref } else { -pref };
        let way_sgn = if delta * sgn >= 0.0 { delta.abs() } else { TAU - delta.abs() };
        let step = sgn * way_sgn.min(0.7);
        let phi = phi_a + step;
        let wp = add(cog, scale(ORBIT, [phi.cos(), phi.sin()]));
        [wp[0].clamp(0.0, WORKSPACE), wp[1].clamp(0.0, WORKSPACE)]
    }

    /// A dataset action: the expert's target plus N(0, noise²) per coordinate, clipped to the
    /// workspace.
    pub fn noisy_action<R: Rng>(&mut self, env: &PushTEnv, noise: f32, rng: &mut R) -> [f32; 2] {
        let a = self.action(env);
        let n0: f32 = rng.sample(StandardNormal);
        let n1: f32 = rng.sample(StandardNormal);
        [(a[0] + noise * n0).clamp(0.0, WORKSPACE), (a[1] + noise * n1).clamp(0.0, WORKSPACE)]
    }
}

/// One demonstration: a random initial state (the env's reset distribution), a mode drawn
/// uniformly, the noisy expert until coverage passes 0.95 (the row after the successful step,
/// with the success state, is the terminal row) or `cap` rows.
pub fn demo_episode(recipe: DatasetRecipe, cap: usize, seed: u64) -> Result<(Dataset, PushTMode)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut env = PushTEnv::new("pusht");
    let mut obs = [0.0f32; PushTEnv::OBS_DIM];
    env.reset_into(rng.random(), None, &mut obs)?;
    let mode = PushTMode::ALL[rng.random_range(0..PushTMode::ALL.len())];
    let mut expert = PushTExpert::new(mode);
    let mut ds = Dataset::new(PushTEnv::OBS_DIM, 2, 5, 2, 0);
    ds.reserve(cap);
    let mut done = false;
    for t in 0..cap {
        env.observe(&mut obs);
        let act = expert.noisy_action(&env, recipe.noise, &mut rng);
        let (a, v, b) = (env.agent(), env.agent_vel(), env.block_pose());
        ds.observations.extend_from_slice(&obs);
        ds.actions.extend_from_slice(&act);
        ds.qpos.extend_from_slice(&[a[0], a[1], b[0], b[1], b[2]]);
        ds.qvel.extend_from_slice(&v);
        let last = done || t + 1 == cap;
        ds.terminals.push(if last { 1.0 } else { 0.0 });
        if last {
            break;
        }
        done = env.advance(act) > SUCCESS_COVERAGE;
    }
    Ok((ds, mode))
}

/// Demos end on the first row with coverage > 0.95 (the expert's median is 113 steps); the cap is
/// the 300-step evaluation limit. Noise: a 10 px std on the target position. About 200 demos, as
/// the study's PushT set has 206 human demos.
const DEMOS: DatasetRecipe = DatasetRecipe { kind: DataKind::Demos, episodes: 200, episode_len: 300, noise: 10.0 };

/// The pusht family's row: one imitation task.
pub static FAMILY: Family = Family {
    // Scaled, as diffusion_policy's PushT normaliser: observations and actions are pixels in
    // [0, 512].
    tasks: &[BaseTask { name: "pusht", stands_in_for: StandsIn::Study("PushT (diffusion_policy; human demos, ours scripted)"), kind: BaseKind::Imitation(DEMOS, Scaling::MinMax), params: () }],
    make: |_, name, _| Box::new(PushTEnv::new(name)),
    episode: |_, recipe, len, seed| demo_episode(recipe, len, seed).map(|(demo, _)| demo),
    singletask_rewards: None,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_is_in_range() {
        for a in [-10.0f32, -PI, -1.0, 0.0, 1.0, PI, 7.0] {
            let w = wrap(a);
            assert!(w > -PI - 1e-6 && w <= PI + 1e-6, "{a} → {w}");
            assert!(((w - a) / TAU - ((w - a) / TAU).round()).abs() < 1e-5);
        }
    }
}
