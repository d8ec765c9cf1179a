//! NF-RLBC (paper Eq. 9, `offline-rl/agents/vinf.py`): TD3+BC with the flow as the actor.
//!
//! - Critic: two `4 × 512` GELU + LayerNorm MLPs on `[s, a]`;
//!   `y = r + γ·mask·agg_i Q̄_i(s', clip(a'))`, `a' ~ π(·|s')` under stop-gradient (no target
//!   actor), `agg` = min (mean for the soccer tasks); loss `mean_i (Q_i(s, a) − y)²`; Polyak
//!   τ = 0.005 on the critics only.
//! - Actor: `−mean min_i Q_i(s, clip(a_π)) + α·(−mean log π(a_D|s)) + λ·mean log π(a_π|s)` with
//!   `a_π` a reparameterised flow sample; the critics are frozen in this term.
//! - One Adam (lr 1e-4) over critic, actor and encoder; γ = 0.995; α per environment.
//!
//! λ = 0 reproduces the paper. λ > 0 is the MaxEnt variant that the paper claims but never ran;
//! it only adds the exact `log π` of the sample, which the flow gives for free.

use std::collections::HashMap;

use candle_core::{Device, Tensor, D};
use candle_nn::VarMap;
use envs::Batch;
use nf_core::{Activation, AdamW, ConditionalFlow, Draw, EncoderConfig, FlowConfig, FlowSampler, Mlp};
use rand_chacha::ChaCha8Rng;
use rl::{
    check_finite, load_varmap, load_varmap_member, member_rows_tensor, member_values, scalar, sorted_vars, varmap_member_state, varmap_state, Agent, AgentConfig, DataSpec, Fields, Members, Metrics,
    Result, RlError,
};
use serde::{Deserialize, Serialize};

/// How the TD target aggregates the two target critics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum QAgg {
    Min,
    Mean,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NfRlbcConfig {
    /// Flow blocks (paper code `vinf.py`: 6).
    pub blocks: usize,
    /// Coupling MLP width (paper code: 256).
    pub channels: usize,
    /// The flax quirk: first coupling layer `channels + rep` wide (paper code: on).
    pub widen_first_layer: bool,
    /// Condition encoder hidden widths (paper code: 4 × 512).
    pub encoder_hidden: Vec<usize>,
    /// Encoder output width (paper code: 64).
    pub rep: usize,
    /// Critic hidden widths (FQL `Value`: 4 × 512).
    pub critic_hidden: Vec<usize>,
    /// Adam learning rate for everything (paper: 1e-4).
    pub lr: f64,
    /// Discount (paper: 0.995 on every task).
    pub discount: f64,
    /// Polyak rate of the target critics (paper: 0.005).
    pub tau: f64,
    /// BC coefficient α (paper Table 6: 10 for puzzle/scene/cube, 1 for the mazes and soccer).
    pub alpha: f64,
    /// Entropy coefficient λ (paper: 0).
    pub lambda: f64,
    /// Aggregation of the two target critics (paper: min; mean for the soccer tasks).
    pub q_agg: QAgg,
    /// Scale of the base noise at action time: 1 samples the policy, 0 takes the flow's image
    /// of the base mode (a deterministic policy, as TD3-style evaluations use).
    pub action_temperature: f64,
}

impl Default for NfRlbcConfig {
    fn default() -> Self {
        Self {
            blocks: 6,
            channels: 256,
            widen_first_layer: true,
            encoder_hidden: vec![512; 4],
            rep: 64,
            critic_hidden: vec![512; 4],
            lr: 1e-4,
            discount: 0.995,
            tau: 0.005,
            alpha: 1.0,
            lambda: 0.0,
            q_agg: QAgg::Min,
            action_temperature: 1.0,
        }
    }
}

pub struct NfRlbc {
    cfg: NfRlbcConfig,
    flow: FlowSampler,
    critic_vars: VarMap,
    target_vars: VarMap,
    critics: [Mlp; 2],
    targets: [Mlp; 2],
    actor_opt: AdamW,
    critic_opt: AdamW,
    obs_dim: usize,
    act_dim: usize,
    device: Device,
}

impl NfRlbcConfig {
    fn flow_config(&self, obs_dim: usize, act_dim: usize) -> Result<FlowConfig> {
        let cfg = self;
        if !(0.0..=1.0).contains(&cfg.tau) || !(0.0..1.0).contains(&cfg.discount) || cfg.alpha < 0.0 || cfg.lambda < 0.0 {
            return Err(RlError::Config { agent: "nf-rlbc".into(), reason: format!("need 0 ≤ tau ≤ 1, 0 ≤ discount < 1, alpha ≥ 0, lambda ≥ 0 (got {cfg:?})") });
        }
        Ok(FlowConfig {
            blocks: cfg.blocks,
            channels: cfg.channels,
            widen_first_layer: cfg.widen_first_layer,
            encoder: EncoderConfig { hidden: cfg.encoder_hidden.clone(), rep: cfg.rep, ..EncoderConfig::default() },
            ..FlowConfig::rlbc(act_dim, obs_dim)
        })
    }
}

/// The TD target `r + γ·mask·agg_i Q̄_i(s', a')` from the two target critics' values.
fn td_target(cfg: &NfRlbcConfig, r: &Tensor, mask: &Tensor, t: [Tensor; 2]) -> Result<Tensor> {
    let [t0, t1] = t;
    let next = match cfg.q_agg {
        QAgg::Min => t0.minimum(&t1)?,
        QAgg::Mean => ((t0 + t1)? * 0.5)?,
    };
    Ok((r + (mask * next)? * cfg.discount)?.detach())
}

impl NfRlbc {
    pub fn new(cfg: NfRlbcConfig, obs_dim: usize, act_dim: usize, seed: u64, device: &Device) -> Result<Self> {
        let flow = FlowSampler::new(ConditionalFlow::new(cfg.flow_config(obs_dim, act_dim)?, seed, device)?);
        let critic_vars = VarMap::new();
        let target_vars = VarMap::new();
        let mk = |vars: &VarMap, i: usize| Mlp::new(vars, &format!("critic{i}"), obs_dim + act_dim, &cfg.critic_hidden, 1, Activation::Gelu, true, seed.wrapping_add(1 + i as u64), device);
        let critics = [mk(&critic_vars, 0)?, mk(&critic_vars, 1)?];
        // Same seeds: the targets start as exact copies of the critics.
        let targets = [mk(&target_vars, 0)?, mk(&target_vars, 1)?];
        let actor_opt = AdamW::adam(flow.trainable_vars(), cfg.lr)?;
        let critic_opt = AdamW::adam(sorted_vars(&critic_vars), cfg.lr)?;
        Ok(Self { cfg, flow, critic_vars, target_vars, critics, targets, actor_opt, critic_opt, obs_dim, act_dim, device: device.clone() })
    }

    /// `min_i Q_i(s, a)` for one state-action pair (diagnostics and tests).
    pub fn q_value(&self, s: &[f32], a: &[f32]) -> Result<f32> {
        let st = Tensor::from_slice(s, (1, self.obs_dim), &self.device)?;
        let at = Tensor::from_slice(a, (1, self.act_dim), &self.device)?;
        let [q0, q1] = rl::twin_q(&self.critics, &st, &at)?;
        Ok(q0.minimum(&q1)?.to_vec1::<f32>()?[0])
    }

    fn sample_clipped(&self, s: &Tensor, rng: &mut ChaCha8Rng) -> Result<(Tensor, Tensor)> {
        let z = self.flow.noise(rng, s.dim(0)?)?;
        let (a, logp) = self.flow.sample_and_log_prob(Some(s), &z)?;
        Ok((a.clamp(-1f32, 1f32)?, logp))
    }
}

impl Agent for NfRlbc {
    fn name(&self) -> &str {
        "nf-rlbc"
    }
    fn data_spec(&self) -> DataSpec {
        DataSpec::Transitions
    }
    fn update(&mut self, b: &Batch, rng: &mut ChaCha8Rng) -> Result<Metrics> {
        let n = b.batch;
        let dev = &self.device;
        let s = Tensor::from_slice(&b.observations, (n, self.obs_dim), dev)?;
        let s2 = Tensor::from_slice(&b.next_observations, (n, self.obs_dim), dev)?;
        let a = Tensor::from_slice(&b.actions, (n, self.act_dim), dev)?;
        let r = Tensor::from_slice(&b.rewards, n, dev)?;
        let mask = Tensor::from_slice(&b.masks, n, dev)?;

        // Critic: TD target from the target critics at a' ~ π(s'), no gradient.
        let (a2, _) = self.sample_clipped(&s2, rng)?;
        let y = td_target(&self.cfg, &r, &mask, rl::twin_q(&self.targets, &s2, &a2.detach())?)?;
        let [q0, q1] = rl::twin_q(&self.critics, &s, &a)?;
        let critic_loss = (((&q0 - &y)?.sqr()?.mean_all()? + (&q1 - &y)?.sqr()?.mean_all()?)? * 0.5)?;

        // Actor: reparameterised sample through the frozen critics, BC and entropy terms.
        let (a_pi, logp_pi) = self.sample_clipped(&s, rng)?;
        let [p0, p1] = rl::twin_q_frozen(&self.critics, &s, &a_pi)?;
        let q_pi = p0.minimum(&p1)?.mean_all()?;
        let bc = self.flow.log_prob(&a, Some(&s))?.mean_all()?.neg()?;
        let ent = logp_pi.mean_all()?;
        let actor_loss = ((q_pi.neg()? + (&bc * self.cfg.alpha)?)? + (&ent * self.cfg.lambda)?)?;

        let critic_v = check_finite("critic_loss", scalar(&critic_loss)?)?;
        let actor_v = check_finite("actor_loss", scalar(&actor_loss)?)?;
        let bc_v = scalar(&bc)?;
        let q_v = scalar(&q_pi)?;
        // Two backward passes, each applied to its own parameters only: the actor term's
        // gradient never reaches the critics (they are "frozen" in it, as in vinf.py).
        let g_critic = critic_loss.backward()?;
        let g_actor = actor_loss.backward()?;
        self.critic_opt.step(&g_critic)?;
        self.actor_opt.step(&g_actor)?;

        // Polyak averaging of the target critics.
        rl::polyak(&self.target_vars, &self.critic_vars, self.cfg.tau)?;
        Ok(vec![("critic_loss".into(), critic_v), ("actor_loss".into(), actor_v), ("bc_nll".into(), bc_v), ("q_pi".into(), q_v), ("log_pi".into(), scalar(&ent)?)])
    }
    fn act(&self, obs: &[f32], _goals: Option<&[f32]>, n: usize, rng: &mut ChaCha8Rng) -> Result<Vec<f32>> {
        let draw = Draw { temperature: self.cfg.action_temperature, denoise: false };
        Ok(self.flow.sample_rows(self.actor_opt.steps(), obs, n, draw, rng)?)
    }
    fn state(&self) -> Result<Vec<(String, Tensor)>> {
        let mut out: Vec<(String, Tensor)> = self.flow.named_tensors().into_iter().map(|(k, v)| (format!("actor.{k}"), v)).collect();
        out.extend(varmap_state(&self.critic_vars, ""));
        out.extend(varmap_state(&self.target_vars, "target."));
        out.extend(self.actor_opt.state("opt_actor")?);
        out.extend(self.critic_opt.state("opt_critic")?);
        Ok(out)
    }
    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        self.flow.set_named_tensors(state, "actor.")?;
        load_varmap(&self.critic_vars, state, "")?;
        load_varmap(&self.target_vars, state, "target.")?;
        self.actor_opt.load_state("opt_actor", state)?;
        self.critic_opt.load_state("opt_critic", state)?;
        Ok(())
    }
}

/// NF-RLBC as a member ensemble: E solo agents' flows, critics, target critics and optimisers
/// in one graph, member e the solo agent with `seeds[e]`. The losses are each member's, row
/// means taken per member; the optimisers step on their sums over the members that step.
pub struct NfRlbcMembers {
    cfg: NfRlbcConfig,
    flow: ConditionalFlow,
    critic_vars: VarMap,
    target_vars: VarMap,
    critics: [Mlp; 2],
    targets: [Mlp; 2],
    actor_opt: AdamW,
    critic_opt: AdamW,
    obs_dim: usize,
    act_dim: usize,
    device: Device,
}

impl NfRlbcMembers {
    pub fn new(cfg: &NfRlbcConfig, obs_dim: usize, act_dim: usize, seeds: &[u64], device: &Device) -> Result<Self> {
        let flow = ConditionalFlow::members(cfg.flow_config(obs_dim, act_dim)?, seeds, device)?;
        let (critic_vars, target_vars) = (VarMap::new(), VarMap::new());
        // Member e's critic i from seed_e + 1 + i, as the solo agent draws it.
        let mk = |vars: &VarMap, i: usize| {
            let member_seeds: Vec<u64> = seeds.iter().map(|s| s.wrapping_add(1 + i as u64)).collect();
            Mlp::members(vars, &format!("critic{i}"), obs_dim + act_dim, &cfg.critic_hidden, 1, Activation::Gelu, true, &member_seeds, device)
        };
        let critics = [mk(&critic_vars, 0)?, mk(&critic_vars, 1)?];
        let targets = [mk(&target_vars, 0)?, mk(&target_vars, 1)?];
        let actor_opt = AdamW::adam(flow.trainable_vars(), cfg.lr)?;
        let critic_opt = AdamW::adam(sorted_vars(&critic_vars), cfg.lr)?;
        Ok(Self { cfg: cfg.clone(), flow, critic_vars, target_vars, critics, targets, actor_opt, critic_opt, obs_dim, act_dim, device: device.clone() })
    }

    fn sample_clipped(&self, s: &Tensor, rngs: &mut [ChaCha8Rng]) -> Result<(Tensor, Tensor)> {
        let z = self.flow.member_noise(rngs, s.dim(1)?)?;
        let (a, logp) = self.flow.sample_and_log_prob(Some(s), &z)?;
        Ok((a.clamp(-1f32, 1f32)?, logp))
    }
}

impl Members for NfRlbcMembers {
    fn count(&self) -> usize {
        self.flow.member_count().unwrap_or(1)
    }
    fn data_spec(&self) -> DataSpec {
        DataSpec::Transitions
    }
    fn update(&mut self, batches: &[Batch], rngs: &mut [ChaCha8Rng], live: &[bool]) -> Result<Vec<Option<Result<Metrics>>>> {
        let (d, k, dev) = (self.obs_dim, self.act_dim, &self.device);
        let s = member_rows_tensor(batches, |b| vec![(&b.observations, d)], dev)?;
        let s2 = member_rows_tensor(batches, |b| vec![(&b.next_observations, d)], dev)?;
        let a = member_rows_tensor(batches, |b| vec![(&b.actions, k)], dev)?;
        let r = member_rows_tensor(batches, |b| vec![(&b.rewards, 1)], dev)?.squeeze(D::Minus1)?;
        let mask = member_rows_tensor(batches, |b| vec![(&b.masks, 1)], dev)?.squeeze(D::Minus1)?;

        // The solo agent's losses, each a per-member `[E]` (row means over the last axis).
        let (a2, _) = self.sample_clipped(&s2, rngs)?;
        let y = td_target(&self.cfg, &r, &mask, rl::twin_q(&self.targets, &s2, &a2.detach())?)?;
        let [q0, q1] = rl::twin_q(&self.critics, &s, &a)?;
        let critic_loss = (((&q0 - &y)?.sqr()?.mean(D::Minus1)? + (&q1 - &y)?.sqr()?.mean(D::Minus1)?)? * 0.5)?;
        let (a_pi, logp_pi) = self.sample_clipped(&s, rngs)?;
        let [p0, p1] = rl::twin_q_frozen(&self.critics, &s, &a_pi)?;
        let q_pi = p0.minimum(&p1)?.mean(D::Minus1)?;
        let bc = self.flow.log_prob(&a, Some(&s))?.mean(D::Minus1)?.neg()?;
        let ent = logp_pi.mean(D::Minus1)?;
        let actor_loss = ((q_pi.neg()? + (&bc * self.cfg.alpha)?)? + (&ent * self.cfg.lambda)?)?;

        let (cv, av, bv, qv, ev) = (member_values(&critic_loss)?, member_values(&actor_loss)?, member_values(&bc)?, member_values(&q_pi)?, member_values(&ent)?);
        let results: Vec<Option<Result<Metrics>>> = (0..live.len())
            .map(|e| {
                live[e].then(|| -> Result<Metrics> {
                    let c = check_finite("critic_loss", cv[e])?;
                    let a = check_finite("actor_loss", av[e])?;
                    Ok(vec![("critic_loss".into(), c), ("actor_loss".into(), a), ("bc_nll".into(), bv[e]), ("q_pi".into(), qv[e]), ("log_pi".into(), ev[e])])
                })
            })
            .collect();
        let stepping: Vec<u32> = results.iter().enumerate().filter(|(_, r)| matches!(r, Some(Ok(_)))).map(|(e, _)| e as u32).collect();
        if !stepping.is_empty() {
            let idx = Tensor::new(stepping.as_slice(), dev)?;
            // As the solo agent: two backward passes, each applied to its own parameters.
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
        let mut out: Vec<(String, Tensor)> = self.flow.member_tensors(e)?.into_iter().map(|(k, v)| (format!("actor.{k}"), v)).collect();
        out.extend(varmap_member_state(&self.critic_vars, "", e)?);
        out.extend(varmap_member_state(&self.target_vars, "target.", e)?);
        out.extend(self.actor_opt.member_state("opt_actor", e, n)?);
        out.extend(self.critic_opt.member_state("opt_critic", e, n)?);
        Ok(out)
    }
    fn load_member_state(&mut self, e: usize, state: &HashMap<String, Tensor>) -> Result<()> {
        let n = self.count();
        self.flow.set_member_tensors(e, state, "actor.")?;
        load_varmap_member(&self.critic_vars, state, "", e)?;
        load_varmap_member(&self.target_vars, state, "target.", e)?;
        self.actor_opt.load_member_state("opt_actor", e, n, state)?;
        self.critic_opt.load_member_state("opt_critic", e, n, state)?;
        Ok(())
    }
}

impl AgentConfig for NfRlbcConfig {
    const NAME: &'static str = "nf-rlbc";
    const SOURCE: &'static str = file!();
    const COMPARED_AGAINST: &'static [&'static str] = &["bc", "rebrac", "fql", "iql", "ifql", "idql"];
    type Agent = NfRlbc;

    fn data_spec(&self) -> DataSpec {
        DataSpec::Transitions
    }
    fn validate(&self) -> Result<()> {
        let f = Fields::of(Self::NAME);
        f.range("blocks", self.blocks, 1..)?;
        f.range("channels", self.channels, 1..)?;
        f.widths("encoder_hidden", &self.encoder_hidden)?;
        f.range("rep", self.rep, 1..)?;
        f.widths("critic_hidden", &self.critic_hidden)?;
        f.positive("lr", self.lr)?;
        f.range("discount", self.discount, 0.0..1.0)?;
        f.range("tau", self.tau, 0.0..=1.0)?;
        f.non_negative("alpha", self.alpha)?;
        f.non_negative("lambda", self.lambda)?;
        f.non_negative("action_temperature", self.action_temperature)
    }
    fn build(&self, obs_dim: usize, act_dim: usize, seed: u64, device: &Device) -> Result<NfRlbc> {
        NfRlbc::new(self.clone(), obs_dim, act_dim, seed, device)
    }
    const MEMBERS: bool = true;
    fn build_members(&self, obs_dim: usize, act_dim: usize, seeds: &[u64], device: &Device) -> Option<Result<Box<dyn Members>>> {
        Some(NfRlbcMembers::new(self, obs_dim, act_dim, seeds, device).map(|m| Box::new(m) as Box<dyn Members>))
    }
}
