//! The evaluation protocol (OGBench's): every evaluation task of a goal-conditioned task (only
//! its own task for a singletask variant) is run for `episodes` episodes in parallel over a
//! [`VecEnv`]; actions are clipped to the action box; an episode succeeds if the task's success
//! rule held at some step (OGBench's goal-conditioned and singletask episodes end there; the
//! online mazes run on, and count JaxGCRL's "success any").

use envs::{make, VecEnv};
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
    pub episodes: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct EvalReport {
    pub tasks: Vec<TaskResult>,
    /// Mean over tasks.
    pub success: f64,
    pub ret: f64,
}

/// Runs the protocol for `agent` on `task` with `episodes` episodes per evaluation task.
pub fn evaluate(agent: &dyn Agent, task: &str, episodes: usize, seed: u64) -> Result<EvalReport> {
    let probe = make(task)?;
    let meta = envs::meta(task)?;
    let task_ids: Vec<usize> = match meta.singletask {
        Some(k) => vec![k],
        None => (1..=probe.tasks().len()).collect(),
    };
    let goal_conditioned = matches!(agent.data_spec(), DataSpec::GoalConditioned(_));
    let spec = probe.action_spec().clone();
    let act_dim = spec.dim();
    let mut venv = VecEnv::from_env(probe.as_ref(), episodes);
    let mut out = Vec::with_capacity(task_ids.len());
    for &k in &task_ids {
        let seeds: Vec<u64> = (0..episodes as u64).map(|e| mix(&[seed, k as u64, e])).collect();
        venv.reset(&seeds, Some(k))?;
        let mut rng = ChaCha8Rng::seed_from_u64(mix(&[seed, k as u64, u64::MAX]));
        let mut active = vec![true; episodes];
        let mut success = vec![false; episodes];
        let mut returns = vec![0.0f64; episodes];
        for _ in 0..probe.max_episode_steps() {
            let goals = if goal_conditioned { Some(venv.goals().to_vec()) } else { None };
            let mut actions = agent.act(venv.observations(), goals.as_deref(), episodes, &mut rng)?;
            for row in actions.chunks_mut(act_dim) {
                spec.clip(row);
            }
            venv.step(&actions, &active)?;
            for (e, tr) in venv.transitions().iter().enumerate() {
                if !active[e] {
                    continue;
                }
                returns[e] += tr.reward as f64;
                success[e] |= tr.info.success;
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
            episodes,
        });
    }
    let n = out.len() as f64;
    let success = out.iter().map(|t| t.success).sum::<f64>() / n;
    let ret = out.iter().map(|t| t.ret).sum::<f64>() / n;
    Ok(EvalReport { tasks: out, success, ret })
}
