//! The denoising-diffusion schedule and samplers Diffusion Policy uses through diffusers
//! (`DDPMScheduler`, `DDIMScheduler`): the squared-cosine ("squaredcos_cap_v2") noise schedule,
//! the forward noising `x_t = √ᾱ_t x₀ + √(1 − ᾱ_t) ε`, and one reverse step of either sampler
//! for an ε-predicting model, with the predicted x₀ clipped to [−1, 1] (`clip_sample`).
//!
//! Coefficients are computed in f64 once; the per-step arithmetic is on flat f32 rows, since
//! sampling runs outside the autograd graph.

use rand::Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

/// Which reverse process samples at evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sampler {
    /// Ancestral DDPM with the "fixed_small" variance (the reference's PushT setting).
    Ddpm,
    /// Deterministic DDIM (η = 0) on an evenly strided subset of the training steps.
    Ddim,
}

#[derive(Clone, Debug)]
pub struct Schedule {
    /// ᾱ_t for t = 0 … T − 1.
    alphas_cumprod: Vec<f64>,
}

impl Schedule {
    /// `betas_for_alpha_bar` with `ᾱ(s) = cos²((s + 0.008) / 1.008 · π/2)` and β capped at 0.999.
    pub fn squared_cosine(steps: usize) -> Self {
        let bar = |s: f64| ((s + 0.008) / 1.008 * std::f64::consts::FRAC_PI_2).cos().powi(2);
        let mut prod = 1.0;
        let alphas_cumprod = (0..steps)
            .map(|i| {
                let beta = (1.0 - bar((i + 1) as f64 / steps as f64) / bar(i as f64 / steps as f64)).min(0.999);
                prod *= 1.0 - beta;
                prod
            })
            .collect();
        Self { alphas_cumprod }
    }

    pub fn steps(&self) -> usize {
        self.alphas_cumprod.len()
    }

    /// `(√ᾱ_t, √(1 − ᾱ_t))`: the forward process's coefficients at step t.
    pub fn noising(&self, t: usize) -> (f64, f64) {
        let a = self.alphas_cumprod[t];
        (a.sqrt(), (1.0 - a).sqrt())
    }

    /// The steps a sampler visits, from the noisiest: all T for DDPM with T inference steps,
    /// else diffusers' `set_timesteps` spacing `(0..n) · ⌊T/n⌋`, reversed.
    pub fn timesteps(&self, inference_steps: usize) -> Vec<usize> {
        let ratio = (self.steps() / inference_steps.max(1)).max(1);
        (0..inference_steps.min(self.steps())).map(|i| i * ratio).rev().collect()
    }

    /// One reverse step from `x` at step `t` given the model's ε, in place. `prev` is the next
    /// visited step (`None` after the last, where ᾱ = 1). DDPM adds `σ_t · z` with
    /// `σ_t² = (1 − ᾱ_prev)/(1 − ᾱ_t) · β_t` (`fixed_small`) for t > 0; DDIM adds nothing.
    pub fn step(&self, sampler: Sampler, x: &mut [f32], eps: &[f32], t: usize, prev: Option<usize>, rng: &mut impl Rng) {
        let a_t = self.alphas_cumprod[t];
        let a_prev = prev.map_or(1.0, |p| self.alphas_cumprod[p]);
        let (b_t, b_prev) = (1.0 - a_t, 1.0 - a_prev);
        match sampler {
            Sampler::Ddpm => {
                let alpha = a_t / a_prev;
                let beta = 1.0 - alpha;
                let c_x0 = a_prev.sqrt() * beta / b_t;
                let c_xt = alpha.sqrt() * b_prev / b_t;
                let sigma = if t > 0 { (b_prev / b_t * beta).max(1e-20).sqrt() } else { 0.0 };
                for (xi, &e) in x.iter_mut().zip(eps) {
                    let x0 = ((*xi as f64 - b_t.sqrt() * e as f64) / a_t.sqrt()).clamp(-1.0, 1.0);
                    let mut next = c_x0 * x0 + c_xt * *xi as f64;
                    if t > 0 {
                        next += sigma * rng.sample::<f64, _>(StandardNormal);
                    }
                    *xi = next as f32;
                }
            }
            Sampler::Ddim => {
                for (xi, &e) in x.iter_mut().zip(eps) {
                    let x0 = ((*xi as f64 - b_t.sqrt() * e as f64) / a_t.sqrt()).clamp(-1.0, 1.0);
                    *xi = (a_prev.sqrt() * x0 + b_prev.sqrt() * e as f64) as f32;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// With no β capped, ᾱ_t telescopes to ᾱ((t+1)/T)/ᾱ(0) (diffusers' `betas_for_alpha_bar`
    /// definition); the cap keeps the last ᾱ positive; the timestep lists are diffusers'.
    #[test]
    fn schedule_matches_diffusers() {
        let s = Schedule::squared_cosine(100);
        // β₀ = 1 − ᾱ(0.01)/ᾱ(0) by the definition; ᾱ decreases to nearly 0, capped β = 0.999.
        let bar = |s: f64| ((s + 0.008) / 1.008 * std::f64::consts::FRAC_PI_2).cos().powi(2);
        assert!((s.alphas_cumprod[0] - bar(0.01) / bar(0.0)).abs() < 1e-12);
        assert!((s.alphas_cumprod[49] - bar(0.5) / bar(0.0)).abs() < 1e-9, "{}", s.alphas_cumprod[49]);
        assert!(s.alphas_cumprod.windows(2).all(|w| w[1] < w[0]) && s.alphas_cumprod[99] > 0.0 && s.alphas_cumprod[99] < 1e-4);
        assert_eq!(s.timesteps(100), (0..100).rev().collect::<Vec<_>>());
        assert_eq!(s.timesteps(10), vec![90, 80, 70, 60, 50, 40, 30, 20, 10, 0]);
    }

    /// With the true noise, one reverse step of either sampler from step t recovers the
    /// posterior mean / the DDIM point: starting from x_t = √ᾱ x₀ + √(1−ᾱ) ε and stepping to
    /// the end (no `prev`), x₀ comes back exactly.
    #[test]
    fn a_step_with_the_true_noise_returns_the_clean_sample() {
        let s = Schedule::squared_cosine(100);
        let x0 = [0.3f32, -0.7, 0.05];
        let eps = [1.2f32, -0.4, 0.9];
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        for sampler in [Sampler::Ddpm, Sampler::Ddim] {
            for t in [0usize, 10, 60] {
                let (a, b) = s.noising(t);
                let mut x: Vec<f32> = x0.iter().zip(&eps).map(|(&x, &e)| (a * x as f64 + b * e as f64) as f32).collect();
                s.step(sampler, &mut x, &eps, t, None, &mut rng);
                for (got, want) in x.iter().zip(x0) {
                    assert!((got - want).abs() < 1e-4, "{sampler:?} t={t}: {got} vs {want}");
                }
            }
        }
    }
}
