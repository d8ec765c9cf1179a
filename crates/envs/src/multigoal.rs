//! `multigoal4`: a planar body with momentum visits four corner goals in an open arena, standing
//! in for VQ-BeT's Multimodal Ant (`envs/antenv/ant_maze_multimodal.py`).
//!
//! What is copied from the original task: the start, uniform in [7, 9]²; the four goals at
//! (0,0), (16,0), (0,16), (16,16); a goal counts once the body's centre comes within 1.5 of it;
//! the score is the number of distinct goals reached (0–4). The observation carries no record
//! of which goals are already done (the ant's 41-D observation is proprioception and position
//! only), so a policy that sees one observation cannot tell "go to (16,0) next" from "(16,0) is
//! done": that is what makes the task need memory (observation history, action chunks) or a
//! multimodal policy.
//!
//! What is ours:
//! - the body is accelmaze's double integrator (`v ← 0.8·v + 0.02·clip(a)`, `x ← x + v`,
//!   [`ACCEL_DECAY`], [`ACCEL_GAIN`]) instead of an 8-joint ant. Not the point dynamics: those
//!   turn on the spot and have no state beyond the position, so observation = position would
//!   make the task nearly trivial; the momentum (a turn takes ~5 steps to settle, top speed 0.1
//!   per axis) is the part of the ant's control that matters for the paths. The observation is
//!   `[x, y, vx, vy]`;
//! - the arena is open with walls at [`ARENA_LO`], [`ARENA_HI`] (2 beyond the goals), as
//!   clamps that stop the velocity into them (accelmaze's inelastic walls);
//! - the episode ends (terminated) once all four goals are visited; the reward is the score
//!   gained this step; the time limit [`MAX_EPISODE_STEPS`] is about twice the noisy expert's
//!   longest demonstration (see the constant);
//! - the demonstrations: the study trained on human teleoperation of the ant; ours come from a
//!   scripted expert ([`MultiGoalExpert`]) that draws one of the 24 visiting orders per episode
//!   (the order is the demo's mode) and drives a dead-beat velocity controller at each corner
//!   (aimed at a point jittered ±[`AIM_JITTER`] inside the goal region), with Gaussian action
//!   noise. So our modes are cleaner than human ones (the 24 orders are equally likely and
//!   every demo commits to one from its first step), paths are straight, and there are no idle
//!   pauses, hesitations or revisits; a policy may find our demos easier to fit, and scores are
//!   not comparable with the study's.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::dataset::Dataset;
use crate::env::{check_reset, BoxSpec, Env, Episode, GoalEnv, Info, TaskInfo, Transition};
use crate::error::Result;
use crate::family::{BaseKind, BaseTask, Family, StandsIn};
use crate::normalize::Scaling;
use crate::pointmaze::{ACCEL_DECAY, ACCEL_GAIN};
use crate::recipe::{DataKind, DatasetRecipe};
use crate::shapes::{check_row, path, Colour, Draw, Item, Layer, Paint, Scene, Shape, View};

/// The four goals, in the order of the visited flags in `qpos`.
pub const GOALS: [[f32; 2]; 4] = [[0.0, 0.0], [16.0, 0.0], [0.0, 16.0], [16.0, 16.0]];
/// A goal is reached when the centre comes within this distance (the ant task's 1.5).
pub const GOAL_RADIUS: f32 = 1.5;
/// The start is uniform in `[START_LO, START_HI]²` (the ant task's U[7, 9]²), at rest.
pub const START_LO: f32 = 7.0;
pub const START_HI: f32 = 9.0;
/// The arena's walls: 2 beyond the goals, so a body that overshoots a corner is stopped before
/// it wanders off, without a wall inside any goal's region.
pub const ARENA_LO: f32 = -2.0;
pub const ARENA_HI: f32 = 18.0;
/// The top speed per axis, `ACCEL_GAIN / (1 − ACCEL_DECAY)`.
pub const MAX_SPEED: f32 = ACCEL_GAIN / (1.0 - ACCEL_DECAY);
/// The evaluation time limit. Over 200 seeds the noiseless expert needs 506–534 steps and the
/// noise-0.5 expert 619–671 (noise only slows it: at cruise the action is saturated); 1200 is
/// 1.8× the slowest demo, so a policy may hesitate or detour and still finish.
pub const MAX_EPISODE_STEPS: usize = 1200;
/// The expert aims at a point within this distance (per axis) of each corner, drawn per episode,
/// so paths vary inside the goal's 1.5 region as a person's would.
pub const AIM_JITTER: f32 = 0.5;

/// The task. Observation `[x, y, vx, vy]` (no visited flags: see the module docs);
/// `qpos = [x, y, visited(0,0), visited(16,0), visited(0,16), visited(16,16)]` (flags 0 or 1, so
/// a dataset row redraws its frame), `qvel = [vx, vy]`.
#[derive(Clone, Debug)]
pub struct MultiGoalEnv {
    name: String,
    obs_spec: BoxSpec,
    act_spec: BoxSpec,
    tasks: Vec<TaskInfo>,
    pos: [f32; 2],
    vel: [f32; 2],
    visited: [bool; 4],
    episode: Episode,
    task: Option<usize>,
}

impl MultiGoalEnv {
    pub const OBS_DIM: usize = 4;
    pub const QPOS_DIM: usize = 6;

    pub fn new(name: &str) -> Self {
        let v = MAX_SPEED;
        Self {
            name: name.into(),
            obs_spec: BoxSpec::new(vec![ARENA_LO, ARENA_LO, -v, -v], vec![ARENA_HI, ARENA_HI, v, v]),
            act_spec: BoxSpec::uniform(2, -1.0, 1.0),
            tasks: vec![TaskInfo { name: "task1".into(), description: "start at rest in U[7,9]²; visit the corners (0,0), (16,0), (0,16), (16,16) within 1.5, in any order".into() }],
            pos: [8.0, 8.0],
            vel: [0.0; 2],
            visited: [false; 4],
            episode: Episode::NOT_STARTED,
            task: None,
        }
    }

    pub fn pos(&self) -> [f32; 2] {
        self.pos
    }
    pub fn vel(&self) -> [f32; 2] {
        self.vel
    }
    /// Which of [`GOALS`] have been reached this episode.
    pub fn visited(&self) -> [bool; 4] {
        self.visited
    }
    /// Distinct goals reached, 0–4.
    pub fn score(&self) -> usize {
        self.visited.iter().filter(|&&v| v).count()
    }

    /// Places the body (tests, pictures); goals within reach of `pos` are marked visited as well.
    pub fn set_state(&mut self, pos: [f32; 2], vel: [f32; 2], visited: [bool; 4]) {
        self.pos = pos;
        self.vel = vel;
        self.visited = visited;
        self.mark_visits();
        self.episode.reset();
    }

    pub fn observe(&self, obs: &mut [f32]) {
        obs[0] = self.pos[0];
        obs[1] = self.pos[1];
        obs[2] = self.vel[0];
        obs[3] = self.vel[1];
    }

    /// `qpos` of the current state (see the struct docs).
    pub fn qpos(&self) -> [f32; Self::QPOS_DIM] {
        let f = |k: usize| self.visited[k] as i32 as f32;
        [self.pos[0], self.pos[1], f(0), f(1), f(2), f(3)]
    }

    /// Marks the goals within reach; returns how many were new.
    fn mark_visits(&mut self) -> usize {
        let mut new = 0;
        for (k, g) in GOALS.iter().enumerate() {
            let (dx, dy) = (self.pos[0] - g[0], self.pos[1] - g[1]);
            if !self.visited[k] && dx * dx + dy * dy <= GOAL_RADIUS * GOAL_RADIUS {
                self.visited[k] = true;
                new += 1;
            }
        }
        new
    }

    /// The dynamics and the goal bookkeeping, without the episode checks (generators and
    /// benchmarks call it directly); returns the number of goals newly reached.
    #[inline]
    pub fn advance(&mut self, action: [f32; 2]) -> usize {
        for (k, a) in action.into_iter().enumerate() {
            let a = a.clamp(-1.0, 1.0);
            self.vel[k] = ACCEL_DECAY * self.vel[k] + ACCEL_GAIN * a;
            let x = self.pos[k] + self.vel[k];
            // Inelastic walls, as accelmaze's: the velocity into the wall is lost.
            self.pos[k] = x.clamp(ARENA_LO, ARENA_HI);
            if self.pos[k] != x {
                self.vel[k] = 0.0;
            }
        }
        self.mark_visits()
    }
}

impl Env for MultiGoalEnv {
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
        let pos = [rng.random_range(START_LO..=START_HI), rng.random_range(START_LO..=START_HI)];
        self.set_state(pos, [0.0; 2], [false; 4]);
        self.task = Some(1);
        self.observe(obs);
        Ok(())
    }

    fn step_into(&mut self, action: &[f32], obs: &mut [f32]) -> Result<Transition> {
        self.episode.begin(&self.name, &self.act_spec, &self.obs_spec, action, obs)?;
        let new = self.advance([action[0], action[1]]);
        self.observe(obs);
        let score = self.score();
        let done = score == GOALS.len();
        let info = Info { success: done, success_easy: done, score: score as f32 };
        Ok(self.episode.end(Transition { reward: new as f32, terminated: done, truncated: false, info }, MAX_EPISODE_STEPS))
    }
}

impl GoalEnv for MultiGoalEnv {
    fn goal(&self) -> &[f32] {
        &[]
    }
    fn success(&self) -> bool {
        self.score() == GOALS.len()
    }
    fn tasks(&self) -> &[TaskInfo] {
        &self.tasks
    }
    fn current_task(&self) -> Option<usize> {
        self.task
    }
    fn top_score(&self) -> f32 {
        GOALS.len() as f32
    }
    fn boxed_clone(&self) -> Box<dyn GoalEnv> {
        Box::new(self.clone())
    }
}

impl Draw for MultiGoalEnv {
    /// The arena, the start square, the four goal discs (filled once visited), the body and its
    /// velocity (scaled ×20).
    fn scene(&self) -> Scene {
        multigoal_scene(self.pos, self.vel, self.visited)
    }
    fn scene_of_row(&self, ds: &Dataset, row: usize) -> Result<Scene> {
        check_row(&self.name, ds, row, Self::QPOS_DIM)?;
        let (q, o) = (ds.qpos_row(row), ds.observation(row));
        Ok(multigoal_scene([q[0], q[1]], [o[2], o[3]], [q[2] > 0.5, q[3] > 0.5, q[4] > 0.5, q[5] > 0.5]))
    }
    /// The body's path, coloured by the goal the demo visits first, and its start (a dot).
    fn demo_shapes(&self, ds: &Dataset, rows: (usize, usize), _demo: usize) -> Vec<Item> {
        let first = (rows.0..rows.1).find_map(|t| ds.qpos_row(t)[2..6].iter().position(|&f| f > 0.5)).unwrap_or(0);
        let q = ds.qpos_row(rows.0);
        vec![
            Item { shape: path(ds, rows, [0, 1]), paint: Paint::line(Colour::Category(first), 1.0).opacity(0.6), layer: Layer::Note },
            Item { shape: Shape::disc([q[0], q[1]], 0.12), paint: Paint::fill(Colour::Ink), layer: Layer::Note },
        ]
    }
}

fn multigoal_scene(pos: [f32; 2], vel: [f32; 2], visited: [bool; 4]) -> Scene {
    let mut s = Scene::new([ARENA_LO; 2], [ARENA_HI; 2], View::XRightYUp);
    s.fixed(Shape::rect([ARENA_LO; 2], [ARENA_HI; 2]), Paint::outlined(Colour::Rgb(245, 242, 235), Colour::Wall, 3.0));
    s.fixed(Shape::rect([START_LO; 2], [START_HI; 2]), Paint::fill(Colour::Rgb(200, 200, 200)));
    for (k, g) in GOALS.iter().enumerate() {
        s.state(Shape::disc(*g, GOAL_RADIUS), Paint::fill(Colour::Category(k)).opacity(if visited[k] { 0.6 } else { 0.12 }));
        s.fixed(Shape::disc(*g, GOAL_RADIUS), Paint::line(Colour::Category(k), 2.0));
    }
    s.state(Shape::segment(pos, [pos[0] + 20.0 * vel[0], pos[1] + 20.0 * vel[1]]), Paint::line(Colour::Ink, 2.0));
    s.state(Shape::disc(pos, 0.5), Paint::fill(Colour::Rgb(40, 40, 40)));
    s.status = format!("{}/4 goals", visited.iter().filter(|&&v| v).count());
    s.legend = "grey: start U[7,9]²; discs: goals (reach 1.5); paths coloured by the first goal visited".into();
    s
}

/// Which solution a demonstration follows: the order in which the expert visits [`GOALS`]
/// (indices into it); 24 modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MultiGoalMode {
    pub order: [usize; 4],
}

impl MultiGoalMode {
    /// The first corner visited (4 coarse modes, each a quarter of the demos).
    pub fn first(&self) -> usize {
        self.order[0]
    }
}

/// The scripted expert: visit the corners in `order`, each at full speed towards an aim point
/// near the corner with a dead-beat velocity controller (the action that reaches the wanted
/// velocity in one step, where the action box allows).
#[derive(Clone, Debug)]
pub struct MultiGoalExpert {
    pub mode: MultiGoalMode,
    /// Where the expert heads for each goal (indexed like [`GOALS`]).
    pub aim: [[f32; 2]; 4],
}

impl MultiGoalExpert {
    /// A uniformly random order and aim points jittered ±[`AIM_JITTER`] around the corners.
    pub fn random<R: Rng>(rng: &mut R) -> Self {
        let mut order = [0, 1, 2, 3];
        order.shuffle(rng);
        let aim = GOALS.map(|g| [g[0] + rng.random_range(-AIM_JITTER..=AIM_JITTER), g[1] + rng.random_range(-AIM_JITTER..=AIM_JITTER)]);
        Self { mode: MultiGoalMode { order }, aim }
    }

    /// The goal the expert heads for: the first of its order not yet reached.
    pub fn current(&self, visited: [bool; 4]) -> Option<usize> {
        self.mode.order.iter().copied().find(|&k| !visited[k])
    }

    /// The noiseless action for the env's state (zero once every goal is reached).
    pub fn clean_action(&self, env: &MultiGoalEnv) -> [f32; 2] {
        let Some(k) = self.current(env.visited) else { return [0.0; 2] };
        let (p, v) = (env.pos, env.vel);
        let d = [self.aim[k][0] - p[0], self.aim[k][1] - p[1]];
        // The larger axis at top speed, the other in proportion, so the path is straight; slow
        // down within 5 steps' travel of the aim point (only reached when a goal is missed).
        let s = MAX_SPEED / d[0].abs().max(d[1].abs()).max(5.0 * MAX_SPEED);
        let want = [s * d[0], s * d[1]];
        [((want[0] - ACCEL_DECAY * v[0]) / ACCEL_GAIN).clamp(-1.0, 1.0), ((want[1] - ACCEL_DECAY * v[1]) / ACCEL_GAIN).clamp(-1.0, 1.0)]
    }

    /// Clean action + N(0, noise²) per component, clipped to [-1, 1].
    pub fn noisy_action<R: Rng>(&self, env: &MultiGoalEnv, noise: f32, rng: &mut R) -> [f32; 2] {
        let a = self.clean_action(env);
        let n0: f32 = rng.sample(StandardNormal);
        let n1: f32 = rng.sample(StandardNormal);
        [(a[0] + noise * n0).clamp(-1.0, 1.0), (a[1] + noise * n1).clamp(-1.0, 1.0)]
    }
}

/// One demonstration: a fresh start, a random order, the noisy expert until every goal is
/// reached (that state is the terminal row, with a zero action) or `cap` rows.
pub fn demo_episode(recipe: DatasetRecipe, cap: usize, seed: u64) -> Result<(Dataset, MultiGoalMode)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut env = MultiGoalEnv::new("multigoal4");
    let mut obs = [0.0f32; MultiGoalEnv::OBS_DIM];
    env.reset_into(rng.random(), None, &mut obs)?;
    let expert = MultiGoalExpert::random(&mut rng);
    let mut ds = Dataset::new(MultiGoalEnv::OBS_DIM, 2, MultiGoalEnv::QPOS_DIM, 2, 0);
    ds.reserve(cap.min(MAX_EPISODE_STEPS));
    for t in 0..cap {
        env.observe(&mut obs);
        let last = env.score() == GOALS.len() || t + 1 == cap;
        let a = if last { [0.0; 2] } else { expert.noisy_action(&env, recipe.noise, &mut rng) };
        ds.observations.extend_from_slice(&obs);
        ds.actions.extend_from_slice(&a);
        ds.terminals.push(if last { 1.0 } else { 0.0 });
        ds.qpos.extend_from_slice(&env.qpos());
        ds.qvel.extend_from_slice(&env.vel);
        if last {
            break;
        }
        env.advance(a);
    }
    Ok((ds, expert.mode))
}

/// Demos end when all 4 corners are visited (620–672 rows); the cap is the evaluation limit.
/// Noise 0.5 as the maze recipes (the momentum filters most of it).
const DEMOS: DatasetRecipe = DatasetRecipe { kind: DataKind::Demos, episodes: 200, episode_len: MAX_EPISODE_STEPS, noise: 0.5 };

/// The multigoal4 family's row: one imitation task.
pub static FAMILY: Family = Family {
    // Scaled, as VQ-BeT's Multimodal Ant loader does: positions span [−0.5, 16.5].
    tasks: &[BaseTask { name: "multigoal4", stands_in_for: StandsIn::Study("Multimodal Ant (VQ-BeT; human demos, ours scripted)"), kind: BaseKind::Imitation(DEMOS, Scaling::MinMax), params: () }],
    make: |_, name, _| Box::new(MultiGoalEnv::new(name)),
    episode: |_, recipe, len, seed| demo_episode(recipe, len, seed).map(|(demo, _)| demo),
    singletask_rewards: None,
};
