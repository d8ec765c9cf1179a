//! A task name resolved once, at the runner's entry, into what every later layer needs to know
//! about it: its metadata, its kind, its dimensions and its top score. Layers below the runner
//! take a [`Task`] and never parse a name again.

use crate::dataset::Dataset;
use crate::env::GoalEnv;
use crate::error::{EnvError, Result};
use crate::family::{BaseKind, Relabelled};
use crate::normalize::Scaling;
use crate::registry::{resolve, Entry, TaskMeta};

/// What data a task trains on and how it is scored; decides which agents can run it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaskKind {
    /// A demonstration dataset without goals or rewards, scored by `Info::score` (VQ-BeT's
    /// suite: `pusht`, `multigoal4`, `blockpush2`, `kitchen2d`).
    Imitation,
    /// A goal-conditioned dataset with OGBench's 5 evaluation tasks (`pointmaze-…-navigate`, …).
    GoalConditioned,
    /// OGBench's singletask variant of a goal-conditioned dataset: one fixed task and its
    /// relabelled rewards (`…-singletask-taskN`).
    Singletask,
    /// An online maze without a dataset: the agent collects its own data (JaxGCRL's mazes).
    Online,
}

impl TaskKind {
    /// Whether the task has an offline dataset to train on.
    pub fn has_dataset(self) -> bool {
        self != TaskKind::Online
    }
}

/// A resolved task: built by [`Task::resolve`] from a name, then passed down.
#[derive(Clone, Debug, PartialEq)]
pub struct Task {
    pub meta: TaskMeta,
    pub kind: TaskKind,
    /// Width of one observation (and of one goal, for goal-conditioned tasks).
    pub obs_dim: usize,
    /// Width of one action; actions live in `[-1, 1]^act_dim`.
    pub act_dim: usize,
    /// The largest score an episode can reach (`GoalEnv::top_score`: 1 for success, 4 for
    /// kitchen2d's sub-tasks, …); tables scale imitation scores by it.
    pub top_score: f32,
    /// Steps before an evaluation episode is cut.
    pub max_episode_steps: usize,
    /// Where the name sits in the task table, so that nothing looks it up again.
    entry: Entry,
}

impl Task {
    /// Resolves `name`, or fails with an error that lists the known names.
    pub fn resolve(name: &str) -> Result<Task> {
        let entry = resolve(name)?;
        let kind = match (entry.base().kind, entry.singletask()) {
            (BaseKind::Imitation(..), _) => TaskKind::Imitation,
            (BaseKind::GoalConditioned(_), None) => TaskKind::GoalConditioned,
            (BaseKind::GoalConditioned(_), Some(_)) => TaskKind::Singletask,
            (BaseKind::Online, _) => TaskKind::Online,
        };
        let env = entry.make(name);
        Ok(Task {
            kind,
            obs_dim: env.observation_spec().dim(),
            act_dim: env.action_spec().dim(),
            top_score: env.top_score(),
            max_episode_steps: env.max_episode_steps(),
            meta: entry.meta(name),
            entry,
        })
    }

    pub fn name(&self) -> &str {
        &self.meta.name
    }

    /// A fresh environment of this task.
    pub fn make(&self) -> Result<Box<dyn GoalEnv>> {
        Ok(self.entry.make(&self.meta.name))
    }

    pub fn is_imitation(&self) -> bool {
        self.kind == TaskKind::Imitation
    }

    /// How agents see this task's data: [`Scaling::MinMax`] for the imitation tasks whose data is
    /// not of order one (see [`crate::normalize`]), else [`Scaling::Raw`].
    pub fn scaling(&self) -> Scaling {
        match self.entry.base().kind {
            BaseKind::Imitation(_, s) => s,
            _ => Scaling::Raw,
        }
    }
}

/// `(rewards, masks)`, one per row of `ds` (the base task's dataset), for a singletask
/// variant: its family's relabelling (see [`crate::relabel`]) against the variant's goal.
pub fn singletask_rewards(task: &Task, ds: &Dataset) -> Result<Relabelled> {
    let name = task.name();
    let not_singletask = || EnvError::Invalid(format!("{name} is not a singletask variant (expected a name ending in -singletask-task1 … -task5)"));
    let k = task.entry.singletask().ok_or_else(not_singletask)?;
    task.entry.singletask_rewards(name, k, ds).expect("a goal-conditioned family relabels its singletask variants (the registry's tests check every row)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_resolves_to_its_kind_and_dims() {
        for name in crate::registry::task_names() {
            let t = Task::resolve(&name).unwrap();
            let env = t.make().unwrap();
            assert_eq!((t.obs_dim, t.act_dim), (env.observation_spec().dim(), env.action_spec().dim()), "{name}");
            let want = if name.ends_with("-online") {
                TaskKind::Online
            } else if name.contains("-singletask-") {
                TaskKind::Singletask
            } else if ["pusht", "multigoal4", "blockpush2", "kitchen2d"].contains(&name.as_str()) {
                TaskKind::Imitation
            } else {
                TaskKind::GoalConditioned
            };
            assert_eq!(t.kind, want, "{name}");
        }
        let err = Task::resolve("antmaze-large-navigate").unwrap_err().to_string();
        assert!(err.contains("pointmaze-large-navigate"), "{err}");
    }
}
