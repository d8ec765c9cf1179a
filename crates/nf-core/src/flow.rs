//! [`ConditionalFlow`]: encoder + K blocks + `N(0, I)` base, and its checkpoints.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::VarMap;
use rand::Rng;
use rand_distr::StandardNormal;

use crate::config::FlowConfig;
use crate::coupling::AffineCoupling;
use crate::error::{FlowError, Result};
use crate::init::ParamBuilder;
use crate::linear::InvertibleLinear;
use crate::nn::Encoder;

/// File names inside a checkpoint directory.
pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const CONFIG_FILE: &str = "config.toml";

/// One block: the PLU map first, then the coupling (the code's order; inside a stack it is the
/// same family as the paper's coupling-then-linear).
#[derive(Clone, Debug)]
pub struct FlowBlock {
    pub linear: InvertibleLinear,
    pub coupling: Option<AffineCoupling>,
}

/// A conditional normalizing flow `p(x | y)`; see the crate docs for the layout and tensor names.
pub struct ConditionalFlow {
    cfg: FlowConfig,
    device: Device,
    dtype: DType,
    params: VarMap,
    buffers: VarMap,
    pub(crate) encoder: Option<Encoder>,
    pub(crate) blocks: Vec<FlowBlock>,
}

impl std::fmt::Debug for ConditionalFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConditionalFlow").field("cfg", &self.cfg).field("device", &self.device).field("dtype", &self.dtype).finish_non_exhaustive()
    }
}

fn shape_err(what: &'static str, expected: String, got: &Tensor) -> FlowError {
    FlowError::Shape { what, expected, got: got.dims().to_vec() }
}

/// `log N(z; 0, I)` per row.
pub fn standard_normal_log_prob(z: &Tensor) -> Result<Tensor> {
    let d = z.dim(D::Minus1)? as f64;
    Ok(((z.sqr()?.sum(D::Minus1)? * -0.5)? - 0.5 * d * (2.0 * std::f64::consts::PI).ln())?)
}

impl ConditionalFlow {
    /// Builds a flow in f32 with parameters drawn from `seed`.
    pub fn new(cfg: FlowConfig, seed: u64, device: &Device) -> Result<Self> {
        Self::new_with_dtype(cfg, seed, device, DType::F32)
    }

    pub fn new_with_dtype(cfg: FlowConfig, seed: u64, device: &Device, dtype: DType) -> Result<Self> {
        cfg.validate()?;
        let (params, buffers) = (VarMap::new(), VarMap::new());
        let (encoder, blocks) = {
            let mut b = ParamBuilder::new(&params, &buffers, seed, device, dtype);
            let encoder = if cfg.cond_dim > 0 && cfg.encoder.enabled { Some(Encoder::new(&mut b, cfg.cond_dim, &cfg.encoder.hidden, cfg.encoder.rep, cfg.encoder.layer_norm_eps)?) } else { None };
            let mut blocks = Vec::with_capacity(cfg.blocks);
            for i in 0..cfg.blocks {
                let linear = InvertibleLinear::new(&mut b, &format!("blocks.{i}.linear"), cfg.dim)?;
                let coupling = AffineCoupling::new(
                    &mut b,
                    &format!("blocks.{i}.coupling"),
                    cfg.dim,
                    cfg.rep_dim(),
                    cfg.channels,
                    cfg.widen_first_layer,
                    cfg.leaky_relu_slope,
                    cfg.layer_norm_eps,
                    cfg.soft_clamp,
                )?;
                blocks.push(FlowBlock { linear, coupling });
            }
            (encoder, blocks)
        };
        Ok(Self { cfg, device: device.clone(), dtype, params, buffers, encoder, blocks })
    }

    pub fn config(&self) -> &FlowConfig {
        &self.cfg
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The trainable parameters, keyed by their checkpoint names.
    pub fn params(&self) -> &VarMap {
        &self.params
    }

    /// Trainable variables, in name order (for optimisers).
    pub fn trainable_vars(&self) -> Vec<Var> {
        let data = self.params.data().lock().unwrap();
        let mut named: Vec<_> = data.iter().collect();
        named.sort_by(|a, b| a.0.cmp(b.0));
        named.into_iter().map(|(_, v)| v.clone()).collect()
    }

    pub fn num_params(&self) -> usize {
        self.params.all_vars().iter().map(|v| v.elem_count()).sum()
    }

    fn check_x(&self, what: &'static str, x: &Tensor) -> Result<usize> {
        match x.dims() {
            [b, d] if *d == self.cfg.dim => Ok(*b),
            _ => Err(shape_err(what, format!("[batch, {}]", self.cfg.dim), x)),
        }
    }

    /// Checks the raw condition and maps it through the encoder (if any).
    pub fn encode(&self, cond: Option<&Tensor>, batch: usize) -> Result<Option<Tensor>> {
        match (cond, self.cfg.cond_dim) {
            (None, 0) => Ok(None),
            (Some(c), 0) => Err(shape_err("cond", "no condition (this flow is unconditional)".into(), c)),
            (None, k) => Err(FlowError::Shape { what: "cond", expected: format!("[{batch}, {k}]"), got: vec![] }),
            (Some(c), k) => {
                if c.dims() != [batch, k] {
                    return Err(shape_err("cond", format!("[{batch}, {k}]"), c));
                }
                match &self.encoder {
                    Some(e) => Ok(Some(e.forward(c)?)),
                    None => Ok(Some(c.clone())),
                }
            }
        }
    }

    /// Data → latent on an already-encoded condition. Returns `(z, log|det ∂z/∂x|)`.
    pub fn forward_rep(&self, x: &Tensor, rep: Option<&Tensor>) -> Result<(Tensor, Tensor)> {
        let batch = x.dim(0)?;
        let mut h = x.clone();
        let mut logdet = Tensor::zeros(batch, self.dtype, &self.device)?;
        for block in &self.blocks {
            h = h.matmul(&block.linear.weight()?)?;
            logdet = logdet.broadcast_add(&block.linear.log_abs_det()?)?;
            if let Some(c) = &block.coupling {
                let (y, ld) = c.forward(&h, rep)?;
                h = y;
                logdet = (logdet + ld)?;
            }
        }
        Ok((h, logdet))
    }

    /// Latent → data on an already-encoded condition. Returns `(x, log|det ∂x/∂z|)`.
    pub fn inverse_rep(&self, z: &Tensor, rep: Option<&Tensor>) -> Result<(Tensor, Tensor)> {
        let batch = z.dim(0)?;
        let mut h = z.clone();
        let mut logdet = Tensor::zeros(batch, self.dtype, &self.device)?;
        for block in self.blocks.iter().rev() {
            if let Some(c) = &block.coupling {
                let (x, ld) = c.inverse(&h, rep)?;
                h = x;
                logdet = (logdet + ld)?;
            }
            h = h.matmul(&block.linear.inverse_weight()?)?;
            logdet = logdet.broadcast_sub(&block.linear.log_abs_det()?)?;
        }
        Ok((h, logdet))
    }

    /// Data → latent: `(z, log|det ∂z/∂x|)`, both differentiable.
    pub fn forward(&self, x: &Tensor, cond: Option<&Tensor>) -> Result<(Tensor, Tensor)> {
        let b = self.check_x("x", x)?;
        let rep = self.encode(cond, b)?;
        self.forward_rep(x, rep.as_ref())
    }

    /// Latent → data: `(x, log|det ∂x/∂z|)`, both differentiable.
    pub fn inverse(&self, z: &Tensor, cond: Option<&Tensor>) -> Result<(Tensor, Tensor)> {
        let b = self.check_x("z", z)?;
        let rep = self.encode(cond, b)?;
        self.inverse_rep(z, rep.as_ref())
    }

    /// `log p(x | y) = log N(f(x)) + log|det ∂f/∂x|`, one value per row.
    pub fn log_prob(&self, x: &Tensor, cond: Option<&Tensor>) -> Result<Tensor> {
        let b = self.check_x("x", x)?;
        let rep = self.encode(cond, b)?;
        self.log_prob_rep(x, rep.as_ref())
    }

    pub fn log_prob_rep(&self, x: &Tensor, rep: Option<&Tensor>) -> Result<Tensor> {
        let (z, logdet) = self.forward_rep(x, rep)?;
        Ok((standard_normal_log_prob(&z)? + logdet)?)
    }

    /// Reparameterised sample `x = f⁻¹(noise)`: gradients reach the parameters through it.
    pub fn sample(&self, cond: Option<&Tensor>, noise: &Tensor) -> Result<Tensor> {
        Ok(self.inverse(noise, cond)?.0)
    }

    /// A sample and its exact log-density `log N(noise) − log|det ∂x/∂z|`, from one inverse pass.
    pub fn sample_and_log_prob(&self, cond: Option<&Tensor>, noise: &Tensor) -> Result<(Tensor, Tensor)> {
        let (x, logdet) = self.inverse(noise, cond)?;
        Ok((x, (standard_normal_log_prob(noise)? - logdet)?))
    }

    /// `[batch, dim]` standard-normal noise from the caller's seeded RNG.
    pub fn noise(&self, rng: &mut impl Rng, batch: usize) -> Result<Tensor> {
        let v: Vec<f32> = (0..batch * self.cfg.dim).map(|_| rng.sample(StandardNormal)).collect();
        Ok(Tensor::from_vec(v, (batch, self.cfg.dim), &Device::Cpu)?.to_dtype(self.dtype)?.to_device(&self.device)?)
    }

    /// The training loss `−mean log p(x + σε | y)` with the config's noise σ (TarFlow trick).
    pub fn nll_loss(&self, x: &Tensor, cond: Option<&Tensor>, rng: &mut impl Rng) -> Result<Tensor> {
        let b = self.check_x("x", x)?;
        let x = if self.cfg.noise_std > 0.0 { (x + (self.noise(rng, b)? * self.cfg.noise_std)?)? } else { x.clone() };
        Ok(self.log_prob(&x, cond)?.mean_all()?.neg()?)
    }

    /// `∇ₓ log p(x | y)`, row by row (rows are independent, so the gradient of the sum is the
    /// per-row score). The result is detached.
    pub fn score(&self, x: &Tensor, cond: Option<&Tensor>) -> Result<Tensor> {
        let b = self.check_x("x", x)?;
        let rep = self.encode(cond, b)?.map(|r| r.detach());
        let xv = Var::from_tensor(&x.detach())?;
        let lp = self.log_prob_rep(xv.as_tensor(), rep.as_ref())?.sum_all()?;
        let grads = lp.backward()?;
        Ok(grads.get(xv.as_tensor()).cloned().unwrap_or(xv.as_tensor().zeros_like()?).detach())
    }

    /// One Tweedie step `x ← x + σ²·∇ₓ log p(x|y)` with σ = `noise_std` (paper §1, TarFlow).
    pub fn denoise(&self, x: &Tensor, cond: Option<&Tensor>) -> Result<Tensor> {
        let s2 = self.cfg.noise_std * self.cfg.noise_std;
        Ok((x.detach() + (self.score(x, cond)? * s2)?)?)
    }

    /// What a policy executes: a sample, denoised if the config says so. Detached.
    pub fn sample_action(&self, cond: Option<&Tensor>, rng: &mut impl Rng, batch: usize) -> Result<Tensor> {
        let x = self.sample(cond, &self.noise(rng, batch)?)?.detach();
        if self.cfg.denoise {
            self.denoise(&x, cond)
        } else {
            Ok(x)
        }
    }

    /// Every tensor of the model, trainable and fixed, by checkpoint name.
    pub fn named_tensors(&self) -> HashMap<String, Tensor> {
        let mut out = HashMap::new();
        for map in [&self.params, &self.buffers] {
            for (k, v) in map.data().lock().unwrap().iter() {
                out.insert(k.clone(), v.as_tensor().clone());
            }
        }
        out
    }

    /// Writes `model.safetensors` and `config.toml` into `dir`, each atomically (temp file, rename).
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| FlowError::io(dir, e))?;
        let weights = dir.join(WEIGHTS_FILE);
        let tmp = dir.join(format!(".{WEIGHTS_FILE}.tmp"));
        candle_core::safetensors::save(&self.named_tensors(), &tmp).map_err(|e| FlowError::Checkpoint { path: tmp.clone(), reason: e.to_string() })?;
        std::fs::rename(&tmp, &weights).map_err(|e| FlowError::io(&weights, e))?;
        write_atomic(&dir.join(CONFIG_FILE), self.cfg.to_toml_string().as_bytes())
    }

    /// Loads a checkpoint written by [`save`](Self::save) onto `device` in f32.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let cfg = FlowConfig::from_file(&dir.join(CONFIG_FILE))?;
        let flow = Self::new(cfg, 0, device)?;
        flow.load_weights(&dir.join(WEIGHTS_FILE))?;
        Ok(flow)
    }

    /// Overwrites every tensor from `map`, reading `{prefix}{name}` for each checkpoint name
    /// (agents keep several networks in one checkpoint). Names and shapes must match.
    pub fn set_named_tensors(&self, map: &HashMap<String, Tensor>, prefix: &str) -> Result<()> {
        for store in [&self.params, &self.buffers] {
            for (name, var) in store.data().lock().unwrap().iter() {
                let key = format!("{prefix}{name}");
                let t = map.get(&key).ok_or_else(|| FlowError::Checkpoint { path: Default::default(), reason: format!("missing tensor `{key}`") })?;
                if t.dims() != var.dims() {
                    return Err(FlowError::Checkpoint { path: Default::default(), reason: format!("tensor `{key}` has shape {:?}, the model expects {:?}", t.dims(), var.dims()) });
                }
                var.set(&t.to_dtype(self.dtype)?.to_device(&self.device)?)?;
            }
        }
        Ok(())
    }

    /// Overwrites every tensor from a safetensors file; names and shapes must match exactly.
    pub fn load_weights(&self, path: &Path) -> Result<()> {
        let ckpt_err = |reason: String| FlowError::Checkpoint { path: path.to_path_buf(), reason };
        let loaded = candle_core::safetensors::load(path, &self.device).map_err(|e| ckpt_err(e.to_string()))?;
        let mut expected = 0;
        for map in [&self.params, &self.buffers] {
            for (name, var) in map.data().lock().unwrap().iter() {
                expected += 1;
                let t = loaded.get(name).ok_or_else(|| ckpt_err(format!("missing tensor `{name}`")))?;
                if t.dims() != var.dims() {
                    return Err(ckpt_err(format!("tensor `{name}` has shape {:?}, the config expects {:?}", t.dims(), var.dims())));
                }
                var.set(&t.to_dtype(self.dtype)?)?;
            }
        }
        if loaded.len() != expected {
            let known = self.named_tensors();
            let mut extra: Vec<_> = loaded.keys().filter(|k| !known.contains_key(*k)).cloned().collect();
            extra.sort();
            return Err(ckpt_err(format!("unexpected tensors {extra:?} (config/checkpoint mismatch)")));
        }
        Ok(())
    }
}

/// Writes `bytes` to `path` atomically: a fresh temporary file in the same directory (named and
/// cleaned up on error by `tempfile`), renamed over `path`.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut builder = tempfile::Builder::new();
    // tempfile's default is 0600; a checkpoint gets the usual 0666 & umask.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut tmp = builder.tempfile_in(dir).map_err(|e| FlowError::io(dir, e))?;
    tmp.write_all(bytes).map_err(|e| FlowError::io(tmp.path(), e))?;
    tmp.persist(path).map_err(|e| FlowError::io(path, e.error))?;
    Ok(())
}
