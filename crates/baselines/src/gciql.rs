//! GCIQL, goal-conditioned implicit Q-learning (OGBench `impls/agents/gciql.py`): IQL's value,
//! critic and policy extraction with goals. The value learns an upper expectile of the critic
//! over the dataset's actions, so the critic's TD target never asks for an action outside the
//! data. Rewards are OGBench's `gc_negative` ones: `r = −1` until `s = g`.
//!
//! - Value: one V (`3 × 512`, GELU + LayerNorm) regresses to the target critics:
//!   `Q̄ = min_i Q̄_i(s, g, a)`, `L_V = mean |τ_e − 1(Q̄ − V < 0)|·(Q̄ − V(s, g))²`, τ_e = 0.9.
//! - Critic: two Q's, one-step TD through V (no gradient into V), Polyak targets (τ = 0.005):
//!   `L_Q = Σ_i mean (Q_i(s, g, a) − r − γ·m·V(s', g))²`.
//! - Actor, goals from the actor's mixture, π a unit-std Gaussian (`const_std`), `3 × 512` GELU:
//!   DDPG+BC by default, `L_π = −mean Q(s, g, clip(μ)) / sg(mean |Q| + 1e−6) − α·mean log π(a | s, g)`
//!   with `Q = min_i Q_i` frozen and α = 0.3; or AWR, `−mean min(exp(α·(Q − V)), 100)·log π(a | s, g)`.
//! - One Adam step on `L_V + L_Q + L_π`; acting takes the Gaussian's mean (temperature 0).
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

const NAME: &str = "gciql";

/// How the policy is extracted from the critic (OGBench's `actor_loss`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GciqlActorLoss {
    /// Advantage-weighted regression on `Q − V` (α the temperature).
    Awr,
    /// The critic's gradient at the actor's mean plus α × behaviour cloning.
    Ddpgbc,
}

/// OGBench's `gciql.py` `get_config()`; per-dataset overrides in `impls/hyperparameters.sh`
/// (α = 0.3 on antmaze, 0.1 on humanoidmaze and antsoccer, 1.0 on manipulation `play`, 0.003 on
/// pointmaze; γ = 0.995 on giant and humanoid mazes; stitch datasets draw actor goals half from
/// the trajectory, half at random).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GciqlConfig {
    /// Actor hidden widths (`actor_hidden_dims`: 512, 512, 512).
    pub actor_hidden: Vec<usize>,
    /// Value and critic hidden widths (`value_hidden_dims`: 512, 512, 512).
    pub value_hidden: Vec<usize>,
    /// LayerNorm after each hidden activation of the value and critics (`layer_norm`: true).
    pub layer_norm: bool,
    /// Adam learning rate of value, critics and actor (`lr`: 3e-4).
    pub lr: f64,
    /// Discount γ, also the geometric goal offsets' (`discount`: 0.99).
    pub discount: f64,
    /// Polyak rate of the target critics (`tau`: 0.005).
    pub tau: f64,
    /// The value's expectile τ_e (`expectile`: 0.9).
    pub expectile: f64,
    /// Policy extraction (`actor_loss`: "ddpgbc").
    pub actor_loss: GciqlActorLoss,
    /// BC weight of DDPG+BC, or AWR's temperature (`alpha`: 0.3).
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

impl Default for GciqlConfig {
    fn default() -> Self {
        Self {
            actor_hidden: vec![512; 3],
            value_hidden: vec![512; 3],
            layer_norm: true,
            lr: 3e-4,
            discount: 0.99,
            tau: 0.005,
            expectile: 0.9,
            actor_loss: GciqlActorLoss::Ddpgbc,
            alpha: 0.3,
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

impl GciqlConfig {
    fn mixtures(&self) -> (Mixture, Mixture) {
        (
            Mixture { p_curgoal: self.value_p_curgoal, p_trajgoal: self.value_p_trajgoal, p_randomgoal: self.value_p_randomgoal, geom_sample: self.value_geom_sample },
            Mixture { p_curgoal: self.actor_p_curgoal, p_trajgoal: self.actor_p_trajgoal, p_randomgoal: self.actor_p_randomgoal, geom_sample: self.actor_geom_sample },
        )
    }
}

pub struct Gciql {
    cfg: GciqlConfig,
    /// Actor, value and critics, all under the one Adam (OGBench steps its `ModuleDict` as one).
    vars: VarMap,
    target_vars: VarMap,
    actor: Mlp,
    value: Mlp,
    critics: [Mlp; 2],
    targets: [Mlp; 2],
    opt: AdamW,
    obs_dim: usize,
    act_dim: usize,
    device: Device,
}

impl Gciql {
    pub fn new(cfg: GciqlConfig, obs_dim: usize, act_dim: usize, seed: u64, device: &Device) -> Result<Self> {
        cfg.validate()?;
        let (vars, target_vars) = (VarMap::new(), VarMap::new());
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let actor = gv::actor(&vars, obs_dim, &cfg.actor_hidden, act_dim, &mut rng, device)?;
        let value = gv::mlp(&vars, "value", 2 * obs_dim, &cfg.value_hidden, 1, cfg.layer_norm, 1.0, &mut rng, device)?;
        let critics = gv::twin(&vars, "critic", 2 * obs_dim + act_dim, &cfg.value_hidden, cfg.layer_norm, &mut rng, device)?;
        let targets = gv::twin(&target_vars, "critic", 2 * obs_dim + act_dim, &cfg.value_hidden, cfg.layer_norm, &mut rng, device)?;
        // The targets start as copies (`params['modules_target_critic'] = params['modules_critic']`).
        rl::polyak(&target_vars, &vars, 1.0)?;
        let opt = AdamW::adam(sorted_vars(&vars), cfg.lr)?;
        Ok(Self { cfg, vars, target_vars, actor, value, critics, targets, opt, obs_dim, act_dim, device: device.clone() })
    }
}

impl Agent for Gciql {
    fn name(&self) -> &str {
        NAME
    }
    fn data_spec(&self) -> DataSpec {
        AgentConfig::data_spec(&self.cfg)
    }
    fn update(&mut self, b: &Batch, _rng: &mut ChaCha8Rng) -> Result<Metrics> {
        let c = &self.cfg;
        let t = GcBatch::new(NAME, b, self.obs_dim, self.act_dim, &self.device)?;
        let (x, x2, xa) = (cat(&[&t.s, &t.g])?, cat(&[&t.s2, &t.g])?, cat(&[&t.s, &t.g, &t.a])?);

        // Value: an upper expectile of the target critics at the dataset's actions.
        let [tq1, tq2] = gv::twin_frozen(&self.targets, &xa)?;
        let tq = tq1.minimum(&tq2)?;
        let v = gv::value(&self.value, &x)?;
        let gap = (&tq - &v)?;
        let value_loss = gv::expectile_loss(&gap, &gap, c.expectile)?.mean_all()?;

        // Critic: one-step TD through the value.
        let y = t.ret(c.discount, &gv::frozen(&self.value, &x2)?)?;
        let [q1, q2] = gv::twin_values(&self.critics, &xa)?;
        let critic_loss = ((&q1 - &y)?.sqr()? + (&q2 - &y)?.sqr()?)?.mean_all()?;

        // Actor, on the actor goals.
        let sg = cat(&[&t.s, &t.ga])?;
        let mu = self.actor.forward(&sg)?;
        let log_prob = gv::unit_log_prob(&t.a, &mu)?;
        let mut m = Vec::new();
        let actor_loss = match c.actor_loss {
            GciqlActorLoss::Ddpgbc => {
                let [p1, p2] = gv::twin_frozen(&self.critics, &cat(&[&t.s, &t.ga, &mu.clamp(-1f32, 1f32)?])?)?;
                let q = p1.minimum(&p2)?;
                let (loss, q_loss, bc_loss) = gv::ddpgbc_loss(&q, &log_prob, c.alpha)?;
                m.push(("q_loss".to_string(), scalar(&q_loss)?));
                m.push(("bc_loss".to_string(), scalar(&bc_loss)?));
                loss
            }
            GciqlActorLoss::Awr => {
                let [p1, p2] = gv::twin_frozen(&self.critics, &cat(&[&t.s, &t.ga, &t.a])?)?;
                let adv = (p1.minimum(&p2)? - gv::frozen(&self.value, &sg)?)?;
                m.push(("adv".to_string(), scalar(&adv.mean_all()?)?));
                gv::awr_loss(&adv, &log_prob, c.alpha)?
            }
        };

        let vl = check_finite("value_loss", scalar(&value_loss)?)?;
        let cl = check_finite("critic_loss", scalar(&critic_loss)?)?;
        let al = check_finite("actor_loss", scalar(&actor_loss)?)?;
        let grads = ((&value_loss + &critic_loss)? + &actor_loss)?.backward()?;
        // OGBench's `target_update` reads `self.network`, the parameters this step starts from.
        rl::polyak(&self.target_vars, &self.vars, c.tau)?;
        self.opt.step(&grads)?;
        let mut metrics =
            vec![("value_loss".into(), vl), ("v_mean".into(), scalar(&v.mean_all()?)?), ("critic_loss".into(), cl), ("q_mean".into(), scalar(&y.mean_all()?)?), ("actor_loss".into(), al)];
        metrics.extend(m);
        metrics.push(("bc_log_prob".into(), scalar(&log_prob.mean_all()?)?));
        metrics.push(("mse".into(), scalar(&(&mu - &t.a)?.sqr()?.mean_all()?)?));
        Ok(metrics)
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

impl AgentConfig for GciqlConfig {
    const NAME: &'static str = NAME;
    const SOURCE: &'static str = file!();
    type Agent = Gciql;

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
    fn build(&self, obs_dim: usize, act_dim: usize, seed: u64, device: &Device) -> Result<Gciql> {
        Gciql::new(self.clone(), obs_dim, act_dim, seed, device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> GciqlConfig {
        GciqlConfig { actor_hidden: vec![16, 16], value_hidden: vec![16, 16], ..Default::default() }
    }

    fn batch(n: usize, seed: u64) -> Batch {
        rl::synthetic_batch(n, 3, 2, &AgentConfig::data_spec(&tiny()), &mut ChaCha8Rng::seed_from_u64(seed))
    }

    /// The expectile loss by hand at τ = 0.7 as GCIQL's value uses it, `Q̄ − V` as both the sign
    /// and the difference: Q̄ − V = [2, −1] → [0.7·4, 0.3·1] = [2.8, 0.3], mean 1.55, so the value
    /// is pulled up by positive gaps 7/3 times as hard as down by negative ones. And DDPG+BC by
    /// hand: Q = [−2, −4], log-probs [−1, −3], α = 0.5 → Q term −(−3)/3 = 1 (Q's scale divided
    /// out), BC term −0.5·(−2) = 1.
    #[test]
    fn expectile_and_ddpgbc_losses_by_hand() {
        let dev = Device::Cpu;
        let gap = Tensor::new(&[2f32, -1.0], &dev).unwrap();
        let l = gv::expectile_loss(&gap, &gap, 0.7).unwrap();
        assert_eq!(l.to_vec1::<f32>().unwrap().len(), 2);
        let mean = l.mean_all().unwrap().to_scalar::<f32>().unwrap();
        assert!((mean - 1.55).abs() < 1e-6, "{mean}");
        let q = Tensor::new(&[-2f32, -4.0], &dev).unwrap();
        let lp = Tensor::new(&[-1f32, -3.0], &dev).unwrap();
        let (loss, q_loss, bc_loss) = gv::ddpgbc_loss(&q, &lp, 0.5).unwrap();
        let s = |t: &Tensor| t.to_scalar::<f32>().unwrap();
        assert!((s(&q_loss) - 1.0).abs() < 1e-6 && (s(&bc_loss) - 1.0).abs() < 1e-6 && (s(&loss) - 2.0).abs() < 1e-6, "{} {} {}", s(&q_loss), s(&bc_loss), s(&loss));
    }

    /// A trained agent's state makes an agent of another seed act like it and keep training
    /// exactly like it, for both policy extractions.
    #[test]
    fn state_round_trip_resumes_bit_exactly() {
        let dev = Device::Cpu;
        for actor_loss in [GciqlActorLoss::Ddpgbc, GciqlActorLoss::Awr] {
            let cfg = GciqlConfig { actor_loss, ..tiny() };
            let mut a = Gciql::new(cfg.clone(), 3, 2, 1, &dev).unwrap();
            let mut rng = ChaCha8Rng::seed_from_u64(3);
            for s in 0..3 {
                a.update(&batch(32, s), &mut rng).unwrap();
            }
            let obs: Vec<f32> = (0..4 * 3).map(|i| (i as f32 * 0.37).sin()).collect();
            let goals: Vec<f32> = (0..4 * 3).map(|i| (i as f32 * 0.71).cos()).collect();
            let act = |x: &Gciql| x.act(&obs, Some(&goals), 4, &mut ChaCha8Rng::seed_from_u64(5)).unwrap();
            let mut b = Gciql::new(cfg, 3, 2, 99, &dev).unwrap();
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
                let as_f64 = |t: &Tensor| t.flatten_all().unwrap().to_dtype(candle_core::DType::F64).unwrap().to_vec1::<f64>().unwrap();
                assert_eq!(as_f64(t), as_f64(&sb[k]), "{k}");
            }
            assert!(sa.contains_key("target.critic1.out.weight") && sa.contains_key("value.out.weight") && sa.contains_key("opt.t"));
        }
    }

    #[test]
    fn bad_configs_and_foreign_checkpoints_are_named() {
        let err = |c: GciqlConfig| c.validate().unwrap_err().to_string();
        for (field, cfg) in [
            ("expectile", GciqlConfig { expectile: 0.0, ..tiny() }),
            ("discount", GciqlConfig { discount: 1.0, ..tiny() }),
            ("tau", GciqlConfig { tau: -0.5, ..tiny() }),
            ("alpha", GciqlConfig { alpha: -1.0, ..tiny() }),
            ("actor_hidden[0]", GciqlConfig { actor_hidden: vec![0], ..tiny() }),
            ("actor_p_trajgoal", GciqlConfig { actor_p_trajgoal: -0.5, actor_p_randomgoal: 1.5, ..tiny() }),
            ("value_p_curgoal + value_p_trajgoal + value_p_randomgoal", GciqlConfig { value_p_curgoal: 0.5, ..tiny() }),
        ] {
            let e = err(cfg);
            assert!(e.contains(NAME) && e.contains(&format!("`{field}`")), "{field}: {e}");
        }
        let dev = Device::Cpu;
        let mut a = Gciql::new(tiny(), 3, 2, 0, &dev).unwrap();
        let bc = crate::Bc::new(crate::BcConfig { hidden: vec![16, 16], ..Default::default() }, 6, 2, 0, &dev).unwrap();
        let e = a.load_state(&bc.state().unwrap().into_iter().collect()).unwrap_err().to_string();
        assert!(e.contains(NAME) && e.contains("lacks `critic0.0.bias`"), "{e}");
        let civl = crate::Gcivl::new(crate::GcivlConfig { actor_hidden: vec![16, 16], value_hidden: vec![16, 16], ..Default::default() }, 3, 2, 0, &dev).unwrap();
        let e = a.load_state(&civl.state().unwrap().into_iter().collect()).unwrap_err().to_string();
        assert!(e.contains(NAME) && e.contains("lacks `critic0.0.bias`"), "{e}");
    }

    /// GCIQL through the shared training loop on pointmaze-medium-navigate (200 episodes of 1,001
    /// steps, the GCBC learning test's data), success over its 5 tasks × 20 episodes; OGBench's
    /// defaults (DDPG+BC, α = 0.3) but for smaller networks and lr 1e-3. At 1,000 steps a policy
    /// solves one task or two, and which ones changes between evaluations, so the best of four
    /// evaluations is held to random + 0.15. Measured (debug test build, 2 cores shared at load
    /// ~7, 55 s): random 0.00; GCIQL 0.00 / 0.08 / 0.19 / 0.23 at steps 250 / 500 / 750 / 1,000.
    #[test]
    fn beats_a_random_policy_on_pointmaze_medium() {
        let task = envs::Task::resolve("pointmaze-medium-navigate").unwrap();
        let cfg = GciqlConfig { actor_hidden: vec![256, 256], value_hidden: vec![128, 128], lr: 1e-3, ..Default::default() };
        let mut agent = Gciql::new(cfg, task.obs_dim, task.act_dim, 0, &Device::Cpu).unwrap();
        crate::gc_value::assert_beats_random_on_pointmaze_medium("GCIQL", &mut agent, 1000, 250, 256);
    }
}
