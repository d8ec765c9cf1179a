//! The methods the NF agents are measured against, behind the same [`rl::Agent`] interface:
//! GCBC, FM-GCBC, BC and ReBRAC today; FQL are still to come (the NF-algorithms issue).

pub mod bc;
pub mod fm_gcbc;
pub mod gcbc;
pub mod rebrac;

pub use bc::{Bc, BcConfig};
pub use fm_gcbc::{FmGcbc, FmGcbcConfig};
pub use gcbc::{Gcbc, GcbcConfig};
pub use rebrac::{Rebrac, RebracConfig};
