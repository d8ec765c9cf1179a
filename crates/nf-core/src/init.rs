//! Seeded parameter creation. candle's own initialisers draw from an unseeded RNG, so every
//! tensor here is drawn from one ChaCha stream in construction order: the same seed gives
//! bitwise-identical parameters on every machine.

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarMap;
use nalgebra::DMatrix;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::error::Result;

/// Draws and registers parameters. With one seed it builds a solo model (each tensor has its own
/// shape); with [`ParamBuilder::members`] it builds a member ensemble: every tensor gets a leading
/// member axis, and member e's slice is drawn from seed e's stream in the solo construction order,
/// so it is bitwise the tensor a solo model with that seed would have.
pub(crate) struct ParamBuilder<'a> {
    pub params: &'a VarMap,
    pub buffers: &'a VarMap,
    /// One stream per member (one for a solo model).
    rngs: Vec<ChaCha8Rng>,
    /// Whether tensors carry the leading member axis (true for every ensemble, even of one).
    stacked: bool,
    pub device: Device,
    pub dtype: DType,
}

impl<'a> ParamBuilder<'a> {
    pub fn new(params: &'a VarMap, buffers: &'a VarMap, seed: u64, device: &Device, dtype: DType) -> Self {
        Self { params, buffers, rngs: vec![ChaCha8Rng::seed_from_u64(seed)], stacked: false, device: device.clone(), dtype }
    }

    /// An ensemble builder: member e's values come from `seeds[e]`.
    pub fn members(params: &'a VarMap, buffers: &'a VarMap, seeds: &[u64], device: &Device, dtype: DType) -> Self {
        Self { params, buffers, rngs: seeds.iter().map(|&s| ChaCha8Rng::seed_from_u64(s)).collect(), stacked: true, device: device.clone(), dtype }
    }

    /// The member count (1 for a solo model).
    pub fn count(&self) -> usize {
        self.rngs.len()
    }

    /// A member's shape with the member axis in front when stacked.
    pub fn shape(&self, member_shape: &[usize]) -> Vec<usize> {
        if self.stacked {
            std::iter::once(self.count()).chain(member_shape.iter().copied()).collect()
        } else {
            member_shape.to_vec()
        }
    }

    fn make(&self, shape: &[usize], values: Vec<f64>) -> Result<Var> {
        let t = Tensor::from_vec(values, self.shape(shape), &Device::Cpu)?.to_dtype(self.dtype)?.to_device(&self.device)?;
        Ok(Var::from_tensor(&t)?)
    }

    /// A trainable tensor, registered under `name` (the safetensors key). `shape` is one
    /// member's; `values` holds every member's, member-major.
    pub fn param(&self, name: &str, shape: &[usize], values: Vec<f64>) -> Result<Tensor> {
        let var = self.make(shape, values)?;
        let t = var.as_tensor().clone();
        self.params.data().lock().unwrap().insert(name.to_string(), var);
        Ok(t)
    }

    /// A fixed tensor that is saved in checkpoints but never optimised (the PLU permutation).
    pub fn buffer(&self, name: &str, shape: &[usize], values: Vec<f64>) -> Result<Tensor> {
        let var = self.make(shape, values)?;
        let t = var.as_tensor().clone();
        self.buffers.data().lock().unwrap().insert(name.to_string(), var);
        Ok(t)
    }

    /// `f(member stream)` for every member, concatenated member-major.
    pub fn per_member(&mut self, f: impl FnMut(&mut ChaCha8Rng) -> Vec<f64>) -> Vec<f64> {
        self.rngs.iter_mut().flat_map(f).collect()
    }

    /// `n` copies of `v` for every member.
    pub fn constant(&self, n: usize, v: f64) -> Vec<f64> {
        vec![v; n * self.count()]
    }

    pub fn uniform(&mut self, n: usize, bound: f64) -> Vec<f64> {
        self.per_member(|rng| (0..n).map(|_| rng.random_range(-bound..=bound)).collect())
    }

    /// flax's default `lecun_normal`: truncated normal at ±2σ, rescaled to variance 1/fan_in.
    pub fn lecun_normal(&mut self, n: usize, fan_in: usize) -> Vec<f64> {
        // Std of a unit normal truncated to [-2, 2]; flax divides by it to keep the variance.
        const TRUNC_STD: f64 = 0.879_625_661_034_239_8;
        let std = (1.0 / fan_in.max(1) as f64).sqrt() / TRUNC_STD;
        self.per_member(|rng| {
            (0..n)
                .map(|_| loop {
                    let z: f64 = rng.sample(StandardNormal);
                    if z.abs() <= 2.0 {
                        break z * std;
                    }
                })
                .collect()
        })
    }

    /// One Haar-random orthogonal n×n matrix per member.
    pub fn orthogonal(&mut self, n: usize) -> Vec<DMatrix<f64>> {
        self.rngs.iter_mut().map(|rng| orthogonal(rng, n)).collect()
    }
}

/// A Haar-random orthogonal matrix: QR of a Gaussian matrix with the signs of R's diagonal
/// folded into Q (without that fix the distribution is not uniform).
fn orthogonal(rng: &mut ChaCha8Rng, n: usize) -> DMatrix<f64> {
    let g = DMatrix::from_fn(n, n, |_, _| rng.sample::<f64, _>(StandardNormal));
    let qr = g.qr();
    let (mut q, r) = (qr.q(), qr.r());
    for j in 0..n {
        if r[(j, j)] < 0.0 {
            q.column_mut(j).neg_mut();
        }
    }
    q
}

/// `W = P · L · U` with P a permutation matrix, L unit lower triangular and U upper triangular
/// (partial pivoting, so |L_ij| ≤ 1). Returned row-major.
pub(crate) fn plu(w: &DMatrix<f64>) -> (DMatrix<f64>, DMatrix<f64>, DMatrix<f64>) {
    let n = w.nrows();
    let lu = w.clone().lu();
    // nalgebra factors `Pn · W = L · U`; our P is Pn⁻¹.
    let mut p = DMatrix::<f64>::identity(n, n);
    lu.p().inv_permute_rows(&mut p);
    (p, lu.l(), lu.u())
}

pub(crate) fn row_major(m: &DMatrix<f64>) -> Vec<f64> {
    m.transpose().as_slice().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plu_reconstructs_an_orthogonal_matrix() {
        let (params, buffers) = (VarMap::new(), VarMap::new());
        let mut b = ParamBuilder::new(&params, &buffers, 7, &Device::Cpu, DType::F32);
        for n in [1, 2, 5, 17] {
            let w = b.orthogonal(n).remove(0);
            assert!((&w.transpose() * &w - DMatrix::identity(n, n)).amax() < 1e-12);
            let (p, l, u) = plu(&w);
            assert!((&p * &l * &u - &w).amax() < 1e-12, "PLU != W for n={n}");
            for i in 0..n {
                assert_eq!(l[(i, i)], 1.0);
                for j in i + 1..n {
                    assert_eq!(l[(i, j)], 0.0);
                    assert_eq!(u[(j, i)], 0.0);
                }
            }
            // P is a permutation matrix.
            assert!(p.iter().all(|&v| v == 0.0 || v == 1.0));
            assert!(p.row_iter().all(|r| r.sum() == 1.0));
        }
    }
}
