//! The pieces BeT and VQ-BeT share: minGPT (the causal transformer both put over the
//! observation history) and the token plumbing around it (focal loss, sampling a bin or code
//! from the predicted distribution, reading the offset of a chosen bin).

use candle_core::{Device, Tensor, Var, D};
use candle_nn::VarMap;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rl::Result;

/// The variables whose names pass `keep`, in name order (optimiser state is saved by position).
pub(crate) fn named_vars(vars: &VarMap, keep: impl Fn(&str) -> bool) -> Vec<Var> {
    rl::sorted_vars(vars).into_iter().zip(sorted_names(vars)).filter(|(_, n)| keep(n)).map(|(v, _)| v).collect()
}

fn sorted_names(vars: &VarMap) -> Vec<String> {
    let mut names: Vec<String> = vars.data().lock().unwrap().keys().cloned().collect();
    names.sort();
    names
}

/// One code per (row, group) from probabilities `[n, G, C]`: drawn (`sample`) or the argmax.
pub(crate) fn sample_codes(probs: &Tensor, sample: bool, rng: &mut ChaCha8Rng) -> Result<Vec<u32>> {
    let (n, g, c) = probs.dims3()?;
    let p = probs.flatten_all()?.to_vec1::<f32>()?;
    let mut out = Vec::with_capacity(n * g);
    for row in p.chunks(c) {
        let code = if sample {
            let u: f32 = rng.random::<f32>() * row.iter().sum::<f32>();
            let mut acc = 0.0;
            row.iter()
                .position(|&x| {
                    acc += x;
                    acc > u
                })
                .unwrap_or(c - 1)
        } else {
            row.iter().enumerate().fold((0, f32::NEG_INFINITY), |best, (i, &x)| if x > best.1 { (i, x) } else { best }).0
        };
        out.push(code as u32);
    }
    Ok(out)
}

/// `one_hot(codes)` as `[n·G, C]` f32.
pub(crate) fn one_hot(codes: &[u32], c: usize, device: &Device) -> Result<Tensor> {
    let mut v = vec![0f32; codes.len() * c];
    for (i, &k) in codes.iter().enumerate() {
        v[i * c + k as usize] = 1.0;
    }
    Ok(Tensor::from_vec(v, (codes.len(), c), device)?)
}

/// `Σ_g offsets[i, g, codes[i, g]]`, `[n, chunk]`, differentiable in `offsets` `[n, G, C, chunk]`.
pub(crate) fn pick_offsets(offsets: &Tensor, codes: &[u32], c: usize, device: &Device) -> Result<Tensor> {
    let (n, g, _, _) = offsets.dims4()?;
    let mask = one_hot(codes, c, device)?.reshape((n, g, c, 1))?;
    Ok(offsets.broadcast_mul(&mask)?.sum(2)?.sum(1)?)
}

/// `mean −(1 − p_t)^γ log p_t` for logits `[n, C]` (VQ-BeT `bet.py` `FocalLoss`, BeT
/// `models/libraries/loss_fn.py` `FocalLoss`: the same loss).
pub(crate) fn focal_loss(logits: &Tensor, target: &[u32], gamma: f64) -> Result<Tensor> {
    let c = logits.dim(1)?;
    let logp = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    let logpt = (logp * one_hot(target, c, logits.device())?)?.sum(1)?;
    let pt = logpt.exp()?;
    let weight = if gamma == 0.0 { pt.ones_like()? } else { pt.affine(-1.0, 1.0)?.relu()?.powf(gamma)? };
    Ok((weight * logpt)?.neg()?.mean_all()?)
}

/// The shape of a [`Gpt`]; each agent fills it from its reference's configuration.
pub(crate) struct GptSpec {
    /// Width of each input token (one observation).
    pub input: usize,
    /// Sequence length: the position table's rows and the causal mask's size.
    pub block_size: usize,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_embd: usize,
    /// Width of the bias-free output projection.
    pub output: usize,
    /// Dropout on embeddings, attention and residuals.
    pub dropout: f64,
    /// Std of the residual projections' initial weights (nanoGPT scales it by 1/√(2·n_layer);
    /// the older minGPT keeps 0.02).
    pub proj_std: f32,
}

/// `y = x Wᵀ + b` over the last axis of a `[rows, in]` input.
struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = x.matmul(&self.weight.t()?)?;
        Ok(match &self.bias {
            Some(b) => nf_core::ops::bias_add(&y, b)?,
            None => y,
        })
    }
}

struct LayerNorm {
    gamma: Tensor,
    beta: Tensor,
}

impl LayerNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(nf_core::ops::layer_norm(x, &self.gamma, &self.beta, 1e-5)?)
    }
}

struct Block {
    ln_1: LayerNorm,
    c_attn: Linear,
    attn_proj: Linear,
    ln_2: LayerNorm,
    c_fc: Linear,
    mlp_proj: Linear,
}

/// minGPT (VQ-BeT `gpt.py`, BeT `models/libraries/mingpt/model.py`): token Linear + learned
/// positions, pre-LN blocks of causal self-attention
/// and a GELU MLP, a final LayerNorm and a bias-free output projection.
pub(crate) struct Gpt {
    wte: Linear,
    wpe: Tensor,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    lm_head: Linear,
    n_head: usize,
    dropout: f32,
    mask: Tensor,
}

/// Registers parameters drawn from one stream, so a seed fixes every number.
struct Init<'a> {
    vars: &'a VarMap,
    rng: &'a mut ChaCha8Rng,
    device: &'a Device,
}

impl Init<'_> {
    fn param(&mut self, name: &str, shape: &[usize], values: Vec<f32>) -> Result<Tensor> {
        let var = Var::from_tensor(&Tensor::from_vec(values, shape, self.device)?)?;
        let t = var.as_tensor().clone();
        self.vars.data().lock().unwrap().insert(name.to_string(), var);
        Ok(t)
    }
    fn normal(&mut self, name: &str, shape: &[usize], std: f32) -> Result<Tensor> {
        let n = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| self.rng.sample::<f32, _>(rand_distr::StandardNormal) * std).collect();
        self.param(name, shape, v)
    }
    fn constant(&mut self, name: &str, shape: &[usize], value: f32) -> Result<Tensor> {
        self.param(name, shape, vec![value; shape.iter().product()])
    }
    /// minGPT's `_init_weights`: N(0, std) weights, zero biases.
    fn linear(&mut self, name: &str, fan_in: usize, out: usize, std: f32, bias: bool) -> Result<Linear> {
        let weight = self.normal(&format!("{name}.weight"), &[out, fan_in], std)?;
        let bias = if bias { Some(self.constant(&format!("{name}.bias"), &[out], 0.0)?) } else { None };
        Ok(Linear { weight, bias })
    }
    /// Named `gamma`/`beta`, not `weight`, so the decay group (Linear weights) is a name test.
    fn layer_norm(&mut self, name: &str, dim: usize) -> Result<LayerNorm> {
        Ok(LayerNorm { gamma: self.constant(&format!("{name}.gamma"), &[dim], 1.0)?, beta: self.constant(&format!("{name}.beta"), &[dim], 0.0)? })
    }
}

impl Gpt {
    /// Registers the parameters under `gpt.` in `vars`, drawn from `rng` in a fixed order.
    pub(crate) fn new(vars: &VarMap, cfg: &GptSpec, rng: &mut ChaCha8Rng, device: &Device) -> Result<Self> {
        let c = cfg.n_embd;
        let mut b = Init { vars, rng, device };
        let proj_std = cfg.proj_std;
        let wte = b.linear("gpt.wte", cfg.input, c, 0.02, true)?;
        let wpe = b.normal("gpt.wpe", &[cfg.block_size, c], 0.02)?;
        let mut blocks = Vec::with_capacity(cfg.n_layer);
        for i in 0..cfg.n_layer {
            let p = format!("gpt.h.{i}");
            blocks.push(Block {
                ln_1: b.layer_norm(&format!("{p}.ln_1"), c)?,
                c_attn: b.linear(&format!("{p}.attn.c_attn"), c, 3 * c, 0.02, true)?,
                attn_proj: b.linear(&format!("{p}.attn.c_proj"), c, c, proj_std, true)?,
                ln_2: b.layer_norm(&format!("{p}.ln_2"), c)?,
                c_fc: b.linear(&format!("{p}.mlp.c_fc"), c, 4 * c, 0.02, true)?,
                mlp_proj: b.linear(&format!("{p}.mlp.c_proj"), 4 * c, c, proj_std, true)?,
            });
        }
        let ln_f = b.layer_norm("gpt.ln_f", c)?;
        let lm_head = b.linear("gpt.lm_head", c, cfg.output, 0.02, false)?;
        let t = cfg.block_size;
        let mask: Vec<f32> = (0..t * t).map(|i| if i % t > i / t { f32::NEG_INFINITY } else { 0.0 }).collect();
        let mask = Tensor::from_vec(mask, (t, t), device)?;
        Ok(Self { wte, wpe, blocks, ln_f, lm_head, n_head: cfg.n_head, dropout: cfg.dropout as f32, mask })
    }

    /// `[n, T, input]` → `[n, T, output]`; dropout only when `rng` is given.
    pub(crate) fn forward(&self, seq: &Tensor, mut rng: Option<&mut ChaCha8Rng>) -> Result<Tensor> {
        let (n, t, input) = seq.dims3()?;
        let c = self.wpe.dim(1)?;
        let tok = self.wte.forward(&seq.reshape((n * t, input))?)?.reshape((n, t, c))?;
        let x = tok.broadcast_add(&self.wpe.narrow(0, 0, t)?.unsqueeze(0)?)?.reshape((n * t, c))?;
        let mut x = self.drop(&x, rng.as_deref_mut())?;
        for block in &self.blocks {
            let a = self.attention(block, &block.ln_1.forward(&x)?, n, t, rng.as_deref_mut())?;
            x = (x + a)?;
            let h = nf_core::ops::gelu(&block.c_fc.forward(&block.ln_2.forward(&x)?)?)?;
            let h = self.drop(&block.mlp_proj.forward(&h)?, rng.as_deref_mut())?;
            x = (x + h)?;
        }
        let out = self.lm_head.forward(&self.ln_f.forward(&x)?)?;
        Ok(out.reshape((n, t, ()))?)
    }

    /// Causal multi-head self-attention on `[n·T, C]` rows.
    fn attention(&self, block: &Block, x: &Tensor, n: usize, t: usize, mut rng: Option<&mut ChaCha8Rng>) -> Result<Tensor> {
        let c = x.dim(1)?;
        let (h, hs) = (self.n_head, c / self.n_head);
        let qkv = block.c_attn.forward(x)?;
        let split = |i: usize| -> Result<Tensor> { Ok(qkv.narrow(1, i * c, c)?.reshape((n, t, h, hs))?.transpose(1, 2)?.contiguous()?) };
        let (q, k, v) = (split(0)?, split(1)?, split(2)?);
        let att = (q.matmul(&k.t()?.contiguous()?)? * (1.0 / (hs as f64).sqrt()))?.broadcast_add(&self.mask)?;
        let att = self.drop(&candle_nn::ops::softmax_last_dim(&att)?, rng.as_deref_mut())?;
        let y = att.matmul(&v)?.transpose(1, 2)?.contiguous()?.reshape((n * t, c))?;
        self.drop(&block.attn_proj.forward(&y)?, rng)
    }

    /// Inverted dropout with a mask drawn from `rng` (candle's own dropout is unseeded).
    fn drop(&self, x: &Tensor, rng: Option<&mut ChaCha8Rng>) -> Result<Tensor> {
        let Some(rng) = rng else { return Ok(x.clone()) };
        if self.dropout == 0.0 {
            return Ok(x.clone());
        }
        let keep = 1.0 / (1.0 - self.dropout);
        let mask: Vec<f32> = (0..x.elem_count()).map(|_| if rng.random::<f32>() < self.dropout { 0.0 } else { keep }).collect();
        Ok((x * Tensor::from_vec(mask, x.shape(), x.device())?)?)
    }
}
