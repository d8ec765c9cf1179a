//! `blockpush2`: a disc pusher seen from above pushes two square blocks into two target zones,
//! standing in for VQ-BeT's UR3 BlockPush (itself IBC's `BlockPushMultimodal`, with a UR3 arm in
//! place of the xArm).
//!
//! What is copied from the original task: two blocks and two target zones; the blocks start
//! jittered in the near half of the table, the targets are side by side in the far half and the
//! effector starts nearest the table's near edge, below the blocks (IBC: blocks at y = −0.2 ±
//! 0.15, targets at y = 0.2 with x = 0.4 ± 0.12, effector at (0.3, −0.4)); a block counts when it
//! is in a target, one block per target (IBC rewards both blocks in *different* targets); the
//! score is the number of blocks in targets (0–2, VQ-BeT's `all_completions_ids`); the action is
//! a planar displacement of the effector, clipped to the workspace.
//!
//! What is ours:
//! - the layout in our own units (block side 1): table [0, [`TABLE`]]², blocks jittered
//!   ±[`BLOCK_JITTER`] around two fixed start spots [`BLOCK_SPOTS`] (IBC draws both blocks from
//!   one region and keeps them apart; two spots keep "left block" and "right block" meaningful
//!   for the modes), fixed targets [`TARGETS`] (the study's data uses a fixed-target variant),
//!   square zones of half-size [`TARGET_HALF`] that count a block whose *centre* is inside;
//! - the blocks are axis-aligned squares that translate but never rotate, and the physics is
//!   quasi-static and hand-written ([`BlockPushEnv::advance`]): the pusher is kinematic (moved
//!   `PUSH_STEP·clip(a)`, clamped to the table), a block it overlaps is displaced along the
//!   contact normal by the penetration depth, a block pushed into the other displaces it along
//!   the axis of least penetration, blocks are clamped to the table; a move whose result would
//!   leave any overlap (a block pinned against a wall or the other block) is shortened by
//!   bisection to the longest one that does not, so "no penetration, everything on the table"
//!   holds by construction. No friction, no inertia: a block moves only while pushed. Why not
//!   rapier2d: the same reasons as in `soccer.rs` (determinism to the bit, three bodies, an exact
//!   answer that takes a few lines);
//! - the demonstrations: the study trained on human teleoperation; ours come from a scripted
//!   expert ([`BlockPushExpert`]) that draws one of 4 modes per episode, which block first and
//!   which target it goes to (the other block then goes to the other target), walks round the
//!   blocks without touching them (a shortest path through the corners of the blocks' inflated
//!   boxes), pushes each block along one axis at a time (an L-shaped route, the order of the two
//!   legs chosen so the route keeps clear of the other block), with Gaussian action noise. A
//!   block bound for the far target often crosses the near zone on its way (the score rises and
//!   falls again, a reward of +1 then −1, as IBC's `_get_reward` would count it). So our
//!   modes are cleaner than human ones (equally likely, committed from the first step), pushes
//!   are axis-aligned and there are no idle pauses or regrasps; scores are not comparable with
//!   the study's.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::dataset::Dataset;
use crate::env::{check_reset, BoxSpec, Env, Episode, GoalEnv, Info, TaskInfo, Transition};
use crate::error::Result;
use crate::family::{BaseKind, BaseTask, Family, StandsIn};
use crate::normalize::Scaling;
use crate::pointmaze::POINT_STEP;
use crate::recipe::{DataKind, DatasetRecipe};
use crate::shapes::{check_row, path, Colour, Draw, Item, Layer, Paint, Scene, Shape, View};
use crate::vec2::{add, norm, scale, sub};

/// The table is `[0, TABLE]²`.
pub const TABLE: f32 = 16.0;
pub const PUSHER_RADIUS: f32 = 0.5;
/// Blocks are squares of side `2·BLOCK_HALF`.
pub const BLOCK_HALF: f32 = 0.5;
/// Pusher displacement per unit action (the point maze's step).
pub const PUSH_STEP: f32 = POINT_STEP;
/// The blocks' start spots (block 0 left, block 1 right), each jittered uniformly by
/// ±`BLOCK_JITTER` per axis, so they start at least 3 apart (2 clear of each other).
pub const BLOCK_SPOTS: [[f32; 2]; 2] = [[5.5, 5.0], [10.5, 5.0]];
pub const BLOCK_JITTER: f32 = 1.0;
/// The target zones' centres (0 left, 1 right); a zone is a square of half-size `TARGET_HALF`.
pub const TARGETS: [[f32; 2]; 2] = [[5.0, 12.0], [11.0, 12.0]];
pub const TARGET_HALF: f32 = 1.0;
/// The pusher starts at `PUSHER_START ± PUSHER_JITTER`, below the blocks.
pub const PUSHER_START: [f32; 2] = [8.0, 1.5];
pub const PUSHER_JITTER: [f32; 2] = [1.0, 0.5];
/// The contact resolution is exact up to rounding; a state is accepted with overlaps up to this.
pub const CONTACT_TOL: f32 = 1e-4;
/// The evaluation limit. Over 200 seeds the noiseless expert needs 119–214 steps, the noise-0.2
/// one 126–239 (see `tests/blockpush.rs`); 500 is about twice the slowest demo.
pub const MAX_EPISODE_STEPS: usize = 500;

#[inline]
fn sign(x: f32) -> f32 {
    if x < 0.0 {
        -1.0
    } else {
        1.0
    }
}

/// How deep the pusher at `p` is in the block at `b`, and the unit normal from the pusher into
/// the block (`None` when they do not overlap).
fn disc_box(p: [f32; 2], b: [f32; 2]) -> Option<(f32, [f32; 2])> {
    let d = sub(p, b);
    let q = [d[0].clamp(-BLOCK_HALF, BLOCK_HALF), d[1].clamp(-BLOCK_HALF, BLOCK_HALF)];
    let e = sub(d, q);
    let n = norm(e);
    if n > 0.0 {
        return (n < PUSHER_RADIUS).then(|| (PUSHER_RADIUS - n, scale(-1.0 / n, e)));
    }
    // The centre is inside the block (never from a valid state: a step is shorter than the
    // radius): out along the axis of least penetration.
    let (ox, oy) = (BLOCK_HALF - d[0].abs(), BLOCK_HALF - d[1].abs());
    Some(if ox < oy { (ox + PUSHER_RADIUS, [-sign(d[0]), 0.0]) } else { (oy + PUSHER_RADIUS, [0.0, -sign(d[1])]) })
}

/// How far the block at `b` must move for the block at `a` to stop overlapping it, along the
/// axis of least penetration (`None` when they do not overlap).
fn box_box(a: [f32; 2], b: [f32; 2]) -> Option<[f32; 2]> {
    let d = sub(b, a);
    let (ox, oy) = (2.0 * BLOCK_HALF - d[0].abs(), 2.0 * BLOCK_HALF - d[1].abs());
    if ox <= 0.0 || oy <= 0.0 {
        return None;
    }
    Some(if ox < oy { [sign(d[0]) * ox, 0.0] } else { [0.0, sign(d[1]) * oy] })
}

/// Whether a block centred at `b` is in the target zone centred at `t`.
pub fn in_zone(b: [f32; 2], t: [f32; 2]) -> bool {
    (b[0] - t[0]).abs() <= TARGET_HALF && (b[1] - t[1]).abs() <= TARGET_HALF
}

/// Blocks in targets, one block per target: the number of zones holding a block's centre.
pub fn score_of(blocks: [[f32; 2]; 2]) -> usize {
    TARGETS.iter().filter(|&&t| blocks.iter().any(|&b| in_zone(b, t))).count()
}

/// Whether the pusher and blocks are apart and on the table (within `slack`).
pub fn is_valid(pusher: [f32; 2], blocks: [[f32; 2]; 2], slack: f32) -> bool {
    let on = |x: f32, m: f32| x >= m - slack && x <= TABLE - m + slack;
    pusher.iter().all(|&x| on(x, PUSHER_RADIUS))
        && blocks.iter().all(|b| b.iter().all(|&x| on(x, BLOCK_HALF)))
        && blocks.iter().all(|&b| disc_box(pusher, b).is_none_or(|(depth, _)| depth <= slack))
        && box_box(blocks[0], blocks[1]).is_none_or(|d| norm(d) <= slack)
}

/// The task. Observation and `qpos`: `[pusher x, y, block 0 x, y, block 1 x, y]` (the targets
/// are fixed, so they are not observed); `qvel`: six zeros (the pusher is kinematic and the
/// blocks quasi-static; kept for the common dataset layout).
#[derive(Clone, Debug)]
pub struct BlockPushEnv {
    name: String,
    obs_spec: BoxSpec,
    act_spec: BoxSpec,
    tasks: Vec<TaskInfo>,
    pusher: [f32; 2],
    blocks: [[f32; 2]; 2],
    score: usize,
    episode: Episode,
    task: Option<usize>,
}

impl BlockPushEnv {
    pub const OBS_DIM: usize = 6;

    pub fn new(name: &str) -> Self {
        let (r, h) = (PUSHER_RADIUS, BLOCK_HALF);
        Self {
            name: name.into(),
            obs_spec: BoxSpec::new(vec![r, r, h, h, h, h], vec![TABLE - r, TABLE - r, TABLE - h, TABLE - h, TABLE - h, TABLE - h]),
            act_spec: BoxSpec::uniform(2, -1.0, 1.0),
            tasks: vec![TaskInfo {
                name: "task1".into(),
                description: "two blocks start jittered near (5.5,5) and (10.5,5); push each into a different target zone, (5,12) or (11,12), in any order".into(),
            }],
            pusher: PUSHER_START,
            blocks: BLOCK_SPOTS,
            score: 0,
            episode: Episode::NOT_STARTED,
            task: None,
        }
    }

    pub fn pusher(&self) -> [f32; 2] {
        self.pusher
    }
    pub fn blocks(&self) -> [[f32; 2]; 2] {
        self.blocks
    }
    /// Blocks in targets, 0–2.
    pub fn score(&self) -> usize {
        self.score
    }

    /// Places pusher and blocks (tests, pictures); the caller keeps them valid ([`is_valid`]).
    pub fn set_state(&mut self, pusher: [f32; 2], blocks: [[f32; 2]; 2]) {
        self.pusher = pusher;
        self.blocks = blocks;
        self.score = score_of(blocks);
        self.episode.reset();
    }

    pub fn observe(&self, obs: &mut [f32]) {
        obs[..2].copy_from_slice(&self.pusher);
        obs[2..4].copy_from_slice(&self.blocks[0]);
        obs[4..6].copy_from_slice(&self.blocks[1]);
    }

    /// The blocks after the pusher moves to `p` from the current state, if that leaves no
    /// overlap.
    fn try_move(&self, p: [f32; 2]) -> Option<[[f32; 2]; 2]> {
        let mut b = self.blocks;
        for i in 0..2 {
            if let Some((depth, n)) = disc_box(p, b[i]) {
                b[i] = add(b[i], scale(depth, n));
                if let Some(d) = box_box(b[i], b[1 - i]) {
                    b[1 - i] = add(b[1 - i], d);
                }
            }
        }
        for bi in &mut b {
            for x in bi.iter_mut() {
                *x = x.clamp(BLOCK_HALF, TABLE - BLOCK_HALF);
            }
        }
        is_valid(p, b, CONTACT_TOL).then_some(b)
    }

    /// The dynamics (see the module docs) and the score, without the episode checks; returns
    /// the score change.
    pub fn advance(&mut self, action: [f32; 2]) -> i32 {
        let d = [PUSH_STEP * action[0].clamp(-1.0, 1.0), PUSH_STEP * action[1].clamp(-1.0, 1.0)];
        let at = |t: f32| {
            let lo = PUSHER_RADIUS;
            [(self.pusher[0] + t * d[0]).clamp(lo, TABLE - lo), (self.pusher[1] + t * d[1]).clamp(lo, TABLE - lo)]
        };
        let p1 = at(1.0);
        if let Some(b) = self.try_move(p1) {
            self.pusher = p1;
            self.blocks = b;
        } else {
            // Blocked: the longest valid part of the move (t = 0, standing still, is the
            // current valid state).
            let (mut lo, mut hi) = (0.0f32, 1.0f32);
            let mut best = None;
            for _ in 0..12 {
                let mid = 0.5 * (lo + hi);
                let p = at(mid);
                match self.try_move(p) {
                    Some(b) => {
                        lo = mid;
                        best = Some((p, b));
                    }
                    None => hi = mid,
                }
            }
            if let Some((p, b)) = best {
                self.pusher = p;
                self.blocks = b;
            }
        }
        let before = self.score;
        self.score = score_of(self.blocks);
        self.score as i32 - before as i32
    }
}

impl Env for BlockPushEnv {
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
        let mut jitter = |c: [f32; 2], j: [f32; 2]| [c[0] + rng.random_range(-j[0]..=j[0]), c[1] + rng.random_range(-j[1]..=j[1])];
        let pusher = jitter(PUSHER_START, PUSHER_JITTER);
        let blocks = BLOCK_SPOTS.map(|s| jitter(s, [BLOCK_JITTER; 2]));
        self.set_state(pusher, blocks);
        self.task = Some(1);
        self.observe(obs);
        Ok(())
    }

    fn step_into(&mut self, action: &[f32], obs: &mut [f32]) -> Result<Transition> {
        self.episode.begin(&self.name, &self.act_spec, &self.obs_spec, action, obs)?;
        let gain = self.advance([action[0], action[1]]);
        self.observe(obs);
        let done = self.score == TARGETS.len();
        let info = Info { success: done, success_easy: done, score: self.score as f32 };
        Ok(self.episode.end(Transition { reward: gain as f32, terminated: done, truncated: false, info }, MAX_EPISODE_STEPS))
    }
}

impl GoalEnv for BlockPushEnv {
    fn goal(&self) -> &[f32] {
        &[]
    }
    fn success(&self) -> bool {
        self.score == TARGETS.len()
    }
    fn tasks(&self) -> &[TaskInfo] {
        &self.tasks
    }
    fn current_task(&self) -> Option<usize> {
        self.task
    }
    fn top_score(&self) -> f32 {
        TARGETS.len() as f32
    }
    fn boxed_clone(&self) -> Box<dyn GoalEnv> {
        Box::new(self.clone())
    }
}

impl Draw for BlockPushEnv {
    /// The table, the target zones, the blocks' and the pusher's start regions (overview only),
    /// the blocks (red block 0, blue block 1) and the pusher.
    fn scene(&self) -> Scene {
        blockpush_scene(self.pusher, self.blocks)
    }
    fn scene_of_row(&self, ds: &Dataset, row: usize) -> Result<Scene> {
        check_row(&self.name, ds, row, 6)?;
        let q = ds.qpos_row(row);
        Ok(blockpush_scene([q[0], q[1]], [[q[2], q[3]], [q[4], q[5]]]))
    }
    /// The pusher's path (faint grey) and each block's path in the block's colour.
    fn demo_shapes(&self, ds: &Dataset, rows: (usize, usize), _demo: usize) -> Vec<Item> {
        let mut out = vec![Item { shape: path(ds, rows, [0, 1]), paint: Paint::line(Colour::Trail, 1.0).opacity(0.3), layer: Layer::Note }];
        for i in 0..2 {
            out.push(Item { shape: path(ds, rows, [2 + 2 * i, 3 + 2 * i]), paint: Paint::line(Colour::Category(i), 2.0).opacity(0.7), layer: Layer::Note });
        }
        out
    }
}

fn blockpush_scene(pusher: [f32; 2], blocks: [[f32; 2]; 2]) -> Scene {
    let mut s = Scene::new([0.0; 2], [TABLE; 2], View::XRightYUp);
    s.fixed(Shape::rect([0.0; 2], [TABLE; 2]), Paint::outlined(Colour::Rgb(235, 225, 205), Colour::Wall, 3.0));
    let target = Colour::Rgb(255, 190, 60);
    for (k, t) in TARGETS.iter().enumerate() {
        s.fixed(Shape::square(*t, TARGET_HALF), Paint::outlined(target, target, 2.0).opacity(0.6));
        s.fixed(Shape::text([t[0] - TARGET_HALF, t[1] + TARGET_HALF + 0.9], format!("target {k}"), 13.0), Paint::line(Colour::Ink, 1.0));
    }
    for (i, c) in BLOCK_SPOTS.iter().enumerate() {
        s.note(Shape::square(*c, BLOCK_JITTER + BLOCK_HALF), Paint::line(Colour::Category(i), 1.0));
    }
    let (p, j, r) = (PUSHER_START, PUSHER_JITTER, PUSHER_RADIUS);
    s.note(Shape::rect([p[0] - j[0] - r, p[1] - j[1] - r], [p[0] + j[0] + r, p[1] + j[1] + r]), Paint::line(Colour::Rgb(60, 60, 60), 1.0));
    for (i, b) in blocks.iter().enumerate() {
        s.state(Shape::square(*b, BLOCK_HALF), Paint::outlined(Colour::Category(i), Colour::Ink, 1.0));
    }
    s.state(Shape::disc(pusher, PUSHER_RADIUS), Paint::fill(Colour::Rgb(60, 60, 60)));
    s.status = format!("{}/2 blocks in targets", score_of(blocks));
    s.legend = "outlines: start regions; lines: block paths in demos (grey: pusher); any block to any target".into();
    s
}

/// Which solution a demonstration follows: the block pushed first (0 left, 1 right) and the
/// target it goes to (0 left, 1 right); the other block goes to the other target. 4 modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BlockPushMode {
    pub first_block: usize,
    pub first_target: usize,
}

impl BlockPushMode {
    /// `2·first_block + first_target`, 0–3.
    pub fn index(&self) -> usize {
        2 * self.first_block + self.first_target
    }
    /// The (block, target) jobs in order.
    pub fn jobs(&self) -> [(usize, usize); 2] {
        [(self.first_block, self.first_target), (1 - self.first_block, 1 - self.first_target)]
    }
}

/// The expert counts a block as delivered when its centre is within this distance (per axis) of
/// its target's centre: well inside the zone, so noise after the last push cannot undo it.
pub const PLACE_TOL: f32 = 0.25;
/// The expert's stand-off behind a block before a push, beyond contact.
const STANDOFF: f32 = 0.15;
/// Clearance the expert keeps from blocks it is not pushing, beyond contact.
const NAV_CLEAR: f32 = 0.1;
/// The corners it walks through: the blocks' boxes inflated by this, beyond contact.
const NAV_CORNER: f32 = 0.3;

/// The scripted expert of one mode (see the module docs).
#[derive(Clone, Debug)]
pub struct BlockPushExpert {
    pub mode: BlockPushMode,
}

impl BlockPushExpert {
    /// A uniformly random mode.
    pub fn random<R: Rng>(rng: &mut R) -> Self {
        Self { mode: BlockPushMode { first_block: rng.random_range(0..2), first_target: rng.random_range(0..2) } }
    }

    /// The noiseless action for the env's state: work on the first job until its block is
    /// delivered (and again if it is knocked out), then the second.
    pub fn clean_action(&self, env: &BlockPushEnv) -> [f32; 2] {
        let placed = |i: usize, k: usize| {
            let d = sub(TARGETS[k], env.blocks[i]);
            d[0].abs() <= PLACE_TOL && d[1].abs() <= PLACE_TOL
        };
        let Some(&(i, k)) = self.mode.jobs().iter().find(|&&(i, k)| !placed(i, k)) else { return [0.0; 2] };
        push_action(env.pusher, env.blocks, i, TARGETS[k])
    }

    /// Clean action + N(0, noise²) per component, clipped to [-1, 1].
    pub fn noisy_action<R: Rng>(&self, env: &BlockPushEnv, noise: f32, rng: &mut R) -> [f32; 2] {
        let a = self.clean_action(env);
        let n0: f32 = rng.sample(StandardNormal);
        let n1: f32 = rng.sample(StandardNormal);
        [(a[0] + noise * n0).clamp(-1.0, 1.0), (a[1] + noise * n1).clamp(-1.0, 1.0)]
    }
}

/// Whether block `b` can travel to `g` along `first` then the other axis while it and the pusher
/// behind it stay clear of the other block at `o`.
fn route_clear(b: [f32; 2], g: [f32; 2], o: [f32; 2], first: usize) -> bool {
    let mut m = b;
    m[first] = g[first];
    // Block, pusher standing off behind it and the clearance the walk keeps from the other.
    let reach = 2.0 * BLOCK_HALF + 2.0 * PUSHER_RADIUS + STANDOFF + NAV_CLEAR + 0.35;
    [(b, m), (m, g)].iter().all(|&(s, e)| (0..2).any(|k| o[k] < s[k].min(e[k]) - reach || o[k] > s[k].max(e[k]) + reach))
}

/// The action that brings block `i` one push closer to `g`: push it along one axis when the
/// pusher is in place behind it, else walk to that place round the blocks.
fn push_action(p: [f32; 2], blocks: [[f32; 2]; 2], i: usize, g: [f32; 2]) -> [f32; 2] {
    let (b, o) = (blocks[i], blocks[1 - i]);
    let delta = sub(g, b);
    let off = [delta[0].abs() > PLACE_TOL, delta[1].abs() > PLACE_TOL];
    let contact = BLOCK_HALF + PUSHER_RADIUS;
    // Whether the pusher stands ready to push the block along `axis` towards `g`.
    let in_place = |axis: usize| {
        let behind = sign(delta[axis]) * (b[axis] - p[axis]);
        (p[1 - axis] - b[1 - axis]).abs() < 0.3 && behind > contact - 0.05 && behind < contact + 0.4
    };
    let axis = match off {
        // Toward the targets' row first unless that route runs into the other block; a push
        // under way goes on while its route stays clear (else the choice could flip mid-push
        // as the block moves away from the other one).
        [true, true] => match (route_clear(b, g, o, 1), route_clear(b, g, o, 0)) {
            (true, true) if in_place(0) => 0,
            (false, true) => 0,
            _ => 1,
        },
        [true, false] => 0,
        [false, true] => 1,
        [false, false] => return [0.0; 2],
    };
    let perp = 1 - axis;
    let s = sign(delta[axis]);
    let behind = s * (b[axis] - p[axis]);
    let lateral = p[perp] - b[perp];
    if in_place(axis) {
        // In place: push exactly as far as the block must go (closing any gap first), nudging
        // the pusher back onto the face's centre line.
        let gap = (behind - contact).max(0.0);
        let mut a = [0.0; 2];
        a[axis] = s * ((delta[axis].abs() + gap) / PUSH_STEP).min(1.0);
        a[perp] = (-0.5 * lateral / PUSH_STEP).clamp(-0.5, 0.5);
        return a;
    }
    let mut stand = b;
    stand[axis] -= s * (contact + STANDOFF);
    let w = waypoint(p, stand, blocks);
    let d = sub(w, p);
    let n = norm(d);
    if n < 1e-6 {
        return [0.0; 2];
    }
    // Full speed towards intermediate corners, slowing down to stop on the stand-off point.
    let speed = if w == stand { (n / PUSH_STEP).min(1.0) } else { 1.0 };
    scale(speed / n, d)
}

/// Whether the segment `a → b` enters the open box `c ± half`.
fn segment_hits_box(a: [f32; 2], b: [f32; 2], c: [f32; 2], half: f32) -> bool {
    let (mut t0, mut t1) = (0.0f32, 1.0f32);
    for k in 0..2 {
        let (lo, hi) = (c[k] - half, c[k] + half);
        let d = b[k] - a[k];
        if d.abs() < 1e-9 {
            if a[k] <= lo || a[k] >= hi {
                return false;
            }
        } else {
            let (mut s0, mut s1) = ((lo - a[k]) / d, (hi - a[k]) / d);
            if s0 > s1 {
                std::mem::swap(&mut s0, &mut s1);
            }
            t0 = t0.max(s0);
            t1 = t1.min(s1);
        }
    }
    t1 - t0 > 1e-6
}

/// The next point on a shortest path from `p` to `goal` that keeps the pusher clear of both
/// blocks: Dijkstra over the corners of the blocks' inflated boxes (a visibility graph). The
/// pusher may start closer than the clearance (it was just pushing); from there it may move
/// along or away from a block, not into it. With no path it heads straight for `goal`.
fn waypoint(p: [f32; 2], goal: [f32; 2], blocks: [[f32; 2]; 2]) -> [f32; 2] {
    let clear = BLOCK_HALF + PUSHER_RADIUS + NAV_CLEAR;
    let inside = |q: [f32; 2], c: [f32; 2], half: f32| (q[0] - c[0]).abs() < half && (q[1] - c[1]).abs() < half;
    // Boxes the start is already within get the contact size instead.
    let start_half = blocks.map(|c| if inside(p, c, clear) { BLOCK_HALF + PUSHER_RADIUS - 0.01 } else { clear });
    let free = |a: [f32; 2], b: [f32; 2], from_start: bool| (0..2).all(|k| !segment_hits_box(a, b, blocks[k], if from_start { start_half[k] } else { clear }));
    if free(p, goal, true) {
        return goal;
    }
    let c = BLOCK_HALF + PUSHER_RADIUS + NAV_CORNER;
    let (lo, hi) = (PUSHER_RADIUS, TABLE - PUSHER_RADIUS);
    let mut nodes: Vec<[f32; 2]> = vec![p, goal];
    for b in blocks {
        for (sx, sy) in [(-1.0, -1.0), (1.0, -1.0), (-1.0, 1.0), (1.0, 1.0)] {
            let q = [b[0] + sx * c, b[1] + sy * c];
            if q.iter().all(|&x| (lo..=hi).contains(&x)) && blocks.iter().all(|&o| !inside(q, o, clear)) {
                nodes.push(q);
            }
        }
    }
    let n = nodes.len();
    let mut dist = vec![f32::INFINITY; n];
    let mut prev = vec![usize::MAX; n];
    let mut done = vec![false; n];
    dist[0] = 0.0;
    while let Some(u) = (0..n).filter(|&u| !done[u] && dist[u].is_finite()).min_by(|&a, &b| dist[a].total_cmp(&dist[b])) {
        if u == 1 {
            break;
        }
        done[u] = true;
        for v in 0..n {
            if !done[v] && v != u && free(nodes[u], nodes[v], u == 0) {
                let d = dist[u] + norm(sub(nodes[v], nodes[u]));
                if d < dist[v] {
                    dist[v] = d;
                    prev[v] = u;
                }
            }
        }
    }
    if !dist[1].is_finite() {
        return goal;
    }
    let mut v = 1;
    while prev[v] != 0 {
        v = prev[v];
    }
    nodes[v]
}

/// One demonstration: a fresh start, a random mode, the noisy expert until both blocks are in
/// targets (that state is the terminal row, with a zero action) or `cap` rows.
pub fn demo_episode(recipe: DatasetRecipe, cap: usize, seed: u64) -> Result<(Dataset, BlockPushMode)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut env = BlockPushEnv::new("blockpush2");
    let mut obs = [0.0f32; BlockPushEnv::OBS_DIM];
    env.reset_into(rng.random(), None, &mut obs)?;
    let expert = BlockPushExpert::random(&mut rng);
    let mut ds = Dataset::new(BlockPushEnv::OBS_DIM, 2, BlockPushEnv::OBS_DIM, BlockPushEnv::OBS_DIM, 0);
    ds.reserve(cap.min(MAX_EPISODE_STEPS));
    for t in 0..cap {
        env.observe(&mut obs);
        let last = env.score == TARGETS.len() || t + 1 == cap;
        let a = if last { [0.0; 2] } else { expert.noisy_action(&env, recipe.noise, &mut rng) };
        ds.observations.extend_from_slice(&obs);
        ds.actions.extend_from_slice(&a);
        ds.terminals.push(if last { 1.0 } else { 0.0 });
        ds.qpos.extend_from_slice(&obs);
        ds.qvel.extend_from_slice(&[0.0; BlockPushEnv::OBS_DIM]);
        if last {
            break;
        }
        env.advance(a);
    }
    Ok((ds, expert.mode))
}

/// Demos end when both blocks are in targets (127–240 rows); noise 0.2, a manipulation-sized
/// noise (OGBench's cube oracle uses 0.1) that still leaves 200/200 demos.
const DEMOS: DatasetRecipe = DatasetRecipe { kind: DataKind::Demos, episodes: 200, episode_len: MAX_EPISODE_STEPS, noise: 0.2 };

/// The blockpush2 family's row: one imitation task.
pub static FAMILY: Family = Family {
    // Scaled, unlike the reference's UR3 BlockPush (metre coordinates, of order one): our
    // observations are in table units, [1, 12.8] (actions are already [−1, 1]).
    tasks: &[BaseTask { name: "blockpush2", stands_in_for: StandsIn::Study("UR3 BlockPush (VQ-BeT; human demos, ours scripted)"), kind: BaseKind::Imitation(DEMOS, Scaling::MinMax), params: () }],
    make: |_, name, _| Box::new(BlockPushEnv::new(name)),
    episode: |_, recipe, len, seed| demo_episode(recipe, len, seed).map(|(demo, _)| demo),
    singletask_rewards: None,
};
