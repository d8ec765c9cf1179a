//! The task table: every task family's row, in one list, and what is read from it — the task
//! names, what each stands in for, its dataset recipe, and `make`.
//!
//! # Adding a task family
//! 1. Write the family file (`src/myfamily.rs`, `pub mod myfamily;` in `lib.rs`): the env type
//!    implementing [`GoalEnv`], its scripted expert, and one row,
//!    `pub static FAMILY: Family<P> = Family { tasks, make, episode, singletask_rewards }`
//!    ([`crate::family::Family`]). `tasks` lists the base tasks: the name (it says what the task
//!    is, never a MuJoCo name), the row of the study it stands in for, its kind with the dataset
//!    recipe ([`BaseKind`]), and the parameters `P` the family needs to build it. `make` builds
//!    the env, `episode` generates one scripted episode of the dataset from its own seed, and
//!    `singletask_rewards` relabels the dataset for the goal-conditioned tasks'
//!    `-singletask-taskN` variants (`None` without goal-conditioned tasks).
//! 2. Add `&myfamily::FAMILY` to [`FAMILIES`]. Its place in the list is the tasks' place in
//!    `cargo xtask tasks` and in the default `cargo xtask datasets`.
//!
//! Nothing else matches task names: `datagen`, `Task`, the relabelling and the runner read the
//! row. The tests in this file check every row (names unique, kinds consistent with recipes,
//! relabelling present where singletask variants are).

use crate::dataset::Dataset;
use crate::env::GoalEnv;
use crate::error::{EnvError, Result};
use crate::family::{split_singletask, Base, BaseKind, Relabelled, Rows, SINGLETASK_VARIANTS};
use crate::pointmaze::MazeEnv;
use crate::recipe::DatasetRecipe;
use crate::soccer::SoccerEnv;
use crate::{blockpush, cube, kitchen, multigoal, pointmaze, pusht, puzzle, scene, soccer};

/// Every task family, in the order the task lists show them.
pub static FAMILIES: [&dyn Rows; 9] = [&pointmaze::FAMILY, &soccer::FAMILY, &puzzle::FAMILY, &cube::FAMILY, &scene::FAMILY, &pusht::FAMILY, &multigoal::FAMILY, &blockpush::FAMILY, &kitchen::FAMILY];

/// Everything the runner and the pictures need to know about a task without building it.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskMeta {
    pub name: String,
    /// The dataset this task trains on (its name without `-singletask-taskN`); `None` for the
    /// online mazes, which collect their own data.
    pub dataset: Option<String>,
    pub recipe: Option<DatasetRecipe>,
    /// The OGBench singletask variant's fixed evaluation task.
    pub singletask: Option<usize>,
    /// Which row of the study this native task stands in for, said honestly.
    pub stands_in_for: String,
}

/// A task name looked up in the table: its family's row, its base task, and its singletask
/// variant. [`crate::Task`] keeps one so that nothing looks the name up again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    family: usize,
    base: usize,
    singletask: Option<usize>,
}

impl Entry {
    fn rows(self) -> &'static dyn Rows {
        FAMILIES[self.family]
    }
    pub(crate) fn base(self) -> Base {
        self.rows().base(self.base)
    }
    pub(crate) fn singletask(self) -> Option<usize> {
        self.singletask
    }
    pub(crate) fn meta(self, name: &str) -> TaskMeta {
        let b = self.base();
        let dataset = b.kind.recipe().map(|_| b.name.to_string());
        TaskMeta { name: name.into(), dataset, recipe: b.kind.recipe(), singletask: self.singletask, stands_in_for: b.stands_in_for.text(self.singletask) }
    }
    pub(crate) fn make(self, name: &str) -> Box<dyn GoalEnv> {
        self.rows().make(self.base, name, self.singletask)
    }
    /// One scripted episode of the base task's dataset.
    pub(crate) fn episode(self, recipe: DatasetRecipe, len: usize, seed: u64) -> Result<Dataset> {
        self.rows().episode(self.base, recipe, len, seed)
    }
    /// The family's singletask relabelling for task `k`; `None` where the family has none.
    pub(crate) fn singletask_rewards(self, name: &str, k: usize, ds: &Dataset) -> Option<Result<Relabelled>> {
        self.rows().singletask_rewards(self.base, name, k, ds)
    }
}

/// Every base task with where it sits in the table.
fn bases() -> impl Iterator<Item = (usize, usize, Base)> {
    FAMILIES.iter().enumerate().flat_map(|(f, rows)| (0..rows.task_count()).map(move |i| (f, i, rows.base(i))))
}

/// Looks `name` up in the table, or fails with an error listing the known names.
pub(crate) fn resolve(name: &str) -> Result<Entry> {
    let (base, singletask) = split_singletask(name).ok_or_else(|| unknown(name))?;
    let (family, base, b) = bases().find(|(_, _, b)| b.name == base).ok_or_else(|| unknown(name))?;
    if singletask.is_some() && !b.kind.has_singletask() {
        return Err(unknown(name));
    }
    Ok(Entry { family, base, singletask })
}

/// The dataset-bearing base tasks (no singletask suffix).
pub fn base_tasks() -> Vec<String> {
    bases().filter(|(.., b)| b.kind.recipe().is_some()).map(|(.., b)| b.name.to_string()).collect()
}

fn online_tasks() -> impl Iterator<Item = &'static str> {
    bases().filter(|(.., b)| b.kind == BaseKind::Online).map(|(.., b)| b.name)
}

/// Every registered task name: the base tasks, their `-singletask-task{1..5}` variants and the
/// online mazes.
pub fn task_names() -> Vec<String> {
    let mut v = Vec::new();
    for (.., b) in bases().filter(|(.., b)| b.kind.recipe().is_some()) {
        v.push(b.name.to_string());
        if b.kind.has_singletask() {
            v.extend((1..=SINGLETASK_VARIANTS).map(|k| format!("{}-singletask-task{k}", b.name)));
        }
    }
    v.extend(online_tasks().map(String::from));
    v
}

fn unknown(name: &str) -> EnvError {
    let bases = base_tasks().join(", ");
    let online: Vec<&str> = online_tasks().collect();
    EnvError::UnknownTask { name: name.into(), known: format!("{bases}, {} (and each goal-conditioned base task's `-singletask-task1` … `-task5` variant)", online.join(", ")) }
}

/// What is known about `name`, or an error listing the known names.
pub fn meta(name: &str) -> Result<TaskMeta> {
    Ok(resolve(name)?.meta(name))
}

/// Builds the task `name` (e.g. `pointmaze-large-navigate`, `kinpuzzle-3x3-play-singletask-task4`).
pub fn make(name: &str) -> Result<Box<dyn GoalEnv>> {
    Ok(resolve(name)?.make(name))
}

/// The concrete maze behind a maze task's name (pictures and experts need the map, which the
/// trait object hides).
pub fn make_maze(name: &str) -> Result<MazeEnv> {
    let entry = resolve(name)?;
    let spec = pointmaze::FAMILY.find(entry.base().name).ok_or_else(|| EnvError::Invalid(format!("{name} is not a maze task")))?;
    Ok(pointmaze::maze_env(spec.params, name, entry.singletask()))
}

/// The concrete soccer env behind a `pointsoccer-*` name (experts and tests need its state).
pub fn make_soccer(name: &str) -> Result<SoccerEnv> {
    let entry = resolve(name)?;
    soccer::FAMILY.find(entry.base().name).ok_or_else(|| EnvError::Invalid(format!("{name} is not a soccer task")))?;
    Ok(SoccerEnv::new(name, entry.singletask()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Env;
    use crate::recipe::DataKind;

    #[test]
    fn every_row_is_consistent() {
        let names: Vec<&str> = bases().map(|(.., b)| b.name).collect();
        for (i, n) in names.iter().enumerate() {
            assert!(!names[..i].contains(n), "{n} is listed twice");
            assert!(!n.contains("-singletask-task"), "{n}: a base name must not look like a singletask variant");
        }
        for (f, i, b) in bases() {
            match b.kind {
                BaseKind::Imitation(r, _) => assert_eq!(r.kind, DataKind::Demos, "{}", b.name),
                BaseKind::GoalConditioned(r) => assert_ne!(r.kind, DataKind::Demos, "{}", b.name),
                BaseKind::Online => {}
            }
            // The singletask variants of a goal-conditioned task have a relabelling rule.
            if b.kind.has_singletask() {
                let entry = Entry { family: f, base: i, singletask: Some(1) };
                assert!(entry.singletask_rewards(b.name, 1, &Dataset::default()).is_some(), "{}", b.name);
            }
        }
    }

    #[test]
    fn names_resolve_to_their_rows_and_unknown_names_list_the_known_ones() {
        for name in task_names() {
            let m = meta(&name).unwrap();
            assert_eq!(make(&name).unwrap().name(), name);
            assert_eq!(m.dataset.is_some(), m.recipe.is_some(), "{name}");
        }
        assert_eq!(task_names().len(), 9 * 6 + 2 * 6 + 2 * 6 + 2 * 6 + 6 + 4 + 3);
        for bad in [
            "pointmaze-medium-navigate-singletask-task6",
            "pointmaze-medium-navigate-singletask-task0",
            "pusht-singletask-task1",
            "pointmaze-umaze-online-singletask-task1",
            "pointmaze-huge-navigate",
            "",
        ] {
            let err = meta(bad).unwrap_err().to_string();
            assert!(err.contains("pointmaze-large-navigate") && err.contains("pointmaze-hardestmaze-online") && err.contains("kitchen2d"), "{bad}: {err}");
        }
        assert!(make_maze("pointsoccer-arena-navigate").is_err());
        assert!(make_soccer("pointmaze-medium-navigate").is_err());
        assert_eq!(make_maze("pointmaze-umaze-online").unwrap().name(), "pointmaze-umaze-online");
    }
}
