//! The maze tasks: `pointmaze-*` (OGBench point dynamics), `accelmaze-*` (a double integrator
//! standing in for the humanoid's slow, momentum-laden control) and the three JaxGCRL online
//! mazes.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::dataset::Dataset;
use crate::env::{check_reset, pick_task, BoxSpec, Env, Episode, GoalEnv, Info, TaskInfo, Transition};
use crate::error::{EnvError, Result};
use crate::expert::MazeExpert;
use crate::family::{BaseKind, BaseTask, Family, Relabelled, StandsIn};
use crate::recipe::{DataKind, DatasetRecipe, NAVIGATE, STITCH};
use crate::relabel::reach_rewards;
// The agent's dynamics live with the maze geometry so that the expert, which plans with them,
// needs no import of this file (which lists the expert's episodes in its family row).
use crate::maze::{ogbench_tasks, Convention, Layout, Maze, MAZE_UNIT, TELEPORT_IN, TELEPORT_OUT, TELEPORT_RADIUS};
pub use crate::maze::{Dynamics, ACCEL_DECAY, ACCEL_GAIN, POINT_STEP};
use crate::shapes::{check_row, episode_start, path, Colour, Draw, Item, Layer, Paint, Scene, Shape, View};

/// OGBench's goal tolerance for the point agent.
pub const GOAL_TOL: f32 = 1.0;
/// JaxGCRL's success radius and its looser `success_easy` radius.
pub const ONLINE_TOL: f32 = 0.5;
pub const ONLINE_TOL_EASY: f32 = 2.0;

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
    /// `[x, y, vx, vy, goal x, goal y, steps, task]`. The online mazes draw no randomness while
    /// stepping (only teleports do, and no online maze has them), so this is the whole state.
    fn snapshot(&self) -> Option<Vec<f32>> {
        let task = self.task.map_or(0.0, |k| k as f32);
        Some(vec![self.pos[0], self.pos[1], self.vel[0], self.vel[1], self.goal_xy[0], self.goal_xy[1], self.episode.steps() as f32, task])
    }
    fn restore(&mut self, snapshot: &[f32]) -> Result<()> {
        let &[x, y, vx, vy, gx, gy, steps, task] = snapshot else {
            return Err(EnvError::Invalid(format!("{}: a snapshot has 8 values, got {}", self.name, snapshot.len())));
        };
        if snapshot.iter().any(|v| !v.is_finite()) || steps < 0.0 || steps as usize >= self.max_steps {
            return Err(EnvError::Invalid(format!("{}: snapshot {snapshot:?} is not a running episode", self.name)));
        }
        self.set_goal([gx, gy]);
        self.set_state([x, y], [vx, vy]);
        self.episode = Episode::running(steps as usize);
        self.task = (task > 0.0).then_some(task as usize);
        Ok(())
    }
    fn coverage_regions(&self) -> usize {
        self.maze.free_cells().len()
    }
    fn coverage_region(&self, obs: &[f32]) -> Option<usize> {
        let (i, j) = self.maze.xy_to_ij([obs[0], obs[1]]);
        if i < 0 || j < 0 || !self.maze.is_free((i as usize, j as usize)) {
            return None;
        }
        // The index in `Maze::free_cells`' row-major order: the free cells before (i, j).
        let (i, j) = (i as usize, j as usize);
        let cols = self.maze.cols();
        Some((0..i * cols + j).filter(|&k| self.maze.is_free((k / cols, k % cols))).count())
    }
}

/// Which maze a base task runs.
#[derive(Clone, Copy, Debug)]
pub enum MazeSpec {
    /// An OGBench map with the point or the accelerating agent.
    Ogbench(Layout, Dynamics),
    /// A JaxGCRL online maze and the cells of its `hard` goal set (`ant_maze.py`).
    Online(Layout, &'static [(usize, usize)]),
}

/// Navigate episodes of 2000 steps: accelmaze's (it stands in for humanoidmaze, whose episodes
/// are 2000 steps) and, half as many, the giant maze's (`commands.sh`).
const NAVIGATE_LONG: DatasetRecipe = DatasetRecipe { episode_len: 2001, ..NAVIGATE };
const NAVIGATE_GIANT: DatasetRecipe = DatasetRecipe { episodes: 500, ..NAVIGATE_LONG };

const fn ogbench(name: &'static str, stands_in_for: StandsIn, recipe: DatasetRecipe, layout: Layout, dynamics: Dynamics) -> BaseTask<MazeSpec> {
    BaseTask { name, stands_in_for, kind: BaseKind::GoalConditioned(recipe), params: MazeSpec::Ogbench(layout, dynamics) }
}

/// JaxGCRL's online mazes: U_MAZE, BIG_MAZE (= OGBench medium) and HARDEST_MAZE (= OGBench
/// large) in JaxGCRL's (4i, 4j) convention. Every free cell but the start R=(1,1) is a G cell;
/// the `hard` goals are those of the paper's `ant_maze.py`.
const fn online(name: &'static str, row: &'static str, layout: Layout, hard: &'static [(usize, usize)]) -> BaseTask<MazeSpec> {
    BaseTask { name, stands_in_for: StandsIn::Study(row), kind: BaseKind::Online, params: MazeSpec::Online(layout, hard) }
}

/// The maze family's row: OGBench's point mazes, accelmaze, and JaxGCRL's online mazes.
pub static FAMILY: Family<MazeSpec> = Family {
    tasks: &[
        ogbench("pointmaze-medium-navigate", StandsIn::Ogbench("pointmaze-medium-navigate"), NAVIGATE, Layout::Medium, Dynamics::Point),
        ogbench("pointmaze-medium-stitch", StandsIn::Study("antmaze-medium-stitch"), STITCH, Layout::Medium, Dynamics::Point),
        ogbench("pointmaze-large-navigate", StandsIn::Study("antmaze-large-navigate"), NAVIGATE, Layout::Large, Dynamics::Point),
        ogbench("pointmaze-large-stitch", StandsIn::Ogbench("pointmaze-large-stitch"), STITCH, Layout::Large, Dynamics::Point),
        ogbench("pointmaze-giant-navigate", StandsIn::Ogbench("pointmaze-giant-navigate"), NAVIGATE_GIANT, Layout::Giant, Dynamics::Point),
        ogbench("pointmaze-giant-stitch", StandsIn::Ogbench("pointmaze-giant-stitch"), STITCH, Layout::Giant, Dynamics::Point),
        ogbench("pointmaze-teleport-navigate", StandsIn::Ogbench("pointmaze-teleport-navigate"), NAVIGATE, Layout::Teleport, Dynamics::Point),
        ogbench("pointmaze-teleport-stitch", StandsIn::Ogbench("pointmaze-teleport-stitch"), STITCH, Layout::Teleport, Dynamics::Point),
        ogbench("accelmaze-medium-navigate", StandsIn::Study("humanoidmaze-medium-navigate"), NAVIGATE_LONG, Layout::Medium, Dynamics::Accel),
        online("pointmaze-umaze-online", "ant_u_maze (JaxGCRL)", Layout::UMaze, &[(3, 1)]),
        online("pointmaze-bigmaze-online", "ant_big_maze (JaxGCRL)", Layout::Medium, &[(1, 5), (1, 6), (2, 6), (6, 3), (6, 5), (6, 6)]),
        online("pointmaze-hardestmaze-online", "ant_hardest_maze (JaxGCRL)", Layout::Large, &[(3, 8), (5, 4), (7, 10)]),
    ],
    make: |t, name, singletask| Box::new(maze_env(t.params, name, singletask)),
    episode: |t, recipe, len, seed| Ok(maze_episode(maze_env(t.params, t.name, None), recipe, len, seed)),
    singletask_rewards: Some(maze_singletask_rewards),
};

/// The concrete maze of `spec` (pictures and experts need the map, which the trait object hides).
pub fn maze_env(spec: MazeSpec, name: &str, singletask: Option<usize>) -> MazeEnv {
    match spec {
        MazeSpec::Ogbench(layout, dynamics) => MazeEnv::new(name, layout, dynamics, Mode::Ogbench { singletask }),
        MazeSpec::Online(layout, hard) => {
            let maze = Maze::new(layout, Convention::JaxGcrl);
            let easy: Vec<(usize, usize)> = maze.free_cells().into_iter().filter(|&c| c != (1, 1)).collect();
            MazeEnv::new(name, layout, Dynamics::Point, Mode::Online { easy, hard: hard.to_vec() })
        }
    }
}

/// OGBench's locomotion relabelling: the agent (`qpos[0..2]`) within the goal tolerance of
/// task `k`'s noiseless goal.
fn maze_singletask_rewards(t: &BaseTask<MazeSpec>, task: &str, k: usize, ds: &Dataset) -> Result<Relabelled> {
    let env = maze_env(t.params, task, Some(k));
    let (_, goal_cell) = env.task_cells(k).expect("OGBench maze tasks have cells");
    let g = env.maze().ij_to_xy(goal_cell);
    if ds.qpos_dim < 2 {
        return Err(EnvError::Invalid(format!("{task}: dataset qpos has {} columns, need the agent's x, y", ds.qpos_dim)));
    }
    Ok(reach_rewards(ds, 0, g, env.goal_tol()))
}

/// One navigate or stitch episode (`generate_locomaze.py`):
/// - start in a uniformly drawn free cell, ±1 noise;
/// - navigate: goals are vertex cells, resampled each time the agent gets within 1.0;
///   stitch: one goal exactly 4 BFS cells from the start (the start itself if none is);
/// - action = BFS-waypoint expert + N(0, noise²), clipped.
fn maze_episode(mut env: MazeEnv, recipe: DatasetRecipe, len: usize, seed: u64) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    env.reseed(rng.random());
    let maze = env.maze().clone();
    let dynamics = env.dynamics();
    let all = maze.free_cells();
    let vertex = maze.vertex_cells();
    let jitter = |rng: &mut ChaCha8Rng, xy: [f32; 2]| [xy[0] + rng.random_range(-1.0f32..=1.0), xy[1] + rng.random_range(-1.0f32..=1.0)];

    let init = all[rng.random_range(0..all.len())];
    let goal_cell = match recipe.kind {
        DataKind::Stitch => {
            let d = maze.bfs(init);
            let four: Vec<_> = all.iter().copied().filter(|c| d[c.0 * maze.cols() + c.1] == 4).collect();
            if four.is_empty() {
                init
            } else {
                four[rng.random_range(0..four.len())]
            }
        }
        _ => vertex[rng.random_range(0..vertex.len())],
    };
    let init_xy = jitter(&mut rng, maze.ij_to_xy(init));
    env.set_state(init_xy, [0.0; 2]);
    let mut expert = MazeExpert::new(&maze, jitter(&mut rng, maze.ij_to_xy(goal_cell)));

    let obs_dim = env.observation_spec().dim();
    let mut ds = Dataset::new(obs_dim, 2, 2, 2, 0);
    ds.reserve(len);
    let mut obs = vec![0.0f32; obs_dim];
    for t in 0..len {
        env.observe(&mut obs);
        let (p, v) = (env.pos(), env.vel());
        let a = expert.noisy_action(&maze, dynamics, p, v, recipe.noise, &mut rng);
        ds.observations.extend_from_slice(&obs);
        ds.actions.extend_from_slice(&a);
        ds.terminals.push(if t + 1 == len { 1.0 } else { 0.0 });
        ds.qpos.extend_from_slice(&p);
        ds.qvel.extend_from_slice(&v);
        env.advance(a);
        if recipe.kind == DataKind::Navigate {
            let g = expert.goal_xy();
            let q = env.pos();
            if ((q[0] - g[0]).powi(2) + (q[1] - g[1]).powi(2)).sqrt() <= GOAL_TOL {
                let c = vertex[rng.random_range(0..vertex.len())];
                expert = MazeExpert::new(&maze, jitter(&mut rng, maze.ij_to_xy(c)));
            }
        }
    }
    ds
}
