//! ReBRAC (Tarasov et al. 2023; FQL's `rebrac.py`): TD3+BC with behaviour regularisation on both
//! sides. A deterministic tanh actor; two `4 × 512` GELU + LayerNorm critics.
//!
//! - Critic: `a' = clip(π̄(s') + clip(N(0, 0.2²), ±0.5), ±1)`,
//!   `y = r + γ·mask·(min_i Q̄_i(s', a') − α_c‖a' − a'_D‖²)`, loss `Σ_i mean (Q_i(s, a) − y)²`.
//! - Actor (every `actor_freq` steps): `−mean Q(s, π(s)) / sg(mean |Q|) + α_a·mean ‖π(s) − a_D‖²`
//!   (Q normalised as in TD3+BC), then Polyak updates of the target actor and critics.
//!
//! α_a and α_c are per task in the FQL paper (App. E); the defaults here are a starting point.

use std::collections::HashMap;

use candle_core::{Device, Tensor, D};
use candle_nn::VarMap;
use envs::Batch;
use nf_core::{Activation, AdamW, Mlp};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rl::{
    check_finite, load_varmap, load_varmap_member, member_rows_tensor, member_values, scalar, sorted_vars, step_members, varmap_member_state, varmap_state, Agent, AgentConfig, DataSpec, Fields,
    Members, Metrics, Result,
};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RebracConfig {
    /// Actor hidden widths (FQL `rebrac.py` `actor_hidden_dims`: 4 × 512).
    pub actor_hidden: Vec<usize>,
    /// Critic hidden widths, each with LayerNorm (FQL `value_hidden_dims`: 4 × 512).
    pub critic_hidden: Vec<usize>,
    /// Adam learning rate of actor and critics (FQL: 3e-4).
    pub lr: f64,
    /// Discount γ (FQL: 0.99).
    pub discount: f64,
    /// Polyak rate of the target actor and critics (FQL: 0.005).
    pub tau: f64,
    /// Actor BC weight α_a (per task in FQL App. E; 0.1 here as a starting point).
    pub alpha_actor: f64,
    /// Critic next-action penalty α_c (per task in FQL App. E; 0.01 here as a starting point).
    pub alpha_critic: f64,
    /// Std of the target-policy smoothing noise (TD3, FQL `actor_noise`: 0.2).
    pub actor_noise: f64,
    /// Clip of that noise (TD3, FQL `actor_noise_clip`: 0.5).
    pub actor_noise_clip: f64,
    /// Critic steps per actor step (TD3's delayed policy update, FQL `actor_freq`: 2).
    pub actor_freq: u64,
}

impl Default for RebracConfig {
    fn default() -> Self {
        Self {
            actor_hidden: vec![512; 4],
            critic_hidden: vec![512; 4],
            lr: 3e-4,
            discount: 0.99,
            tau: 0.005,
            alpha_actor: 0.1,
            alpha_critic: 0.01,
            actor_noise: 0.2,
            actor_noise_clip: 0.5,
            actor_freq: 2,
        }
    }
}

pub struct Rebrac {
    cfg: RebracConfig,
    actor_vars: VarMap,
    critic_vars: VarMap,
    target_actor_vars: VarMap,
    target_critic_vars: VarMap,
    actor: Mlp,
    target_actor: Mlp,
    critics: [Mlp; 2],
    targets: [Mlp; 2],
    actor_opt: AdamW,
    critic_opt: AdamW,
    steps: u64,
    obs_dim: usize,
    act_dim: usize,
    device: Device,
}

impl Rebrac {
    pub fn new(cfg: RebracConfig, obs_dim: usize, act_dim: usize, seed: u64, device: &Device) -> Result<Self> {
        let (actor_vars, critic_vars, target_actor_vars, target_critic_vars) = (VarMap::new(), VarMap::new(), VarMap::new(), VarMap::new());
        let actor = Mlp::new(&actor_vars, "actor", obs_dim, &cfg.actor_hidden, act_dim, Activation::Gelu, false, seed, device)?;
        let target_actor = Mlp::new(&target_actor_vars, "actor", obs_dim, &cfg.actor_hidden, act_dim, Activation::Gelu, false, seed, device)?;
        let mk = |vars: &VarMap, i: usize| Mlp::new(vars, &format!("critic{i}"), obs_dim + act_dim, &cfg.critic_hidden, 1, Activation::Gelu, true, seed.wrapping_add(1 + i as u64), device);
        let critics = [mk(&critic_vars, 0)?, mk(&critic_vars, 1)?];
        let targets = [mk(&target_critic_vars, 0)?, mk(&target_critic_vars, 1)?];
        let actor_opt = AdamW::adam(sorted_vars(&actor_vars), cfg.lr)?;
        let critic_opt = AdamW::adam(sorted_vars(&critic_vars), cfg.lr)?;
        Ok(Self {
            cfg,
            actor_vars,
            critic_vars,
            target_actor_vars,
            target_critic_vars,
            actor,
            target_actor,
            critics,
            targets,
            actor_opt,
            critic_opt,
            steps: 0,
            obs_dim,
            act_dim,
            device: device.clone(),
        })
    }
}

impl Agent for Rebrac {
    fn name(&self) -> &str {
        "rebrac"
    }
    fn data_spec(&self) -> DataSpec {
        DataSpec::Transitions
    }
    fn update(&mut self, b: &Batch, rng: &mut ChaCha8Rng) -> Result<Metrics> {
        let (n, dev) = (b.batch, &self.device);
        let s = Tensor::from_slice(&b.observations, (n, self.obs_dim), dev)?;
        let s2 = Tensor::from_slice(&b.next_observations, (n, self.obs_dim), dev)?;
        let a = Tensor::from_slice(&b.actions, (n, self.act_dim), dev)?;
        let a2_data = Tensor::from_slice(&b.next_actions, (n, self.act_dim), dev)?;
        let r = Tensor::from_slice(&b.rewards, n, dev)?;
        let mask = Tensor::from_slice(&b.masks, n, dev)?;

        let clip = self.cfg.actor_noise_clip as f32;
        let noise: Vec<f32> = (0..n * self.act_dim).map(|_| (rng.sample::<f32, _>(StandardNormal) * self.cfg.actor_noise as f32).clamp(-clip, clip)).collect();
        let a2 = (self.target_actor.forward(&s2)?.tanh()? + Tensor::from_vec(noise, (n, self.act_dim), dev)?)?.clamp(-1f32, 1f32)?;
        let [t0, t1] = rl::twin_q(&self.targets, &s2, &a2)?;
        let penalty = ((&a2 - &a2_data)?.sqr()?.sum(1)? * self.cfg.alpha_critic)?;
        let y = (r + (mask * (t0.minimum(&t1)? - penalty)?)? * self.cfg.discount)?.detach();
        let [q0, q1] = rl::twin_q(&self.critics, &s, &a)?;
        let critic_loss = ((&q0 - &y)?.sqr()?.mean_all()? + (&q1 - &y)?.sqr()?.mean_all()?)?;
        let cv = check_finite("critic_loss", scalar(&critic_loss)?)?;
        self.critic_opt.step(&critic_loss.backward()?)?;
        let mut m = vec![("critic_loss".to_string(), cv), ("q".to_string(), scalar(&q0.mean_all()?)?)];

        self.steps += 1;
        if self.steps.is_multiple_of(self.cfg.actor_freq) {
            let pi = self.actor.forward(&s)?.tanh()?;
            let [p0, p1] = rl::twin_q_frozen(&self.critics, &s, &pi)?;
            let q = p0.minimum(&p1)?;
            let scale = scalar(&q.abs()?.mean_all()?)?.max(1e-6);
            let bc = (&pi - &a)?.sqr()?.sum(1)?.mean_all()?;
            let actor_loss = ((q.mean_all()? / scale)?.neg()? + (&bc * self.cfg.alpha_actor)?)?;
            let av = check_finite("actor_loss", scalar(&actor_loss)?)?;
            self.actor_opt.step(&actor_loss.backward()?)?;
            rl::polyak(&self.target_actor_vars, &self.actor_vars, self.cfg.tau)?;
            rl::polyak(&self.target_critic_vars, &self.critic_vars, self.cfg.tau)?;
            m.push(("actor_loss".into(), av));
            m.push(("bc_mse".into(), scalar(&bc)?));
        }
        Ok(m)
    }
    fn act(&self, obs: &[f32], _goals: Option<&[f32]>, n: usize, _rng: &mut ChaCha8Rng) -> Result<Vec<f32>> {
        let s = Tensor::from_slice(obs, (n, self.obs_dim), &self.device)?;
        Ok(self.actor.forward(&s)?.tanh()?.flatten_all()?.to_vec1::<f32>()?)
    }
    fn state(&self) -> Result<Vec<(String, Tensor)>> {
        let mut out = varmap_state(&self.actor_vars, "");
        out.extend(varmap_state(&self.critic_vars, ""));
        out.extend(varmap_state(&self.target_actor_vars, "target."));
        out.extend(varmap_state(&self.target_critic_vars, "target."));
        out.extend(self.actor_opt.state("opt_actor")?);
        out.extend(self.critic_opt.state("opt_critic")?);
        out.push(("rebrac.steps".into(), Tensor::new(&[self.steps as i64], &Device::Cpu)?));
        Ok(out)
    }
    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        load_varmap(&self.actor_vars, state, "")?;
        load_varmap(&self.critic_vars, state, "")?;
        load_varmap(&self.target_actor_vars, state, "target.")?;
        load_varmap(&self.target_critic_vars, state, "target.")?;
        self.actor_opt.load_state("opt_actor", state)?;
        self.critic_opt.load_state("opt_critic", state)?;
        if let Some(t) = state.get("rebrac.steps") {
            self.steps = t.to_vec1::<i64>()?[0] as u64;
        }
        Ok(())
    }
}

/// ReBRAC as a member ensemble: E solo agents' actors, critics, targets and optimisers in one
/// graph, member e the solo agent with `seeds[e]`; every loss and the actor loss's Q scale are
/// each member's own.
pub struct RebracMembers {
    cfg: RebracConfig,
    actor_vars: VarMap,
    critic_vars: VarMap,
    target_actor_vars: VarMap,
    target_critic_vars: VarMap,
    actor: Mlp,
    target_actor: Mlp,
    critics: [Mlp; 2],
    targets: [Mlp; 2],
    actor_opt: AdamW,
    critic_opt: AdamW,
    steps: u64,
    obs_dim: usize,
    act_dim: usize,
    device: Device,
}

impl RebracMembers {
    pub fn new(cfg: &RebracConfig, obs_dim: usize, act_dim: usize, seeds: &[u64], device: &Device) -> Result<Self> {
        let (actor_vars, critic_vars, target_actor_vars, target_critic_vars) = (VarMap::new(), VarMap::new(), VarMap::new(), VarMap::new());
        let actor = Mlp::members(&actor_vars, "actor", obs_dim, &cfg.actor_hidden, act_dim, Activation::Gelu, false, seeds, device)?;
        let target_actor = Mlp::members(&target_actor_vars, "actor", obs_dim, &cfg.actor_hidden, act_dim, Activation::Gelu, false, seeds, device)?;
        let mk = |vars: &VarMap, i: usize| {
            let member_seeds: Vec<u64> = seeds.iter().map(|s| s.wrapping_add(1 + i as u64)).collect();
            Mlp::members(vars, &format!("critic{i}"), obs_dim + act_dim, &cfg.critic_hidden, 1, Activation::Gelu, true, &member_seeds, device)
        };
        let critics = [mk(&critic_vars, 0)?, mk(&critic_vars, 1)?];
        let targets = [mk(&target_critic_vars, 0)?, mk(&target_critic_vars, 1)?];
        let actor_opt = AdamW::adam(sorted_vars(&actor_vars), cfg.lr)?;
        let critic_opt = AdamW::adam(sorted_vars(&critic_vars), cfg.lr)?;
        Ok(Self {
            cfg: cfg.clone(),
            actor_vars,
            critic_vars,
            target_actor_vars,
            target_critic_vars,
            actor,
            target_actor,
            critics,
            targets,
            actor_opt,
            critic_opt,
            steps: 0,
            obs_dim,
            act_dim,
            device: device.clone(),
        })
    }
}

impl Members for RebracMembers {
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
        let a2_data = member_rows_tensor(batches, |b| vec![(&b.next_actions, k)], dev)?;
        let r = member_rows_tensor(batches, |b| vec![(&b.rewards, 1)], dev)?.squeeze(D::Minus1)?;
        let mask = member_rows_tensor(batches, |b| vec![(&b.masks, 1)], dev)?.squeeze(D::Minus1)?;

        let clip = self.cfg.actor_noise_clip as f32;
        let noise: Vec<f32> = rngs.iter_mut().flat_map(|rng| (0..n * k).map(|_| (rng.sample::<f32, _>(StandardNormal) * self.cfg.actor_noise as f32).clamp(-clip, clip)).collect::<Vec<_>>()).collect();
        let a2 = (self.target_actor.forward(&s2)?.tanh()? + Tensor::from_vec(noise, (e_n, n, k), dev)?)?.clamp(-1f32, 1f32)?;
        let [t0, t1] = rl::twin_q(&self.targets, &s2, &a2)?;
        let penalty = ((&a2 - &a2_data)?.sqr()?.sum(D::Minus1)? * self.cfg.alpha_critic)?;
        let y = (r + (mask * (t0.minimum(&t1)? - penalty)?)? * self.cfg.discount)?.detach();
        let [q0, q1] = rl::twin_q(&self.critics, &s, &a)?;
        let critic_loss = ((&q0 - &y)?.sqr()?.mean(D::Minus1)? + (&q1 - &y)?.sqr()?.mean(D::Minus1)?)?;
        let q_mean = member_values(&q0.mean(D::Minus1)?)?;
        let opt = &mut self.critic_opt;
        let checked = step_members(&critic_loss, "critic_loss", live, |total| Ok(opt.step(&total.backward()?)?))?;
        let mut results: Vec<Option<Result<Metrics>>> =
            checked.into_iter().enumerate().map(|(e, c)| c.map(|r| r.map(|cv| vec![("critic_loss".to_string(), cv), ("q".to_string(), q_mean[e])]))).collect();

        self.steps += 1;
        if self.steps.is_multiple_of(self.cfg.actor_freq) {
            let pi = self.actor.forward(&s)?.tanh()?;
            let [p0, p1] = rl::twin_q_frozen(&self.critics, &s, &pi)?;
            let q = p0.minimum(&p1)?;
            // Each member's |Q| scale, a constant as in the solo agent (which divides by it,
            // i.e. multiplies by its reciprocal rounded to f32).
            let inv: Vec<f32> = member_values(&q.abs()?.mean(D::Minus1)?)?.iter().map(|v| (1.0 / v.max(1e-6)) as f32).collect();
            let inv = Tensor::from_vec(inv, e_n, dev)?;
            let bc = (&pi - &a)?.sqr()?.sum(D::Minus1)?.mean(D::Minus1)?;
            let actor_loss = ((q.mean(D::Minus1)? * inv)?.neg()? + (&bc * self.cfg.alpha_actor)?)?;
            let bc_v = member_values(&bc)?;
            let still: Vec<bool> = results.iter().map(|r| matches!(r, Some(Ok(_)))).collect();
            let opt = &mut self.actor_opt;
            let checked = step_members(&actor_loss, "actor_loss", &still, |total| Ok(opt.step(&total.backward()?)?))?;
            rl::polyak(&self.target_actor_vars, &self.actor_vars, self.cfg.tau)?;
            rl::polyak(&self.target_critic_vars, &self.critic_vars, self.cfg.tau)?;
            for (e, c) in checked.into_iter().enumerate() {
                match c {
                    Some(Ok(av)) => {
                        if let Some(Ok(m)) = &mut results[e] {
                            m.push(("actor_loss".into(), av));
                            m.push(("bc_mse".into(), bc_v[e]));
                        }
                    }
                    Some(Err(err)) => results[e] = Some(Err(err)),
                    None => {}
                }
            }
        }
        Ok(results)
    }
    fn member_state(&self, e: usize) -> Result<Vec<(String, Tensor)>> {
        let n = self.count();
        let mut out = varmap_member_state(&self.actor_vars, "", e)?;
        out.extend(varmap_member_state(&self.critic_vars, "", e)?);
        out.extend(varmap_member_state(&self.target_actor_vars, "target.", e)?);
        out.extend(varmap_member_state(&self.target_critic_vars, "target.", e)?);
        out.extend(self.actor_opt.member_state("opt_actor", e, n)?);
        out.extend(self.critic_opt.member_state("opt_critic", e, n)?);
        out.push(("rebrac.steps".into(), Tensor::new(&[self.steps as i64], &Device::Cpu)?));
        Ok(out)
    }
    fn load_member_state(&mut self, e: usize, state: &HashMap<String, Tensor>) -> Result<()> {
        let n = self.count();
        load_varmap_member(&self.actor_vars, state, "", e)?;
        load_varmap_member(&self.critic_vars, state, "", e)?;
        load_varmap_member(&self.target_actor_vars, state, "target.", e)?;
        load_varmap_member(&self.target_critic_vars, state, "target.", e)?;
        self.actor_opt.load_member_state("opt_actor", e, n, state)?;
        self.critic_opt.load_member_state("opt_critic", e, n, state)?;
        if let Some(t) = state.get("rebrac.steps") {
            self.steps = t.to_vec1::<i64>()?[0] as u64;
        }
        Ok(())
    }
}

impl AgentConfig for RebracConfig {
    const NAME: &'static str = "rebrac";
    const SOURCE: &'static str = file!();
    type Agent = Rebrac;

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
        f.non_negative("alpha_actor", self.alpha_actor)?;
        f.non_negative("alpha_critic", self.alpha_critic)?;
        f.non_negative("actor_noise", self.actor_noise)?;
        f.non_negative("actor_noise_clip", self.actor_noise_clip)?;
        f.range("actor_freq", self.actor_freq, 1..)
    }
    fn build(&self, obs_dim: usize, act_dim: usize, seed: u64, device: &Device) -> Result<Rebrac> {
        Rebrac::new(self.clone(), obs_dim, act_dim, seed, device)
    }
    const MEMBERS: bool = true;
    fn build_members(&self, obs_dim: usize, act_dim: usize, seeds: &[u64], device: &Device) -> Option<Result<Box<dyn Members>>> {
        Some(RebracMembers::new(self, obs_dim, act_dim, seeds, device).map(|m| Box::new(m) as Box<dyn Members>))
    }
}
