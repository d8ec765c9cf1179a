//! IDQL, implicit diffusion Q-learning (Hansen-Estruch et al. 2023; `philippe-eecs/IDQL`,
//! `jaxrl5/agents/ddpm_iql/ddpm_iql_learner.py`), as the FQL paper runs it beside its flow twin
//! IFQL ([`crate::ifql`]): IQL's value function and critics, trained on dataset actions only,
//! and a denoising-diffusion behaviour-cloning policy that never sees the critic. The critic
//! enters only at action time: draw N actions from the diffusion policy and take the one the
//! critics rate highest. The FQL repository has no `idql.py`; what is IDQL's here is its own
//! code's, what is FQL's is `ifql.py`'s (the same agent with a flow in place of the diffusion).
//!
//! - Value and critic: IQL eq. 5 and 6, [`IqlCritic`] unchanged (IDQL's `update_v` and
//!   `update_q` with `critic_objective = 'expectile'` are `iql.py`'s losses).
//! - Diffusion BC (`update_actor` with `actor_objective = 'bc'`): `t ~ U{0, …, T−1}`,
//!   `ε ~ N(0, I)`, `x_t = √ᾱ_t·a + √(1 − ᾱ_t)·ε`, `L = mean_rows Σ_dims (ε_θ(s, x_t, t) − ε)²`.
//! - Actions (`eval_actions`): N chains `x_T ~ N(0, I)` run down all T steps of the DDPM reverse
//!   process, the end points clipped to [−1, 1], then `argmax_j min_i Q_i(s, a_j)`.
//!
//! What is ours, each for a reason:
//! - The schedule and reverse step are [`crate::ddpm`]'s, Diffusion Policy's: the squared-cosine
//!   schedule (IDQL's `beta_schedule = 'cosine'` option, the same ᾱ; its launcher picks `'vp'`)
//!   and diffusers' DDPM step, which clips the predicted x₀ to [−1, 1] and adds the
//!   `fixed_small` variance; IDQL's own sampler clips x_t after each step and adds `√β_t·z`.
//!   One sampler for the crate's two diffusion agents.
//! - T = 10 steps and N = 32 samples, FQL's `flow_steps` and `num_samples` for IFQL, so the two
//!   rejection samplers compare at equal cost (IDQL's launcher: T = 5, N = 64).
//! - The noise model is an MLP on `[s, x_t, emb(t)]` with GELU, FQL's network for every agent
//!   (4 × 512), and `emb` IDQL's `FourierFeatures` in its fixed form (`learnable = False`:
//!   `[cos(t·f), sin(t·f)]`, `f_i = 10000^(−i/(half − 1))`) fed to it directly. IDQL's default
//!   learns the Fourier kernel, passes it through a 2 × 128 mish MLP and denoises with an
//!   LN-ResNet with dropout; none of that is in FQL's comparison, which gives every agent the
//!   same MLP.
//! - One Adam at FQL's 3e-4 on every network and one denoiser step per critic step; IDQL takes
//!   two denoiser steps per critic step on a double batch, decays the denoiser's rate by a
//!   cosine and samples from an EMA of it (τ = 0.001). FQL's IFQL has none of these.
//! - Candidates are ranked by the online critics, as `ifql.py` ranks them; IDQL's
//!   `eval_actions` ranks with the targets (a Polyak-0.005 copy). IDQL's other rule, sampling
//!   in proportion to the expectile weights (`sample_implicit_policy`), is its online
//!   fine-tuning's; its evaluation is the argmax, and so is FQL's.
//!
//! γ is per task as for IFQL (FQL README: 0.995 on humanoidmaze). Initialisation is nf-core's
//! lecun-normal. Each of `act`'s `n` rows gets its own N chains, all noise drawn from the `rng`
//! `act` is given, so acting is a deterministic function of that stream.

use std::collections::HashMap;

use candle_core::{Device, Tensor, D};
use candle_nn::VarMap;
use envs::Batch;
use nf_core::{Activation, AdamW, Mlp};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rl::{check_finite, scalar, sorted_vars, Agent, AgentConfig, DataSpec, Fields, Metrics, Result};
use serde::{Deserialize, Serialize};

use crate::ddpm::{Sampler, Schedule};
use crate::ifql::{best_of, repeat_rows};
use crate::iql::{IqlCritic, IqlCriticConfig, Transitions};

const NAME: &str = "idql";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdqlConfig {
    /// Hidden widths of the noise model ε_θ (FQL's `actor_hidden_dims` for every agent:
    /// 4 × 512).
    pub actor_hidden: Vec<usize>,
    /// Hidden widths of V and both critics (FQL `value_hidden_dims`: 4 × 512).
    pub critic_hidden: Vec<usize>,
    /// LayerNorm after each hidden activation of V and the critics (FQL `layer_norm`: true).
    pub layer_norm: bool,
    /// LayerNorm in the noise model (FQL `actor_layer_norm`: false).
    pub actor_layer_norm: bool,
    /// Adam learning rate of every network (FQL `lr`: 3e-4; IDQL's `actor_lr`, `critic_lr` and
    /// `value_lr` are 3e-4 too).
    pub lr: f64,
    /// Discount γ (FQL `discount`: 0.99; 0.995 on the long-horizon mazes and soccer).
    pub discount: f64,
    /// Polyak rate of the target critics (FQL and IDQL `tau`: 0.005).
    pub tau: f64,
    /// The expectile τ of V (FQL `expectile`: 0.9; IDQL `critic_hyperparam`: 0.9 on the
    /// antmazes, 0.7 on locomotion).
    pub expectile: f64,
    /// Candidate actions drawn per decision, the best by Q taken (FQL `num_samples` for IFQL: 32;
    /// IDQL `N`: 64).
    pub num_samples: usize,
    /// Diffusion steps T, trained and sampled (FQL `flow_steps` for IFQL: 10; IDQL `T`: 5).
    pub diffusion_steps: usize,
    /// Width of the Fourier step embedding, even (IDQL `time_dim`: 64, learnable there; 16 here,
    /// enough for T = 10).
    pub time_embed_dim: usize,
}

impl Default for IdqlConfig {
    fn default() -> Self {
        Self {
            actor_hidden: vec![512; 4],
            critic_hidden: vec![512; 4],
            layer_norm: true,
            actor_layer_norm: false,
            lr: 3e-4,
            discount: 0.99,
            tau: 0.005,
            expectile: 0.9,
            num_samples: 32,
            diffusion_steps: 10,
            time_embed_dim: 16,
        }
    }
}

impl IdqlConfig {
    /// The critic half of the config: IQL's, field for field.
    pub fn critic(&self) -> IqlCriticConfig {
        IqlCriticConfig { hidden: self.critic_hidden.clone(), layer_norm: self.layer_norm, lr: self.lr, discount: self.discount, tau: self.tau, expectile: self.expectile }
    }
}

/// IDQL's fixed `FourierFeatures`: `[cos(t·f_0…f_{h−1}), sin(t·f_0…f_{h−1})]` per step t, with
/// `f_i = exp(−i·ln 10000/(h − 1))`, `h = dim/2`; `[steps.len(), dim]`.
fn fourier(steps: &[usize], dim: usize, dev: &Device) -> Result<Tensor> {
    let half = dim / 2;
    let scale = 10000f64.ln() / (half - 1) as f64;
    let mut v = Vec::with_capacity(steps.len() * 2 * half);
    for &t in steps {
        let angles: Vec<f64> = (0..half).map(|i| t as f64 * (-(i as f64) * scale).exp()).collect();
        v.extend(angles.iter().map(|a| a.cos() as f32));
        v.extend(angles.iter().map(|a| a.sin() as f32));
    }
    Ok(Tensor::from_vec(v, (steps.len(), 2 * half), dev)?)
}

pub struct Idql {
    cfg: IdqlConfig,
    critic: IqlCritic,
    actor_vars: VarMap,
    /// ε_θ on `[s, x_t, emb(t)]`.
    score: Mlp,
    actor_opt: AdamW,
    schedule: Schedule,
    obs_dim: usize,
    act_dim: usize,
    device: Device,
}

impl Idql {
    pub fn new(cfg: IdqlConfig, obs_dim: usize, act_dim: usize, seed: u64, device: &Device) -> Result<Self> {
        let critic = IqlCritic::new(cfg.critic(), obs_dim, act_dim, seed, device)?;
        let actor_vars = VarMap::new();
        let score = Mlp::new(&actor_vars, "score", obs_dim + act_dim + cfg.time_embed_dim, &cfg.actor_hidden, act_dim, Activation::Gelu, cfg.actor_layer_norm, seed, device)?;
        let actor_opt = AdamW::adam(sorted_vars(&actor_vars), cfg.lr)?;
        let schedule = Schedule::squared_cosine(cfg.diffusion_steps);
        Ok(Self { cfg, critic, actor_vars, score, actor_opt, schedule, obs_dim, act_dim, device: device.clone() })
    }

    pub fn critic(&self) -> &IqlCritic {
        &self.critic
    }

    fn score_input(&self, s: &Tensor, x: &Tensor, steps: &[usize]) -> Result<Tensor> {
        Ok(Tensor::cat(&[s, x, &fourier(steps, self.cfg.time_embed_dim, &self.device)?], D::Minus1)?)
    }

    /// The denoising loss `mean_rows Σ_dims (ε_θ(s, √ᾱ_t·a + √(1 − ᾱ_t)·ε, t) − ε)²` for given
    /// noise `eps` (`[n, act_dim]`) and steps (one per row).
    pub fn noise_loss(&self, s: &Tensor, a: &Tensor, eps: &Tensor, steps: &[usize]) -> Result<Tensor> {
        let n = steps.len();
        let (ca, cb): (Vec<f32>, Vec<f32>) = steps.iter().map(|&t| self.schedule.noising(t)).map(|(x, y)| (x as f32, y as f32)).unzip();
        let ca = Tensor::from_vec(ca, (n, 1), &self.device)?;
        let cb = Tensor::from_vec(cb, (n, 1), &self.device)?;
        let xt = (a.broadcast_mul(&ca)? + eps.broadcast_mul(&cb)?)?;
        let pred = self.score.forward(&self.score_input(s, &xt, steps)?)?;
        Ok((pred - eps)?.sqr()?.sum(D::Minus1)?.mean_all()?)
    }

    /// `rows` DDPM chains from `x_T ~ N(0, I)` down all T steps, the noise model given as
    /// `eps(x_t, t)`, end points clipped to [−1, 1]; every draw from `rng`.
    fn reverse(&self, rows: usize, rng: &mut ChaCha8Rng, mut eps: impl FnMut(&[f32], usize) -> Result<Vec<f32>>) -> Result<Vec<f32>> {
        let mut x: Vec<f32> = (0..rows * self.act_dim).map(|_| rng.sample(StandardNormal)).collect();
        let ts = self.schedule.timesteps(self.cfg.diffusion_steps);
        for (i, &t) in ts.iter().enumerate() {
            let e = eps(&x, t)?;
            self.schedule.step(Sampler::Ddpm, &mut x, &e, t, ts.get(i + 1).copied(), rng);
        }
        x.iter_mut().for_each(|v| *v = v.clamp(-1.0, 1.0));
        Ok(x)
    }

    /// Each row's `num_samples` candidates (`[n·N·act_dim]`, row i's at `i·N … i·N + N − 1`) and
    /// their `min_i Q_i` (`[n·N]`), the chains' noise drawn from `rng`.
    pub fn candidates(&self, obs: &[f32], n: usize, rng: &mut ChaCha8Rng) -> Result<(Vec<f32>, Vec<f32>)> {
        let rows = n * self.cfg.num_samples;
        let s = repeat_rows(obs, n, self.cfg.num_samples, self.obs_dim, &self.device)?;
        let actions = self.reverse(rows, rng, |x, t| {
            let x = Tensor::from_slice(x, (rows, self.act_dim), &self.device)?;
            Ok(self.score.forward_frozen(&self.score_input(&s, &x, &vec![t; rows])?)?.flatten_all()?.to_vec1::<f32>()?)
        })?;
        let q = self.critic.q_min(&s, &Tensor::from_slice(&actions, (rows, self.act_dim), &self.device)?)?;
        Ok((actions, q.to_vec1::<f32>()?))
    }
}

impl Agent for Idql {
    fn name(&self) -> &str {
        NAME
    }
    fn data_spec(&self) -> DataSpec {
        DataSpec::Transitions
    }
    fn update(&mut self, b: &Batch, rng: &mut ChaCha8Rng) -> Result<Metrics> {
        let t = Transitions::new(b, self.obs_dim, self.act_dim, &self.device)?;
        let critic = self.critic.losses(&t)?;

        let steps: Vec<usize> = (0..b.batch).map(|_| rng.random_range(0..self.cfg.diffusion_steps)).collect();
        let eps: Vec<f32> = (0..b.batch * self.act_dim).map(|_| rng.sample(StandardNormal)).collect();
        let eps = Tensor::from_vec(eps, (b.batch, self.act_dim), &self.device)?;
        let noise_loss = self.noise_loss(&t.s, &t.a, &eps, &steps)?;
        let nv = check_finite("noise_loss", scalar(&noise_loss)?)?;

        self.critic.step(&critic)?;
        self.actor_opt.step(&noise_loss.backward()?)?;
        let mut m = critic.metrics;
        m.push(("noise_loss".into(), nv));
        Ok(m)
    }
    fn act(&self, obs: &[f32], _goals: Option<&[f32]>, n: usize, rng: &mut ChaCha8Rng) -> Result<Vec<f32>> {
        let (actions, q) = self.candidates(obs, n, rng)?;
        Ok(best_of(&actions, &q, n, self.cfg.num_samples, self.act_dim))
    }
    fn state(&self) -> Result<Vec<(String, Tensor)>> {
        self.critic.state_with_actor(&self.actor_vars, &self.actor_opt)
    }
    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        self.critic.load_state_with_actor(NAME, &self.actor_vars, &mut self.actor_opt, state)
    }
}

impl AgentConfig for IdqlConfig {
    const NAME: &'static str = NAME;
    const SOURCE: &'static str = file!();
    type Agent = Idql;

    fn data_spec(&self) -> DataSpec {
        DataSpec::Transitions
    }
    fn validate(&self) -> Result<()> {
        let f = Fields::of(Self::NAME);
        f.widths("actor_hidden", &self.actor_hidden)?;
        self.critic().validate(Self::NAME)?;
        f.range("num_samples", self.num_samples, 1..)?;
        f.range("diffusion_steps", self.diffusion_steps, 1..)?;
        f.range("time_embed_dim", self.time_embed_dim, 4..)?;
        if !self.time_embed_dim.is_multiple_of(2) {
            return Err(f.error("time_embed_dim", format!("{} must be even (half cosines, half sines)", self.time_embed_dim)));
        }
        Ok(())
    }
    fn build(&self, obs_dim: usize, act_dim: usize, seed: u64, device: &Device) -> Result<Idql> {
        Idql::new(self.clone(), obs_dim, act_dim, seed, device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn tiny() -> IdqlConfig {
        IdqlConfig { actor_hidden: vec![16, 16], critic_hidden: vec![16, 16], num_samples: 8, diffusion_steps: 4, time_embed_dim: 8, ..Default::default() }
    }

    fn batch(seed: u64) -> Batch {
        rl::synthetic_batch(32, 3, 2, &DataSpec::Transitions, &mut ChaCha8Rng::seed_from_u64(seed))
    }

    fn values(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    }

    fn obs(n: usize) -> Vec<f32> {
        (0..n * 3).map(|i| (i as f32 * 0.37).sin()).collect()
    }

    /// The step embedding by hand: t = 0 is [1…1, 0…0]; for dim 8 (h = 4) the frequencies are
    /// 1, 10000^(−1/3) = 0.046416, 10000^(−2/3) = 0.0021544, 10^(−4), so t = 3 gives
    /// cos 3 = −0.98999 first and sin 3 = 0.14112 at index 4.
    #[test]
    fn fourier_step_embedding_by_hand() {
        let e = values(&fourier(&[0, 3], 8, &Device::Cpu).unwrap());
        assert_eq!(&e[..8], &[1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
        let want =
            [3f64.cos(), (3.0f64 * 0.046_415_888).cos(), (3.0f64 * 0.002_154_435).cos(), (3e-4f64).cos(), 3f64.sin(), (3.0f64 * 0.046_415_888).sin(), (3.0f64 * 0.002_154_435).sin(), (3e-4f64).sin()];
        assert!(e[8..].iter().zip(want).all(|(g, w)| (*g as f64 - w).abs() < 1e-6), "{:?} vs {want:?}", &e[8..]);
    }

    /// Pins the noise model to the constant c = (0.5, −2) (output weight 0, bias c): the loss is
    /// `mean_rows Σ_dims (c − ε)²` whatever x_t is. The loss `update` reports is this loss under
    /// its own draws (steps, then ε, from the stream it is given).
    #[test]
    fn noise_loss_by_hand() {
        let dev = Device::Cpu;
        let mut a = Idql::new(tiny(), 3, 2, 0, &dev).unwrap();
        {
            let vars = a.actor_vars.data().lock().unwrap();
            vars["score.out.weight"].set(&vars["score.out.weight"].as_tensor().zeros_like().unwrap()).unwrap();
            vars["score.out.bias"].set(&Tensor::new(&[0.5f32, -2.0], &dev).unwrap()).unwrap();
        }
        let s = Tensor::zeros((2, 3), candle_core::DType::F32, &dev).unwrap();
        let act = Tensor::new(&[[0.25f32, -0.5], [1.0, 0.0]], &dev).unwrap();
        let eps = Tensor::new(&[[1.0f32, 0.5], [-0.5, -2.0]], &dev).unwrap();
        // Residuals c − ε: (−0.5, −2.5), (1, 0): row sums 6.5 and 1, mean 3.75.
        let got = scalar(&a.noise_loss(&s, &act, &eps, &[0, 3]).unwrap()).unwrap();
        assert!((got - 3.75).abs() < 1e-6, "{got}");

        let b = batch(1);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut twin = rng.clone();
        let tr = Transitions::new(&b, 3, 2, &dev).unwrap();
        let steps: Vec<usize> = (0..b.batch).map(|_| twin.random_range(0..4)).collect();
        let eps = Tensor::from_vec((0..b.batch * 2).map(|_| twin.sample(StandardNormal)).collect::<Vec<f32>>(), (b.batch, 2), &dev).unwrap();
        let want = scalar(&a.noise_loss(&tr.s, &tr.a, &eps, &steps).unwrap()).unwrap();
        let m = a.update(&b, &mut rng).unwrap();
        assert_eq!(m.iter().find(|(k, _)| k == "noise_loss").unwrap().1, want);
    }

    /// With the exact noise of a point mass at a* (`ε(x_t, t) = (x_t − √ᾱ_t·a*)/√(1 − ᾱ_t)`),
    /// every chain ends at a*, whatever its start and the sampling noise.
    #[test]
    fn the_reverse_process_with_the_true_noise_lands_on_the_data() {
        let a = Idql::new(IdqlConfig { diffusion_steps: 10, ..tiny() }, 3, 2, 0, &Device::Cpu).unwrap();
        let star = [0.3f32, -0.6];
        let mut seen = Vec::new();
        let x = a
            .reverse(5, &mut ChaCha8Rng::seed_from_u64(1), |x, t| {
                seen.push(t);
                let (ca, cb) = a.schedule.noising(t);
                Ok(x.iter().enumerate().map(|(i, &v)| ((v as f64 - ca * star[i % 2] as f64) / cb) as f32).collect())
            })
            .unwrap();
        assert_eq!(seen, (0..10).rev().collect::<Vec<_>>(), "all T steps, noisiest first");
        assert!(x.iter().enumerate().all(|(i, v)| (v - star[i % 2]).abs() < 1e-4), "{x:?}");
    }

    /// The action of each row is, among the N candidates the same stream draws, one whose
    /// min(Q₁, Q₂) is the row's highest, and the rule does select: on some row it is not the
    /// first candidate, and with N = 1 the agent acts otherwise.
    #[test]
    fn acts_with_the_candidate_of_highest_q() {
        let dev = Device::Cpu;
        let mut a = Idql::new(tiny(), 3, 2, 2, &dev).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for s in 0..3 {
            a.update(&batch(s), &mut rng).unwrap();
        }
        let (n, m) = (5, a.cfg.num_samples);
        let o = obs(n);
        let chosen = a.act(&o, None, n, &mut ChaCha8Rng::seed_from_u64(4)).unwrap();
        let (cands, q) = a.candidates(&o, n, &mut ChaCha8Rng::seed_from_u64(4)).unwrap();
        assert_eq!((chosen.len(), cands.len(), q.len()), (n * 2, n * m * 2, n * m));
        assert!(cands.iter().all(|v| (-1.0..=1.0).contains(v)), "candidates are clipped to the action box");
        crate::ifql::assert_picks_highest_q(&a.critic, &o, &chosen, &cands, &q, n, m);
        let one = Idql { cfg: IdqlConfig { num_samples: 1, ..tiny() }, ..a };
        assert_ne!(one.act(&o, None, n, &mut ChaCha8Rng::seed_from_u64(4)).unwrap(), chosen);
    }

    /// A fresh agent of another seed loaded from the state acts exactly like the trained one and
    /// keeps training exactly like it (optimisers and targets included); acting is a function of
    /// the stream it is given.
    #[test]
    fn state_round_trip_resumes_bit_exactly() {
        let dev = Device::Cpu;
        let mut a = Idql::new(tiny(), 3, 2, 1, &dev).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for s in 0..5 {
            a.update(&batch(s), &mut rng).unwrap();
        }
        let state: HashMap<String, Tensor> = a.state().unwrap().into_iter().collect();
        let mut b = Idql::new(tiny(), 3, 2, 99, &dev).unwrap();
        let o = obs(4);
        let act = |x: &Idql, seed: u64| x.act(&o, None, 4, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap();
        assert_eq!(act(&a, 5), act(&a, 5));
        assert_ne!(act(&a, 5), act(&a, 6), "another stream draws other candidates");
        assert_ne!(act(&a, 5), act(&b, 5), "another seed acts differently before loading");
        b.load_state(&state).unwrap();
        assert_eq!(act(&a, 5), act(&b, 5));
        let (mut ra, mut rb) = (ChaCha8Rng::seed_from_u64(8), ChaCha8Rng::seed_from_u64(8));
        for s in 5..8 {
            assert_eq!(a.update(&batch(s), &mut ra).unwrap(), b.update(&batch(s), &mut rb).unwrap());
        }
        assert_eq!(act(&a, 5), act(&b, 5));
    }

    #[test]
    fn bad_configs_and_foreign_checkpoints_are_named() {
        for (field, cfg) in [
            ("actor_hidden", IdqlConfig { actor_hidden: vec![16, 0], ..tiny() }),
            ("critic_hidden", IdqlConfig { critic_hidden: vec![0], ..tiny() }),
            ("lr", IdqlConfig { lr: 0.0, ..tiny() }),
            ("discount", IdqlConfig { discount: 1.0, ..tiny() }),
            ("tau", IdqlConfig { tau: 1.5, ..tiny() }),
            ("expectile", IdqlConfig { expectile: 0.0, ..tiny() }),
            ("num_samples", IdqlConfig { num_samples: 0, ..tiny() }),
            ("diffusion_steps", IdqlConfig { diffusion_steps: 0, ..tiny() }),
            ("time_embed_dim", IdqlConfig { time_embed_dim: 2, ..tiny() }),
            ("time_embed_dim", IdqlConfig { time_embed_dim: 9, ..tiny() }),
        ] {
            let e = cfg.validate().unwrap_err().to_string();
            assert!(e.contains(NAME) && e.contains(&format!("`{field}")), "{field}: {e}");
        }
        let dev = Device::Cpu;
        let mut a = Idql::new(tiny(), 3, 2, 0, &dev).unwrap();
        let ifql = crate::Ifql::new(crate::IfqlConfig { actor_hidden: vec![16, 16], critic_hidden: vec![16, 16], ..Default::default() }, 3, 2, 0, &dev).unwrap();
        let e = a.load_state(&ifql.state().unwrap().into_iter().collect()).unwrap_err().to_string();
        assert!(e.contains(NAME) && e.contains("checkpoint lacks `score."), "{e}");
        let mut state: HashMap<String, Tensor> = Idql::new(tiny(), 3, 2, 5, &dev).unwrap().state().unwrap().into_iter().collect();
        state.remove("opt_actor.t");
        let e = a.load_state(&state).unwrap_err().to_string();
        assert!(e.contains(NAME) && e.contains("`opt_actor.t`"), "{e}");
        let wide = Idql::new(IdqlConfig { time_embed_dim: 4, ..tiny() }, 3, 2, 0, &dev).unwrap();
        let e = a.load_state(&wide.state().unwrap().into_iter().collect()).unwrap_err().to_string();
        assert!(e.contains(NAME) && e.contains("shape"), "{e}");
    }

    /// IDQL through the shared training loop on `kinpuzzle-3x3-play-singletask-task1`, IFQL's
    /// learning test's recipe (2 × 64 networks, lr 1e-3, expectile 0.9, γ = 0.99, batch 256,
    /// N = 32) with T = 10 diffusion steps, for 6,000 steps; then the same trained agent with
    /// N = 1, its diffusion policy alone. Measured when written, 20 episodes per evaluation:
    /// random return −2,751 (−2,585 to −2,751 over seven evaluation seeds); IDQL at step 6,000
    /// −2,167, its diffusion policy alone −2,857; agent seeds 1 and 2: −2,361 and −1,858, alone
    /// −2,892 and −3,000 (success 0.00 in all six). The critics are bit for bit IFQL's on the same
    /// seed (same initialisation, same batches), so the gap to IFQL (−1,990, −1,899, −1,442) is
    /// the candidates' (on these seeds the flow's draws pick better). Evaluated every 1,000 steps
    /// (seeds 0, 1, 2): −2,400, −2,160, −2,057 at 3,000, −2,485, −2,562, −2,543 at 4,000 (inside
    /// random's spread), −2,500, −2,311, −1,741 at 5,000, and at 8,000 −2,425, −2,524, −1,608:
    /// no better than 6,000, the smallest budget tried that every seed clears (by ≥ 390, seed 1
    /// the closest). Tried and not taken: N = 64 (IDQL's; 6,000 steps −2,159, −1,917, −1,306,
    /// 8,000 steps −2,313, −2,390, −1,715) and T = 5 or 20 (seeds 0 and 1 at 8,000: −2,168,
    /// −2,590; −2,207, −2,295). Debug build on 2 shared cores at load 3.3: 30–33 s for the test.
    #[test]
    fn beats_a_random_policy_on_a_singletask_puzzle() {
        let task = envs::Task::resolve(crate::iql::PUZZLE).unwrap();
        let cfg = IdqlConfig { actor_hidden: vec![64, 64], critic_hidden: vec![64, 64], lr: 1e-3, ..Default::default() };
        let mut agent = Idql::new(cfg, task.obs_dim, task.act_dim, 0, &Device::Cpu).unwrap();
        let (random, s) = crate::iql::train_on_puzzle("IDQL", &mut agent, 6000);
        // The same trained agent with one candidate: the behaviour policy alone, the critic unused.
        agent.cfg.num_samples = 1;
        let alone = rl::evaluate(&agent, &task, 20, 7).unwrap();
        println!("IDQL with N = 1 (its diffusion policy alone): return {:.0} (success {:.2})", alone.ret, alone.success);
        assert!(s.final_eval.ret >= random.ret + 200.0, "IDQL return {} vs random {}", s.final_eval.ret, random.ret);
        assert!(s.final_eval.ret >= alone.ret + 200.0, "IDQL return {} vs its diffusion policy alone {}", s.final_eval.ret, alone.ret);
    }
}
