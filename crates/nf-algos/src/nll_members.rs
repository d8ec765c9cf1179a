//! The member-ensemble form shared by the flow-likelihood agents (NF-GCBC, NF-BC): E solo
//! agents' flows and optimisers in one graph, each member trained on `−mean log π(x + σε | c)`
//! of its own batch with its own noise stream, and saved as its solo agent's `policy.*` and
//! `opt.*` tensors.

use std::collections::HashMap;

use candle_core::Tensor;
use envs::Batch;
use nf_core::{ConditionalFlow, Trainer};
use rand_chacha::ChaCha8Rng;
use rl::{member_rows_tensor, step_members, DataSpec, Members, Metrics, Result};

/// What a batch row conditions the flow on.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Condition {
    /// `[s, g]`, each `obs_dim` wide (NF-GCBC).
    ObsGoal(usize),
    /// The observation field as it is (NF-BC's stacked history, this many values).
    Obs(usize),
}

pub struct NllMembers {
    flow: ConditionalFlow,
    trainer: Trainer,
    spec: DataSpec,
    cond: Condition,
    /// Width of the modelled action (chunk) per row.
    x_dim: usize,
}

impl NllMembers {
    pub(crate) fn new(flow: ConditionalFlow, trainer: Trainer, spec: DataSpec, cond: Condition, x_dim: usize) -> Self {
        Self { flow, trainer, spec, cond, x_dim }
    }
}

impl Members for NllMembers {
    fn count(&self) -> usize {
        self.flow.member_count().unwrap_or(1)
    }
    fn data_spec(&self) -> DataSpec {
        self.spec.clone()
    }
    fn update(&mut self, batches: &[Batch], rngs: &mut [ChaCha8Rng], live: &[bool]) -> Result<Vec<Option<Result<Metrics>>>> {
        let dev = self.flow.device().clone();
        let cond = match self.cond {
            Condition::ObsGoal(d) => member_rows_tensor(batches, |b| vec![(&b.observations, d), (&b.goals, d)], &dev)?,
            Condition::Obs(d) => member_rows_tensor(batches, |b| vec![(&b.observations, d)], &dev)?,
        };
        let x_dim = self.x_dim;
        let x = member_rows_tensor(batches, |b| vec![(&b.actions, x_dim)], &dev)?;
        // Σ_e L_e over the live members with a finite loss: member e's gradient is its own.
        let losses = self.flow.member_nll_losses(&x, Some(&cond), rngs)?;
        let trainer = &mut self.trainer;
        let checked = step_members(&losses, "nll", live, |total| Ok(trainer.step(total).map(|_| ())?))?;
        let lr = self.trainer.optimizer().lr;
        Ok(checked.into_iter().map(|c| c.map(|r| r.map(|nll| vec![("nll".into(), nll), ("lr".into(), lr)]))).collect())
    }
    fn member_state(&self, e: usize) -> Result<Vec<(String, Tensor)>> {
        let mut out: Vec<(String, Tensor)> = self.flow.member_tensors(e)?.into_iter().map(|(k, v)| (format!("policy.{k}"), v)).collect();
        out.extend(self.trainer.optimizer().member_state("opt", e, self.count())?);
        Ok(out)
    }
    fn load_member_state(&mut self, e: usize, state: &HashMap<String, Tensor>) -> Result<()> {
        self.flow.set_member_tensors(e, state, "policy.")?;
        let n = self.count();
        self.trainer.optimizer_mut().load_member_state("opt", e, n, state)?;
        Ok(())
    }
}
