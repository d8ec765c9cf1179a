//! NF-BC (paper Eq. 7, `torch_nfbc_*.py`): behaviour cloning of action chunks with the flow.
//!
//! `L = −E log π_θ(chunk + σε | enc(obs history))`, σ = 0.1; the policy sees the last
//! `obs_history` observations and predicts `action_chunk` actions, of which the evaluation
//! executes the first `execute` before predicting again (PushT: history 2, predict 8, execute 4).
//! Sampling: one flow pass, then one denoising step. AdamW (3e-4; 1e-3 for PushT), weight decay
//! 1e-6, 500 warm-up steps then cosine. The imitation tasks arrive with "native tasks II"; the
//! agent trains on any dataset now.

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use envs::Batch;
use nf_core::{ConditionalFlow, Draw, EncoderConfig, FlowConfig, FlowSampler, Trainer, WarmupCosine};
use rand_chacha::ChaCha8Rng;
use rl::{check_finite, scalar, Agent, AgentConfig, DataSpec, Fields, Members, Metrics, Result, RlError, TrainConfig, UserTable};
use serde::{Deserialize, Serialize};

use crate::nll_members::{Condition, NllMembers};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NfBcConfig {
    /// Flow blocks (paper BC default: 12; PushT README: 24).
    pub blocks: usize,
    /// Coupling width (paper: 512).
    pub channels: usize,
    /// Condition encoder hidden widths (torch code: 4 × 512).
    pub encoder_hidden: Vec<usize>,
    /// Encoder output width (torch code: 256).
    pub rep: usize,
    /// Observations the policy sees, the newest last (diffusion-policy PushT: 2).
    pub obs_history: usize,
    /// Actions predicted per call (diffusion-policy PushT: 8).
    pub action_chunk: usize,
    /// Actions of each chunk executed before predicting again (diffusion-policy PushT: 4).
    pub execute: usize,
    /// The PLU linear map in each block (paper: on). `false` is the study's "no
    /// permutation/linear flow" ablation (Table 10): every coupling transforms the same half.
    pub plu_linear: bool,
    /// LayerNorm in the coupling MLPs (paper: on). `false` is Table 10's "no LayerNorm".
    pub coupling_layer_norm: bool,
    /// Train-time noise σ on the action chunk (paper: 0.1).
    pub noise_std: f64,
    /// One denoising step at action time (paper: on).
    pub denoise: bool,
    /// Peak AdamW learning rate (paper: 3e-4; 1e-3 for PushT).
    pub lr: f64,
    /// AdamW weight decay (torch code: 1e-6).
    pub weight_decay: f64,
    /// Linear warm-up steps (torch code: 500).
    pub warmup: usize,
    /// Learning rate at the end of the cosine (torch code: 1e-6).
    pub lr_floor: f64,
    /// Length of the cosine schedule (paper: the run length); unless set, the run's step budget
    /// (see `fit_budget`).
    pub schedule_steps: usize,
}

impl Default for NfBcConfig {
    fn default() -> Self {
        Self {
            blocks: 12,
            channels: 512,
            encoder_hidden: vec![512; 4],
            rep: 256,
            obs_history: 2,
            action_chunk: 8,
            execute: 4,
            plu_linear: true,
            coupling_layer_norm: true,
            noise_std: 0.1,
            denoise: true,
            lr: 3e-4,
            weight_decay: 1e-6,
            warmup: 500,
            lr_floor: 1e-6,
            schedule_steps: 1_000_000,
        }
    }
}

pub struct NfBc {
    cfg: NfBcConfig,
    flow: FlowSampler,
    trainer: Trainer,
    cond_dim: usize,
    chunk_dim: usize,
}

impl NfBcConfig {
    /// The flow's config and the (condition, chunk) widths.
    fn flow_config(&self, obs_dim: usize, act_dim: usize) -> Result<(FlowConfig, usize, usize)> {
        let cfg = self;
        if cfg.obs_history == 0 || cfg.action_chunk == 0 || cfg.execute == 0 || cfg.execute > cfg.action_chunk {
            return Err(RlError::Config {
                agent: "nf-bc".into(),
                reason: format!("need obs_history ≥ 1 and 1 ≤ execute ≤ action_chunk (got {}, {}, {})", cfg.obs_history, cfg.execute, cfg.action_chunk),
            });
        }
        let (cond_dim, chunk_dim) = (cfg.obs_history * obs_dim, cfg.action_chunk * act_dim);
        let flow_cfg = FlowConfig {
            blocks: cfg.blocks,
            channels: cfg.channels,
            plu_linear: cfg.plu_linear,
            coupling_layer_norm: cfg.coupling_layer_norm,
            noise_std: cfg.noise_std,
            denoise: cfg.denoise,
            encoder: EncoderConfig { hidden: cfg.encoder_hidden.clone(), rep: cfg.rep, layer_norm_eps: 1e-5, ..EncoderConfig::default() },
            ..FlowConfig::bc(chunk_dim, cond_dim)
        };
        Ok((flow_cfg, cond_dim, chunk_dim))
    }

    fn schedule(&self) -> WarmupCosine {
        WarmupCosine { peak: self.lr, warmup: self.warmup, total: self.schedule_steps, floor: self.lr_floor }
    }
}

impl NfBc {
    pub fn new(cfg: NfBcConfig, obs_dim: usize, act_dim: usize, seed: u64, device: &Device) -> Result<Self> {
        let (flow_cfg, cond_dim, chunk_dim) = cfg.flow_config(obs_dim, act_dim)?;
        let flow = FlowSampler::new(ConditionalFlow::new(flow_cfg, seed, device)?);
        let trainer = Trainer::new(flow.trainable_vars(), cfg.schedule(), cfg.weight_decay)?;
        Ok(Self { cfg, flow, trainer, cond_dim, chunk_dim })
    }
}

/// NF-BC as a member ensemble: member e is the solo agent with `seeds[e]`.
pub fn members(cfg: &NfBcConfig, obs_dim: usize, act_dim: usize, seeds: &[u64], device: &Device) -> Result<NllMembers> {
    let (flow_cfg, cond_dim, chunk_dim) = cfg.flow_config(obs_dim, act_dim)?;
    let flow = ConditionalFlow::members(flow_cfg, seeds, device)?;
    let trainer = Trainer::new(flow.trainable_vars(), cfg.schedule(), cfg.weight_decay)?;
    Ok(NllMembers::new(flow, trainer, AgentConfig::data_spec(cfg), Condition::Obs(cond_dim), chunk_dim))
}

impl Agent for NfBc {
    fn name(&self) -> &str {
        "nf-bc"
    }
    fn data_spec(&self) -> DataSpec {
        DataSpec::Chunks { obs_history: self.cfg.obs_history, action_chunk: self.cfg.action_chunk, execute: self.cfg.execute }
    }
    fn update(&mut self, b: &Batch, rng: &mut ChaCha8Rng) -> Result<Metrics> {
        let n = b.batch;
        let dev = self.flow.device().clone();
        let cond = Tensor::from_slice(&b.observations, (n, self.cond_dim), &dev)?;
        let x = Tensor::from_slice(&b.actions, (n, self.chunk_dim), &dev)?;
        let loss = self.flow.nll_loss(&x, Some(&cond), rng)?;
        let nll = check_finite("nll", scalar(&loss)?)?;
        self.trainer.step(&loss)?;
        Ok(vec![("nll".into(), nll), ("lr".into(), self.trainer.optimizer().lr)])
    }
    /// `obs` holds each env's stacked history (`[n, obs_history·obs_dim]`); returns `[n,
    /// action_chunk·act_dim]`.
    fn act(&self, obs: &[f32], _goals: Option<&[f32]>, n: usize, rng: &mut ChaCha8Rng) -> Result<Vec<f32>> {
        Ok(self.flow.sample_rows(self.trainer.step_count(), obs, n, Draw::sample(self.cfg.denoise), rng)?)
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

impl AgentConfig for NfBcConfig {
    const NAME: &'static str = "nf-bc";
    const SOURCE: &'static str = file!();
    const COMPARED_AGAINST: &'static [&'static str] = &["bc", "diffusion-policy", "vq-bet", "bet"];
    type Agent = NfBc;

    fn data_spec(&self) -> DataSpec {
        DataSpec::Chunks { obs_history: self.obs_history, action_chunk: self.action_chunk, execute: self.execute }
    }
    fn validate(&self) -> Result<()> {
        let f = Fields::of(Self::NAME);
        f.range("blocks", self.blocks, 1..)?;
        f.range("channels", self.channels, 1..)?;
        f.widths("encoder_hidden", &self.encoder_hidden)?;
        f.range("rep", self.rep, 1..)?;
        f.range("obs_history", self.obs_history, 1..)?;
        f.range("action_chunk", self.action_chunk, 1..)?;
        f.range("execute", self.execute, 1..=self.action_chunk)?;
        f.non_negative("noise_std", self.noise_std)?;
        f.positive("lr", self.lr)?;
        f.non_negative("weight_decay", self.weight_decay)?;
        f.range("lr_floor", self.lr_floor, 0.0..=self.lr)?;
        f.range("schedule_steps", self.schedule_steps, 1..)?;
        // The flow's own checks on the switches' combinations (`denoise` with σ = 0, …), before
        // any data is read; the dimensions are placeholders.
        Ok(self.flow_config(2, 2)?.0.validate()?)
    }
    /// As NF-GCBC: the cosine spans the run.
    fn fit_budget(&mut self, train: &mut TrainConfig, user: &UserTable) {
        if !user.contains_key("schedule_steps") {
            self.schedule_steps = train.steps as usize;
        }
    }
    fn build(&self, obs_dim: usize, act_dim: usize, seed: u64, device: &Device) -> Result<NfBc> {
        NfBc::new(self.clone(), obs_dim, act_dim, seed, device)
    }
    const MEMBERS: bool = true;
    fn build_members(&self, obs_dim: usize, act_dim: usize, seeds: &[u64], device: &Device) -> Option<Result<Box<dyn Members>>> {
        Some(members(self, obs_dim, act_dim, seeds, device).map(|m| Box::new(m) as Box<dyn Members>))
    }
}
