//! Dataset generation with OGBench's recipes (`data_gen_scripts/generate_locomaze.py`,
//! `generate_manipspace.py`): each family row's scripted noisy expert generates the episodes in
//! parallel, each from its own seed, and they are concatenated in episode order, so the bytes
//! depend only on the seed.

use rayon::prelude::*;

use crate::dataset::Dataset;
use crate::error::{EnvError, Result};
use crate::registry::{meta, resolve};

/// Bumped whenever a generator's output changes for the same seed; recorded in the manifest so
/// stale files are regenerated.
pub const GENERATOR_VERSION: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    Train,
    /// OGBench's `-val` split: a tenth as many episodes, from an independent stream.
    Val,
}

impl Split {
    pub fn suffix(self) -> &'static str {
        match self {
            Split::Train => "",
            Split::Val => "-val",
        }
    }
}

/// A seed for episode `ep` of `split`, independent of every other episode (SplitMix64 mixing).
pub fn episode_seed(seed: u64, split: Split, ep: usize) -> u64 {
    let mut z = seed ^ ((split == Split::Val) as u64).wrapping_mul(0xA5A5_A5A5_5A5A_5A5A) ^ (ep as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Generates the `split` of `task`'s dataset (a base task name such as
/// `pointmaze-large-navigate`) with the recipe's episode count and length.
pub fn generate(task: &str, seed: u64, split: Split) -> Result<Dataset> {
    let m = meta(task)?;
    let recipe = m.recipe.ok_or_else(|| EnvError::Invalid(format!("{task} has no offline dataset (online tasks collect their own data)")))?;
    let episodes = match split {
        Split::Train => recipe.episodes,
        Split::Val => recipe.episodes / 10,
    };
    generate_with(task, seed, split, episodes, recipe.episode_len)
}

/// Like [`generate`] with an explicit size (tests and quick suites use small ones). Each episode
/// comes from the family row's scripted-episode generator.
pub fn generate_with(task: &str, seed: u64, split: Split, episodes: usize, episode_len: usize) -> Result<Dataset> {
    let entry = resolve(task)?;
    let recipe = entry.base().kind.recipe().ok_or_else(|| EnvError::Invalid(format!("{task} has no offline dataset")))?;
    let eps = (0..episodes).into_par_iter().map(|ep| entry.episode(recipe, episode_len, episode_seed(seed, split, ep))).collect::<Result<Vec<_>>>()?;
    let mut out = Dataset::new(eps[0].obs_dim, eps[0].act_dim, eps[0].qpos_dim, eps[0].qvel_dim, eps[0].button_dim);
    out.reserve(episodes * episode_len);
    for e in &eps {
        out.append(e);
    }
    Ok(out)
}
