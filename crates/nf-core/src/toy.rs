//! 2-D toy densities (FFJORD's definitions) for the `fit2d` example and the flow's own tests.
//! Eight-Gaussians and checkerboard have closed-form densities, so a fitted flow can be scored
//! against the true entropy.

use std::str::FromStr;

use rand::Rng;
use rand_distr::StandardNormal;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toy2d {
    EightGaussians,
    TwoMoons,
    Checkerboard,
}

impl FromStr for Toy2d {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "eight-gaussians" => Ok(Self::EightGaussians),
            "two-moons" => Ok(Self::TwoMoons),
            "checkerboard" => Ok(Self::Checkerboard),
            _ => Err(format!("unknown distribution `{s}`; known: eight-gaussians, two-moons, checkerboard")),
        }
    }
}

/// Eight-Gaussians: centres `4·(cos θ, sin θ)/√2` at θ = kπ/4, std `0.5/√2`.
const EG_SCALE: f64 = 4.0 / std::f64::consts::SQRT_2;
const EG_STD: f64 = 0.5 / std::f64::consts::SQRT_2;

impl Toy2d {
    pub fn sample(&self, rng: &mut impl Rng) -> [f64; 2] {
        match self {
            Toy2d::EightGaussians => {
                let k = rng.random_range(0..8) as f64;
                let th = k * std::f64::consts::FRAC_PI_4;
                let (a, b): (f64, f64) = (rng.sample(StandardNormal), rng.sample(StandardNormal));
                [EG_SCALE * th.cos() + EG_STD * a, EG_SCALE * th.sin() + EG_STD * b]
            }
            Toy2d::TwoMoons => {
                // sklearn make_moons(noise=0.1), scaled by 2 and shifted by (-1, -0.2) as in FFJORD.
                let t = rng.random_range(0.0..std::f64::consts::PI);
                let (x, y) = if rng.random_bool(0.5) { (t.cos(), t.sin()) } else { (1.0 - t.cos(), 0.5 - t.sin()) };
                let (a, b): (f64, f64) = (rng.sample(StandardNormal), rng.sample(StandardNormal));
                [2.0 * (x + 0.1 * a) - 1.0, 2.0 * (y + 0.1 * b) - 0.2]
            }
            Toy2d::Checkerboard => {
                let x1: f64 = rng.random_range(-2.0..2.0);
                let x2 = rng.random_range(0.0..1.0) - 2.0 * rng.random_range(0..2) as f64 + (x1.floor().rem_euclid(2.0));
                [2.0 * x1, 2.0 * x2]
            }
        }
    }

    /// The exact log-density where it has a closed form.
    pub fn log_density(&self, p: [f64; 2]) -> Option<f64> {
        match self {
            Toy2d::EightGaussians => {
                let norm = -(2.0 * std::f64::consts::PI * EG_STD * EG_STD).ln();
                let terms: Vec<f64> = (0..8)
                    .map(|k| {
                        let th = k as f64 * std::f64::consts::FRAC_PI_4;
                        let (dx, dy) = (p[0] - EG_SCALE * th.cos(), p[1] - EG_SCALE * th.sin());
                        norm - (dx * dx + dy * dy) / (2.0 * EG_STD * EG_STD)
                    })
                    .collect();
                let m = terms.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                Some(m + (terms.iter().map(|t| (t - m).exp()).sum::<f64>() / 8.0).ln())
            }
            Toy2d::Checkerboard => {
                // 8 squares of side 2 in [-4, 4]²: density 1/32 on them.
                let (cx, cy) = ((p[0] / 2.0).floor() as i64, (p[1] / 2.0).floor() as i64);
                let inside = p[0].abs() < 4.0 && p[1].abs() < 4.0 && (cx + cy).rem_euclid(2) == 0;
                Some(if inside { -(32f64).ln() } else { f64::NEG_INFINITY })
            }
            Toy2d::TwoMoons => None,
        }
    }

    /// Monte-Carlo estimate of the entropy `−E log p(x)` (nats), where the density is known.
    pub fn entropy(&self, rng: &mut impl Rng, n: usize) -> Option<f64> {
        let mut acc = 0.0;
        for _ in 0..n {
            acc -= self.log_density(self.sample(rng))?;
        }
        Some(acc / n as f64)
    }
}

/// Trains `flow` (unconditional, dim 2) on `toy` by maximum likelihood, calling `on_step(step,
/// loss)` after each update. Batches come from `rng`, so a seed fixes the whole run.
pub fn fit(flow: &crate::ConditionalFlow, toy: Toy2d, trainer: &mut crate::optim::Trainer, steps: usize, batch: usize, rng: &mut impl Rng, mut on_step: impl FnMut(usize, f64)) -> crate::Result<()> {
    if flow.config().dim != 2 || flow.config().cond_dim != 0 {
        return Err(crate::FlowError::Config { field: "dim", reason: format!("toy fitting needs an unconditional 2-D flow, got dim {} cond_dim {}", flow.config().dim, flow.config().cond_dim) });
    }
    for step in 0..steps {
        let x = samples_tensor(toy, rng, batch, flow.dtype(), flow.device())?;
        let loss = flow.nll_loss(&x, None, rng)?;
        let value = trainer.step(&loss)?;
        on_step(step, value);
    }
    Ok(())
}

pub fn samples_tensor(toy: Toy2d, rng: &mut impl Rng, n: usize, dtype: candle_core::DType, device: &candle_core::Device) -> crate::Result<candle_core::Tensor> {
    let v: Vec<f64> = (0..n).flat_map(|_| toy.sample(rng)).collect();
    Ok(candle_core::Tensor::from_vec(v, (n, 2), &candle_core::Device::Cpu)?.to_dtype(dtype)?.to_device(device)?)
}

/// `log p` of a 2-D flow at the centres of an `n × n` grid over `[lo, hi]²`, row by row
/// (x fastest within a row of constant y); returns `(x, y, log_prob)` triples.
pub fn density_grid(flow: &crate::ConditionalFlow, n: usize, lo: f64, hi: f64) -> crate::Result<Vec<[f64; 3]>> {
    let h = (hi - lo) / n as f64;
    let pts: Vec<[f64; 2]> = (0..n * n).map(|k| [lo + ((k % n) as f64 + 0.5) * h, lo + ((k / n) as f64 + 0.5) * h]).collect();
    let mut out = Vec::with_capacity(n * n);
    for chunk in pts.chunks(4096) {
        let flat: Vec<f64> = chunk.iter().flatten().copied().collect();
        let x = candle_core::Tensor::from_vec(flat, (chunk.len(), 2), &candle_core::Device::Cpu)?.to_dtype(flow.dtype())?.to_device(flow.device())?;
        let lp: Vec<f64> = flow.log_prob(&x, None)?.to_dtype(candle_core::DType::F64)?.to_vec1()?;
        out.extend(chunk.iter().zip(lp).map(|(p, l)| [p[0], p[1], l]));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn closed_form_densities_integrate_to_one_and_match_samples() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        for toy in [Toy2d::EightGaussians, Toy2d::Checkerboard] {
            let n = 400;
            let h = 8.0 / n as f64;
            let mut mass = 0.0;
            for i in 0..n {
                for j in 0..n {
                    let p = [-4.0 + (i as f64 + 0.5) * h, -4.0 + (j as f64 + 0.5) * h];
                    mass += toy.log_density(p).unwrap().exp() * h * h;
                }
            }
            assert!((mass - 1.0).abs() < 1e-2, "{toy:?} integrates to {mass}");
            // Samples land where the density is positive.
            for _ in 0..1000 {
                assert!(toy.log_density(toy.sample(&mut rng)).unwrap() > -30.0);
            }
        }
        let h = Toy2d::Checkerboard.entropy(&mut rng, 1000).unwrap();
        assert!((h - 32f64.ln()).abs() < 1e-9);
    }
}
