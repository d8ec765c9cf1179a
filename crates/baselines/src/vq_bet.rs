//! VQ-BeT (Lee et al. 2024, `jayLEE0301/vq_bet_official`): behaviour cloning of action chunks
//! as tokens. A residual VQ-VAE first learns a small discrete vocabulary of action chunks; a
//! causal transformer over the observation history then predicts, per residual layer, which code
//! comes next (a classification, so several modes keep their own probability mass instead of
//! being averaged) plus a continuous offset that restores what the coarse codebook loses.
//!
//! Two phases in one run, because the trainer drives one agent with one `update` per step: the
//! first `vqvae_steps` updates train the tokeniser (the reference's `pretrain_vqvae.py`), every
//! later one trains the transformer on the frozen tokeniser (`train.py`). `fit_budget` splits a
//! run as the reference's PushT recipe splits its epochs unless the user set the counts.
//!
//! Where this differs from the reference (each also noted at its field or line):
//! - the batches carry one action chunk per sample (the one starting at the newest observation),
//!   so only the last position of the transformer is supervised; the reference supervises every
//!   position of its window with the chunk starting there;
//! - the evaluation executes `execute` actions of each chunk; the reference predicts every step
//!   and averages the overlapping chunks;
//! - the data arrive min-max scaled, so there is no `act_scale`;
//! - MLP weights (tokeniser, heads) are lecun-normal (`nf_core::Mlp`), not torch's defaults; the
//!   GPT keeps minGPT's N(0, 0.02) init;
//! - the position table has `obs_history` rows (the reference's `block_size` 30, of which only
//!   the first window-size rows are ever read).

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;
use envs::Batch;
use nf_core::{Activation, AdamW, Mlp};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rl::{check_finite, scalar, Agent, AgentConfig, DataSpec, Fields, Metrics, Result, RlError, TrainConfig, UserTable};
use serde::{Deserialize, Serialize};

use crate::gpt::{focal_loss, named_vars, one_hot, pick_offsets, sample_codes, Gpt, GptSpec};

const NAME: &str = "vq-bet";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VqBetConfig {
    /// Observations the transformer sees, the newest last (`train_pusht_nongoalcond.yaml`
    /// `window_size`: 5).
    pub obs_history: usize,
    /// Actions per token, i.e. per predicted chunk (`action_window_size`: 5).
    pub action_chunk: usize,
    /// Actions of each chunk executed before predicting again (the reference predicts every step
    /// and averages overlapping chunks, `train.py` `eval_on_env`; 1 is the closest protocol).
    pub execute: usize,
    /// Tokeniser latent width (`vqvae_model.n_latent_dims`: 512).
    pub vqvae_n_latent_dims: usize,
    /// Codebook size of each residual layer (`vqvae_model.vqvae_n_embed`: 16).
    pub vqvae_n_embed: usize,
    /// Residual VQ layers; the first is the primary code, the rest secondary
    /// (`vqvae_model.vqvae_groups`: 2).
    pub vqvae_groups: usize,
    /// Tokeniser encoder/decoder hidden widths (`vqvae.py` `EncoderMLP`: hidden_dim 128,
    /// layer_num 1, i.e. two ReLU layers of 128).
    pub encoder_hidden: Vec<usize>,
    /// Updates that train the tokeniser before it is frozen. PushT pretrains 1001 epochs at batch
    /// 1024 and then trains 5000 at 512 (`pretrain_pusht.yaml`, `train_pusht_nongoalcond.yaml`):
    /// about 25k and 250k steps on its ~25k windows, so unless set, `fit_budget` gives the
    /// tokeniser 25/275 of the run.
    pub vqvae_steps: usize,
    /// Tokeniser Adam learning rate (`vqvae.py` `vqvae_lr`: 1e-3).
    pub vqvae_lr: f64,
    /// Tokeniser Adam L2 weight decay, added to the gradient as torch's `Adam` does
    /// (`vqvae.py`: 1e-4).
    pub vqvae_weight_decay: f64,
    /// Weight of the summed commitment losses (`vqvae.py` `vqvae_update`: `vq_loss_state * 5`).
    pub commitment_weight: f64,
    /// Weight of the L1 reconstruction (`vqvae_model.encoder_loss_multiplier`: 1).
    pub encoder_loss_multiplier: f64,
    /// EMA decay of the codebook updates (vector-quantize-pytorch `VectorQuantize` default `decay`:
    /// 0.8; the codebooks get no gradient).
    pub codebook_decay: f64,
    /// Transformer blocks (`gpt_model.config.n_layer`: 6).
    pub n_layer: usize,
    /// Attention heads (`n_head`: 6).
    pub n_head: usize,
    /// Transformer width (`n_embd`: 120).
    pub n_embd: usize,
    /// Dropout on embeddings, attention and residuals (`GPTConfig.dropout` default: 0.1).
    pub dropout: f64,
    /// Width of the transformer's output features (`GPTConfig.output_dim` default: 256).
    pub gpt_output_dim: usize,
    /// Hidden widths of the code and offset heads (`bet.py` `MLP` hidden_channels: 1024, 1024).
    pub head_hidden: Vec<usize>,
    /// Focal-loss weight of the primary code (`bet.py`: `cbet_loss1 * 5`).
    pub primary_code_loss_weight: f64,
    /// Focal-loss weight of each secondary code (`bet.py` `secondary_code_multiplier`: 0.5).
    pub secondary_code_loss_weight: f64,
    /// Focal-loss γ (`bet.py` `gamma`: 2).
    pub focal_gamma: f64,
    /// Weight of the L1 offset loss (`train_pusht_nongoalcond.yaml` `offset_loss_multiplier`:
    /// 10; the class default is 1000).
    pub offset_loss_multiplier: f64,
    /// AdamW learning rate of the transformer and heads, constant (`optim.lr`: 5.5e-5).
    pub lr: f64,
    /// AdamW weight decay of the transformer's Linear weights and of the offset head
    /// (`optim.weight_decay`: 2e-4; biases, LayerNorms and the position table are not decayed).
    pub weight_decay: f64,
    /// AdamW weight decay of the code head: torch's AdamW default 0.01, which the reference's
    /// `add_param_group` inherits (`bet.py` `configure_optimizers`).
    pub code_head_weight_decay: f64,
    /// Transformer-phase updates during which the transformer and the code head train; after
    /// them only the offset head does (`train.py`: optimizer1 steps while `epoch < epochs * 0.5`).
    /// Unless set, `fit_budget` makes it half the transformer phase.
    pub code_head_steps: usize,
    /// Draw codes from the predicted distribution at action time (the reference's
    /// `torch.multinomial`); off takes the most likely code.
    pub sample_codes: bool,
}

impl Default for VqBetConfig {
    fn default() -> Self {
        Self {
            obs_history: 5,
            action_chunk: 5,
            execute: 1,
            vqvae_n_latent_dims: 512,
            vqvae_n_embed: 16,
            vqvae_groups: 2,
            encoder_hidden: vec![128, 128],
            vqvae_steps: 25_000,
            vqvae_lr: 1e-3,
            vqvae_weight_decay: 1e-4,
            commitment_weight: 5.0,
            encoder_loss_multiplier: 1.0,
            codebook_decay: 0.8,
            n_layer: 6,
            n_head: 6,
            n_embd: 120,
            dropout: 0.1,
            gpt_output_dim: 256,
            head_hidden: vec![1024, 1024],
            primary_code_loss_weight: 5.0,
            secondary_code_loss_weight: 0.5,
            focal_gamma: 2.0,
            offset_loss_multiplier: 10.0,
            lr: 5.5e-5,
            weight_decay: 2e-4,
            code_head_weight_decay: 0.01,
            code_head_steps: 125_000,
            sample_codes: true,
        }
    }
}

pub struct VqBet {
    cfg: VqBetConfig,
    obs_dim: usize,
    act_dim: usize,
    device: Device,
    vars: VarMap,
    encoder: Mlp,
    decoder: Mlp,
    rvq: ResidualVq,
    gpt: Gpt,
    code_head: Mlp,
    offset_head: Mlp,
    opt_vqvae: AdamW,
    opt_gpt_decay: AdamW,
    opt_gpt: AdamW,
    opt_code_head: AdamW,
    opt_offset_head: AdamW,
    /// Updates taken so far: which phase the next one belongs to.
    step: usize,
}

impl VqBet {
    pub fn new(cfg: VqBetConfig, obs_dim: usize, act_dim: usize, seed: u64, device: &Device) -> Result<Self> {
        cfg.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let vars = VarMap::new();
        let chunk = cfg.action_chunk * act_dim;
        let (latent, groups, codes) = (cfg.vqvae_n_latent_dims, cfg.vqvae_groups, cfg.vqvae_n_embed);
        let encoder = Mlp::new(&vars, "vqvae.encoder", chunk, &cfg.encoder_hidden, latent, Activation::Relu, false, rng.random(), device)?;
        let decoder = Mlp::new(&vars, "vqvae.decoder", latent, &cfg.encoder_hidden, chunk, Activation::Relu, false, rng.random(), device)?;
        let rvq = ResidualVq::new(groups, codes, latent, cfg.codebook_decay, &mut rng, device)?;
        let spec = GptSpec {
            input: obs_dim,
            block_size: cfg.obs_history,
            n_layer: cfg.n_layer,
            n_head: cfg.n_head,
            n_embd: cfg.n_embd,
            output: cfg.gpt_output_dim,
            dropout: cfg.dropout,
            proj_std: 0.02 / (2.0 * cfg.n_layer as f32).sqrt(),
        };
        let gpt = Gpt::new(&vars, &spec, &mut rng, device)?;
        let code_head = Mlp::new(&vars, "heads.code", cfg.gpt_output_dim, &cfg.head_hidden, groups * codes, Activation::Relu, false, rng.random(), device)?;
        let offset_head = Mlp::new(&vars, "heads.offset", cfg.gpt_output_dim, &cfg.head_hidden, groups * codes * chunk, Activation::Relu, false, rng.random(), device)?;
        // The reference's parameter groups: the tokeniser's Adam; minGPT's decay / no-decay split
        // plus the code head in optimizer1; the offset head alone in optimizer2.
        let opt_vqvae = AdamW::adam(named_vars(&vars, |n| n.starts_with("vqvae.")), cfg.vqvae_lr)?;
        let opt_gpt_decay = AdamW::new(named_vars(&vars, |n| n.starts_with("gpt.") && n.ends_with(".weight")), cfg.lr, cfg.weight_decay)?;
        let opt_gpt = AdamW::adam(named_vars(&vars, |n| n.starts_with("gpt.") && !n.ends_with(".weight")), cfg.lr)?;
        let opt_code_head = AdamW::new(named_vars(&vars, |n| n.starts_with("heads.code.")), cfg.lr, cfg.code_head_weight_decay)?;
        let opt_offset_head = AdamW::new(named_vars(&vars, |n| n.starts_with("heads.offset.")), cfg.lr, cfg.weight_decay)?;
        Ok(Self { cfg, obs_dim, act_dim, device: device.clone(), vars, encoder, decoder, rvq, gpt, code_head, offset_head, opt_vqvae, opt_gpt_decay, opt_gpt, opt_code_head, opt_offset_head, step: 0 })
    }

    fn chunk_dim(&self) -> usize {
        self.cfg.action_chunk * self.act_dim
    }

    // ---- 1. The tokeniser: action chunk → residual codes → action chunk -----------------------

    /// One tokeniser step (`vqvae.py` `vqvae_update`): L1 reconstruction through the
    /// straight-through quantiser plus the commitment loss; the codebooks follow the encoder by
    /// EMA.
    fn update_vqvae(&mut self, actions: &Tensor) -> Result<Metrics> {
        let z = self.encoder.forward(actions)?;
        let q = self.rvq.quantize(&z)?;
        let recon = (actions - self.decoder.forward(&q.quantized)?)?.abs()?.mean_all()?;
        let mut loss = ((&recon * self.cfg.encoder_loss_multiplier)? + (&q.commitment * self.cfg.commitment_weight)?)?;
        let objective = loss.clone();
        if self.cfg.vqvae_weight_decay > 0.0 {
            // torch's Adam adds wd·θ to the gradient: the gradient of ½·wd·‖θ‖².
            let mut l2 = Tensor::zeros((), DType::F32, &self.device)?;
            for v in named_vars(&self.vars, |n| n.starts_with("vqvae.")) {
                l2 = (l2 + v.as_tensor().sqr()?.sum_all()?)?;
            }
            loss = (loss + (l2 * (0.5 * self.cfg.vqvae_weight_decay))?)?;
        }
        let value = check_finite("vqvae_loss", scalar(&objective)?)?;
        self.opt_vqvae.step(&loss.backward()?)?;
        self.rvq.ema_update(&q)?;
        let distinct = {
            let mut seen: Vec<&[u32]> = q.codes.chunks(self.cfg.vqvae_groups).collect();
            seen.sort();
            seen.dedup();
            seen.len() as f64
        };
        Ok(vec![("vqvae_loss".into(), value), ("recon_l1".into(), scalar(&recon)?), ("commitment".into(), scalar(&q.commitment)?), ("distinct_codes".into(), distinct)])
    }

    /// The codes of `actions` under the frozen tokeniser (`vqvae.py` `get_code`), `[n·G]`.
    fn codes_of(&self, actions: &Tensor) -> Result<Vec<u32>> {
        let z = self.encoder.forward_frozen(actions)?;
        Ok(self.rvq.quantize(&z.detach())?.codes)
    }

    /// The decoded chunk of the summed code vectors, `[n, chunk]`, as a constant.
    fn decode(&self, codes: &[u32], n: usize) -> Result<Tensor> {
        let latent = self.rvq.lookup(codes, n)?;
        Ok(self.decoder.forward_frozen(&latent)?.detach())
    }

    // ---- 2. The transformer: observation history → code logits and offsets --------------------

    /// Code logits `[n, G, C]` and per-code offsets `[n, G, C, chunk]` from the last position of
    /// the causal transformer. `rng` switches dropout on (training).
    fn heads(&self, obs: &Tensor, rng: Option<&mut ChaCha8Rng>, frozen_trunk: bool) -> Result<(Tensor, Tensor)> {
        let n = obs.dim(0)?;
        let (g, c) = (self.cfg.vqvae_groups, self.cfg.vqvae_n_embed);
        let seq = obs.reshape((n, self.cfg.obs_history, self.obs_dim))?;
        let mut feat = self.gpt.forward(&seq, rng)?.narrow(1, self.cfg.obs_history - 1, 1)?.squeeze(1)?;
        let logits = if frozen_trunk {
            feat = feat.detach();
            self.code_head.forward_frozen(&feat)?.detach()
        } else {
            self.code_head.forward(&feat)?
        };
        let offsets = self.offset_head.forward(&feat)?.reshape((n, g, c, self.chunk_dim()))?;
        Ok((logits.reshape((n, g, c))?, offsets))
    }

    // ---- 3. The losses ----------------------------------------------------------------------

    /// One transformer step (`bet.py` `_predict` with actions): focal losses on the true codes,
    /// and an L1 loss on decode(sampled codes) + their offsets. As in the reference, the offsets
    /// are read at codes *sampled* from the prediction, not at the true codes.
    fn update_transformer(&mut self, obs: &Tensor, actions: &Tensor, rng: &mut ChaCha8Rng) -> Result<Metrics> {
        let n = obs.dim(0)?;
        let (g, c) = (self.cfg.vqvae_groups, self.cfg.vqvae_n_embed);
        let phase_step = self.step - self.cfg.vqvae_steps;
        let train_codes = phase_step < self.cfg.code_head_steps;
        let target = self.codes_of(actions)?;
        let (logits, offsets) = self.heads(obs, Some(rng), !train_codes)?;
        let sampled = sample_codes(&candle_nn::ops::softmax_last_dim(&logits.detach())?, true, rng)?;
        let predicted = (self.decode(&sampled, n)? + pick_offsets(&offsets, &sampled, c, &self.device)?)?;
        let offset_loss = (actions - predicted)?.abs()?.mean_all()?;
        let mut code_loss = Tensor::zeros((), DType::F32, &self.device)?;
        let mut primary = 0.0;
        for k in 0..g {
            let target_k: Vec<u32> = (0..n).map(|i| target[i * g + k]).collect();
            let focal = focal_loss(&logits.narrow(1, k, 1)?.squeeze(1)?, &target_k, self.cfg.focal_gamma)?;
            let weight = if k == 0 { self.cfg.primary_code_loss_weight } else { self.cfg.secondary_code_loss_weight };
            if k == 0 {
                primary = scalar(&focal)?;
            }
            code_loss = (code_loss + (focal * weight)?)?;
        }
        let loss = (&code_loss + (&offset_loss * self.cfg.offset_loss_multiplier)?)?;
        let value = check_finite("loss", scalar(&loss)?)?;
        let grads = loss.backward()?;
        if train_codes {
            self.opt_gpt_decay.step(&grads)?;
            self.opt_gpt.step(&grads)?;
            self.opt_code_head.step(&grads)?;
        }
        self.opt_offset_head.step(&grads)?;
        let hits = target.chunks(g).zip(sampled.chunks(g)).filter(|(a, b)| a == b).count() as f64 / n as f64;
        Ok(vec![("loss".into(), value), ("code_loss".into(), scalar(&code_loss)?), ("primary_focal".into(), primary), ("offset_l1".into(), scalar(&offset_loss)?), ("code_rate".into(), hits)])
    }
}

impl Agent for VqBet {
    fn name(&self) -> &str {
        NAME
    }
    fn data_spec(&self) -> DataSpec {
        AgentConfig::data_spec(&self.cfg)
    }
    /// The first `vqvae_steps` calls train the tokeniser, every later one the transformer.
    fn update(&mut self, b: &Batch, rng: &mut ChaCha8Rng) -> Result<Metrics> {
        let n = b.batch;
        let actions = Tensor::from_slice(&b.actions, (n, self.chunk_dim()), &self.device)?;
        let metrics = if self.step < self.cfg.vqvae_steps {
            self.update_vqvae(&actions)?
        } else {
            let obs = Tensor::from_slice(&b.observations, (n, self.cfg.obs_history * self.obs_dim), &self.device)?;
            self.update_transformer(&obs, &actions, rng)?
        };
        self.step += 1;
        Ok(metrics)
    }

    // ---- 4. Acting: sample codes, decode, add the offset --------------------------------------

    /// `obs` holds each env's stacked history (`[n, obs_history·obs_dim]`); returns `[n,
    /// action_chunk·act_dim]`.
    fn act(&self, obs: &[f32], _goals: Option<&[f32]>, n: usize, rng: &mut ChaCha8Rng) -> Result<Vec<f32>> {
        let obs = Tensor::from_slice(obs, (n, self.cfg.obs_history * self.obs_dim), &self.device)?;
        let (logits, offsets) = self.heads(&obs, None, true)?;
        let codes = sample_codes(&candle_nn::ops::softmax_last_dim(&logits)?, self.cfg.sample_codes, rng)?;
        let chunk = (self.decode(&codes, n)? + pick_offsets(&offsets.detach(), &codes, self.cfg.vqvae_n_embed, &self.device)?)?;
        Ok(chunk.flatten_all()?.to_vec1::<f32>()?)
    }

    fn state(&self) -> Result<Vec<(String, Tensor)>> {
        let mut out = rl::varmap_state(&self.vars, "");
        out.extend(self.rvq.state());
        for (name, opt) in self.optimizers() {
            out.extend(opt.state(&format!("opt.{name}"))?);
        }
        out.push(("step".into(), Tensor::new(&[self.step as i64], &self.device)?));
        Ok(out)
    }

    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        let get = |key: &str| state.get(key).ok_or_else(|| config_error(format!("checkpoint lacks `{key}` (not a {NAME} checkpoint, or one of another configuration)")));
        let step = get("step")?.to_dtype(DType::I64)?.to_vec1::<i64>()?[0] as usize;
        for (name, var) in self.vars.data().lock().unwrap().iter() {
            let t = get(name)?;
            if t.dims() != var.dims() {
                return Err(config_error(format!("`{name}` has shape {:?}, the agent expects {:?}", t.dims(), var.dims())));
            }
            var.set(&t.to_device(&self.device)?.to_dtype(var.dtype())?)?;
        }
        self.rvq.load_state(&get)?;
        let dev = self.device.clone();
        for (name, opt) in self.optimizers_mut() {
            let prefix = format!("opt.{name}");
            get(&format!("{prefix}.t"))?;
            let on_device: HashMap<String, Tensor> = state.iter().filter(|(k, _)| k.starts_with(&prefix)).map(|(k, v)| (k.clone(), v.to_device(&dev).unwrap_or_else(|_| v.clone()))).collect();
            opt.load_state(&prefix, &on_device).map_err(|e| config_error(e.to_string()))?;
        }
        self.step = step;
        Ok(())
    }
}

impl VqBet {
    fn optimizers(&self) -> [(&'static str, &AdamW); 5] {
        [("vqvae", &self.opt_vqvae), ("gpt_decay", &self.opt_gpt_decay), ("gpt", &self.opt_gpt), ("code_head", &self.opt_code_head), ("offset_head", &self.opt_offset_head)]
    }
    fn optimizers_mut(&mut self) -> [(&'static str, &mut AdamW); 5] {
        [("vqvae", &mut self.opt_vqvae), ("gpt_decay", &mut self.opt_gpt_decay), ("gpt", &mut self.opt_gpt), ("code_head", &mut self.opt_code_head), ("offset_head", &mut self.opt_offset_head)]
    }
}

impl AgentConfig for VqBetConfig {
    const NAME: &'static str = NAME;
    const SOURCE: &'static str = file!();
    type Agent = VqBet;

    fn data_spec(&self) -> DataSpec {
        DataSpec::Chunks { obs_history: self.obs_history, action_chunk: self.action_chunk, execute: self.execute }
    }
    fn validate(&self) -> Result<()> {
        let f = Fields::of(Self::NAME);
        f.range("obs_history", self.obs_history, 1..)?;
        f.range("action_chunk", self.action_chunk, 1..)?;
        f.range("execute", self.execute, 1..=self.action_chunk)?;
        f.range("vqvae_n_latent_dims", self.vqvae_n_latent_dims, 1..)?;
        // Codes are u32 indices, and a vocabulary past 2^16 per layer would make the offset head
        // (G·C·chunk outputs) absurdly wide long before.
        f.range("vqvae_n_embed", self.vqvae_n_embed, 1..=65_536)?;
        f.range("vqvae_groups", self.vqvae_groups, 1..=16)?;
        f.widths("encoder_hidden", &self.encoder_hidden)?;
        f.positive("vqvae_lr", self.vqvae_lr)?;
        f.non_negative("vqvae_weight_decay", self.vqvae_weight_decay)?;
        f.non_negative("commitment_weight", self.commitment_weight)?;
        f.non_negative("encoder_loss_multiplier", self.encoder_loss_multiplier)?;
        f.range("codebook_decay", self.codebook_decay, 0.0..1.0)?;
        f.range("n_layer", self.n_layer, 1..)?;
        f.range("n_head", self.n_head, 1..)?;
        f.range("n_embd", self.n_embd, 1..)?;
        if !self.n_embd.is_multiple_of(self.n_head) {
            return Err(f.error("n_embd", format!("{} is not divisible by n_head = {}", self.n_embd, self.n_head)));
        }
        f.range("dropout", self.dropout, 0.0..1.0)?;
        f.range("gpt_output_dim", self.gpt_output_dim, 1..)?;
        f.widths("head_hidden", &self.head_hidden)?;
        f.non_negative("primary_code_loss_weight", self.primary_code_loss_weight)?;
        f.non_negative("secondary_code_loss_weight", self.secondary_code_loss_weight)?;
        f.non_negative("focal_gamma", self.focal_gamma)?;
        f.non_negative("offset_loss_multiplier", self.offset_loss_multiplier)?;
        f.positive("lr", self.lr)?;
        f.non_negative("weight_decay", self.weight_decay)?;
        f.non_negative("code_head_weight_decay", self.code_head_weight_decay)
    }
    /// The reference's PushT split (see `vqvae_steps`, `code_head_steps`) over the run's steps.
    fn fit_budget(&mut self, train: &mut TrainConfig, user: &UserTable) {
        let steps = train.steps as usize;
        if !user.contains_key("vqvae_steps") {
            self.vqvae_steps = (steps * 25).div_ceil(275);
        }
        if !user.contains_key("code_head_steps") {
            self.code_head_steps = steps.saturating_sub(self.vqvae_steps).div_ceil(2);
        }
    }
    fn build(&self, obs_dim: usize, act_dim: usize, seed: u64, device: &Device) -> Result<VqBet> {
        VqBet::new(self.clone(), obs_dim, act_dim, seed, device)
    }
}

// ---- Plumbing: the residual VQ layer (the minGPT and the token helpers are in `gpt.rs`) -----

fn config_error(reason: String) -> RlError {
    RlError::Config { agent: NAME.into(), reason }
}

/// A quantisation of a batch through every residual layer.
struct Quantized {
    /// `Σ_g` straight-through quantised residuals, `[n, D]`: the value of the code vectors, the
    /// gradient of the input (once per layer, as vector-quantize-pytorch's `ResidualVQ`).
    quantized: Tensor,
    /// `[n·G]`, row-major.
    codes: Vec<u32>,
    /// `Σ_g mean ‖residual_g − sg(code_g)‖²`.
    commitment: Tensor,
    /// Each layer's input residual (constant), for the EMA update.
    residuals: Vec<Tensor>,
}

/// vector-quantize-pytorch's `ResidualVQ` with EMA (`kmeans_init` off): layer g quantises what
/// the layers before it left; codebooks move by EMA of the residuals assigned to them.
struct ResidualVq {
    decay: f64,
    embed: Vec<Tensor>,
    cluster_size: Vec<Tensor>,
    embed_avg: Vec<Tensor>,
}

impl ResidualVq {
    /// Codebooks `[C, D]` drawn as the library's `uniform_init` (kaiming-uniform of a
    /// `[1, C, D]` tensor: bound √(6 / (C·D))).
    fn new(groups: usize, codes: usize, dim: usize, decay: f64, rng: &mut ChaCha8Rng, device: &Device) -> Result<Self> {
        let bound = (6.0 / (codes * dim) as f64).sqrt() as f32;
        let mut embed = Vec::new();
        for _ in 0..groups {
            let v: Vec<f32> = (0..codes * dim).map(|_| rng.random_range(-bound..bound)).collect();
            embed.push(Tensor::from_vec(v, (codes, dim), device)?);
        }
        let cluster_size = (0..groups).map(|_| Tensor::zeros(codes, DType::F32, device)).collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self { decay, embed_avg: embed.clone(), embed, cluster_size })
    }

    fn quantize(&self, z: &Tensor) -> Result<Quantized> {
        let (n, _) = z.dims2()?;
        let g = self.embed.len();
        let mut residual = z.clone();
        let mut quantized = z.zeros_like()?;
        let mut commitment = Tensor::zeros((), DType::F32, z.device())?;
        let mut codes = vec![0u32; n * g];
        let mut residuals = Vec::with_capacity(g);
        for (k, embed) in self.embed.iter().enumerate() {
            let r = residual.detach();
            let dist = r.sqr()?.sum_keepdim(1)?.broadcast_add(&embed.sqr()?.sum(1)?.unsqueeze(0)?)?.sub(&(r.matmul(&embed.t()?)? * 2.0)?)?;
            let idx = dist.argmin(1)?.to_vec1::<u32>()?;
            for (i, &code) in idx.iter().enumerate() {
                codes[i * g + k] = code;
            }
            let q = embed.index_select(&Tensor::new(idx.as_slice(), z.device())?, 0)?;
            commitment = (commitment + (&residual - &q)?.sqr()?.mean_all()?)?;
            quantized = (quantized + (&residual + (&q - &residual)?.detach())?)?;
            residual = (residual - q)?;
            residuals.push(r);
        }
        Ok(Quantized { quantized, codes, commitment, residuals })
    }

    /// `Σ_g embed_g[codes[i, g]]`, `[n, D]`.
    fn lookup(&self, codes: &[u32], n: usize) -> Result<Tensor> {
        let g = self.embed.len();
        let mut out: Option<Tensor> = None;
        for (k, embed) in self.embed.iter().enumerate() {
            let idx: Vec<u32> = (0..n).map(|i| codes[i * g + k]).collect();
            let q = embed.index_select(&Tensor::new(idx.as_slice(), embed.device())?, 0)?;
            out = Some(match out {
                None => q,
                Some(o) => (o + q)?,
            });
        }
        Ok(out.expect("at least one group"))
    }

    /// The library's `EuclideanCodebook` EMA step with Laplace smoothing (ε = 1e-5).
    fn ema_update(&mut self, q: &Quantized) -> Result<()> {
        let g = self.embed.len();
        let n = q.codes.len() / g;
        for k in 0..g {
            let (c, _) = self.embed[k].dims2()?;
            let idx: Vec<u32> = (0..n).map(|i| q.codes[i * g + k]).collect();
            let onehot = one_hot(&idx, c, self.embed[k].device())?;
            let lerp = |old: &Tensor, new: &Tensor| -> Result<Tensor> { Ok(((old * self.decay)? + (new * (1.0 - self.decay))?)?) };
            self.cluster_size[k] = lerp(&self.cluster_size[k], &onehot.sum(0)?)?;
            self.embed_avg[k] = lerp(&self.embed_avg[k], &onehot.t()?.matmul(&q.residuals[k])?)?;
            let total = self.cluster_size[k].sum_all()?.to_scalar::<f32>()? as f64;
            let smoothed = ((self.cluster_size[k].affine(1.0, 1e-5)? / (total + c as f64 * 1e-5))? * total)?;
            self.embed[k] = self.embed_avg[k].broadcast_div(&smoothed.unsqueeze(1)?)?;
        }
        Ok(())
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for k in 0..self.embed.len() {
            out.push((format!("vqvae.rvq.{k}.embed"), self.embed[k].clone()));
            out.push((format!("vqvae.rvq.{k}.cluster_size"), self.cluster_size[k].clone()));
            out.push((format!("vqvae.rvq.{k}.embed_avg"), self.embed_avg[k].clone()));
        }
        out
    }

    fn load_state<'a>(&mut self, get: &impl Fn(&str) -> Result<&'a Tensor>) -> Result<()> {
        for k in 0..self.embed.len() {
            for (name, slot) in [("embed", &mut self.embed[k]), ("cluster_size", &mut self.cluster_size[k]), ("embed_avg", &mut self.embed_avg[k])] {
                let key = format!("vqvae.rvq.{k}.{name}");
                let t = get(&key)?;
                if t.dims() != slot.dims() {
                    return Err(config_error(format!("`{key}` has shape {:?}, the agent expects {:?} (vqvae_n_embed × vqvae_n_latent_dims)", t.dims(), slot.dims())));
                }
                *slot = t.to_device(slot.device())?.to_dtype(DType::F32)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Var;

    use super::*;

    fn tiny() -> VqBetConfig {
        VqBetConfig {
            obs_history: 2,
            action_chunk: 3,
            execute: 2,
            vqvae_n_latent_dims: 8,
            vqvae_n_embed: 4,
            encoder_hidden: vec![16],
            vqvae_steps: 5,
            n_layer: 1,
            n_head: 2,
            n_embd: 8,
            gpt_output_dim: 8,
            head_hidden: vec![16],
            ..Default::default()
        }
    }

    /// Layer 1 snaps to its nearest code, layer 2 to the nearest code of what layer 1 left; the
    /// output's value is the sum of the two codes, and its gradient reaches the encoder side
    /// unchanged through each layer (so twice, as the library's residual straight-through sums).
    #[test]
    fn residual_vq_quantises_residuals_with_straight_through_gradients() {
        let dev = Device::Cpu;
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let mut rvq = ResidualVq::new(2, 3, 2, 0.8, &mut rng, &dev).unwrap();
        rvq.embed[0] = Tensor::new(&[[1f32, 0.0], [0.0, 1.0], [-1.0, -1.0]], &dev).unwrap();
        rvq.embed[1] = Tensor::new(&[[0.1f32, 0.0], [0.0, -0.1], [0.3, 0.3]], &dev).unwrap();
        rvq.embed_avg = rvq.embed.clone();
        let z = Var::new(&[[0.9f32, 0.25], [-1.2, -0.7]], &dev).unwrap();
        let q = rvq.quantize(z.as_tensor()).unwrap();
        // Row 0 snaps to [1, 0], leaving [−0.1, 0.25], nearest [0.1, 0]; row 1 snaps to [−1, −1],
        // leaving [−0.2, 0.3], nearest [0.1, 0] again.
        assert_eq!(q.codes, vec![0, 0, 2, 0]);
        let close = |got: Vec<Vec<f32>>, want: [f32; 4], what: &str| {
            for (a, b) in got.iter().flatten().zip(want) {
                assert!((a - b).abs() < 1e-6, "{what}: {got:?} vs {want:?}");
            }
        };
        close(q.quantized.to_vec2().unwrap(), [1.1, 0.0, -0.9, -1.0], "the sum of both layers' codes");
        close(q.residuals[1].to_vec2().unwrap(), [-0.1, 0.25, -0.2, 0.3], "layer 2 quantises what layer 1 left");
        let w = Tensor::new(&[[1f32, 2.0], [3.0, 4.0]], &dev).unwrap();
        let grads = (&q.quantized * &w).unwrap().sum_all().unwrap().backward().unwrap();
        assert_eq!(grads.get(z.as_tensor()).unwrap().to_vec2::<f32>().unwrap(), vec![vec![2.0, 4.0], vec![6.0, 8.0]]);
        // The commitment loss pulls the encoder towards the codes: Σ_g mean (r_g − code_g)².
        let expect = ((0.1f32.powi(2) + 0.25f32.powi(2) + 0.2f32.powi(2) + 0.3f32.powi(2)) + ((0.2f32).powi(2) + 0.25f32.powi(2) + 0.3f32.powi(2) + 0.3f32.powi(2))) / 4.0;
        assert!((q.commitment.to_scalar::<f32>().unwrap() - expect).abs() < 1e-5);
        // The EMA as the library does it: counts start at zero and the averages at the codes, so
        // a code's first use scales it by 1 / its smoothed share (code 0: avg 0.8·[1, 0] +
        // 0.2·[0.9, 0.25] over a smoothed count of ≈ 0.2).
        rvq.ema_update(&q).unwrap();
        let smoothed = (0.2f32 + 1e-5) / (0.4 + 3e-5) * 0.4;
        let e0 = rvq.embed[0].to_vec2::<f32>().unwrap();
        assert!((e0[0][0] - 0.98 / smoothed).abs() < 1e-4 && (e0[0][1] - 0.05 / smoothed).abs() < 1e-4, "{e0:?}");
    }

    #[test]
    fn focal_loss_is_cross_entropy_at_gamma_zero_and_discounts_easy_rows() {
        let dev = Device::Cpu;
        let logits = Tensor::new(&[[2f32, 0.0, 0.0], [0.0, 0.0, 0.0]], &dev).unwrap();
        let ce = focal_loss(&logits, &[0, 1], 0.0).unwrap().to_scalar::<f32>().unwrap();
        let p0 = 2f32.exp() / (2f32.exp() + 2.0);
        let want = -(p0.ln() + (1.0f32 / 3.0).ln()) / 2.0;
        assert!((ce - want).abs() < 1e-5, "{ce} vs {want}");
        let focal = focal_loss(&logits, &[0, 1], 2.0).unwrap().to_scalar::<f32>().unwrap();
        let want = -((1.0 - p0).powi(2) * p0.ln() + (2.0f32 / 3.0).powi(2) * (1.0f32 / 3.0).ln()) / 2.0;
        assert!((focal - want).abs() < 1e-5, "{focal} vs {want}");
    }

    fn batch(n: usize, cfg: &VqBetConfig, seed: u64) -> Batch {
        let spec = AgentConfig::data_spec(cfg);
        rl::synthetic_batch(n, 3, 2, &spec, &mut ChaCha8Rng::seed_from_u64(seed))
    }

    /// Both phases train, and a fresh agent of another seed loaded from the state acts exactly
    /// like the trained one, and keeps training exactly like it (optimisers, codebook EMA and
    /// the phase counter included).
    #[test]
    fn state_round_trip_resumes_bit_exactly() {
        let cfg = tiny();
        let dev = Device::Cpu;
        let mut a = VqBet::new(cfg.clone(), 3, 2, 1, &dev).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for s in 0..8 {
            let m = a.update(&batch(16, &cfg, s), &mut rng).unwrap();
            let first = &m[0].0;
            assert_eq!(first, if s < 5 { "vqvae_loss" } else { "loss" }, "step {s}: {m:?}");
        }
        let state: HashMap<String, Tensor> = a.state().unwrap().into_iter().collect();
        let mut b = VqBet::new(cfg.clone(), 3, 2, 99, &dev).unwrap();
        let obs: Vec<f32> = (0..4 * 6).map(|i| (i as f32 * 0.37).sin()).collect();
        let act = |x: &VqBet| x.act(&obs, None, 4, &mut ChaCha8Rng::seed_from_u64(5)).unwrap();
        assert_ne!(act(&a), act(&b), "another seed acts differently before loading");
        b.load_state(&state).unwrap();
        assert_eq!(act(&a), act(&b));
        let (mut ra, mut rb) = (ChaCha8Rng::seed_from_u64(8), ChaCha8Rng::seed_from_u64(8));
        for s in 8..10 {
            assert_eq!(a.update(&batch(16, &cfg, s), &mut ra).unwrap(), b.update(&batch(16, &cfg, s), &mut rb).unwrap());
        }
        assert_eq!(act(&a), act(&b));
    }

    #[test]
    fn bad_configs_and_foreign_checkpoints_are_named() {
        let err = |c: VqBetConfig| c.validate().unwrap_err().to_string();
        for (field, cfg) in [
            ("obs_history", VqBetConfig { obs_history: 0, ..tiny() }),
            ("action_chunk", VqBetConfig { action_chunk: 0, execute: 0, ..tiny() }),
            ("execute", VqBetConfig { execute: 4, ..tiny() }),
            ("vqvae_n_embed", VqBetConfig { vqvae_n_embed: 0, ..tiny() }),
            ("vqvae_groups", VqBetConfig { vqvae_groups: 0, ..tiny() }),
            ("n_embd", VqBetConfig { n_embd: 10, n_head: 3, ..tiny() }),
            ("dropout", VqBetConfig { dropout: 1.0, ..tiny() }),
        ] {
            let e = err(cfg);
            assert!(e.contains(NAME) && e.contains(&format!("`{field}`")), "{field}: {e}");
        }
        let dev = Device::Cpu;
        let a = VqBet::new(tiny(), 3, 2, 0, &dev).unwrap();
        let mut state: HashMap<String, Tensor> = a.state().unwrap().into_iter().collect();
        state.remove("vqvae.rvq.1.embed");
        let mut b = VqBet::new(tiny(), 3, 2, 0, &dev).unwrap();
        let e = b.load_state(&state).unwrap_err().to_string();
        assert!(e.contains(NAME) && e.contains("`vqvae.rvq.1.embed`"), "{e}");
        let bc = crate::Bc::new(crate::BcConfig { hidden: vec![4], ..Default::default() }, 6, 2, 0, &dev).unwrap();
        let e = b.load_state(&bc.state().unwrap().into_iter().collect()).unwrap_err().to_string();
        assert!(e.contains(NAME) && e.contains("`step`"), "{e}");
        let other = VqBet::new(VqBetConfig { vqvae_n_embed: 5, ..tiny() }, 3, 2, 0, &dev).unwrap();
        let e = b.load_state(&other.state().unwrap().into_iter().collect()).unwrap_err().to_string();
        assert!(e.contains(NAME) && e.contains("shape"), "{e}");
    }

    /// VQ-BeT through the shared training loop on blockpush2 (two blocks, either pushed first
    /// into either target), scored as VQ-BeT scores UR3 BlockPush: blocks in targets, 0–2.
    /// A reduced network and a raised learning rate (the reference's 5.5e-5 is for 250k steps);
    /// 500 tokeniser steps, then 2,500 transformer steps, batch 256. Measured (debug test build,
    /// 2 shared cores, 53 s): random 0.00; VQ-BeT 0.15 / 0.90 / 1.50 at steps 1k / 2k / 3k
    /// (6,000 steps reach 1.95). NF-BC's test on the same task: 1.45 best after 2,000 steps.
    /// That rollouts show more than one mode is not asserted: at this budget it does not hold
    /// (measured by a rollout loop since removed): 16 rollouts of this policy from
    /// one start (reset seed 0, code sampling on) all delivered block 1 to target 1 first, so
    /// the multimodality of the demos (4 modes, drawn per episode) is not yet reproduced there.
    /// On multigoal4 it is, and asserted: `xtask/tests/learning.rs`, `vq_bet_keeps_multigoal4_modes`.
    #[test]
    fn learns_to_push_blocks_better_than_random() {
        let task = envs::Task::resolve("blockpush2").unwrap();
        let random = rl::evaluate(&crate::random::Random::new(task.act_dim), &task, 20, 7).unwrap();
        let cfg = VqBetConfig {
            obs_history: 2,
            action_chunk: 5,
            execute: 5,
            vqvae_n_latent_dims: 32,
            vqvae_n_embed: 8,
            encoder_hidden: vec![64, 64],
            n_layer: 2,
            n_head: 2,
            n_embd: 32,
            gpt_output_dim: 64,
            head_hidden: vec![128, 128],
            lr: 1e-3,
            vqvae_steps: 500,
            code_head_steps: 2500,
            ..Default::default()
        };
        let train = TrainConfig { steps: 3000, batch_size: 256, eval_every: 1000, eval_episodes: 20, seed: 0 };
        let mut agent = VqBet::new(cfg, task.obs_dim, task.act_dim, 0, &Device::Cpu).unwrap();
        let data = envs::generate(task.name(), 0, envs::Split::Train).unwrap();
        let dir = std::env::temp_dir().join(format!("nf-rl-vq-bet-{}", std::process::id()));
        let t0 = std::time::Instant::now();
        let s = rl::train(&mut agent, &task, data, &train, &dir, &mut |_| {}).unwrap();
        println!("blockpush2, 20 episodes: score random {:.2}; VQ-BeT best {:.2}, final {:.2} ({:.0} s)", random.score, s.best_score, s.final_eval.score, t0.elapsed().as_secs_f64());
        assert!(s.best_score >= random.score + 0.5, "VQ-BeT {} vs random {}", s.best_score, random.score);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
