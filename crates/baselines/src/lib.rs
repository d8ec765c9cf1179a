//! The methods the NF agents are measured against, behind the same [`rl::Agent`] interface:
//! GCBC today; FM-GCBC, BC, ReBRAC and FQL are still to come (the NF-algorithms issue).

pub mod gcbc;

pub use gcbc::{Gcbc, GcbcConfig};
