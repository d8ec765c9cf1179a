//! NF-UGS (paper §4.3 and Eqs. 11–12, `unsupservised-gcrl/train_auto_NF_rl.py`): online,
//! unsupervised goal-conditioned RL with a normalizing flow as the critic.
//!
//! - Critic: the discounted state-occupancy density `Q(s, a, g) := log p_θ(g | φ(s, a))`. φ is
//!   the state–action encoder (`4 × 1024`, Dense → LayerNorm → swish, then Dense(64)); the flow is
//!   the reference's RealNVP over the goal (6 blocks × 256, no condition encoder of its own: the
//!   couplings read φ directly). Loss `−mean log p_θ(g + ε | m ⊙ φ(s, a))`, ε ~ N(0, 0.05²), m a
//!   per-row mask that zeroes φ with probability 0.1, so the same flow also learns the marginal
//!   `p_θ(g) = p_θ(g | 0)` (Eq. 12). AdamW (1e-4, weight decay 1e-6) on the flow, Adam (3e-4)
//!   on φ, both on this loss.
//! - Actor: a tanh-Gaussian π(a | s, g) on the raw goal ([`rl::TanhGaussianActor`]),
//!   `L_π = mean[α·log π(a_π | s, g) − log p_θ(g | φ(s, a_π))]`, a_π reparameterised; the
//!   gradient runs through φ and the flow into a_π, but only the actor's Adam (3e-4) steps.
//!   α is tuned toward the entropy −|A|/2 ([`rl::Temperature`], Adam 3e-4).
//! - Each SGD step updates the actor and α first, then the critic (`sgd_step`'s order).
//! - Goals (MEGA-style, `get_worst_best_goal`): before each unroll every environment commands
//!   the candidate future state of lowest marginal log-density `log p_θ(g | 0)`.
//! - Acting: exploration samples π; evaluation takes `tanh(μ)`.

use std::collections::HashMap;

use candle_core::{Device, Tensor, D};
use candle_nn::VarMap;
use envs::Batch;
use nf_core::{Activation, AdamW, ConditionalFlow, EncoderConfig, FlowConfig, Mlp};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rl::{
    check_finite, load_varmap, rows_tensor, scalar, sorted_vars, varmap_state, Agent, AgentConfig, DataSpec, Explorer, Fields, GoalContext, Metrics, OnlineConfig, Result, RlError, TanhGaussianActor,
    Temperature,
};
use serde::{Deserialize, Serialize};

const NAME: &str = "nf-ugs";

/// Rows per flow evaluation outside training (goal selection, diagnostics). The flow's
/// parameters are candle variables, so a forward keeps every intermediate of its graph alive
/// until its result is dropped: at the paper's width (coupling layers 320 and 256 wide, 6 blocks)
/// ~55 KB per row (measured: ~230 MB per chunk), where the paper's 1024 × 1024 candidates in
/// one pass would hold ~60 GB.
const EVAL_CHUNK: usize = 4096;

/// NF-UGS's hyper-parameters; defaults are the paper code's (`Args` of
/// `train_auto_NF_rl.py`, networks of `models.py` and `nf.py`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NfUgsConfig {
    /// Actor hidden widths (`models.py` `Actor`: 4 × 1024, Dense → LayerNorm → swish).
    pub actor_hidden: Vec<usize>,
    /// State–action encoder hidden widths (`models.py` `SA_encoder`: 4 × 1024, same layers).
    pub encoder_hidden: Vec<usize>,
    /// Width of φ(s, a), the flow's condition (`rep_size = 64`).
    pub rep: usize,
    /// Flow blocks (`blocks = 6`).
    pub blocks: usize,
    /// Coupling MLP width (`channels = 256`; the first layer is `channels + rep` wide, the flax
    /// `MetaBlock`'s quirk).
    pub channels: usize,
    /// Std of the Gaussian noise added to the goals in the critic loss (`noise_std = 0.05`).
    pub noise_std: f64,
    /// Probability that a row's φ(s, a) is zeroed in the critic loss, which teaches the flow the
    /// marginal p(g) (`mask_drop_prob = 0.1`).
    pub mask_prob: f64,
    /// Actor Adam learning rate (`actor_lr = 3e-4`).
    pub actor_lr: f64,
    /// Encoder Adam learning rate (the reference builds the encoder's Adam with `actor_lr`: 3e-4).
    pub encoder_lr: f64,
    /// Flow AdamW learning rate (`critic_lr = 1e-4`).
    pub critic_lr: f64,
    /// Flow AdamW weight decay (`critic_weight_decay = 1e-6`).
    pub critic_weight_decay: f64,
    /// Entropy-temperature Adam learning rate (`alpha_lr = 3e-4`).
    pub alpha_lr: f64,
    /// The online loop (`[agent.online]`): environments, unroll, buffer, updates, candidates, γ.
    pub online: OnlineConfig,
}

impl Default for NfUgsConfig {
    fn default() -> Self {
        Self {
            actor_hidden: vec![1024; 4],
            encoder_hidden: vec![1024; 4],
            rep: 64,
            blocks: 6,
            channels: 256,
            noise_std: 0.05,
            mask_prob: 0.1,
            actor_lr: 3e-4,
            encoder_lr: 3e-4,
            critic_lr: 1e-4,
            critic_weight_decay: 1e-6,
            alpha_lr: 3e-4,
            online: OnlineConfig::default(),
        }
    }
}

impl NfUgsConfig {
    /// The reference's `RealNVP(num_blocks, in_channels = goal dim, channels, cond_channels =
    /// rep_size)`: no condition encoder (φ is fed as it is), no noise or denoising inside the
    /// flow (the agent adds the goal noise; nothing is ever sampled).
    fn flow_config(&self, goal_dim: usize) -> FlowConfig {
        FlowConfig { blocks: self.blocks, channels: self.channels, encoder: EncoderConfig { enabled: false, ..EncoderConfig::default() }, ..FlowConfig::rlbc(goal_dim, self.rep) }
    }
}

/// The NF-UGS agent: actor, state–action encoder φ, goal flow, their three optimisers and α.
pub struct NfUgs {
    cfg: NfUgsConfig,
    actor_vars: VarMap,
    actor: TanhGaussianActor,
    actor_opt: AdamW,
    encoder_vars: VarMap,
    encoder: Mlp,
    encoder_opt: AdamW,
    flow: ConditionalFlow,
    flow_opt: AdamW,
    temperature: Temperature,
    obs_dim: usize,
    act_dim: usize,
    device: Device,
}

fn config_error(reason: String) -> RlError {
    RlError::Config { agent: NAME.into(), reason }
}

impl NfUgs {
    pub fn new(cfg: NfUgsConfig, obs_dim: usize, act_dim: usize, seed: u64, device: &Device) -> Result<Self> {
        cfg.validate()?;
        let actor_vars = VarMap::new();
        let actor = TanhGaussianActor::new(&actor_vars, "actor", 2 * obs_dim, &cfg.actor_hidden, act_dim, seed, device)?;
        let encoder_vars = VarMap::new();
        let encoder = Mlp::new(&encoder_vars, "encoder", obs_dim + act_dim, &cfg.encoder_hidden, cfg.rep, Activation::Silu, true, seed.wrapping_add(1), device)?.norm_before_activation();
        let flow = ConditionalFlow::new(cfg.flow_config(obs_dim), seed.wrapping_add(2), device)?;
        let actor_opt = AdamW::adam(sorted_vars(&actor_vars), cfg.actor_lr)?;
        let encoder_opt = AdamW::adam(sorted_vars(&encoder_vars), cfg.encoder_lr)?;
        let flow_opt = AdamW::new(flow.trainable_vars(), cfg.critic_lr, cfg.critic_weight_decay)?;
        let temperature = Temperature::new(act_dim, cfg.alpha_lr, device)?;
        Ok(Self { cfg, actor_vars, actor, actor_opt, encoder_vars, encoder, encoder_opt, flow, flow_opt, temperature, obs_dim, act_dim, device: device.clone() })
    }

    pub fn config(&self) -> &NfUgsConfig {
        &self.cfg
    }

    /// `rows` rows of `width` values from `data`, or an error naming `what`.
    fn rows(&self, what: &str, data: &[f32], rows: usize, width: usize) -> Result<Tensor> {
        if data.len() != rows * width {
            return Err(config_error(format!("{what}: expected {rows} rows × {width} values, got {}", data.len())));
        }
        Ok(Tensor::from_slice(data, (rows, width), &self.device)?)
    }

    /// Per-row `log p_θ(g | rep)` over `goals` `[n, obs_dim]`, `EVAL_CHUNK` rows at a time;
    /// `rep(start, rows)` gives the condition of those rows.
    fn chunked_log_prob(&self, goals: &[f32], chunk: usize, rep: &dyn Fn(usize, usize) -> Result<Tensor>) -> Result<Vec<f32>> {
        let d = self.obs_dim;
        if !goals.len().is_multiple_of(d) {
            return Err(config_error(format!("goals: {} values are not rows of {d}", goals.len())));
        }
        let n = goals.len() / d;
        let mut out = Vec::with_capacity(n);
        for start in (0..n).step_by(chunk.max(1)) {
            let rows = chunk.min(n - start);
            let g = self.rows("goals", &goals[start * d..(start + rows) * d], rows, d)?;
            out.extend(self.flow.log_prob_rep(&g, Some(&rep(start, rows)?))?.to_vec1::<f32>()?);
        }
        Ok(out)
    }

    fn marginal_chunked(&self, goals: &[f32], chunk: usize) -> Result<Vec<f32>> {
        self.chunked_log_prob(goals, chunk, &|_, rows| Ok(Tensor::zeros((rows, self.cfg.rep), candle_core::DType::F32, &self.device)?))
    }

    /// The marginal goal log-density `log p_θ(g) = log p_θ(g | φ = 0)` of each row of `goals`
    /// `[n, obs_dim]` (the masked condition the critic loss trains, Eq. 12).
    pub fn marginal_log_prob(&self, goals: &[f32]) -> Result<Vec<f32>> {
        self.marginal_chunked(goals, EVAL_CHUNK)
    }

    /// The critic `log p_θ(g | φ(s, a))` of each row of `obs` `[n, obs_dim]`, `actions`
    /// `[n, act_dim]` and `goals` `[n, obs_dim]`.
    pub fn log_prob(&self, obs: &[f32], actions: &[f32], goals: &[f32]) -> Result<Vec<f32>> {
        let n = goals.len() / self.obs_dim.max(1);
        let (s, a) = (self.rows("observations", obs, n, self.obs_dim)?, self.rows("actions", actions, n, self.act_dim)?);
        let rep = |start: usize, rows: usize| -> Result<Tensor> {
            let sa = Tensor::cat(&[s.narrow(0, start, rows)?, a.narrow(0, start, rows)?], D::Minus1)?;
            Ok(self.encoder.forward(&sa)?.detach())
        };
        self.chunked_log_prob(goals, EVAL_CHUNK, &rep)
    }

    /// The actor and α half of `sgd_step` (`update_actor_and_alpha`): one Adam step of the actor
    /// on `mean[α·log π(a_π|s,g) − log p_θ(g | φ(s, a_π))]`, φ and the flow frozen, then one of α.
    fn actor_step(&mut self, s: &Tensor, g: &Tensor, rng: &mut ChaCha8Rng) -> Result<Metrics> {
        let alpha = self.temperature.alpha()?;
        let pi = self.actor.sample(&Tensor::cat(&[s, g], D::Minus1)?, rng)?;
        // φ's weights are cut from the graph; the flow's still get gradients (it has no frozen
        // form) but its optimiser never sees this loss's, so it is frozen here all the same.
        let rep = self.encoder.forward_frozen(&Tensor::cat(&[s, &pi.actions], D::Minus1)?)?;
        let qf_pi = self.flow.log_prob_rep(g, Some(&rep))?;
        let actor_loss = ((&pi.log_prob * alpha)? - &qf_pi)?.mean_all()?;
        let actor_v = check_finite("actor_loss", scalar(&actor_loss)?)?;
        self.actor_opt.step(&actor_loss.backward()?)?;
        let mean_log_pi = check_finite("log_pi", scalar(&pi.log_prob.mean_all()?)?)?;
        let alpha_loss = self.temperature.update(mean_log_pi)?;
        Ok(vec![
            ("actor_loss".into(), actor_v),
            ("alpha".into(), self.temperature.alpha()?),
            ("alpha_loss".into(), alpha_loss),
            ("entropy".into(), -mean_log_pi),
            ("qf_pi".into(), scalar(&qf_pi.mean_all()?)?),
        ])
    }

    /// The critic half (`update_critic_encoder`): one step of the flow (AdamW) and φ (Adam) on
    /// `−mean log p_θ(g + ε | m ⊙ φ(s, a))`.
    fn critic_step(&mut self, s: &Tensor, a: &Tensor, g: &Tensor, rng: &mut ChaCha8Rng) -> Result<Metrics> {
        let n = s.dim(0)?;
        let eps = rl::sac::standard_normal(&[n, self.obs_dim], rng, &self.device)?;
        let noisy = (g + (eps * self.cfg.noise_std)?)?;
        // The reference draws noise and mask from one key; two draws from the stream here.
        let keep: Vec<f32> = (0..n).map(|_| if rng.random::<f64>() < self.cfg.mask_prob { 0.0 } else { 1.0 }).collect();
        let keep = Tensor::from_vec(keep, (n, 1), &self.device)?;
        let rep = self.encoder.forward(&Tensor::cat(&[s, a], D::Minus1)?)?.broadcast_mul(&keep)?;
        let critic_loss = self.flow.log_prob_rep(&noisy, Some(&rep))?.mean_all()?.neg()?;
        let critic_v = check_finite("critic_loss", scalar(&critic_loss)?)?;
        let grads = critic_loss.backward()?;
        self.flow_opt.step(&grads)?;
        self.encoder_opt.step(&grads)?;
        Ok(vec![("critic_loss".into(), critic_v)])
    }
}

impl Agent for NfUgs {
    fn name(&self) -> &str {
        NAME
    }
    fn data_spec(&self) -> DataSpec {
        AgentConfig::data_spec(&self.cfg)
    }
    fn update(&mut self, b: &Batch, rng: &mut ChaCha8Rng) -> Result<Metrics> {
        let n = b.batch;
        let s = self.rows("batch observations", &b.observations, n, self.obs_dim)?;
        let a = self.rows("batch actions", &b.actions, n, self.act_dim)?;
        let g = self.rows("batch goals (future states)", &b.goals, n, self.obs_dim)?;
        let mut metrics = self.actor_step(&s, &g, rng)?;
        metrics.extend(self.critic_step(&s, &a, &g, rng)?);
        Ok(metrics)
    }
    fn act(&self, obs: &[f32], goals: Option<&[f32]>, n: usize, _rng: &mut ChaCha8Rng) -> Result<Vec<f32>> {
        let goals = goals.ok_or_else(|| config_error("acting needs goals (a goal-conditioned policy)".into()))?;
        let x = rows_tensor(&[(obs, self.obs_dim), (goals, self.obs_dim)], n, &self.device)?;
        Ok(self.actor.deterministic(&x)?.detach().flatten_all()?.to_vec1()?)
    }
    fn state(&self) -> Result<Vec<(String, Tensor)>> {
        let mut out = varmap_state(&self.actor_vars, "");
        out.extend(varmap_state(&self.encoder_vars, ""));
        out.extend(self.flow.named_tensors().into_iter().map(|(k, v)| (format!("critic.{k}"), v)));
        out.extend(self.actor_opt.state("opt_actor")?);
        out.extend(self.encoder_opt.state("opt_encoder")?);
        out.extend(self.flow_opt.state("opt_critic")?);
        out.extend(self.temperature.state("alpha.")?);
        Ok(out)
    }
    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        load_varmap(&self.actor_vars, state, "")?;
        load_varmap(&self.encoder_vars, state, "")?;
        self.flow.set_named_tensors(state, "critic.")?;
        self.actor_opt.load_state("opt_actor", state)?;
        self.encoder_opt.load_state("opt_encoder", state)?;
        self.flow_opt.load_state("opt_critic", state)?;
        self.temperature.load_state(state, "alpha.")
    }
    fn explorer(&self) -> Option<&dyn Explorer> {
        Some(self)
    }
}

impl Explorer for NfUgs {
    fn explore(&self, obs: &[f32], goals: &[f32], n: usize, rng: &mut ChaCha8Rng) -> Result<Vec<f32>> {
        let x = rows_tensor(&[(obs, self.obs_dim), (goals, self.obs_dim)], n, &self.device)?;
        self.actor.sample_values(&x, rng)
    }
    /// `get_worst_best_goal`: each environment's candidate of lowest marginal log-density.
    fn practice_goals(&self, ctx: &GoalContext<'_>, _rng: &mut ChaCha8Rng) -> Result<Vec<f32>> {
        let (d, k) = (ctx.obs_dim, ctx.per_env);
        if d != self.obs_dim || k == 0 || ctx.candidates.len() != ctx.envs * k * d {
            return Err(config_error(format!("goal candidates: expected {} environments × {k} × {} values, got {}", ctx.envs, self.obs_dim, ctx.candidates.len())));
        }
        let lp = self.marginal_log_prob(ctx.candidates)?;
        let mut goals = Vec::with_capacity(ctx.envs * d);
        for (e, scores) in lp.chunks(k).enumerate() {
            // The first minimum, as `jnp.argmin`; NaN scores are passed over unless all are (a
            // diverged flow, which `update` reports).
            let best = scores.iter().enumerate().fold(0, |b, (i, &v)| if scores[b].is_nan() || v < scores[b] { i } else { b });
            let row = e * k + best;
            goals.extend_from_slice(&ctx.candidates[row * d..(row + 1) * d]);
        }
        Ok(goals)
    }
}

impl AgentConfig for NfUgsConfig {
    const NAME: &'static str = NAME;
    const SOURCE: &'static str = file!();
    const COMPARED_AGAINST: &'static [&'static str] = &["crl-uniform", "crl-minmax", "crl-oracle"];
    type Agent = NfUgs;

    fn data_spec(&self) -> DataSpec {
        DataSpec::Online(self.online.clone())
    }
    fn validate(&self) -> Result<()> {
        let f = Fields::of(Self::NAME);
        f.widths("actor_hidden", &self.actor_hidden)?;
        f.widths("encoder_hidden", &self.encoder_hidden)?;
        f.range("rep", self.rep, 1..)?;
        f.range("blocks", self.blocks, 1..)?;
        f.range("channels", self.channels, 1..)?;
        f.non_negative("noise_std", self.noise_std)?;
        f.range("mask_prob", self.mask_prob, 0.0..=1.0)?;
        f.positive("actor_lr", self.actor_lr)?;
        f.positive("encoder_lr", self.encoder_lr)?;
        f.positive("critic_lr", self.critic_lr)?;
        f.non_negative("critic_weight_decay", self.critic_weight_decay)?;
        f.positive("alpha_lr", self.alpha_lr)?;
        self.online.validate(Self::NAME)
    }
    fn build(&self, obs_dim: usize, act_dim: usize, seed: u64, device: &Device) -> Result<NfUgs> {
        NfUgs::new(self.clone(), obs_dim, act_dim, seed, device)
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    const OBS: usize = 2;
    const ACT: usize = 2;

    fn tiny() -> NfUgsConfig {
        NfUgsConfig { actor_hidden: vec![32, 32], encoder_hidden: vec![32, 32], rep: 8, blocks: 2, channels: 16, ..Default::default() }
    }

    fn batch(n: usize, seed: u64) -> Batch {
        let spec = AgentConfig::data_spec(&tiny());
        rl::synthetic_batch(n, OBS, ACT, &spec, &mut ChaCha8Rng::seed_from_u64(seed))
    }

    /// Every saved tensor, copied out (parameters are updated in place, so a saved `Tensor` would
    /// follow later steps), by name.
    fn snapshot(a: &NfUgs) -> Vec<(String, Vec<f32>)> {
        let mut out: Vec<_> = a.state().unwrap().into_iter().map(|(k, v)| (k, v.flatten_all().unwrap().to_dtype(candle_core::DType::F32).unwrap().to_vec1().unwrap())).collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Whether the tensors whose names start with `prefix` are the same in both snapshots.
    fn same(x: &[(String, Vec<f32>)], y: &[(String, Vec<f32>)], prefix: &str) -> bool {
        let pick = |s: &[(String, Vec<f32>)]| s.iter().filter(|(k, _)| k.starts_with(prefix)).cloned().collect::<Vec<_>>();
        let (px, py) = (pick(x), pick(y));
        assert!(!px.is_empty(), "no tensor named {prefix}*");
        px == py
    }

    /// Two updates move every trained part (actor, φ, flow, α) and report finite metrics (φ
    /// moves from the second: the couplings' last layers start at zero, so the first step's
    /// density does not depend on the condition, as in the reference); restoring a state into an agent built from another seed reproduces the next update bit
    /// for bit (metrics and every saved tensor).
    #[test]
    fn update_trains_every_part_and_state_round_trips_bit_exactly() {
        let dev = Device::Cpu;
        let mut a = NfUgs::new(tiny(), OBS, ACT, 0, &dev).unwrap();
        let before = snapshot(&a);
        a.update(&batch(64, 0), &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
        let m = a.update(&batch(64, 1), &mut ChaCha8Rng::seed_from_u64(2)).unwrap();
        for key in ["actor_loss", "critic_loss", "alpha", "entropy", "qf_pi"] {
            let v = m.iter().find(|(k, _)| k == key).unwrap_or_else(|| panic!("no metric {key}: {m:?}")).1;
            assert!(v.is_finite(), "{key} = {v}");
        }
        let after = snapshot(&a);
        for prefix in ["actor.", "encoder.", "critic.blocks", "alpha.log_alpha"] {
            assert!(!same(&before, &after, prefix), "{prefix}* did not move");
        }

        let mut b = NfUgs::new(tiny(), OBS, ACT, 99, &dev).unwrap();
        b.load_state(&a.state().unwrap().into_iter().collect()).unwrap();
        let next = batch(64, 3);
        let ma = a.update(&next, &mut ChaCha8Rng::seed_from_u64(4)).unwrap();
        let mb = b.update(&next, &mut ChaCha8Rng::seed_from_u64(4)).unwrap();
        assert_eq!(ma, mb);
        assert!(same(&snapshot(&a), &snapshot(&b), ""), "the states differ after the same update");
    }

    /// The actor step moves the actor alone: φ and the flow are frozen in it (gradients reach
    /// a_π through them, but no step of theirs follows), and the critic step leaves the actor.
    #[test]
    fn actor_and_critic_steps_each_move_their_own_parameters() {
        let dev = Device::Cpu;
        let mut a = NfUgs::new(tiny(), OBS, ACT, 5, &dev).unwrap();
        let b = batch(32, 6);
        let t = |d: &[f32], w: usize| Tensor::from_slice(d, (32, w), &dev).unwrap();
        let (s, act, g) = (t(&b.observations, OBS), t(&b.actions, ACT), t(&b.goals, OBS));
        // One critic step first: until the couplings' zero-initialised last layers move, no
        // gradient reaches φ.
        a.critic_step(&s, &act, &g, &mut ChaCha8Rng::seed_from_u64(6)).unwrap();
        let s0 = snapshot(&a);
        a.actor_step(&s, &g, &mut ChaCha8Rng::seed_from_u64(7)).unwrap();
        let s1 = snapshot(&a);
        assert!(!same(&s0, &s1, "actor."), "the actor step left the actor");
        assert!(same(&s0, &s1, "encoder."), "the actor step moved φ");
        assert!(same(&s0, &s1, "critic."), "the actor step moved the flow");
        a.critic_step(&s, &act, &g, &mut ChaCha8Rng::seed_from_u64(8)).unwrap();
        let s2 = snapshot(&a);
        assert!(same(&s1, &s2, "actor."), "the critic step moved the actor");
        assert!(!same(&s1, &s2, "encoder."), "the critic step left φ");
        assert!(!same(&s1, &s2, "critic.blocks"), "the critic step left the flow");
    }

    /// With `mask_prob = 1` every row's φ is zeroed: the flow learns the marginal alone and φ gets
    /// no gradient from the critic, so it never moves (the actor's loss does reach φ, through the
    /// couplings' condition weights, and would move it if its step touched φ). Without goal
    /// noise the critic loss is then exactly `−mean log p(g)` of `marginal_log_prob`.
    #[test]
    fn a_fully_masked_critic_trains_the_marginal_and_leaves_phi() {
        let dev = Device::Cpu;
        let cfg = NfUgsConfig { mask_prob: 1.0, noise_std: 0.0, ..tiny() };
        let mut a = NfUgs::new(cfg, OBS, ACT, 3, &dev).unwrap();
        let s0 = snapshot(&a);
        let b = batch(48, 9);
        for i in 0..5 {
            a.update(&b, &mut ChaCha8Rng::seed_from_u64(i)).unwrap();
        }
        assert!(same(&s0, &snapshot(&a), "encoder."), "φ moved without a gradient");
        let marginal: f64 = a.marginal_log_prob(&b.goals).unwrap().iter().map(|&v| v as f64).sum::<f64>() / 48.0;
        let t = |d: &[f32], w: usize| Tensor::from_slice(d, (48, w), &dev).unwrap();
        let m = a.critic_step(&t(&b.observations, OBS), &t(&b.actions, ACT), &t(&b.goals, OBS), &mut ChaCha8Rng::seed_from_u64(0)).unwrap();
        assert!((m[0].1 + marginal).abs() < 1e-4, "critic loss {} vs −marginal {}", m[0].1, -marginal);
    }

    /// Goal choice is `get_worst_best_goal`: per environment, the candidate of lowest marginal
    /// log-density (checked against `marginal_log_prob` row by row), NaN scores passed over;
    /// chunked evaluation gives the unchunked values.
    #[test]
    fn practice_goals_are_each_environments_least_likely_candidate() {
        let dev = Device::Cpu;
        let mut a = NfUgs::new(tiny(), OBS, ACT, 11, &dev).unwrap();
        // A few critic steps so that the marginal is not the initial one.
        for i in 0..3 {
            a.update(&batch(32, 20 + i), &mut ChaCha8Rng::seed_from_u64(i)).unwrap();
        }
        let (envs, per_env) = (5, 7);
        let mut rng = ChaCha8Rng::seed_from_u64(12);
        let candidates: Vec<f32> = (0..envs * per_env * OBS).map(|_| rng.random_range(-3.0f32..3.0)).collect();
        let lp = a.marginal_log_prob(&candidates).unwrap();
        assert_eq!(lp, a.marginal_chunked(&candidates, 3).unwrap());
        let zeros = vec![0.0; envs * OBS];
        let ctx = GoalContext { envs, obs_dim: OBS, observations: &zeros, starts: &zeros, env_goals: &zeros, candidates: &candidates, per_env };
        let goals = a.practice_goals(&ctx, &mut rng).unwrap();
        for e in 0..envs {
            let scores = &lp[e * per_env..(e + 1) * per_env];
            let best = (0..per_env).min_by(|&i, &j| scores[i].total_cmp(&scores[j])).unwrap();
            let row = (e * per_env + best) * OBS;
            assert_eq!(&goals[e * OBS..(e + 1) * OBS], &candidates[row..row + OBS], "environment {e}");
        }
        // A NaN score (a NaN candidate) is passed over, even in the first place.
        let mut with_nan = candidates.clone();
        with_nan[..OBS].fill(f32::NAN);
        let goals = a.practice_goals(&GoalContext { candidates: &with_nan, ..ctx }, &mut rng).unwrap();
        assert!(goals[..OBS].iter().all(|v| v.is_finite()), "{goals:?}");
        let bad = GoalContext { per_env: 6, ..ctx };
        assert!(a.practice_goals(&bad, &mut rng).unwrap_err().to_string().contains(NAME));
    }

    #[test]
    fn validation_names_the_field() {
        let err = |c: NfUgsConfig| c.validate().unwrap_err().to_string();
        for (field, cfg) in [
            ("mask_prob", NfUgsConfig { mask_prob: 1.5, ..tiny() }),
            ("noise_std", NfUgsConfig { noise_std: -0.1, ..tiny() }),
            ("critic_lr", NfUgsConfig { critic_lr: 0.0, ..tiny() }),
            ("encoder_hidden[1]", NfUgsConfig { encoder_hidden: vec![8, 0], ..tiny() }),
            ("online.envs", NfUgsConfig { online: OnlineConfig { envs: 0, ..Default::default() }, ..tiny() }),
        ] {
            let e = err(cfg);
            assert!(e.contains(NAME) && e.contains(&format!("`{field}`")), "{field}: {e}");
        }
        NfUgsConfig::default().validate().unwrap();
    }
}
