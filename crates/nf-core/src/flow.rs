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
/// same family as the paper's coupling-then-linear). `linear` is `None` under
/// `FlowConfig::plu_linear = false` (the identity).
#[derive(Clone, Debug)]
pub struct FlowBlock {
    pub linear: Option<InvertibleLinear>,
    pub coupling: Option<AffineCoupling>,
}

/// A conditional normalizing flow `p(x | y)`; see the crate docs for the layout and tensor names.
pub struct ConditionalFlow {
    cfg: FlowConfig,
    /// `Some(E)` for a member ensemble (every tensor has a leading member axis), `None` solo.
    members: Option<usize>,
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
        let (params, buffers) = (VarMap::new(), VarMap::new());
        let b = ParamBuilder::new(&params, &buffers, seed, device, dtype);
        Self::build(cfg, b, None)
    }

    /// A member ensemble: E = `seeds.len()` flows in one, every tensor stacked along a leading
    /// member axis, member e initialised bitwise as `new(cfg, seeds[e])` would be. Inputs are
    /// `[E, rows, ·]`; member e's rows meet only member e's parameters, so its values and
    /// gradients are those of the solo flow (see [`ConditionalFlow::member`]).
    pub fn members(cfg: FlowConfig, seeds: &[u64], device: &Device) -> Result<Self> {
        if seeds.is_empty() {
            return Err(FlowError::Config { field: "members", reason: "an ensemble needs at least one member seed".into() });
        }
        let (params, buffers) = (VarMap::new(), VarMap::new());
        let b = ParamBuilder::members(&params, &buffers, seeds, device, DType::F32);
        Self::build(cfg, b, Some(seeds.len()))
    }

    fn build(cfg: FlowConfig, mut b: ParamBuilder<'_>, members: Option<usize>) -> Result<Self> {
        cfg.validate()?;
        let (device, dtype) = (b.device.clone(), b.dtype);
        let (encoder, blocks) = {
            let b = &mut b;
            let encoder = if cfg.cond_dim > 0 && cfg.encoder.enabled { Some(Encoder::new(b, cfg.cond_dim, &cfg.encoder.hidden, cfg.encoder.rep, cfg.encoder.layer_norm_eps)?) } else { None };
            let mut blocks = Vec::with_capacity(cfg.blocks);
            for i in 0..cfg.blocks {
                let linear = if cfg.plu_linear { Some(InvertibleLinear::new(b, &format!("blocks.{i}.linear"), cfg.dim)?) } else { None };
                let norm_eps = cfg.coupling_layer_norm.then_some(cfg.layer_norm_eps);
                let coupling = AffineCoupling::new(b, &format!("blocks.{i}.coupling"), cfg.dim, cfg.rep_dim(), cfg.channels, cfg.widen_first_layer, cfg.leaky_relu_slope, norm_eps, cfg.soft_clamp)?;
                blocks.push(FlowBlock { linear, coupling });
            }
            (encoder, blocks)
        };
        let (params, buffers) = (b.params.clone(), b.buffers.clone());
        Ok(Self { cfg, members, device, dtype, params, buffers, encoder, blocks })
    }

    /// `Some(E)` for a member ensemble.
    pub fn member_count(&self) -> Option<usize> {
        self.members
    }

    /// Member e of an ensemble as a solo flow (a copy of its slices): what its checkpoint,
    /// evaluation and fast sampler use.
    pub fn member(&self, e: usize) -> Result<ConditionalFlow> {
        let n = self.members.ok_or_else(|| FlowError::Config { field: "members", reason: "member(): this flow is not an ensemble".into() })?;
        if e >= n {
            return Err(FlowError::Config { field: "members", reason: format!("member {e} of an ensemble of {n}") });
        }
        let solo = Self::new_with_dtype(self.cfg.clone(), 0, &self.device, self.dtype)?;
        solo.set_named_tensors(&self.member_tensors(e)?, "")?;
        Ok(solo)
    }

    /// Member e's tensors by checkpoint name, each with the solo shape.
    pub fn member_tensors(&self, e: usize) -> Result<HashMap<String, Tensor>> {
        self.named_tensors().into_iter().map(|(k, v)| Ok((k, v.get(e)?))).collect()
    }

    /// Overwrites member e's slices from a solo flow's tensors (`{prefix}{name}`, solo shapes).
    pub fn set_member_tensors(&self, e: usize, map: &HashMap<String, Tensor>, prefix: &str) -> Result<()> {
        let n = self.members.ok_or_else(|| FlowError::Config { field: "members", reason: "set_member_tensors(): this flow is not an ensemble".into() })?;
        if e >= n {
            return Err(FlowError::Config { field: "members", reason: format!("member {e} of an ensemble of {n}") });
        }
        for store in [&self.params, &self.buffers] {
            for (name, var) in store.data().lock().unwrap().iter() {
                let key = format!("{prefix}{name}");
                let t = map.get(&key).ok_or_else(|| FlowError::Checkpoint { path: Default::default(), reason: format!("missing tensor `{key}`") })?;
                if t.dims() != &var.dims()[1..] {
                    return Err(FlowError::Checkpoint { path: Default::default(), reason: format!("tensor `{key}` has shape {:?}, a member expects {:?}", t.dims(), &var.dims()[1..]) });
                }
                var.as_tensor().slice_set(&t.to_dtype(self.dtype)?.to_device(&self.device)?.unsqueeze(0)?, 0, e)?;
            }
        }
        Ok(())
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

    /// The rows of `x` (`[batch, dim]` solo, `[E, batch, dim]` in an ensemble).
    fn check_x(&self, what: &'static str, x: &Tensor) -> Result<usize> {
        match (self.members, x.dims()) {
            (None, [b, d]) if *d == self.cfg.dim => Ok(*b),
            (Some(e), [m, b, d]) if *m == e && *d == self.cfg.dim => Ok(*b),
            (None, _) => Err(shape_err(what, format!("[batch, {}]", self.cfg.dim), x)),
            (Some(e), _) => Err(shape_err(what, format!("[{e} members, batch, {}]", self.cfg.dim), x)),
        }
    }

    /// The shape of `width` values for each of `batch` rows (per member in an ensemble).
    fn rows_shape(&self, batch: usize, width: usize) -> Vec<usize> {
        match self.members {
            Some(e) => vec![e, batch, width],
            None => vec![batch, width],
        }
    }

    /// Checks the raw condition and maps it through the encoder (if any).
    pub fn encode(&self, cond: Option<&Tensor>, batch: usize) -> Result<Option<Tensor>> {
        match (cond, self.cfg.cond_dim) {
            (None, 0) => Ok(None),
            (Some(c), 0) => Err(shape_err("cond", "no condition (this flow is unconditional)".into(), c)),
            (None, k) => Err(FlowError::Shape { what: "cond", expected: format!("{:?}", self.rows_shape(batch, k)), got: vec![] }),
            (Some(c), k) => {
                if c.dims() != self.rows_shape(batch, k) {
                    return Err(shape_err("cond", format!("{:?}", self.rows_shape(batch, k)), c));
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
        let mut h = x.clone();
        let mut logdet = Tensor::zeros(&x.dims()[..x.rank() - 1], self.dtype, &self.device)?;
        for block in &self.blocks {
            if let Some(linear) = &block.linear {
                h = h.matmul(&linear.weight()?)?;
                logdet = logdet.broadcast_add(&linear.log_abs_det_rows()?)?;
            }
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
        let mut h = z.clone();
        let mut logdet = Tensor::zeros(&z.dims()[..z.rank() - 1], self.dtype, &self.device)?;
        for block in self.blocks.iter().rev() {
            if let Some(c) = &block.coupling {
                let (x, ld) = c.inverse(&h, rep)?;
                h = x;
                logdet = (logdet + ld)?;
            }
            if let Some(linear) = &block.linear {
                h = h.matmul(&linear.inverse_weight()?)?;
                logdet = logdet.broadcast_sub(&linear.log_abs_det_rows()?)?;
            }
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

    /// `[E, batch, dim]` noise, member e's rows drawn from `rngs[e]` exactly as [`noise`](Self::noise)
    /// draws a solo flow's.
    pub fn member_noise(&self, rngs: &mut [impl Rng], batch: usize) -> Result<Tensor> {
        let v: Vec<f32> = rngs.iter_mut().flat_map(|rng| (0..batch * self.cfg.dim).map(|_| rng.sample::<f32, _>(StandardNormal)).collect::<Vec<_>>()).collect();
        Ok(Tensor::from_vec(v, (rngs.len(), batch, self.cfg.dim), &Device::Cpu)?.to_dtype(self.dtype)?.to_device(&self.device)?)
    }

    /// Each member's training loss `−mean log p(x + σε | y)`, `[E]`, with member e's noise from
    /// `rngs[e]`: entry e is what [`nll_loss`](Self::nll_loss) gives member e's solo flow on its
    /// batch with its stream.
    pub fn member_nll_losses(&self, x: &Tensor, cond: Option<&Tensor>, rngs: &mut [impl Rng]) -> Result<Tensor> {
        let b = self.check_x("x", x)?;
        if self.members != Some(rngs.len()) {
            return Err(FlowError::Config { field: "members", reason: format!("{} noise streams for an ensemble of {:?}", rngs.len(), self.members) });
        }
        let x = if self.cfg.noise_std > 0.0 { (x + (self.member_noise(rngs, b)? * self.cfg.noise_std)?)? } else { x.clone() };
        Ok(self.log_prob(&x, cond)?.mean(D::Minus1)?.neg()?)
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
