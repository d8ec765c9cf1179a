//! GCIVL, goal-conditioned implicit V-learning (OGBench `impls/agents/gcivl.py`): IQL with a
//! value function only. Without a Q to ask about the dataset's action, the value regresses to an
//! upper expectile of the one-step return `r + γ·m·V̄(s', g)` itself, which approaches the value
//! of the best action the dataset shows from `s` (optimistic in stochastic dynamics, where a lucky
//! `s'` counts as a choice). Rewards are OGBench's `gc_negative` ones: `r = −1` until `s = g`.
//!
//! - Value: two V's (`3 × 512`, GELU + LayerNorm) and their Polyak targets V̄ (τ = 0.005). The
//!   sign of the expectile comes from the targets, the regression from each V's own target:
//!   `A = r + γ·m·min_i V̄_i(s', g) − mean_i V̄_i(s, g)`,
//!   `L_V = Σ_i mean |τ_e − 1(A < 0)|·(r + γ·m·V̄_i(s', g) − V_i(s, g))²`, τ_e = 0.9.
//! - Actor (AWR, goals from the actor's mixture, V frozen): `A = V(s', g) − V(s, g)` (V the mean
//!   of the two), `L_π = −mean min(exp(α·A), 100)·log π(a | s, g)`, α = 10; π a unit-std
//!   Gaussian (`const_std`), `3 × 512` GELU.
//! - One Adam step on `L_V + L_π`; acting takes the Gaussian's mean (temperature 0).
//!
//! OGBench trains with batches of 1024; here the batch is the run's (the suite's `batch_size`).

use std::collections::HashMap;
use std::ops::Bound;

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use envs::Batch;
use nf_core::{AdamW, Mlp};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rl::{check_finite, scalar, sorted_vars, Agent, AgentConfig, DataSpec, Fields, Metrics, Result};
use serde::{Deserialize, Serialize};

use crate::gc_value::{self as gv, cat, GcBatch, Mixture};

const NAME: &str = "gcivl";

/// OGBench's `gcivl.py` `get_config()`; per-dataset overrides in `impls/hyperparameters.sh`
/// (α = 10 everywhere; γ = 0.995 on giant and humanoid mazes; stitch datasets draw actor goals
/// half from the trajectory, half at random).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GcivlConfig {
    /// Actor hidden widths (`actor_hidden_dims`: 512, 512, 512).
    pub actor_hidden: Vec<usize>,
    /// Value hidden widths (`value_hidden_dims`: 512, 512, 512).
    pub value_hidden: Vec<usize>,
    /// LayerNorm after each hidden activation of the values (`layer_norm`: true).
    pub layer_norm: bool,
    /// Adam learning rate of values and actor (`lr`: 3e-4).
    pub lr: f64,
    /// Discount γ, also the geometric goal offsets' (`discount`: 0.99).
    pub discount: f64,
    /// Polyak rate of the target values (`tau`: 0.005).
    pub tau: f64,
    /// The value's expectile τ_e (`expectile`: 0.9).
    pub expectile: f64,
    /// AWR temperature α (`alpha`: 10).
    pub alpha: f64,
    /// Probability that the value goal is the current state (`value_p_curgoal`: 0.2).
    pub value_p_curgoal: f64,
    /// … a later state of the same trajectory (`value_p_trajgoal`: 0.5).
    pub value_p_trajgoal: f64,
    /// … a random dataset state (`value_p_randomgoal`: 0.3).
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

impl Default for GcivlConfig {
    fn default() -> Self {
        Self {
            actor_hidden: vec![512; 3],
            value_hidden: vec![512; 3],
            layer_norm: true,
            lr: 3e-4,
            discount: 0.99,
            tau: 0.005,
            expectile: 0.9,
            alpha: 10.0,
            value_p_curgoal: 0.2,
            value_p_trajgoal: 0.5,
            value_p_randomgoal: 0.3,
            value_geom_sample: true,
            actor_p_curgoal: 0.0,
            actor_p_trajgoal: 1.0,
            actor_p_randomgoal: 0.0,
            actor_geom_sample: false,
        }
    }
}

impl GcivlConfig {
    fn mixtures(&self) -> (Mixture, Mixture) {
        (
            Mixture { p_curgoal: self.value_p_curgoal, p_trajgoal: self.value_p_trajgoal, p_randomgoal: self.value_p_randomgoal, geom_sample: self.value_geom_sample },
            Mixture { p_curgoal: self.actor_p_curgoal, p_trajgoal: self.actor_p_trajgoal, p_randomgoal: self.actor_p_randomgoal, geom_sample: self.actor_geom_sample },
        )
    }
}

pub struct Gcivl {
    cfg: GcivlConfig,
    /// Actor and values, all under the one Adam (OGBench steps its `ModuleDict` as one).
    vars: VarMap,
    target_vars: VarMap,
    actor: Mlp,
    values: [Mlp; 2],
    targets: [Mlp; 2],
    opt: AdamW,
    obs_dim: usize,
    act_dim: usize,
    device: Device,
}

impl Gcivl {
    pub fn new(cfg: GcivlConfig, obs_dim: usize, act_dim: usize, seed: u64, device: &Device) -> Result<Self> {
        cfg.validate()?;
        let (vars, target_vars) = (VarMap::new(), VarMap::new());
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let actor = gv::actor(&vars, obs_dim, &cfg.actor_hidden, act_dim, &mut rng, device)?;
        let values = gv::twin(&vars, "value", 2 * obs_dim, &cfg.value_hidden, cfg.layer_norm, &mut rng, device)?;
        let targets = gv::twin(&target_vars, "value", 2 * obs_dim, &cfg.value_hidden, cfg.layer_norm, &mut rng, device)?;
        // The targets start as copies (`params['modules_target_value'] = params['modules_value']`).
        rl::polyak(&target_vars, &vars, 1.0)?;
        let opt = AdamW::adam(sorted_vars(&vars), cfg.lr)?;
        Ok(Self { cfg, vars, target_vars, actor, values, targets, opt, obs_dim, act_dim, device: device.clone() })
    }
}

impl Agent for Gcivl {
    fn name(&self) -> &str {
        NAME
    }
    fn data_spec(&self) -> DataSpec {
        AgentConfig::data_spec(&self.cfg)
    }
    fn update(&mut self, b: &Batch, _rng: &mut ChaCha8Rng) -> Result<Metrics> {
        let c = &self.cfg;
        let t = GcBatch::new(NAME, b, self.obs_dim, self.act_dim, &self.device)?;

        // Value: the expectile's side from the targets' advantage, each V towards its own
        // target's return.
        let (x, x2) = (cat(&[&t.s, &t.g])?, cat(&[&t.s2, &t.g])?);
        let [next1, next2] = gv::twin_frozen(&self.targets, &x2)?;
        let [now1, now2] = gv::twin_frozen(&self.targets, &x)?;
        let adv = (t.ret(c.discount, &next1.minimum(&next2)?)? - ((now1 + now2)? * 0.5)?)?;
        let [v1, v2] = gv::twin_values(&self.values, &x)?;
        let l1 = gv::expectile_loss(&adv, &(t.ret(c.discount, &next1)? - &v1)?, c.expectile)?.mean_all()?;
        let l2 = gv::expectile_loss(&adv, &(t.ret(c.discount, &next2)? - &v2)?, c.expectile)?.mean_all()?;
        let value_loss = (l1 + l2)?;

        // Actor: AWR on the value's gain along the dataset's step towards the actor goal.
        let (y, y2) = (cat(&[&t.s, &t.ga])?, cat(&[&t.s2, &t.ga])?);
        let [u1, u2] = gv::twin_frozen(&self.values, &y)?;
        let [w1, w2] = gv::twin_frozen(&self.values, &y2)?;
        let actor_adv = (((w1 + w2)? * 0.5)? - ((u1 + u2)? * 0.5)?)?;
        let mu = self.actor.forward(&y)?;
        let log_prob = gv::unit_log_prob(&t.a, &mu)?;
        let actor_loss = gv::awr_loss(&actor_adv, &log_prob, c.alpha)?;

        let (vl, al) = (check_finite("value_loss", scalar(&value_loss)?)?, check_finite("actor_loss", scalar(&actor_loss)?)?);
        let grads = (&value_loss + &actor_loss)?.backward()?;
        // OGBench's `target_update` reads `self.network`, the parameters this step starts from.
        rl::polyak(&self.target_vars, &self.vars, c.tau)?;
        self.opt.step(&grads)?;
        Ok(vec![
            ("value_loss".into(), vl),
            ("v_mean".into(), scalar(&((v1 + v2)? * 0.5)?.mean_all()?)?),
            ("actor_loss".into(), al),
            ("adv".into(), scalar(&actor_adv.mean_all()?)?),
            ("bc_log_prob".into(), scalar(&log_prob.mean_all()?)?),
            ("mse".into(), scalar(&(&mu - &t.a)?.sqr()?.mean_all()?)?),
        ])
    }
    fn act(&self, obs: &[f32], goals: Option<&[f32]>, n: usize, _rng: &mut ChaCha8Rng) -> Result<Vec<f32>> {
        gv::act(NAME, &self.actor, obs, goals, n, self.obs_dim, &self.device)
    }
    fn state(&self) -> Result<Vec<(String, Tensor)>> {
        gv::state(&self.vars, &self.target_vars, &self.opt)
    }
    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        gv::load_state(NAME, &self.vars, &self.target_vars, &mut self.opt, state)
    }
}

impl AgentConfig for GcivlConfig {
    const NAME: &'static str = NAME;
    const SOURCE: &'static str = file!();
    type Agent = Gcivl;

    fn data_spec(&self) -> DataSpec {
        let (value, actor) = self.mixtures();
        DataSpec::ValueGoals(gv::value_goals(value, actor, self.discount))
    }
    fn validate(&self) -> Result<()> {
        let f = Fields::of(Self::NAME);
        f.widths("actor_hidden", &self.actor_hidden)?;
        f.widths("value_hidden", &self.value_hidden)?;
        f.positive("lr", self.lr)?;
        f.range("discount", self.discount, 0.0..1.0)?;
        f.range("tau", self.tau, 0.0..=1.0)?;
        f.range("expectile", self.expectile, (Bound::Excluded(0.0), Bound::Excluded(1.0)))?;
        f.non_negative("alpha", self.alpha)?;
        let (value, actor) = self.mixtures();
        value.check(&f, "value")?;
        actor.check(&f, "actor")
    }
    fn build(&self, obs_dim: usize, act_dim: usize, seed: u64, device: &Device) -> Result<Gcivl> {
        Gcivl::new(self.clone(), obs_dim, act_dim, seed, device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> GcivlConfig {
        GcivlConfig { actor_hidden: vec![16, 16], value_hidden: vec![16, 16], ..Default::default() }
    }

    fn batch(n: usize, seed: u64) -> Batch {
        rl::synthetic_batch(n, 3, 2, &AgentConfig::data_spec(&tiny()), &mut ChaCha8Rng::seed_from_u64(seed))
    }

    fn values(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    }

    /// The expectile loss by hand at τ = 0.7: a row with `adv` ≥ 0 weighs its squared difference
    /// by 0.7, one with `adv` < 0 by 0.3, whatever the sign of the difference itself (GCIVL's
    /// sign comes from the targets): adv = [2, −1, 0], diff = [−3, 2, 1] →
    /// [0.7·9, 0.3·4, 0.7·1] = [6.3, 1.2, 0.7]. And AWR's weight `exp(α·A)` is clipped at 100:
    /// with α = 10, A = [0, 0.1, 1] and log-probs [−1, −2, −3] the loss is
    /// `−(1·(−1) + e·(−2) + 100·(−3)) / 3 = (301 + 2e) / 3`.
    #[test]
    fn expectile_and_awr_losses_by_hand() {
        let dev = Device::Cpu;
        let adv = Tensor::new(&[2f32, -1.0, 0.0], &dev).unwrap();
        let diff = Tensor::new(&[-3f32, 2.0, 1.0], &dev).unwrap();
        let got = values(&gv::expectile_loss(&adv, &diff, 0.7).unwrap());
        for (g, want) in got.iter().zip([6.3f32, 1.2, 0.7]) {
            assert!((g - want).abs() < 1e-6, "{got:?}");
        }
        let a = Tensor::new(&[0f32, 0.1, 1.0], &dev).unwrap();
        let lp = Tensor::new(&[-1f32, -2.0, -3.0], &dev).unwrap();
        let loss = gv::awr_loss(&a, &lp, 10.0).unwrap().to_scalar::<f32>().unwrap();
        let want = (301.0 + 2.0 * std::f32::consts::E) / 3.0;
        assert!((loss - want).abs() < 1e-4, "{loss} vs {want}");
    }

    /// A trained agent's state makes an agent of another seed act like it and keep training
    /// exactly like it (values, targets, actor and Adam moments all travel).
    #[test]
    fn state_round_trip_resumes_bit_exactly() {
        let dev = Device::Cpu;
        let mut a = Gcivl::new(tiny(), 3, 2, 1, &dev).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for s in 0..3 {
            a.update(&batch(32, s), &mut rng).unwrap();
        }
        let obs: Vec<f32> = (0..4 * 3).map(|i| (i as f32 * 0.37).sin()).collect();
        let goals: Vec<f32> = (0..4 * 3).map(|i| (i as f32 * 0.71).cos()).collect();
        let act = |x: &Gcivl| x.act(&obs, Some(&goals), 4, &mut ChaCha8Rng::seed_from_u64(5)).unwrap();
        let mut b = Gcivl::new(tiny(), 3, 2, 99, &dev).unwrap();
        assert_ne!(act(&a), act(&b), "another seed acts differently before loading");
        b.load_state(&a.state().unwrap().into_iter().collect()).unwrap();
        assert_eq!(act(&a), act(&b));
        let (mut ra, mut rb) = (ChaCha8Rng::seed_from_u64(8), ChaCha8Rng::seed_from_u64(8));
        for s in 3..8 {
            assert_eq!(a.update(&batch(32, s), &mut ra).unwrap(), b.update(&batch(32, s), &mut rb).unwrap(), "step {s}");
        }
        assert_eq!(act(&a), act(&b));
        let (sa, sb): (HashMap<_, _>, HashMap<_, _>) = (a.state().unwrap().into_iter().collect(), b.state().unwrap().into_iter().collect());
        assert_eq!(sa.len(), sb.len());
        for (k, t) in &sa {
            let as_f64 = |t: &Tensor| t.flatten_all().unwrap().to_dtype(candle_core::DType::F64).unwrap().to_vec1::<f64>().unwrap();
            assert_eq!(as_f64(t), as_f64(&sb[k]), "{k}");
        }
        assert!(sa.contains_key("target.value1.out.weight") && sa.contains_key("opt.t"));
    }

    #[test]
    fn bad_configs_and_foreign_checkpoints_are_named() {
        let err = |c: GcivlConfig| c.validate().unwrap_err().to_string();
        for (field, cfg) in [
            ("expectile", GcivlConfig { expectile: 1.0, ..tiny() }),
            ("discount", GcivlConfig { discount: 1.0, ..tiny() }),
            ("tau", GcivlConfig { tau: 1.5, ..tiny() }),
            ("alpha", GcivlConfig { alpha: -1.0, ..tiny() }),
            ("lr", GcivlConfig { lr: 0.0, ..tiny() }),
            ("value_hidden[1]", GcivlConfig { value_hidden: vec![16, 0], ..tiny() }),
            ("value_p_randomgoal", GcivlConfig { value_p_randomgoal: 1.5, ..tiny() }),
            ("actor_p_curgoal + actor_p_trajgoal + actor_p_randomgoal", GcivlConfig { actor_p_randomgoal: 0.5, ..tiny() }),
        ] {
            let e = err(cfg);
            assert!(e.contains(NAME) && e.contains(&format!("`{field}`")), "{field}: {e}");
        }
        let dev = Device::Cpu;
        let mut a = Gcivl::new(tiny(), 3, 2, 0, &dev).unwrap();
        let bc = crate::Bc::new(crate::BcConfig { hidden: vec![16, 16], ..Default::default() }, 6, 2, 0, &dev).unwrap();
        let e = a.load_state(&bc.state().unwrap().into_iter().collect()).unwrap_err().to_string();
        assert!(e.contains(NAME) && e.contains("lacks `value0.0.bias`"), "{e}");
        let wide = Gcivl::new(GcivlConfig { value_hidden: vec![16, 32], ..tiny() }, 3, 2, 0, &dev).unwrap();
        let e = a.load_state(&wide.state().unwrap().into_iter().collect()).unwrap_err().to_string();
        assert!(e.contains(NAME) && e.contains("`value0.1.bias`") && e.contains("shape"), "{e}");
        let e = a.update(&rl::synthetic_batch(8, 3, 2, &DataSpec::Transitions, &mut ChaCha8Rng::seed_from_u64(0)), &mut ChaCha8Rng::seed_from_u64(0)).unwrap_err().to_string();
        assert!(e.contains(NAME) && e.contains("actor goals"), "{e}");
    }

    /// GCIVL through the shared training loop on pointmaze-medium-navigate (200 episodes of 1,001
    /// steps, the GCBC learning test's data), success over its 5 tasks × 20 episodes; OGBench's
    /// recipe (α = 10, expectile 0.9, γ 0.99) with smaller networks, lr 1e-3 and actor goals at
    /// geometric offsets (`actor_geom_sample`, an OGBench flag), which brings the actor goals as
    /// close as GCBC's test brings its own. At 1,000 steps a policy solves one task of five or
    /// none, and which evaluation catches it changes (GCBC's too), so the best of four
    /// evaluations is held to random + 0.15: one task solved, where random solves none.
    /// Measured (debug test build, 2 cores at load ~8, 140 s; ≈ 45 s idle): random 0.00; GCIVL
    /// 0.00 / 0.17 / 0.06 / 0.20 at steps 250 / 500 / 750 / 1,000. Uniform trajectory goals
    /// (OGBench's default): 0.00 / 0.20 / 0.03 / 0.02, and to 2,000 steps no steadier
    /// (0.00–0.30); α = 1: 0.00 / 0.06 / 0.01 / 0.22.
    #[test]
    fn beats_a_random_policy_on_pointmaze_medium() {
        let task = envs::Task::resolve("pointmaze-medium-navigate").unwrap();
        let cfg = GcivlConfig { actor_hidden: vec![256, 256], value_hidden: vec![128, 128], lr: 1e-3, actor_geom_sample: true, ..Default::default() };
        let mut agent = Gcivl::new(cfg, task.obs_dim, task.act_dim, 0, &Device::Cpu).unwrap();
        crate::gc_value::assert_beats_random_on_pointmaze_medium("GCIVL", &mut agent, 1000, 250, 256);
    }
}
