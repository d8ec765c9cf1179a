//! The paper's recipes on top of `nf-core`, each an [`rl::Agent`]: NF-GCBC today; NF-RLBC,
//! NF-BC and NF-UGS are still to come (the NF-algorithms issue).

pub mod nf_gcbc;

pub use nf_gcbc::{NfGcbc, NfGcbcConfig};
