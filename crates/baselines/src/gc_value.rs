//! What OGBench's value-based goal-conditioned agents share (`impls/agents/gcivl.py`,
//! `gciql.py`, `impls/utils/networks.py`, `impls/utils/datasets.py`), so that `gcivl.rs` and
//! `gciql.rs` hold only their losses: the networks as OGBench initialises them, the expectile
//! loss, the two policy extractions of the constant-unit-std Gaussian actor (AWR, DDPG+BC), the
//! goal mixtures of `GCDataset`, and the plumbing of batches (with HIQL's `HGCDataset` subgoals)
//! and checkpoints.

use std::collections::HashMap;

use candle_core::{Device, Tensor, D};
use candle_nn::VarMap;
use envs::{Batch, GoalConfig, ValueGoals};
use nf_core::{Activation, AdamW, Mlp};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rl::{rows_tensor, varmap_state, Fields, Result, RlError};

/// The clip of the AWR weight `exp(α·A)` (OGBench and FQL: `jnp.minimum(exp_a, 100.0)`): a few
/// large advantages would otherwise make the actor loss a regression onto a handful of rows.
pub const AWR_MAX_WEIGHT: f32 = 100.0;

/// An OGBench `MLP`: `hidden × [Dense → GELU → LayerNorm?] → Dense(output)`, every kernel drawn
/// from OGBench's `default_init(scale) = variance_scaling(scale, 'fan_avg', 'uniform')`, i.e.
/// `U(±√(6·scale / (fan_in + fan_out)))` (`out_scale` for the last layer), biases zero.
/// nf-core's `Mlp` draws flax's lecun-normal instead, whose first layer is ~8× wider on 2-D maze
/// inputs, so its kernels are redrawn here from `rng`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn mlp(vars: &VarMap, name: &str, input: usize, hidden: &[usize], output: usize, layer_norm: bool, out_scale: f64, rng: &mut ChaCha8Rng, device: &Device) -> Result<Mlp> {
    let net = Mlp::new(vars, name, input, hidden, output, Activation::Gelu, layer_norm, 0, device)?;
    let data = vars.data().lock().unwrap();
    let kernels = (0..hidden.len()).map(|i| (format!("{name}.{i}.weight"), 1.0)).chain([(format!("{name}.out.weight"), out_scale)]);
    for (key, scale) in kernels {
        let var = &data[&key];
        let (fan_out, fan_in) = var.dims2()?;
        let bound = (6.0 * scale / (fan_in + fan_out) as f64).sqrt();
        let w: Vec<f32> = (0..fan_out * fan_in).map(|_| rng.random_range(-bound..=bound) as f32).collect();
        var.set(&Tensor::from_vec(w, (fan_out, fan_in), device)?)?;
    }
    Ok(net)
}

/// OGBench's `GCActor` with `const_std=True`: the MLP gives the mean of a unit-std Gaussian; its
/// head starts near zero (`final_fc_init_scale = 1e-2`), and so do the first actions.
pub(crate) fn actor(vars: &VarMap, obs_dim: usize, hidden: &[usize], act_dim: usize, rng: &mut ChaCha8Rng, device: &Device) -> Result<Mlp> {
    mlp(vars, "actor", 2 * obs_dim, hidden, act_dim, false, 1e-2, rng, device)
}

/// OGBench's `GCValue(ensemble=True)`: `ensemblize(MLP, 2)` draws the two members' parameters
/// independently (`{name}0`, `{name}1`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn twin(vars: &VarMap, name: &str, input: usize, hidden: &[usize], layer_norm: bool, rng: &mut ChaCha8Rng, device: &Device) -> Result<[Mlp; 2]> {
    Ok([mlp(vars, &format!("{name}0"), input, hidden, 1, layer_norm, 1.0, rng, device)?, mlp(vars, &format!("{name}1"), input, hidden, 1, layer_norm, 1.0, rng, device)?])
}

/// A value network's output as `[n]`.
pub(crate) fn value(net: &Mlp, x: &Tensor) -> Result<Tensor> {
    Ok(net.forward(x)?.squeeze(D::Minus1)?)
}

/// [`value`] with the weights frozen: a network the loss reads but does not train (a target, or
/// the critic inside the actor's loss). Gradients still reach `x`.
pub(crate) fn frozen(net: &Mlp, x: &Tensor) -> Result<Tensor> {
    Ok(net.forward_frozen(x)?.squeeze(D::Minus1)?)
}

pub(crate) fn twin_values(nets: &[Mlp; 2], x: &Tensor) -> Result<[Tensor; 2]> {
    Ok([value(&nets[0], x)?, value(&nets[1], x)?])
}

pub(crate) fn twin_frozen(nets: &[Mlp; 2], x: &Tensor) -> Result<[Tensor; 2]> {
    Ok([frozen(&nets[0], x)?, frozen(&nets[1], x)?])
}

/// `[x_1, x_2, …]` along the features: OGBench's networks read `concat([s, g])` and
/// `concat([s, g, a])`.
pub(crate) fn cat(parts: &[&Tensor]) -> Result<Tensor> {
    Ok(Tensor::cat(parts, D::Minus1)?)
}

/// IQL's expectile loss `|τ − 1(adv < 0)|·diff²`, per row (`L₂^τ` of the IQL paper, eq. 5, when
/// `adv = diff`: the overshoot below the target costs τ, the one above it 1 − τ, so the
/// regression settles on an upper expectile). OGBench passes the sign's argument
/// apart from the squared difference: GCIVL takes the sign from the target network (a
/// double-DQN-like guard against overestimation), GCIQL passes the same difference twice.
pub fn expectile_loss(adv: &Tensor, diff: &Tensor, expectile: f64) -> Result<Tensor> {
    let (shape, dev) = (adv.shape(), adv.device());
    let weight = adv.ge(0f32)?.where_cond(&Tensor::full(expectile as f32, shape, dev)?, &Tensor::full((1.0 - expectile) as f32, shape, dev)?)?;
    Ok((weight * diff.sqr()?)?)
}

/// `log N(a; μ, I)` per row, the actor's log-likelihood of the dataset's action (`const_std`:
/// log σ = 0).
pub fn unit_log_prob(a: &Tensor, mu: &Tensor) -> Result<Tensor> {
    let d = a.dim(D::Minus1)? as f64;
    Ok(((a - mu)?.sqr()?.sum(D::Minus1)? * -0.5)?.affine(1.0, -0.5 * d * (2.0 * std::f64::consts::PI).ln())?)
}

/// AWR: `−mean min(exp(α·A), 100)·log π(a | s, g)`, behaviour cloning weighted by how much better
/// the dataset's action is than the policy's average; the weight is a constant of the actor's
/// parameters, and the clip keeps a few large advantages from taking over the batch.
pub(crate) fn awr_loss(adv: &Tensor, log_prob: &Tensor, alpha: f64) -> Result<Tensor> {
    Ok((awr_weights(adv, alpha)? * log_prob)?.mean_all()?.neg()?)
}

/// AWR's weights `min(exp(α·A), 100)`, a constant of the actor's parameters.
pub fn awr_weights(adv: &Tensor, alpha: f64) -> Result<Tensor> {
    Ok((adv.detach() * alpha)?.exp()?.minimum(AWR_MAX_WEIGHT)?)
}

/// DDPG+BC: `−mean Q / sg(mean |Q| + 1e−6) − α·mean log π(a_D | s, g)`, with `Q` of the actor's
/// own (clipped) mean action. Dividing by Q's scale makes α mean the same on every task (TD3+BC's
/// normalisation). Returns the loss and its two terms.
pub(crate) fn ddpgbc_loss(q: &Tensor, log_prob: &Tensor, alpha: f64) -> Result<(Tensor, Tensor, Tensor)> {
    let scale = (q.abs()?.mean_all()? + 1e-6)?.detach();
    let q_loss = (q.mean_all()?.neg()? / &scale)?;
    let bc_loss = (log_prob.mean_all()? * -alpha)?;
    Ok(((&q_loss + &bc_loss)?, q_loss, bc_loss))
}

/// One `GCDataset` goal mixture as the configs spell it (`value_p_curgoal`, … or `actor_…`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mixture {
    pub p_curgoal: f64,
    pub p_trajgoal: f64,
    pub p_randomgoal: f64,
    pub geom_sample: bool,
}

impl Mixture {
    /// Each probability in [0, 1] and the three summing to 1 (`GCDataset` asserts it), each error
    /// naming the config's fields (`{side}_p_curgoal`, …).
    pub(crate) fn check(&self, f: &Fields, side: &str) -> Result<()> {
        for (p, v) in [("p_curgoal", self.p_curgoal), ("p_trajgoal", self.p_trajgoal), ("p_randomgoal", self.p_randomgoal)] {
            f.range(&format!("{side}_{p}"), v, 0.0..=1.0)?;
        }
        let sum = self.p_curgoal + self.p_trajgoal + self.p_randomgoal;
        if (sum - 1.0).abs() > 1e-4 {
            return Err(f.error(&format!("{side}_p_curgoal + {side}_p_trajgoal + {side}_p_randomgoal"), format!("the three sum to {sum}, not 1")));
        }
        Ok(())
    }

    /// The sampler's form; geometric offsets use the agent's discount, as `GCDataset` does.
    fn goals(&self, discount: f64) -> GoalConfig {
        GoalConfig { p_curgoal: self.p_curgoal as f32, p_trajgoal: self.p_trajgoal as f32, p_randomgoal: self.p_randomgoal as f32, geom_sample: self.geom_sample, gamma: discount as f32 }
    }
}

/// The batches both agents train on: value goals (which the rewards and masks refer to) from one
/// mixture, actor goals from the other, no subgoals.
pub(crate) fn value_goals(value: Mixture, actor: Mixture, discount: f64) -> ValueGoals {
    ValueGoals { value: value.goals(discount), actor: actor.goals(discount), subgoal_steps: 0 }
}

/// A [`ValueGoals`] batch as tensors: `g` the value goals, `ga` the actor goals.
pub(crate) struct GcBatch {
    pub s: Tensor,
    pub s2: Tensor,
    pub a: Tensor,
    pub g: Tensor,
    pub ga: Tensor,
    pub r: Tensor,
    pub mask: Tensor,
}

impl GcBatch {
    pub(crate) fn new(agent: &str, b: &Batch, obs_dim: usize, act_dim: usize, device: &Device) -> Result<Self> {
        let n = b.batch;
        if b.goals.len() != n * obs_dim || b.actor_goals.len() != n * obs_dim {
            return Err(RlError::Config {
                agent: agent.into(),
                reason: format!("needs value and actor goals (DataSpec::ValueGoals); the batch has {} and {} goal values for {n} rows", b.goals.len(), b.actor_goals.len()),
            });
        }
        let rows = |v: &[f32], d: usize| Tensor::from_slice(v, (n, d), device);
        Ok(Self {
            s: rows(&b.observations, obs_dim)?,
            s2: rows(&b.next_observations, obs_dim)?,
            a: rows(&b.actions, act_dim)?,
            g: rows(&b.goals, obs_dim)?,
            ga: rows(&b.actor_goals, obs_dim)?,
            r: Tensor::from_slice(&b.rewards, n, device)?,
            mask: Tensor::from_slice(&b.masks, n, device)?,
        })
    }

    /// `r + γ·m·v'`: the one-step return through a next-state value.
    pub(crate) fn ret(&self, discount: f64, next: &Tensor) -> Result<Tensor> {
        Ok((&self.r + ((&self.mask * next)? * discount)?)?)
    }
}

/// HIQL's rows of a [`ValueGoals`] batch drawn with `subgoal_steps` > 0 (`HGCDataset`): `w` the
/// low-level goals (`low_actor_goals`, the state k steps ahead) and `target` the high-level
/// targets (`high_actor_targets`, k steps towards the actor goal); the high-level goals are the
/// batch's actor goals ([`GcBatch::ga`]).
pub(crate) struct Subgoals {
    pub w: Tensor,
    pub target: Tensor,
}

impl Subgoals {
    pub(crate) fn new(agent: &str, b: &Batch, obs_dim: usize, device: &Device) -> Result<Self> {
        let n = b.batch;
        if b.subgoals.len() != n * obs_dim || b.subgoal_targets.len() != n * obs_dim {
            return Err(RlError::Config {
                agent: agent.into(),
                reason: format!(
                    "needs subgoals (DataSpec::ValueGoals with subgoal_steps > 0); the batch has {} subgoal and {} subgoal-target values for {n} rows",
                    b.subgoals.len(),
                    b.subgoal_targets.len()
                ),
            });
        }
        Ok(Self { w: Tensor::from_slice(&b.subgoals, (n, obs_dim), device)?, target: Tensor::from_slice(&b.subgoal_targets, (n, obs_dim), device)? })
    }
}

/// The actor's mean action for `[s, g]` rows: OGBench evaluates at temperature 0.
pub(crate) fn act(agent: &str, actor: &Mlp, obs: &[f32], goals: Option<&[f32]>, n: usize, obs_dim: usize, device: &Device) -> Result<Vec<f32>> {
    let goals = goals.ok_or_else(|| RlError::Config { agent: agent.into(), reason: "act() needs goals".into() })?;
    let x = rows_tensor(&[(obs, obs_dim), (goals, obs_dim)], n, device)?;
    Ok(actor.forward(&x)?.flatten_all()?.to_vec1::<f32>()?)
}

/// The trainable variables, the targets (`target.…`) and the one Adam over the trainable ones.
pub(crate) fn state(vars: &VarMap, targets: &VarMap, opt: &AdamW) -> Result<Vec<(String, Tensor)>> {
    let mut out = varmap_state(vars, "");
    out.extend(varmap_state(targets, "target."));
    out.extend(opt.state("opt")?);
    Ok(out)
}

/// Restores what [`state`] saved. Every parameter's name and shape is checked, in sorted order,
/// before any is overwritten: a foreign checkpoint is refused naming the same key every time, and
/// leaves the parameters as they were.
pub(crate) fn load_state(agent: &str, vars: &VarMap, targets: &VarMap, opt: &mut AdamW, state: &HashMap<String, Tensor>) -> Result<()> {
    let err = |reason: String| RlError::Config { agent: agent.into(), reason };
    for (map, prefix) in [(vars, ""), (targets, "target.")] {
        let data = map.data().lock().unwrap();
        let mut names: Vec<&String> = data.keys().collect();
        names.sort();
        for name in names {
            let key = format!("{prefix}{name}");
            let t = state.get(&key).ok_or_else(|| err(format!("checkpoint lacks `{key}` (not a {agent} checkpoint)")))?;
            if t.dims() != data[name].dims() {
                return Err(err(format!("`{key}` has shape {:?}, the agent expects {:?} (a checkpoint of another configuration)", t.dims(), data[name].dims())));
            }
        }
    }
    for (map, prefix) in [(vars, ""), (targets, "target.")] {
        for (name, var) in map.data().lock().unwrap().iter() {
            var.set(&state[&format!("{prefix}{name}")].to_device(var.device())?)?;
        }
    }
    Ok(opt.load_state("opt", state)?)
}

/// The goal-conditioned value agents' learning test: `agent` (`name` in the messages) trained
/// on pointmaze-medium-navigate's 200 trajectories of 1,001 steps with an evaluation of 20
/// episodes per task every `every` steps. At these budgets a policy solves one task of five or
/// none, and which evaluation catches it changes, so the best evaluation is held to one task
/// solved (random + 0.15), where random solves none.
#[cfg(test)]
pub(crate) fn assert_beats_random_on_pointmaze_medium(name: &str, agent: &mut dyn rl::Agent, steps: u64, every: u64, batch_size: usize) {
    let task = envs::Task::resolve("pointmaze-medium-navigate").unwrap();
    let random = rl::evaluate(&crate::random::Random::new(task.act_dim), &task, 20, 7).unwrap();
    let train = rl::TrainConfig { steps, batch_size, eval_every: every, eval_episodes: 20, seed: 0 };
    let data = envs::generate_with(task.name(), 0, envs::Split::Train, 200, 1001).unwrap();
    let dir = std::env::temp_dir().join(format!("nf-rl-{}-{}", name.to_lowercase(), std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let t0 = std::time::Instant::now();
    let mut evals = Vec::new();
    let s = rl::train(agent, &task, data, &train, &dir, &mut |p| {
        if p.step % every == 0 {
            evals.extend(p.last_eval.map(|e| format!("{:.2}", e.success)));
        }
    })
    .unwrap();
    println!(
        "{}, 20 episodes per task: success random {:.3}; {name} every {every} steps [{}], best {:.2} ({:.0} s)",
        task.name(),
        random.success,
        evals.join(", "),
        s.best_score,
        t0.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(s.best_score >= random.success + 0.15, "{name} {} vs random {}", s.best_score, random.success);
}
