//! The paper's recipes on top of `nf-core`, each an [`rl::Agent`]: NF-BC, NF-GCBC and NF-RLBC;
//! and NF-UGS (online, unsupervised goal-conditioned RL).

pub mod nf_bc;
pub mod nf_gcbc;
pub mod nf_rlbc;
pub mod nf_ugs;
pub mod nll_members;

pub use nf_bc::{NfBc, NfBcConfig};
pub use nf_gcbc::{NfGcbc, NfGcbcConfig};
pub use nf_rlbc::{NfRlbc, NfRlbcConfig, NfRlbcMembers, QAgg};
pub use nf_ugs::{NfUgs, NfUgsConfig};
pub use nll_members::NllMembers;
