//! Diffusion Policy, CNN variant (Chi et al. 2023; `real-stanford/diffusion_policy`,
//! `policy/diffusion_unet_lowdim_policy.py` with `config/train_diffusion_unet_lowdim_workspace.yaml`
//! and the PushT low-dim task): the policy is a denoising diffusion model over a sequence of
//! `horizon` actions, conditioned on the last `obs_history` observations.
//!
//! Training (DDPM, ε-prediction): for a demonstration chunk A⁰, a step t ~ U{0, …, T−1} and
//! ε ~ N(0, I),  `L = ‖ε − ε_θ(√ᾱ_t A⁰ + √(1−ᾱ_t) ε, t, O)‖²` (mean over every element), with
//! T = 100 steps of the squared-cosine schedule. The network is a 1-D temporal U-Net over the
//! chunk with FiLM conditioning on (step embedding, flattened observations) ([`crate::unet1d`]).
//! AdamW (1e-4, β = (0.95, 0.999), weight decay 1e-6), 500 warm-up steps then cosine; an EMA
//! of the weights (power 0.75, max 0.9999) is what acts.
//!
//! Acting: A^T ~ N(0, I), then the reverse process ([`crate::ddpm`]; DDPM over all 100 steps by
//! default, as the reference's PushT config; DDIM with fewer steps as an option), each step's
//! predicted clean chunk clipped to [−1, 1]; the first `execute` actions run.
//!
//! One difference from the reference, from our chunk sampler: the reference's 16-action window
//! starts at the oldest observation (t − 1 for two observations) and executes from its second
//! action; ours starts at t and executes from its first. Both predict the actions from t on.
//! The data reach the agent scaled to [−1, 1] where the task asks for it (`rl::Normalized`),
//! as the reference's `LinearNormalizer` scales PushT.

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use envs::Batch;
use nf_core::{Trainer, WarmupCosine};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rl::{check_finite, load_varmap, polyak, scalar, sorted_vars, varmap_state, Agent, AgentConfig, DataSpec, Fields, Metrics, Result, RlError, TrainConfig, UserTable};
use serde::{Deserialize, Serialize};

use crate::ddpm::{Sampler, Schedule};
use crate::unet1d::{parameter_count, ConditionalUnet1D, UnetShape};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiffusionPolicyConfig {
    /// Observations the policy sees, newest last (`n_obs_steps`: 2).
    pub obs_history: usize,
    /// Actions denoised per call (`horizon`: 16).
    pub horizon: usize,
    /// Actions of each chunk executed before predicting again (`n_action_steps`: 8).
    pub execute: usize,
    /// U-Net widths per level (`policy.model.down_dims`: [256, 512, 1024]); the horizon must
    /// halve evenly at each level but the last.
    pub down_dims: Vec<usize>,
    /// Temporal convolution width (`kernel_size`: 5).
    pub kernel_size: usize,
    /// GroupNorm groups (`n_groups`: 8).
    pub n_groups: usize,
    /// Diffusion-step embedding width (`diffusion_step_embed_dim`: 256).
    pub step_embed_dim: usize,
    /// Training diffusion steps T (`noise_scheduler.num_train_timesteps`: 100).
    pub diffusion_steps: usize,
    /// Reverse steps at action time (`num_inference_steps`: 100).
    pub inference_steps: usize,
    /// Reverse process at action time (the reference's PushT policy: DDPM).
    pub sampler: Sampler,
    /// Peak AdamW learning rate (`optimizer.lr`: 1e-4).
    pub lr: f64,
    /// AdamW β₁ (`optimizer.betas`: [0.95, 0.999]).
    pub beta1: f64,
    /// AdamW weight decay (`optimizer.weight_decay`: 1e-6).
    pub weight_decay: f64,
    /// Linear warm-up steps (`training.lr_warmup_steps`: 500).
    pub warmup: usize,
    /// Length of the cosine decay (the reference: the run's length); unless set, the run's
    /// step budget.
    pub schedule_steps: usize,
    /// EMA decay growth `1 − (1 + k)^−power` (`ema.power`: 0.75; `inv_gamma` 1, `min_value` 0,
    /// `update_after_step` 0 fixed as the reference).
    pub ema_power: f64,
    /// EMA decay ceiling (`ema.max_value`: 0.9999).
    pub ema_max: f64,
}

impl Default for DiffusionPolicyConfig {
    fn default() -> Self {
        Self {
            obs_history: 2,
            horizon: 16,
            execute: 8,
            down_dims: vec![256, 512, 1024],
            kernel_size: 5,
            n_groups: 8,
            step_embed_dim: 256,
            diffusion_steps: 100,
            inference_steps: 100,
            sampler: Sampler::Ddpm,
            lr: 1e-4,
            beta1: 0.95,
            weight_decay: 1e-6,
            warmup: 500,
            schedule_steps: 1_000_000,
            ema_power: 0.75,
            ema_max: 0.9999,
        }
    }
}

pub struct DiffusionPolicy {
    cfg: DiffusionPolicyConfig,
    vars: VarMap,
    model: ConditionalUnet1D,
    ema_vars: VarMap,
    ema: ConditionalUnet1D,
    trainer: Trainer,
    schedule: Schedule,
    obs_dim: usize,
    act_dim: usize,
    device: Device,
}

impl DiffusionPolicy {
    pub fn new(cfg: DiffusionPolicyConfig, obs_dim: usize, act_dim: usize, seed: u64, device: &Device) -> Result<Self> {
        cfg.validate()?;
        let shape = UnetShape {
            input_dim: act_dim,
            global_cond_dim: cfg.obs_history * obs_dim,
            step_embed_dim: cfg.step_embed_dim,
            down_dims: cfg.down_dims.clone(),
            kernel_size: cfg.kernel_size,
            n_groups: cfg.n_groups,
        };
        let (vars, ema_vars) = (VarMap::new(), VarMap::new());
        let model = ConditionalUnet1D::new(&vars, shape.clone(), seed, device)?;
        // The EMA starts as a copy of the model (the reference deep-copies it).
        let ema = ConditionalUnet1D::new(&ema_vars, shape, seed, device)?;
        let schedule = WarmupCosine { peak: cfg.lr, warmup: cfg.warmup, total: cfg.schedule_steps, floor: 0.0 };
        let mut trainer = Trainer::new(sorted_vars(&vars), schedule, cfg.weight_decay)?;
        trainer.optimizer_mut().beta1 = cfg.beta1;
        Ok(Self { schedule: Schedule::squared_cosine(cfg.diffusion_steps), cfg, vars, model, ema_vars, ema, trainer, obs_dim, act_dim, device: device.clone() })
    }

    /// Trainable parameters of the noise-prediction network (the EMA copy not counted).
    pub fn parameter_count(&self) -> usize {
        parameter_count(&self.vars)
    }

    /// The EMA decay for the update after `k` earlier ones: 0 for the first two (a copy),
    /// then `1 − (1 + (k − 1))^−power`, capped (`EMAModel.get_decay`).
    fn ema_decay(&self, k: usize) -> f64 {
        let step = k.saturating_sub(1);
        if step == 0 {
            return 0.0;
        }
        (1.0 - (1.0 + step as f64).powf(-self.cfg.ema_power)).clamp(0.0, self.cfg.ema_max)
    }

    /// `[n, horizon, act_dim]` from `[n, horizon·act_dim]` rows (the network is time-major too).
    fn chunk_tensor(&self, rows: &[f32], n: usize) -> Result<Tensor> {
        Ok(Tensor::from_slice(rows, (n, self.cfg.horizon, self.act_dim), &self.device)?)
    }

    fn normal(rng: &mut ChaCha8Rng, len: usize) -> Vec<f32> {
        (0..len).map(|_| rng.sample::<f32, _>(StandardNormal)).collect()
    }
}

impl Agent for DiffusionPolicy {
    fn name(&self) -> &str {
        DiffusionPolicyConfig::NAME
    }
    fn data_spec(&self) -> DataSpec {
        AgentConfig::data_spec(&self.cfg)
    }
    fn update(&mut self, b: &Batch, rng: &mut ChaCha8Rng) -> Result<Metrics> {
        let n = b.batch;
        let (h, d) = (self.cfg.horizon, self.act_dim);
        let cond = Tensor::from_slice(&b.observations, (n, self.cfg.obs_history * self.obs_dim), &self.device)?;
        let a0 = self.chunk_tensor(&b.actions, n)?;
        let steps: Vec<u32> = (0..n).map(|_| rng.random_range(0..self.cfg.diffusion_steps) as u32).collect();
        let eps = Tensor::from_vec(Self::normal(rng, n * h * d), (n, h, d), &self.device)?;
        let (ca, cb): (Vec<f32>, Vec<f32>) = steps.iter().map(|&t| self.schedule.noising(t as usize)).map(|(a, b)| (a as f32, b as f32)).unzip();
        let ca = Tensor::from_vec(ca, (n, 1, 1), &self.device)?;
        let cb = Tensor::from_vec(cb, (n, 1, 1), &self.device)?;
        let noisy = (a0.broadcast_mul(&ca)? + eps.broadcast_mul(&cb)?)?;
        let loss = (self.model.forward(&noisy, &steps, &cond)? - &eps)?.sqr()?.mean_all()?;
        let mse = check_finite("noise_mse", scalar(&loss)?)?;
        self.trainer.step(&loss)?;
        let decay = self.ema_decay(self.trainer.step_count() - 1);
        polyak(&self.ema_vars, &self.vars, 1.0 - decay)?;
        Ok(vec![("noise_mse".into(), mse), ("lr".into(), self.trainer.optimizer().lr)])
    }
    /// `obs`: each row's stacked observation history; returns `[n, horizon·act_dim]`.
    fn act(&self, obs: &[f32], _goals: Option<&[f32]>, n: usize, rng: &mut ChaCha8Rng) -> Result<Vec<f32>> {
        let width = self.cfg.obs_history * self.obs_dim;
        if obs.len() != n * width {
            return Err(RlError::Config {
                agent: self.name().into(),
                reason: format!("act got {} observation values for {n} rows of {width} ({} observations of {})", obs.len(), self.cfg.obs_history, self.obs_dim),
            });
        }
        let (h, d) = (self.cfg.horizon, self.act_dim);
        let cond = Tensor::from_slice(obs, (n, width), &self.device)?;
        let mut x = Self::normal(rng, n * h * d);
        let ts = self.schedule.timesteps(self.cfg.inference_steps);
        for (i, &t) in ts.iter().enumerate() {
            let xt = Tensor::from_slice(&x, (n, h, d), &self.device)?;
            let eps = self.ema.forward(&xt, &vec![t as u32; n], &cond)?.flatten_all()?.to_vec1::<f32>()?;
            self.schedule.step(self.cfg.sampler, &mut x, &eps, t, ts.get(i + 1).copied(), rng);
        }
        Ok(x)
    }
    fn state(&self) -> Result<Vec<(String, Tensor)>> {
        let mut out = varmap_state(&self.vars, "model.");
        out.extend(varmap_state(&self.ema_vars, "ema."));
        out.extend(self.trainer.optimizer().state("opt")?);
        Ok(out)
    }
    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        load_varmap(&self.vars, state, "model.")?;
        load_varmap(&self.ema_vars, state, "ema.")?;
        self.trainer.optimizer_mut().load_state("opt", state)?;
        Ok(())
    }
}

impl AgentConfig for DiffusionPolicyConfig {
    const NAME: &'static str = "diffusion-policy";
    const SOURCE: &'static str = file!();
    type Agent = DiffusionPolicy;

    fn data_spec(&self) -> DataSpec {
        DataSpec::Chunks { obs_history: self.obs_history, action_chunk: self.horizon, execute: self.execute }
    }
    fn validate(&self) -> Result<()> {
        let f = Fields::of(Self::NAME);
        f.range("obs_history", self.obs_history, 1..)?;
        f.range("horizon", self.horizon, 1..)?;
        f.range("execute", self.execute, 1..=self.horizon)?;
        f.range("down_dims (levels)", self.down_dims.len(), 1..)?;
        f.widths("down_dims", &self.down_dims)?;
        f.range("kernel_size", self.kernel_size, 1..)?;
        if self.kernel_size.is_multiple_of(2) {
            return Err(RlError::Config { agent: Self::NAME.into(), reason: format!("`kernel_size` = {} must be odd (the convolutions keep the length with padding k/2)", self.kernel_size) });
        }
        f.range("n_groups", self.n_groups, 1..)?;
        for (i, &w) in self.down_dims.iter().enumerate() {
            if !w.is_multiple_of(self.n_groups) || (i == 0 && !w.is_multiple_of(8.min(w))) {
                return Err(RlError::Config { agent: Self::NAME.into(), reason: format!("`down_dims[{i}]` = {w} is not a multiple of `n_groups` = {} (GroupNorm)", self.n_groups) });
            }
        }
        let halvings = self.down_dims.len() - 1;
        if !self.horizon.is_multiple_of(1 << halvings) {
            return Err(RlError::Config {
                agent: Self::NAME.into(),
                reason: format!("`horizon` = {} must be a multiple of {} so that the U-Net's {halvings} halvings and doublings give it back", self.horizon, 1 << halvings),
            });
        }
        f.range("step_embed_dim", self.step_embed_dim, 4..)?;
        f.range("diffusion_steps", self.diffusion_steps, 1..)?;
        f.range("inference_steps", self.inference_steps, 1..=self.diffusion_steps)?;
        f.positive("lr", self.lr)?;
        f.range("beta1", self.beta1, 0.0..1.0)?;
        f.non_negative("weight_decay", self.weight_decay)?;
        f.range("schedule_steps", self.schedule_steps, 1..)?;
        f.non_negative("ema_power", self.ema_power)?;
        f.range("ema_max", self.ema_max, 0.0..1.0)
    }
    /// The cosine spans the run, as the reference's scheduler spans its epochs.
    fn fit_budget(&mut self, train: &mut TrainConfig, user: &UserTable) {
        if !user.contains_key("schedule_steps") {
            self.schedule_steps = train.steps as usize;
        }
    }
    fn build(&self, obs_dim: usize, act_dim: usize, seed: u64, device: &Device) -> Result<DiffusionPolicy> {
        DiffusionPolicy::new(self.clone(), obs_dim, act_dim, seed, device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn tiny() -> DiffusionPolicyConfig {
        DiffusionPolicyConfig { down_dims: vec![16, 32], kernel_size: 3, n_groups: 4, step_embed_dim: 16, inference_steps: 10, sampler: Sampler::Ddim, horizon: 8, execute: 4, ..Default::default() }
    }

    fn batch(rng: &mut ChaCha8Rng, n: usize, cfg: &DiffusionPolicyConfig) -> Batch {
        let (o, a) = (cfg.obs_history * 3, cfg.horizon * 2);
        Batch {
            batch: n,
            obs_dim: o,
            act_dim: a,
            observations: (0..n * o).map(|_| rng.random_range(-1.0..1.0)).collect(),
            actions: (0..n * a).map(|_| rng.random_range(-1.0..1.0)).collect(),
            ..Default::default()
        }
    }

    /// A saved state loads into an agent built with another seed and then acts identically; a
    /// state without the EMA weights is refused naming the key.
    #[test]
    fn state_round_trips_and_a_foreign_checkpoint_is_named() {
        let dev = Device::Cpu;
        let cfg = tiny();
        let mut a = DiffusionPolicy::new(cfg.clone(), 3, 2, 0, &dev).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..3 {
            a.update(&batch(&mut rng, 8, &cfg), &mut rng).unwrap();
        }
        let state: HashMap<String, Tensor> = a.state().unwrap().into_iter().collect();
        let mut b = DiffusionPolicy::new(cfg.clone(), 3, 2, 9, &dev).unwrap();
        b.load_state(&state).unwrap();
        let obs = batch(&mut rng, 2, &cfg).observations;
        let act = |p: &DiffusionPolicy| p.act(&obs, None, 2, &mut ChaCha8Rng::seed_from_u64(4)).unwrap();
        assert_eq!(act(&a), act(&b));
        assert_eq!(act(&a).len(), 2 * 8 * 2);
        let mut foreign = state.clone();
        foreign.retain(|k, _| !k.starts_with("ema."));
        let e = b.load_state(&foreign).err().unwrap().to_string();
        assert!(e.contains("ema."), "{e}");
    }

    /// The EMA follows the reference's decay: the first two updates copy the weights, later
    /// ones average with 1 − (1 + k − 1)^−0.75.
    #[test]
    fn the_ema_copies_then_averages() {
        let dev = Device::Cpu;
        let cfg = tiny();
        let mut a = DiffusionPolicy::new(cfg.clone(), 3, 2, 0, &dev).unwrap();
        assert_eq!((a.ema_decay(0), a.ema_decay(1)), (0.0, 0.0));
        assert!((a.ema_decay(2) - (1.0 - 2f64.powf(-0.75))).abs() < 1e-12);
        assert_eq!(a.ema_decay(100_000_000), 0.9999);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let key = "final.conv.bias";
        let get = |v: &VarMap| v.data().lock().unwrap()[key].as_tensor().to_vec1::<f32>().unwrap();
        a.update(&batch(&mut rng, 8, &cfg), &mut rng).unwrap();
        assert_eq!(get(&a.vars), get(&a.ema_vars), "the first update copies");
        a.update(&batch(&mut rng, 8, &cfg), &mut rng).unwrap();
        a.update(&batch(&mut rng, 8, &cfg), &mut rng).unwrap();
        assert_ne!(get(&a.vars), get(&a.ema_vars), "later updates average");
    }

    /// Shapes that cannot work are refused naming the value.
    #[test]
    fn bad_shapes_are_named() {
        let bad = |c: DiffusionPolicyConfig| c.validate().err().unwrap().to_string();
        assert!(bad(DiffusionPolicyConfig { horizon: 10, ..Default::default() }).contains("`horizon` = 10"));
        assert!(bad(DiffusionPolicyConfig { execute: 17, ..Default::default() }).contains("execute"));
        assert!(bad(DiffusionPolicyConfig { kernel_size: 4, ..Default::default() }).contains("`kernel_size` = 4"));
        assert!(bad(DiffusionPolicyConfig { down_dims: vec![12, 24], ..Default::default() }).contains("`down_dims[0]` = 12"));
        assert!(bad(DiffusionPolicyConfig { inference_steps: 101, ..Default::default() }).contains("inference_steps"));
        let e = DiffusionPolicy::new(tiny(), 3, 2, 0, &Device::Cpu).unwrap().act(&[0.0; 5], None, 1, &mut ChaCha8Rng::seed_from_u64(0)).err().unwrap().to_string();
        assert!(e.contains("5 observation values"), "{e}");
    }
}
