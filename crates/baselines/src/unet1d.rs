//! Diffusion Policy's noise-prediction network: a 1-D temporal convolutional U-Net over the
//! action sequence with FiLM conditioning on the diffusion step and the observations
//! (`diffusion_policy/model/diffusion/conditional_unet1d.py`, `conv1d_components.py`,
//! `positional_embedding.py`), with PyTorch's default initialisation drawn from a seeded stream.
//!
//! Tensors are time-major, `[batch, time, channels]` (PyTorch's are channels-first): a
//! convolution is then one gather of contiguous channel rows and one matmul over every
//! (row, time) pair, and the action chunks arrive in that layout. Weights keep PyTorch's
//! layouts and initialisation.

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Linear, VarMap};
use nf_core::ops::mish;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use rl::Result;

/// The network's shape (the reference's `ConditionalUnet1D` arguments).
#[derive(Clone, Debug, PartialEq)]
pub struct UnetShape {
    /// Action width (`input_dim`).
    pub input_dim: usize,
    /// Width of the global condition (the flattened observation history).
    pub global_cond_dim: usize,
    pub step_embed_dim: usize,
    pub down_dims: Vec<usize>,
    pub kernel_size: usize,
    pub n_groups: usize,
}

/// Seeded PyTorch-default parameters registered in a [`VarMap`]: `U(−1/√fan_in, 1/√fan_in)`
/// for weights and biases (kaiming-uniform with a = √5), ones and zeros for GroupNorm.
/// Why not candle's initialisers: they draw from an unseeded RNG.
struct Init<'a> {
    vars: &'a VarMap,
    rng: ChaCha8Rng,
    device: Device,
    dtype: DType,
}

impl Init<'_> {
    fn tensor(&mut self, name: &str, shape: &[usize], value: impl Fn(&mut ChaCha8Rng) -> f32) -> Result<Tensor> {
        let n = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| value(&mut self.rng)).collect();
        let var = candle_core::Var::from_tensor(&Tensor::from_vec(v, shape, &self.device)?.to_dtype(self.dtype)?)?;
        let t = var.as_tensor().clone();
        self.vars.data().lock().unwrap().insert(name.to_string(), var);
        Ok(t)
    }
    fn uniform(&mut self, name: &str, shape: &[usize], fan_in: usize) -> Result<Tensor> {
        let bound = 1.0 / (fan_in as f32).sqrt();
        self.tensor(name, shape, |r| r.random_range(-bound..bound))
    }
    fn constant(&mut self, name: &str, shape: &[usize], c: f32) -> Result<Tensor> {
        self.tensor(name, shape, |_| c)
    }
    fn linear(&mut self, name: &str, inp: usize, out: usize) -> Result<Linear> {
        let w = self.uniform(&format!("{name}.weight"), &[out, inp], inp)?;
        let b = self.uniform(&format!("{name}.bias"), &[out], inp)?;
        Ok(Linear::new(w, Some(b)))
    }
    fn conv(&mut self, name: &str, inp: usize, out: usize, k: usize, stride: usize, padding: usize) -> Result<Conv> {
        let w = self.uniform(&format!("{name}.weight"), &[out, inp, k], inp * k)?;
        let b = self.uniform(&format!("{name}.bias"), &[out], inp * k)?;
        Ok(Conv { w, b, stride, padding })
    }
}

/// `y[b, t, o] = Σ_{i, j} w[o, i, j] · x_pad[b, stride·t + j, i]` for time-major `x`
/// `[b, l, c]` and a PyTorch kernel `[o, c, k]`: the taps gathered by one `index_select` along
/// time (im2col; its backward is one scatter-add) and one matmul over every (row, time) pair.
/// Why not candle's `conv1d`: its backward with respect to the kernel is wrong in candle-core
/// 0.11 (off by whole units against finite differences; see
/// `convolution_gradients_match_finite_differences`), so the kernel would not learn; and it
/// wants channels-first tensors.
pub fn conv1d(x: &Tensor, w: &Tensor, stride: usize, padding: usize) -> Result<Tensor> {
    let (b, l, c) = x.dims3()?;
    let (o, ci, k) = w.dims3()?;
    if ci != c {
        return Err(candle_core::Error::Msg(format!("conv1d: the input has {c} channels, the kernel expects {ci}")).into());
    }
    let x = if padding > 0 { x.pad_with_zeros(1, padding, padding)? } else { x.clone() };
    let out = (l + 2 * padding - k) / stride + 1;
    // Row (b, t) of the gathered matrix holds channels 0..c, each with its taps 0..k: the
    // order of the kernel's own `[o, c·k]` rows, so the (large) kernel is used in place, never
    // copied; only the (small) gathered activations are reordered.
    let taps: Vec<u32> = (0..out).flat_map(|t| (0..k).map(move |j| (stride * t + j) as u32)).collect();
    let taps = Tensor::from_vec(taps, out * k, x.device())?;
    let cols = x.contiguous()?.index_select(&taps, 1)?.reshape((b, out, k, c))?.transpose(2, 3)?.contiguous()?.reshape((b * out, c * k))?;
    Ok(cols.matmul(&w.reshape((o, c * k))?.t()?)?.reshape((b, out, o))?)
}

/// `x + b` over the channels of `[b, l, c]` (the fused bias add, whose backward is a matmul).
fn bias_add3(x: &Tensor, b: &Tensor) -> Result<Tensor> {
    let (n, l, c) = x.dims3()?;
    Ok(nf_core::ops::bias_add(&x.reshape((n * l, c))?, b)?.reshape((n, l, c))?)
}

struct Conv {
    w: Tensor,
    b: Tensor,
    stride: usize,
    padding: usize,
}

impl Conv {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = conv1d(x, &self.w, self.stride, self.padding)?;
        bias_add3(&y, &self.b)
    }
}

/// `ConvTranspose1d(dim, dim, 4, stride 2, padding 1)`, the reference's `Upsample1d`, which
/// doubles the length. candle's `conv_transpose1d` has no backward, so it is written as what it
/// is: zeros inserted between the inputs, two zeros of padding on each side (k − 1 − p), and a
/// plain convolution with the kernel's channel axes swapped and its taps reversed. The weight
/// is stored as that convolution's kernel `[out, in, k]` (PyTorch's `[in, out, k]` with the
/// axes swapped and the taps reversed), so no step copies it; its initialisation is PyTorch's
/// (i.i.d. uniform with fan-in `out · k`, which the reordering does not change).
struct Upsample {
    w: Tensor,
    b: Tensor,
}

impl Upsample {
    const K: usize = 4;

    fn new(init: &mut Init, name: &str, dim: usize) -> Result<Self> {
        let w = init.uniform(&format!("{name}.weight"), &[dim, dim, Self::K], dim * Self::K)?;
        let b = init.uniform(&format!("{name}.bias"), &[dim], dim * Self::K)?;
        Ok(Self { w, b })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, l, c) = x.dims3()?;
        let spread = Tensor::stack(&[x, &x.zeros_like()?], 2)?.reshape((b, 2 * l, c))?.narrow(1, 0, 2 * l - 1)?;
        let padded = spread.pad_with_zeros(1, 2, 2)?;
        let y = conv1d(&padded, &self.w, 1, 0)?;
        bias_add3(&y, &self.b)
    }
}

/// GroupNorm over time-major `[b, l, c]`: each row's channels split into `groups` groups,
/// each normalised over its channels and all time steps (PyTorch's `GroupNorm`, eps 1e-5),
/// then scaled and shifted per channel. Built from ops whose backward reduces along the last
/// axis or through a matmul: candle's sums over other axes cost ~50× a last-axis sum, and
/// they would be most of the step. The groups are moved to rows and normalised by the fused
/// LayerNorm (unit γ, zero β); the per-channel scale is a product with `diag(γ)`.
struct GroupNorm {
    weight: Tensor,
    bias: Tensor,
    groups: usize,
}

impl GroupNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, l, c) = x.dims3()?;
        let (g, cg) = (self.groups, c / self.groups);
        let rows = x.reshape((b, l, g, cg))?.transpose(1, 2)?.contiguous()?.reshape((b * g, l * cg))?;
        let (ones, zeros) = (Tensor::ones(l * cg, x.dtype(), x.device())?, Tensor::zeros(l * cg, x.dtype(), x.device())?);
        let normed = nf_core::ops::layer_norm(&rows, &ones, &zeros, 1e-5)?;
        let normed = normed.reshape((b, g, l, cg))?.transpose(1, 2)?.contiguous()?.reshape((b * l, c))?;
        let diag = Tensor::eye(c, x.dtype(), x.device())?.broadcast_mul(&self.weight.unsqueeze(0)?)?;
        Ok(nf_core::ops::bias_add(&normed.matmul(&diag)?, &self.bias)?.reshape((b, l, c))?)
    }
}

/// `Conv1d → GroupNorm → Mish` (the reference's `Conv1dBlock`).
struct ConvBlock {
    conv: Conv,
    norm: GroupNorm,
}

impl ConvBlock {
    fn new(init: &mut Init, name: &str, inp: usize, out: usize, k: usize, groups: usize) -> Result<Self> {
        let conv = init.conv(&format!("{name}.conv"), inp, out, k, 1, k / 2)?;
        let w = init.constant(&format!("{name}.norm.weight"), &[out], 1.0)?;
        let b = init.constant(&format!("{name}.norm.bias"), &[out], 0.0)?;
        Ok(Self { conv, norm: GroupNorm { weight: w, bias: b, groups } })
    }
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(mish(&self.norm.forward(&self.conv.forward(x)?)?)?)
    }
}

/// Two conv blocks with a FiLM modulation between them, `out = scale(cond) · h + bias(cond)`,
/// and a residual connection (1×1 convolution when the width changes).
struct ResBlock {
    blocks: [ConvBlock; 2],
    film: Linear,
    residual: Option<Conv>,
    out: usize,
}

impl ResBlock {
    fn new(init: &mut Init, name: &str, inp: usize, out: usize, cond_dim: usize, s: &UnetShape) -> Result<Self> {
        let blocks = [ConvBlock::new(init, &format!("{name}.block0"), inp, out, s.kernel_size, s.n_groups)?, ConvBlock::new(init, &format!("{name}.block1"), out, out, s.kernel_size, s.n_groups)?];
        let film = init.linear(&format!("{name}.film"), cond_dim, 2 * out)?;
        let residual = if inp != out { Some(init.conv(&format!("{name}.residual"), inp, out, 1, 1, 0)?) } else { None };
        Ok(Self { blocks, film, residual, out })
    }
    fn forward(&self, x: &Tensor, cond: &Tensor) -> Result<Tensor> {
        let h = self.blocks[0].forward(x)?;
        let embed = self.film.forward(&mish(cond)?)?;
        // Each row's scale and bias repeated over its time steps by a row gather (whose backward
        // is a scatter-add; a broadcast's would be a slow middle-axis sum).
        let (b, l, _) = h.dims3()?;
        let per_step = Tensor::from_vec((0..b as u32).flat_map(|r| std::iter::repeat_n(r, l)).collect::<Vec<_>>(), b * l, h.device())?;
        let embed = embed.index_select(&per_step, 0)?.reshape((b, l, 2 * self.out))?;
        let (scale, bias) = (embed.narrow(2, 0, self.out)?, embed.narrow(2, self.out, self.out)?);
        let h = self.blocks[1].forward(&((h * scale)? + bias)?)?;
        let skip = match &self.residual {
            Some(c) => c.forward(x)?,
            None => x.clone(),
        };
        Ok((h + skip)?)
    }
}

/// The U-Net: per level two residual blocks then a stride-2 downsampling (none at the deepest
/// level), two residual blocks in the middle, and on the way up the skip connection
/// concatenated, two residual blocks and an upsampling; a final conv block and a 1×1
/// convolution back to the action width.
pub struct ConditionalUnet1D {
    shape: UnetShape,
    step_mlp: (Linear, Linear),
    down: Vec<(ResBlock, ResBlock, Option<Conv>)>,
    mid: Vec<ResBlock>,
    up: Vec<(ResBlock, ResBlock, Upsample)>,
    final_block: ConvBlock,
    final_conv: Conv,
}

impl ConditionalUnet1D {
    /// The network with its parameters registered in `vars` (same seed, same parameters).
    pub fn new(vars: &VarMap, shape: UnetShape, seed: u64, device: &Device) -> Result<Self> {
        Self::new_in(vars, shape, seed, device, DType::F32)
    }

    /// [`ConditionalUnet1D::new`] with parameters of `dtype` (f64 for gradient checks).
    pub fn new_in(vars: &VarMap, shape: UnetShape, seed: u64, device: &Device, dtype: DType) -> Result<Self> {
        let mut init = Init { vars, rng: ChaCha8Rng::seed_from_u64(seed), device: device.clone(), dtype };
        let s = &shape;
        let dsed = s.step_embed_dim;
        let step_mlp = (init.linear("step.0", dsed, 4 * dsed)?, init.linear("step.1", 4 * dsed, dsed)?);
        let cond_dim = dsed + s.global_cond_dim;
        let dims: Vec<usize> = std::iter::once(s.input_dim).chain(s.down_dims.iter().copied()).collect();
        let in_out: Vec<(usize, usize)> = dims.windows(2).map(|w| (w[0], w[1])).collect();
        let mut down = Vec::new();
        for (i, &(a, b)) in in_out.iter().enumerate() {
            let last = i + 1 == in_out.len();
            let r0 = ResBlock::new(&mut init, &format!("down.{i}.0"), a, b, cond_dim, s)?;
            let r1 = ResBlock::new(&mut init, &format!("down.{i}.1"), b, b, cond_dim, s)?;
            let ds = if last { None } else { Some(init.conv(&format!("down.{i}.downsample"), b, b, 3, 2, 1)?) };
            down.push((r0, r1, ds));
        }
        let mid_dim = *dims.last().expect("at least one level");
        let mid = vec![ResBlock::new(&mut init, "mid.0", mid_dim, mid_dim, cond_dim, s)?, ResBlock::new(&mut init, "mid.1", mid_dim, mid_dim, cond_dim, s)?];
        let mut up = Vec::new();
        for (i, &(a, b)) in in_out[1..].iter().rev().enumerate() {
            let r0 = ResBlock::new(&mut init, &format!("up.{i}.0"), 2 * b, a, cond_dim, s)?;
            let r1 = ResBlock::new(&mut init, &format!("up.{i}.1"), a, a, cond_dim, s)?;
            up.push((r0, r1, Upsample::new(&mut init, &format!("up.{i}.upsample"), a)?));
        }
        let start = s.down_dims[0];
        // The reference's final `Conv1dBlock` takes the default 8 groups.
        let final_block = ConvBlock::new(&mut init, "final.block", start, start, s.kernel_size, 8.min(start))?;
        let final_conv = init.conv("final.conv", start, s.input_dim, 1, 1, 0)?;
        Ok(Self { shape, step_mlp, down, mid, up, final_block, final_conv })
    }

    pub fn shape(&self) -> &UnetShape {
        &self.shape
    }

    /// The predicted noise `[b, horizon, input_dim]` for noisy actions `x` of that shape at
    /// diffusion steps `steps` (one per row) under the global condition `[b, global_cond_dim]`.
    pub fn forward(&self, x: &Tensor, steps: &[u32], global_cond: &Tensor) -> Result<Tensor> {
        let emb = sinusoidal(steps, self.shape.step_embed_dim, x.device())?.to_dtype(x.dtype())?;
        let emb = self.step_mlp.1.forward(&mish(&self.step_mlp.0.forward(&emb)?)?)?;
        let cond = Tensor::cat(&[&emb, global_cond], 1)?;
        let mut x = x.clone();
        let mut skips = Vec::with_capacity(self.down.len());
        for (r0, r1, ds) in &self.down {
            x = r1.forward(&r0.forward(&x, &cond)?, &cond)?;
            skips.push(x.clone());
            if let Some(ds) = ds {
                x = ds.forward(&x)?;
            }
        }
        for m in &self.mid {
            x = m.forward(&x, &cond)?;
        }
        for (r0, r1, us) in &self.up {
            let skip = skips.pop().expect("one skip per level");
            x = Tensor::cat(&[&x, &skip], 2)?;
            x = us.forward(&r1.forward(&r0.forward(&x, &cond)?, &cond)?)?;
        }
        self.final_conv.forward(&self.final_block.forward(&x)?)
    }
}

/// The reference's `SinusoidalPosEmb`: `[sin(t·f), cos(t·f)]` with `f_i = 10000^(−i/(half − 1))`.
fn sinusoidal(steps: &[u32], dim: usize, device: &Device) -> Result<Tensor> {
    let half = dim / 2;
    let scale = (10000f64).ln() / (half.max(2) - 1) as f64;
    let mut v = Vec::with_capacity(steps.len() * 2 * half);
    for &t in steps {
        let row: Vec<f64> = (0..half).map(|i| t as f64 * (-(i as f64) * scale).exp()).collect();
        v.extend(row.iter().map(|a| a.sin() as f32));
        v.extend(row.iter().map(|a| a.cos() as f32));
    }
    Ok(Tensor::from_vec(v, (steps.len(), 2 * half), device)?)
}

/// Total parameter count of a VarMap (the latency table's model size).
pub fn parameter_count(vars: &VarMap) -> usize {
    vars.data().lock().unwrap().values().map(|v| v.elem_count()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A seeded standard-normal tensor (candle's `randn` is unseeded: tests would differ per run).
    fn randn(shape: &[usize], dtype: DType, seed: u64) -> Tensor {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let n = shape.iter().product();
        let v: Vec<f64> = (0..n).map(|_| rng.sample::<f64, _>(rand_distr::StandardNormal)).collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap().to_dtype(dtype).unwrap()
    }

    /// The zero-insertion upsampling is PyTorch's `ConvTranspose1d(k 4, stride 2, padding 1)`,
    /// checked against candle's own transposed convolution (forward only; it has no backward).
    #[test]
    fn upsampling_is_the_transposed_convolution() {
        let dev = Device::Cpu;
        let vars = VarMap::new();
        let mut init = Init { vars: &vars, rng: ChaCha8Rng::seed_from_u64(3), device: dev.clone(), dtype: DType::F32 };
        let up = Upsample::new(&mut init, "u", 5).unwrap();
        let x = randn(&[2, 7, 5], DType::F32, 1);
        let ours = up.forward(&x).unwrap();
        let channels_first = x.transpose(1, 2).unwrap().contiguous().unwrap();
        // PyTorch's [in, out, k] weight from our convolution kernel [out, in, k].
        let taps = Tensor::new(&[3u32, 2, 1, 0], &dev).unwrap();
        let torch_w = up.w.index_select(&taps, 2).unwrap().transpose(0, 1).unwrap().contiguous().unwrap();
        let theirs = channels_first.conv_transpose1d(&torch_w, 1, 0, 2, 1, 1).unwrap().broadcast_add(&up.b.reshape((1, 5, 1)).unwrap()).unwrap().transpose(1, 2).unwrap();
        assert_eq!(ours.dims(), &[2, 14, 5]);
        let diff = (ours - theirs).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(diff < 1e-5, "{diff}");
    }

    /// Our convolution equals candle's in value, and its gradients (input and kernel, with
    /// padding and stride 2) equal central finite differences in f64; candle's own kernel
    /// gradient does not (which is why ours exists: if candle's is fixed, this says so).
    #[test]
    fn convolution_gradients_match_finite_differences() {
        let dev = Device::Cpu;
        // Channels-first for candle, time-major for ours.
        let x = randn(&[2, 4, 7], DType::F64, 2);
        let tm = |x: &Tensor| x.transpose(1, 2).unwrap().contiguous().unwrap();
        let w = randn(&[3, 4, 3], DType::F64, 3);
        let worst = |f: &dyn Fn(&Tensor, &Tensor) -> Tensor, wrt_kernel: bool| -> f64 {
            let arg = if wrt_kernel { &w } else { &x };
            let var = candle_core::Var::from_tensor(arg).unwrap();
            let y = if wrt_kernel { f(&x, var.as_tensor()) } else { f(var.as_tensor(), &w) };
            let g = y.backward().unwrap().get(var.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap();
            let base = arg.flatten_all().unwrap().to_vec1::<f64>().unwrap();
            let mut worst: f64 = 0.0;
            for i in 0..base.len() {
                let at = |d: f64| {
                    let mut b = base.clone();
                    b[i] += d;
                    let t = Tensor::from_vec(b, arg.shape(), &dev).unwrap();
                    let y = if wrt_kernel { f(&x, &t) } else { f(&t, &w) };
                    y.to_scalar::<f64>().unwrap()
                };
                worst = worst.max(((at(1e-5) - at(-1e-5)) / 2e-5 - g[i]).abs());
            }
            worst
        };
        for (stride, padding) in [(1, 1), (2, 1), (1, 0)] {
            let probe = randn(&[2, 3, (7 + 2 * padding - 3) / stride + 1], DType::F64, 4 + stride as u64);
            let ours = |x: &Tensor, w: &Tensor| (tm(&conv1d(&tm(x), w, stride, padding).unwrap()) * &probe).unwrap().sum_all().unwrap();
            let theirs = |x: &Tensor, w: &Tensor| (x.conv1d(w, padding, stride, 1, 1).unwrap() * &probe).unwrap().sum_all().unwrap();
            let value = (ours(&x, &w) - theirs(&x, &w)).unwrap().abs().unwrap().to_scalar::<f64>().unwrap();
            assert!(value < 1e-9, "stride {stride}, padding {padding}: value differs by {value}");
            for wrt_kernel in [false, true] {
                let e = worst(&ours, wrt_kernel);
                assert!(e < 1e-6, "stride {stride}, padding {padding}, wrt kernel {wrt_kernel}: gradient off by {e}");
            }
        }
        let probe = randn(&[2, 3, 7], DType::F64, 9);
        let candle_kernel_grad = worst(&|x: &Tensor, w: &Tensor| (x.conv1d(w, 1, 1, 1, 1).unwrap() * &probe).unwrap().sum_all().unwrap(), true);
        assert!(candle_kernel_grad > 1e-3, "candle's conv1d kernel gradient now matches ({candle_kernel_grad}): consider using it again");
    }

    /// The output keeps the input's shape, and the gradient of every parameter kind (strided
    /// convolution, upsampling, FiLM, GroupNorm, step embedding) agrees with central finite
    /// differences, in f64 on seeded inputs.
    #[test]
    fn shapes_and_gradients_match_finite_differences() {
        let dev = Device::Cpu;
        let vars = VarMap::new();
        let s = UnetShape { input_dim: 2, global_cond_dim: 3, step_embed_dim: 8, down_dims: vec![8, 16], kernel_size: 3, n_groups: 4 };
        let net = ConditionalUnet1D::new_in(&vars, s, 0, &dev, DType::F64).unwrap();
        let x = randn(&[3, 8, 2], DType::F64, 10);
        let c = randn(&[3, 3], DType::F64, 11);
        let steps = [1, 7, 42];
        let loss_of = |net: &ConditionalUnet1D| net.forward(&x, &steps, &c).unwrap().sqr().unwrap().sum_all().unwrap();
        assert_eq!(net.forward(&x, &steps, &c).unwrap().dims(), &[3, 8, 2]);
        let loss = |net: &ConditionalUnet1D| loss_of(net).to_dtype(candle_core::DType::F64).unwrap().to_scalar::<f64>().unwrap();
        let grads = loss_of(&net).backward().unwrap();
        let params = vars.data().lock().unwrap().clone();
        for name in ["down.0.downsample.weight", "up.0.upsample.weight", "down.1.0.film.weight", "mid.0.block1.norm.weight", "final.conv.bias", "step.0.weight"] {
            let var = &params[name];
            let g = grads.get(var.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap();
            let base = var.as_tensor().flatten_all().unwrap().to_vec1::<f64>().unwrap();
            for &i in &[0usize, base.len() / 2, base.len() - 1] {
                let h = 1e-6;
                let mut bumped = base.clone();
                bumped[i] += h;
                var.set(&Tensor::from_vec(bumped.clone(), var.shape(), &dev).unwrap()).unwrap();
                let up = loss(&net);
                bumped[i] -= 2.0 * h;
                var.set(&Tensor::from_vec(bumped, var.shape(), &dev).unwrap()).unwrap();
                let down = loss(&net);
                var.set(&Tensor::from_vec(base.clone(), var.shape(), &dev).unwrap()).unwrap();
                let fd = (up - down) / (2.0 * h);
                let tol = 1e-5 * fd.abs().max(g[i].abs()).max(1.0);
                assert!((fd - g[i]).abs() < tol, "{name}[{i}]: autograd {} vs finite difference {fd}", g[i]);
            }
        }
    }
}
