use std::path::PathBuf;

/// Everything that can go wrong in `envs`. Each variant names the offending task, file, field or
/// value so that a user can fix the input without reading our code.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("unknown task `{name}`; known tasks: {known}")]
    UnknownTask { name: String, known: String },
    #[error("{task}: action has {got} dimensions, the task expects {expected}")]
    ActionDim { task: String, expected: usize, got: usize },
    #[error("{task}: action component {index} is {value} (actions must be finite)")]
    NonFiniteAction { task: String, index: usize, value: f32 },
    #[error("{task}: observation buffer has {got} entries, the task's observations have {expected}")]
    ObsDim { task: String, expected: usize, got: usize },
    #[error("{task}: task index {index} is out of range (the task has {count} evaluation tasks, numbered 1..={count})")]
    TaskIndex { task: String, index: usize, count: usize },
    #[error("{task}: step() called after the episode ended; call reset() first")]
    EpisodeOver { task: String },
    #[error("{path}: {reason}")]
    Dataset { path: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = EnvError> = std::result::Result<T, E>;

impl EnvError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EnvError::Io { path: path.into(), source }
    }
    pub(crate) fn dataset(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        EnvError::Dataset { path: path.into(), reason: reason.into() }
    }
}
