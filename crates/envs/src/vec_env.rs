//! Many environments stepped together, in parallel with rayon, writing into one flat buffer.

use rayon::prelude::*;

use crate::env::{GoalEnv, Transition};
use crate::error::{EnvError, Result};

/// `n` copies of one task. Observations and goals live in flat `[n, obs_dim]` buffers so a
/// policy can consume them as one batch.
pub struct VecEnv {
    envs: Vec<Box<dyn GoalEnv>>,
    obs_dim: usize,
    act_dim: usize,
    obs: Vec<f32>,
    goals: Vec<f32>,
    transitions: Vec<Transition>,
}

impl VecEnv {
    /// `n` copies of `name` (see [`crate::make`]).
    pub fn new(name: &str, n: usize) -> Result<Self> {
        let first = crate::make(name)?;
        Ok(Self::from_env(first.as_ref(), n))
    }
    pub fn from_env(env: &dyn GoalEnv, n: usize) -> Self {
        let obs_dim = env.observation_spec().dim();
        let act_dim = env.action_spec().dim();
        let envs: Vec<_> = (0..n).map(|_| env.boxed_clone()).collect();
        Self { envs, obs_dim, act_dim, obs: vec![0.0; n * obs_dim], goals: vec![0.0; n * obs_dim], transitions: vec![Transition::default(); n] }
    }
    pub fn len(&self) -> usize {
        self.envs.len()
    }
    pub fn is_empty(&self) -> bool {
        self.envs.is_empty()
    }
    pub fn obs_dim(&self) -> usize {
        self.obs_dim
    }
    pub fn act_dim(&self) -> usize {
        self.act_dim
    }
    pub fn envs(&self) -> &[Box<dyn GoalEnv>] {
        &self.envs
    }
    /// `[n, obs_dim]` current observations.
    pub fn observations(&self) -> &[f32] {
        &self.obs
    }
    /// `[n, obs_dim]` goal observations.
    pub fn goals(&self) -> &[f32] {
        &self.goals
    }
    pub fn transitions(&self) -> &[Transition] {
        &self.transitions
    }

    /// Resets env `k` with `seeds[k]` and, if given, evaluation task `task` (1-based).
    pub fn reset(&mut self, seeds: &[u64], task: Option<usize>) -> Result<()> {
        if seeds.len() != self.envs.len() {
            return Err(EnvError::Invalid(format!("VecEnv::reset got {} seeds for {} environments", seeds.len(), self.envs.len())));
        }
        let d = self.obs_dim;
        self.envs.par_iter_mut().zip(self.obs.par_chunks_mut(d)).zip(self.goals.par_chunks_mut(d)).zip(seeds.par_iter()).try_for_each(|(((env, obs), goal), &seed)| {
            env.reset_into(seed, task, obs)?;
            // Imitation tasks have no goal: their row stays zero.
            match env.goal() {
                [] => goal.fill(0.0),
                g => goal.copy_from_slice(g),
            }
            Ok(())
        })
    }

    /// Steps every environment with its row of `actions` (`[n, act_dim]`). Environments whose
    /// episode has ended are skipped (their transition is left as it was), so callers can run
    /// all episodes of an evaluation to completion in lock-step.
    pub fn step(&mut self, actions: &[f32], active: &[bool]) -> Result<()> {
        let n = self.envs.len();
        if actions.len() != n * self.act_dim {
            return Err(EnvError::Invalid(format!("VecEnv::step got {} action values; expected {} environments × {} dims", actions.len(), n, self.act_dim)));
        }
        let (d, a) = (self.obs_dim, self.act_dim);
        self.envs.par_iter_mut().zip(self.obs.par_chunks_mut(d)).zip(actions.par_chunks(a)).zip(self.transitions.par_iter_mut()).zip(active.par_iter()).try_for_each(
            |((((env, obs), act), tr), &on)| {
                if on {
                    *tr = env.step_into(act, obs)?;
                }
                Ok(())
            },
        )
    }

    /// Resets environment `k` alone (an online run's auto-reset at an episode's end).
    pub fn reset_env(&mut self, k: usize, seed: u64, task: Option<usize>) -> Result<()> {
        let d = self.obs_dim;
        let env = &mut self.envs[k];
        env.reset_into(seed, task, &mut self.obs[k * d..(k + 1) * d])?;
        match env.goal() {
            [] => self.goals[k * d..(k + 1) * d].fill(0.0),
            g => self.goals[k * d..(k + 1) * d].copy_from_slice(g),
        }
        Ok(())
    }

    /// Every environment's [`GoalEnv::snapshot`], concatenated (all the same width); an error
    /// names the task when it has none.
    pub fn snapshots(&self) -> Result<Vec<f32>> {
        let mut out = Vec::new();
        for env in &self.envs {
            out.extend(env.snapshot().ok_or_else(|| EnvError::Invalid(format!("{} keeps no mid-episode snapshot", env.name())))?);
        }
        Ok(out)
    }

    /// Puts every environment back into its slice of `snapshots` (from [`VecEnv::snapshots`]),
    /// with its current observation and goal rows.
    pub fn restore(&mut self, snapshots: &[f32], observations: &[f32], goals: &[f32]) -> Result<()> {
        let n = self.envs.len();
        let d = self.obs_dim;
        if n == 0 || !snapshots.len().is_multiple_of(n) || observations.len() != n * d || goals.len() != n * d {
            return Err(EnvError::Invalid(format!(
                "VecEnv::restore: {} snapshot values, {} observation and {} goal values do not fit {n} environments of width {d}",
                snapshots.len(),
                observations.len(),
                goals.len()
            )));
        }
        let w = snapshots.len() / n;
        for (env, snap) in self.envs.iter_mut().zip(snapshots.chunks(w)) {
            env.restore(snap)?;
        }
        self.obs.copy_from_slice(observations);
        self.goals.copy_from_slice(goals);
        Ok(())
    }
}
