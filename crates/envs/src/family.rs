//! The shape of one row of the task table: a task family's base tasks with what each stands in
//! for and trains on, and the family's constructor, scripted-episode generator and singletask
//! relabelling. Each family file exports one [`Family`]; `registry.rs` lists them.

use crate::dataset::Dataset;
use crate::env::GoalEnv;
use crate::error::Result;
use crate::normalize::Scaling;
use crate::recipe::DatasetRecipe;

/// How many OGBench singletask variants (`-singletask-task1` … `-task5`) a goal-conditioned
/// base task has: one per evaluation task.
pub const SINGLETASK_VARIANTS: usize = 5;

/// Which row of the study a base task stands in for, said honestly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StandsIn {
    /// A row of the study's tables (`antmaze-large-navigate`); our numbers are not comparable.
    Study(&'static str),
    /// An OGBench dataset that is no row of the study (`pointmaze-giant-navigate`).
    Ogbench(&'static str),
}

impl StandsIn {
    /// The sentence `TaskMeta::stands_in_for` carries; a singletask variant names its task after
    /// the row (`cube-single-play-singletask-task2 (native stand-in; …)`).
    pub fn text(self, singletask: Option<usize>) -> String {
        let suffix = singletask.map(|k| format!("-singletask-task{k}")).unwrap_or_default();
        match self {
            StandsIn::Study(row) => format!("{row}{suffix} (native stand-in; numbers are not comparable)"),
            StandsIn::Ogbench(name) => format!("OGBench {name}{suffix} (not a row of the study)"),
        }
    }
}

/// What a base task trains on, which decides its [`crate::TaskKind`] and whether it has
/// singletask variants.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BaseKind {
    /// Scripted demonstrations without goals, scored by `Info::score`; no singletask variants.
    /// The [`Scaling`] says whether the agents see the data min-max scaled (as the reference
    /// scales that task's data).
    Imitation(DatasetRecipe, Scaling),
    /// A goal-conditioned dataset with OGBench's evaluation tasks and their singletask variants.
    GoalConditioned(DatasetRecipe),
    /// No dataset: the agent collects its own data; no singletask variants.
    Online,
}

impl BaseKind {
    pub fn recipe(self) -> Option<DatasetRecipe> {
        match self {
            BaseKind::Imitation(r, _) | BaseKind::GoalConditioned(r) => Some(r),
            BaseKind::Online => None,
        }
    }
    pub fn has_singletask(self) -> bool {
        matches!(self, BaseKind::GoalConditioned(_))
    }
}

/// One base task of a family. `P` is what the family needs to build it (a maze layout, a grid
/// size, a cube count); the registry never looks inside.
#[derive(Clone, Copy, Debug)]
pub struct BaseTask<P: 'static = ()> {
    pub name: &'static str,
    pub stands_in_for: StandsIn,
    pub kind: BaseKind,
    pub params: P,
}

/// A base task without its family's parameters: what the registry reads.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Base {
    pub name: &'static str,
    pub stands_in_for: StandsIn,
    pub kind: BaseKind,
}

/// `(rewards, masks)`, one per dataset row.
pub type Relabelled = (Vec<f32>, Vec<f32>);

/// Builds a base task or its singletask variant: the full name (the env reports it) and the
/// variant's task, if any.
pub type MakeFn<P> = fn(&BaseTask<P>, &str, Option<usize>) -> Box<dyn GoalEnv>;
/// One scripted episode of the base task's dataset (`datagen` calls it per episode with that
/// episode's own seed): recipe, rows (the cap, for demos) and seed.
pub type EpisodeFn<P> = fn(&BaseTask<P>, DatasetRecipe, usize, u64) -> Result<Dataset>;
/// OGBench's singletask relabelling of the base task's dataset for singletask task `k` (the
/// full name is for error messages).
pub type RelabelFn<P> = fn(&BaseTask<P>, &str, usize, &Dataset) -> Result<Relabelled>;

/// One row of the task table.
pub struct Family<P: 'static = ()> {
    pub tasks: &'static [BaseTask<P>],
    pub make: MakeFn<P>,
    pub episode: EpisodeFn<P>,
    /// `None` for families without goal-conditioned tasks.
    pub singletask_rewards: Option<RelabelFn<P>>,
}

impl<P> Family<P> {
    /// The base task called exactly `base`.
    pub fn find(&self, base: &str) -> Option<&BaseTask<P>> {
        self.tasks.iter().find(|t| t.name == base)
    }
}

/// A [`Family`] with its parameter type erased, so that one list holds every family.
pub trait Rows: Sync {
    /// How many base tasks the family has.
    fn task_count(&self) -> usize;
    fn base(&self, i: usize) -> Base;
    fn make(&self, i: usize, name: &str, singletask: Option<usize>) -> Box<dyn GoalEnv>;
    fn episode(&self, i: usize, recipe: DatasetRecipe, len: usize, seed: u64) -> Result<Dataset>;
    /// `None` when the family has no relabelling (no goal-conditioned tasks).
    fn singletask_rewards(&self, i: usize, name: &str, k: usize, ds: &Dataset) -> Option<Result<Relabelled>>;
}

impl<P: Sync> Rows for Family<P> {
    fn task_count(&self) -> usize {
        self.tasks.len()
    }
    fn base(&self, i: usize) -> Base {
        let t = &self.tasks[i];
        Base { name: t.name, stands_in_for: t.stands_in_for, kind: t.kind }
    }
    fn make(&self, i: usize, name: &str, singletask: Option<usize>) -> Box<dyn GoalEnv> {
        (self.make)(&self.tasks[i], name, singletask)
    }
    fn episode(&self, i: usize, recipe: DatasetRecipe, len: usize, seed: u64) -> Result<Dataset> {
        (self.episode)(&self.tasks[i], recipe, len, seed)
    }
    fn singletask_rewards(&self, i: usize, name: &str, k: usize, ds: &Dataset) -> Option<Result<Relabelled>> {
        self.singletask_rewards.map(|f| f(&self.tasks[i], name, k, ds))
    }
}

/// Splits `X-singletask-taskK` into `(X, Some(K))` and any other name into `(name, None)`;
/// `None` when K is not 1 … [`SINGLETASK_VARIANTS`]. The one place a task name is taken apart.
pub fn split_singletask(name: &str) -> Option<(&str, Option<usize>)> {
    match name.split_once("-singletask-task") {
        None => Some((name, None)),
        Some((base, k)) => match k.parse::<usize>() {
            Ok(k) if (1..=SINGLETASK_VARIANTS).contains(&k) => Some((base, Some(k))),
            _ => None,
        },
    }
}
