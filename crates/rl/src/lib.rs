//! The agent interface shared by `nf-algos` and `baselines`, OGBench's evaluation protocol, and
//! the one training loop (metrics, checkpoints, resumption).
//!
//! The data path: dataset ([`envs::Dataset`]) → sampler ([`envs::GcSampler`] or
//! [`envs::TransitionSampler`], chosen by [`Agent::data_spec`]) → [`Agent::update`] →
//! [`evaluate`] every `eval_every` steps → `metrics.csv`, `last.safetensors`, `best.safetensors`.

pub mod agent;
pub mod error;
pub mod eval;
pub mod normalize;
pub mod online;
pub mod registry;
pub mod sac;
pub mod seeds;
pub mod train;

pub use agent::{
    check_finite, load_varmap, load_varmap_member, member_rows_tensor, member_unit_gaussian_nll, member_values, polyak, rows_tensor, scalar, sorted_vars, step_members, synthetic_batch, twin_q,
    twin_q_frozen, unit_gaussian_nll, varmap_member_state, varmap_state, Agent, DataSpec, Members, Metrics,
};
pub use error::{Result, RlError};
pub use eval::{evaluate, evaluate_from_one_start, evaluate_observed, EvalReport, Observer, TaskResult};
pub use normalize::{load_policy, Normalized};
pub use online::{random_coverage, train_online, Explorer, GoalContext, OnlineConfig, TrajectoryBuffer};
pub use registry::{check_finite_fields, AgentConfig, Configured, Entry, Fields, Registered, UserTable};
pub use sac::{ActorSample, TanhGaussianActor, Temperature};
pub use train::{load_checkpoint, train, train_members, Progress, TrainConfig, TrainSummary, BEST_CHECKPOINT, LAST_CHECKPOINT, METRICS_FILE};
