//! The normalizing flow of "Normalizing Flows are Capable Models for RL" (Ghugare & Eysenbach,
//! 2025), on candle. `nf-core` knows nothing of RL: flows, MLPs, checkpoints, optimiser helpers.
//!
//! A [`ConditionalFlow`] models `p(x | y)`: an optional encoder maps `y` to a representation, and
//! K [`FlowBlock`]s map data x to latent z, each a PLU [`InvertibleLinear`] followed by an
//! [`AffineCoupling`] whose S and T nets are `Linear → LeakyReLU → LayerNorm` ×2 `→ Linear(0)`.
//! The base is `N(0, I)`. Both directions are differentiable in one graph.
//!
//! # Checkpoint tensor names
//! `save` writes `model.safetensors` and `config.toml`. Weights are `[out, in]` (torch layout).
//! - `encoder.{i}.weight|bias`, `encoder.norm{i}.weight|bias`, `encoder.out.weight|bias`
//! - `blocks.{k}.linear.perm` (fixed permutation P), `.lower` (L, strictly-lower part used),
//!   `.upper` (U, strictly-upper part used), `.diag` (s)
//! - `blocks.{k}.coupling.{s|t}.{0,1,2}.weight|bias` (the three Linears) and
//!   `blocks.{k}.coupling.{s|t}.norm{0,1}.weight|bias` (the two LayerNorms)
//! - The ablation switches (`FlowConfig::plu_linear`, `coupling_layer_norm`) leave out the
//!   `linear` or `norm` tensors; the config saved beside the weights says which.

pub mod activation;
pub mod config;
pub mod coupling;
pub mod error;
pub mod fast;
pub mod flow;
pub mod fused;
mod init;
pub mod linear;
pub mod mlp;
pub mod nn;
pub mod ops;
pub mod optim;
pub mod sampler;
pub mod toy;

pub use activation::Activation;
pub use config::{EncoderConfig, FlowConfig};
pub use coupling::AffineCoupling;
pub use error::{FlowError, Result};
pub use flow::{ConditionalFlow, FlowBlock};
pub use linear::InvertibleLinear;
pub use mlp::Mlp;
pub use optim::{AdamW, Trainer, WarmupCosine};
pub use sampler::{Draw, FlowSampler};
