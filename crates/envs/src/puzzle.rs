//! kinpuzzle: Lights-Out pressed by a kinematic effector (being written).

use crate::dataset::Dataset;
use crate::env::{BoxSpec, Env, GoalEnv, TaskInfo, Transition};
use crate::error::Result;
use crate::registry::DatasetRecipe;

#[derive(Clone, Debug)]
pub struct PuzzleEnv {
    name: String,
    spec: BoxSpec,
    tasks: Vec<TaskInfo>,
}

impl PuzzleEnv {
    pub fn new(name: &str, _rows: usize, _cols: usize, _singletask: Option<usize>) -> Self {
        Self { name: name.into(), spec: BoxSpec::uniform(5, -1.0, 1.0), tasks: vec![] }
    }
}

impl Env for PuzzleEnv {
    fn name(&self) -> &str {
        &self.name
    }
    fn observation_spec(&self) -> &BoxSpec {
        &self.spec
    }
    fn action_spec(&self) -> &BoxSpec {
        &self.spec
    }
    fn max_episode_steps(&self) -> usize {
        500
    }
    fn reset_into(&mut self, _seed: u64, _task: Option<usize>, _obs: &mut [f32]) -> Result<()> {
        unimplemented!("kinpuzzle is being written")
    }
    fn step_into(&mut self, _action: &[f32], _obs: &mut [f32]) -> Result<Transition> {
        unimplemented!("kinpuzzle is being written")
    }
}

impl GoalEnv for PuzzleEnv {
    fn goal(&self) -> &[f32] {
        &[]
    }
    fn success(&self) -> bool {
        false
    }
    fn tasks(&self) -> &[TaskInfo] {
        &self.tasks
    }
    fn current_task(&self) -> Option<usize> {
        None
    }
    fn boxed_clone(&self) -> Box<dyn GoalEnv> {
        Box::new(self.clone())
    }
}

/// One play episode of the button oracle.
pub fn play_episode(_task: &str, _recipe: DatasetRecipe, _len: usize, _seed: u64) -> Result<Dataset> {
    unimplemented!("kinpuzzle is being written")
}
