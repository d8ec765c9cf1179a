//! FQL, flow Q-learning (Park, Li & Levine 2025; `fql.py`): a flow-matching BC policy, a one-step
//! policy distilled from it and pushed up the critic, and two critics.
//!
//! - BC flow: velocity field `v(s, x_t, t)`, flow-matching loss on dataset actions.
//! - One-step policy `μ(s, z)`: `α·mean ‖μ(s, z) − sg(ODE_bc(s, z))‖² − mean Q(s, clip(μ(s, z)))`
//!   (critics frozen in this term; the ODE is 10 Euler steps of the BC flow from the same z).
//! - Critic: `y = r + γ·mask·agg_i Q̄_i(s', clip(μ(s', z')))`, `agg` = mean by default (FQL's
//!   `q_agg`), Polyak τ = 0.005.
//! - Actions: `clip(μ(s, z))`, one network pass.
//!
//! α is per task in the FQL paper (App. E: e.g. 10 for the antmazes, 1000 for puzzle-3x3).

use std::collections::HashMap;

use candle_core::{Device, Tensor, D};
use candle_nn::VarMap;
use envs::Batch;
use nf_core::{Activation, AdamW, Mlp};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rl::{
    check_finite, load_varmap, load_varmap_member, member_rows_tensor, member_values, scalar, sorted_vars, varmap_member_state, varmap_state, Agent, AgentConfig, DataSpec, Fields, Members, Metrics,
    Result,
};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FqlQAgg {
    Min,
    Mean,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FqlConfig {
    /// Hidden widths of the BC flow and the one-step policy (FQL `actor_hidden_dims`: 4 × 512).
    pub actor_hidden: Vec<usize>,
    /// Critic hidden widths, each with LayerNorm (FQL `value_hidden_dims`: 4 × 512).
    pub critic_hidden: Vec<usize>,
    /// Adam learning rate (FQL: 3e-4).
    pub lr: f64,
    /// Discount γ (FQL: 0.99).
    pub discount: f64,
    /// Polyak rate of the target critics (FQL: 0.005).
    pub tau: f64,
    /// Distillation weight α (per task in FQL App. E; 10, its antmaze value, by default).
    pub alpha: f64,
    /// Euler steps of the BC flow's ODE (FQL `flow_steps`: 10).
    pub flow_steps: usize,
    /// Aggregation of the two target critics (FQL `q_agg`: mean).
    pub q_agg: FqlQAgg,
    /// Divide the Q term by `sg(mean |Q|)` (FQL's `normalize_q_loss`, off by default).
    pub normalize_q_loss: bool,
}

impl Default for FqlConfig {
    fn default() -> Self {
        Self { actor_hidden: vec![512; 4], critic_hidden: vec![512; 4], lr: 3e-4, discount: 0.99, tau: 0.005, alpha: 10.0, flow_steps: 10, q_agg: FqlQAgg::Mean, normalize_q_loss: false }
    }
}

pub struct Fql {
    cfg: FqlConfig,
    actor_vars: VarMap,
    critic_vars: VarMap,
    target_vars: VarMap,
    bc_flow: Mlp,
    onestep: Mlp,
    critics: [Mlp; 2],
    targets: [Mlp; 2],
    actor_opt: AdamW,
    critic_opt: AdamW,
    obs_dim: usize,
    act_dim: usize,
    device: Device,
}

impl Fql {
    pub fn new(cfg: FqlConfig, obs_dim: usize, act_dim: usize, seed: u64, device: &Device) -> Result<Self> {
        let (actor_vars, critic_vars, target_vars) = (VarMap::new(), VarMap::new(), VarMap::new());
        let bc_flow = Mlp::new(&actor_vars, "bc_flow", obs_dim + act_dim + 1, &cfg.actor_hidden, act_dim, Activation::Gelu, false, seed, device)?;
        let onestep = Mlp::new(&actor_vars, "onestep", obs_dim + act_dim, &cfg.actor_hidden, act_dim, Activation::Gelu, false, seed.wrapping_add(7), device)?;
        let mk = |vars: &VarMap, i: usize| Mlp::new(vars, &format!("critic{i}"), obs_dim + act_dim, &cfg.critic_hidden, 1, Activation::Gelu, true, seed.wrapping_add(1 + i as u64), device);
        let critics = [mk(&critic_vars, 0)?, mk(&critic_vars, 1)?];
        let targets = [mk(&target_vars, 0)?, mk(&target_vars, 1)?];
        let actor_opt = AdamW::adam(sorted_vars(&actor_vars), cfg.lr)?;
        let critic_opt = AdamW::adam(sorted_vars(&critic_vars), cfg.lr)?;
        Ok(Self { cfg, actor_vars, critic_vars, target_vars, bc_flow, onestep, critics, targets, actor_opt, critic_opt, obs_dim, act_dim, device: device.clone() })
    }

    fn normal(&self, rng: &mut ChaCha8Rng, n: usize) -> Result<Tensor> {
        let v: Vec<f32> = (0..n * self.act_dim).map(|_| rng.sample(StandardNormal)).collect();
        Ok(Tensor::from_vec(v, (n, self.act_dim), &self.device)?)
    }

    fn onestep_action(&self, s: &Tensor, z: &Tensor) -> Result<Tensor> {
        Ok(self.onestep.forward(&Tensor::cat(&[s, z], D::Minus1)?)?)
    }

    /// Euler integration of the BC flow from `z` (no gradient).
    fn bc_ode(&self, s: &Tensor, z: &Tensor) -> Result<Tensor> {
        let n = s.dim(0)?;
        let dt = 1.0 / self.cfg.flow_steps as f64;
        let mut x = z.clone();
        for k in 0..self.cfg.flow_steps {
            let t = Tensor::full((k as f64 * dt) as f32, (n, 1), &self.device)?;
            let v = self.bc_flow.forward(&Tensor::cat(&[s, &x, &t], D::Minus1)?)?;
            x = (&x + (v * dt)?)?.detach();
        }
        // `compute_flow_actions` clips the Euler end point to the action box: the one-step
        // policy is distilled towards actions the environment can take.
        Ok(x.clamp(-1f32, 1f32)?)
    }
}

impl Agent for Fql {
    fn name(&self) -> &str {
        "fql"
    }
    fn data_spec(&self) -> DataSpec {
        DataSpec::Transitions
    }
    fn update(&mut self, b: &Batch, rng: &mut ChaCha8Rng) -> Result<Metrics> {
        let (n, dev) = (b.batch, &self.device);
        let s = Tensor::from_slice(&b.observations, (n, self.obs_dim), dev)?;
        let s2 = Tensor::from_slice(&b.next_observations, (n, self.obs_dim), dev)?;
        let a = Tensor::from_slice(&b.actions, (n, self.act_dim), dev)?;
        let r = Tensor::from_slice(&b.rewards, n, dev)?;
        let mask = Tensor::from_slice(&b.masks, n, dev)?;

        // Critic.
        let z2 = self.normal(rng, n)?;
        let a2 = self.onestep_action(&s2, &z2)?.clamp(-1f32, 1f32)?.detach();
        let [t0, t1] = rl::twin_q(&self.targets, &s2, &a2)?;
        let next = match self.cfg.q_agg {
            FqlQAgg::Min => t0.minimum(&t1)?,
            FqlQAgg::Mean => ((t0 + t1)? * 0.5)?,
        };
        let y = (r + (mask * next)? * self.cfg.discount)?.detach();
        let [q0, q1] = rl::twin_q(&self.critics, &s, &a)?;
        let critic_loss = ((&q0 - &y)?.sqr()?.mean_all()? + (&q1 - &y)?.sqr()?.mean_all()?)?;

        // BC flow matching.
        let x0 = self.normal(rng, n)?;
        let t = Tensor::from_vec((0..n).map(|_| rng.random::<f32>()).collect::<Vec<f32>>(), (n, 1), dev)?;
        let xt = (x0.broadcast_mul(&(1.0 - &t)?)? + a.broadcast_mul(&t)?)?;
        let v = self.bc_flow.forward(&Tensor::cat(&[&s, &xt, &t], D::Minus1)?)?;
        let bc_flow_loss = (v - (&a - &x0)?)?.sqr()?.mean_all()?;

        // One-step policy: distillation + Q.
        let z = self.normal(rng, n)?;
        let target = self.bc_ode(&s, &z)?;
        let mu = self.onestep_action(&s, &z)?;
        let distill = (&mu - &target)?.sqr()?.mean_all()?;
        let [p0, p1] = rl::twin_q_frozen(&self.critics, &s, &mu.clamp(-1f32, 1f32)?)?;
        let q = ((p0 + p1)? * 0.5)?;
        let mut q_loss = q.mean_all()?.neg()?;
        if self.cfg.normalize_q_loss {
            q_loss = (q_loss / scalar(&q.abs()?.mean_all()?)?.max(1e-6))?;
        }
        let actor_loss = ((&bc_flow_loss + (&distill * self.cfg.alpha)?)? + &q_loss)?;

        let cv = check_finite("critic_loss", scalar(&critic_loss)?)?;
        let av = check_finite("actor_loss", scalar(&actor_loss)?)?;
        let g_critic = critic_loss.backward()?;
        let g_actor = actor_loss.backward()?;
        self.critic_opt.step(&g_critic)?;
        self.actor_opt.step(&g_actor)?;
        rl::polyak(&self.target_vars, &self.critic_vars, self.cfg.tau)?;
        Ok(vec![
            ("critic_loss".into(), cv),
            ("actor_loss".into(), av),
            ("bc_flow_loss".into(), scalar(&bc_flow_loss)?),
            ("distill_loss".into(), scalar(&distill)?),
            ("q".into(), scalar(&q.mean_all()?)?),
        ])
    }
    fn act(&self, obs: &[f32], _goals: Option<&[f32]>, n: usize, rng: &mut ChaCha8Rng) -> Result<Vec<f32>> {
        let s = Tensor::from_slice(obs, (n, self.obs_dim), &self.device)?;
        let z = self.normal(rng, n)?;
        Ok(self.onestep_action(&s, &z)?.flatten_all()?.to_vec1::<f32>()?)
    }
    fn state(&self) -> Result<Vec<(String, Tensor)>> {
        let mut out = varmap_state(&self.actor_vars, "");
        out.extend(varmap_state(&self.critic_vars, ""));
        out.extend(varmap_state(&self.target_vars, "target."));
        out.extend(self.actor_opt.state("opt_actor")?);
        out.extend(self.critic_opt.state("opt_critic")?);
        Ok(out)
    }
    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        load_varmap(&self.actor_vars, state, "")?;
        load_varmap(&self.critic_vars, state, "")?;
        load_varmap(&self.target_vars, state, "target.")?;
        self.actor_opt.load_state("opt_actor", state)?;
        self.critic_opt.load_state("opt_critic", state)?;
        Ok(())
    }
}

/// FQL as a member ensemble: E solo agents' BC flows, one-step policies, critics, targets and
/// optimisers in one graph, member e the solo agent with `seeds[e]`, drawing its noises from its
/// own stream in the solo agent's order.
pub struct FqlMembers {
    cfg: FqlConfig,
    actor_vars: VarMap,
    critic_vars: VarMap,
    target_vars: VarMap,
    bc_flow: Mlp,
    onestep: Mlp,
    critics: [Mlp; 2],
    targets: [Mlp; 2],
    actor_opt: AdamW,
    critic_opt: AdamW,
    obs_dim: usize,
    act_dim: usize,
    device: Device,
}

impl FqlMembers {
    pub fn new(cfg: &FqlConfig, obs_dim: usize, act_dim: usize, seeds: &[u64], device: &Device) -> Result<Self> {
        let (actor_vars, critic_vars, target_vars) = (VarMap::new(), VarMap::new(), VarMap::new());
        let shifted = |k: u64| -> Vec<u64> { seeds.iter().map(|s| s.wrapping_add(k)).collect() };
        let bc_flow = Mlp::members(&actor_vars, "bc_flow", obs_dim + act_dim + 1, &cfg.actor_hidden, act_dim, Activation::Gelu, false, seeds, device)?;
        let onestep = Mlp::members(&actor_vars, "onestep", obs_dim + act_dim, &cfg.actor_hidden, act_dim, Activation::Gelu, false, &shifted(7), device)?;
        let mk = |vars: &VarMap, i: usize| Mlp::members(vars, &format!("critic{i}"), obs_dim + act_dim, &cfg.critic_hidden, 1, Activation::Gelu, true, &shifted(1 + i as u64), device);
        let critics = [mk(&critic_vars, 0)?, mk(&critic_vars, 1)?];
        let targets = [mk(&target_vars, 0)?, mk(&target_vars, 1)?];
        let actor_opt = AdamW::adam(sorted_vars(&actor_vars), cfg.lr)?;
        let critic_opt = AdamW::adam(sorted_vars(&critic_vars), cfg.lr)?;
        Ok(Self { cfg: cfg.clone(), actor_vars, critic_vars, target_vars, bc_flow, onestep, critics, targets, actor_opt, critic_opt, obs_dim, act_dim, device: device.clone() })
    }

    fn onestep_action(&self, s: &Tensor, z: &Tensor) -> Result<Tensor> {
        Ok(self.onestep.forward(&Tensor::cat(&[s, z], D::Minus1)?)?)
    }

    /// Euler integration of every member's BC flow from `z` (no gradient).
    fn bc_ode(&self, s: &Tensor, z: &Tensor) -> Result<Tensor> {
        let (e_n, n) = (s.dim(0)?, s.dim(1)?);
        let dt = 1.0 / self.cfg.flow_steps as f64;
        let mut x = z.clone();
        for k in 0..self.cfg.flow_steps {
            let t = Tensor::full((k as f64 * dt) as f32, (e_n, n, 1), &self.device)?;
            let v = self.bc_flow.forward(&Tensor::cat(&[s, &x, &t], D::Minus1)?)?;
            x = (&x + (v * dt)?)?.detach();
        }
        // `compute_flow_actions` clips the Euler end point to the action box: the one-step
        // policy is distilled towards actions the environment can take.
        Ok(x.clamp(-1f32, 1f32)?)
    }
}

impl Members for FqlMembers {
    fn count(&self) -> usize {
        self.actor_vars.all_vars().first().map_or(0, |v| v.dims()[0])
    }
    fn data_spec(&self) -> DataSpec {
        DataSpec::Transitions
    }
    fn update(&mut self, batches: &[Batch], rngs: &mut [ChaCha8Rng], live: &[bool]) -> Result<Vec<Option<Result<Metrics>>>> {
        let (d, k, dev, e_n) = (self.obs_dim, self.act_dim, &self.device, batches.len());
        let n = batches.first().map_or(0, |b| b.batch);
        let s = member_rows_tensor(batches, |b| vec![(&b.observations, d)], dev)?;
        let s2 = member_rows_tensor(batches, |b| vec![(&b.next_observations, d)], dev)?;
        let a = member_rows_tensor(batches, |b| vec![(&b.actions, k)], dev)?;
        let r = member_rows_tensor(batches, |b| vec![(&b.rewards, 1)], dev)?.squeeze(D::Minus1)?;
        let mask = member_rows_tensor(batches, |b| vec![(&b.masks, 1)], dev)?.squeeze(D::Minus1)?;
        // Each member's draws in the solo order: z' (critic), x₀ and t (BC flow), z (one-step).
        let (mut z2, mut x0, mut t, mut z) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for rng in rngs.iter_mut() {
            z2.extend((0..n * k).map(|_| rng.sample::<f32, _>(StandardNormal)));
            x0.extend((0..n * k).map(|_| rng.sample::<f32, _>(StandardNormal)));
            t.extend((0..n).map(|_| rng.random::<f32>()));
            z.extend((0..n * k).map(|_| rng.sample::<f32, _>(StandardNormal)));
        }
        let shape = (e_n, n, k);
        let (z2, x0, z) = (Tensor::from_vec(z2, shape, dev)?, Tensor::from_vec(x0, shape, dev)?, Tensor::from_vec(z, shape, dev)?);
        let t = Tensor::from_vec(t, (e_n, n, 1), dev)?;

        let a2 = self.onestep_action(&s2, &z2)?.clamp(-1f32, 1f32)?.detach();
        let [t0, t1] = rl::twin_q(&self.targets, &s2, &a2)?;
        let next = match self.cfg.q_agg {
            FqlQAgg::Min => t0.minimum(&t1)?,
            FqlQAgg::Mean => ((t0 + t1)? * 0.5)?,
        };
        let y = (r + (mask * next)? * self.cfg.discount)?.detach();
        let [q0, q1] = rl::twin_q(&self.critics, &s, &a)?;
        let critic_loss = ((&q0 - &y)?.sqr()?.mean(D::Minus1)? + (&q1 - &y)?.sqr()?.mean(D::Minus1)?)?;

        let xt = (x0.broadcast_mul(&(1.0 - &t)?)? + a.broadcast_mul(&t)?)?;
        let v = self.bc_flow.forward(&Tensor::cat(&[&s, &xt, &t], D::Minus1)?)?;
        let per_member_mean = |x: Tensor| -> Result<Tensor> { Ok(x.reshape((e_n, ()))?.mean(D::Minus1)?) };
        let bc_flow_loss = per_member_mean((v - (&a - &x0)?)?.sqr()?)?;

        let target = self.bc_ode(&s, &z)?;
        let mu = self.onestep_action(&s, &z)?;
        let distill = per_member_mean((&mu - &target)?.sqr()?)?;
        let [p0, p1] = rl::twin_q_frozen(&self.critics, &s, &mu.clamp(-1f32, 1f32)?)?;
        let q = ((p0 + p1)? * 0.5)?;
        let mut q_loss = q.mean(D::Minus1)?.neg()?;
        if self.cfg.normalize_q_loss {
            // The solo agent divides by its |Q| scale, i.e. multiplies by the f32 reciprocal.
            let inv: Vec<f32> = member_values(&q.abs()?.mean(D::Minus1)?)?.iter().map(|v| (1.0 / v.max(1e-6)) as f32).collect();
            q_loss = (q_loss * Tensor::from_vec(inv, e_n, dev)?)?;
        }
        let actor_loss = ((&bc_flow_loss + (&distill * self.cfg.alpha)?)? + &q_loss)?;

        let (cv, av, bv, dv, qv) = (member_values(&critic_loss)?, member_values(&actor_loss)?, member_values(&bc_flow_loss)?, member_values(&distill)?, member_values(&q.mean(D::Minus1)?)?);
        let results: Vec<Option<Result<Metrics>>> = (0..live.len())
            .map(|e| {
                live[e].then(|| -> Result<Metrics> {
                    let c = check_finite("critic_loss", cv[e])?;
                    let a = check_finite("actor_loss", av[e])?;
                    Ok(vec![("critic_loss".into(), c), ("actor_loss".into(), a), ("bc_flow_loss".into(), bv[e]), ("distill_loss".into(), dv[e]), ("q".into(), qv[e])])
                })
            })
            .collect();
        let stepping: Vec<u32> = results.iter().enumerate().filter(|(_, r)| matches!(r, Some(Ok(_)))).map(|(e, _)| e as u32).collect();
        if !stepping.is_empty() {
            let idx = Tensor::new(stepping.as_slice(), dev)?;
            let g_critic = critic_loss.index_select(&idx, 0)?.sum_all()?.backward()?;
            let g_actor = actor_loss.index_select(&idx, 0)?.sum_all()?.backward()?;
            self.critic_opt.step(&g_critic)?;
            self.actor_opt.step(&g_actor)?;
            rl::polyak(&self.target_vars, &self.critic_vars, self.cfg.tau)?;
        }
        Ok(results)
    }
    fn member_state(&self, e: usize) -> Result<Vec<(String, Tensor)>> {
        let n = self.count();
        let mut out = varmap_member_state(&self.actor_vars, "", e)?;
        out.extend(varmap_member_state(&self.critic_vars, "", e)?);
        out.extend(varmap_member_state(&self.target_vars, "target.", e)?);
        out.extend(self.actor_opt.member_state("opt_actor", e, n)?);
        out.extend(self.critic_opt.member_state("opt_critic", e, n)?);
        Ok(out)
    }
    fn load_member_state(&mut self, e: usize, state: &HashMap<String, Tensor>) -> Result<()> {
        let n = self.count();
        load_varmap_member(&self.actor_vars, state, "", e)?;
        load_varmap_member(&self.critic_vars, state, "", e)?;
        load_varmap_member(&self.target_vars, state, "target.", e)?;
        self.actor_opt.load_member_state("opt_actor", e, n, state)?;
        self.critic_opt.load_member_state("opt_critic", e, n, state)?;
        Ok(())
    }
}

impl AgentConfig for FqlConfig {
    const NAME: &'static str = "fql";
    const SOURCE: &'static str = file!();
    type Agent = Fql;

    fn data_spec(&self) -> DataSpec {
        DataSpec::Transitions
    }
    fn validate(&self) -> Result<()> {
        let f = Fields::of(Self::NAME);
        f.widths("actor_hidden", &self.actor_hidden)?;
        f.widths("critic_hidden", &self.critic_hidden)?;
        f.positive("lr", self.lr)?;
        f.range("discount", self.discount, 0.0..1.0)?;
        f.range("tau", self.tau, 0.0..=1.0)?;
        f.non_negative("alpha", self.alpha)?;
        f.range("flow_steps", self.flow_steps, 1..)
    }
    fn build(&self, obs_dim: usize, act_dim: usize, seed: u64, device: &Device) -> Result<Fql> {
        Fql::new(self.clone(), obs_dim, act_dim, seed, device)
    }
    const MEMBERS: bool = true;
    fn build_members(&self, obs_dim: usize, act_dim: usize, seeds: &[u64], device: &Device) -> Option<Result<Box<dyn Members>>> {
        Some(FqlMembers::new(self, obs_dim, act_dim, seeds, device).map(|m| Box::new(m) as Box<dyn Members>))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The distillation target is the BC flow's Euler end point clipped to the action box, as
    /// `compute_flow_actions` clips it: a flow whose velocity is pushed to +3 everywhere (the
    /// output bias) carries noise at ±1.5 to ~+4.5 unclipped, and the target stays at +1.
    #[test]
    fn the_distillation_target_is_clipped_to_the_action_box() {
        let dev = Device::Cpu;
        let fql = Fql::new(FqlConfig { actor_hidden: vec![8], critic_hidden: vec![8], flow_steps: 4, ..Default::default() }, 3, 2, 0, &dev).unwrap();
        fql.actor_vars.data().lock().unwrap()["bc_flow.out.bias"].set(&Tensor::new(&[3f32, 3.0], &dev).unwrap()).unwrap();
        let s = Tensor::zeros((4, 3), candle_core::DType::F32, &dev).unwrap();
        let z = Tensor::new(&[[1.5f32, -1.5], [0.0, 0.5], [-3.0, 3.0], [0.2, -0.2]], &dev).unwrap();
        let target = fql.bc_ode(&s, &z).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert!(target.iter().all(|x| (-1.0..=1.0).contains(x)), "{target:?}");
        assert!(target.iter().filter(|&&x| x == 1.0).count() >= 6, "velocity +3 over unit time reaches the upper bound: {target:?}");
    }
}
