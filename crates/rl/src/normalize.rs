//! The policy side of [`envs::Normalizer`]: an agent trained on a task's scaled data
//! ([`envs::Scaling::MinMax`]) is wrapped so that it still acts in the environment's units:
//! the observation (and goal) is scaled before `act` and the action unscaled after. The
//! normaliser is saved in every checkpoint beside the agent's tensors, and a checkpoint of a
//! scaled task without one does not load: a policy must never meet data in units it was not
//! trained on.

use std::collections::HashMap;
use std::ops::DerefMut;
use std::path::Path;

use candle_core::{Device, Tensor};
use envs::{Batch, Normalizer, Scaling, Task};
use rand_chacha::ChaCha8Rng;

use crate::agent::{Agent, DataSpec, Metrics};
use crate::error::{Result, RlError};

/// The checkpoint keys of the normaliser's four vectors.
const KEYS: [&str; 4] = ["normalizer.obs_scale", "normalizer.obs_offset", "normalizer.act_scale", "normalizer.act_offset"];

/// `inner` (a `Box<dyn Agent>` or a `&mut dyn Agent`) behind a normaliser. It trains on batches
/// that are already scaled (the training loop scales the dataset once, not every batch).
pub struct Normalized<A> {
    inner: A,
    norm: Normalizer,
}

impl<A> Normalized<A> {
    pub fn new(inner: A, norm: Normalizer) -> Self {
        Self { inner, norm }
    }

    pub fn normalizer(&self) -> &Normalizer {
        &self.norm
    }

    pub fn into_inner(self) -> A {
        self.inner
    }
}

fn tensors(n: &Normalizer) -> Result<Vec<(String, Tensor)>> {
    let mut out = Vec::with_capacity(4);
    for (k, v) in KEYS.iter().zip([&n.obs_scale, &n.obs_offset, &n.act_scale, &n.act_offset]) {
        out.push((k.to_string(), Tensor::from_slice(v, v.len(), &Device::Cpu)?));
    }
    Ok(out)
}

/// Whether a checkpoint's tensors hold a normaliser.
pub fn has_normalizer(state: &HashMap<String, Tensor>) -> bool {
    KEYS.iter().any(|k| state.contains_key(*k))
}

/// The normaliser saved in a checkpoint's tensors; `what` names the checkpoint in the error.
pub fn normalizer_from_state(state: &HashMap<String, Tensor>, what: &str) -> Result<Normalizer> {
    let mut v: Vec<Vec<f32>> = Vec::with_capacity(4);
    for k in KEYS {
        let t = state.get(k).ok_or_else(|| RlError::Checkpoint {
            path: what.into(),
            reason: format!("no normaliser (`{k}` is missing): the policy was trained on raw data, but this task's agents train on min-max scaled data"),
        })?;
        v.push(t.to_dtype(candle_core::DType::F32)?.to_vec1()?);
    }
    let [obs_scale, obs_offset, act_scale, act_offset]: [Vec<f32>; 4] = v.try_into().expect("four vectors");
    if obs_scale.len() != obs_offset.len() || act_scale.len() != act_offset.len() {
        return Err(RlError::Checkpoint { path: what.into(), reason: "the normaliser's scale and offset differ in length".into() });
    }
    Ok(Normalizer { obs_scale, obs_offset, act_scale, act_offset })
}

impl<A: DerefMut + Send> Agent for Normalized<A>
where
    A::Target: Agent,
{
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn data_spec(&self) -> DataSpec {
        self.inner.data_spec()
    }
    /// `batch` is already scaled (see [`crate::train`]).
    fn update(&mut self, batch: &Batch, rng: &mut ChaCha8Rng) -> Result<Metrics> {
        self.inner.update(batch, rng)
    }
    fn act(&self, obs: &[f32], goals: Option<&[f32]>, n: usize, rng: &mut ChaCha8Rng) -> Result<Vec<f32>> {
        let d = self.norm.obs_dim();
        for (what, v) in [("observations", Some(obs)), ("goals", goals)] {
            if let Some(v) = v {
                if n == 0 || v.len() % (n * d) != 0 {
                    return Err(RlError::Config {
                        agent: self.name().into(),
                        reason: format!("{what} hold {} values, not a multiple of {n} rows × {d} (the normaliser's observation width)", v.len()),
                    });
                }
            }
        }
        let mut o = obs.to_vec();
        self.norm.scale_obs(&mut o);
        let g = goals.map(|g| {
            let mut g = g.to_vec();
            self.norm.scale_obs(&mut g);
            g
        });
        let mut a = self.inner.act(&o, g.as_deref(), n, rng)?;
        if a.len() % self.norm.act_dim() != 0 {
            return Err(RlError::Config { agent: self.name().into(), reason: format!("returned {} action values, not a multiple of the normaliser's action width {}", a.len(), self.norm.act_dim()) });
        }
        self.norm.unscale_actions(&mut a);
        Ok(a)
    }
    fn state(&self) -> Result<Vec<(String, Tensor)>> {
        let mut s = self.inner.state()?;
        s.extend(tensors(&self.norm)?);
        Ok(s)
    }
    /// The checkpoint's normaliser must be this one (the one fitted on the dataset the run
    /// trains on): otherwise the dataset changed under the run, and resuming would mix units.
    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        let saved = normalizer_from_state(state, "checkpoint")?;
        if saved != self.norm {
            return Err(RlError::Config {
                agent: self.name().into(),
                reason: "the checkpoint's normaliser differs from the one fitted on the dataset (was the dataset regenerated?); start the run afresh".into(),
            });
        }
        self.inner.load_state(state)
    }
}

/// `data` as `task`'s agents train on it: scaled, with the normaliser fitted on it, when the
/// task says so; as it is otherwise.
pub(crate) fn scale_for(task: &Task, data: envs::Dataset) -> Result<(Option<Normalizer>, envs::Dataset)> {
    match task.scaling() {
        Scaling::Raw => Ok((None, data)),
        Scaling::MinMax => {
            let norm = Normalizer::fit(&data)?;
            let data = norm.scale_dataset(data)?;
            Ok((Some(norm), data))
        }
    }
}

/// A raw task's run refuses a checkpoint that holds a normaliser (another task's, or one from
/// before the task's scaling changed).
pub(crate) fn check_raw(task: &Task, state: &HashMap<String, Tensor>, path: &Path) -> Result<()> {
    if task.scaling() == Scaling::Raw && has_normalizer(state) {
        return Err(RlError::Checkpoint { path: path.into(), reason: format!("holds a normaliser (its policy was trained on scaled data), but {} trains on raw data", task.name()) });
    }
    Ok(())
}

/// Loads a trained policy for `task` from a checkpoint: `agent` (built with the run's config)
/// behind the checkpoint's normaliser when the task's data is scaled, `agent` itself otherwise.
/// This is how a policy leaves the training loop (to a robot, a rollout): it then takes and
/// returns the environment's units. Returns the policy and the checkpoint's step.
pub fn load_policy(mut agent: Box<dyn Agent>, task: &Task, path: &Path) -> Result<(Box<dyn Agent>, u64)> {
    let (state, step, _) = crate::train::read_checkpoint(path)?;
    let what = path.display().to_string();
    let wrap = |e: RlError| RlError::Checkpoint { path: path.into(), reason: e.to_string() };
    match task.scaling() {
        Scaling::Raw => {
            check_raw(task, &state, path)?;
            agent.load_state(&state).map_err(wrap)?;
            Ok((agent, step))
        }
        Scaling::MinMax => {
            let norm = normalizer_from_state(&state, &what)?;
            if norm.obs_dim() != task.obs_dim || norm.act_dim() != task.act_dim {
                return Err(RlError::Checkpoint {
                    path: path.into(),
                    reason: format!("its normaliser is for {}-d observations and {}-d actions; {} has {} and {}", norm.obs_dim(), norm.act_dim(), task.name(), task.obs_dim, task.act_dim),
                });
            }
            let mut policy = Normalized::new(agent, norm);
            policy.load_state(&state).map_err(wrap)?;
            Ok((Box::new(policy), step))
        }
    }
}
