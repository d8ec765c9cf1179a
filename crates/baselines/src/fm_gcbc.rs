//! FM-GCBC: goal-conditioned behaviour cloning with a flow-matching policy (FQL's BC flow,
//! `actor_bc_flow`): an MLP velocity field `v_θ(x_t, t, s, g)` trained on the linear path
//! `x_t = (1 − t)·x₀ + t·a`, `x₀ ~ N(0, I)`, `t ~ U(0, 1)`, target `a − x₀`; actions by 10 Euler
//! steps from `x₀`, then clipped by the evaluation protocol.
//!
//! It is the natural multimodal rival of NF-GCBC: expressive like the flow, but sampling costs
//! 10 network passes instead of one, and it has no exact likelihood.

use std::collections::HashMap;

use candle_core::{Device, Tensor, D};
use candle_nn::VarMap;
use envs::{Batch, GoalConfig};
use nf_core::{Activation, AdamW, Mlp};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rl::{
    check_finite, load_varmap, load_varmap_member, member_rows_tensor, rows_tensor, scalar, sorted_vars, step_members, varmap_member_state, varmap_state, Agent, AgentConfig, DataSpec, Fields,
    Members, Metrics, Result, RlError,
};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FmGcbcConfig {
    /// Velocity-field hidden widths (FQL `actor_hidden_dims`: 4 × 512).
    pub hidden: Vec<usize>,
    /// LayerNorm after each hidden activation (FQL `actor_layer_norm`: off; on here, as for
    /// GCBC, because raw maze coordinates reach ±30).
    pub layer_norm: bool,
    /// Adam learning rate (FQL: 3e-4).
    pub lr: f64,
    /// Euler steps at action time (FQL: 10).
    pub flow_steps: usize,
    /// Goal mixture (default: the same geometric γ = 0.97 as NF-GCBC and GCBC).
    pub goals: GoalConfig,
}

impl Default for FmGcbcConfig {
    fn default() -> Self {
        Self { hidden: vec![512; 4], layer_norm: true, lr: 3e-4, flow_steps: 10, goals: GoalConfig::geometric(0.97) }
    }
}

pub struct FmGcbc {
    cfg: FmGcbcConfig,
    vars: VarMap,
    field: Mlp,
    opt: AdamW,
    obs_dim: usize,
    act_dim: usize,
    device: Device,
}

impl FmGcbc {
    pub fn new(cfg: FmGcbcConfig, obs_dim: usize, act_dim: usize, seed: u64, device: &Device) -> Result<Self> {
        cfg.goals.validate()?;
        if cfg.flow_steps == 0 {
            return Err(RlError::Config { agent: "fm-gcbc".into(), reason: "flow_steps must be ≥ 1".into() });
        }
        let vars = VarMap::new();
        let field = Mlp::new(&vars, "field", act_dim + 1 + 2 * obs_dim, &cfg.hidden, act_dim, Activation::Gelu, cfg.layer_norm, seed, device)?;
        let opt = AdamW::adam(sorted_vars(&vars), cfg.lr)?;
        Ok(Self { cfg, vars, field, opt, obs_dim, act_dim, device: device.clone() })
    }

    fn velocity(&self, x: &Tensor, t: &Tensor, cond: &Tensor) -> Result<Tensor> {
        Ok(self.field.forward(&Tensor::cat(&[x, t, cond], D::Minus1)?)?)
    }

    fn normal(&self, rng: &mut ChaCha8Rng, n: usize) -> Result<Tensor> {
        let v: Vec<f32> = (0..n * self.act_dim).map(|_| rng.sample(StandardNormal)).collect();
        Ok(Tensor::from_vec(v, (n, self.act_dim), &self.device)?)
    }
}

impl Agent for FmGcbc {
    fn name(&self) -> &str {
        "fm-gcbc"
    }
    fn data_spec(&self) -> DataSpec {
        DataSpec::GoalConditioned(self.cfg.goals)
    }
    fn update(&mut self, b: &Batch, rng: &mut ChaCha8Rng) -> Result<Metrics> {
        let n = b.batch;
        let cond = rows_tensor(&[(&b.observations, self.obs_dim), (&b.goals, self.obs_dim)], n, &self.device)?;
        let a = Tensor::from_slice(&b.actions, (n, self.act_dim), &self.device)?;
        let x0 = self.normal(rng, n)?;
        let t = Tensor::from_vec((0..n).map(|_| rng.random::<f32>()).collect::<Vec<f32>>(), (n, 1), &self.device)?;
        let xt = (x0.broadcast_mul(&(1.0 - &t)?)? + a.broadcast_mul(&t)?)?;
        let target = (&a - &x0)?;
        let loss = (self.velocity(&xt, &t, &cond)? - target)?.sqr()?.mean_all()?;
        let v = check_finite("flow_matching", scalar(&loss)?)?;
        self.opt.step(&loss.backward()?)?;
        Ok(vec![("flow_matching".into(), v)])
    }
    fn act(&self, obs: &[f32], goals: Option<&[f32]>, n: usize, rng: &mut ChaCha8Rng) -> Result<Vec<f32>> {
        let goals = goals.ok_or_else(|| RlError::Config { agent: "fm-gcbc".into(), reason: "act() needs goals".into() })?;
        let cond = rows_tensor(&[(obs, self.obs_dim), (goals, self.obs_dim)], n, &self.device)?;
        let mut x = self.normal(rng, n)?;
        let dt = 1.0 / self.cfg.flow_steps as f64;
        for k in 0..self.cfg.flow_steps {
            let t = Tensor::full((k as f64 * dt) as f32, (n, 1), &self.device)?;
            x = (&x + (self.velocity(&x, &t, &cond)? * dt)?)?;
        }
        Ok(x.flatten_all()?.to_vec1::<f32>()?)
    }
    fn state(&self) -> Result<Vec<(String, Tensor)>> {
        let mut out = varmap_state(&self.vars, "");
        out.extend(self.opt.state("opt")?);
        Ok(out)
    }
    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        load_varmap(&self.vars, state, "")?;
        Ok(self.opt.load_state("opt", state)?)
    }
}

/// FM-GCBC as a member ensemble: E solo agents' velocity fields and optimisers in one graph,
/// member e the solo agent with `seeds[e]`, drawing its x₀ and t from its own stream.
pub struct FmGcbcMembers {
    goals: GoalConfig,
    vars: VarMap,
    field: Mlp,
    opt: AdamW,
    obs_dim: usize,
    act_dim: usize,
    device: Device,
}

impl FmGcbcMembers {
    pub fn new(cfg: &FmGcbcConfig, obs_dim: usize, act_dim: usize, seeds: &[u64], device: &Device) -> Result<Self> {
        cfg.goals.validate()?;
        let vars = VarMap::new();
        let field = Mlp::members(&vars, "field", act_dim + 1 + 2 * obs_dim, &cfg.hidden, act_dim, Activation::Gelu, cfg.layer_norm, seeds, device)?;
        let opt = AdamW::adam(sorted_vars(&vars), cfg.lr)?;
        Ok(Self { goals: cfg.goals, vars, field, opt, obs_dim, act_dim, device: device.clone() })
    }
}

impl Members for FmGcbcMembers {
    fn count(&self) -> usize {
        self.vars.all_vars().first().map_or(0, |v| v.dims()[0])
    }
    fn data_spec(&self) -> DataSpec {
        DataSpec::GoalConditioned(self.goals)
    }
    fn update(&mut self, batches: &[Batch], rngs: &mut [ChaCha8Rng], live: &[bool]) -> Result<Vec<Option<Result<Metrics>>>> {
        let (d, k, e_n) = (self.obs_dim, self.act_dim, batches.len());
        let n = batches.first().map_or(0, |b| b.batch);
        let cond = member_rows_tensor(batches, |b| vec![(&b.observations, d), (&b.goals, d)], &self.device)?;
        let a = member_rows_tensor(batches, |b| vec![(&b.actions, k)], &self.device)?;
        // Member e's x₀ then t from its stream, in the solo agent's order.
        let (mut x0, mut t) = (Vec::with_capacity(e_n * n * k), Vec::with_capacity(e_n * n));
        for rng in rngs.iter_mut() {
            x0.extend((0..n * k).map(|_| rng.sample::<f32, _>(StandardNormal)));
            t.extend((0..n).map(|_| rng.random::<f32>()));
        }
        let x0 = Tensor::from_vec(x0, (e_n, n, k), &self.device)?;
        let t = Tensor::from_vec(t, (e_n, n, 1), &self.device)?;
        let xt = (x0.broadcast_mul(&(1.0 - &t)?)? + a.broadcast_mul(&t)?)?;
        let target = (&a - &x0)?;
        let v = self.field.forward(&Tensor::cat(&[&xt, &t, &cond], D::Minus1)?)?;
        let losses = (v - target)?.sqr()?.reshape((e_n, n * k))?.mean(D::Minus1)?;
        let opt = &mut self.opt;
        let checked = step_members(&losses, "flow_matching", live, |total| Ok(opt.step(&total.backward()?)?))?;
        Ok(checked.into_iter().map(|c| c.map(|r| r.map(|v| vec![("flow_matching".into(), v)]))).collect())
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

impl AgentConfig for FmGcbcConfig {
    const NAME: &'static str = "fm-gcbc";
    const SOURCE: &'static str = file!();
    type Agent = FmGcbc;

    fn data_spec(&self) -> DataSpec {
        DataSpec::GoalConditioned(self.goals)
    }
    fn validate(&self) -> Result<()> {
        let f = Fields::of(Self::NAME);
        f.widths("hidden", &self.hidden)?;
        f.positive("lr", self.lr)?;
        f.range("flow_steps", self.flow_steps, 1..)?;
        self.goals.validate().map_err(|e| f.error("goals", e))
    }
    fn build(&self, obs_dim: usize, act_dim: usize, seed: u64, device: &Device) -> Result<FmGcbc> {
        FmGcbc::new(self.clone(), obs_dim, act_dim, seed, device)
    }
    const MEMBERS: bool = true;
    fn build_members(&self, obs_dim: usize, act_dim: usize, seeds: &[u64], device: &Device) -> Option<Result<Box<dyn Members>>> {
        Some(FmGcbcMembers::new(self, obs_dim, act_dim, seeds, device).map(|m| Box::new(m) as Box<dyn Members>))
    }
}
