//! Native Rust stand-ins for the study's OGBench and JaxGCRL tasks, their scripted experts and
//! dataset generators.
//!
//! The tasks copy OGBench's maze maps, evaluation tasks, dataset recipes and success rules, but
//! not its physics: `pointmaze-*` moves a disc with OGBench's point dynamics and a
//! minimum-penetration wall push-out ("OGBench-like", not identical to MuJoCo's soft contacts);
//! `accelmaze-*` adds momentum; `kinpuzzle-*` presses Lights-Out buttons with a kinematic
//! effector; `kincube-*` picks and places cubes with a kinematic gripper; `kinscene-*` adds lock
//! buttons, a drawer and a window to it; `pointsoccer-*` dribbles a damped ball with the point
//! agent. The imitation tasks (`pusht` on rapier2d, `multigoal4`, `blockpush2`, `kitchen2d`) stand
//! in for VQ-BeT's suite, with scripted instead of human demonstrations. Names say what a task is; [`TaskMeta::stands_in_for`] says which row of the study
//! it stands in for.
//!
//! This crate knows nothing of neural networks: dynamics, experts, datasets and the evaluation
//! protocol's episode mechanics live here; policies live elsewhere.

pub mod arm;
pub mod blockpush;
pub mod cube;
pub mod datagen;
pub mod dataset;
pub mod env;
pub mod error;
pub mod expert;
pub mod family;
pub mod kitchen;
pub mod loader;
pub mod manifest;
pub mod maze;
pub mod multigoal;
pub mod normalize;
pub mod npz;
pub mod pointmaze;
pub mod pusht;
pub mod puzzle;
pub mod recipe;
pub mod registry;
pub mod relabel;
pub mod scene;
pub mod shapes;
pub mod soccer;
pub mod task;
mod vec2;
pub mod vec_env;

pub use datagen::{generate, generate_with, Split, GENERATOR_VERSION};
pub use dataset::Dataset;
pub use env::{BoxSpec, Env, GoalEnv, Info, Step, TaskInfo, Transition};
pub use error::{EnvError, Result};
pub use loader::{Batch, GcSampler, GoalConfig, TransitionSampler, ValueGoals};
pub use manifest::{ensure, ensure_with, EnsureOutcome, Manifest, ManifestEntry};
pub use normalize::{Normalizer, Scaling};
pub use npz::{read_npz, write_npz, NpyArray, NpyData};
pub use recipe::{DataKind, DatasetRecipe};
pub use registry::{base_tasks, make, meta, task_names, TaskMeta};
pub use shapes::{Colour, Draw, Item, Layer, Paint, Scene, Shape, View};
pub use task::{singletask_rewards, Task, TaskKind};
pub use vec_env::VecEnv;
