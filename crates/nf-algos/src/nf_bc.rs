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
use rl::{check_finite, scalar, Agent, DataSpec, Metrics, Result, RlError};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NfBcConfig {
    /// Flow blocks (paper BC default: 12; PushT README: 24).
    pub blocks: usize,
    /// Coupling width (paper: 512).
    pub channels: usize,
    pub encoder_hidden: Vec<usize>,
    /// Encoder output width (torch code: 256).
    pub rep: usize,
    pub obs_history: usize,
    pub action_chunk: usize,
    pub execute: usize,
    pub noise_std: f64,
    pub denoise: bool,
    pub lr: f64,
    pub weight_decay: f64,
    pub warmup: usize,
    pub lr_floor: f64,
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

impl NfBc {
    pub fn new(cfg: NfBcConfig, obs_dim: usize, act_dim: usize, seed: u64, device: &Device) -> Result<Self> {
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
            noise_std: cfg.noise_std,
            denoise: cfg.denoise,
            encoder: EncoderConfig { hidden: cfg.encoder_hidden.clone(), rep: cfg.rep, layer_norm_eps: 1e-5, ..EncoderConfig::default() },
            ..FlowConfig::bc(chunk_dim, cond_dim)
        };
        let flow = FlowSampler::new(ConditionalFlow::new(flow_cfg, seed, device)?);
        let schedule = WarmupCosine { peak: cfg.lr, warmup: cfg.warmup, total: cfg.schedule_steps, floor: cfg.lr_floor };
        let trainer = Trainer::new(flow.trainable_vars(), schedule, cfg.weight_decay)?;
        Ok(Self { cfg, flow, trainer, cond_dim, chunk_dim })
    }
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
