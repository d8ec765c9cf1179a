//! The paper's recipes on top of `nf-core`, each an [`rl::Agent`]: NF-GCBC and NF-RLBC today;
//! NF-BC and NF-UGS are still to come (the NF-algorithms issue).

pub mod nf_gcbc;
pub mod nf_rlbc;

pub use nf_gcbc::{NfGcbc, NfGcbcConfig};
pub use nf_rlbc::{NfRlbc, NfRlbcConfig, QAgg};
