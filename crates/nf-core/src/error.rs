use std::path::PathBuf;

/// Everything that can go wrong in `nf-core`. Messages say what was expected, what was found and
/// where, so a wrong action dimension is caught at the API boundary instead of deep inside candle.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error("{what}: expected shape {expected}, got {got:?}")]
    Shape { what: &'static str, expected: String, got: Vec<usize> },
    #[error("flow config field `{field}`: {reason}")]
    Config { field: &'static str, reason: String },
    #[error("flow config file {path}: {source}")]
    ConfigParse {
        path: PathBuf,
        #[source]
        source: Box<toml::de::Error>,
    },
    #[error("checkpoint {path}: {reason}")]
    Checkpoint { path: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("non-finite value: {0}")]
    NonFinite(String),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

pub type Result<T, E = FlowError> = std::result::Result<T, E>;

impl FlowError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        FlowError::Io { path: path.into(), source }
    }
}
