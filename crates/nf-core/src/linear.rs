//! The GLOW-style invertible linear map `x ← x·W`, `W = P·L·(U + diag(s))`.

use candle_core::{DType, Device, Tensor, D};

use crate::error::Result;
use crate::init::{plu, row_major, ParamBuilder};

/// PLU-parametrised invertible linear map. P is fixed (a buffer), L is unit lower triangular,
/// U strictly upper triangular, s the signed diagonal; `log|det W| = Σ log|s|`.
///
/// Both directions are plain candle ops, so one graph can hold `log_prob` of data and a
/// reparameterised sample (NF-RLBC needs both in one step). The inverse needs `L⁻¹` and `U⁻¹`;
/// candle has no triangular solve, let alone a differentiable one, so [`tri_inverse_lower`]
/// inverts by recursive 2×2 blocking. That is the same arithmetic as a triangular solve (stable
/// where substitution is), costs O(d) tiny ops on a d×d matrix, independent of the batch, and runs
/// on any candle device with autograd for free. A Neumann series would also be differentiable but
/// loses all precision to cancellation once entries of L approach 1.
#[derive(Clone, Debug)]
pub struct InvertibleLinear {
    pub(crate) perm: Tensor,
    pub(crate) lower: Tensor,
    pub(crate) upper: Tensor,
    pub(crate) diag: Tensor,
    lower_mask: Tensor,
    upper_mask: Tensor,
    eye: Tensor,
}

impl InvertibleLinear {
    /// Initialised from a Haar-random orthogonal `W₀ = P·L·U` drawn from the seeded stream, a new
    /// one per block (the torch code; the flax code reuses one key for every block, see §1).
    pub(crate) fn new(b: &mut ParamBuilder, name: &str, d: usize) -> Result<Self> {
        let strict = |m: &nalgebra::DMatrix<f64>, lower: bool| nalgebra::DMatrix::from_fn(d, d, |i, j| if (lower && i > j) || (!lower && i < j) { m[(i, j)] } else { 0.0 });
        let (mut perm, mut lower, mut upper, mut diag) = (vec![], vec![], vec![], vec![]);
        for w0 in b.orthogonal(d) {
            let (p, l, u) = plu(&w0);
            perm.extend(row_major(&p));
            lower.extend(row_major(&strict(&l, true)));
            upper.extend(row_major(&strict(&u, false)));
            diag.extend(u.diagonal().iter().copied());
        }
        let perm = b.buffer(&format!("{name}.perm"), &[d, d], perm)?;
        let lower = b.param(&format!("{name}.lower"), &[d, d], lower)?;
        let upper = b.param(&format!("{name}.upper"), &[d, d], upper)?;
        let diag = b.param(&format!("{name}.diag"), &[d], diag)?;
        let mask = |lower: bool| -> Vec<f64> { (0..d * d).map(|k| ((lower && k / d > k % d) || (!lower && k / d < k % d)) as u8 as f64).collect() };
        // The masks and identity are only used in the f64 d×d arithmetic below, so keep them f64.
        let dev = &b.device;
        let constant = |v: Vec<f64>| -> Result<Tensor> { Ok(Tensor::from_vec(v, (d, d), &Device::Cpu)?.to_device(dev)?) };
        Ok(Self { perm, lower, upper, diag, lower_mask: constant(mask(true))?, upper_mask: constant(mask(false))?, eye: Tensor::eye(d, DType::F64, dev)? })
    }

    // The d×d products and inverses are formed in f64 and rounded once to the parameter dtype:
    // they cost nothing next to the batch, and keep f⁻¹(f(x)) = x to ~1e-6 in f32.
    fn f64(t: &Tensor) -> Result<Tensor> {
        Ok(t.to_dtype(DType::F64)?)
    }

    fn l(&self) -> Result<Tensor> {
        Ok(Self::f64(&self.lower)?.broadcast_mul(&self.lower_mask)?.broadcast_add(&self.eye)?)
    }

    fn u(&self) -> Result<Tensor> {
        let diag = self.eye.broadcast_mul(&Self::f64(&self.diag)?.unsqueeze(D::Minus2)?)?;
        Ok((Self::f64(&self.upper)?.broadcast_mul(&self.upper_mask)? + diag)?)
    }

    /// `W = P·L·U`, so that `forward(x) = x·W`.
    pub fn weight(&self) -> Result<Tensor> {
        if self.diag.device().is_cpu() {
            return self.fused(false);
        }
        self.composed_weight()
    }

    /// `W⁻¹ = U⁻¹·L⁻¹·Pᵀ`.
    pub fn inverse_weight(&self) -> Result<Tensor> {
        if self.diag.device().is_cpu() {
            return self.fused(true);
        }
        self.composed_inverse_weight()
    }

    /// W or W⁻¹ as one op with an analytic backward (see [`PluOp`]).
    fn fused(&self, inverse: bool) -> Result<Tensor> {
        let d = self.dim();
        let perm = self.perm.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
        let perms = perm.chunks_exact(d * d).map(|p| nalgebra::DMatrix::from_row_slice(d, d, p)).collect();
        Ok(self.lower.apply_op3(&self.upper, &self.diag, PluOp { perms, inverse })?)
    }

    /// W as composed candle ops: the path on other devices, and the reference for the fused op.
    pub fn composed_weight(&self) -> Result<Tensor> {
        let w = Self::f64(&self.perm)?.matmul(&self.l()?)?.matmul(&self.u()?)?;
        Ok(w.to_dtype(self.diag.dtype())?)
    }

    /// W⁻¹ as composed candle ops (recursive blocking, [`tri_inverse_lower`]).
    pub fn composed_inverse_weight(&self) -> Result<Tensor> {
        let u_inv = tri_inverse_lower(&self.u()?.t()?.contiguous()?)?.t()?;
        let l_inv = tri_inverse_lower(&self.l()?)?;
        let w_inv = u_inv.matmul(&l_inv)?.matmul(&Self::f64(&self.perm)?.t()?.contiguous()?)?;
        Ok(w_inv.to_dtype(self.diag.dtype())?)
    }

    /// `log|det W| = Σ log|s|`, identical for every sample: a scalar, or one per member `[E]`.
    pub fn log_abs_det(&self) -> Result<Tensor> {
        Ok(self.diag.abs()?.log()?.sum(D::Minus1)?)
    }

    /// [`log_abs_det`](Self::log_abs_det) shaped to broadcast over a batch's rows: `[1]`, or
    /// `[E, 1]` in an ensemble.
    pub(crate) fn log_abs_det_rows(&self) -> Result<Tensor> {
        Ok(self.diag.abs()?.log()?.sum_keepdim(D::Minus1)?)
    }

    pub fn dim(&self) -> usize {
        *self.diag.dims().last().expect("diag has a dimension")
    }
}

/// `W = P·L·U` (or `W⁻¹`) from `(lower, upper, diag)` in one op, formed in f64 on the host and
/// rounded once. The composed form costs ~10 ops for W and ~80 for W⁻¹ (the recursive triangular
/// inverse), each a graph node; for d ≤ a few dozen the host arithmetic is nothing.
///
/// Backward, with `G = ∂ℓ/∂W`: `∂ℓ/∂L = strict_lower(Pᵀ·G·Uᵀ)`, `∂ℓ/∂U = strict_upper((PL)ᵀ·G)`,
/// `∂ℓ/∂s = diag((PL)ᵀ·G)`; for the inverse, `∂ℓ/∂W = −W⁻ᵀ·G·W⁻ᵀ` first.
///
/// In an ensemble the inputs are `[E, d, d]`, `[E, d, d]`, `[E, d]` and each member's map is
/// formed with its own permutation.
struct PluOp {
    /// One permutation per member (one for a solo map).
    perms: Vec<nalgebra::DMatrix<f64>>,
    inverse: bool,
}

type Mat = nalgebra::DMatrix<f64>;

impl PluOp {
    fn factors(&self, lower: &[f64], upper: &[f64], diag: &[f64]) -> (Mat, Mat) {
        let d = diag.len();
        let l = Mat::from_fn(d, d, |i, j| {
            if i > j {
                lower[i * d + j]
            } else if i == j {
                1.0
            } else {
                0.0
            }
        });
        let u = Mat::from_fn(d, d, |i, j| {
            if i < j {
                upper[i * d + j]
            } else if i == j {
                diag[i]
            } else {
                0.0
            }
        });
        (l, u)
    }

    fn weight(&self, perm: &Mat, l: &Mat, u: &Mat) -> Mat {
        let w = perm * l * u;
        if !self.inverse {
            return w;
        }
        // U⁻¹·L⁻¹·Pᵀ by triangular solves (stable where substitution is).
        let l_inv_pt = l.solve_lower_triangular(&perm.transpose()).expect("L has a unit diagonal");
        u.solve_upper_triangular(&l_inv_pt).unwrap_or_else(|| Mat::from_element(l.nrows(), l.ncols(), f64::NAN))
    }
}

fn host(t: &Tensor) -> candle_core::Result<Vec<f64>> {
    t.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()
}

fn cpu_f64(s: &candle_core::CpuStorage, l: &candle_core::Layout) -> candle_core::Result<Vec<f64>> {
    let (a, b) = l.contiguous_offsets().ok_or_else(|| candle_core::Error::Msg("nf-plu needs contiguous parameters".into()))?;
    Ok(match s {
        candle_core::CpuStorage::F32(v) => v[a..b].iter().map(|&x| x as f64).collect(),
        candle_core::CpuStorage::F64(v) => v[a..b].to_vec(),
        _ => candle_core::bail!("nf-plu: unsupported dtype"),
    })
}

fn to_storage(ms: &[Mat], like: &candle_core::CpuStorage) -> candle_core::CpuStorage {
    let row_major: Vec<f64> = ms.iter().flat_map(|m| m.transpose().iter().copied().collect::<Vec<_>>()).collect();
    match like {
        candle_core::CpuStorage::F32(_) => candle_core::CpuStorage::F32(row_major.iter().map(|&x| x as f32).collect()),
        _ => candle_core::CpuStorage::F64(row_major),
    }
}

impl candle_core::CustomOp3 for PluOp {
    fn name(&self) -> &'static str {
        "nf-plu"
    }

    fn cpu_fwd(
        &self,
        s1: &candle_core::CpuStorage,
        l1: &candle_core::Layout,
        s2: &candle_core::CpuStorage,
        l2: &candle_core::Layout,
        s3: &candle_core::CpuStorage,
        l3: &candle_core::Layout,
    ) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)> {
        let (lower, upper, diag) = (cpu_f64(s1, l1)?, cpu_f64(s2, l2)?, cpu_f64(s3, l3)?);
        let d = *l3.dims().last().unwrap_or(&1);
        let ws: Vec<Mat> = self
            .perms
            .iter()
            .enumerate()
            .map(|(e, perm)| {
                let (l, u) = self.factors(&lower[e * d * d..(e + 1) * d * d], &upper[e * d * d..(e + 1) * d * d], &diag[e * d..(e + 1) * d]);
                self.weight(perm, &l, &u)
            })
            .collect();
        Ok((to_storage(&ws, s3), l1.shape().clone()))
    }

    fn bwd(&self, lower: &Tensor, upper: &Tensor, diag: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let d = diag.dim(D::Minus1)?;
        let (lower_h, upper_h, diag_h, grad_h) = (host(lower)?, host(upper)?, host(diag)?, host(grad)?);
        let strict = |m: &Mat, lower: bool| -> Vec<f64> { (0..d * d).map(|k| if (lower && k / d > k % d) || (!lower && k / d < k % d) { m[(k / d, k % d)] } else { 0.0 }).collect() };
        let (mut gl, mut gu, mut gs) = (Vec::new(), Vec::new(), Vec::new());
        for (e, perm) in self.perms.iter().enumerate() {
            let mm = e * d * d..(e + 1) * d * d;
            let (l, u) = self.factors(&lower_h[mm.clone()], &upper_h[mm.clone()], &diag_h[e * d..(e + 1) * d]);
            let mut g = Mat::from_row_slice(d, d, &grad_h[mm]);
            if self.inverse {
                let w_inv_t = self.weight(perm, &l, &u).transpose();
                g = -(&w_inv_t * g * &w_inv_t);
            }
            let pl = perm * &l;
            let d_l = perm.transpose() * &g * u.transpose();
            let d_u = pl.transpose() * &g;
            gl.extend(strict(&d_l, true));
            gu.extend(strict(&d_u, false));
            gs.extend((0..d).map(|i| d_u[(i, i)]));
        }
        let (dtype, dev) = (diag.dtype(), diag.device());
        let mk = |v: Vec<f64>, like: &Tensor| -> candle_core::Result<Tensor> { Tensor::from_vec(v, like.shape(), &candle_core::Device::Cpu)?.to_dtype(dtype)?.to_device(dev) };
        Ok((Some(mk(gl, lower)?), Some(mk(gu, upper)?), Some(mk(gs, diag)?)))
    }
}

/// Inverse of a lower-triangular matrix by `[[A,0],[C,B]]⁻¹ = [[A⁻¹,0],[−B⁻¹CA⁻¹,B⁻¹]]`.
pub fn tri_inverse_lower(a: &Tensor) -> Result<Tensor> {
    let n = a.dim(D::Minus1)?;
    if n == 1 {
        return Ok(a.recip()?);
    }
    let h = n / 2;
    let block = |r, nr, c, nc| -> Result<Tensor> { Ok(a.narrow(D::Minus2, r, nr)?.narrow(D::Minus1, c, nc)?.contiguous()?) };
    let a_inv = tri_inverse_lower(&block(0, h, 0, h)?)?;
    let b_inv = tri_inverse_lower(&block(h, n - h, h, n - h)?)?;
    let c = block(h, n - h, 0, h)?;
    let lower_left = b_inv.matmul(&c)?.matmul(&a_inv)?.neg()?;
    // Leading (member) axes, if any, carry through.
    let mut zeros_shape = a.dims()[..a.rank() - 2].to_vec();
    zeros_shape.extend([h, n - h]);
    let zeros = Tensor::zeros(zeros_shape, a.dtype(), a.device())?;
    let top = Tensor::cat(&[&a_inv, &zeros], D::Minus1)?;
    let bottom = Tensor::cat(&[&lower_left, &b_inv], D::Minus1)?;
    Ok(Tensor::cat(&[&top, &bottom], D::Minus2)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_nn::VarMap;

    #[test]
    fn triangular_inverse_matches_identity() {
        for n in [1usize, 2, 3, 7, 16, 17] {
            let v: Vec<f64> = (0..n * n)
                .map(|k| {
                    let (i, j) = (k / n, k % n);
                    if i == j {
                        1.5 + (k % 3) as f64 * 0.3
                    } else if i > j {
                        ((k * 37 % 11) as f64 - 5.0) / 5.0
                    } else {
                        0.0
                    }
                })
                .collect();
            let a = Tensor::from_vec(v, (n, n), &Device::Cpu).unwrap();
            let prod = a.matmul(&tri_inverse_lower(&a).unwrap()).unwrap();
            let err = (prod - Tensor::eye(n, DType::F64, &Device::Cpu).unwrap()).unwrap().abs().unwrap().max_all().unwrap();
            assert!(err.to_scalar::<f64>().unwrap() < 1e-10, "n={n}");
        }
    }

    /// The fused W and W⁻¹ equal the composed candle ops in value and in the gradient of L, U and
    /// s, on a map moved away from its orthogonal start (so L, U and s are all non-trivial).
    #[test]
    fn fused_plu_matches_composed_ops_in_value_and_gradient() {
        let (p, bf) = (VarMap::new(), VarMap::new());
        let mut b = ParamBuilder::new(&p, &bf, 11, &Device::Cpu, DType::F64);
        for d in [1, 2, 5, 8] {
            let lin = InvertibleLinear::new(&mut b, &format!("m{d}"), d).unwrap();
            for name in ["lower", "upper", "diag"] {
                let v = p.data().lock().unwrap()[&format!("m{d}.{name}")].clone();
                let bump = Tensor::randn(0f64, 0.3, v.dims(), &Device::Cpu).unwrap();
                v.set(&(v.as_tensor() + bump).unwrap()).unwrap();
            }
            let w = Tensor::randn(0f64, 1.0, (d, d), &Device::Cpu).unwrap();
            for inverse in [false, true] {
                let (fused, composed) = if inverse { (lin.inverse_weight().unwrap(), lin.composed_inverse_weight().unwrap()) } else { (lin.weight().unwrap(), lin.composed_weight().unwrap()) };
                let max = |t: Tensor| t.abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f64>().unwrap();
                assert!(max((&fused - &composed).unwrap()) < 1e-10, "d={d} inverse={inverse}: value");
                let gf = (&fused * &w).unwrap().sum_all().unwrap().backward().unwrap();
                let gc = (&composed * &w).unwrap().sum_all().unwrap().backward().unwrap();
                for t in [&lin.lower, &lin.upper, &lin.diag] {
                    let (a, c) = (gf.get(t).expect("fused gradient"), gc.get(t).expect("composed gradient"));
                    assert!(max((a - c).unwrap()) < 1e-9 * (1.0 + max(c.clone())), "d={d} inverse={inverse}: gradient");
                }
            }
        }
    }

    #[test]
    fn weight_times_inverse_is_identity_and_init_is_orthogonal() {
        let (p, bf) = (VarMap::new(), VarMap::new());
        let mut b = ParamBuilder::new(&p, &bf, 3, &Device::Cpu, DType::F64);
        for d in [1, 2, 5, 9] {
            let lin = InvertibleLinear::new(&mut b, "x", d).unwrap();
            let w = lin.weight().unwrap();
            let eye = Tensor::eye(d, DType::F64, &Device::Cpu).unwrap();
            let err = |m: Tensor| m.sub(&eye).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap();
            assert!(err(w.matmul(&lin.inverse_weight().unwrap()).unwrap()) < 1e-12);
            assert!(err(w.matmul(&w.t().unwrap()).unwrap()) < 1e-12, "W₀ must be orthogonal");
            assert!(lin.log_abs_det().unwrap().to_scalar::<f64>().unwrap().abs() < 1e-12);
        }
    }

    /// Stacked maps (`[E, d, d]`): the fused W and W⁻¹ equal the composed batched ops, in value
    /// and gradient, and each member's map is the solo map built from its seed.
    #[test]
    fn stacked_plu_maps_are_their_members_maps() {
        let seeds = [5u64, 6, 9];
        for d in [1, 3, 8] {
            let (p, bf) = (VarMap::new(), VarMap::new());
            let mut b = ParamBuilder::members(&p, &bf, &seeds, &Device::Cpu, DType::F64);
            let lin = InvertibleLinear::new(&mut b, "m", d).unwrap();
            for name in ["lower", "upper", "diag"] {
                let v = p.data().lock().unwrap()[&format!("m.{name}")].clone();
                v.set(&(v.as_tensor() + Tensor::randn(0f64, 0.3, v.dims(), &Device::Cpu).unwrap()).unwrap()).unwrap();
            }
            let w = Tensor::randn(0f64, 1.0, (seeds.len(), d, d), &Device::Cpu).unwrap();
            let max = |t: Tensor| t.abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f64>().unwrap();
            for inverse in [false, true] {
                let (fused, composed) = if inverse { (lin.inverse_weight().unwrap(), lin.composed_inverse_weight().unwrap()) } else { (lin.weight().unwrap(), lin.composed_weight().unwrap()) };
                assert_eq!(fused.dims(), [seeds.len(), d, d]);
                assert!(max((&fused - &composed).unwrap()) < 1e-10, "d={d} inverse={inverse}: value");
                let gf = (&fused * &w).unwrap().sum_all().unwrap().backward().unwrap();
                let gc = (&composed * &w).unwrap().sum_all().unwrap().backward().unwrap();
                for t in [&lin.lower, &lin.upper, &lin.diag] {
                    let (a, c) = (gf.get(t).expect("fused gradient"), gc.get(t).expect("composed gradient"));
                    assert!(max((a - c).unwrap()) < 1e-9 * (1.0 + max(c.clone())), "d={d} inverse={inverse}: gradient");
                }
                // Member e: the solo map with the same (moved) parameters.
                for e in 0..seeds.len() {
                    let (sp, sb) = (VarMap::new(), VarMap::new());
                    let solo = InvertibleLinear::new(&mut ParamBuilder::new(&sp, &sb, 0, &Device::Cpu, DType::F64), "m", d).unwrap();
                    for (dst, src) in [(&solo.perm, &lin.perm), (&solo.lower, &lin.lower), (&solo.upper, &lin.upper), (&solo.diag, &lin.diag)] {
                        dst.slice_set(&src.get(e).unwrap(), 0, 0).unwrap();
                    }
                    let one = if inverse { solo.inverse_weight().unwrap() } else { solo.weight().unwrap() };
                    assert!(max((fused.get(e).unwrap() - one).unwrap()) < 1e-12, "d={d} inverse={inverse}: member {e}");
                }
            }
            assert_eq!(lin.log_abs_det().unwrap().dims(), [seeds.len()]);
        }
    }
}
