//! The GLOW-style invertible linear map `x ← x·W`, `W = P·L·(U + diag(s))`.

use candle_core::{DType, Device, Tensor};

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
        let w0 = b.orthogonal(d);
        let (p, l, u) = plu(&w0);
        let strict = |m: &nalgebra::DMatrix<f64>, lower: bool| nalgebra::DMatrix::from_fn(d, d, |i, j| if (lower && i > j) || (!lower && i < j) { m[(i, j)] } else { 0.0 });
        let perm = b.buffer(&format!("{name}.perm"), &[d, d], row_major(&p))?;
        let lower = b.param(&format!("{name}.lower"), &[d, d], row_major(&strict(&l, true)))?;
        let upper = b.param(&format!("{name}.upper"), &[d, d], row_major(&strict(&u, false)))?;
        let diag = b.param(&format!("{name}.diag"), &[d], u.diagonal().iter().copied().collect())?;
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
        Ok(((Self::f64(&self.lower)? * &self.lower_mask)? + &self.eye)?)
    }

    fn u(&self) -> Result<Tensor> {
        let diag = self.eye.broadcast_mul(&Self::f64(&self.diag)?.unsqueeze(0)?)?;
        Ok(((Self::f64(&self.upper)? * &self.upper_mask)? + diag)?)
    }

    /// `W = P·L·U`, so that `forward(x) = x·W`.
    pub fn weight(&self) -> Result<Tensor> {
        let w = Self::f64(&self.perm)?.matmul(&self.l()?)?.matmul(&self.u()?)?;
        Ok(w.to_dtype(self.diag.dtype())?)
    }

    /// `W⁻¹ = U⁻¹·L⁻¹·Pᵀ`.
    pub fn inverse_weight(&self) -> Result<Tensor> {
        let u_inv = tri_inverse_lower(&self.u()?.t()?.contiguous()?)?.t()?;
        let l_inv = tri_inverse_lower(&self.l()?)?;
        let w_inv = u_inv.matmul(&l_inv)?.matmul(&Self::f64(&self.perm)?.t()?)?;
        Ok(w_inv.to_dtype(self.diag.dtype())?)
    }

    /// `log|det W| = Σ log|s|`, a scalar, identical for every sample.
    pub fn log_abs_det(&self) -> Result<Tensor> {
        Ok(self.diag.abs()?.log()?.sum_all()?)
    }

    pub fn dim(&self) -> usize {
        self.diag.dims()[0]
    }
}

/// Inverse of a lower-triangular matrix by `[[A,0],[C,B]]⁻¹ = [[A⁻¹,0],[−B⁻¹CA⁻¹,B⁻¹]]`.
pub fn tri_inverse_lower(a: &Tensor) -> Result<Tensor> {
    let n = a.dim(0)?;
    if n == 1 {
        return Ok(a.recip()?);
    }
    let h = n / 2;
    let block = |r, nr, c, nc| -> Result<Tensor> { Ok(a.narrow(0, r, nr)?.narrow(1, c, nc)?.contiguous()?) };
    let a_inv = tri_inverse_lower(&block(0, h, 0, h)?)?;
    let b_inv = tri_inverse_lower(&block(h, n - h, h, n - h)?)?;
    let c = block(h, n - h, 0, h)?;
    let lower_left = b_inv.matmul(&c)?.matmul(&a_inv)?.neg()?;
    let zeros = Tensor::zeros((h, n - h), a.dtype(), a.device())?;
    let top = Tensor::cat(&[&a_inv, &zeros], 1)?;
    let bottom = Tensor::cat(&[&lower_left, &b_inv], 1)?;
    Ok(Tensor::cat(&[&top, &bottom], 0)?)
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
}
