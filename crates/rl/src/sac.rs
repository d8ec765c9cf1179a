//! The SAC-style goal-conditioned actor of the online agents (NF-UGS and the three online CRL
//! variants share it, as their reference scripts do: `unsupservised-gcrl/models.py` `Actor`,
//! `train_auto_NF_rl.py` `update_actor_and_alpha`).
//!
//! π(a | s, g) = tanh(μ + σ·ε), ε ~ N(0, I), with `log σ` squashed into [−5, 2] through tanh
//! (SpinUp's rule), and the entropy temperature α = exp(log α) tuned toward the target entropy
//! −|A|/2 by `loss_α = α · mean(stopgrad(−log π − H*))`.

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarMap;
use nf_core::{Activation, AdamW, Mlp};
use rand_chacha::ChaCha8Rng;

use crate::agent::{check_finite, scalar, sorted_vars};
use crate::error::Result;

const LOG_STD_MIN: f64 = -5.0;
const LOG_STD_MAX: f64 = 2.0;

/// A tanh-Gaussian policy head on an MLP of `[state, goal input]` (the goal input is the raw goal
/// for NF-UGS, the goal's representation ψ(g) for the latent-actor CRL variants). Hidden layers
/// are `Dense → LayerNorm → swish`, the reference's order.
pub struct TanhGaussianActor {
    net: Mlp,
    act_dim: usize,
}

/// A reparameterised draw: actions `[n, act_dim]` and their log-density `[n]` (with the tanh
/// correction), differentiable with respect to the actor's parameters.
pub struct ActorSample {
    pub actions: Tensor,
    pub log_prob: Tensor,
}

impl TanhGaussianActor {
    /// Registers `{name}.*` in `vars`. `input` is the width of `[state, goal input]`.
    pub fn new(vars: &VarMap, name: &str, input: usize, hidden: &[usize], act_dim: usize, seed: u64, device: &Device) -> Result<Self> {
        let net = Mlp::new(vars, name, input, hidden, 2 * act_dim, Activation::Silu, true, seed, device)?.norm_before_activation();
        Ok(Self { net, act_dim })
    }

    /// `(μ, log σ)`, each `[n, act_dim]`.
    pub fn dist(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let out = self.net.forward(x)?;
        let mean = out.narrow(1, 0, self.act_dim)?;
        let raw = out.narrow(1, self.act_dim, self.act_dim)?.tanh()?;
        let log_std = ((raw + 1.0)? * (0.5 * (LOG_STD_MAX - LOG_STD_MIN)))? + LOG_STD_MIN;
        Ok((mean, log_std?))
    }

    /// The evaluation policy: `tanh(μ)`.
    pub fn deterministic(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.dist(x)?.0.tanh()?)
    }

    /// A reparameterised sample with log π(a | s, g) = Σ [log N(u; μ, σ) − log(1 − tanh(u)² + 1e-6)]
    /// (the reference's correction, ε included).
    pub fn sample(&self, x: &Tensor, rng: &mut ChaCha8Rng) -> Result<ActorSample> {
        let (mean, log_std) = self.dist(x)?;
        let eps = standard_normal(mean.dims(), rng, mean.device())?;
        let std = log_std.exp()?;
        let u = (&mean + (&std * &eps)?)?;
        let actions = u.tanh()?;
        // log N(u; μ, σ) = −ε²/2 − log σ − log √(2π).
        let gauss = ((eps.sqr()? * -0.5)? - &log_std)? - 0.5 * (2.0 * std::f64::consts::PI).ln();
        let squash = ((actions.sqr()? * -1.0)? + (1.0 + 1e-6))?.log()?;
        let log_prob = (gauss? - squash)?.sum(1)?;
        Ok(ActorSample { actions, log_prob })
    }

    /// Exploration actions as plain numbers (no graph kept).
    pub fn sample_values(&self, x: &Tensor, rng: &mut ChaCha8Rng) -> Result<Vec<f32>> {
        let (mean, log_std) = self.dist(&x.detach())?;
        let eps = standard_normal(mean.dims(), rng, mean.device())?;
        Ok((mean + (log_std.exp()? * eps)?)?.tanh()?.flatten_all()?.to_vec1()?)
    }
}

/// `[dims]` standard-normal f32 draws from `rng` (the online agents' noise comes from the loop's
/// per-step streams, so a run is reproducible and resumes bit-exactly).
pub fn standard_normal(dims: &[usize], rng: &mut ChaCha8Rng, device: &Device) -> Result<Tensor> {
    use rand::Rng;
    let n: usize = dims.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.sample::<f32, _>(rand_distr::StandardNormal)).collect();
    Ok(Tensor::from_vec(v, dims, device)?)
}

/// The automatic entropy temperature: log α (starts at 0, so α = 1), its Adam optimiser, and the
/// target entropy H* = −|A|/2 (the reference's `target_entropy = -0.5 * action_size`).
pub struct Temperature {
    vars: VarMap,
    log_alpha: Var,
    opt: AdamW,
    target: f64,
}

impl Temperature {
    pub fn new(act_dim: usize, lr: f64, device: &Device) -> Result<Self> {
        let vars = VarMap::new();
        vars.get((), "log_alpha", candle_nn::Init::Const(0.0), DType::F32, device)?;
        let log_alpha = sorted_vars(&vars).remove(0);
        let opt = AdamW::adam(vec![log_alpha.clone()], lr)?;
        Ok(Self { vars, log_alpha, opt, target: -0.5 * act_dim as f64 })
    }

    pub fn alpha(&self) -> Result<f64> {
        scalar(&self.log_alpha.as_tensor().exp()?)
    }

    pub fn target(&self) -> f64 {
        self.target
    }

    /// One Adam step on `α · (−mean log π − H*)` given this batch's mean log π (already
    /// detached); returns the loss. α rises while the policy's entropy is below the target.
    pub fn update(&mut self, mean_log_pi: f64) -> Result<f64> {
        let gap = check_finite("alpha_gap", -mean_log_pi - self.target)?;
        let loss = (self.log_alpha.as_tensor().exp()? * gap)?;
        let value = scalar(&loss)?;
        self.opt.step(&loss.backward()?)?;
        Ok(value)
    }

    /// `{prefix}log_alpha` and its optimiser state.
    pub fn state(&self, prefix: &str) -> Result<Vec<(String, Tensor)>> {
        let mut out = crate::agent::varmap_state(&self.vars, prefix);
        out.extend(self.opt.state(&format!("{prefix}opt."))?);
        Ok(out)
    }

    pub fn load_state(&mut self, state: &std::collections::HashMap<String, Tensor>, prefix: &str) -> Result<()> {
        crate::agent::load_varmap(&self.vars, state, prefix)?;
        self.opt.load_state(&format!("{prefix}opt."), state)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    /// The entropy temperature moves toward its target: with a policy far less random than the
    /// target (mean log π = 3 > −H*), α grows; far more random (mean log π = −5), α shrinks.
    #[test]
    fn the_temperature_moves_toward_its_target() {
        let dev = Device::Cpu;
        for (log_pi, grows) in [(3.0, true), (-5.0, false)] {
            let mut t = Temperature::new(2, 3e-4, &dev).unwrap();
            assert_eq!(t.target(), -1.0);
            let a0 = t.alpha().unwrap();
            for _ in 0..50 {
                t.update(log_pi).unwrap();
            }
            let a1 = t.alpha().unwrap();
            assert!(if grows { a1 > a0 * 1.01 } else { a1 < a0 * 0.99 }, "log π {log_pi}: α {a0} → {a1}");
        }
    }

    /// The sample's log-density is the tanh-Gaussian's: against the closed form computed from
    /// the drawn actions, μ and σ in f64.
    #[test]
    fn sample_log_prob_matches_the_closed_form() {
        let dev = Device::Cpu;
        let vars = VarMap::new();
        let actor = TanhGaussianActor::new(&vars, "actor", 4, &[16, 16], 2, 3, &dev).unwrap();
        let x = Tensor::from_vec((0..12).map(|i| (i as f32 * 0.37).sin()).collect::<Vec<f32>>(), (3, 4), &dev).unwrap();
        let s = actor.sample(&x, &mut ChaCha8Rng::seed_from_u64(9)).unwrap();
        let (mean, log_std) = actor.dist(&x).unwrap();
        let rows = |t: &Tensor| -> Vec<Vec<f32>> { t.to_vec2().unwrap() };
        let (a, m, ls) = (rows(&s.actions), rows(&mean), rows(&log_std));
        let lp: Vec<f32> = s.log_prob.to_vec1().unwrap();
        for r in 0..3 {
            let mut want = 0.0f64;
            for d in 0..2 {
                let (a, m, ls) = (a[r][d] as f64, m[r][d] as f64, ls[r][d] as f64);
                assert!((LOG_STD_MIN..=LOG_STD_MAX).contains(&ls));
                let u = a.atanh();
                let z = (u - m) / ls.exp();
                want += -0.5 * z * z - ls - 0.5 * (2.0 * std::f64::consts::PI).ln() - (1.0 - a * a + 1e-6).ln();
            }
            assert!((lp[r] as f64 - want).abs() < 1e-3 * want.abs().max(1.0), "row {r}: {} vs {want}", lp[r]);
        }
    }
}
