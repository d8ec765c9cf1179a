//! The epilogue of every hidden Dense layer, `bias → activation → LayerNorm` (coupling nets,
//! critics) or `bias → LayerNorm → activation` (the encoder), as one CPU op with its own backward.
//!
//! Written as separate ops it costs three elementwise passes forward, three backward, and, for
//! each of the three intermediate tensors, candle's gradient accumulator (a zeroed buffer plus an
//! add). Fused, it is one pass each way and one graph node: the backward recomputes the row's
//! pre-activation and statistics from the layer's input instead of keeping them.
//!
//! Only f32 on the CPU is fused (the training dtype); other dtypes and devices run the composed
//! ops, which are also what the tests hold the fused op to, in value and in gradient.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, DType, Layout, Shape, Tensor, D};

use crate::activation::Activation;
use crate::error::Result;
use crate::ops::row_stats;

/// Where the LayerNorm sits relative to the activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NormOrder {
    /// `LN(φ(x + b))`: the coupling nets and FQL's MLPs.
    AfterActivation,
    /// `φ(LN(x + b))`: the flow's condition encoder.
    BeforeActivation,
}

/// A LayerNorm's scale, shift and ε.
#[derive(Clone, Copy, Debug)]
pub struct Norm<'a> {
    pub gamma: &'a Tensor,
    pub beta: &'a Tensor,
    pub eps: f64,
}

/// `pre + b` followed by the activation and the optional LayerNorm in `order`, over the last axis.
///
/// In a member ensemble `pre` is `[E, rows, d]` and b, γ, β are `[E, d]`: member e's rows take
/// member e's parameters.
pub fn dense_epilogue(pre: &Tensor, bias: &Tensor, act: Activation, norm: Option<Norm<'_>>, order: NormOrder) -> Result<Tensor> {
    if pre.device().is_cpu() && pre.dtype() == DType::F32 {
        let params = match norm {
            Some(n) => Tensor::cat(&[bias, n.gamma, n.beta], D::Minus1)?,
            None => bias.clone(),
        };
        let op = Epilogue { act, eps: norm.map(|n| n.eps), order };
        return Ok(pre.contiguous()?.apply_op2(&params.contiguous()?, op)?);
    }
    composed(pre, bias, act, norm, order)
}

/// The same function as separate candle ops: the path for other devices and dtypes, and the
/// reference the fused op is tested against.
pub fn composed(pre: &Tensor, bias: &Tensor, act: Activation, norm: Option<Norm<'_>>, order: NormOrder) -> Result<Tensor> {
    let u = crate::ops::bias_add(pre, bias)?;
    let ln = |x: &Tensor| -> Result<Tensor> {
        match norm {
            Some(n) => crate::ops::layer_norm_composed(x, n.gamma, n.beta, n.eps),
            None => Ok(x.clone()),
        }
    };
    match order {
        NormOrder::AfterActivation => ln(&act.forward(&u)?),
        NormOrder::BeforeActivation => act.forward(&ln(&u)?),
    }
}

#[derive(Clone, Copy)]
struct Epilogue {
    act: Activation,
    /// `Some(ε)` with a LayerNorm; the params tensor is then `[b; γ; β]`, else `[b]`.
    eps: Option<f64>,
    order: NormOrder,
}

/// The backward of [`Epilogue`], packed as `[rows + k, d]`: the input gradient rows, then the
/// gradients of b (and γ, β).
struct EpilogueGrad(Epilogue);

fn f32s<'a>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<&'a [f32]> {
    let (a, b) = l.contiguous_offsets().ok_or_else(|| candle_core::Error::Msg("nf-dense-epilogue needs contiguous input".into()))?;
    match s {
        CpuStorage::F32(v) => Ok(&v[a..b]),
        _ => candle_core::bail!("nf-dense-epilogue: f32 only"),
    }
}

impl Epilogue {
    /// `(k·d, rows·d per group)`: the parameter block and the input block of one member (the
    /// whole tensor for a solo layer).
    fn group(&self, input: usize, params: usize, d: usize) -> candle_core::Result<(usize, usize)> {
        let unit = if self.eps.is_some() { 3 * d } else { d };
        let groups = params / unit.max(1);
        if groups == 0 || !params.is_multiple_of(unit) || !input.is_multiple_of(groups * d.max(1)) {
            candle_core::bail!("nf-dense-epilogue: {params} parameters and {input} inputs do not split into members of width {d}");
        }
        Ok((unit, input / groups))
    }

    /// Forward of one row: `out ← f(pre + b)`. Loops are zipped iterators over equal-length
    /// slices, so they compile without bounds checks and vectorise.
    #[inline(always)]
    fn row(&self, pre: &[f32], params: &[f32], out: &mut [f32]) {
        let d = pre.len();
        let b = &params[..d];
        out.iter_mut().zip(pre).zip(b).for_each(|((o, &x), &b)| *o = x + b);
        let Some(eps) = self.eps else {
            self.act.apply_in_place(out);
            return;
        };
        let (g, beta) = (&params[d..2 * d], &params[2 * d..3 * d]);
        if self.order == NormOrder::AfterActivation {
            self.act.apply_in_place(out);
        }
        let (mean, rstd) = row_stats(out, eps);
        let (mean, rstd) = (mean as f32, rstd as f32);
        out.iter_mut().zip(g).zip(beta).for_each(|((o, &g), &b)| *o = (*o - mean) * rstd * g + b);
        if self.order == NormOrder::BeforeActivation {
            self.act.apply_in_place(out);
        }
    }
}

/// Every row of the forward, compiled for AVX-512, AVX2 and the baseline (chosen at run time).
#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl+avx512dq+avx2+fma", "x86_64+avx2+fma"))]
fn epilogue_rows(ep: &Epilogue, pre: &[f32], params: &[f32], out: &mut [f32], d: usize) {
    for (row, o) in pre.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
        ep.row(row, params, o);
    }
}

impl CustomOp2 for Epilogue {
    fn name(&self) -> &'static str {
        "nf-dense-epilogue"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (pre, params) = (f32s(s1, l1)?, f32s(s2, l2)?);
        let d = *l1.dims().last().unwrap_or(&1);
        let (unit, per_group) = self.group(pre.len(), params.len(), d)?;
        let mut out = vec![0f32; pre.len()];
        for ((pre, params), out) in pre.chunks_exact(per_group).zip(params.chunks_exact(unit)).zip(out.chunks_exact_mut(per_group)) {
            epilogue_rows(self, pre, params, out, d);
        }
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(&self, pre: &Tensor, params: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let d = pre.dim(D::Minus1)?;
        let rows = pre.elem_count() / d;
        let packed = pre.apply_op3_no_bwd(params, &grad.contiguous()?, &EpilogueGrad(*self))?;
        let d_pre = packed.narrow(0, 0, rows)?.reshape(pre.shape())?;
        let d_params = packed.narrow(0, rows, params.elem_count() / d)?.reshape(params.shape())?;
        Ok((Some(d_pre), Some(d_params)))
    }
}

/// `Σ aᵢ·bᵢ` (or `Σ aᵢ`) accumulated in f64 over 8 independent lanes: a fixed order, so
/// deterministic, and one the compiler vectorises.
#[inline(always)]
fn lane_dot(a: &[f32], b: Option<&[f32]>) -> f64 {
    let mut acc = [0f64; 8];
    let (mut ca, tail_a) = (a.chunks_exact(8), &a[a.len() / 8 * 8..]);
    let mut tail = 0f64;
    match b {
        Some(b) => {
            for (x, y) in (&mut ca).zip(b.chunks_exact(8)) {
                for l in 0..8 {
                    acc[l] += x[l] as f64 * y[l] as f64;
                }
            }
            let tail_b = &b[b.len() / 8 * 8..];
            tail = tail_a.iter().zip(tail_b).map(|(&x, &y)| x as f64 * y as f64).sum();
        }
        None => {
            for x in &mut ca {
                for l in 0..8 {
                    acc[l] += x[l] as f64;
                }
            }
            tail += tail_a.iter().map(|&x| x as f64).sum::<f64>();
        }
    }
    acc.iter().sum::<f64>() + tail
}

/// The backward over every row of one member into `dx` (its rows) and `dparams` (`[k, d]`,
/// zeroed), compiled for AVX-512, AVX2 and the baseline (chosen at run time).
#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl+avx512dq+avx2+fma", "x86_64+avx2+fma"))]
fn epilogue_grad_rows(ep: &Epilogue, pre: &[f32], params: &[f32], grad: &[f32], dx: &mut [f32], dparams: &mut [f32], d: usize) {
    let Epilogue { act, eps, order } = *ep;
    let (db, dnorm) = dparams.split_at_mut(d);
    let b = &params[..d];
    // Scratch rows: the pre-activation u = x + b, the normalised input x̂, and y0 = x̂·γ + β.
    let (mut u, mut xh, mut y0) = (vec![0f32; d], vec![0f32; d], vec![0f32; d]);
    let add = |acc: &mut [f32], v: &[f32]| acc.iter_mut().zip(v).for_each(|(a, &v)| *a += v);
    for ((p, gy), o) in pre.chunks_exact(d).zip(grad.chunks_exact(d)).zip(dx.chunks_exact_mut(d)) {
        u.iter_mut().zip(p).zip(b).for_each(|((u, &x), &b)| *u = x + b);
        o.copy_from_slice(gy);
        let Some(eps) = eps else {
            act.backward(&u, o);
            add(db, o);
            continue;
        };
        let (dg, dbeta) = dnorm.split_at_mut(d);
        let (gamma, beta) = (&params[d..2 * d], &params[2 * d..3 * d]);
        // The LayerNorm's input: φ(u) after the activation, u before it.
        if order == NormOrder::AfterActivation {
            act.apply(&u, &mut xh);
        } else {
            xh.copy_from_slice(&u);
        }
        let (mean, rstd) = row_stats(&xh, eps);
        let (mt, rt) = (mean as f32, rstd as f32);
        xh.iter_mut().for_each(|x| *x = (*x - mt) * rt);
        // The gradient at the LayerNorm's output, through φ'(y0) when φ comes after it.
        if order == NormOrder::BeforeActivation {
            y0.iter_mut().zip(&xh).zip(gamma).zip(beta).for_each(|(((y, &x), &g), &b)| *y = x * g + b);
            act.backward(&y0, o);
        }
        // g = g_y0·γ; dx̂ = rstd·(g − mean g − x̂·mean(g·x̂)), the means in f64 over 8 lanes.
        dg.iter_mut().zip(o.iter()).zip(&xh).for_each(|((dg, &o), &x)| *dg += o * x);
        add(dbeta, o);
        o.iter_mut().zip(gamma).for_each(|(o, &g)| *o *= g);
        let mg = (lane_dot(o, None) / d as f64) as f32;
        let mgx = (lane_dot(o, Some(&xh)) / d as f64) as f32;
        o.iter_mut().zip(&xh).for_each(|(o, &x)| *o = rt * (*o - mg - x * mgx));
        if order == NormOrder::AfterActivation {
            act.backward(&u, o);
        }
        add(db, o);
    }
}

impl CustomOp3 for EpilogueGrad {
    fn name(&self) -> &'static str {
        "nf-dense-epilogue-grad"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout, s3: &CpuStorage, l3: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (pre, params, grad) = (f32s(s1, l1)?, f32s(s2, l2)?, f32s(s3, l3)?);
        let d = *l1.dims().last().unwrap_or(&1);
        let (unit, per_group) = self.0.group(pre.len(), params.len(), d)?;
        // Packed `[rows + groups·k, d]`: every input-gradient row, then each member's b (γ, β).
        let mut out = vec![0f32; pre.len() + params.len()];
        let (dx, dparams) = out.split_at_mut(pre.len());
        let chunks = pre.chunks_exact(per_group).zip(grad.chunks_exact(per_group)).zip(params.chunks_exact(unit));
        for (((pre, grad), params), (dx, dparams)) in chunks.zip(dx.chunks_exact_mut(per_group).zip(dparams.chunks_exact_mut(unit))) {
            epilogue_grad_rows(&self.0, pre, params, grad, dx, dparams, d);
        }
        Ok((CpuStorage::F32(out), Shape::from(((pre.len() + params.len()) / d, d))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// Every activation, both orders and no norm: the fused op equals the composed ops in value
    /// and in the gradient of every input (pre-activation, b, γ, β), in f32, against the f32 and
    /// the f64 composed graph.
    #[test]
    fn fused_epilogue_matches_composed_ops_in_value_and_gradient() {
        let dev = Device::Cpu;
        let acts = [Activation::Gelu, Activation::Relu, Activation::Silu, Activation::LeakyRelu { slope: 0.01 }];
        let cases = [(None, NormOrder::AfterActivation), (Some(1e-6), NormOrder::AfterActivation), (Some(1e-5), NormOrder::BeforeActivation)];
        for act in acts {
            for (eps, order) in cases {
                for (rows, d) in [(5usize, 7usize), (64, 33)] {
                    let mk = |shape: &[usize], scale: f64, shift: f64| (Tensor::randn(0f64, 1.0, shape, &dev).unwrap() * scale).unwrap().affine(1.0, shift).unwrap();
                    let base = [mk(&[rows, d], 2.0, 0.0), mk(&[d], 0.5, 0.0), mk(&[d], 0.3, 1.0), mk(&[d], 0.3, 0.0)];
                    let w = mk(&[rows, d], 1.0, 0.0);
                    let run = |dtype: DType, fused: bool| -> (Vec<f64>, Vec<Vec<f64>>) {
                        let vars: Vec<Var> = base.iter().map(|t| Var::from_tensor(&t.to_dtype(dtype).unwrap()).unwrap()).collect();
                        let norm = eps.map(|eps| Norm { gamma: vars[2].as_tensor(), beta: vars[3].as_tensor(), eps });
                        let f = if fused { dense_epilogue } else { composed };
                        let y = f(vars[0].as_tensor(), vars[1].as_tensor(), act, norm, order).unwrap();
                        let loss = (&y * w.to_dtype(dtype).unwrap()).unwrap().sum_all().unwrap();
                        let grads = loss.backward().unwrap();
                        let flat = |t: &Tensor| t.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap();
                        let used = if eps.is_some() { 4 } else { 2 };
                        (flat(&y), vars[..used].iter().map(|v| flat(grads.get(v.as_tensor()).expect("a gradient for every input"))).collect())
                    };
                    let (fused, c32, c64) = (run(DType::F32, true), run(DType::F32, false), run(DType::F64, false));
                    let close = |a: &[f64], b: &[f64], what: &str| {
                        let scale = b.iter().fold(1.0f64, |m, v| m.max(v.abs()));
                        let err = a.iter().zip(b).fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
                        assert!(err <= 2e-5 * scale, "{act:?} {order:?} eps={eps:?} {rows}x{d}: {what} differs by {err} (scale {scale})");
                    };
                    for (reference, name) in [(&c32, "f32"), (&c64, "f64")] {
                        close(&fused.0, &reference.0, &format!("value vs composed {name}"));
                        for (i, which) in ["pre", "b", "gamma", "beta"].iter().enumerate().take(fused.1.len()) {
                            close(&fused.1[i], &reference.1[i], &format!("d{which} vs composed {name}"));
                        }
                    }
                }
            }
        }
    }

    /// Member-stacked parameters (`[E, d]`, rows `[E, rows, d]`): the fused op equals the
    /// composed ops (which broadcast each member's parameters) in value and in every gradient,
    /// and member e's slice equals the solo op on member e's rows and parameters.
    #[test]
    fn fused_epilogue_gives_each_member_its_own_parameters() {
        let dev = Device::Cpu;
        let (e_n, rows, d) = (3usize, 5usize, 7usize);
        for (eps, order) in [(None, NormOrder::AfterActivation), (Some(1e-6), NormOrder::AfterActivation), (Some(1e-5), NormOrder::BeforeActivation)] {
            let mk = |shape: &[usize], shift: f32| Tensor::randn(shift, 1f32, shape, &dev).unwrap();
            let vars: Vec<Var> = [mk(&[e_n, rows, d], 0.0), mk(&[e_n, d], 0.0), mk(&[e_n, d], 1.0), mk(&[e_n, d], 0.0)].iter().map(|t| Var::from_tensor(t).unwrap()).collect();
            let w = mk(&[e_n, rows, d], 0.0);
            let run = |f: fn(&Tensor, &Tensor, Activation, Option<Norm<'_>>, NormOrder) -> Result<Tensor>| {
                let norm = eps.map(|eps| Norm { gamma: vars[2].as_tensor(), beta: vars[3].as_tensor(), eps });
                let y = f(vars[0].as_tensor(), vars[1].as_tensor(), Activation::Gelu, norm, order).unwrap();
                let grads = (&y * &w).unwrap().sum_all().unwrap().backward().unwrap();
                let used = if eps.is_some() { 4 } else { 2 };
                (y.clone(), vars[..used].iter().map(|v| grads.get(v.as_tensor()).unwrap().clone()).collect::<Vec<_>>())
            };
            let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let close = |a: &Tensor, b: &Tensor, what: &str| {
                let (a, b) = (flat(a), flat(b));
                let err = a.iter().zip(&b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
                assert!(err <= 2e-5 * b.iter().fold(1f32, |m, v| m.max(v.abs())), "{order:?} eps={eps:?}: {what} differs by {err}");
            };
            let ((fy, fg), (cy, cg)) = (run(dense_epilogue), run(composed));
            close(&fy, &cy, "value");
            for (i, (a, b)) in fg.iter().zip(&cg).enumerate() {
                assert_eq!(a.dims(), b.dims());
                close(a, b, &format!("gradient of input {i}"));
            }
            for e in 0..e_n {
                let g = |i: usize| vars[i].as_tensor().get(e).unwrap();
                let (g2, g3) = (g(2), g(3));
                let norm = eps.map(|eps| Norm { gamma: &g2, beta: &g3, eps });
                let solo = dense_epilogue(&g(0), &g(1), Activation::Gelu, norm, order).unwrap();
                close(&fy.get(e).unwrap(), &solo, &format!("member {e} against the solo op"));
            }
        }
    }
}
