//! The one interface every agent implements (OGBench/FQL style: `update(batch) → info`,
//! `sample_actions`), so a new baseline is one new file and one registry line.

use std::collections::HashMap;

use candle_core::Tensor;
use envs::{Batch, GoalConfig, TaskKind};
use rand_chacha::ChaCha8Rng;

use crate::error::{Result, RlError};

/// Named scalars an update reports (losses, Q values, log-probs), logged as they are.
pub type Metrics = Vec<(String, f64)>;

/// What batches an agent trains on.
#[derive(Clone, Debug, PartialEq)]
pub enum DataSpec {
    /// Goal-conditioned imitation: OGBench's GCDataset sampling with this goal mixture.
    GoalConditioned(GoalConfig),
    /// Goal-conditioned value learning (OGBench's GCIVL, GCIQL, QRL, CRL, HIQL): `goals`,
    /// `rewards` and `masks` from the value-goal mixture, `actor_goals` from the actor's, and
    /// HIQL's subgoals when asked for. Acting takes goals like [`DataSpec::GoalConditioned`].
    ValueGoals(envs::ValueGoals),
    /// Offline RL on a singletask variant: transitions with OGBench's relabelled rewards/masks.
    Transitions,
    /// Imitation with an observation history and action chunks (NF-BC, diffusion-policy style):
    /// batches hold `obs_history` stacked observations and `action_chunk` future actions; the
    /// evaluation protocol executes the first `execute` actions of each predicted chunk.
    Chunks { obs_history: usize, action_chunk: usize, execute: usize },
    /// Online goal-conditioned RL (JaxGCRL's loop, [`crate::online`]): no dataset; the agent
    /// collects its own data in parallel environments, with goals it chooses
    /// ([`crate::Explorer`]), and trains on (state, action, future state) triples.
    Online(crate::online::OnlineConfig),
}

impl DataSpec {
    /// Whether the agent acts on goals (and so is evaluated with each task's goal).
    pub fn is_goal_conditioned(&self) -> bool {
        matches!(self, DataSpec::GoalConditioned(_) | DataSpec::ValueGoals(_) | DataSpec::Online(_))
    }

    /// The task kinds whose data this spec can be drawn from, the default answer to "which
    /// tasks does this agent run" (an [`crate::AgentConfig`] may widen it):
    /// - goal-conditioned batches need goals and a goal-conditioned dataset: not the singletask
    ///   variants (their one fixed task is not a goal the policy is given), not the imitation
    ///   tasks (no goals);
    /// - transitions need OGBench's relabelled rewards, which only the singletask variants have;
    /// - chunks need only observations and actions: any base task with a dataset.
    pub fn task_kinds(&self) -> Vec<TaskKind> {
        match self {
            DataSpec::GoalConditioned(_) | DataSpec::ValueGoals(_) => vec![TaskKind::GoalConditioned],
            DataSpec::Transitions => vec![TaskKind::Singletask],
            DataSpec::Chunks { .. } => vec![TaskKind::Imitation, TaskKind::GoalConditioned],
            DataSpec::Online(_) => vec![TaskKind::Online],
        }
    }
}

/// A batch of `n` rows of uniform noise shaped as the training loop's sampler shapes one for
/// `spec` (stacked observation histories and action chunks for chunked agents), with every field
/// filled: what timing an `update` needs (the runner's budget probes, the agent benchmarks)
/// without a dataset.
pub fn synthetic_batch(n: usize, obs_dim: usize, act_dim: usize, spec: &DataSpec, rng: &mut ChaCha8Rng) -> Batch {
    use rand::Rng;
    let (obs, act) = match spec {
        DataSpec::Chunks { obs_history, action_chunk, .. } => (obs_dim * obs_history, act_dim * action_chunk),
        _ => (obs_dim, act_dim),
    };
    let mut v = |k: usize, lo: f32, hi: f32| (0..k).map(|_| rng.random_range(lo..hi)).collect::<Vec<f32>>();
    let (actor_goals, subgoals, subgoal_targets) = match spec {
        DataSpec::ValueGoals(g) if g.subgoal_steps > 0 => (v(n * obs_dim, -1.0, 1.0), v(n * obs_dim, -1.0, 1.0), v(n * obs_dim, -1.0, 1.0)),
        DataSpec::ValueGoals(_) => (v(n * obs_dim, -1.0, 1.0), Vec::new(), Vec::new()),
        _ => Default::default(),
    };
    Batch {
        batch: n,
        obs_dim: obs,
        act_dim: act,
        observations: v(n * obs, -1.0, 1.0),
        actions: v(n * act, -1.0, 1.0),
        next_observations: v(n * obs, -1.0, 1.0),
        next_actions: v(n * act, -1.0, 1.0),
        goals: v(n * obs_dim, -1.0, 1.0),
        rewards: v(n, -1.0, 0.0),
        masks: vec![1.0; n],
        actor_goals,
        subgoals,
        subgoal_targets,
        ..Default::default()
    }
}

/// A trainable, checkpointable policy. Agents never touch the filesystem or the clock: the
/// training loop saves [`Agent::state`] and times the steps.
pub trait Agent: Send {
    /// The registry name (`nf-gcbc`, `gcbc`, …).
    fn name(&self) -> &str;
    fn data_spec(&self) -> DataSpec;
    /// One gradient step on `batch`. A NaN/inf loss term is an [`RlError::NonFinite`] naming the
    /// term (the loop fills in the step and the last checkpoint).
    fn update(&mut self, batch: &Batch, rng: &mut ChaCha8Rng) -> Result<Metrics>;
    /// Actions for `n` rows of observations (`[n, obs_dim]`) and goals (`[n, obs_dim]`, for
    /// goal-conditioned agents); returns `[n, act_dim]`, not yet clipped.
    fn act(&self, obs: &[f32], goals: Option<&[f32]>, n: usize, rng: &mut ChaCha8Rng) -> Result<Vec<f32>>;
    /// Parameters and optimiser state, enough to resume bit-exactly.
    fn state(&self) -> Result<Vec<(String, Tensor)>>;
    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()>;
    /// What an online agent adds (its exploration policy and goal choice); `None` for the
    /// offline agents.
    fn explorer(&self) -> Option<&dyn crate::online::Explorer> {
        None
    }
}

/// A member ensemble of one agent: E runs that differ only in their seed, trained as one graph
/// (parameters stacked along a leading member axis, see `nf_core::ConditionalFlow::members`).
/// Member e is, in every number, the solo agent built with seed e: its batches and noise come
/// from its own streams and its state is saved in the solo agent's format, so a run's results
/// do not depend on which members it was grouped with. On the CPU this buys nothing (a step's
/// cost grows with the rows it computes, grouped or not); on a GPU it fills the device.
pub trait Members: Send {
    fn count(&self) -> usize;
    fn data_spec(&self) -> DataSpec;
    /// One gradient step of every live member: member e trains on `batches[e]` with the noise
    /// stream `rngs[e]` (each used exactly as the solo agent's `update` uses its one stream).
    /// Entry e of the result is `None` for a member not live, else its metrics or the
    /// [`RlError::NonFinite`] of a loss term that was not finite; such a member is left out of
    /// the step (the others still take it).
    fn update(&mut self, batches: &[Batch], rngs: &mut [ChaCha8Rng], live: &[bool]) -> Result<Vec<Option<Result<Metrics>>>>;
    /// Member e's state as its solo agent's [`Agent::state`].
    fn member_state(&self, e: usize) -> Result<Vec<(String, Tensor)>>;
    /// Restores member e from a solo agent's state (a checkpoint).
    fn load_member_state(&mut self, e: usize, state: &HashMap<String, Tensor>) -> Result<()>;
}

/// Member e's variables of an ensemble's VarMap as `{prefix}{name}`, with the solo shapes.
pub fn varmap_member_state(vars: &candle_nn::VarMap, prefix: &str, e: usize) -> Result<Vec<(String, Tensor)>> {
    let mut out = Vec::new();
    for (k, v) in varmap_state(vars, prefix) {
        out.push((k, v.get(e)?));
    }
    Ok(out)
}

/// Sets member e's slice of every variable of an ensemble's `vars` from a solo agent's
/// `{prefix}{name}` tensors (solo shapes).
pub fn load_varmap_member(vars: &candle_nn::VarMap, state: &HashMap<String, Tensor>, prefix: &str, e: usize) -> Result<()> {
    for (name, var) in vars.data().lock().unwrap().iter() {
        let key = format!("{prefix}{name}");
        let t = state.get(&key).ok_or_else(|| RlError::Config { agent: prefix.trim_end_matches('.').into(), reason: format!("checkpoint lacks `{key}`") })?;
        if t.dims() != &var.dims()[1..] {
            return Err(RlError::Config { agent: prefix.trim_end_matches('.').into(), reason: format!("`{key}` has shape {:?}, a member expects {:?}", t.dims(), &var.dims()[1..]) });
        }
        var.as_tensor().slice_set(&t.to_device(var.device())?.to_dtype(var.dtype())?.unsqueeze(0)?, 0, e)?;
    }
    Ok(())
}

/// Each member's [`unit_gaussian_nll`], `[E]`, for actions and means `[E, n, d]`.
pub fn member_unit_gaussian_nll(a: &Tensor, mu: &Tensor) -> Result<Tensor> {
    let d = a.dim(candle_core::D::Minus1)? as f64;
    let half_log_2pi = 0.5 * (2.0 * std::f64::consts::PI).ln() * d;
    Ok(((((a - mu)?.sqr()?.sum(candle_core::D::Minus1)? * 0.5)?.mean(candle_core::D::Minus1)?) + half_log_2pi)?)
}

/// The values of a per-member `[E]` tensor (losses, metrics) as f64, as [`scalar`] reads a solo one.
pub fn member_values(t: &Tensor) -> Result<Vec<f64>> {
    Ok(t.to_dtype(candle_core::DType::F64)?.to_vec1::<f64>()?)
}

/// One optimiser step on `Σ_e losses[e]` over the members that are `live` and whose loss is
/// finite (`term` names it in the error of the others): the common tail of a single-loss
/// ensemble agent's update. Returns each member's loss (`None` when not live).
pub fn step_members(losses: &Tensor, term: &str, live: &[bool], step: impl FnOnce(&Tensor) -> Result<()>) -> Result<Vec<Option<Result<f64>>>> {
    let values = member_values(losses)?;
    let checked: Vec<Option<Result<f64>>> = values.iter().zip(live).map(|(&v, &l)| l.then(|| check_finite(term, v))).collect();
    let stepping: Vec<u32> = checked.iter().enumerate().filter(|(_, c)| matches!(c, Some(Ok(_)))).map(|(e, _)| e as u32).collect();
    if !stepping.is_empty() {
        let idx = Tensor::new(stepping.as_slice(), losses.device())?;
        step(&losses.index_select(&idx, 0)?.sum_all()?)?;
    }
    Ok(checked)
}

/// `[E, n, a]` + `[E, n, b]` rows, one `[n, ·]` block per member batch → one `[E, n, a + b]`
/// tensor (the ensemble form of [`rows_tensor`]); `pick` selects each batch's parts.
pub fn member_rows_tensor(batches: &[Batch], pick: impl Fn(&Batch) -> Vec<(&[f32], usize)>, device: &candle_core::Device) -> Result<Tensor> {
    let n = batches.first().map_or(0, |b| b.batch);
    let mut blocks = Vec::with_capacity(batches.len());
    for b in batches {
        blocks.push(rows_tensor(&pick(b), n, &candle_core::Device::Cpu)?);
    }
    Ok(Tensor::stack(&blocks, 0)?.to_device(device)?)
}

/// Turns a loss tensor's value into an error if it is not finite (term named for the message).
pub fn check_finite(term: &str, value: f64) -> Result<f64> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(RlError::NonFinite { step: 0, term: term.into(), value, last_checkpoint: None })
    }
}

/// Scalar value of a 0-d loss tensor.
pub fn scalar(t: &Tensor) -> Result<f64> {
    Ok(t.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?)
}

/// Every variable of `vars` as `{prefix}{name}` (for [`Agent::state`]).
pub fn varmap_state(vars: &candle_nn::VarMap, prefix: &str) -> Vec<(String, Tensor)> {
    let mut out: Vec<(String, Tensor)> = vars.data().lock().unwrap().iter().map(|(k, v)| (format!("{prefix}{k}"), v.as_tensor().clone())).collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Sets every variable of `vars` from `{prefix}{name}` in `state`; names and shapes must match.
pub fn load_varmap(vars: &candle_nn::VarMap, state: &HashMap<String, Tensor>, prefix: &str) -> Result<()> {
    for (name, var) in vars.data().lock().unwrap().iter() {
        let key = format!("{prefix}{name}");
        let t = state.get(&key).ok_or_else(|| RlError::Config { agent: prefix.trim_end_matches('.').into(), reason: format!("checkpoint lacks `{key}`") })?;
        if t.dims() != var.dims() {
            return Err(RlError::Config { agent: prefix.trim_end_matches('.').into(), reason: format!("`{key}` has shape {:?}, the agent expects {:?}", t.dims(), var.dims()) });
        }
        var.set(&t.to_device(var.device())?)?;
    }
    Ok(())
}

/// Variables of a VarMap in name order (optimiser state is saved by position, so the order must
/// not depend on hashing).
pub fn sorted_vars(vars: &candle_nn::VarMap) -> Vec<candle_core::Var> {
    let data = vars.data().lock().unwrap();
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    names.into_iter().map(|k| data[k].clone()).collect()
}

/// `[n, a]` + `[n, b]` rows from flat slices → one `[n, a + b]` tensor.
pub fn rows_tensor(parts: &[(&[f32], usize)], n: usize, device: &candle_core::Device) -> Result<Tensor> {
    let width: usize = parts.iter().map(|(_, d)| d).sum();
    let mut buf = Vec::with_capacity(n * width);
    for r in 0..n {
        for (data, d) in parts {
            buf.extend_from_slice(&data[r * d..(r + 1) * d]);
        }
    }
    Ok(Tensor::from_vec(buf, (n, width), device)?)
}

/// `Q_i(s, a)` of both critics of a twin-critic agent (TD3 lineage), each squeezed to `[n]`.
pub fn twin_q(nets: &[nf_core::Mlp; 2], s: &Tensor, a: &Tensor) -> Result<[Tensor; 2]> {
    let x = Tensor::cat(&[s, a], candle_core::D::Minus1)?;
    Ok([nets[0].forward(&x)?.squeeze(candle_core::D::Minus1)?, nets[1].forward(&x)?.squeeze(candle_core::D::Minus1)?])
}

/// [`twin_q`] with the critics frozen: gradients reach `a` (and `s`) but not the critics'
/// weights. For actor losses, whose optimiser steps on the actor alone.
pub fn twin_q_frozen(nets: &[nf_core::Mlp; 2], s: &Tensor, a: &Tensor) -> Result<[Tensor; 2]> {
    let x = Tensor::cat(&[s, a], candle_core::D::Minus1)?;
    Ok([nets[0].forward_frozen(&x)?.squeeze(candle_core::D::Minus1)?, nets[1].forward_frozen(&x)?.squeeze(candle_core::D::Minus1)?])
}

/// Polyak averaging `θ̄ ← (1 − τ)·θ̄ + τ·θ` of every variable of `target` towards the variable
/// of the same name in `source`.
pub fn polyak(target: &candle_nn::VarMap, source: &candle_nn::VarMap, tau: f64) -> Result<()> {
    let src = source.data().lock().unwrap();
    for (name, tv) in target.data().lock().unwrap().iter() {
        nf_core::optim::polyak_update(tv, src[name].as_tensor(), tau)?;
    }
    Ok(())
}

/// `−mean log N(a; μ, I) = mean ½‖a − μ‖² + ½·d·log 2π`: the loss of the constant-unit-std
/// Gaussian policies (OGBench's GCBC, FQL's BC).
pub fn unit_gaussian_nll(a: &Tensor, mu: &Tensor) -> Result<Tensor> {
    let d = a.dim(candle_core::D::Minus1)? as f64;
    let half_log_2pi = 0.5 * (2.0 * std::f64::consts::PI).ln() * d;
    Ok(((((a - mu)?.sqr()?.sum(1)? * 0.5)?.mean_all()?) + half_log_2pi)?)
}
