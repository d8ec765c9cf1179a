use std::path::PathBuf;

/// Errors of agents, the evaluation protocol and the training loop. Each says where: the step,
/// the loss term, the file.
#[derive(Debug, thiserror::Error)]
pub enum RlError {
    /// A loss term went NaN or infinite. The run stops; nothing is written for this step.
    #[error("step {step}: loss term `{term}` is {value}; the run stopped (last checkpoint: {})", last_checkpoint.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "none yet".into()))]
    NonFinite { step: u64, term: String, value: f64, last_checkpoint: Option<PathBuf> },
    #[error("{agent}: {reason}")]
    Config { agent: String, reason: String },
    #[error("{path}: {reason}")]
    Checkpoint { path: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Env(#[from] envs::EnvError),
    #[error(transparent)]
    Flow(#[from] nf_core::FlowError),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

pub type Result<T, E = RlError> = std::result::Result<T, E>;

impl RlError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        RlError::Io { path: path.into(), source }
    }
}
