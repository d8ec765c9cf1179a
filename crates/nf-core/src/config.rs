//! Flow configuration: one serde struct whose defaults are the paper's NF-GCBC values
//! (../shared/research/paper.md §1, "Sizes per setting"), with presets for the other settings.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{FlowError, Result};

/// The conditioning encoder `hidden.len() × [Linear → LayerNorm → SiLU] → Linear(rep)`, shared by
/// every coupling block and trained end to end with the flow (flax `RealNVPEncoder`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EncoderConfig {
    /// `false` feeds the raw condition to the couplings (the "or none" option).
    pub enabled: bool,
    /// Hidden widths; the paper uses 4 × 512 in every setting.
    pub hidden: Vec<usize>,
    /// Output width `rep`; 64 for GCBC/RLBC in the code (the paper's tables say 512, its text 64).
    pub rep: usize,
    /// flax `LayerNorm` default.
    pub layer_norm_eps: f64,
}

impl Default for EncoderConfig {
    fn default() -> Self {
        Self { enabled: true, hidden: vec![512; 4], rep: 64, layer_norm_eps: 1e-6 }
    }
}

/// A conditional normalizing flow `p(x | y)`: K blocks of (PLU linear map, affine coupling)
/// over an `N(0, I)` base.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FlowConfig {
    /// Dimension of x (an action, a flattened action chunk, or a goal).
    pub dim: usize,
    /// Dimension of the raw condition y (0: unconditional).
    pub cond_dim: usize,
    /// Number of blocks; 6 for GCBC/RLBC, 12 for BC.
    pub blocks: usize,
    /// Hidden width of the S and T coupling MLPs; 256 in the code for GCBC/RLBC, 512 for BC.
    pub channels: usize,
    /// flax quirk: the first hidden layer of S and T is `channels + rep` wide (320 for 256/64).
    /// Kept on by default for GCBC/RLBC because the paper's numbers come from that code.
    pub widen_first_layer: bool,
    /// Slope of LeakyReLU in the coupling MLPs (flax default 0.01).
    pub leaky_relu_slope: f64,
    /// LayerNorm epsilon inside the coupling MLPs (flax default 1e-6).
    pub layer_norm_eps: f64,
    /// Optional soft clamp of the coupling log-scale, `s ← c·tanh(s/c)`. The paper uses none.
    pub soft_clamp: Option<f64>,
    /// The PLU linear map in front of each coupling (paper: on). `false` is the study's "no
    /// permutation/linear flow" ablation (Table 10): the identity replaces the map, so every
    /// coupling transforms the same last ⌊d/2⌋ dimensions and the first ⌈d/2⌉ pass through
    /// every block unchanged: they are modelled by the `N(0, I)` base alone, whatever the
    /// condition (the reference's flax `MetaBlock` with its `self.l` removed; its commented-out
    /// `flip` alternative is not what the ablation ran).
    pub plu_linear: bool,
    /// LayerNorm after each hidden activation of the coupling S and T nets (paper: on). `false`
    /// is Table 10's "no LayerNorm": `Linear → LeakyReLU` ×2 `→ Linear(0)`. The encoder keeps its
    /// LayerNorms either way (the ablation names the coupling MLPs).
    pub coupling_layer_norm: bool,
    /// Train-time Gaussian noise added to x (TarFlow trick); 0.1 for BC/GCBC, 0 for RLBC.
    pub noise_std: f64,
    /// Apply the one-step denoising `x ← x + σ²·∇ₓ log p(x|y)` after sampling (σ = `noise_std`).
    pub denoise: bool,
    pub encoder: EncoderConfig,
}

impl Default for FlowConfig {
    fn default() -> Self {
        Self::gcbc(0, 0)
    }
}

impl FlowConfig {
    /// NF-GCBC (flax code): 6 blocks × 256, encoder 4×512 → 64, noise 0.1 with denoising.
    pub fn gcbc(dim: usize, cond_dim: usize) -> Self {
        Self {
            dim,
            cond_dim,
            blocks: 6,
            channels: 256,
            widen_first_layer: true,
            leaky_relu_slope: 0.01,
            layer_norm_eps: 1e-6,
            soft_clamp: None,
            plu_linear: true,
            coupling_layer_norm: true,
            noise_std: 0.1,
            denoise: true,
            encoder: EncoderConfig::default(),
        }
    }

    /// NF-RLBC (flax code): the GCBC architecture without noise or denoising
    /// (the paper's Table 5 says noise 0.1; `offline-rl/agents/vinf.py` uses none).
    pub fn rlbc(dim: usize, cond_dim: usize) -> Self {
        Self { noise_std: 0.0, denoise: false, ..Self::gcbc(dim, cond_dim) }
    }

    /// NF-BC (torch code): 12 blocks × 512, encoder 4×512 → 256 (the PushT default), no widening.
    pub fn bc(dim: usize, cond_dim: usize) -> Self {
        Self {
            blocks: 12,
            channels: 512,
            widen_first_layer: false,
            layer_norm_eps: 1e-5,
            encoder: EncoderConfig { rep: 256, layer_norm_eps: 1e-5, ..EncoderConfig::default() },
            ..Self::gcbc(dim, cond_dim)
        }
    }

    /// Width of the representation the couplings are conditioned on (0: unconditional).
    pub fn rep_dim(&self) -> usize {
        if self.cond_dim == 0 {
            0
        } else if self.encoder.enabled {
            self.encoder.rep
        } else {
            self.cond_dim
        }
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |field, reason: &str| Err(FlowError::Config { field, reason: reason.to_string() });
        if self.dim == 0 {
            return bad("dim", "must be at least 1 (the dimension of x)");
        }
        if self.blocks == 0 {
            return bad("blocks", "must be at least 1");
        }
        if !self.plu_linear && self.dim == 1 && self.cond_dim == 0 {
            return bad("plu_linear", "= false with dim 1 and no condition leaves every block the identity: nothing to learn");
        }
        if self.channels == 0 {
            return bad("channels", "must be at least 1");
        }
        if !(self.noise_std >= 0.0 && self.noise_std.is_finite()) {
            return bad("noise_std", &format!("must be finite and ≥ 0, got {}", self.noise_std));
        }
        if self.denoise && self.noise_std == 0.0 {
            return bad("denoise", "needs noise_std > 0 (the denoising step size is noise_std²)");
        }
        if let Some(c) = self.soft_clamp {
            if !(c > 0.0 && c.is_finite()) {
                return bad("soft_clamp", &format!("must be finite and > 0, got {c}"));
            }
        }
        // `!(x > 0)` rather than `x <= 0`: NaN must be rejected too.
        #[allow(clippy::neg_cmp_op_on_partial_ord)]
        if !(self.layer_norm_eps > 0.0) {
            return bad("layer_norm_eps", "must be > 0");
        }
        if self.cond_dim > 0 && self.encoder.enabled {
            if self.encoder.rep == 0 {
                return bad("encoder.rep", "must be at least 1");
            }
            if self.encoder.hidden.contains(&0) {
                return bad("encoder.hidden", "widths must be at least 1");
            }
            #[allow(clippy::neg_cmp_op_on_partial_ord)] // NaN must be rejected too
            if !(self.encoder.layer_norm_eps > 0.0) {
                return bad("encoder.layer_norm_eps", "must be > 0");
            }
        }
        Ok(())
    }

    pub fn from_toml_str(s: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(s)
    }

    /// Reads and validates a config file; errors name the file and the offending field.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| FlowError::io(path, e))?;
        let cfg = Self::from_toml_str(&text).map_err(|e| FlowError::ConfigParse { path: path.to_path_buf(), source: Box::new(e) })?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn to_toml_string(&self) -> String {
        toml::to_string_pretty(self).expect("FlowConfig always serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_round_trip_and_typo() {
        let cfg = FlowConfig::gcbc(8, 58);
        let back = FlowConfig::from_toml_str(&cfg.to_toml_string()).unwrap();
        assert_eq!(cfg, back);
        let err = FlowConfig::from_toml_str("dim = 2\nblokcs = 3\n").unwrap_err();
        assert!(err.to_string().contains("blokcs"), "{err}");
        let partial = FlowConfig::from_toml_str("dim = 3\n[encoder]\nrep = 32\n").unwrap();
        assert_eq!(partial.blocks, 6);
        assert_eq!(partial.encoder.hidden, vec![512; 4]);
        assert_eq!(partial.encoder.rep, 32);
        // A config written before the ablation switches existed has both parts of the flow.
        assert!(partial.plu_linear && partial.coupling_layer_norm);
    }

    #[test]
    fn validation_names_the_field() {
        let mut cfg = FlowConfig::gcbc(0, 0);
        assert!(cfg.validate().unwrap_err().to_string().contains("`dim`"));
        cfg.dim = 2;
        cfg.noise_std = 0.0;
        assert!(cfg.validate().unwrap_err().to_string().contains("`denoise`"));
        cfg.denoise = false;
        cfg.validate().unwrap();
        let identity = FlowConfig { plu_linear: false, ..FlowConfig::rlbc(1, 0) };
        assert!(identity.validate().unwrap_err().to_string().contains("`plu_linear`"));
        FlowConfig { plu_linear: false, ..FlowConfig::rlbc(1, 3) }.validate().unwrap();
    }
}
