//! Fused CPU kernels, each with a real backward pass, for the two ops that dominate the flow's
//! training step: LayerNorm, LeakyReLU and the bias add. Written out as candle ops they cost ~10 and ~4
//! elementwise passes (each allocating its output); here they cost one. On other devices (CUDA)
//! the same functions fall back to composed candle ops with identical semantics, so the `cuda`
//! feature runs the same code. candle-nn's own fused LayerNorm cannot be used: it has no backward.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Layout, Shape, Tensor, D};

use crate::error::Result;

fn fused(x: &Tensor) -> bool {
    x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64)
}

/// `γ·(x − mean)/√(var + ε) + β` over the last axis. In a member ensemble γ and β are `[E, d]`
/// and x `[E, rows, d]`; that form (off the training path: the epilogue fuses the LayerNorms
/// there) runs the composed ops.
pub fn layer_norm(x: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f64) -> Result<Tensor> {
    if fused(x) && gamma.rank() == 1 {
        return Ok(x.contiguous()?.apply_op3(&gamma.contiguous()?, &beta.contiguous()?, LayerNormOp { eps })?);
    }
    layer_norm_composed(x, gamma, beta, eps)
}

/// [`layer_norm`] as composed candle ops.
pub fn layer_norm_composed(x: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f64) -> Result<Tensor> {
    let n = x.dim(D::Minus1)? as f64;
    let centred = x.broadcast_sub(&(x.sum_keepdim(D::Minus1)? / n)?)?;
    let var = (centred.sqr()?.sum_keepdim(D::Minus1)? / n)?;
    let normed = centred.broadcast_div(&(var + eps)?.sqrt()?)?;
    Ok(normed.broadcast_mul(&per_row(gamma)?)?.broadcast_add(&per_row(beta)?)?)
}

/// A per-feature parameter (`[d]`, or `[E, d]` in an ensemble) shaped to broadcast over rows.
pub(crate) fn per_row(p: &Tensor) -> Result<Tensor> {
    Ok(p.unsqueeze(p.rank() - 1)?)
}

/// `max(x, slope·x)` for `0 ≤ slope ≤ 1`.
pub fn leaky_relu(x: &Tensor, slope: f64) -> Result<Tensor> {
    if fused(x) {
        return Ok(x.contiguous()?.apply_op1(LeakyReluOp { slope })?);
    }
    Ok(x.maximum(&(x * slope)?)?)
}

macro_rules! slices {
    ($s:expr, $l:expr, $t:ident) => {{
        let (a, b) = $l.contiguous_offsets().ok_or_else(|| candle_core::Error::Msg("fused op needs contiguous input".into()))?;
        match $s {
            CpuStorage::$t(v) => &v[a..b],
            _ => candle_core::bail!("fused op: dtype mismatch"),
        }
    }};
}

/// Row statistics `(mean, 1/√(var + ε))` in f64.
#[inline(always)]
pub(crate) fn row_stats<T: Copy + Into<f64>>(row: &[T], eps: f64) -> (f64, f64) {
    let n = row.len() as f64;
    let mean = lane_sum(row, |v| v) / n;
    let var = lane_sum(row, |v| (v - mean) * (v - mean)) / n;
    (mean, 1.0 / (var + eps).sqrt())
}

/// `Σ f(xᵢ)` in f64 over 8 independent lanes: a fixed summation order (so results stay
/// deterministic) that the compiler can vectorise, unlike one serial accumulator.
#[inline(always)]
fn lane_sum<T: Copy + Into<f64>>(row: &[T], f: impl Fn(f64) -> f64) -> f64 {
    let mut acc = [0f64; 8];
    let mut chunks = row.chunks_exact(8);
    for c in &mut chunks {
        for l in 0..8 {
            acc[l] += f(c[l].into());
        }
    }
    let tail: f64 = chunks.remainder().iter().map(|&v| f(v.into())).sum();
    acc.iter().sum::<f64>() + tail
}

struct LayerNormOp {
    eps: f64,
}

/// LayerNorm's whole backward pass in one sweep over the rows, packed as a `[rows + 2, d]`
/// tensor: the input gradient `dx = rstd·(g − mean(g) − x̂·mean(g·x̂))` with `g = grad·γ`, then
/// `dγ = Σ_rows grad·x̂` and `dβ = Σ_rows grad` (candle's own batch-axis reduction takes a slow
/// strided path, and one sweep computes each row's statistics once).
struct LayerNormGradOp {
    eps: f64,
}

macro_rules! ln_kernels {
    ($t:ty) => {
        pub(super) fn ln_fwd(x: &[$t], g: &[$t], b: &[$t], d: usize, eps: f64) -> Vec<$t> {
            let mut out = vec![0 as $t; x.len()];
            for (row, o) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
                let (mean, rstd) = row_stats(row, eps);
                let (mean, rstd) = (mean as $t, rstd as $t);
                for i in 0..d {
                    o[i] = (row[i] - mean) * rstd * g[i] + b[i];
                }
            }
            out
        }
        pub(super) fn ln_grad(x: &[$t], gamma: &[$t], grad: &[$t], d: usize, eps: f64) -> Vec<$t> {
            let mut out = vec![0 as $t; x.len() + 2 * d];
            let (dx, dparams) = out.split_at_mut(x.len());
            let (dg, db) = dparams.split_at_mut(d);
            for ((row, gr), o) in x.chunks_exact(d).zip(grad.chunks_exact(d)).zip(dx.chunks_exact_mut(d)) {
                let (mean, rstd) = row_stats(row, eps);
                let (mt, rt) = (mean as $t, rstd as $t);
                for i in 0..d {
                    dg[i] += gr[i] * (row[i] - mt) * rt;
                    db[i] += gr[i];
                }
                let (mut mg, mut mgx) = ([0f64; 8], [0f64; 8]);
                for i in 0..d {
                    let g = (gr[i] * gamma[i]) as f64;
                    mg[i % 8] += g;
                    mgx[i % 8] += g * (row[i] as f64 - mean) * rstd;
                }
                let (mg, mgx) = (mg.iter().sum::<f64>() / d as f64, mgx.iter().sum::<f64>() / d as f64);
                for i in 0..d {
                    let xh = (row[i] as f64 - mean) * rstd;
                    o[i] = (rstd * ((gr[i] * gamma[i]) as f64 - mg - xh * mgx)) as $t;
                }
            }
            out
        }
    };
}

mod k32 {
    use super::row_stats;
    ln_kernels!(f32);
}
mod k64 {
    use super::row_stats;
    ln_kernels!(f64);
}

fn last_dim(l: &Layout) -> usize {
    *l.dims().last().unwrap_or(&1)
}

impl CustomOp3 for LayerNormOp {
    fn name(&self) -> &'static str {
        "nf-layer-norm"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout, s3: &CpuStorage, l3: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let d = last_dim(l1);
        let out = match s1 {
            CpuStorage::F32(_) => CpuStorage::F32(k32::ln_fwd(slices!(s1, l1, F32), slices!(s2, l2, F32), slices!(s3, l3, F32), d, self.eps)),
            CpuStorage::F64(_) => CpuStorage::F64(k64::ln_fwd(slices!(s1, l1, F64), slices!(s2, l2, F64), slices!(s3, l3, F64), d, self.eps)),
            _ => candle_core::bail!("nf-layer-norm: unsupported dtype"),
        };
        Ok((out, l1.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, gamma: &Tensor, _beta: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let rows = x.elem_count() / x.dim(D::Minus1)?;
        let packed = x.apply_op3_no_bwd(gamma, &grad, &LayerNormGradOp { eps: self.eps })?;
        let dx = packed.narrow(0, 0, rows)?.reshape(x.shape())?;
        Ok((Some(dx), Some(packed.get(rows)?), Some(packed.get(rows + 1)?)))
    }
}

/// `x + b` with `b` broadcast over rows; the bias gradient is a column sum done as one small
/// matmul `1ᵀ·grad` instead of candle's strided batch-axis reduction. In an ensemble b is
/// `[E, d]` and x `[E, rows, d]`: each member's rows take its own bias.
struct BiasAddOp;

impl CustomOp2 for BiasAddOp {
    fn name(&self) -> &'static str {
        "nf-bias-add"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let d = last_dim(l1);
        macro_rules! add {
            ($t:ident) => {{
                let (x, b) = (slices!(s1, l1, $t), slices!(s2, l2, $t));
                let groups = b.len() / d.max(1);
                if groups == 0 || b.len() % d != 0 || x.len() % (groups * d) != 0 {
                    candle_core::bail!("nf-bias-add: a bias of {} values does not fit inputs of {} values of width {d}", b.len(), x.len());
                }
                let mut out = x.to_vec();
                for (block, b) in out.chunks_exact_mut(x.len() / groups).zip(b.chunks_exact(d)) {
                    for row in block.chunks_exact_mut(d) {
                        for (o, bb) in row.iter_mut().zip(b) {
                            *o += *bb;
                        }
                    }
                }
                CpuStorage::$t(out)
            }};
        }
        let out = match s1 {
            CpuStorage::F32(_) => add!(F32),
            CpuStorage::F64(_) => add!(F64),
            _ => candle_core::bail!("nf-bias-add: unsupported dtype"),
        };
        Ok((out, l1.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, b: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let d = grad.dim(D::Minus1)?;
        let groups = b.elem_count() / d;
        let g3 = grad.reshape((groups, (), d))?;
        let ones = Tensor::ones((groups, 1, g3.dim(1)?), grad.dtype(), grad.device())?;
        Ok((Some(grad.clone()), Some(ones.matmul(&g3)?.reshape(b.shape())?)))
    }
}

/// `x + b` over the last axis (a Linear layer's bias).
pub fn bias_add(x: &Tensor, b: &Tensor) -> Result<Tensor> {
    if fused(x) {
        return Ok(x.contiguous()?.apply_op2(&b.contiguous()?, BiasAddOp)?);
    }
    Ok(x.broadcast_add(&per_row(b)?)?)
}

impl CustomOp3 for LayerNormGradOp {
    fn name(&self) -> &'static str {
        "nf-layer-norm-grad"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout, s3: &CpuStorage, l3: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let d = last_dim(l1);
        let out = match s1 {
            CpuStorage::F32(_) => CpuStorage::F32(k32::ln_grad(slices!(s1, l1, F32), slices!(s2, l2, F32), slices!(s3, l3, F32), d, self.eps)),
            CpuStorage::F64(_) => CpuStorage::F64(k64::ln_grad(slices!(s1, l1, F64), slices!(s2, l2, F64), slices!(s3, l3, F64), d, self.eps)),
            _ => candle_core::bail!("nf-layer-norm: unsupported dtype"),
        };
        Ok((out, Shape::from((l1.shape().elem_count() / d + 2, d))))
    }
}

/// LeakyReLU forward.
struct LeakyReluOp {
    slope: f64,
}

/// LeakyReLU's input gradient `grad·(x > 0 ? 1 : slope)` in one pass.
struct LeakyReluGradOp {
    slope: f64,
}

impl CustomOp2 for LeakyReluGradOp {
    fn name(&self) -> &'static str {
        "nf-leaky-relu-grad"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        macro_rules! map {
            ($t:ident, $ty:ty) => {{
                let k = self.slope as $ty;
                let (x, g) = (slices!(s1, l1, $t), slices!(s2, l2, $t));
                CpuStorage::$t(x.iter().zip(g).map(|(&x, &g)| if x > 0.0 { g } else { g * k }).collect())
            }};
        }
        let out = match s1 {
            CpuStorage::F32(_) => map!(F32, f32),
            CpuStorage::F64(_) => map!(F64, f64),
            _ => candle_core::bail!("nf-leaky-relu: unsupported dtype"),
        };
        Ok((out, l1.shape().clone()))
    }
}

impl CustomOp1 for LeakyReluOp {
    fn name(&self) -> &'static str {
        "nf-leaky-relu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        macro_rules! map {
            ($v:expr, $t:ty) => {{
                let k = self.slope as $t;
                $v.iter().map(|&x| if x > 0.0 { x } else { x * k }).collect()
            }};
        }
        let out = match s {
            CpuStorage::F32(_) => CpuStorage::F32(map!(slices!(s, l, F32), f32)),
            CpuStorage::F64(_) => CpuStorage::F64(map!(slices!(s, l, F64), f64)),
            _ => candle_core::bail!("nf-leaky-relu: unsupported dtype"),
        };
        Ok((out, l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(x.apply_op2_no_bwd(&grad.contiguous()?, &LeakyReluGradOp { slope: self.slope })?))
    }
}

/// GELU, tanh approximation (flax's `nn.gelu` default and candle's `gelu`). candle's CPU
/// version costs ~15 ns per element forward and a chain of composed ops backward; the critics'
/// 4 × 512 layers make that the largest cost of an offline-RL step, so this one is fused, with a
/// vectorisable rational tanh.
pub fn gelu(x: &Tensor) -> Result<Tensor> {
    if fused(x) {
        return Ok(x.contiguous()?.apply_op1(GeluOp)?);
    }
    Ok(x.gelu()?)
}

const SQRT_2_OVER_PI: f32 = 0.797_884_6;
const GELU_CUBIC: f32 = 0.044_715;

/// Eigen's `generic_fast_tanh_float`: a [13/6] rational fit, exact to a few ulps on f32, that
/// compiles to straight-line arithmetic the autovectoriser handles (libm's `tanhf` does not).
#[inline(always)]
#[allow(clippy::excessive_precision)] // the rational approximation's coefficients, kept as published
fn fast_tanh(x: f32) -> f32 {
    let x = x.clamp(-7.905_311, 7.905_311);
    let x2 = x * x;
    let p = (((((-2.760_768_5e-16 * x2 + 2.000_187_9e-13) * x2 - 8.604_671_5e-11) * x2 + 5.122_297e-8) * x2 + 1.485_722_4e-5) * x2 + 6.372_619_3e-4) * x2 + 4.893_524_6e-3;
    let q = ((1.198_258_4e-6 * x2 + 1.185_347_1e-4) * x2 + 2.268_434_6e-3) * x2 + 4.893_525e-3;
    x * p / q
}

/// GELU (tanh form) of one f32, as the CPU kernel computes it; also the fused batch-1 path's.
#[inline(always)]
pub(crate) fn gelu_f32(x: f32) -> f32 {
    0.5 * x * (1.0 + fast_tanh(SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x)))
}

/// `d gelu/dx = ½(1 + t) + ½x(1 − t²)·c(1 + 3k x²)`, `t = tanh(c(x + k x³))`.
#[inline(always)]
pub(crate) fn gelu_grad_f32(x: f32) -> f32 {
    let (c, k) = (SQRT_2_OVER_PI, GELU_CUBIC);
    let t = fast_tanh(c * (x + k * x * x * x));
    0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * c * (1.0 + 3.0 * k * x * x)
}

/// Mish, `x · tanh(softplus(x))` (Diffusion Policy's activation). Composed it is seven ops
/// forward and more backward on every activation of the U-Net, most of a small model's step,
/// so on the CPU it is one op each way; elsewhere it runs [`mish_composed`].
pub fn mish(x: &Tensor) -> Result<Tensor> {
    if fused(x) {
        return Ok(x.contiguous()?.apply_op1(MishOp)?);
    }
    mish_composed(x)
}

/// Mish from candle ops, with softplus as `relu(x) + ln(1 + e^−|x|)` so that neither the value
/// nor the gradient overflows (candle-nn's `mish` takes `ln(1 + eˣ)`, whose gradient is NaN once
/// eˣ overflows).
pub fn mish_composed(x: &Tensor) -> Result<Tensor> {
    let softplus = (x.relu()? + (x.abs()?.neg()?.exp()? + 1.0)?.log()?)?;
    Ok((x * softplus.tanh()?)?)
}

/// Mish and its derivative with one exponential: with `n = eˣ` and `ω = n(n + 2)`,
/// `tanh(softplus(x)) = ω/(ω + 2)`, so `mish = x·ω/(ω + 2)` and
/// `mish' = ω/(ω + 2) + x·4n(n + 1)/(ω + 2)²`. Past x = 20 (where n² overflows f32 soon after)
/// mish is x to within f32 rounding and its slope 1.
macro_rules! mish_fns {
    ($value:ident, $grad:ident, $t:ty) => {
        #[inline(always)]
        fn $value(x: $t) -> $t {
            if x > 20.0 {
                return x;
            }
            let n = x.exp();
            let w = n * (n + 2.0);
            x * w / (w + 2.0)
        }
        #[inline(always)]
        fn $grad(x: $t) -> $t {
            if x > 20.0 {
                return 1.0;
            }
            let n = x.exp();
            let w = n * (n + 2.0);
            let d = w + 2.0;
            w / d + x * 4.0 * n * (n + 1.0) / (d * d)
        }
    };
}
mish_fns!(mish_f32, mish_grad_f32, f32);
mish_fns!(mish_f64, mish_grad_f64, f64);

struct MishOp;
struct MishGradOp;

impl CustomOp1 for MishOp {
    fn name(&self) -> &'static str {
        "nf-mish"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let out = match s {
            CpuStorage::F32(_) => CpuStorage::F32(slices!(s, l, F32).iter().map(|&x| mish_f32(x)).collect()),
            CpuStorage::F64(_) => CpuStorage::F64(slices!(s, l, F64).iter().map(|&x| mish_f64(x)).collect()),
            _ => candle_core::bail!("nf-mish: unsupported dtype"),
        };
        Ok((out, l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(x.apply_op2_no_bwd(&grad.contiguous()?, &MishGradOp)?))
    }
}

impl CustomOp2 for MishGradOp {
    fn name(&self) -> &'static str {
        "nf-mish-grad"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let out = match s1 {
            CpuStorage::F32(_) => {
                let (x, g) = (slices!(s1, l1, F32), slices!(s2, l2, F32));
                CpuStorage::F32(x.iter().zip(g).map(|(&x, &g)| g * mish_grad_f32(x)).collect())
            }
            CpuStorage::F64(_) => {
                let (x, g) = (slices!(s1, l1, F64), slices!(s2, l2, F64));
                CpuStorage::F64(x.iter().zip(g).map(|(&x, &g)| g * mish_grad_f64(x)).collect())
            }
            _ => candle_core::bail!("nf-mish: unsupported dtype"),
        };
        Ok((out, l1.shape().clone()))
    }
}

struct GeluOp;
struct GeluGradOp;

impl CustomOp1 for GeluOp {
    fn name(&self) -> &'static str {
        "nf-gelu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let out = match s {
            CpuStorage::F32(_) => CpuStorage::F32(slices!(s, l, F32).iter().map(|&x| gelu_f32(x)).collect()),
            CpuStorage::F64(_) => {
                let (c, k) = ((2.0 / std::f64::consts::PI).sqrt(), 0.044_715f64);
                CpuStorage::F64(slices!(s, l, F64).iter().map(|&x| 0.5 * x * (1.0 + (c * (x + k * x * x * x)).tanh())).collect())
            }
            _ => candle_core::bail!("nf-gelu: unsupported dtype"),
        };
        Ok((out, l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(x.apply_op2_no_bwd(&grad.contiguous()?, &GeluGradOp)?))
    }
}

impl CustomOp2 for GeluGradOp {
    fn name(&self) -> &'static str {
        "nf-gelu-grad"
    }

    /// `grad · [½(1 + t) + ½x(1 − t²)·c(1 + 3k x²)]`, `t = tanh(c(x + k x³))`.
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let out = match s1 {
            CpuStorage::F32(_) => {
                let (x, g) = (slices!(s1, l1, F32), slices!(s2, l2, F32));
                CpuStorage::F32(x.iter().zip(g).map(|(&x, &g)| g * gelu_grad_f32(x)).collect())
            }
            CpuStorage::F64(_) => {
                let (x, g) = (slices!(s1, l1, F64), slices!(s2, l2, F64));
                let (c, k) = ((2.0 / std::f64::consts::PI).sqrt(), 0.044_715f64);
                CpuStorage::F64(
                    x.iter()
                        .zip(g)
                        .map(|(&x, &g)| {
                            let t = (c * (x + k * x * x * x)).tanh();
                            g * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * c * (1.0 + 3.0 * k * x * x))
                        })
                        .collect(),
                )
            }
            _ => candle_core::bail!("nf-gelu: unsupported dtype"),
        };
        Ok((out, l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// Fused Mish equals the composed ops in value and gradient, in f32 and f64, also where eˣ
    /// overflows f32 (the gradient stays finite: 1 far right, 0 far left).
    #[test]
    fn fused_mish_matches_composed_mish_and_its_gradient() {
        let dev = Device::Cpu;
        for dtype in [DType::F32, DType::F64] {
            let mut v: Vec<f64> = (0..200).map(|i| (i as f64 - 100.0) * 0.07).collect();
            v.extend([-120.0, -30.0, 30.0, 120.0]);
            let x = Var::from_tensor(&Tensor::new(v.as_slice(), &dev).unwrap().to_dtype(dtype).unwrap()).unwrap();
            let w = Tensor::randn(0f64, 1.0, v.len(), &dev).unwrap().to_dtype(dtype).unwrap();
            let run = |f: &dyn Fn(&Tensor) -> Result<Tensor>| {
                let y = f(x.as_tensor()).unwrap();
                let g = (&y * &w).unwrap().sum_all().unwrap().backward().unwrap();
                let as64 = |t: &Tensor| t.to_dtype(DType::F64).unwrap().to_vec1::<f64>().unwrap();
                (as64(&y), as64(g.get(x.as_tensor()).unwrap()))
            };
            let (fy, fg) = run(&mish);
            let (cy, cg) = run(&mish_composed);
            let tol = if dtype == DType::F32 { 2e-5 } else { 1e-12 };
            for i in 0..v.len() {
                assert!((fy[i] - cy[i]).abs() <= tol * (1.0 + cy[i].abs()), "{dtype:?} mish({}) = {} vs {}", v[i], fy[i], cy[i]);
                assert!(fg[i].is_finite() && (fg[i] - cg[i]).abs() <= tol * (1.0 + cg[i].abs()), "{dtype:?} mish'({}) = {} vs {}", v[i], fg[i], cg[i]);
            }
        }
    }

    /// The fused ops and the composed candle ops agree in value and in every gradient.
    #[test]
    fn fused_ops_match_composed_ops_and_gradients() {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&(Tensor::randn(0f64, 1.0, (5, 7), &dev).unwrap() * 2.0).unwrap()).unwrap();
        let g = Var::from_tensor(&Tensor::randn(1f64, 0.3, 7, &dev).unwrap()).unwrap();
        let b = Var::from_tensor(&Tensor::randn(0f64, 0.3, 7, &dev).unwrap()).unwrap();
        let w = Tensor::randn(0f64, 1.0, (5, 7), &dev).unwrap();
        let composed = |x: &Tensor| -> Tensor {
            let n = 7.0;
            let c = x.broadcast_sub(&(x.sum_keepdim(1).unwrap() / n).unwrap()).unwrap();
            let v = (c.sqr().unwrap().sum_keepdim(1).unwrap() / n).unwrap();
            let y = c.broadcast_div(&(v + 1e-5).unwrap().sqrt().unwrap()).unwrap();
            let y = y.broadcast_mul(&g).unwrap().broadcast_add(&b).unwrap();
            y.maximum(&(&y * 0.01).unwrap()).unwrap()
        };
        let fused = |x: &Tensor| {
            let y = layer_norm(x, &g, &b, 1e-5).unwrap();
            let y = bias_add(&y, &b).unwrap().broadcast_sub(&b).unwrap();
            leaky_relu(&y, 0.01).unwrap()
        };
        let (yc, yf) = (composed(&x), fused(&x));
        let diff = |a: &Tensor, b: &Tensor| (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap();
        assert!(diff(&yc, &yf) < 1e-12);
        let gc = (yc * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let gf = (yf * &w).unwrap().sum_all().unwrap().backward().unwrap();
        for (name, v) in [("x", &x), ("gamma", &g), ("beta", &b)] {
            let (a, c) = (gc.get(v.as_tensor()).unwrap(), gf.get(v.as_tensor()).unwrap());
            assert!(diff(a, c) < 1e-10, "gradient of {name} differs");
        }
    }

    /// The fused GELU matches candle's (tanh-approximation) GELU in value; its gradient matches
    /// central finite differences in f64 (candle's own GELU backward rounds its constants to 6
    /// digits, so it is not the reference), and the f32 gradient matches the f64 one.
    #[test]
    fn fused_gelu_matches_candle_gelu_and_finite_differences() {
        let dev = Device::Cpu;
        let base = (Tensor::randn(0f64, 1.0, (9, 33), &dev).unwrap() * 3.0).unwrap();
        let max_abs = |t: &Tensor| t.abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_dtype(candle_core::DType::F64).unwrap().to_scalar::<f64>().unwrap();
        let mut grads = Vec::new();
        for dtype in [candle_core::DType::F64, candle_core::DType::F32] {
            let x = Var::from_tensor(&base.to_dtype(dtype).unwrap()).unwrap();
            let ours = gelu(x.as_tensor()).unwrap();
            let diff = max_abs(&(&ours - x.as_tensor().gelu().unwrap()).unwrap());
            let tol = if dtype == candle_core::DType::F64 { 1e-12 } else { 2e-6 };
            assert!(diff < tol, "{dtype:?}: value differs by {diff}");
            let g = ours.sum_all().unwrap().backward().unwrap().get(x.as_tensor()).unwrap().to_dtype(candle_core::DType::F64).unwrap();
            grads.push(g);
        }
        let h = 1e-6;
        let fd = ((gelu(&(&base + h).unwrap()).unwrap() - gelu(&(&base - h).unwrap()).unwrap()).unwrap() / (2.0 * h)).unwrap();
        let e64 = max_abs(&(&grads[0] - &fd).unwrap());
        assert!(e64 < 1e-8, "f64 gradient vs finite differences: {e64}");
        let e32 = max_abs(&(&grads[1] - &grads[0]).unwrap());
        assert!(e32 < 1e-5, "f32 gradient vs f64: {e32}");
    }
}
