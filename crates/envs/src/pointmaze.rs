//! The maze tasks: `pointmaze-*` (OGBench point dynamics), `accelmaze-*` (a double integrator
//! standing in for the humanoid's slow, momentum-laden control) and the three JaxGCRL online
//! mazes.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::dataset::Dataset;
use crate::env::{check_reset, pick_task, BoxSpec, Env, Episode, GoalEnv, Info, TaskInfo, Transition};
use crate::error::Result;
use crate::maze::{ogbench_tasks, Convention, Layout, Maze, MAZE_UNIT, TELEPORT_IN, TELEPORT_OUT, TELEPORT_RADIUS};
use crate::shapes::{check_row, episode_start, path, Colour, Draw, Item, Layer, Paint, Scene, Shape, View};

/// OGBench's `PointEnv`: `qpos += 0.2·clip(a)`, the physics steps only resolve contacts.
pub const POINT_STEP: f32 = 0.2;
/// accelmaze: `v ← ACCEL_DECAY·v + ACCEL_GAIN·clip(a)`, `x ← x + v`. The terminal speed is
/// `ACCEL_GAIN / (1 − ACCEL_DECAY) = 0.1` per axis, half the point agent's, and a velocity
/// change takes ~5 steps to settle, so the agent must brake before corners. Episodes are 2000
/// steps, as humanoidmaze-medium's are. Wall contact removes the velocity into the wall.
pub const ACCEL_DECAY: f32 = 0.8;
pub const ACCEL_GAIN: f32 = 0.02;
/// OGBench's goal tolerance for the point agent.
pub const GOAL_TOL: f32 = 1.0;
/// JaxGCRL's success radius and its looser `success_easy` radius.
pub const ONLINE_TOL: f32 = 0.5;
pub const ONLINE_TOL_EASY: f32 = 2.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dynamics {
    Point,
    Accel,
}

/// How episodes begin and what counts as success.
#[derive(Clone, Debug)]
pub enum Mode {
    /// OGBench goal-conditioned evaluation: 5 (init, goal) cell pairs, ±1 position noise,
    /// success within 1.0, termination at the goal. With `singletask = Some(k)` the task is fixed,
    /// the goal noise is off and the reward is `success − 1` (OGBench's singletask variant).
    Ogbench { singletask: Option<usize> },
    /// JaxGCRL online maze: start at the R cell (1,1) (±0.1), goals drawn from a goal set
    /// (`easy` = every G cell, `hard` = the far cells of `ant_maze.py`), success within 0.5,
    /// no termination.
    Online { easy: Vec<(usize, usize)>, hard: Vec<(usize, usize)> },
}

#[derive(Clone, Debug)]
pub struct MazeEnv {
    name: String,
    maze: Maze,
    dynamics: Dynamics,
    mode: Mode,
    obs_spec: BoxSpec,
    act_spec: BoxSpec,
    max_steps: usize,
    tasks: Vec<TaskInfo>,
    // State.
    pos: [f32; 2],
    vel: [f32; 2],
    goal_xy: [f32; 2],
    goal_obs: Vec<f32>,
    episode: Episode,
    task: Option<usize>,
    rng: ChaCha8Rng,
}

impl MazeEnv {
    /// A maze task; `name` is its registry name.
    pub fn new(name: &str, layout: Layout, dynamics: Dynamics, mode: Mode) -> Self {
        let convention = if matches!(mode, Mode::Online { .. }) { Convention::JaxGcrl } else { Convention::Ogbench };
        let maze = Maze::new(layout, convention);
        let (lo, hi) = maze.bounds();
        let obs_spec = match dynamics {
            Dynamics::Point => BoxSpec::new(vec![lo[0], lo[1]], vec![hi[0], hi[1]]),
            Dynamics::Accel => {
                let v = ACCEL_GAIN / (1.0 - ACCEL_DECAY);
                BoxSpec::new(vec![lo[0], lo[1], -v, -v], vec![hi[0], hi[1], v, v])
            }
        };
        let max_steps = match (&mode, dynamics) {
            (Mode::Online { .. }, _) => 1000,
            (_, Dynamics::Point) => 1000,
            (_, Dynamics::Accel) => 2000,
        };
        let tasks = match &mode {
            Mode::Ogbench { .. } => {
                ogbench_tasks(layout).iter().enumerate().map(|(k, (a, b))| TaskInfo { name: format!("task{}", k + 1), description: format!("({},{}) → ({},{})", a.0, a.1, b.0, b.1) }).collect()
            }
            Mode::Online { easy, hard } => {
                vec![TaskInfo { name: "easy".into(), description: format!("any of the {} G cells", easy.len()) }, TaskInfo { name: "hard".into(), description: format!("{hard:?}") }]
            }
        };
        let obs_dim = obs_spec.dim();
        let mut env = Self {
            name: name.into(),
            maze,
            dynamics,
            mode,
            obs_spec,
            act_spec: BoxSpec::uniform(2, -1.0, 1.0),
            max_steps,
            tasks,
            pos: [0.0; 2],
            vel: [0.0; 2],
            goal_xy: [0.0; 2],
            goal_obs: vec![0.0; obs_dim],
            episode: Episode::NOT_STARTED,
            task: None,
            rng: ChaCha8Rng::seed_from_u64(0),
        };
        env.set_goal(env.pos);
        env
    }

    pub fn maze(&self) -> &Maze {
        &self.maze
    }
    pub fn dynamics(&self) -> Dynamics {
        self.dynamics
    }
    pub fn mode(&self) -> &Mode {
        &self.mode
    }
    pub fn pos(&self) -> [f32; 2] {
        self.pos
    }
    pub fn vel(&self) -> [f32; 2] {
        self.vel
    }
    pub fn goal_xy(&self) -> [f32; 2] {
        self.goal_xy
    }
    pub fn goal_tol(&self) -> f32 {
        match self.mode {
            Mode::Online { .. } => ONLINE_TOL,
            Mode::Ogbench { .. } => GOAL_TOL,
        }
    }
    /// OGBench's `(init_ij, goal_ij)` for evaluation task `k` (1-based); `None` for online mazes.
    pub fn task_cells(&self, k: usize) -> Option<((usize, usize), (usize, usize))> {
        match self.mode {
            Mode::Ogbench { .. } => ogbench_tasks(self.maze.layout).get(k.wrapping_sub(1)).copied(),
            Mode::Online { .. } => None,
        }
    }
    /// Places the agent (the dataset generators start episodes anywhere, as OGBench's do).
    pub fn set_state(&mut self, pos: [f32; 2], vel: [f32; 2]) {
        self.pos = pos;
        self.vel = if self.dynamics == Dynamics::Accel { vel } else { [0.0; 2] };
        self.episode.reset();
    }
    /// Sets the goal; the goal observation is the observation of standing still at it.
    pub fn set_goal(&mut self, xy: [f32; 2]) {
        self.goal_xy = xy;
        self.goal_obs.fill(0.0);
        self.goal_obs[..2].copy_from_slice(&xy);
    }
    /// Reseeds the environment's own randomness (teleport destinations).
    pub fn reseed(&mut self, seed: u64) {
        self.rng = ChaCha8Rng::seed_from_u64(seed);
    }
    pub fn observe(&self, obs: &mut [f32]) {
        obs[0] = self.pos[0];
        obs[1] = self.pos[1];
        if self.dynamics == Dynamics::Accel {
            obs[2] = self.vel[0];
            obs[3] = self.vel[1];
        }
    }
    fn dist_to_goal(&self) -> f32 {
        let (dx, dy) = (self.pos[0] - self.goal_xy[0], self.pos[1] - self.goal_xy[1]);
        (dx * dx + dy * dy).sqrt()
    }

    /// The dynamics alone: moves the agent by a (clipped) action, resolves wall contact and
    /// applies teleports. No bookkeeping, so the generators and benchmarks can call it directly.
    #[inline]
    pub fn advance(&mut self, action: [f32; 2]) {
        let a = [action[0].clamp(-1.0, 1.0), action[1].clamp(-1.0, 1.0)];
        match self.dynamics {
            Dynamics::Point => {
                self.maze.sweep(&mut self.pos, [POINT_STEP * a[0], POINT_STEP * a[1]]);
            }
            Dynamics::Accel => {
                self.vel[0] = ACCEL_DECAY * self.vel[0] + ACCEL_GAIN * a[0];
                self.vel[1] = ACCEL_DECAY * self.vel[1] + ACCEL_GAIN * a[1];
                // Inelastic contact: an axis stopped by a wall loses its velocity.
                let hit = self.maze.sweep(&mut self.pos, self.vel);
                for (v, stopped) in self.vel.iter_mut().zip(hit) {
                    if stopped {
                        *v = 0.0;
                    }
                }
            }
        }
        if self.maze.layout == Layout::Teleport {
            for ij in TELEPORT_IN {
                let c = self.maze.ij_to_xy(ij);
                let (dx, dy) = (self.pos[0] - c[0], self.pos[1] - c[1]);
                if dx * dx + dy * dy <= TELEPORT_RADIUS * TELEPORT_RADIUS {
                    let out = TELEPORT_OUT[self.rng.random_range(0..TELEPORT_OUT.len())];
                    self.pos = self.maze.ij_to_xy(out);
                    self.vel = [0.0; 2];
                    break;
                }
            }
        }
    }
}

impl Draw for MazeEnv {
    /// Walls, the agent (a disc) and the goal (a square; an online maze also shows the cells its
    /// goals are drawn from).
    fn scene(&self) -> Scene {
        let mut s = maze_scene(&self.maze);
        if let Mode::Online { easy, hard } = &self.mode {
            let cells = if self.task == Some(2) { hard } else { easy };
            for &ij in cells {
                s.goal(Shape::disc(self.maze.ij_to_xy(ij), 0.6), Paint::fill(Colour::Goal).opacity(0.5));
            }
        }
        s.goal(Shape::square(self.goal_xy, 0.8), Paint::fill(Colour::Goal));
        s.state(Shape::disc(self.pos, 0.6), Paint::fill(Colour::Agent));
        s.legend = "discs: agent starts; squares: goals; grey: dataset paths".into();
        s
    }
    /// The agent at the row's position and its path since the episode began.
    fn scene_of_row(&self, ds: &Dataset, row: usize) -> Result<Scene> {
        check_row(&self.name, ds, row, 2)?;
        let mut s = maze_scene(&self.maze);
        s.state(path(ds, (episode_start(ds, row), row + 1), [0, 1]), Paint::line(Colour::Agent, 2.0).opacity(0.5));
        s.state(Shape::disc([ds.qpos_row(row)[0], ds.qpos_row(row)[1]], 0.6), Paint::fill(Colour::Agent));
        Ok(s)
    }
    fn demo_shapes(&self, ds: &Dataset, rows: (usize, usize), _demo: usize) -> Vec<Item> {
        vec![Item { shape: path(ds, rows, [0, 1]), paint: Paint::line(Colour::Trail, 1.0).opacity(0.25), layer: Layer::Note }]
    }
}

/// A maze's walls (one square per wall cell) and teleporters, in the view that keeps the map's
/// orientation (row 0 on top, as the maps are written): OGBench's y runs down the rows, JaxGCRL's x.
pub(crate) fn maze_scene(maze: &Maze) -> Scene {
    let (lo, hi) = maze.bounds();
    let view = match maze.convention {
        Convention::Ogbench => View::XRightYDown,
        Convention::JaxGcrl => View::XDownYRight,
    };
    let mut s = Scene::new(lo, hi, view);
    for i in 0..maze.rows() {
        for j in 0..maze.cols() {
            if maze.is_wall(i as isize, j as isize) {
                s.fixed(Shape::square(maze.ij_to_xy((i, j)), MAZE_UNIT / 2.0), Paint::fill(Colour::Wall));
            }
        }
    }
    if maze.layout == Layout::Teleport {
        for (cells, colour) in [(&TELEPORT_IN[..], Colour::Rgb(250, 200, 60)), (&TELEPORT_OUT[..], Colour::Rgb(120, 200, 250))] {
            for &ij in cells {
                s.fixed(Shape::disc(maze.ij_to_xy(ij), TELEPORT_RADIUS), Paint::fill(colour).opacity(0.6));
            }
        }
    }
    s
}

fn noisy(rng: &mut ChaCha8Rng, xy: [f32; 2], noise: f32) -> [f32; 2] {
    [xy[0] + rng.random_range(-noise..=noise), xy[1] + rng.random_range(-noise..=noise)]
}

impl Env for MazeEnv {
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
        self.max_steps
    }

    fn reset_into(&mut self, seed: u64, task: Option<usize>, obs: &mut [f32]) -> Result<()> {
        let n_tasks = self.tasks.len();
        check_reset(&self.name, &self.obs_spec, obs, task, n_tasks)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        match &self.mode {
            Mode::Ogbench { singletask } => {
                let k = pick_task(*singletask, task, n_tasks, &mut rng);
                let (init, goal) = ogbench_tasks(self.maze.layout)[k - 1];
                // OGBench adds U(±noise·unit/4) = U(±1) to the start and (goal-conditioned mode
                // only) to the goal.
                let init_xy = noisy(&mut rng, self.maze.ij_to_xy(init), 1.0);
                let goal_xy = if singletask.is_some() { self.maze.ij_to_xy(goal) } else { noisy(&mut rng, self.maze.ij_to_xy(goal), 1.0) };
                self.task = Some(k);
                self.set_goal(goal_xy);
                self.set_state(init_xy, [0.0; 2]);
            }
            Mode::Online { easy, hard } => {
                let k = task.unwrap_or(1);
                let set = if k == 1 { easy } else { hard };
                let goal = set[rng.random_range(0..set.len())];
                let goal_xy = self.maze.ij_to_xy(goal);
                let start = noisy(&mut rng, self.maze.ij_to_xy((1, 1)), 0.1);
                self.task = Some(k);
                self.set_goal(goal_xy);
                self.set_state(start, [0.0; 2]);
            }
        }
        self.rng = ChaCha8Rng::seed_from_u64(rng.random());
        self.observe(obs);
        Ok(())
    }

    fn step_into(&mut self, action: &[f32], obs: &mut [f32]) -> Result<Transition> {
        self.episode.begin(&self.name, &self.act_spec, &self.obs_spec, action, obs)?;
        self.advance([action[0], action[1]]);
        self.observe(obs);
        let d = self.dist_to_goal();
        let t = match &self.mode {
            Mode::Ogbench { singletask } => {
                let success = d <= GOAL_TOL;
                let reward = if singletask.is_some() { success as i32 as f32 - 1.0 } else { success as i32 as f32 };
                Transition { reward, terminated: success, truncated: false, info: Info::goal(success, success) }
            }
            Mode::Online { .. } => {
                let success = d < ONLINE_TOL;
                Transition { reward: success as i32 as f32, terminated: false, truncated: false, info: Info::goal(success, d < ONLINE_TOL_EASY) }
            }
        };
        Ok(self.episode.end(t, self.max_steps))
    }
}

impl GoalEnv for MazeEnv {
    fn goal(&self) -> &[f32] {
        &self.goal_obs
    }
    fn success(&self) -> bool {
        match self.mode {
            Mode::Ogbench { .. } => self.dist_to_goal() <= GOAL_TOL,
            Mode::Online { .. } => self.dist_to_goal() < ONLINE_TOL,
        }
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
