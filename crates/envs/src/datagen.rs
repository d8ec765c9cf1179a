//! Dataset generation with OGBench's recipes (`data_gen_scripts/generate_locomaze.py`,
//! `generate_manipspace.py`): scripted noisy experts, episodes generated in parallel, each from
//! its own seed, and concatenated in episode order, so the bytes depend only on the seed.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::dataset::Dataset;
use crate::env::Env;
use crate::error::{EnvError, Result};
use crate::expert::MazeExpert;
use crate::maze::Layout;
use crate::pointmaze::{Dynamics, MazeEnv, Mode, GOAL_TOL};
use crate::registry::{meta, DataKind, DatasetRecipe};

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

/// Like [`generate`] with an explicit size (tests and quick suites use small ones).
pub fn generate_with(task: &str, seed: u64, split: Split, episodes: usize, episode_len: usize) -> Result<Dataset> {
    let m = meta(task)?;
    let base = m.dataset.clone().ok_or_else(|| EnvError::Invalid(format!("{task} has no offline dataset")))?;
    let recipe = m.recipe.expect("dataset tasks have a recipe");
    let parts: Vec<&str> = base.split('-').collect();
    let eps: Vec<Dataset> = match parts.as_slice() {
        [family @ ("pointmaze" | "accelmaze"), size, _] => {
            let layout = match *size {
                "medium" => Layout::Medium,
                "large" => Layout::Large,
                "giant" => Layout::Giant,
                _ => Layout::Teleport,
            };
            let dynamics = if *family == "accelmaze" { Dynamics::Accel } else { Dynamics::Point };
            let env = MazeEnv::new(&base, layout, dynamics, Mode::Ogbench { singletask: None });
            (0..episodes).into_par_iter().map(|ep| maze_episode(&env, recipe, episode_len, episode_seed(seed, split, ep))).collect()
        }
        ["pointsoccer", ..] => {
            let env = crate::soccer::SoccerEnv::new(&base, None);
            (0..episodes).into_par_iter().map(|ep| crate::soccer::soccer_episode(&env, recipe, episode_len, episode_seed(seed, split, ep))).collect()
        }
        ["kinpuzzle", ..] => (0..episodes).into_par_iter().map(|ep| crate::puzzle::play_episode(&base, recipe, episode_len, episode_seed(seed, split, ep))).collect::<Result<Vec<_>>>()?,
        ["kincube", ..] => (0..episodes).into_par_iter().map(|ep| crate::cube::play_episode(&base, recipe, episode_len, episode_seed(seed, split, ep))).collect::<Result<Vec<_>>>()?,
        ["kinscene", ..] => (0..episodes).into_par_iter().map(|ep| crate::scene::play_episode(&base, recipe, episode_len, episode_seed(seed, split, ep))).collect::<Result<Vec<_>>>()?,
        ["multigoal4"] => (0..episodes).into_par_iter().map(|ep| crate::multigoal::demo_episode(recipe, episode_len, episode_seed(seed, split, ep)).map(|(d, _)| d)).collect::<Result<Vec<_>>>()?,
        ["blockpush2"] => (0..episodes).into_par_iter().map(|ep| crate::blockpush::demo_episode(recipe, episode_len, episode_seed(seed, split, ep)).map(|(d, _)| d)).collect::<Result<Vec<_>>>()?,
        ["kitchen2d"] => (0..episodes).into_par_iter().map(|ep| crate::kitchen::demo_episode(recipe, episode_len, episode_seed(seed, split, ep)).map(|(d, _)| d)).collect::<Result<Vec<_>>>()?,
        ["pusht"] => (0..episodes).into_par_iter().map(|ep| crate::pusht::demo_episode(recipe, episode_len, episode_seed(seed, split, ep)).map(|(d, _)| d)).collect::<Result<Vec<_>>>()?,
        _ => return Err(EnvError::Invalid(format!("no generator for {base}"))),
    };
    let mut out = Dataset::new(eps[0].obs_dim, eps[0].act_dim, eps[0].qpos_dim, eps[0].qvel_dim, eps[0].button_dim);
    out.reserve(episodes * episode_len);
    for e in &eps {
        out.append(e);
    }
    Ok(out)
}

/// One navigate or stitch episode (`generate_locomaze.py`):
/// - start in a uniformly drawn free cell, ±1 noise;
/// - navigate: goals are vertex cells, resampled each time the agent gets within 1.0;
///   stitch: one goal exactly 4 BFS cells from the start (the start itself if none is);
/// - action = BFS-waypoint expert + N(0, noise²), clipped.
fn maze_episode(template: &MazeEnv, recipe: DatasetRecipe, len: usize, seed: u64) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut env = template.clone();
    env.reseed(rng.random());
    let maze = env.maze().clone();
    let dynamics = env.dynamics();
    let all = maze.free_cells();
    let vertex = maze.vertex_cells();
    let jitter = |rng: &mut ChaCha8Rng, xy: [f32; 2]| [xy[0] + rng.random_range(-1.0f32..=1.0), xy[1] + rng.random_range(-1.0f32..=1.0)];

    let init = all[rng.random_range(0..all.len())];
    let goal_cell = match recipe.kind {
        DataKind::Stitch => {
            let d = maze.bfs(init);
            let four: Vec<_> = all.iter().copied().filter(|c| d[c.0 * maze.cols() + c.1] == 4).collect();
            if four.is_empty() {
                init
            } else {
                four[rng.random_range(0..four.len())]
            }
        }
        _ => vertex[rng.random_range(0..vertex.len())],
    };
    let init_xy = jitter(&mut rng, maze.ij_to_xy(init));
    env.set_state(init_xy, [0.0; 2]);
    let mut expert = MazeExpert::new(&maze, jitter(&mut rng, maze.ij_to_xy(goal_cell)));

    let obs_dim = env.observation_spec().dim();
    let mut ds = Dataset::new(obs_dim, 2, 2, 2, 0);
    ds.reserve(len);
    let mut obs = vec![0.0f32; obs_dim];
    for t in 0..len {
        env.observe(&mut obs);
        let (p, v) = (env.pos(), env.vel());
        let a = expert.noisy_action(&maze, dynamics, p, v, recipe.noise, &mut rng);
        ds.observations.extend_from_slice(&obs);
        ds.actions.extend_from_slice(&a);
        ds.terminals.push(if t + 1 == len { 1.0 } else { 0.0 });
        ds.qpos.extend_from_slice(&p);
        ds.qvel.extend_from_slice(&v);
        env.advance(a);
        if recipe.kind == DataKind::Navigate {
            let g = expert.goal_xy();
            let q = env.pos();
            if ((q[0] - g[0]).powi(2) + (q[1] - g[1]).powi(2)).sqrt() <= GOAL_TOL {
                let c = vertex[rng.random_range(0..vertex.len())];
                expert = MazeExpert::new(&maze, jitter(&mut rng, maze.ij_to_xy(c)));
            }
        }
    }
    ds
}
