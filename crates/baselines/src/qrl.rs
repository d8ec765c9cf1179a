//! QRL, quasimetric RL (Wang et al. 2023; OGBench `impls/agents/qrl.py`, its value network
//! `GCIQEValue` in `impls/utils/networks.py`). The value is a learned quasimetric `d(s, g)`: a
//! distance that obeys the triangle inequality but need not be symmetric. Pushed apart on random
//! pairs while every transition of the data stays within distance 1, the largest such d is the
//! number of steps from `s` to `g`, so QRL needs no Bellman backup, no rewards and no target
//! network.
//!
//! - Distance: φ an MLP encoder (`3 × 512`, GELU + LayerNorm, latent 512) and d the IQE (interval
//!   quasimetric embedding) of `x = φ(s)`, `y = φ(g)`: the latent is cut into components of 8
//!   coordinates; component c's length is that of the union `∪_i [x_ci, max(x_ci, y_ci)]`, and
//!   `d = σ(a)·mean_c len_c + (1 − σ(a))·max_c len_c` with a learned `a` (starting at 0).
//!   `d(x, x) = 0`, and d only counts the coordinates where `y` lies above `x`: asymmetric.
//! - Value, `g` a random dataset state: `L_d = mean 100·softplus(5 − d(s, g)/100) + sg(λ)·C`,
//!   `C = mean relu(d(s, s') − 1)²`, the softplus growing d up to ~500 and then letting go. λ is
//!   the Lagrange multiplier of `C ≤ ε` (ε = 0.05), `λ = exp(log λ)` from 1 and trained by
//!   `L_λ = λ·(ε − sg(C))`: it grows while the constraint is broken, shrinks while it holds.
//! - Latent dynamics (DDPG+BC only): `ẑ' = φ(s) + f([φ(s), a])`, f an MLP (`3 × 512 → 512`,
//!   GELU + LayerNorm), `L_f = mean (d(φ(s'), ẑ') + d(ẑ', φ(s')))/2`; it also trains φ and a.
//! - Actor, goals from the actor's mixture, π a unit-std Gaussian (`const_std`), `3 × 512` GELU:
//!   DDPG+BC through the dynamics by default, `q = −d(φ(s) + f([φ(s), clip(μ)]), φ(g))` with φ, f
//!   and a frozen, `L_π = −mean q / sg(mean |q| + 1e−6) − α·mean log π(a | s, g)`, α = 0.003; or
//!   AWR, `A = d(s, g) − d(s', g)`, `L_π = −mean min(exp(α·A), 100)·log π(a | s, g)`.
//! - One Adam step on `L_d + L_λ + L_f + L_π`; acting takes the Gaussian's mean (temperature 0).
//!
//! OGBench's MRN quasimetric (`quasimetric_type = 'mrn'`) and discrete actions are not carried
//! over: the study runs QRL as published, IQE with DDPG+BC. OGBench trains with batches of 1024;
//! here the batch is the run's (the suite's `batch_size`).

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, D};
use candle_nn::{Init, VarMap};
use envs::Batch;
use nf_core::{AdamW, Mlp};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rl::{check_finite, scalar, sorted_vars, Agent, AgentConfig, DataSpec, Fields, Metrics, Result};
use serde::{Deserialize, Serialize};

use crate::gc_value::{self as gv, cat, GcBatch, Mixture};

const NAME: &str = "qrl";

/// How the policy is extracted from the quasimetric (OGBench's `actor_loss`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QrlActorLoss {
    /// Advantage-weighted regression on `d(s, g) − d(s', g)` (α the temperature); no dynamics.
    Awr,
    /// The distance's gradient through the latent dynamics at the actor's mean, plus α × BC.
    Ddpgbc,
}

/// OGBench's `qrl.py` `get_config()`; per-dataset overrides in `impls/hyperparameters.sh` (α =
/// 0.003 on antmaze and antsoccer, 0.001 on humanoidmaze, 0.3 on manipulation `play`, 0.0003 on
/// pointmaze; γ = 0.995 on giant and humanoid mazes, where it only sets the geometric goal
/// offsets; stitch datasets draw actor goals half from the trajectory, half at random).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QrlConfig {
    /// Actor hidden widths (`actor_hidden_dims`: 512, 512, 512).
    pub actor_hidden: Vec<usize>,
    /// Hidden widths of the encoder φ and of the dynamics model (`value_hidden_dims`: 512, 512, 512).
    pub value_hidden: Vec<usize>,
    /// Width of φ's output, the latent the IQE reads (`latent_dim`: 512).
    pub latent_dim: usize,
    /// Coordinates per IQE component (`dim_per_component=8`, fixed in `create`, not a config key
    /// in OGBench); must divide `latent_dim`.
    pub dim_per_component: usize,
    /// LayerNorm after each hidden activation of φ and the dynamics (`layer_norm`: true).
    pub layer_norm: bool,
    /// Adam learning rate of every module (`lr`: 3e-4).
    pub lr: f64,
    /// Discount γ: QRL has no Bellman backup, so only the geometric goal offsets read it
    /// (`discount`: 0.99).
    pub discount: f64,
    /// The constraint's margin ε, `mean relu(d(s, s') − 1)² ≤ ε` (`eps`: 0.05).
    pub eps: f64,
    /// Policy extraction (`actor_loss`: "ddpgbc"); only DDPG+BC builds the dynamics model.
    pub actor_loss: QrlActorLoss,
    /// BC weight of DDPG+BC, or AWR's temperature (`alpha`: 0.003).
    pub alpha: f64,
    /// Probability that the value goal is the current state (`value_p_curgoal`: 0).
    pub value_p_curgoal: f64,
    /// … a later state of the same trajectory (`value_p_trajgoal`: 0).
    pub value_p_trajgoal: f64,
    /// … a random dataset state (`value_p_randomgoal`: 1): QRL's value goals are its negatives.
    pub value_p_randomgoal: f64,
    /// Trajectory value goals at geometric offsets, `Geom(1 − γ)` (`value_geom_sample`: true).
    pub value_geom_sample: bool,
    /// Probability that the actor goal is the current state (`actor_p_curgoal`: 0).
    pub actor_p_curgoal: f64,
    /// … a later state of the same trajectory (`actor_p_trajgoal`: 1).
    pub actor_p_trajgoal: f64,
    /// … a random dataset state (`actor_p_randomgoal`: 0).
    pub actor_p_randomgoal: f64,
    /// Trajectory actor goals at geometric offsets instead of uniform (`actor_geom_sample`: false).
    pub actor_geom_sample: bool,
}

impl Default for QrlConfig {
    fn default() -> Self {
        Self {
            actor_hidden: vec![512; 3],
            value_hidden: vec![512; 3],
            latent_dim: 512,
            dim_per_component: 8,
            layer_norm: true,
            lr: 3e-4,
            discount: 0.99,
            eps: 0.05,
            actor_loss: QrlActorLoss::Ddpgbc,
            alpha: 0.003,
            value_p_curgoal: 0.0,
            value_p_trajgoal: 0.0,
            value_p_randomgoal: 1.0,
            value_geom_sample: true,
            actor_p_curgoal: 0.0,
            actor_p_trajgoal: 1.0,
            actor_p_randomgoal: 0.0,
            actor_geom_sample: false,
        }
    }
}

impl QrlConfig {
    fn mixtures(&self) -> (Mixture, Mixture) {
        (
            Mixture { p_curgoal: self.value_p_curgoal, p_trajgoal: self.value_p_trajgoal, p_randomgoal: self.value_p_randomgoal, geom_sample: self.value_geom_sample },
            Mixture { p_curgoal: self.actor_p_curgoal, p_trajgoal: self.actor_p_trajgoal, p_randomgoal: self.actor_p_randomgoal, geom_sample: self.actor_geom_sample },
        )
    }
}

/// Each IQE component's length, `[n, components]`: for rows `x`, `y` of `[n, latent]` cut into
/// components of `k` coordinates, the length of `∪_i [x_i, max(x_i, y_i)]` (OGBench's `GCIQEValue`).
/// The 2k end points are sorted; walking them in order, an interval's start raises the depth and
/// its end lowers it (empty intervals, `x_i ≥ y_i`, count neither), and the union's length is
/// the sum of the points where the depth falls to 0 minus those where it leaves 0. Those ±1
/// coefficients are constant between ties, so the length's gradient is theirs, carried to
/// `x` and `y` through the `gather` of the sorted values (candle has no sort with a backward).
pub fn iqe_components(x: &Tensor, y: &Tensor, k: usize) -> Result<Tensor> {
    let (n, latent) = x.dims2()?;
    let c = latent / k;
    let (x, y) = (x.reshape((n, c, k))?, y.reshape((n, c, k))?);
    let valid = x.lt(&y)?.to_dtype(x.dtype())?;
    let xy = Tensor::cat(&[&x, &y], D::Minus1)?;
    let order = xy.detach().contiguous()?.arg_sort_last_dim(true)?;
    let sorted = xy.contiguous()?.gather(&order, D::Minus1)?;
    // +1 at a valid interval's start, −1 at its end, in sorted order; the depth is their running sum.
    let step = Tensor::cat(&[&valid, &valid.neg()?], D::Minus1)?.gather(&order, D::Minus1)?;
    let covered = step.cumsum(D::Minus1)?.gt(0.5)?.to_dtype(x.dtype())?;
    let before = Tensor::cat(&[&Tensor::zeros((n, c, 1), x.dtype(), x.device())?, &covered.narrow(D::Minus1, 0, 2 * k - 1)?], D::Minus1)?;
    let edges = (covered - before)?.detach();
    Ok((sorted * edges)?.sum(D::Minus1)?.neg()?)
}

/// The IQE quasimetric `α·mean_c len_c + (1 − α)·max_c len_c`, per row; `alpha` a scalar in [0, 1]
/// (the network's is `sigmoid` of a learned parameter).
pub fn iqe(x: &Tensor, y: &Tensor, k: usize, alpha: &Tensor) -> Result<Tensor> {
    let len = iqe_components(x, y, k)?;
    let (mean, max) = (len.mean(D::Minus1)?, len.max(D::Minus1)?);
    Ok((mean.broadcast_mul(alpha)? + max.broadcast_mul(&alpha.affine(-1.0, 1.0)?)?)?)
}

/// `log(1 + eˣ)` as `relu(x) + log(1 + e^−|x|)`, finite for any x.
fn softplus(x: &Tensor) -> Result<Tensor> {
    Ok((x.relu()? + (x.abs()?.neg()?.exp()? + 1.0)?.log()?)?)
}

/// QRL's constrained value objective from the distances to the value goals (`d_neg`) and to the
/// next states (`d_pos`): the value's loss `mean 100·softplus(5 − d_neg/100) + sg(λ)·C` and the
/// multiplier's `λ·(ε − sg(C))`, `C = mean relu(d_pos − 1)²`; with `C` itself.
fn value_objective(d_neg: &Tensor, d_pos: &Tensor, lam: &Tensor, eps: f64) -> Result<(Tensor, Tensor, Tensor)> {
    let d_neg_loss = (softplus(&d_neg.affine(-0.01, 5.0)?)? * 100.0)?.mean_all()?;
    let d_pos_loss = (d_pos - 1.0)?.relu()?.sqr()?.mean_all()?;
    let value_loss = (d_neg_loss + (&d_pos_loss * lam.detach())?)?;
    let lam_loss = (lam * d_pos_loss.detach().affine(-1.0, eps)?)?;
    Ok((value_loss, lam_loss, d_pos_loss))
}

pub struct Qrl {
    cfg: QrlConfig,
    /// Every module under the one Adam (OGBench steps its `ModuleDict` as one).
    vars: VarMap,
    actor: Mlp,
    /// The encoder φ (`value.phi.…`).
    phi: Mlp,
    /// The IQE's mixing parameter before its sigmoid (`value.alpha`, OGBench's `Param`, from 0).
    iqe_alpha: Tensor,
    /// log λ (`lam.log_value`, OGBench's `LogParam`, λ from 1).
    log_lam: Tensor,
    /// The latent dynamics f; built for DDPG+BC only, as OGBench does.
    dynamics: Option<Mlp>,
    opt: AdamW,
    obs_dim: usize,
    act_dim: usize,
    device: Device,
}

impl Qrl {
    pub fn new(cfg: QrlConfig, obs_dim: usize, act_dim: usize, seed: u64, device: &Device) -> Result<Self> {
        cfg.validate()?;
        let vars = VarMap::new();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let actor = gv::actor(&vars, obs_dim, &cfg.actor_hidden, act_dim, &mut rng, device)?;
        let phi = gv::mlp(&vars, "value.phi", obs_dim, &cfg.value_hidden, cfg.latent_dim, cfg.layer_norm, 1.0, &mut rng, device)?;
        let iqe_alpha = vars.get((), "value.alpha", Init::Const(0.0), DType::F32, device)?;
        let log_lam = vars.get((), "lam.log_value", Init::Const(0.0), DType::F32, device)?;
        let dynamics = match cfg.actor_loss {
            QrlActorLoss::Ddpgbc => Some(gv::mlp(&vars, "dynamics", cfg.latent_dim + act_dim, &cfg.value_hidden, cfg.latent_dim, cfg.layer_norm, 1.0, &mut rng, device)?),
            QrlActorLoss::Awr => None,
        };
        let opt = AdamW::adam(sorted_vars(&vars), cfg.lr)?;
        Ok(Self { cfg, vars, actor, phi, iqe_alpha, log_lam, dynamics, opt, obs_dim, act_dim, device: device.clone() })
    }
}

impl Agent for Qrl {
    fn name(&self) -> &str {
        NAME
    }
    fn data_spec(&self) -> DataSpec {
        AgentConfig::data_spec(&self.cfg)
    }
    fn update(&mut self, b: &Batch, _rng: &mut ChaCha8Rng) -> Result<Metrics> {
        let c = &self.cfg;
        let k = c.dim_per_component;
        let t = GcBatch::new(NAME, b, self.obs_dim, self.act_dim, &self.device)?;
        let alpha = candle_nn::ops::sigmoid(&self.iqe_alpha)?;
        let lam = self.log_lam.exp()?;

        // Value: far from random goals, within one step of the next state.
        let (zs, zs2, zg) = (self.phi.forward(&t.s)?, self.phi.forward(&t.s2)?, self.phi.forward(&t.g)?);
        let d_neg = iqe(&zs, &zg, k, &alpha)?;
        let d_pos = iqe(&zs, &zs2, k, &alpha)?;
        let (value_loss, lam_loss, d_pos_loss) = value_objective(&d_neg, &d_pos, &lam, c.eps)?;
        let mut m = vec![
            ("value_loss".to_string(), check_finite("value_loss", scalar(&value_loss)?)?),
            ("lam_loss".into(), check_finite("lam_loss", scalar(&lam_loss)?)?),
            ("d_neg_mean".into(), scalar(&d_neg.mean_all()?)?),
            ("d_pos_mean".into(), scalar(&d_pos.mean_all()?)?),
            ("d_pos_loss".into(), scalar(&d_pos_loss)?),
            ("lam".into(), scalar(&lam)?),
        ];
        let mut loss = (value_loss + lam_loss)?;

        // Dynamics (DDPG+BC only) and actor, on the actor goals; the actor's loss reads φ, the
        // IQE's α and the dynamics without training them.
        let zga = self.phi.forward_frozen(&t.ga)?;
        let mu = self.actor.forward(&cat(&[&t.s, &t.ga])?)?;
        let log_prob = gv::unit_log_prob(&t.a, &mu)?;
        let actor_loss = match &self.dynamics {
            Some(f) => {
                // Dynamics: the predicted next latent as near the true one as the quasimetric
                // can tell, both ways.
                let pred = (&zs + f.forward(&cat(&[&zs, &t.a])?)?)?;
                let dynamics_loss = ((iqe(&zs2, &pred, k, &alpha)? + iqe(&pred, &zs2, k, &alpha)?)? * 0.5)?.mean_all()?;
                m.push(("dynamics_loss".into(), check_finite("dynamics_loss", scalar(&dynamics_loss)?)?));
                loss = (loss + dynamics_loss)?;

                let zs = zs.detach();
                let next = (&zs + f.forward_frozen(&cat(&[&zs, &mu.clamp(-1f32, 1f32)?])?)?)?;
                let q = iqe(&next, &zga, k, &alpha.detach())?.neg()?;
                let (loss, q_loss, bc_loss) = gv::ddpgbc_loss(&q, &log_prob, c.alpha)?;
                m.push(("q_loss".into(), scalar(&q_loss)?));
                m.push(("bc_loss".into(), scalar(&bc_loss)?));
                m.push(("q_mean".into(), scalar(&q.mean_all()?)?));
                loss
            }
            None => {
                let alpha = alpha.detach();
                let adv = (iqe(&zs.detach(), &zga, k, &alpha)? - iqe(&zs2.detach(), &zga, k, &alpha)?)?;
                m.push(("adv".into(), scalar(&adv.mean_all()?)?));
                gv::awr_loss(&adv, &log_prob, c.alpha)?
            }
        };
        m.push(("actor_loss".into(), check_finite("actor_loss", scalar(&actor_loss)?)?));
        m.push(("bc_log_prob".into(), scalar(&log_prob.mean_all()?)?));
        m.push(("mse".into(), scalar(&(&mu - &t.a)?.sqr()?.mean_all()?)?));

        let grads = (loss + actor_loss)?.backward()?;
        self.opt.step(&grads)?;
        Ok(m)
    }
    fn act(&self, obs: &[f32], goals: Option<&[f32]>, n: usize, _rng: &mut ChaCha8Rng) -> Result<Vec<f32>> {
        gv::act(NAME, &self.actor, obs, goals, n, self.obs_dim, &self.device)
    }
    // No target networks: the shared checkpoint helpers get an empty target map.
    fn state(&self) -> Result<Vec<(String, Tensor)>> {
        gv::state(&self.vars, &VarMap::new(), &self.opt)
    }
    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        gv::load_state(NAME, &self.vars, &VarMap::new(), &mut self.opt, state)
    }
}

impl AgentConfig for QrlConfig {
    const NAME: &'static str = NAME;
    const SOURCE: &'static str = file!();
    type Agent = Qrl;

    fn data_spec(&self) -> DataSpec {
        let (value, actor) = self.mixtures();
        DataSpec::ValueGoals(gv::value_goals(value, actor, self.discount))
    }
    fn validate(&self) -> Result<()> {
        let f = Fields::of(Self::NAME);
        f.widths("actor_hidden", &self.actor_hidden)?;
        f.widths("value_hidden", &self.value_hidden)?;
        f.range("dim_per_component", self.dim_per_component, 1..)?;
        f.range("latent_dim", self.latent_dim, 1..)?;
        if !self.latent_dim.is_multiple_of(self.dim_per_component) {
            return Err(f.error("latent_dim", format!("{} is not a multiple of dim_per_component = {}", self.latent_dim, self.dim_per_component)));
        }
        f.positive("lr", self.lr)?;
        f.range("discount", self.discount, 0.0..1.0)?;
        f.non_negative("eps", self.eps)?;
        f.non_negative("alpha", self.alpha)?;
        let (value, actor) = self.mixtures();
        value.check(&f, "value")?;
        actor.check(&f, "actor")
    }
    fn build(&self, obs_dim: usize, act_dim: usize, seed: u64, device: &Device) -> Result<Qrl> {
        Qrl::new(self.clone(), obs_dim, act_dim, seed, device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Var;

    fn tiny() -> QrlConfig {
        QrlConfig { actor_hidden: vec![16, 16], value_hidden: vec![16, 16], latent_dim: 16, dim_per_component: 4, ..Default::default() }
    }

    fn batch(n: usize, seed: u64) -> Batch {
        rl::synthetic_batch(n, 3, 2, &AgentConfig::data_spec(&tiny()), &mut ChaCha8Rng::seed_from_u64(seed))
    }

    fn rows(v: &[f32], n: usize) -> Tensor {
        Tensor::from_slice(v, (n, v.len() / n), &Device::Cpu).unwrap()
    }

    fn values(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    }

    /// The IQE by hand. One component of two coordinates: x = (0, 0), y = (1, 3) → intervals
    /// [0, 1] ∪ [0, 3], length 3, and back (y to x) both intervals are empty, 0; x = (0, 2),
    /// y = (1, 3) → [0, 1] ∪ [2, 3] = 2 (a gap); x = (0, 2), y = (3, 1) → [0, 3] ∪ ∅ = 3, back
    /// ∅ ∪ [1, 2] = 1. d(x, x) = 0. Two components at α = 0.25: lengths (3, 1) →
    /// 0.25·2 + 0.75·3 = 2.75.
    #[test]
    fn iqe_distance_by_hand() {
        let x = rows(&[0.0, 0.0, 0.0, 2.0, 0.0, 2.0], 3);
        let y = rows(&[1.0, 3.0, 1.0, 3.0, 3.0, 1.0], 3);
        assert_eq!(values(&iqe_components(&x, &y, 2).unwrap()), [3.0, 2.0, 3.0]);
        assert_eq!(values(&iqe_components(&y, &x, 2).unwrap()), [0.0, 0.0, 1.0]);
        assert_eq!(values(&iqe_components(&x, &x, 2).unwrap()), [0.0; 3]);
        let (x2, y2) = (rows(&[0.0, 0.0, 0.0, 5.0], 1), rows(&[1.0, 3.0, 1.0, 4.0], 1));
        assert_eq!(values(&iqe_components(&x2, &y2, 2).unwrap()), [3.0, 1.0]);
        let alpha = Tensor::new(0.25f32, &Device::Cpu).unwrap();
        assert_eq!(values(&iqe(&x2, &y2, 2, &alpha).unwrap()), [2.75]);
        assert_eq!(values(&iqe(&x2, &x2, 2, &alpha).unwrap()), [0.0]);
    }

    /// The value objective by hand: d_neg = (500, 300) → softplus(0) = ln 2 and softplus(2) =
    /// ln(1 + e²), times 100, mean; d_pos = (0.5, 3) → relu(d − 1)² = (0, 4), C = 2; λ = 2 →
    /// value loss `d_neg term + 2·2`, λ's loss `2·(0.05 − 2) = −3.9`. The gradients keep the
    /// stop-gradients: ∂/∂log λ of the value loss is 0 and of λ's loss `λ·(ε − C) = −3.9` (a
    /// broken constraint raises λ); λ's loss sends nothing to d_pos, whose gradient is
    /// `sg(λ)·2·relu(d − 1)/2 = (0, 4)`.
    #[test]
    fn value_objective_by_hand() {
        let dev = Device::Cpu;
        let d_neg = Tensor::new(&[500f32, 300.0], &dev).unwrap();
        let d_pos = Var::new(&[0.5f32, 3.0], &dev).unwrap();
        let log_lam = Var::new(2f32.ln(), &dev).unwrap();
        let (value_loss, lam_loss, c) = value_objective(&d_neg, d_pos.as_tensor(), &log_lam.exp().unwrap(), 0.05).unwrap();
        let s = |t: &Tensor| t.to_scalar::<f32>().unwrap();
        let d_neg_term = 100.0 * (2f32.ln() + (1.0 + 2f32.exp()).ln()) / 2.0;
        assert!((s(&c) - 2.0).abs() < 1e-6, "{}", s(&c));
        assert!((s(&value_loss) - (d_neg_term + 4.0)).abs() < 1e-4, "{} vs {}", s(&value_loss), d_neg_term + 4.0);
        assert!((s(&lam_loss) + 3.9).abs() < 1e-5, "{}", s(&lam_loss));
        let g = value_loss.backward().unwrap();
        assert!(g.get(log_lam.as_tensor()).is_none_or(|g| s(g) == 0.0), "the value loss must not train λ");
        assert_eq!(values(g.get(d_pos.as_tensor()).unwrap()), [0.0, 4.0]);
        let g = lam_loss.backward().unwrap();
        assert!((s(g.get(log_lam.as_tensor()).unwrap()) + 3.9).abs() < 1e-5);
        assert!(g.get(d_pos.as_tensor()).is_none_or(|g| values(g) == [0.0, 0.0]), "λ's loss must not train the distance");
    }

    /// The IQE's gradient (through the sort, the mean/max mix and α) against central finite
    /// differences, in f64 on random points without ties, where the distance is linear around
    /// each point: 2 rows, 3 components of 4 coordinates.
    #[test]
    fn iqe_gradient_matches_finite_differences() {
        let dev = Device::Cpu;
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let mut draw = |n: usize| -> Vec<f64> { (0..n).map(|_| rand::Rng::random_range(&mut rng, -1.0..1.0)).collect() };
        let (xv, yv) = (draw(24), draw(24));
        let f = |x: &[f64], y: &[f64], a: f64| -> f64 {
            let t = |v: &[f64]| Tensor::from_slice(v, (2, 12), &dev).unwrap();
            iqe(&t(x), &t(y), 4, &Tensor::new(a, &dev).unwrap()).unwrap().sum_all().unwrap().to_scalar::<f64>().unwrap()
        };
        let (x, y) = (Var::from_slice(&xv, (2, 12), &dev).unwrap(), Var::from_slice(&yv, (2, 12), &dev).unwrap());
        let a = Var::new(0.3f64, &dev).unwrap();
        let g = iqe(x.as_tensor(), y.as_tensor(), 4, a.as_tensor()).unwrap().sum_all().unwrap().backward().unwrap();
        let grad = |v: &Var| g.get(v.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let (gx, gy) = (grad(&x), grad(&y));
        let h = 1e-6;
        let mut nonzero = 0;
        for i in 0..24 {
            let bump = |v: &[f64], d: f64| -> Vec<f64> { v.iter().enumerate().map(|(j, &u)| if j == i { u + d } else { u }).collect() };
            let fx = (f(&bump(&xv, h), &yv, 0.3) - f(&bump(&xv, -h), &yv, 0.3)) / (2.0 * h);
            let fy = (f(&xv, &bump(&yv, h), 0.3) - f(&xv, &bump(&yv, -h), 0.3)) / (2.0 * h);
            assert!((fx - gx[i]).abs() < 1e-6 && (fy - gy[i]).abs() < 1e-6, "coordinate {i}: ∂x {} vs {fx}, ∂y {} vs {fy}", gx[i], gy[i]);
            nonzero += (gx[i] != 0.0) as usize + (gy[i] != 0.0) as usize;
        }
        assert!(nonzero > 12, "only {nonzero} of 48 partials are non-zero: the test would not see a wrong gradient");
        let fa = (f(&xv, &yv, 0.3 + h) - f(&xv, &yv, 0.3 - h)) / (2.0 * h);
        let ga = g.get(a.as_tensor()).unwrap().to_scalar::<f64>().unwrap();
        assert!((fa - ga).abs() < 1e-6, "∂α {ga} vs {fa}");
    }

    /// A trained agent's state makes an agent of another seed act like it and keep training
    /// exactly like it (encoder, IQE α, λ, dynamics, actor and Adam moments all travel), for both
    /// policy extractions.
    #[test]
    fn state_round_trip_resumes_bit_exactly() {
        let dev = Device::Cpu;
        for actor_loss in [QrlActorLoss::Ddpgbc, QrlActorLoss::Awr] {
            let cfg = QrlConfig { actor_loss, ..tiny() };
            let mut a = Qrl::new(cfg.clone(), 3, 2, 1, &dev).unwrap();
            let mut rng = ChaCha8Rng::seed_from_u64(3);
            for s in 0..3 {
                a.update(&batch(32, s), &mut rng).unwrap();
            }
            let obs: Vec<f32> = (0..4 * 3).map(|i| (i as f32 * 0.37).sin()).collect();
            let goals: Vec<f32> = (0..4 * 3).map(|i| (i as f32 * 0.71).cos()).collect();
            let act = |x: &Qrl| x.act(&obs, Some(&goals), 4, &mut ChaCha8Rng::seed_from_u64(5)).unwrap();
            let mut b = Qrl::new(cfg, 3, 2, 99, &dev).unwrap();
            assert_ne!(act(&a), act(&b), "another seed acts differently before loading");
            b.load_state(&a.state().unwrap().into_iter().collect()).unwrap();
            assert_eq!(act(&a), act(&b));
            let (mut ra, mut rb) = (ChaCha8Rng::seed_from_u64(8), ChaCha8Rng::seed_from_u64(8));
            for s in 3..8 {
                assert_eq!(a.update(&batch(32, s), &mut ra).unwrap(), b.update(&batch(32, s), &mut rb).unwrap(), "{actor_loss:?} step {s}");
            }
            assert_eq!(act(&a), act(&b));
            let (sa, sb): (HashMap<_, _>, HashMap<_, _>) = (a.state().unwrap().into_iter().collect(), b.state().unwrap().into_iter().collect());
            assert_eq!(sa.len(), sb.len());
            for (k, t) in &sa {
                let as_f64 = |t: &Tensor| t.flatten_all().unwrap().to_dtype(DType::F64).unwrap().to_vec1::<f64>().unwrap();
                assert_eq!(as_f64(t), as_f64(&sb[k]), "{k}");
            }
            assert!(sa.contains_key("value.phi.out.weight") && sa.contains_key("value.alpha") && sa.contains_key("lam.log_value") && sa.contains_key("opt.t"));
            assert_eq!(sa.contains_key("dynamics.out.weight"), actor_loss == QrlActorLoss::Ddpgbc);
            // λ and α trained: neither is still at its initial 0.
            assert!(as_scalar(&sa["lam.log_value"]) != 0.0 && as_scalar(&sa["value.alpha"]) != 0.0);
        }
    }

    fn as_scalar(t: &Tensor) -> f32 {
        t.to_scalar::<f32>().unwrap()
    }

    #[test]
    fn bad_configs_and_foreign_checkpoints_are_named() {
        let err = |c: QrlConfig| c.validate().unwrap_err().to_string();
        for (field, cfg) in [
            ("latent_dim", QrlConfig { latent_dim: 18, ..tiny() }),
            ("dim_per_component", QrlConfig { dim_per_component: 0, ..tiny() }),
            ("eps", QrlConfig { eps: -0.1, ..tiny() }),
            ("discount", QrlConfig { discount: 1.0, ..tiny() }),
            ("alpha", QrlConfig { alpha: -1.0, ..tiny() }),
            ("lr", QrlConfig { lr: 0.0, ..tiny() }),
            ("value_hidden[1]", QrlConfig { value_hidden: vec![16, 0], ..tiny() }),
            ("value_p_randomgoal", QrlConfig { value_p_randomgoal: 1.5, ..tiny() }),
            ("actor_p_curgoal + actor_p_trajgoal + actor_p_randomgoal", QrlConfig { actor_p_randomgoal: 0.5, ..tiny() }),
        ] {
            let e = err(cfg);
            assert!(e.contains(NAME) && e.contains(&format!("`{field}`")), "{field}: {e}");
        }
        let dev = Device::Cpu;
        let mut a = Qrl::new(tiny(), 3, 2, 0, &dev).unwrap();
        let bc = crate::Bc::new(crate::BcConfig { hidden: vec![16, 16], ..Default::default() }, 6, 2, 0, &dev).unwrap();
        let e = a.load_state(&bc.state().unwrap().into_iter().collect()).unwrap_err().to_string();
        assert!(e.contains(NAME) && e.contains("lacks `dynamics.0.bias`"), "{e}");
        let civl = crate::Gcivl::new(crate::GcivlConfig { actor_hidden: vec![16, 16], value_hidden: vec![16, 16], ..Default::default() }, 3, 2, 0, &dev).unwrap();
        let mut awr = Qrl::new(QrlConfig { actor_loss: QrlActorLoss::Awr, ..tiny() }, 3, 2, 0, &dev).unwrap();
        let e = awr.load_state(&civl.state().unwrap().into_iter().collect()).unwrap_err().to_string();
        assert!(e.contains(NAME) && e.contains("lacks `lam.log_value`"), "{e}");
        let wide = Qrl::new(QrlConfig { latent_dim: 32, ..tiny() }, 3, 2, 0, &dev).unwrap();
        let e = a.load_state(&wide.state().unwrap().into_iter().collect()).unwrap_err().to_string();
        assert!(e.contains(NAME) && e.contains("`dynamics.0.weight`") && e.contains("shape"), "{e}");
        let e = a.update(&rl::synthetic_batch(8, 3, 2, &DataSpec::Transitions, &mut ChaCha8Rng::seed_from_u64(0)), &mut ChaCha8Rng::seed_from_u64(0)).unwrap_err().to_string();
        assert!(e.contains(NAME) && e.contains("actor goals"), "{e}");
    }

    /// QRL through the shared training loop on pointmaze-medium-navigate (200 episodes of 1,001
    /// steps, the GCBC learning test's data), success over its 5 tasks × 20 episodes; OGBench's
    /// defaults (IQE, DDPG+BC, α = 0.003) but for smaller networks and lr 1e-3. The quasimetric
    /// needs most of the budget to spread its distances (d to random goals ~230 after 1,000
    /// steps, λ still rising), and the policy solves nothing before step 750, then one task of
    /// five. Measured (debug test build, 2 cores shared at load 5–10, 65–105 s): random 0.00;
    /// QRL 0.00 / 0.25 at steps 500 / 1,000 (0.00 / 0.00 / 0.00 / 0.25 / 0.20 / 0.20 every 250
    /// steps to 1,500); with training seeds 1 and 2 instead, 0.20 and 0.18 at 1,000 steps; with
    /// actor 128 × 2, 0.07 (46 s).
    #[test]
    fn beats_a_random_policy_on_pointmaze_medium() {
        let task = envs::Task::resolve("pointmaze-medium-navigate").unwrap();
        let cfg = QrlConfig { actor_hidden: vec![256, 256], value_hidden: vec![128, 128], latent_dim: 64, lr: 1e-3, ..Default::default() };
        let mut agent = Qrl::new(cfg, task.obs_dim, task.act_dim, 0, &Device::Cpu).unwrap();
        crate::gc_value::assert_beats_random_on_pointmaze_medium("QRL", &mut agent, 1000, 500, 256);
    }
}
