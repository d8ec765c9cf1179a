//! The methods the NF agents are measured against, behind the same [`rl::Agent`] interface:
//! GCBC, FM-GCBC (goal-conditioned imitation), GCIVL, GCIQL, QRL, CRL and HIQL (goal-conditioned
//! value learning), BC, Diffusion Policy, VQ-BeT and BeT (imitation), ReBRAC, FQL, IQL, IFQL and
//! IDQL (offline RL), and the online CRL variants CRL-oracle, CRL-uniform and CRL-minmax
//! (unsupervised goal-conditioned RL).

pub mod bc;
pub mod bet;
pub mod crl;
pub mod crl_online;
pub mod ddpm;
pub mod diffusion_policy;
pub mod fm_gcbc;
pub mod fql;
pub mod gaussian_members;
mod gc_value;
pub mod gcbc;
pub mod gciql;
pub mod gcivl;
mod gpt;
pub mod hiql;
pub mod idql;
pub mod ifql;
pub mod iql;
pub mod qrl;
pub mod random;
pub mod rebrac;
pub mod unet1d;
pub mod vq_bet;

pub use bc::{Bc, BcConfig};
pub use bet::{Bet, BetConfig};
pub use crl::{Crl, CrlActorLoss, CrlConfig, CrlContrastiveLoss};
pub use crl_online::{CrlMinmaxConfig, CrlOnline, CrlOracleConfig, CrlUniformConfig};
pub use diffusion_policy::{DiffusionPolicy, DiffusionPolicyConfig};
pub use fm_gcbc::{FmGcbc, FmGcbcConfig, FmGcbcMembers};
pub use fql::{Fql, FqlConfig, FqlMembers, FqlQAgg};
pub use gaussian_members::GaussianMembers;
pub use gcbc::{Gcbc, GcbcConfig};
pub use gciql::{Gciql, GciqlActorLoss, GciqlConfig};
pub use gcivl::{Gcivl, GcivlConfig};
pub use hiql::{Hiql, HiqlConfig};
pub use idql::{Idql, IdqlConfig};
pub use ifql::{Ifql, IfqlConfig};
pub use iql::{Iql, IqlConfig, IqlCritic, IqlCriticConfig};
pub use qrl::{Qrl, QrlActorLoss, QrlConfig};
pub use rebrac::{Rebrac, RebracConfig, RebracMembers};
pub use vq_bet::{VqBet, VqBetConfig};
