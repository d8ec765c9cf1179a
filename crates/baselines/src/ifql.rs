//! IFQL, implicit flow Q-learning, as the FQL repository runs it (`agents/ifql.py`; Park, Li &
//! Levine 2025, the flow counterpart of IDQL, Hansen-Estruch et al. 2023): IQL's value function
//! and critics, trained on dataset actions only, beside a flow-matching behaviour-cloning policy
//! that never sees the critic. The critic enters only at action time, by rejection sampling:
//! draw N actions from the BC flow and take the one the critics rate highest.
//!
//! - Value (IQL eq. 5): `L_V = mean L₂^τ(min_i Q̄_i(s, a) − V(s))`, `L₂^τ(u) = |τ − 1(u < 0)|·u²`.
//! - Critic (IQL eq. 6): `y = r + γ·mask·V(s')`, `L_Q = mean Σ_i (Q_i(s, a) − y)²`; Polyak
//!   τ = 0.005 on the target critics. Both are [`IqlCritic`]'s, unchanged (`ifql.py`'s
//!   `value_loss` and `critic_loss` are `iql.py`'s line for line).
//! - BC flow (`actor_loss`): `x₀ ~ N(0, I)`, `t ~ U[0, 1]`, `x_t = (1 − t)·x₀ + t·a`,
//!   `L_flow = mean ‖v(s, x_t, t) − (a − x₀)‖²` (mean over rows and action dimensions).
//! - Actions (`sample_actions`): `z_j ~ N(0, I)` for j = 1…N, `a_j = clip(ODE_v(s, z_j), −1, 1)`
//!   by `flow_steps` Euler steps `x ← x + v(s, x, k/K)/K`, then `argmax_j min_i Q_i(s, a_j)`
//!   (the online critics, not the targets, as `ifql.py` ranks them).
//!
//! The reference sums the three losses and takes one Adam step; each loss reaches only its own
//! network, so that is the three steps on disjoint parameter sets from the same old parameters
//! that [`IqlCritic::step`] and the flow's own Adam take here (as in [`crate::Iql`]).
//!
//! γ is per task (FQL README: `--agent.discount=0.995 --agent.num_samples=32` on
//! humanoidmaze-medium; the default 0.99 elsewhere). Initialisation is nf-core's lecun-normal (as
//! for FQL and IQL here), not FQL's fan-average uniform `default_init`. The reference's
//! `sample_actions` acts on one observation at a time; here each of the `n` rows gets its own N
//! candidates, drawn row by row from the `rng` that `act` is given, so acting is a deterministic
//! function of that stream.

use std::collections::HashMap;

use candle_core::{Device, Tensor, D};
use candle_nn::VarMap;
use envs::Batch;
use nf_core::{Activation, AdamW, Mlp};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rl::{check_finite, scalar, sorted_vars, Agent, AgentConfig, DataSpec, Fields, Metrics, Result};
use serde::{Deserialize, Serialize};

use crate::iql::{IqlCritic, IqlCriticConfig, Transitions};

const NAME: &str = "ifql";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IfqlConfig {
    /// Hidden widths of the BC flow's velocity field (FQL `ifql.py` `actor_hidden_dims`: 4 × 512).
    pub actor_hidden: Vec<usize>,
    /// Hidden widths of V and both critics (FQL `ifql.py` `value_hidden_dims`: 4 × 512).
    pub critic_hidden: Vec<usize>,
    /// LayerNorm after each hidden activation of V and the critics (FQL `layer_norm`: true).
    pub layer_norm: bool,
    /// LayerNorm in the velocity field (FQL `actor_layer_norm`: false).
    pub actor_layer_norm: bool,
    /// Adam learning rate of every network (FQL `lr`: 3e-4).
    pub lr: f64,
    /// Discount γ (FQL `discount`: 0.99; 0.995 on the long-horizon mazes and soccer).
    pub discount: f64,
    /// Polyak rate of the target critics (FQL `tau`: 0.005).
    pub tau: f64,
    /// The expectile τ of V (FQL `expectile`: 0.9).
    pub expectile: f64,
    /// Candidate actions drawn from the flow per decision, the best by Q taken (FQL
    /// `num_samples`: 32; the README passes 32 on every task it lists).
    pub num_samples: usize,
    /// Euler steps of the flow's ODE (FQL `flow_steps`: 10).
    pub flow_steps: usize,
}

impl Default for IfqlConfig {
    fn default() -> Self {
        Self {
            actor_hidden: vec![512; 4],
            critic_hidden: vec![512; 4],
            layer_norm: true,
            actor_layer_norm: false,
            lr: 3e-4,
            discount: 0.99,
            tau: 0.005,
            expectile: 0.9,
            num_samples: 32,
            flow_steps: 10,
        }
    }
}

impl IfqlConfig {
    /// The critic half of the config: IQL's, field for field.
    pub fn critic(&self) -> IqlCriticConfig {
        IqlCriticConfig { hidden: self.critic_hidden.clone(), layer_norm: self.layer_norm, lr: self.lr, discount: self.discount, tau: self.tau, expectile: self.expectile }
    }
}

pub struct Ifql {
    cfg: IfqlConfig,
    critic: IqlCritic,
    actor_vars: VarMap,
    /// The velocity field `v(s, x_t, t)` on `[s, x_t, t]` (FQL `ActorVectorField`, GELU).
    actor_flow: Mlp,
    actor_opt: AdamW,
    obs_dim: usize,
    act_dim: usize,
    device: Device,
}

impl Ifql {
    pub fn new(cfg: IfqlConfig, obs_dim: usize, act_dim: usize, seed: u64, device: &Device) -> Result<Self> {
        let critic = IqlCritic::new(cfg.critic(), obs_dim, act_dim, seed, device)?;
        let actor_vars = VarMap::new();
        let actor_flow = Mlp::new(&actor_vars, "actor_flow", obs_dim + act_dim + 1, &cfg.actor_hidden, act_dim, Activation::Gelu, cfg.actor_layer_norm, seed, device)?;
        let actor_opt = AdamW::adam(sorted_vars(&actor_vars), cfg.lr)?;
        Ok(Self { cfg, critic, actor_vars, actor_flow, actor_opt, obs_dim, act_dim, device: device.clone() })
    }

    pub fn critic(&self) -> &IqlCritic {
        &self.critic
    }

    fn normal(&self, rng: &mut ChaCha8Rng, rows: usize) -> Result<Tensor> {
        let v: Vec<f32> = (0..rows * self.act_dim).map(|_| rng.sample(StandardNormal)).collect();
        Ok(Tensor::from_vec(v, (rows, self.act_dim), &self.device)?)
    }

    /// The flow-matching loss `mean ‖v(s, x_t, t) − (a − x₀)‖²`, `x_t = (1 − t)·x₀ + t·a`, for
    /// given noise `x0` (`[n, act_dim]`) and times `t` (`[n, 1]`).
    pub fn flow_loss(&self, s: &Tensor, a: &Tensor, x0: &Tensor, t: &Tensor) -> Result<Tensor> {
        let xt = (x0.broadcast_mul(&(1.0 - t)?)? + a.broadcast_mul(t)?)?;
        let v = self.actor_flow.forward(&Tensor::cat(&[s, &xt, t], D::Minus1)?)?;
        Ok((v - (a - x0)?)?.sqr()?.mean_all()?)
    }

    /// The flow's Euler end point from `z`, clipped to the action box (`sample_actions`): no
    /// gradient reaches the velocity field.
    pub fn flow_actions(&self, s: &Tensor, z: &Tensor) -> Result<Tensor> {
        let n = s.dim(0)?;
        let dt = 1.0 / self.cfg.flow_steps as f64;
        let mut x = z.clone();
        for k in 0..self.cfg.flow_steps {
            let t = Tensor::full((k as f64 * dt) as f32, (n, 1), &self.device)?;
            let v = self.actor_flow.forward_frozen(&Tensor::cat(&[s, &x, &t], D::Minus1)?)?;
            x = (&x + (v * dt)?)?;
        }
        Ok(x.clamp(-1f32, 1f32)?)
    }

    /// Each row's `num_samples` candidates (`[n·N, act_dim]`, row i's at `i·N … i·N + N − 1`) and
    /// their `min_i Q_i` (`[n·N]`), from noise drawn from `rng` row by row.
    pub fn candidates(&self, obs: &[f32], n: usize, rng: &mut ChaCha8Rng) -> Result<(Vec<f32>, Vec<f32>)> {
        let m = self.cfg.num_samples;
        let s = repeat_rows(obs, n, m, self.obs_dim, &self.device)?;
        let z = self.normal(rng, n * m)?;
        let a = self.flow_actions(&s, &z)?;
        let q = self.critic.q_min(&s, &a)?;
        Ok((a.flatten_all()?.to_vec1::<f32>()?, q.to_vec1::<f32>()?))
    }
}

/// `[n, d]` observations as `[n·N, d]`, each row repeated N times in place: row i's candidates
/// sit at `i·N … i·N + N − 1`.
pub(crate) fn repeat_rows(obs: &[f32], n: usize, m: usize, obs_dim: usize, dev: &Device) -> Result<Tensor> {
    let s = Tensor::from_slice(obs, (n, obs_dim), dev)?;
    Ok(s.unsqueeze(1)?.broadcast_as((n, m, obs_dim))?.reshape((n * m, obs_dim))?)
}

/// Row i's candidate of highest Q among `q[i·N … i·N + N − 1]` (the first on a tie, as
/// `jnp.argmax`), its action copied out of `actions`. IFQL's and IDQL's action rule.
pub(crate) fn best_of(actions: &[f32], q: &[f32], n: usize, m: usize, act_dim: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(n * act_dim);
    for i in 0..n {
        let row = &q[i * m..(i + 1) * m];
        let j = (1..m).fold(0, |best, j| if row[j] > row[best] { j } else { best });
        let k = i * m + j;
        out.extend_from_slice(&actions[k * act_dim..(k + 1) * act_dim]);
    }
    out
}

/// The best-of-N rule checked on one draw of `n` rows of `m` candidates (observation dim 3,
/// action dim 2): each row's `chosen` action is one of its `cands`, with the row's highest `q`,
/// and that Q recomputed alone is the one it was ranked by; and on some row it is not the first
/// candidate, or no selection happened. IFQL's and IDQL's tests.
#[cfg(test)]
pub(crate) fn assert_picks_highest_q(critic: &IqlCritic, o: &[f32], chosen: &[f32], cands: &[f32], q: &[f32], n: usize, m: usize) {
    let dev = Device::Cpu;
    let mut not_first = 0;
    for i in 0..n {
        let j = (0..m).find(|&j| cands[(i * m + j) * 2..(i * m + j + 1) * 2] == chosen[i * 2..i * 2 + 2]).expect("the action is one of its row's candidates");
        let row = &q[i * m..(i + 1) * m];
        assert!(row.iter().all(|&x| row[j] >= x), "row {i}: picked Q {} of {row:?}", row[j]);
        let s = Tensor::from_slice(&o[i * 3..i * 3 + 3], (1, 3), &dev).unwrap();
        let qa = critic.q_min(&s, &Tensor::from_slice(&chosen[i * 2..i * 2 + 2], (1, 2), &dev).unwrap()).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap()[0];
        assert!((qa - row[j]).abs() < 1e-5, "{qa} vs {}", row[j]);
        not_first += usize::from(j != 0);
    }
    assert!(not_first > 0, "every row picked its first candidate: no selection happened");
}

impl Agent for Ifql {
    fn name(&self) -> &str {
        NAME
    }
    fn data_spec(&self) -> DataSpec {
        DataSpec::Transitions
    }
    fn update(&mut self, b: &Batch, rng: &mut ChaCha8Rng) -> Result<Metrics> {
        let t = Transitions::new(b, self.obs_dim, self.act_dim, &self.device)?;
        let critic = self.critic.losses(&t)?;

        let x0 = self.normal(rng, b.batch)?;
        let time = Tensor::from_vec((0..b.batch).map(|_| rng.random::<f32>()).collect::<Vec<f32>>(), (b.batch, 1), &self.device)?;
        let flow_loss = self.flow_loss(&t.s, &t.a, &x0, &time)?;
        let fv = check_finite("flow_loss", scalar(&flow_loss)?)?;

        self.critic.step(&critic)?;
        self.actor_opt.step(&flow_loss.backward()?)?;
        let mut m = critic.metrics;
        m.push(("flow_loss".into(), fv));
        Ok(m)
    }
    fn act(&self, obs: &[f32], _goals: Option<&[f32]>, n: usize, rng: &mut ChaCha8Rng) -> Result<Vec<f32>> {
        let (actions, q) = self.candidates(obs, n, rng)?;
        Ok(best_of(&actions, &q, n, self.cfg.num_samples, self.act_dim))
    }
    fn state(&self) -> Result<Vec<(String, Tensor)>> {
        self.critic.state_with_actor(&self.actor_vars, &self.actor_opt)
    }
    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        self.critic.load_state_with_actor(NAME, &self.actor_vars, &mut self.actor_opt, state)
    }
}

impl AgentConfig for IfqlConfig {
    const NAME: &'static str = NAME;
    const SOURCE: &'static str = file!();
    type Agent = Ifql;

    fn data_spec(&self) -> DataSpec {
        DataSpec::Transitions
    }
    fn validate(&self) -> Result<()> {
        let f = Fields::of(Self::NAME);
        f.widths("actor_hidden", &self.actor_hidden)?;
        self.critic().validate(Self::NAME)?;
        f.range("num_samples", self.num_samples, 1..)?;
        f.range("flow_steps", self.flow_steps, 1..)
    }
    fn build(&self, obs_dim: usize, act_dim: usize, seed: u64, device: &Device) -> Result<Ifql> {
        Ifql::new(self.clone(), obs_dim, act_dim, seed, device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn tiny() -> IfqlConfig {
        IfqlConfig { actor_hidden: vec![16, 16], critic_hidden: vec![16, 16], num_samples: 8, flow_steps: 4, ..Default::default() }
    }

    fn batch(seed: u64) -> Batch {
        rl::synthetic_batch(32, 3, 2, &DataSpec::Transitions, &mut ChaCha8Rng::seed_from_u64(seed))
    }

    fn values(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    }

    fn obs(n: usize) -> Vec<f32> {
        (0..n * 3).map(|i| (i as f32 * 0.37).sin()).collect()
    }

    /// Pins the velocity field to the constant c = (0.5, −2) (output weight 0, bias c), so every
    /// quantity has a closed form: the loss is `mean (c − (a − x₀))²` whatever x_t is, and the
    /// Euler end point from z is z + c, clipped to [−1, 1]. The loss `update` reports is this
    /// loss under its own draws (x₀ then t, from the stream it is given).
    #[test]
    fn flow_loss_and_euler_end_point_by_hand() {
        let dev = Device::Cpu;
        let mut a = Ifql::new(tiny(), 3, 2, 0, &dev).unwrap();
        {
            let vars = a.actor_vars.data().lock().unwrap();
            vars["actor_flow.out.weight"].set(&vars["actor_flow.out.weight"].as_tensor().zeros_like().unwrap()).unwrap();
            vars["actor_flow.out.bias"].set(&Tensor::new(&[0.5f32, -2.0], &dev).unwrap()).unwrap();
        }
        let s = Tensor::zeros((2, 3), candle_core::DType::F32, &dev).unwrap();
        let act = Tensor::new(&[[0.25f32, -0.5], [1.0, 0.0]], &dev).unwrap();
        let x0 = Tensor::new(&[[1.0f32, 0.5], [-0.5, 2.0]], &dev).unwrap();
        let t = Tensor::new(&[[0.3f32], [0.9]], &dev).unwrap();
        // Targets a − x₀: (−0.75, −1), (1.5, −2); residuals c − target: (1.25, −1), (−1, 0).
        let want = (1.25f64.powi(2) + 1.0 + 1.0 + 0.0) / 4.0;
        let got = scalar(&a.flow_loss(&s, &act, &x0, &t).unwrap()).unwrap();
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        let z = Tensor::new(&[[0.2f32, 0.3], [-2.0, 2.5], [0.9, -0.1]], &dev).unwrap();
        let s3 = Tensor::zeros((3, 3), candle_core::DType::F32, &dev).unwrap();
        let end = values(&a.flow_actions(&s3, &z).unwrap());
        let want = [0.7f32, -1.0, -1.0, 0.5, 1.0, -1.0];
        assert!(end.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-5), "{end:?} vs {want:?}");

        let b = batch(1);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut twin = rng.clone();
        let tr = Transitions::new(&b, 3, 2, &dev).unwrap();
        let x0 = a.normal(&mut twin, b.batch).unwrap();
        let t = Tensor::from_vec((0..b.batch).map(|_| twin.random::<f32>()).collect::<Vec<f32>>(), (b.batch, 1), &dev).unwrap();
        let want = scalar(&a.flow_loss(&tr.s, &tr.a, &x0, &t).unwrap()).unwrap();
        let m = a.update(&b, &mut rng).unwrap();
        let got = m.iter().find(|(k, _)| k == "flow_loss").unwrap().1;
        assert_eq!(got, want);
    }

    /// The action of each row is, among the N candidates the same stream draws, one whose
    /// min(Q₁, Q₂) is the row's highest, and the rule does select: on some row it is not the
    /// first candidate, and with N = 1 the agent acts otherwise.
    #[test]
    fn acts_with_the_candidate_of_highest_q() {
        let dev = Device::Cpu;
        let mut a = Ifql::new(tiny(), 3, 2, 2, &dev).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for s in 0..3 {
            a.update(&batch(s), &mut rng).unwrap();
        }
        let (n, m) = (5, a.cfg.num_samples);
        let o = obs(n);
        let chosen = a.act(&o, None, n, &mut ChaCha8Rng::seed_from_u64(4)).unwrap();
        let (cands, q) = a.candidates(&o, n, &mut ChaCha8Rng::seed_from_u64(4)).unwrap();
        assert_eq!((chosen.len(), cands.len(), q.len()), (n * 2, n * m * 2, n * m));
        crate::ifql::assert_picks_highest_q(&a.critic, &o, &chosen, &cands, &q, n, m);
        let one = Ifql { cfg: IfqlConfig { num_samples: 1, ..tiny() }, ..a };
        assert_ne!(one.act(&o, None, n, &mut ChaCha8Rng::seed_from_u64(4)).unwrap(), chosen);
    }

    /// A fresh agent of another seed loaded from the state acts exactly like the trained one and
    /// keeps training exactly like it (optimisers and targets included); acting is a function of
    /// the stream it is given.
    #[test]
    fn state_round_trip_resumes_bit_exactly() {
        let dev = Device::Cpu;
        let mut a = Ifql::new(tiny(), 3, 2, 1, &dev).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for s in 0..5 {
            a.update(&batch(s), &mut rng).unwrap();
        }
        let state: HashMap<String, Tensor> = a.state().unwrap().into_iter().collect();
        let mut b = Ifql::new(tiny(), 3, 2, 99, &dev).unwrap();
        let o = obs(4);
        let act = |x: &Ifql, seed: u64| x.act(&o, None, 4, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap();
        assert_eq!(act(&a, 5), act(&a, 5));
        assert_ne!(act(&a, 5), act(&a, 6), "another stream draws other candidates");
        assert_ne!(act(&a, 5), act(&b, 5), "another seed acts differently before loading");
        b.load_state(&state).unwrap();
        assert_eq!(act(&a, 5), act(&b, 5));
        let (mut ra, mut rb) = (ChaCha8Rng::seed_from_u64(8), ChaCha8Rng::seed_from_u64(8));
        for s in 5..8 {
            assert_eq!(a.update(&batch(s), &mut ra).unwrap(), b.update(&batch(s), &mut rb).unwrap());
        }
        assert_eq!(act(&a, 5), act(&b, 5));
    }

    #[test]
    fn bad_configs_and_foreign_checkpoints_are_named() {
        for (field, cfg) in [
            ("actor_hidden", IfqlConfig { actor_hidden: vec![16, 0], ..tiny() }),
            ("critic_hidden", IfqlConfig { critic_hidden: vec![0], ..tiny() }),
            ("lr", IfqlConfig { lr: 0.0, ..tiny() }),
            ("discount", IfqlConfig { discount: 1.0, ..tiny() }),
            ("tau", IfqlConfig { tau: 1.5, ..tiny() }),
            ("expectile", IfqlConfig { expectile: 1.0, ..tiny() }),
            ("num_samples", IfqlConfig { num_samples: 0, ..tiny() }),
            ("flow_steps", IfqlConfig { flow_steps: 0, ..tiny() }),
        ] {
            let e = cfg.validate().unwrap_err().to_string();
            assert!(e.contains(NAME) && e.contains(&format!("`{field}")), "{field}: {e}");
        }
        let dev = Device::Cpu;
        let mut a = Ifql::new(tiny(), 3, 2, 0, &dev).unwrap();
        let iql = crate::Iql::new(crate::IqlConfig { actor_hidden: vec![16, 16], critic_hidden: vec![16, 16], ..Default::default() }, 3, 2, 0, &dev).unwrap();
        let e = a.load_state(&iql.state().unwrap().into_iter().collect()).unwrap_err().to_string();
        assert!(e.contains(NAME) && e.contains("checkpoint lacks `actor_flow."), "{e}");
        let mut state: HashMap<String, Tensor> = Ifql::new(tiny(), 3, 2, 5, &dev).unwrap().state().unwrap().into_iter().collect();
        state.remove("opt_actor.t");
        let e = a.load_state(&state).unwrap_err().to_string();
        assert!(e.contains(NAME) && e.contains("`opt_actor.t`"), "{e}");
        let wide = Ifql::new(IfqlConfig { actor_hidden: vec![8, 8], ..tiny() }, 3, 2, 0, &dev).unwrap();
        let e = a.load_state(&wide.state().unwrap().into_iter().collect()).unwrap_err().to_string();
        assert!(e.contains(NAME) && e.contains("shape"), "{e}");
    }

    /// IFQL through the shared training loop on `kinpuzzle-3x3-play-singletask-task1` (Lights-Out
    /// from all-off to 110/101/011; dense reward #matched − 9 per step, so an episode that presses
    /// nothing returns −3,000), IQL's learning test's task and recipe (expectile 0.9, γ = 0.99,
    /// batch 256, lr 1e-3) with 2 × 64 networks and the reference's N = 32 candidates of a
    /// 10-step flow, for 6,000 steps; then the same trained agent with N = 1, its BC flow alone.
    /// Measured when written, 20 episodes per evaluation: random return −2,751; IFQL at step
    /// 6,000 −1,990 (success 0.15), its flow alone −3,000; agent seeds 1 and 2: −1,899 (0.05)
    /// and −1,442 (0.10), flow alone −2,384 and −2,993. So the critic's choice among the flow's
    /// samples, not the flow, is what beats random. Evaluated every 1,000 steps (seeds 0, 1, 2)
    /// the return swings before 6,000: −2,294, −1,990, −1,987 at 3,000 and −2,258, −2,130,
    /// −1,995 at 5,000, but −2,611, −2,178, −2,714 at 4,000, two of them inside random's spread
    /// (−2,585 to −2,751 over seven evaluation seeds); 6,000 is the smallest budget tried that every seed
    /// clears by ≥ 760, and where the flow-alone comparison was measured. 2 × 128
    /// networks learn no faster (6,000 steps: −1,719, −1,950, −1,430) at 2.2× the time. Debug
    /// build on 2 shared cores at load 4.5: 42–46 s for the test (40–45 s of training and
    /// evaluation).
    #[test]
    fn beats_a_random_policy_on_a_singletask_puzzle() {
        let task = envs::Task::resolve(crate::iql::PUZZLE).unwrap();
        let cfg = IfqlConfig { actor_hidden: vec![64, 64], critic_hidden: vec![64, 64], lr: 1e-3, ..Default::default() };
        let mut agent = Ifql::new(cfg, task.obs_dim, task.act_dim, 0, &Device::Cpu).unwrap();
        let (random, s) = crate::iql::train_on_puzzle("IFQL", &mut agent, 6000);
        // The same trained agent with one candidate: the behaviour policy alone, the critic unused.
        agent.cfg.num_samples = 1;
        let alone = rl::evaluate(&agent, &task, 20, 7).unwrap();
        println!("IFQL with N = 1 (its BC flow alone): return {:.0} (success {:.2})", alone.ret, alone.success);
        assert!(s.final_eval.ret >= random.ret + 200.0, "IFQL return {} vs random {}", s.final_eval.ret, random.ret);
        assert!(s.final_eval.ret >= alone.ret + 200.0, "IFQL return {} vs its BC flow alone {}", s.final_eval.ret, alone.ret);
    }
}
