//! OGBench's dataset recipes. They live apart from the registry so that a family file can state
//! its recipes without importing the registry that lists the family.

/// Which kind of scripted data a task's dataset holds (OGBench's dataset types).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataKind {
    /// Long episodes towards repeatedly resampled goals.
    Navigate,
    /// Short episodes towards goals 4 BFS cells away; evaluation needs stitching.
    Stitch,
    /// Random sub-tasks chained by a plan oracle (manipulation and puzzle).
    Play,
    /// Demonstrations of an imitation task by a scripted multimodal expert, one episode per demo,
    /// each ending when the expert is done (so episodes differ in length; `episode_len` is the
    /// cap). The study's imitation tasks trained on human demonstrations; ours are scripted.
    Demos,
}

/// OGBench's dataset recipe for a task (`data_gen_scripts/commands.sh`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DatasetRecipe {
    pub kind: DataKind,
    /// Training episodes; the `-val` split has a tenth as many.
    pub episodes: usize,
    /// Rows per episode (OGBench's `max_episode_steps`, e.g. 1001 rows = 1000 transitions).
    pub episode_len: usize,
    /// Std of the Gaussian action noise (puzzle, cubes: the plan oracle's noise scale).
    pub noise: f32,
}

/// OGBench's locomotion navigate recipe (`commands.sh`): 1000 episodes of 1000 steps, action
/// noise 0.5.
pub const NAVIGATE: DatasetRecipe = DatasetRecipe { kind: DataKind::Navigate, episodes: 1000, episode_len: 1001, noise: 0.5 };
/// OGBench's locomotion stitch recipe: 5000 episodes of 200 steps, action noise 0.5.
pub const STITCH: DatasetRecipe = DatasetRecipe { kind: DataKind::Stitch, episodes: 5000, episode_len: 201, noise: 0.5 };
/// OGBench's manipulation play recipe (puzzle, cubes, scene); the noise is the plan oracle's
/// noise scale.
pub const MANIPULATION_PLAY: DatasetRecipe = DatasetRecipe { kind: DataKind::Play, episodes: 1000, episode_len: 1001, noise: 0.1 };
