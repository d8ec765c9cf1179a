//! GCBC, OGBench's Gaussian goal-conditioned behaviour cloning (`impls/agents/gcbc.py`): an MLP
//! (3 × 512, GELU, LayerNorm) maps `[s, g]` to the mean of a Gaussian with constant unit std,
//! trained by maximum likelihood. Actions are the mean (OGBench evaluates at temperature 0).
//!
//! Goals: the paper tuned the goal-sampling γ "for all GCBC methods", so the default is the same
//! geometric future offset as NF-GCBC (γ = 0.97) rather than OGBench's uniform future; set
//! `goals` to compare with OGBench's own GCBC.

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use envs::{Batch, GoalConfig};
use nf_core::{Activation, AdamW, Mlp};
use rand_chacha::ChaCha8Rng;
use rl::{check_finite, load_varmap, rows_tensor, scalar, sorted_vars, varmap_state, Agent, AgentConfig, DataSpec, Fields, Members, Metrics, Result, RlError};
use serde::{Deserialize, Serialize};

use crate::gaussian_members::{GaussianMembers, Input};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GcbcConfig {
    /// Actor hidden widths (OGBench: 512, 512, 512).
    pub hidden: Vec<usize>,
    /// LayerNorm after each hidden activation (OGBench's `layer_norm` switch). Raw maze
    /// coordinates reach ±30; without it the small-budget runs here were unstable.
    pub layer_norm: bool,
    /// Adam learning rate (OGBench: 3e-4).
    pub lr: f64,
    /// Goal mixture (default: trajectory goals at a geometric offset, γ = 0.97).
    pub goals: GoalConfig,
}

impl Default for GcbcConfig {
    fn default() -> Self {
        Self { hidden: vec![512; 3], layer_norm: true, lr: 3e-4, goals: GoalConfig::geometric(0.97) }
    }
}

pub struct Gcbc {
    cfg: GcbcConfig,
    vars: VarMap,
    actor: Mlp,
    opt: AdamW,
    obs_dim: usize,
    act_dim: usize,
    device: Device,
}

impl Gcbc {
    pub fn new(cfg: GcbcConfig, obs_dim: usize, act_dim: usize, seed: u64, device: &Device) -> Result<Self> {
        cfg.goals.validate()?;
        let vars = VarMap::new();
        let actor = Mlp::new(&vars, "actor", 2 * obs_dim, &cfg.hidden, act_dim, Activation::Gelu, cfg.layer_norm, seed, device)?;
        let opt = AdamW::adam(sorted_vars(&vars), cfg.lr)?;
        Ok(Self { cfg, vars, actor, opt, obs_dim, act_dim, device: device.clone() })
    }
}

impl Agent for Gcbc {
    fn name(&self) -> &str {
        "gcbc"
    }
    fn data_spec(&self) -> DataSpec {
        DataSpec::GoalConditioned(self.cfg.goals)
    }
    fn update(&mut self, batch: &Batch, _rng: &mut ChaCha8Rng) -> Result<Metrics> {
        let n = batch.batch;
        let x = rows_tensor(&[(&batch.observations, self.obs_dim), (&batch.goals, self.obs_dim)], n, &self.device)?;
        let a = Tensor::from_slice(&batch.actions, (n, self.act_dim), &self.device)?;
        let mu = self.actor.forward(&x)?;
        let loss = rl::unit_gaussian_nll(&a, &mu)?;
        let nll = check_finite("nll", scalar(&loss)?)?;
        self.opt.step(&loss.backward()?)?;
        Ok(vec![("nll".into(), nll)])
    }
    fn act(&self, obs: &[f32], goals: Option<&[f32]>, n: usize, _rng: &mut ChaCha8Rng) -> Result<Vec<f32>> {
        let goals = goals.ok_or_else(|| RlError::Config { agent: "gcbc".into(), reason: "act() needs goals".into() })?;
        let x = rows_tensor(&[(obs, self.obs_dim), (goals, self.obs_dim)], n, &self.device)?;
        Ok(self.actor.forward(&x)?.flatten_all()?.to_vec1::<f32>()?)
    }
    fn state(&self) -> Result<Vec<(String, Tensor)>> {
        let mut out = varmap_state(&self.vars, "");
        out.extend(self.opt.state("opt")?);
        Ok(out)
    }
    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        load_varmap(&self.vars, state, "")?;
        self.opt.load_state("opt", state)?;
        Ok(())
    }
}

impl AgentConfig for GcbcConfig {
    const NAME: &'static str = "gcbc";
    const SOURCE: &'static str = file!();
    type Agent = Gcbc;

    fn data_spec(&self) -> DataSpec {
        DataSpec::GoalConditioned(self.goals)
    }
    fn validate(&self) -> Result<()> {
        let f = Fields::of(Self::NAME);
        f.widths("hidden", &self.hidden)?;
        f.positive("lr", self.lr)?;
        self.goals.validate().map_err(|e| f.error("goals", e))
    }
    fn build(&self, obs_dim: usize, act_dim: usize, seed: u64, device: &Device) -> Result<Gcbc> {
        Gcbc::new(self.clone(), obs_dim, act_dim, seed, device)
    }
    const MEMBERS: bool = true;
    fn build_members(&self, obs_dim: usize, act_dim: usize, seeds: &[u64], device: &Device) -> Option<Result<Box<dyn Members>>> {
        Some(self.goals.validate().map_err(Into::into).and_then(|()| {
            let spec = DataSpec::GoalConditioned(self.goals);
            GaussianMembers::new(spec, Input::ObsGoal(obs_dim), &self.hidden, self.layer_norm, self.lr, act_dim, seeds, device).map(|m| Box::new(m) as Box<dyn Members>)
        }))
    }
}
