//! BC for offline RL (FQL's `bc` agent): a Gaussian MLP actor (4 × 512, GELU) on the state,
//! trained by maximum likelihood on the dataset actions with a constant unit std; actions are
//! the mean. It ignores rewards: the floor an offline-RL agent must beat on the same data.

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use envs::{Batch, TaskKind};
use nf_core::{Activation, AdamW, Mlp};
use rand_chacha::ChaCha8Rng;
use rl::{check_finite, load_varmap, scalar, sorted_vars, varmap_state, Agent, AgentConfig, DataSpec, Fields, Members, Metrics, Result};
use serde::{Deserialize, Serialize};

use crate::gaussian_members::{GaussianMembers, Input};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BcConfig {
    /// Actor hidden widths (FQL `bc.py` `actor_hidden_dims`: 4 × 512).
    pub hidden: Vec<usize>,
    /// LayerNorm after each hidden activation (FQL `actor_layer_norm`: off; on here because raw
    /// maze coordinates reach ±30 and the small-budget runs were unstable without it).
    pub layer_norm: bool,
    /// Adam learning rate (FQL: 3e-4).
    pub lr: f64,
}

impl Default for BcConfig {
    fn default() -> Self {
        Self { hidden: vec![512; 4], layer_norm: true, lr: 3e-4 }
    }
}

pub struct Bc {
    vars: VarMap,
    actor: Mlp,
    opt: AdamW,
    obs_dim: usize,
    act_dim: usize,
    device: Device,
}

impl Bc {
    pub fn new(cfg: BcConfig, obs_dim: usize, act_dim: usize, seed: u64, device: &Device) -> Result<Self> {
        let vars = VarMap::new();
        let actor = Mlp::new(&vars, "actor", obs_dim, &cfg.hidden, act_dim, Activation::Gelu, cfg.layer_norm, seed, device)?;
        let opt = AdamW::adam(sorted_vars(&vars), cfg.lr)?;
        Ok(Self { vars, actor, opt, obs_dim, act_dim, device: device.clone() })
    }
}

impl Agent for Bc {
    fn name(&self) -> &str {
        "bc"
    }
    fn data_spec(&self) -> DataSpec {
        DataSpec::Transitions
    }
    fn update(&mut self, b: &Batch, _rng: &mut ChaCha8Rng) -> Result<Metrics> {
        let n = b.batch;
        let s = Tensor::from_slice(&b.observations, (n, self.obs_dim), &self.device)?;
        let a = Tensor::from_slice(&b.actions, (n, self.act_dim), &self.device)?;
        let loss = rl::unit_gaussian_nll(&a, &self.actor.forward(&s)?)?;
        let nll = check_finite("nll", scalar(&loss)?)?;
        self.opt.step(&loss.backward()?)?;
        Ok(vec![("nll".into(), nll)])
    }
    fn act(&self, obs: &[f32], _goals: Option<&[f32]>, n: usize, _rng: &mut ChaCha8Rng) -> Result<Vec<f32>> {
        let s = Tensor::from_slice(obs, (n, self.obs_dim), &self.device)?;
        Ok(self.actor.forward(&s)?.flatten_all()?.to_vec1::<f32>()?)
    }
    fn state(&self) -> Result<Vec<(String, Tensor)>> {
        let mut out = varmap_state(&self.vars, "");
        out.extend(self.opt.state("opt")?);
        Ok(out)
    }
    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        load_varmap(&self.vars, state, "")?;
        self.opt.load_state("opt", state).map_err(Into::into)
    }
}

impl AgentConfig for BcConfig {
    const NAME: &'static str = "bc";
    const SOURCE: &'static str = file!();
    type Agent = Bc;

    fn data_spec(&self) -> DataSpec {
        DataSpec::Transitions
    }
    /// Transitions run the singletask variants; BC ignores the rewards, so it also runs the
    /// imitation tasks (which have none), as their unimodal baseline.
    fn task_kinds(&self) -> Vec<TaskKind> {
        vec![TaskKind::Singletask, TaskKind::Imitation]
    }
    fn validate(&self) -> Result<()> {
        let f = Fields::of(Self::NAME);
        f.widths("hidden", &self.hidden)?;
        f.positive("lr", self.lr)
    }
    fn build(&self, obs_dim: usize, act_dim: usize, seed: u64, device: &Device) -> Result<Bc> {
        Bc::new(self.clone(), obs_dim, act_dim, seed, device)
    }
    const MEMBERS: bool = true;
    fn build_members(&self, obs_dim: usize, act_dim: usize, seeds: &[u64], device: &Device) -> Option<Result<Box<dyn Members>>> {
        Some(GaussianMembers::new(DataSpec::Transitions, Input::Obs(obs_dim), &self.hidden, self.layer_norm, self.lr, act_dim, seeds, device).map(|m| Box::new(m) as Box<dyn Members>))
    }
}
