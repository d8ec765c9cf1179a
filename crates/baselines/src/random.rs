//! Random: actions drawn uniformly from the action box `[-1, 1]^act_dim`, the floor every
//! trained agent must clear. It has no networks and learns nothing, so it runs every task with a
//! dataset and its run is a single evaluation (see [`RandomConfig`]'s `fit_budget`). Every table
//! shows it, and every agent's wins are also counted against it.
//!
//! This file is the worked example of `docs/adding-a-baseline.md`: an agent is this one file, its
//! config and its [`AgentConfig`] impl, plus one line in the registry (`xtask/src/agents.rs`).

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use envs::{Batch, TaskKind};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rl::{Agent, AgentConfig, DataSpec, Metrics, Result, TrainConfig, UserTable};
use serde::{Deserialize, Serialize};

/// The random agent has nothing to set: an empty `[agent]` section (any key is an error naming
/// it, as for every agent).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RandomConfig {}

/// The policy: only the action width.
pub struct Random {
    act_dim: usize,
}

impl Random {
    pub fn new(act_dim: usize) -> Self {
        Self { act_dim }
    }
}

impl Agent for Random {
    fn name(&self) -> &str {
        RandomConfig::NAME
    }
    fn data_spec(&self) -> DataSpec {
        RandomConfig {}.data_spec()
    }
    fn update(&mut self, _batch: &Batch, _rng: &mut ChaCha8Rng) -> Result<Metrics> {
        Ok(Vec::new())
    }
    fn act(&self, _obs: &[f32], _goals: Option<&[f32]>, n: usize, rng: &mut ChaCha8Rng) -> Result<Vec<f32>> {
        Ok((0..n * self.act_dim).map(|_| rng.random_range(-1.0f32..=1.0)).collect())
    }
    fn state(&self) -> Result<Vec<(String, Tensor)>> {
        Ok(Vec::new())
    }
    fn load_state(&mut self, _state: &HashMap<String, Tensor>) -> Result<()> {
        Ok(())
    }
}

impl AgentConfig for RandomConfig {
    const NAME: &'static str = "random";
    const SOURCE: &'static str = file!();
    // The floor is compared against nothing; the registry compares every other agent with it.
    type Agent = Random;

    /// One observation in, one action out, every step: the one spec that every dataset serves
    /// (goal-conditioned, singletask and imitation alike), and evaluation then calls `act` at
    /// each step exactly as for a plain policy.
    fn data_spec(&self) -> DataSpec {
        DataSpec::Chunks { obs_history: 1, action_chunk: 1, execute: 1 }
    }
    /// Chunks of one run the base tasks; the policy ignores rewards too, so it also runs the
    /// singletask variants.
    fn task_kinds(&self) -> Vec<TaskKind> {
        vec![TaskKind::GoalConditioned, TaskKind::Singletask, TaskKind::Imitation]
    }
    /// Whatever the suite's budget, one step (a no-op update) and one evaluation: training
    /// cannot change a random policy, and this keeps the floor's run to the evaluation's cost.
    fn fit_budget(&mut self, train: &mut TrainConfig, _user: &UserTable) {
        train.steps = 1;
        train.eval_every = 1;
    }
    fn build(&self, _obs_dim: usize, act_dim: usize, _seed: u64, _device: &Device) -> Result<Random> {
        Ok(Random::new(act_dim))
    }
}
