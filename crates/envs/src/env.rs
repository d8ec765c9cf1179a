//! The gymnasium-shaped environment API shared by every native task.

use crate::error::{EnvError, Result};
use crate::shapes::Draw;

/// An axis-aligned box: the observation or action space of a task.
#[derive(Clone, Debug, PartialEq)]
pub struct BoxSpec {
    pub low: Vec<f32>,
    pub high: Vec<f32>,
}

impl BoxSpec {
    pub fn new(low: Vec<f32>, high: Vec<f32>) -> Self {
        assert_eq!(low.len(), high.len(), "BoxSpec bounds differ in length");
        Self { low, high }
    }
    /// `dim` copies of `[lo, hi]`.
    pub fn uniform(dim: usize, lo: f32, hi: f32) -> Self {
        Self { low: vec![lo; dim], high: vec![hi; dim] }
    }
    pub fn dim(&self) -> usize {
        self.low.len()
    }
    /// Clamps `x` into the box in place (what the evaluation protocol does to policy actions).
    pub fn clip(&self, x: &mut [f32]) {
        for ((v, lo), hi) in x.iter_mut().zip(&self.low).zip(&self.high) {
            *v = v.clamp(*lo, *hi);
        }
    }
    pub fn contains(&self, x: &[f32]) -> bool {
        x.len() == self.dim() && x.iter().zip(&self.low).zip(&self.high).all(|((v, lo), hi)| *v >= *lo && *v <= *hi)
    }
}

/// What one step reports besides the observation (kept separate so batched stepping can write
/// observations into one flat buffer without allocating).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Transition {
    pub reward: f32,
    /// The task ended (goal reached in goal-conditioned mode).
    pub terminated: bool,
    /// The time limit was hit.
    pub truncated: bool,
    pub info: Info,
}

/// Per-step diagnostics, as OGBench's `info` dict carries them.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Info {
    /// The task's success rule holds after this step.
    pub success: bool,
    /// JaxGCRL's looser `success_easy` (distance < 2) for the online mazes; equals `success` elsewhere.
    pub success_easy: bool,
    /// The task's score after this step, on the scale of [`GoalEnv::top_score`]. Imitation tasks
    /// are scored the way the VQ-BeT suite scores them (PushT: coverage of the goal pose, 0–1;
    /// multigoal4: distinct goals visited, 0–4; blockpush2: blocks in targets, 0–2; kitchen2d:
    /// sub-tasks completed, 0–4); for goal-conditioned tasks it is `success` as 0 or 1.
    pub score: f32,
}

impl Info {
    /// The info of a goal-conditioned step: the score is the success as 0 or 1.
    pub fn goal(success: bool, success_easy: bool) -> Self {
        Self { success, success_easy, score: success as i32 as f32 }
    }
}

/// The gymnasium `step` tuple.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub obs: Vec<f32>,
    pub reward: f32,
    pub terminated: bool,
    pub truncated: bool,
    pub info: Info,
}

/// A named evaluation task (OGBench's `task_infos` entry).
#[derive(Clone, Debug, PartialEq)]
pub struct TaskInfo {
    /// `task1` … `task5` (or `easy` / `hard` for the online mazes).
    pub name: String,
    /// One line a person can read: "(1,1) → (6,6)", "init 000/000/000 → goal 110/101/011".
    pub description: String,
}

/// A control task, shaped like gymnasium's `Env`.
///
/// `reset` and `step` allocate their observation; the `_into` forms write into a caller's buffer
/// and are what [`crate::VecEnv`] and the dataset generators use.
pub trait Env: Send {
    /// The registry name, e.g. `pointmaze-large-navigate`.
    fn name(&self) -> &str;
    fn observation_spec(&self) -> &BoxSpec;
    fn action_spec(&self) -> &BoxSpec;
    /// The evaluation time limit; `truncated` is set on the step that reaches it.
    fn max_episode_steps(&self) -> usize;

    /// Starts an episode. `task` picks an evaluation task (1-based, OGBench's `task_id`); `None`
    /// draws one from `seed` (singletask variants always use their own task).
    fn reset_into(&mut self, seed: u64, task: Option<usize>, obs: &mut [f32]) -> Result<()>;
    /// Applies `action` (clipped to the action box, as the simulator would) and advances one step.
    fn step_into(&mut self, action: &[f32], obs: &mut [f32]) -> Result<Transition>;

    fn reset(&mut self, seed: u64) -> Result<Vec<f32>> {
        let mut obs = vec![0.0; self.observation_spec().dim()];
        self.reset_into(seed, None, &mut obs)?;
        Ok(obs)
    }
    fn step(&mut self, action: &[f32]) -> Result<Step> {
        let mut obs = vec![0.0; self.observation_spec().dim()];
        let t = self.step_into(action, &mut obs)?;
        Ok(Step { obs, reward: t.reward, terminated: t.terminated, truncated: t.truncated, info: t.info })
    }
}

/// A goal-conditioned task: OGBench's evaluation protocol runs each of [`GoalEnv::tasks`].
///
/// The imitation tasks (`pusht`, `multigoal4`, `blockpush2`, `kitchen2d`) implement it too, so one
/// evaluation protocol and one [`crate::VecEnv`] serve every task: they have no goal (an empty
/// [`GoalEnv::goal`]), one evaluation task (random initial states, as VQ-BeT evaluates), and a
/// score larger than 1 where the task counts sub-goals.
///
/// Every task also draws itself ([`Draw`], a supertrait): `env.scene()` is its current state as
/// plain shapes.
pub trait GoalEnv: Env + Draw {
    /// The goal observation (same layout as observations), valid after `reset`; empty for the
    /// imitation tasks, which have no goal.
    fn goal(&self) -> &[f32];
    /// Whether the task's success rule holds in the current state.
    fn success(&self) -> bool;
    /// The named evaluation tasks (5 for OGBench-derived tasks).
    fn tasks(&self) -> &[TaskInfo];
    /// The 1-based task of the current episode, if it came from the task list.
    fn current_task(&self) -> Option<usize>;
    /// Resets to evaluation task `task` (1-based) and returns the first observation.
    fn reset_to_task(&mut self, task: usize, seed: u64) -> Result<Vec<f32>> {
        let mut obs = vec![0.0; self.observation_spec().dim()];
        self.reset_into(seed, Some(task), &mut obs)?;
        Ok(obs)
    }
    /// The best score [`Info::score`] can reach: 1 for goal-conditioned tasks (success), 1 for
    /// PushT (full coverage), 4 for multigoal4 and kitchen2d, 2 for blockpush2.
    fn top_score(&self) -> f32 {
        1.0
    }
    /// Clones the environment into a box (VecEnv builds its copies this way).
    fn boxed_clone(&self) -> Box<dyn GoalEnv>;

    /// The mid-episode state an online run checkpoints so that a killed run resumes bit-exactly
    /// (position, velocity, goal, step count, …); `None` for tasks that are never trained online.
    fn snapshot(&self) -> Option<Vec<f32>> {
        None
    }
    /// Puts the environment back into the state of a [`GoalEnv::snapshot`].
    fn restore(&mut self, _snapshot: &[f32]) -> Result<()> {
        Err(EnvError::Invalid(format!("{} cannot restore a mid-episode snapshot (only the online mazes train online)", self.name())))
    }
    /// The number of regions exploration is measured over (an online maze's free cells); 0 for
    /// tasks without such a measure.
    fn coverage_regions(&self) -> usize {
        0
    }
    /// The region (index below [`GoalEnv::coverage_regions`]) an observation lies in.
    fn coverage_region(&self, _obs: &[f32]) -> Option<usize> {
        None
    }
}

/// Checks an action's length and finiteness; every `step_into` calls it first.
pub(crate) fn check_action(task: &str, spec: &BoxSpec, action: &[f32]) -> Result<()> {
    if action.len() != spec.dim() {
        return Err(EnvError::ActionDim { task: task.into(), expected: spec.dim(), got: action.len() });
    }
    if let Some((index, &value)) = action.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(EnvError::NonFiniteAction { task: task.into(), index, value });
    }
    Ok(())
}

pub(crate) fn check_obs(task: &str, spec: &BoxSpec, obs: &[f32]) -> Result<()> {
    if obs.len() != spec.dim() {
        return Err(EnvError::ObsDim { task: task.into(), expected: spec.dim(), got: obs.len() });
    }
    Ok(())
}

pub(crate) fn check_task(task: &str, index: usize, count: usize) -> Result<()> {
    if index == 0 || index > count {
        return Err(EnvError::TaskIndex { task: task.into(), index, count });
    }
    Ok(())
}

/// The argument checks every `reset_into` starts with (the twin of [`Episode::begin`]): the
/// observation buffer's length and, when one is asked for, the evaluation task's index.
pub(crate) fn check_reset(name: &str, obs_spec: &BoxSpec, obs: &[f32], task: Option<usize>, n_tasks: usize) -> Result<()> {
    check_obs(name, obs_spec, obs)?;
    if let Some(k) = task {
        check_task(name, k, n_tasks)?;
    }
    Ok(())
}

/// The episode's evaluation task (1-based), as OGBench's reset picks it: a singletask variant's
/// own task, else the one asked for, else one drawn uniformly from `rng`.
pub(crate) fn pick_task(singletask: Option<usize>, task: Option<usize>, n_tasks: usize, rng: &mut impl rand::Rng) -> usize {
    singletask.or(task).unwrap_or_else(|| rng.random_range(1..=n_tasks))
}

/// The episode bookkeeping every task shares: argument checks, the episode-over guard, the step
/// counter and the time limit. A task supplies only its dynamics and its reward rule, so the
/// protocol (a step after the end is an error; a step that did not terminate is truncated at the
/// limit) cannot drift between tasks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Episode {
    steps: usize,
    done: bool,
}

impl Episode {
    /// Before the first reset: stepping is an error until `reset`.
    pub(crate) const NOT_STARTED: Episode = Episode { steps: 0, done: true };

    pub(crate) fn reset(&mut self) {
        *self = Episode { steps: 0, done: false };
    }

    /// The steps taken in the running episode (what a snapshot keeps).
    pub(crate) fn steps(&self) -> usize {
        self.steps
    }

    /// A running episode that has taken `steps` steps (a restored snapshot).
    pub(crate) fn running(steps: usize) -> Self {
        Episode { steps, done: false }
    }

    /// Checks `action` and `obs` against the task's specs and that the episode is running, then
    /// counts the step.
    pub(crate) fn begin(&mut self, task: &str, act_spec: &BoxSpec, obs_spec: &BoxSpec, action: &[f32], obs: &[f32]) -> Result<()> {
        check_action(task, act_spec, action)?;
        check_obs(task, obs_spec, obs)?;
        if self.done {
            return Err(EnvError::EpisodeOver { task: task.into() });
        }
        self.steps += 1;
        Ok(())
    }

    /// Closes the step: one that did not terminate is truncated at `max_steps`; either ends the
    /// episode.
    pub(crate) fn end(&mut self, t: Transition, max_steps: usize) -> Transition {
        let truncated = !t.terminated && self.steps >= max_steps;
        self.done = t.terminated || truncated;
        Transition { truncated, ..t }
    }
}
