//! The evaluation protocol (OGBench's): every evaluation task of a goal-conditioned task (only
//! its own task for a singletask variant) is run for `episodes` episodes in parallel over a
//! [`VecEnv`]; actions are clipped to the action box; an episode succeeds if the task's success
//! rule held at some step (OGBench's goal-conditioned and singletask episodes end there; the
//! online mazes run on, and count JaxGCRL's "success any").
//!
//! The imitation tasks (no goals, one evaluation task of random initial states) are scored as
//! the VQ-BeT suite scores them: each episode's best and last [`envs::Info::score`] (PushT: max
//! and final coverage; the counting tasks: goals, blocks or sub-tasks done). For goal-conditioned
//! tasks the score is the success as 0 or 1, so the best score is the success rate.

use envs::{Task, VecEnv};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::agent::{Agent, DataSpec};
use crate::error::Result;
use crate::seeds::mix;

/// One evaluation task's outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskResult {
    /// `task1` … `task5` (or `easy` / `hard`).
    pub task: String,
    pub success: f64,
    /// Mean undiscounted episode return.
    pub ret: f64,
    /// Mean over episodes of the episode's best score (= `success` for goal-conditioned tasks).
    pub score: f64,
    /// Mean over episodes of the score at the episode's end.
    pub score_final: f64,
    /// Mean over episodes of the share of the episode's steps that ended at the goal (JaxGCRL's
    /// `episode_success`, time at the goal, divided by the episode's length).
    pub at_goal: f64,
    pub episodes: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct EvalReport {
    pub tasks: Vec<TaskResult>,
    /// Mean over tasks.
    pub success: f64,
    pub ret: f64,
    /// Mean over tasks of [`TaskResult::score`].
    pub score: f64,
    pub score_final: f64,
}

/// Runs the protocol for `agent` on `task` with `episodes` episodes per evaluation task.
pub fn evaluate(agent: &dyn Agent, task: &Task, episodes: usize, seed: u64) -> Result<EvalReport> {
    evaluate_observed(agent, task, episodes, seed, &mut |_, _, _| {})
}

/// What [`evaluate_observed`] calls after every step: `(task_id, observations, active)`.
pub type Observer<'a> = dyn FnMut(usize, &[f32], &[bool]) + 'a;

/// [`evaluate`], calling `observe(task_id, observations, active)` after every step with all
/// episodes' observations (`[episodes, obs_dim]`) and which are still running: what a test or a
/// plot needs to see how the episodes went (which mode a multimodal policy chose).
pub fn evaluate_observed(agent: &dyn Agent, task: &Task, episodes: usize, seed: u64, observe: &mut Observer<'_>) -> Result<EvalReport> {
    run(agent, task, episodes, seed, false, observe)
}

/// [`evaluate_observed`] with every episode starting from the same state (the first episode's
/// reset), so that what differs between episodes is the policy's own sampling: how a test tells
/// a policy that keeps several modes from one whose mode the start decides.
pub fn evaluate_from_one_start(agent: &dyn Agent, task: &Task, episodes: usize, seed: u64, observe: &mut Observer<'_>) -> Result<EvalReport> {
    run(agent, task, episodes, seed, true, observe)
}

fn run(agent: &dyn Agent, task: &Task, episodes: usize, seed: u64, one_start: bool, observe: &mut Observer<'_>) -> Result<EvalReport> {
    let probe = task.make()?;
    let task_ids: Vec<usize> = match task.meta.singletask {
        Some(k) => vec![k],
        None => (1..=probe.tasks().len()).collect(),
    };
    let goal_conditioned = agent.data_spec().is_goal_conditioned();
    let chunking = match agent.data_spec() {
        DataSpec::Chunks { obs_history, action_chunk, execute } => Some((obs_history.max(1), action_chunk.max(1), execute.clamp(1, action_chunk.max(1)))),
        _ => None,
    };
    let spec = probe.action_spec().clone();
    let act_dim = spec.dim();
    let mut venv = VecEnv::from_env(probe.as_ref(), episodes);
    let mut out = Vec::with_capacity(task_ids.len());
    for &k in &task_ids {
        let seeds: Vec<u64> = (0..episodes as u64).map(|e| mix(&[seed, k as u64, if one_start { 0 } else { e }])).collect();
        venv.reset(&seeds, Some(k))?;
        let mut rng = ChaCha8Rng::seed_from_u64(mix(&[seed, k as u64, u64::MAX]));
        let mut active = vec![true; episodes];
        let mut success = vec![false; episodes];
        let mut returns = vec![0.0f64; episodes];
        let mut best = vec![0.0f64; episodes];
        let mut last = vec![0.0f64; episodes];
        let mut at_goal = vec![0u64; episodes];
        let mut steps = vec![0u64; episodes];
        let obs_dim = venv.obs_dim();
        // Chunked agents: a rolling history per env (the first observation repeated at the
        // start, as in training), and the current chunk of predicted actions.
        let mut history: Vec<f32> = Vec::new();
        let mut chunk: Vec<f32> = Vec::new();
        if let Some((h, _, _)) = chunking {
            history = venv.observations().chunks(obs_dim).flat_map(|o| o.repeat(h)).collect();
        }
        for step in 0..probe.max_episode_steps() {
            let mut actions = match chunking {
                None => {
                    let goals = if goal_conditioned { Some(venv.goals().to_vec()) } else { None };
                    agent.act(venv.observations(), goals.as_deref(), episodes, &mut rng)?
                }
                Some((_, k, m)) => {
                    if step % m == 0 {
                        chunk = agent.act(&history, None, episodes, &mut rng)?;
                    }
                    let j = step % m;
                    (0..episodes).flat_map(|e| chunk[(e * k + j) * act_dim..(e * k + j + 1) * act_dim].to_vec()).collect()
                }
            };
            for row in actions.chunks_mut(act_dim) {
                spec.clip(row);
            }
            venv.step(&actions, &active)?;
            if let Some((h, _, _)) = chunking {
                for (e, o) in venv.observations().chunks(obs_dim).enumerate() {
                    let hist = &mut history[e * h * obs_dim..(e + 1) * h * obs_dim];
                    hist.copy_within(obs_dim.., 0);
                    hist[(h - 1) * obs_dim..].copy_from_slice(o);
                }
            }
            observe(k, venv.observations(), &active);
            for (e, tr) in venv.transitions().iter().enumerate() {
                if !active[e] {
                    continue;
                }
                returns[e] += tr.reward as f64;
                success[e] |= tr.info.success;
                at_goal[e] += tr.info.success as u64;
                steps[e] += 1;
                best[e] = best[e].max(tr.info.score as f64);
                last[e] = tr.info.score as f64;
                if tr.terminated || tr.truncated {
                    active[e] = false;
                }
            }
            if !active.iter().any(|&a| a) {
                break;
            }
        }
        out.push(TaskResult {
            task: probe.tasks()[k - 1].name.clone(),
            success: success.iter().filter(|&&s| s).count() as f64 / episodes as f64,
            ret: returns.iter().sum::<f64>() / episodes as f64,
            score: best.iter().sum::<f64>() / episodes as f64,
            score_final: last.iter().sum::<f64>() / episodes as f64,
            at_goal: at_goal.iter().zip(&steps).map(|(&g, &s)| g as f64 / s.max(1) as f64).sum::<f64>() / episodes as f64,
            episodes,
        });
    }
    let n = out.len() as f64;
    let success = out.iter().map(|t| t.success).sum::<f64>() / n;
    let ret = out.iter().map(|t| t.ret).sum::<f64>() / n;
    let score = out.iter().map(|t| t.score).sum::<f64>() / n;
    let score_final = out.iter().map(|t| t.score_final).sum::<f64>() / n;
    Ok(EvalReport { tasks: out, success, ret, score, score_final })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use candle_core::Tensor;
    use envs::Batch;

    use super::*;
    use crate::agent::Metrics;

    /// Stands still: what the episodes show is then only where they started.
    struct Still;
    impl Agent for Still {
        fn name(&self) -> &str {
            "still"
        }
        fn data_spec(&self) -> DataSpec {
            DataSpec::Transitions
        }
        fn update(&mut self, _: &Batch, _: &mut ChaCha8Rng) -> Result<Metrics> {
            Ok(Vec::new())
        }
        fn act(&self, _: &[f32], _: Option<&[f32]>, n: usize, _: &mut ChaCha8Rng) -> Result<Vec<f32>> {
            Ok(vec![0.0; n * 2])
        }
        fn state(&self) -> Result<Vec<(String, Tensor)>> {
            Ok(Vec::new())
        }
        fn load_state(&mut self, _: &HashMap<String, Tensor>) -> Result<()> {
            Ok(())
        }
    }

    /// `evaluate_from_one_start` starts every episode in the same state; the protocol's
    /// episodes start apart.
    #[test]
    fn one_start_means_one_start() {
        let task = Task::resolve("blockpush2").unwrap();
        let firsts = |one: bool| {
            let mut rows: Vec<Vec<f32>> = Vec::new();
            let mut seen = false;
            let mut observe = |_: usize, obs: &[f32], _: &[bool]| {
                if !seen {
                    rows = obs.chunks(6).map(<[f32]>::to_vec).collect();
                    seen = true;
                }
            };
            if one {
                evaluate_from_one_start(&Still, &task, 4, 3, &mut observe).unwrap();
            } else {
                evaluate_observed(&Still, &task, 4, 3, &mut observe).unwrap();
            }
            rows
        };
        let one = firsts(true);
        assert!(one.iter().all(|r| r == &one[0]), "{one:?}");
        let apart = firsts(false);
        assert!(apart.iter().skip(1).any(|r| r != &apart[0]), "{apart:?}");
    }
}
