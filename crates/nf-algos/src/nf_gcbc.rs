//! NF-GCBC (paper Eq. 8, `flax_fcnf_gcbc.py`): goal-conditioned behaviour cloning with the flow
//! as the policy.
//!
//! `L = −E log π_θ(a + σε | enc([s, g]))`, σ = 0.1, goals = future observations of the same
//! trajectory at a geometric offset (γ = 0.97 by default); AdamW 3e-4, weight decay 1e-6,
//! 500 warm-up steps then cosine to 1e-6. Actions: one sample, then one denoising step
//! `a ← a + σ²∇ₐ log π(a | ·)`.

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use envs::{Batch, GoalConfig};
use nf_core::{ConditionalFlow, Draw, EncoderConfig, FlowConfig, FlowSampler, Trainer, WarmupCosine};
use rand_chacha::ChaCha8Rng;
use rl::{check_finite, rows_tensor, scalar, Agent, AgentConfig, DataSpec, Fields, Members, Metrics, Result, RlError, TrainConfig, UserTable};
use serde::{Deserialize, Serialize};

use crate::nll_members::{Condition, NllMembers};

/// NF-GCBC's hyper-parameters; defaults are the paper code's (`flax_fcnf_gcbc.py`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NfGcbcConfig {
    /// Flow blocks (paper: 6).
    pub blocks: usize,
    /// Coupling MLP width (paper code: 256).
    pub channels: usize,
    /// The flax quirk: first coupling layer `channels + rep` wide.
    pub widen_first_layer: bool,
    /// Condition encoder hidden widths (paper: 4 × 512).
    pub encoder_hidden: Vec<usize>,
    /// Encoder output width (paper code: 64).
    pub rep: usize,
    /// The PLU linear map in each block (paper: on). `false` is the study's "no
    /// permutation/linear flow" ablation (Table 10): every coupling transforms the same half.
    pub plu_linear: bool,
    /// LayerNorm in the coupling MLPs (paper: on). `false` is Table 10's "no LayerNorm".
    pub coupling_layer_norm: bool,
    /// Train-time action noise σ (paper: 0.1).
    pub noise_std: f64,
    /// One denoising step at action time (paper: on).
    pub denoise: bool,
    /// Peak AdamW learning rate (paper: 3e-4).
    pub lr: f64,
    /// AdamW weight decay (paper code: 1e-6).
    pub weight_decay: f64,
    /// Linear warm-up steps (paper code: 500).
    pub warmup: usize,
    /// Learning rate at the end of the cosine (paper code: 1e-6).
    pub lr_floor: f64,
    /// Length of the cosine schedule (paper: 1M, the run length); unless set, the run's step
    /// budget (see `fit_budget`).
    pub schedule_steps: usize,
    /// Goal-sampling γ of the geometric future offset (paper Table 4: 0.97 or 0.99).
    pub gamma: f32,
}

impl Default for NfGcbcConfig {
    fn default() -> Self {
        Self {
            blocks: 6,
            channels: 256,
            widen_first_layer: true,
            encoder_hidden: vec![512; 4],
            rep: 64,
            plu_linear: true,
            coupling_layer_norm: true,
            noise_std: 0.1,
            denoise: true,
            lr: 3e-4,
            weight_decay: 1e-6,
            warmup: 500,
            lr_floor: 1e-6,
            schedule_steps: 1_000_000,
            gamma: 0.97,
        }
    }
}

pub struct NfGcbc {
    cfg: NfGcbcConfig,
    flow: FlowSampler,
    trainer: Trainer,
    obs_dim: usize,
    act_dim: usize,
}

impl NfGcbcConfig {
    fn flow_config(&self, obs_dim: usize, act_dim: usize) -> Result<FlowConfig> {
        let cfg = self;
        if !(0.0..1.0).contains(&cfg.gamma) {
            return Err(RlError::Config { agent: "nf-gcbc".into(), reason: format!("gamma = {} must be in [0, 1)", cfg.gamma) });
        }
        Ok(FlowConfig {
            blocks: cfg.blocks,
            channels: cfg.channels,
            widen_first_layer: cfg.widen_first_layer,
            plu_linear: cfg.plu_linear,
            coupling_layer_norm: cfg.coupling_layer_norm,
            noise_std: cfg.noise_std,
            denoise: cfg.denoise,
            encoder: EncoderConfig { hidden: cfg.encoder_hidden.clone(), rep: cfg.rep, ..EncoderConfig::default() },
            ..FlowConfig::gcbc(act_dim, 2 * obs_dim)
        })
    }

    fn schedule(&self) -> WarmupCosine {
        WarmupCosine { peak: self.lr, warmup: self.warmup, total: self.schedule_steps, floor: self.lr_floor }
    }
}

impl NfGcbc {
    pub fn new(cfg: NfGcbcConfig, obs_dim: usize, act_dim: usize, seed: u64, device: &Device) -> Result<Self> {
        let flow = FlowSampler::new(ConditionalFlow::new(cfg.flow_config(obs_dim, act_dim)?, seed, device)?);
        let trainer = Trainer::new(flow.trainable_vars(), cfg.schedule(), cfg.weight_decay)?;
        Ok(Self { cfg, flow, trainer, obs_dim, act_dim })
    }

    pub fn flow(&self) -> &ConditionalFlow {
        &self.flow
    }
}

impl Agent for NfGcbc {
    fn name(&self) -> &str {
        "nf-gcbc"
    }
    fn data_spec(&self) -> DataSpec {
        DataSpec::GoalConditioned(GoalConfig::geometric(self.cfg.gamma))
    }
    fn update(&mut self, batch: &Batch, rng: &mut ChaCha8Rng) -> Result<Metrics> {
        let n = batch.batch;
        let dev = self.flow.device().clone();
        let cond = rows_tensor(&[(&batch.observations, self.obs_dim), (&batch.goals, self.obs_dim)], n, &dev)?;
        let actions = Tensor::from_slice(&batch.actions, (n, self.act_dim), &dev)?;
        let loss = self.flow.nll_loss(&actions, Some(&cond), rng)?;
        let nll = check_finite("nll", scalar(&loss)?)?;
        self.trainer.step(&loss)?;
        Ok(vec![("nll".into(), nll), ("lr".into(), self.trainer.optimizer().lr)])
    }
    fn act(&self, obs: &[f32], goals: Option<&[f32]>, n: usize, rng: &mut ChaCha8Rng) -> Result<Vec<f32>> {
        let goals = goals.ok_or_else(|| RlError::Config { agent: "nf-gcbc".into(), reason: "act() needs goals".into() })?;
        let d = self.obs_dim;
        if obs.len() != n * d || goals.len() != n * d {
            return Err(RlError::Config { agent: "nf-gcbc".into(), reason: format!("act() needs {n} rows of {d} observation and goal values, got {} and {}", obs.len(), goals.len()) });
        }
        // The flow's condition row is `[s, g]`.
        let cond: Vec<f32> = obs.chunks_exact(d).zip(goals.chunks_exact(d)).flat_map(|(s, g)| s.iter().chain(g)).copied().collect();
        Ok(self.flow.sample_rows(self.trainer.step_count(), &cond, n, Draw::sample(self.cfg.denoise), rng)?)
    }
    fn state(&self) -> Result<Vec<(String, Tensor)>> {
        let mut out: Vec<(String, Tensor)> = self.flow.named_tensors().into_iter().map(|(k, v)| (format!("policy.{k}"), v)).collect();
        out.extend(self.trainer.optimizer().state("opt")?);
        Ok(out)
    }
    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        self.flow.set_named_tensors(state, "policy.")?;
        self.trainer.optimizer_mut().load_state("opt", state)?;
        Ok(())
    }
}

/// NF-GCBC as a member ensemble: member e is the solo agent with `seeds[e]`.
pub fn members(cfg: &NfGcbcConfig, obs_dim: usize, act_dim: usize, seeds: &[u64], device: &Device) -> Result<NllMembers> {
    let flow = ConditionalFlow::members(cfg.flow_config(obs_dim, act_dim)?, seeds, device)?;
    let trainer = Trainer::new(flow.trainable_vars(), cfg.schedule(), cfg.weight_decay)?;
    Ok(NllMembers::new(flow, trainer, AgentConfig::data_spec(cfg), Condition::ObsGoal(obs_dim), act_dim))
}

impl AgentConfig for NfGcbcConfig {
    const NAME: &'static str = "nf-gcbc";
    const SOURCE: &'static str = file!();
    const COMPARED_AGAINST: &'static [&'static str] = &["gcbc", "fm-gcbc", "gcivl", "gciql", "qrl", "crl", "hiql"];
    type Agent = NfGcbc;

    fn data_spec(&self) -> DataSpec {
        DataSpec::GoalConditioned(GoalConfig::geometric(self.gamma))
    }
    fn validate(&self) -> Result<()> {
        let f = Fields::of(Self::NAME);
        f.range("blocks", self.blocks, 1..)?;
        f.range("channels", self.channels, 1..)?;
        f.widths("encoder_hidden", &self.encoder_hidden)?;
        f.range("rep", self.rep, 1..)?;
        f.non_negative("noise_std", self.noise_std)?;
        f.positive("lr", self.lr)?;
        f.non_negative("weight_decay", self.weight_decay)?;
        f.range("lr_floor", self.lr_floor, 0.0..=self.lr)?;
        f.range("schedule_steps", self.schedule_steps, 1..)?;
        f.range("gamma", self.gamma, 0.0..1.0)?;
        // The flow's own checks on the switches' combinations (`denoise` with σ = 0, …), before
        // any data is read; the dimensions are placeholders.
        Ok(self.flow_config(2, 2)?.validate()?)
    }
    /// The paper's cosine spans the whole run, so a shorter run gets a shorter cosine.
    fn fit_budget(&mut self, train: &mut TrainConfig, user: &UserTable) {
        if !user.contains_key("schedule_steps") {
            self.schedule_steps = train.steps as usize;
        }
    }
    fn build(&self, obs_dim: usize, act_dim: usize, seed: u64, device: &Device) -> Result<NfGcbc> {
        NfGcbc::new(self.clone(), obs_dim, act_dim, seed, device)
    }
    const MEMBERS: bool = true;
    fn build_members(&self, obs_dim: usize, act_dim: usize, seeds: &[u64], device: &Device) -> Option<Result<Box<dyn Members>>> {
        Some(members(self, obs_dim, act_dim, seeds, device).map(|m| Box::new(m) as Box<dyn Members>))
    }
}
