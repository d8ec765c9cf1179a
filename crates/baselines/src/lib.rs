//! The methods the NF agents are measured against, behind the same [`rl::Agent`] interface:
//! GCBC and BC today; FM-GCBC, ReBRAC and FQL are still to come (the NF-algorithms issue).

pub mod bc;
pub mod gcbc;

pub use bc::{Bc, BcConfig};
pub use gcbc::{Gcbc, GcbcConfig};
