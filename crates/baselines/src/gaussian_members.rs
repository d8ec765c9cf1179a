//! The member-ensemble form shared by the unit-Gaussian behaviour-cloning baselines (GCBC, BC):
//! E solo agents' actors and optimisers in one graph, each member trained on its own batch's
//! `−mean log N(a; μ(x), I)` and saved as its solo agent's tensors (`actor.*`, `opt.*`).

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use envs::Batch;
use nf_core::{Activation, AdamW, Mlp};
use rand_chacha::ChaCha8Rng;
use rl::{load_varmap_member, member_rows_tensor, sorted_vars, step_members, varmap_member_state, DataSpec, Members, Metrics, Result};

/// What the actor reads from a batch row.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Input {
    /// `[s, g]`, each `obs_dim` wide (GCBC).
    ObsGoal(usize),
    /// `s` (BC).
    Obs(usize),
}

impl Input {
    fn width(self) -> usize {
        match self {
            Input::ObsGoal(d) => 2 * d,
            Input::Obs(d) => d,
        }
    }
}

pub struct GaussianMembers {
    spec: DataSpec,
    input: Input,
    vars: VarMap,
    actor: Mlp,
    opt: AdamW,
    act_dim: usize,
    device: Device,
}

impl GaussianMembers {
    /// The actor as the solo agents build it (`actor`, GELU, lecun-normal), member e from `seeds[e]`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(spec: DataSpec, input: Input, hidden: &[usize], layer_norm: bool, lr: f64, act_dim: usize, seeds: &[u64], device: &Device) -> Result<Self> {
        let vars = VarMap::new();
        let actor = Mlp::members(&vars, "actor", input.width(), hidden, act_dim, Activation::Gelu, layer_norm, seeds, device)?;
        let opt = AdamW::adam(sorted_vars(&vars), lr)?;
        Ok(Self { spec, input, vars, actor, opt, act_dim, device: device.clone() })
    }
}

impl Members for GaussianMembers {
    fn count(&self) -> usize {
        self.vars.all_vars().first().map_or(0, |v| v.dims()[0])
    }
    fn data_spec(&self) -> DataSpec {
        self.spec.clone()
    }
    fn update(&mut self, batches: &[Batch], _rngs: &mut [ChaCha8Rng], live: &[bool]) -> Result<Vec<Option<Result<Metrics>>>> {
        let x = match self.input {
            Input::ObsGoal(d) => member_rows_tensor(batches, |b| vec![(&b.observations, d), (&b.goals, d)], &self.device)?,
            Input::Obs(d) => member_rows_tensor(batches, |b| vec![(&b.observations, d)], &self.device)?,
        };
        let k = self.act_dim;
        let a = member_rows_tensor(batches, |b| vec![(&b.actions, k)], &self.device)?;
        let losses = rl::member_unit_gaussian_nll(&a, &self.actor.forward(&x)?)?;
        let opt = &mut self.opt;
        let checked = step_members(&losses, "nll", live, |total| Ok(opt.step(&total.backward()?)?))?;
        Ok(checked.into_iter().map(|c| c.map(|r| r.map(|nll| vec![("nll".into(), nll)]))).collect())
    }
    fn member_state(&self, e: usize) -> Result<Vec<(String, Tensor)>> {
        let mut out = varmap_member_state(&self.vars, "", e)?;
        out.extend(self.opt.member_state("opt", e, self.count())?);
        Ok(out)
    }
    fn load_member_state(&mut self, e: usize, state: &HashMap<String, Tensor>) -> Result<()> {
        load_varmap_member(&self.vars, state, "", e)?;
        let n = self.count();
        self.opt.load_member_state("opt", e, n, state)?;
        Ok(())
    }
}
