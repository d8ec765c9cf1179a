//! `pointsoccer-arena-{navigate,stitch}`: OGBench's point agent dribbling a ball in the 8×8
//! arena, standing in for `antsoccer-arena-{navigate,stitch}`.
//!
//! What is copied from OGBench: the arena map, the point agent's dynamics
//! (`x ← x + 0.2·clip(a)`, radius 0.7), the 5 AntSoccer arena tasks
//! ([`SOCCER_ARENA_TASKS`]) with ±1 position noise (none on the singletask goal), the 1000-step
//! limit, success = the *ball* within a tolerance of the goal, the singletask reward
//! `success − 1`, and the dataset recipes of `generate_antsoccer.py` (walk to the ball when it is
//! farther than 2, else dribble it toward the goal capped at 10 units away; goals resampled on
//! success; the unstick rule; stitch episodes are pure navigation or pure dribbling).
//!
//! What is ours:
//! - the ball is a damped free disc of radius [`BALL_RADIUS`] = 0.5, twice OGBench's 0.25 (our
//!   agent is a bare 0.7 disc, not an ant whose legs reach past the ball). The success
//!   tolerance is [`SOCCER_GOAL_TOL`] = 1.0: OGBench's 0.5 is two of its ball radii, ours is two
//!   of ours (and the point maze's tolerance);
//! - the contact model below instead of MuJoCo's soft contacts;
//! - the dribbling controller ("get behind the ball, then push"), since OGBench's is a
//!   pretrained ant policy.
//!
//! Why a hand-written contact model and not a physics crate (rapier2d): the world is two discs
//! and four walls, the agent is position-controlled (it has no mass, it is moved), and the only
//! dynamic body is the ball. A general solver would bring iteration counts, sleeping thresholds
//! and float-ordering details that we would have to pin down for byte-for-byte determinism, to
//! solve a problem whose exact solution is a quadratic equation per step.
//!
//! One step ([`SoccerEnv::advance`]):
//! 1. the agent moves `0.2·clip(a)`, stopped by the walls (the maze's axis sweep);
//! 2. if it now overlaps the ball, the ball is pushed out along the contact normal (itself
//!    stopped by the walls) and kicked: as off a moving wall of infinite mass, the relative
//!    normal velocity reverses with restitution [`KICK_RESTITUTION`] and friction
//!    ([`KICK_FRICTION`]) drags it along the agent's tangential motion. If the ball is pinned
//!    against a wall, the agent slides round it (projected onto the contact circle), or stops
//!    where it first touches it;
//! 3. the ball flies by its velocity, bouncing off the walls with restitution
//!    [`WALL_RESTITUTION`]; it stops where it first touches the (now still) agent and bounces off
//!    it;
//! 4. the velocity is damped by [`BALL_DAMPING`].
//!
//! Steps 2–3 keep the agent–ball distance ≥ `r_a + r_b` up to rounding; a last check falls back
//! to the previous (valid) position of whichever body would overlap, so the invariant holds by
//! construction. The straight-line back-off in step 2 stays clear of the walls because the
//! arena's free space is a convex rectangle; this env therefore only supports the arena.
//! The ball's speed relative to the agent never grows in a kick (normal part reversed and
//! scaled by 0.5, tangential part by 0.2), and damping removes 10 % a
//! step, so speeds stay far below [`MAX_BALL_SPEED`], a clamp that only guards the sweep's
//! one-cell-per-step assumption (the tests check it is never reached).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::dataset::Dataset;
use crate::env::{check_reset, pick_task, BoxSpec, Env, Episode, GoalEnv, Info, TaskInfo, Transition};
use crate::error::{EnvError, Result};
use crate::expert::MazeExpert;
use crate::family::{BaseKind, BaseTask, Family, Relabelled, StandsIn};
use crate::maze::{Convention, Layout, Maze, SoccerTask, AGENT_RADIUS, MAZE_UNIT, SOCCER_ARENA_TASKS};
use crate::pointmaze::POINT_STEP;
use crate::recipe::{DataKind, DatasetRecipe, NAVIGATE, STITCH};
use crate::relabel::reach_rewards;
use crate::shapes::{check_row, episode_start, path, Colour, Draw, Item, Layer, Paint, Scene, Shape};
use crate::vec2::{add, dist, dot, norm, scale, sub, unit_or};

/// Radius of the ball (OGBench's is 0.25; see the module docs).
pub const BALL_RADIUS: f32 = 0.5;
/// Centre distance at which agent and ball touch.
pub const CONTACT_DIST: f32 = AGENT_RADIUS + BALL_RADIUS;
/// Ball velocity kept per step (rolling friction); a ball kicked at 0.3 rolls ~3 units.
pub const BALL_DAMPING: f32 = 0.9;
/// Normal restitution of ball–wall bounces ("elastic-ish": lets a ball pinned to a wall be
/// bounced off it).
pub const WALL_RESTITUTION: f32 = 0.8;
/// Normal restitution of agent–ball contacts: a kick at agent speed u sends the ball off at up to
/// 1.5·u, fast enough to leave the agent, slow enough to be dribbled.
pub const KICK_RESTITUTION: f32 = 0.5;
/// Fraction of the agent–ball tangential velocity difference removed in a pushing contact. High
/// on purpose: dragging is how the agent frees a ball from a wall or corner it cannot get behind
/// (noiseless expert, 200 fresh seeds per task: with 0.0 or 0.3 it fails 55–63 task-4 and
/// 21–25 task-5 episodes, with 0.8 none and 1).
pub const KICK_FRICTION: f32 = 0.8;
/// Ball speed clamp (units per step); never reached in practice (see the module docs).
pub const MAX_BALL_SPEED: f32 = 1.0;
/// Success: the ball's centre within this distance of the goal.
pub const SOCCER_GOAL_TOL: f32 = 1.0;
/// OGBench antsoccer-arena's evaluation limit.
pub const MAX_EPISODE_STEPS: usize = 1000;
/// The expert walks to the ball when it is farther than this, else dribbles (`generate_antsoccer.py`).
pub const WALK_TO_BALL_DIST: f32 = 2.0;
/// In the arena the dribbling target is capped at this distance from the ball (`generate_antsoccer.py`).
pub const DRIBBLE_CAP: f32 = 10.0;
/// Unstick rule: an agent that moved at most `UNSTICK_DIST` in `UNSTICK_STEPS` steps walks to a
/// random cell before resuming.
pub const UNSTICK_STEPS: usize = 150;
pub const UNSTICK_DIST: f32 = 2.0;

/// The smallest `t ∈ [0, 1]` at which a disc centre moving from `p` by `d` comes within `r` of
/// `q`, if it does while approaching (`None` when it never touches or moves away).
fn first_touch(p: [f32; 2], d: [f32; 2], q: [f32; 2], r: f32) -> Option<f32> {
    let f = sub(p, q);
    let b = dot(f, d);
    if b >= 0.0 {
        return None;
    }
    let c = dot(f, f) - r * r;
    if c <= 0.0 {
        return Some(0.0);
    }
    let a = dot(d, d);
    let disc = b * b - a * c;
    if disc < 0.0 {
        return None;
    }
    let t = (-b - disc.sqrt()) / a;
    (t <= 1.0).then_some(t.max(0.0))
}

/// Task `k` (1-based) of [`SOCCER_ARENA_TASKS`], for readers that need the cells.
pub fn soccer_task_cells(k: usize) -> Option<SoccerTask> {
    SOCCER_ARENA_TASKS.get(k.wrapping_sub(1)).copied()
}

/// The arena soccer task. Observation: `[agent x, y, ball x, y, ball vx, vy]` (the point agent
/// has no velocity); `qpos = [agent x, y, ball x, y]`, `qvel = [0, 0, ball vx, vy]`.
#[derive(Clone, Debug)]
pub struct SoccerEnv {
    name: String,
    maze: Maze,
    singletask: Option<usize>,
    obs_spec: BoxSpec,
    act_spec: BoxSpec,
    tasks: Vec<TaskInfo>,
    /// Where the agent's centre may be: the arena interior shrunk by the agent's radius.
    agent_lo: [f32; 2],
    agent_hi: [f32; 2],
    // State.
    agent: [f32; 2],
    ball: [f32; 2],
    ball_vel: [f32; 2],
    goal_xy: [f32; 2],
    goal_obs: Vec<f32>,
    episode: Episode,
    task: Option<usize>,
}

impl SoccerEnv {
    pub const OBS_DIM: usize = 6;

    /// The arena task `name`; `singletask = Some(k)` fixes task k with a noiseless goal and the
    /// `success − 1` reward.
    pub fn new(name: &str, singletask: Option<usize>) -> Self {
        let maze = Maze::new(Layout::Arena, Convention::Ogbench);
        let (lo, hi) = maze.bounds();
        let inner = MAZE_UNIT + AGENT_RADIUS + 1e-3;
        let v = MAX_BALL_SPEED;
        let obs_spec = BoxSpec::new(vec![lo[0], lo[1], lo[0], lo[1], -v, -v], vec![hi[0], hi[1], hi[0], hi[1], v, v]);
        let tasks = SOCCER_ARENA_TASKS
            .iter()
            .enumerate()
            .map(|(k, (a, b, g))| TaskInfo { name: format!("task{}", k + 1), description: format!("agent ({},{}), ball ({},{}) → goal ({},{})", a.0, a.1, b.0, b.1, g.0, g.1) })
            .collect();
        let mut env = Self {
            name: name.into(),
            maze,
            singletask,
            obs_spec,
            act_spec: BoxSpec::uniform(2, -1.0, 1.0),
            tasks,
            agent_lo: [lo[0] + inner, lo[1] + inner],
            agent_hi: [hi[0] - inner, hi[1] - inner],
            agent: [0.0; 2],
            ball: [4.0, 0.0],
            ball_vel: [0.0; 2],
            goal_xy: [0.0; 2],
            goal_obs: vec![0.0; Self::OBS_DIM],
            episode: Episode::NOT_STARTED,
            task: None,
        };
        env.set_goal([10.0, 10.0]);
        env
    }

    pub fn maze(&self) -> &Maze {
        &self.maze
    }
    pub fn agent(&self) -> [f32; 2] {
        self.agent
    }
    pub fn ball(&self) -> [f32; 2] {
        self.ball
    }
    pub fn ball_vel(&self) -> [f32; 2] {
        self.ball_vel
    }
    pub fn goal_xy(&self) -> [f32; 2] {
        self.goal_xy
    }

    /// Places agent and ball (generators and tests). The caller keeps them apart and off the
    /// walls; [`SoccerEnv::is_valid`] checks.
    pub fn set_state(&mut self, agent: [f32; 2], ball: [f32; 2], ball_vel: [f32; 2]) {
        self.agent = agent;
        self.ball = ball;
        self.ball_vel = ball_vel;
        self.episode.reset();
    }

    /// Whether agent and ball are apart and clear of the walls (within `slack`).
    pub fn is_valid(&self, agent: [f32; 2], ball: [f32; 2], slack: f32) -> bool {
        dist(agent, ball) >= CONTACT_DIST - slack && self.maze.clearance(agent) >= AGENT_RADIUS - slack && self.maze.clearance(ball) >= BALL_RADIUS - slack
    }

    /// Sets the goal. The goal observation has the ball resting on the goal and the agent just
    /// touching it on the side of the arena's centre (always clear of the walls).
    pub fn set_goal(&mut self, xy: [f32; 2]) {
        self.goal_xy = xy;
        let centre = [10.0, 10.0];
        let agent = add(xy, scale(CONTACT_DIST + 0.05, unit_or(sub(centre, xy), [1.0, 0.0])));
        self.goal_obs = vec![agent[0], agent[1], xy[0], xy[1], 0.0, 0.0];
    }

    pub fn observe(&self, obs: &mut [f32]) {
        obs[0] = self.agent[0];
        obs[1] = self.agent[1];
        obs[2] = self.ball[0];
        obs[3] = self.ball[1];
        obs[4] = self.ball_vel[0];
        obs[5] = self.ball_vel[1];
    }

    fn ball_at_goal(&self) -> bool {
        dist(self.ball, self.goal_xy) <= SOCCER_GOAL_TOL
    }

    /// Clamps `p` into the region the agent's centre can reach.
    pub fn clamp_agent(&self, p: [f32; 2]) -> [f32; 2] {
        [p[0].clamp(self.agent_lo[0], self.agent_hi[0]), p[1].clamp(self.agent_lo[1], self.agent_hi[1])]
    }

    /// For a ball at `b` that a wall keeps the agent from getting squarely behind: the reachable
    /// contact point `p` and push direction `u` that send the ball fastest along `dir` (nearer
    /// the agent `a` on a near tie). A unit push along `u` (pressing: `u·n ≥ 0.2`) sends the
    /// ball off at `μ·u + (1 + e − μ)(u·n)·n` (restitution e, friction μ, normal n), reflected
    /// off any wall the ball touches, less any part heading back into the agent. `None` when no
    /// reachable push helps.
    pub fn best_contact(&self, a: [f32; 2], b: [f32; 2], dir: [f32; 2]) -> Option<([f32; 2], [f32; 2])> {
        let (lo, hi) = (self.agent_lo, self.agent_hi);
        let inside = |p: [f32; 2]| (0..2).all(|k| p[k] >= lo[k] && p[k] <= hi[k]);
        // Candidates: 48 directions round the ball, and the points where the contact circle
        // meets the reachable box (the narrow arcs left next to walls and in corners).
        let mut cands: Vec<[f32; 2]> = (0..48)
            .map(|k| {
                let th = k as f32 * std::f32::consts::TAU / 48.0;
                sub(b, scale(CONTACT_DIST, [th.cos(), th.sin()]))
            })
            .collect();
        for axis in 0..2 {
            for bound in [lo[axis], hi[axis]] {
                let off = (b[axis] - bound).abs();
                if off <= CONTACT_DIST {
                    let w = (CONTACT_DIST * CONTACT_DIST - off * off).sqrt();
                    for sgn in [-1.0f32, 1.0] {
                        let mut p = [0.0; 2];
                        p[axis] = bound;
                        p[1 - axis] = b[1 - axis] + sgn * w;
                        cands.push(p);
                    }
                }
            }
        }
        let (mu, e) = (KICK_FRICTION, KICK_RESTITUTION);
        let ball_lo = [lo[0] - AGENT_RADIUS + BALL_RADIUS + 0.02, lo[1] - AGENT_RADIUS + BALL_RADIUS + 0.02];
        let ball_hi = [hi[0] + AGENT_RADIUS - BALL_RADIUS - 0.02, hi[1] + AGENT_RADIUS - BALL_RADIUS - 0.02];
        let mut best: Option<(f32, [f32; 2], [f32; 2])> = None;
        for p in cands.into_iter().filter(|&p| inside(p)) {
            let n = unit_or(sub(b, p), dir);
            // Push directions that keep pressing on the ball (u·n ≥ 0.2).
            for k in 0..24 {
                let th = k as f32 * std::f32::consts::TAU / 24.0;
                let mut u = [th.cos(), th.sin()];
                // The agent itself cannot move (far) into a wall it is within a step of.
                for ax in 0..2 {
                    if (p[ax] <= lo[ax] + POINT_STEP && u[ax] < 0.0) || (p[ax] >= hi[ax] - POINT_STEP && u[ax] > 0.0) {
                        u[ax] = 0.0;
                    }
                }
                let un = dot(u, n);
                if un < 0.2 {
                    continue;
                }
                let mut v = add(scale(mu, u), scale((1.0 + e - mu) * un, n));
                // A ball against a wall bounces off it.
                for ax in 0..2 {
                    if (b[ax] <= ball_lo[ax] && v[ax] < 0.0) || (b[ax] >= ball_hi[ax] && v[ax] > 0.0) {
                        v[ax] *= -WALL_RESTITUTION;
                    }
                }
                // ... but not back through the agent, which stands in the way.
                let vn = dot(v, n);
                if vn < 0.0 {
                    v = sub(v, scale(vn, n));
                }
                let gain = dot(dir, v);
                let score = gain - 0.002 * dist(p, a);
                if gain > 0.05 && best.is_none_or(|(s, _, _)| score > s) {
                    best = Some((score, p, u));
                }
            }
        }
        best.map(|(_, p, u)| (p, u))
    }

    /// The dynamics alone (see the module docs): no checks, no bookkeeping.
    #[inline]
    pub fn advance(&mut self, action: [f32; 2]) {
        let a = [action[0].clamp(-1.0, 1.0), action[1].clamp(-1.0, 1.0)];
        let (a0, b0) = (self.agent, self.ball);
        let mut pa = a0;
        self.maze.sweep(&mut pa, [POINT_STEP * a[0], POINT_STEP * a[1]]);
        let mut pb = b0;
        let mut vb = self.ball_vel;

        // 2. Push and kick.
        let gap = dist(pa, pb);
        if gap < CONTACT_DIST {
            let u = sub(pa, a0);
            let n = unit_or(sub(pb, pa), unit_or(u, [1.0, 0.0]));
            let depth = CONTACT_DIST - gap;
            self.maze.sweep_disc(&mut pb, scale(depth, n), BALL_RADIUS);
            let (un, vn) = (dot(u, n), dot(vb, n));
            if un > vn {
                // Normal: restitution. Tangential: friction drags the ball toward the agent's
                // tangential velocity (without it a ball in a corner could never be freed: every
                // contact point the agent can reach pushes it into the corner).
                let (ut, vt) = (sub(u, scale(un, n)), sub(vb, scale(vn, n)));
                vb = add(vb, scale((1.0 + KICK_RESTITUTION) * (un - vn), n));
                vb = add(vb, scale(KICK_FRICTION, sub(ut, vt)));
            }
            if dist(pa, pb) < CONTACT_DIST {
                // Pinned against a wall: the agent slides round the ball (projected onto the
                // contact circle, walls permitting), else stops at first touch along its straight
                // path (clear of the walls: the arena's free space is convex).
                let mut slid = a0;
                let target = add(pb, scale(CONTACT_DIST + 1e-5, unit_or(sub(pa, pb), scale(-1.0, n))));
                self.maze.sweep(&mut slid, sub(target, a0));
                pa = if dist(slid, pb) >= CONTACT_DIST {
                    slid
                } else {
                    match first_touch(a0, u, pb, CONTACT_DIST) {
                        Some(t) => add(a0, scale(t, u)),
                        None => a0,
                    }
                };
            }
        }

        // 3. Flight.
        let speed = norm(vb);
        if speed > MAX_BALL_SPEED {
            vb = scale(MAX_BALL_SPEED / speed, vb);
        }
        // The walls first (they may turn a diagonal flight into a slide), then the agent along
        // the resulting straight displacement (clear of the walls: the arena is convex).
        let mut q = pb;
        let hit = self.maze.sweep_disc(&mut q, vb, BALL_RADIUS);
        for k in 0..2 {
            if hit[k] {
                vb[k] *= -WALL_RESTITUTION;
            }
        }
        let d = sub(q, pb);
        if let Some(t) = first_touch(pb, d, pa, CONTACT_DIST) {
            q = add(pb, scale(t, d));
            let n = unit_or(sub(q, pa), [1.0, 0.0]);
            let vn = dot(vb, n);
            if vn < 0.0 {
                vb = sub(vb, scale((1.0 + KICK_RESTITUTION) * vn, n));
            }
        }
        pb = q;

        // Last guard: never leave the bodies overlapping; fall back to a previous position
        // (each pair below is clear of the walls, and (a0, b0) was a valid state).
        if dist(pa, pb) < CONTACT_DIST - 1e-5 {
            if dist(a0, pb) >= CONTACT_DIST {
                pa = a0;
            } else if dist(pa, b0) >= CONTACT_DIST {
                pb = b0;
                vb = [0.0; 2];
            } else {
                pa = a0;
                pb = b0;
                vb = [0.0; 2];
            }
        }
        self.agent = pa;
        self.ball = pb;
        self.ball_vel = scale(BALL_DAMPING, vb);
    }
}

fn noisy(rng: &mut ChaCha8Rng, xy: [f32; 2], noise: f32) -> [f32; 2] {
    [xy[0] + rng.random_range(-noise..=noise), xy[1] + rng.random_range(-noise..=noise)]
}

impl Env for SoccerEnv {
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
        let k = pick_task(self.singletask, task, SOCCER_ARENA_TASKS.len(), &mut rng);
        let (agent, ball, goal) = SOCCER_ARENA_TASKS[k - 1];
        // OGBench's ±noise·unit/4 = ±1 on the agent, the ball and (goal-conditioned only) the
        // goal. The tasks' agent and ball cells are ≥ 3 cells apart, so they never overlap.
        let agent_xy = noisy(&mut rng, self.maze.ij_to_xy(agent), 1.0);
        let ball_xy = noisy(&mut rng, self.maze.ij_to_xy(ball), 1.0);
        let goal_xy = if self.singletask.is_some() { self.maze.ij_to_xy(goal) } else { noisy(&mut rng, self.maze.ij_to_xy(goal), 1.0) };
        self.task = Some(k);
        self.set_goal(goal_xy);
        self.set_state(agent_xy, ball_xy, [0.0; 2]);
        self.observe(obs);
        Ok(())
    }

    fn step_into(&mut self, action: &[f32], obs: &mut [f32]) -> Result<Transition> {
        self.episode.begin(&self.name, &self.act_spec, &self.obs_spec, action, obs)?;
        self.advance([action[0], action[1]]);
        self.observe(obs);
        let success = self.ball_at_goal();
        let reward = if self.singletask.is_some() { success as i32 as f32 - 1.0 } else { success as i32 as f32 };
        Ok(self.episode.end(Transition { reward, terminated: success, truncated: false, info: Info::goal(success, success) }, MAX_EPISODE_STEPS))
    }
}

impl GoalEnv for SoccerEnv {
    fn goal(&self) -> &[f32] {
        &self.goal_obs
    }
    fn success(&self) -> bool {
        self.ball_at_goal()
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

impl Draw for SoccerEnv {
    /// The arena's walls, the agent (a disc), the ball (a white disc with the agent's colour as
    /// rim) and the goal (a square).
    fn scene(&self) -> Scene {
        let mut s = soccer_scene(self.agent, self.ball);
        // Under the agent and the ball, so a start on the goal cell stays visible.
        s.items.insert(s.items.len() - 2, Item { shape: Shape::square(self.goal_xy, 0.8), paint: Paint::fill(Colour::Goal), layer: Layer::Goal });
        s.legend = "discs: agent starts; rings: ball starts; squares: goals; grey: ball paths".into();
        s
    }
    /// Agent and ball at the row's positions, and the ball's path since the episode began.
    fn scene_of_row(&self, ds: &Dataset, row: usize) -> Result<Scene> {
        check_row(&self.name, ds, row, 4)?;
        let q = ds.qpos_row(row);
        let mut s = soccer_scene([q[0], q[1]], [q[2], q[3]]);
        s.items.insert(s.items.len() - 2, Item { shape: path(ds, (episode_start(ds, row), row + 1), [2, 3]), paint: Paint::line(Colour::Trail, 2.0).opacity(0.5), layer: Layer::State });
        Ok(s)
    }
    fn demo_shapes(&self, ds: &Dataset, rows: (usize, usize), _demo: usize) -> Vec<Item> {
        vec![Item { shape: path(ds, rows, [2, 3]), paint: Paint::line(Colour::Trail, 1.0).opacity(0.25), layer: Layer::Note }]
    }
}

fn soccer_scene(agent: [f32; 2], ball: [f32; 2]) -> Scene {
    let mut s = crate::pointmaze::maze_scene(&Maze::new(Layout::Arena, Convention::Ogbench));
    s.state(Shape::disc(agent, AGENT_RADIUS), Paint::fill(Colour::Agent));
    s.state(Shape::disc(ball, BALL_RADIUS), Paint::outlined(Colour::WHITE, Colour::Agent, 3.0));
    s
}

/// The scripted soccer expert of `generate_antsoccer.py`, with a point-agent dribbler: walk to
/// the ball (BFS waypoints, [`MazeExpert`]) while it is farther than [`WALK_TO_BALL_DIST`], else
/// get behind it (relative to the goal, capped at [`DRIBBLE_CAP`]) and push.
#[derive(Clone, Debug)]
pub struct SoccerExpert {
    /// Where the ball should go.
    pub goal: [f32; 2],
}

impl SoccerExpert {
    /// The noiseless action (a vector of norm ≤ 1) for the env's current state.
    pub fn clean_action(&self, env: &SoccerEnv) -> [f32; 2] {
        let (a, b) = (env.agent, env.ball);
        if dist(a, b) > WALK_TO_BALL_DIST {
            return MazeExpert::new(&env.maze, b).direction(&env.maze, a);
        }
        let to_goal = sub(self.goal, b);
        let dg = norm(to_goal);
        if dg < 1e-3 {
            return [0.0; 2];
        }
        let dir = scale(1.0 / dg, to_goal);
        let target = add(b, scale(dg.min(DRIBBLE_CAP), dir));
        let dir = unit_or(sub(target, b), dir);
        let rel = sub(a, b);
        let s = (dg / 8.0).clamp(0.15, 1.0);
        let ideal = sub(b, scale(CONTACT_DIST, dir));
        let approach = if env.clamp_agent(ideal) == ideal {
            let behind = dot(scale(-1.0 / norm(rel).max(1e-6), rel), dir);
            if behind > 0.9 && dist(a, b) < CONTACT_DIST + 0.6 {
                // Push along `dir`, steering back onto the line through the ball; slow down
                // near the goal so the ball is not kicked past it.
                return scale(s, unit_or(sub(add(ideal, dir), a), dir));
            }
            env.clamp_agent(sub(b, scale(CONTACT_DIST + 0.5, dir)))
        } else {
            // A wall leaves no room behind the ball: push (and drag) it from the best reachable
            // contact point instead.
            let Some((p, u)) = env.best_contact(a, b, dir) else {
                return unit_or(sub(b, a), dir);
            };
            if dist(a, p) < 0.2 {
                // Close the last gap first: a push only acts through contact.
                // Full speed: these pushes are weak and rarely overshoot (slowing them near the
                // goal left 7 % of task-4 balls stuck against a wall).
                return if dist(a, b) > CONTACT_DIST + 0.02 { unit_or(sub(b, a), u) } else { u };
            }
            let stand = env.clamp_agent(add(p, scale(0.4, unit_or(sub(p, b), scale(-1.0, dir)))));
            if dist(a, stand) < 0.25 || dist(stand, b) < CONTACT_DIST + 0.2 {
                return unit_or(sub(p, a), dir);
            }
            stand
        };
        // Go to the stand-off point, round the ball if the straight path would hit it.
        let w = sub(approach, a);
        let ww = dot(w, w);
        let t = if ww > 1e-9 { (dot(sub(b, a), w) / ww).clamp(0.0, 1.0) } else { 0.0 };
        let closest = add(a, scale(t, w));
        let waypoint = if dist(closest, b) < CONTACT_DIST + 0.15 {
            // Circle the ball toward the stand-off point, the short way round unless a wall
            // leaves no room to pass between ball and wall there.
            let r = unit_or(rel, scale(-1.0, dir));
            let back = unit_or(sub(approach, b), scale(-1.0, dir));
            let ang = (r[0] * back[1] - r[1] * back[0]).atan2(dot(r, back));
            let around = |sgn: f32| {
                let th = sgn * ang.abs().min(1.0);
                let (c, sn) = (th.cos(), th.sin());
                env.clamp_agent(add(b, scale(CONTACT_DIST + 0.5, [c * r[0] - sn * r[1], sn * r[0] + c * r[1]])))
            };
            let sgn = if ang >= 0.0 { 1.0 } else { -1.0 };
            let w1 = around(sgn);
            if dist(w1, b) < CONTACT_DIST + 0.3 {
                around(-sgn)
            } else {
                w1
            }
        } else {
            approach
        };
        unit_or(sub(waypoint, a), [0.0; 2])
    }

    /// Dataset action: clean action + N(0, noise²) per component, clipped to [-1, 1].
    pub fn noisy_action<R: Rng>(&self, env: &SoccerEnv, noise: f32, rng: &mut R) -> [f32; 2] {
        add_noise(self.clean_action(env), noise, rng)
    }
}

fn add_noise<R: Rng>(a: [f32; 2], noise: f32, rng: &mut R) -> [f32; 2] {
    let n0: f32 = rng.sample(StandardNormal);
    let n1: f32 = rng.sample(StandardNormal);
    [(a[0] + noise * n0).clamp(-1.0, 1.0), (a[1] + noise * n1).clamp(-1.0, 1.0)]
}

/// What a dataset episode's expert is doing.
enum Plan {
    /// Bring the ball to a goal (navigate datasets, stitch dribble episodes).
    Ball(SoccerExpert),
    /// Walk the agent to a goal, ignoring the ball (stitch navigation episodes).
    Walk(MazeExpert),
}

/// One navigate or stitch episode (`generate_antsoccer.py`):
/// - navigate: agent and ball in uniformly drawn free cells (±1, kept apart), the ball's goal a
///   vertex cell (±1), resampled whenever the ball reaches it;
/// - stitch: half the episodes walk the agent to a cell 4 BFS steps away (the ball lies in a
///   random cell), half start the ball touching the agent and dribble it to a cell 4 BFS steps
///   from the ball's (OGBench's stitch distance for the mazes);
/// - unstick (ball plans only): an agent that moved ≤ 2 in the last 150 steps walks to a random
///   cell (±1) and then resumes;
/// - action = expert + N(0, noise²), clipped.
pub fn soccer_episode(template: &SoccerEnv, recipe: DatasetRecipe, len: usize, seed: u64) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut env = template.clone();
    let maze = env.maze.clone();
    let all = maze.free_cells();
    let vertex = maze.vertex_cells();
    let jitter = |rng: &mut ChaCha8Rng, ij: (usize, usize)| noisy(rng, maze.ij_to_xy(ij), 1.0);
    let pick = |rng: &mut ChaCha8Rng, cells: &[(usize, usize)]| {
        let c = cells[rng.random_range(0..cells.len())];
        noisy(rng, maze.ij_to_xy(c), 1.0)
    };
    let cell_at_bfs_4 = |rng: &mut ChaCha8Rng, from: [f32; 2]| {
        let c = maze.xy_to_ij(from);
        let c = (c.0 as usize, c.1 as usize);
        let d = maze.bfs(c);
        let four: Vec<_> = all.iter().copied().filter(|x| d[x.0 * maze.cols() + x.1] == 4).collect();
        if four.is_empty() {
            c
        } else {
            four[rng.random_range(0..four.len())]
        }
    };

    let agent = pick(&mut rng, &all);
    let dribble_only = recipe.kind == DataKind::Stitch && rng.random::<bool>();
    let ball = if dribble_only {
        // Touching the agent, on a random side that is clear of the walls.
        let mut b = agent;
        for _ in 0..100 {
            let th = rng.random_range(0.0..std::f32::consts::TAU);
            b = add(agent, scale(CONTACT_DIST + 0.05, [th.cos(), th.sin()]));
            if maze.clearance(b) >= BALL_RADIUS {
                break;
            }
        }
        b
    } else {
        loop {
            let b = pick(&mut rng, &all);
            if dist(agent, b) >= CONTACT_DIST + 0.1 {
                break b;
            }
        }
    };
    env.set_state(agent, ball, [0.0; 2]);
    let mut plan = match recipe.kind {
        DataKind::Stitch if !dribble_only => {
            let c = cell_at_bfs_4(&mut rng, agent);
            Plan::Walk(MazeExpert::new(&maze, jitter(&mut rng, c)))
        }
        DataKind::Stitch => {
            let c = cell_at_bfs_4(&mut rng, ball);
            Plan::Ball(SoccerExpert { goal: jitter(&mut rng, c) })
        }
        _ => Plan::Ball(SoccerExpert { goal: pick(&mut rng, &vertex) }),
    };
    let mut unstick: Option<MazeExpert> = None;
    let mut since = 0usize;
    let mut trail: Vec<[f32; 2]> = Vec::with_capacity(len);

    let mut ds = Dataset::new(SoccerEnv::OBS_DIM, 2, 4, 4, 0);
    ds.reserve(len);
    let mut obs = [0.0f32; SoccerEnv::OBS_DIM];
    for t in 0..len {
        env.observe(&mut obs);
        let (a, b, v) = (env.agent, env.ball, env.ball_vel);
        trail.push(a);
        if let (Plan::Ball(_), None) = (&plan, &unstick) {
            if t >= since + UNSTICK_STEPS && dist(a, trail[t - UNSTICK_STEPS]) <= UNSTICK_DIST {
                unstick = Some(MazeExpert::new(&maze, pick(&mut rng, &all)));
            }
        }
        if unstick.as_ref().is_some_and(|u| dist(a, u.goal_xy()) <= 1.0) {
            unstick = None;
            since = t;
        }
        let clean = match (&unstick, &plan) {
            (Some(u), _) => u.direction(&maze, a),
            (None, Plan::Walk(w)) => w.direction(&maze, a),
            (None, Plan::Ball(e)) => e.clean_action(&env),
        };
        let act = add_noise(clean, recipe.noise, &mut rng);
        ds.observations.extend_from_slice(&obs);
        ds.actions.extend_from_slice(&act);
        ds.terminals.push(if t + 1 == len { 1.0 } else { 0.0 });
        ds.qpos.extend_from_slice(&[a[0], a[1], b[0], b[1]]);
        ds.qvel.extend_from_slice(&[0.0, 0.0, v[0], v[1]]);
        env.advance(act);
        if recipe.kind == DataKind::Navigate {
            if let Plan::Ball(e) = &mut plan {
                if dist(env.ball, e.goal) <= SOCCER_GOAL_TOL {
                    e.goal = pick(&mut rng, &vertex);
                }
            }
        }
    }
    ds
}

/// The soccer family's row: the arena with OGBench's locomotion recipes.
pub static FAMILY: Family = Family {
    tasks: &[
        BaseTask { name: "pointsoccer-arena-navigate", stands_in_for: StandsIn::Study("antsoccer-arena-navigate"), kind: BaseKind::GoalConditioned(NAVIGATE), params: () },
        BaseTask { name: "pointsoccer-arena-stitch", stands_in_for: StandsIn::Study("antsoccer-arena-stitch"), kind: BaseKind::GoalConditioned(STITCH), params: () },
    ],
    make: |_, name, singletask| Box::new(SoccerEnv::new(name, singletask)),
    episode: |t, recipe, len, seed| Ok(soccer_episode(&SoccerEnv::new(t.name, None), recipe, len, seed)),
    singletask_rewards: Some(soccer_singletask_rewards),
};

/// The ball's position (qpos columns 2, 3) within [`SOCCER_GOAL_TOL`] of task `k`'s noiseless
/// goal.
fn soccer_singletask_rewards(_: &BaseTask, task: &str, k: usize, ds: &Dataset) -> Result<Relabelled> {
    let (_, _, goal_cell) = soccer_task_cells(k).expect("soccer tasks have cells");
    let g = SoccerEnv::new(task, Some(k)).maze().ij_to_xy(goal_cell);
    if ds.qpos_dim < 4 {
        return Err(EnvError::Invalid(format!("{task}: dataset qpos has {} columns, need the agent's and the ball's x, y", ds.qpos_dim)));
    }
    Ok(reach_rewards(ds, 2, g, SOCCER_GOAL_TOL))
}
