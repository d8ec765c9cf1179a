//! The paper's recipes on top of `nf-core`, each an [`rl::Agent`]: NF-BC, NF-GCBC and NF-RLBC;
//! NF-UGS is still to come (the NF-algorithms issue).

pub mod nf_bc;
pub mod nf_gcbc;
pub mod nf_rlbc;
pub mod nll_members;

pub use nf_bc::{NfBc, NfBcConfig};
pub use nf_gcbc::{NfGcbc, NfGcbcConfig};
pub use nf_rlbc::{NfRlbc, NfRlbcConfig, NfRlbcMembers, QAgg};
pub use nll_members::NllMembers;
