//! Batches from an in-memory [`Dataset`], with OGBench's `Dataset` / `GCDataset` semantics
//! (`ogbench/utils.py`, `impls/utils/datasets.py`):
//!
//! - a *transition* is a row `t` that is not its episode's last (terminal) row: OGBench's loader
//!   drops the terminal row's action, and `next_observations[t] = observations[t + 1]`;
//! - transitions are drawn uniformly;
//! - a goal is a full observation row, picked by a mixture of the current row (`p_curgoal`), a
//!   row from the same episode's future (`p_trajgoal`) and any transition row (`p_randomgoal`);
//! - trajectory goals lie in `[t + 1, last]`, where `last` is the episode's last *transition*
//!   (the row before the terminal row; OGBench's `final_state_idxs` in its compacted arrays), so
//!   a goal is never the terminal row's observation and never crosses into another episode; at
//!   `t = last` the trajectory goal is `t` itself, as in OGBench;
//! - uniform future goals are uniform over `[t + 1, last]` (OGBench rounds a blend, which gives
//!   the two ends half weight; we draw exactly uniformly); geometric goals are `min(t + k, last)`
//!   with `k ~ Geometric(1 − γ)`, `k ≥ 1` (mean `1 / (1 − γ)`);
//! - `successes = (goal == t)`, `masks = 1 − successes`, `rewards = successes − 1`.
//!
//! Sampling allocates nothing beyond the output vectors (reuse a [`Batch`] with the `_into`
//! forms and it allocates nothing at all): each row's episode end is precomputed.

use std::sync::Arc;

use rand::Rng;

use crate::dataset::Dataset;
use crate::error::{EnvError, Result};

/// How goals are drawn (OGBench's `GCDataset` config keys). The three probabilities must sum to 1.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GoalConfig {
    /// Probability that the goal is the current observation.
    pub p_curgoal: f32,
    /// Probability that the goal comes from the same episode's future.
    pub p_trajgoal: f32,
    /// Probability that the goal is a uniformly drawn transition's observation.
    pub p_randomgoal: f32,
    /// Future offsets ~ Geometric(1 − γ) instead of uniform over the rest of the episode.
    pub geom_sample: bool,
    /// Discount for geometric offsets.
    pub gamma: f32,
}

impl Default for GoalConfig {
    /// OGBench's GCBC: goals uniformly from the same episode's future.
    fn default() -> Self {
        Self { p_curgoal: 0.0, p_trajgoal: 1.0, p_randomgoal: 0.0, geom_sample: false, gamma: 0.99 }
    }
}

impl GoalConfig {
    /// The NF-GCBC recipe: trajectory goals at future offsets `k ~ Geometric(1 − γ)`, `k ≥ 1`,
    /// truncated at the episode's last transition.
    pub fn geometric(gamma: f32) -> Self {
        Self { p_curgoal: 0.0, p_trajgoal: 1.0, p_randomgoal: 0.0, geom_sample: true, gamma }
    }

    /// Checks each probability is in [0, 1], that they sum to 1, and (for geometric sampling)
    /// that `gamma` is in [0, 1).
    pub fn validate(&self) -> Result<()> {
        for (field, p) in [("p_curgoal", self.p_curgoal), ("p_trajgoal", self.p_trajgoal), ("p_randomgoal", self.p_randomgoal)] {
            if !(0.0..=1.0).contains(&p) {
                return Err(EnvError::Invalid(format!("GoalConfig.{field} = {p} is not a probability in [0, 1]")));
            }
        }
        let sum = self.p_curgoal + self.p_trajgoal + self.p_randomgoal;
        if (sum - 1.0).abs() > 1e-4 {
            return Err(EnvError::Invalid(format!("GoalConfig: p_curgoal + p_trajgoal + p_randomgoal = {} + {} + {} = {sum}, must be 1", self.p_curgoal, self.p_trajgoal, self.p_randomgoal)));
        }
        if self.geom_sample && !(0.0..1.0).contains(&self.gamma) {
            return Err(EnvError::Invalid(format!("GoalConfig.gamma = {} must be in [0, 1) for geometric goal sampling", self.gamma)));
        }
        Ok(())
    }
}

/// OGBench's `GCDataset` as its value-based agents use it (GCIVL, GCIQL, QRL, CRL, HIQL): the
/// rewards and masks refer to *value* goals drawn from one mixture, while the policy learns from
/// *actor* goals drawn from another (`value_p_*` and `actor_p_*` in the agents' configs); with
/// `subgoal_steps` > 0 also `HGCDataset`'s subgoals for HIQL.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ValueGoals {
    /// The value goals' mixture; `batch.goals`, `rewards` and `masks` refer to them.
    pub value: GoalConfig,
    /// The actor goals' mixture (`batch.actor_goals`). With subgoals, as `HGCDataset`: only its
    /// `p_randomgoal`, `geom_sample` and `gamma` are read (a high-level goal is a future state of
    /// the same episode or a random state, never the current one).
    pub actor: GoalConfig,
    /// HIQL's subgoal distance k (`subgoal_steps`); 0 draws no subgoals.
    pub subgoal_steps: usize,
}

impl ValueGoals {
    pub fn validate(&self) -> Result<()> {
        self.value.validate()?;
        self.actor.validate()
    }
}

/// One batch, row-major: `observations` is `[batch, obs_dim]`, and so on. `goals` (and, for
/// plain transition batches, nothing else) is empty when there are no goals.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Batch {
    pub batch: usize,
    pub obs_dim: usize,
    pub act_dim: usize,
    pub observations: Vec<f32>,
    pub actions: Vec<f32>,
    pub next_observations: Vec<f32>,
    /// `[batch, act_dim]`: the dataset's action at `t + 1` (ReBRAC's critic penalty uses it).
    pub next_actions: Vec<f32>,
    /// `[batch, obs_dim]`: the goal observation rows (empty for [`TransitionSampler`] batches).
    pub goals: Vec<f32>,
    pub rewards: Vec<f32>,
    pub masks: Vec<f32>,
    /// The dataset rows drawn (transition `t` uses rows `t` and `t + 1`).
    pub idxs: Vec<usize>,
    /// The goal rows (empty without goals).
    pub goal_idxs: Vec<usize>,
    /// `[batch, obs_dim]`: a [`ValueGoals`] batch's actor goals (HIQL: its high-level goals);
    /// empty otherwise.
    pub actor_goals: Vec<f32>,
    /// `[batch, obs_dim]`: HIQL's low-level goals, the state `subgoal_steps` ahead in the same
    /// episode (its last state if nearer); empty without subgoals.
    pub subgoals: Vec<f32>,
    /// `[batch, obs_dim]`: HIQL's high-level targets, the state `subgoal_steps` ahead on the way to
    /// the actor goal (for a random actor goal, the same episode's state `subgoal_steps` ahead);
    /// empty without subgoals.
    pub subgoal_targets: Vec<f32>,
}

impl Batch {
    fn reset(&mut self, batch: usize, obs_dim: usize, act_dim: usize, goals: bool) {
        self.batch = batch;
        self.obs_dim = obs_dim;
        self.act_dim = act_dim;
        for v in [&mut self.observations, &mut self.next_observations] {
            v.clear();
            v.reserve(batch * obs_dim);
        }
        self.goals.clear();
        if goals {
            self.goals.reserve(batch * obs_dim);
        }
        for v in [&mut self.actions, &mut self.next_actions] {
            v.clear();
            v.reserve(batch * act_dim);
        }
        for v in [&mut self.rewards, &mut self.masks] {
            v.clear();
            v.reserve(batch);
        }
        self.idxs.clear();
        self.idxs.reserve(batch);
        self.goal_idxs.clear();
        if goals {
            self.goal_idxs.reserve(batch);
        }
        for v in [&mut self.actor_goals, &mut self.subgoals, &mut self.subgoal_targets] {
            v.clear();
        }
    }
}

/// Uniform transitions of a dataset (offline RL), with optional per-row rewards and masks.
#[derive(Clone, Debug)]
pub struct TransitionSampler {
    ds: Arc<Dataset>,
    /// The transition rows (not an episode's terminal row).
    valid: Vec<usize>,
    /// For every row, its episode's last transition row.
    last: Vec<usize>,
    /// For every row, its episode's first row.
    first: Vec<usize>,
    rewards: Option<Vec<f32>>,
    masks: Option<Vec<f32>>,
}

impl TransitionSampler {
    /// Indexes `ds`. Errors if it is empty, its last row is not terminal, its arrays disagree
    /// with its dims, or it has no transition (every episode a single row).
    pub fn new(ds: impl Into<Arc<Dataset>>) -> Result<Self> {
        let ds: Arc<Dataset> = ds.into();
        let n = ds.len();
        if n == 0 {
            return Err(EnvError::Invalid("dataset is empty: nothing to sample".into()));
        }
        for (field, len, dim) in [("observations", ds.observations.len(), ds.obs_dim), ("actions", ds.actions.len(), ds.act_dim)] {
            if len != n * dim {
                return Err(EnvError::Invalid(format!("dataset field `{field}` has {len} values, {n} rows × {dim} needs {}", n * dim)));
            }
        }
        if ds.terminals[n - 1] <= 0.5 {
            return Err(EnvError::Invalid(format!("dataset `terminals`: the last row ({}) is not terminal, so the final episode is cut off", n - 1)));
        }
        let mut valid = Vec::with_capacity(n);
        let mut last = vec![0usize; n];
        let mut first = vec![0usize; n];
        let mut start = 0;
        for (t, &term) in ds.terminals.iter().enumerate() {
            if term > 0.5 {
                // Rows start..t are transitions; their last is t − 1. A one-row episode has none.
                let end = t.saturating_sub(1).max(start);
                last[start..=t].fill(end);
                first[start..=t].fill(start);
                valid.extend(start..t);
                start = t + 1;
            }
        }
        if valid.is_empty() {
            return Err(EnvError::Invalid("dataset has no transitions (every episode is a single terminal row)".into()));
        }
        Ok(Self { ds, valid, last, first, rewards: None, masks: None })
    }

    /// Uses `rewards[t]` and `masks[t]` (one per dataset row, e.g. from singletask relabelling)
    /// for transition `t`, instead of the default reward 0 and mask 1.
    pub fn with_rewards(mut self, rewards: Vec<f32>, masks: Vec<f32>) -> Result<Self> {
        let n = self.ds.len();
        for (field, len) in [("rewards", rewards.len()), ("masks", masks.len())] {
            if len != n {
                return Err(EnvError::Invalid(format!("{field} has {len} entries, the dataset has {n} rows")));
            }
        }
        self.rewards = Some(rewards);
        self.masks = Some(masks);
        Ok(self)
    }

    pub fn dataset(&self) -> &Dataset {
        &self.ds
    }
    /// Number of transitions (rows that are not an episode's terminal row).
    pub fn len(&self) -> usize {
        self.valid.len()
    }
    pub fn is_empty(&self) -> bool {
        self.valid.is_empty()
    }
    /// The transition rows, in order.
    pub fn valid_indices(&self) -> &[usize] {
        &self.valid
    }
    /// The last transition row of `row`'s episode (the row before its terminal row).
    pub fn episode_last(&self, row: usize) -> usize {
        self.last[row]
    }

    #[inline]
    fn draw<R: Rng + ?Sized>(&self, rng: &mut R) -> usize {
        self.valid[rng.random_range(0..self.valid.len())]
    }

    #[inline]
    fn push_transition(&self, out: &mut Batch, t: usize) {
        let ds = &*self.ds;
        out.observations.extend_from_slice(ds.observation(t));
        out.next_observations.extend_from_slice(ds.observation(t + 1));
        out.actions.extend_from_slice(ds.action(t));
        out.next_actions.extend_from_slice(ds.action(t + 1));
        out.idxs.push(t);
    }

    /// NF-BC's imitation batches: for `batch` uniform rows t, `observations` holds the
    /// `obs_history` observations ending at t (oldest first, the episode's first observation
    /// repeated before its start) and `actions` the `action_chunk` actions from t (the episode's
    /// last transition's action repeated past its end); `obs_dim` and `act_dim` of the batch are
    /// the flattened widths. Goals, rewards and next observations are left empty.
    pub fn sample_chunks_into<R: Rng + ?Sized>(&self, batch: usize, obs_history: usize, action_chunk: usize, rng: &mut R, out: &mut Batch) {
        let ds = &*self.ds;
        let (h, k) = (obs_history.max(1), action_chunk.max(1));
        out.reset(batch, h * ds.obs_dim, k * ds.act_dim, false);
        for _ in 0..batch {
            let t = self.draw(rng);
            let (first, last) = (self.first[t], self.last[t]);
            for j in 0..h {
                let row = (t + j + 1).saturating_sub(h).max(first);
                out.observations.extend_from_slice(ds.observation(row));
            }
            for j in 0..k {
                out.actions.extend_from_slice(ds.action((t + j).min(last)));
            }
            out.idxs.push(t);
        }
    }

    /// `batch` uniform transitions with the supplied (or default 0 / 1) rewards and masks.
    pub fn sample_transitions<R: Rng + ?Sized>(&self, batch: usize, rng: &mut R) -> Batch {
        let mut out = Batch::default();
        self.sample_transitions_into(batch, rng, &mut out);
        out
    }

    /// [`TransitionSampler::sample_transitions`] into a reused batch.
    pub fn sample_transitions_into<R: Rng + ?Sized>(&self, batch: usize, rng: &mut R, out: &mut Batch) {
        out.reset(batch, self.ds.obs_dim, self.ds.act_dim, false);
        for _ in 0..batch {
            let t = self.draw(rng);
            self.push_transition(out, t);
            out.rewards.push(self.rewards.as_ref().map_or(0.0, |r| r[t]));
            out.masks.push(self.masks.as_ref().map_or(1.0, |m| m[t]));
        }
    }
}

/// Goal-conditioned batches (OGBench's `GCDataset.sample`).
#[derive(Clone, Debug)]
pub struct GcSampler {
    inner: TransitionSampler,
    cfg: GoalConfig,
    /// The actor goals' mixture and HIQL's subgoal distance, for [`ValueGoals`] batches.
    actor: Option<(GoalConfig, usize)>,
}

impl GcSampler {
    pub fn new(ds: impl Into<Arc<Dataset>>, cfg: GoalConfig) -> Result<Self> {
        cfg.validate()?;
        Ok(Self { inner: TransitionSampler::new(ds)?, cfg, actor: None })
    }

    /// Batches with value goals and actor goals (and subgoals), as OGBench's value-based agents
    /// sample them.
    pub fn value_based(ds: impl Into<Arc<Dataset>>, goals: ValueGoals) -> Result<Self> {
        goals.validate()?;
        Ok(Self { inner: TransitionSampler::new(ds)?, cfg: goals.value, actor: Some((goals.actor, goals.subgoal_steps)) })
    }
    pub fn config(&self) -> &GoalConfig {
        &self.cfg
    }
    /// The underlying transition sampler (for [`TransitionSampler::sample_transitions`]).
    pub fn transitions(&self) -> &TransitionSampler {
        &self.inner
    }
    pub fn dataset(&self) -> &Dataset {
        self.inner.dataset()
    }

    /// A goal row for transition `t` from mixture `c`.
    #[inline]
    fn goal<R: Rng + ?Sized>(&self, c: &GoalConfig, t: usize, rng: &mut R) -> usize {
        let u: f32 = rng.random();
        if u < c.p_curgoal {
            return t;
        }
        if u < c.p_curgoal + c.p_trajgoal || c.p_randomgoal == 0.0 {
            self.future(c, t, rng)
        } else {
            self.inner.draw(rng)
        }
    }

    /// A later state of `t`'s episode: `t + k` with `k ~ Geometric(1 − γ)` capped at the
    /// episode's last state, or uniform over the rest of the episode; `t` itself if it is last.
    #[inline]
    fn future<R: Rng + ?Sized>(&self, c: &GoalConfig, t: usize, rng: &mut R) -> usize {
        let last = self.inner.last[t];
        if t >= last {
            return t;
        }
        if c.geom_sample {
            // k = 1 + floor(ln U / ln γ), U ∈ (0, 1]: P(k) = γ^(k−1) (1 − γ), k ≥ 1.
            let u = 1.0 - rng.random::<f64>();
            let k = 1.0 + (u.ln() / (c.gamma as f64).ln()).floor();
            // `as usize` saturates, so huge offsets (γ near 1) land on `last`.
            t.saturating_add(k as usize).min(last)
        } else {
            rng.random_range(t + 1..=last)
        }
    }

    /// `batch` goal-conditioned transitions.
    pub fn sample<R: Rng + ?Sized>(&self, batch: usize, rng: &mut R) -> Batch {
        let mut out = Batch::default();
        self.sample_into(batch, rng, &mut out);
        out
    }

    /// [`GcSampler::sample`] into a reused batch (no allocation once its vectors have grown).
    pub fn sample_into<R: Rng + ?Sized>(&self, batch: usize, rng: &mut R, out: &mut Batch) {
        let ds = self.inner.dataset();
        out.reset(batch, ds.obs_dim, ds.act_dim, true);
        for _ in 0..batch {
            let t = self.inner.draw(rng);
            let g = self.goal(&self.cfg, t, rng);
            self.inner.push_transition(out, t);
            out.goals.extend_from_slice(ds.observation(g));
            out.goal_idxs.push(g);
            let success = (g == t) as u8 as f32;
            out.masks.push(1.0 - success);
            out.rewards.push(success - 1.0);
            match self.actor {
                None => {}
                Some((actor, 0)) => {
                    let a = self.goal(&actor, t, rng);
                    out.actor_goals.extend_from_slice(ds.observation(a));
                }
                Some((actor, k)) => {
                    // HGCDataset: the low-level goal k steps ahead; the high-level goal a future
                    // state or (with `p_randomgoal`) a random one, and its target k steps towards
                    // it (towards the episode's end for a random goal).
                    let ahead = t.saturating_add(k).min(self.inner.last[t]);
                    let future = self.future(&actor, t, rng);
                    let (high, target) = if rng.random::<f32>() < actor.p_randomgoal { (self.inner.draw(rng), ahead) } else { (future, ahead.min(future)) };
                    out.subgoals.extend_from_slice(ds.observation(ahead));
                    out.actor_goals.extend_from_slice(ds.observation(high));
                    out.subgoal_targets.extend_from_slice(ds.observation(target));
                }
            }
        }
    }
}
