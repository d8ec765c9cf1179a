//! Task names, what each stands in for, its dataset recipe, and `make`.

use crate::env::GoalEnv;
use crate::error::{EnvError, Result};
use crate::maze::Layout;
use crate::pointmaze::{Dynamics, MazeEnv, Mode};
use crate::soccer::SoccerEnv;

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

/// Everything the runner and the pictures need to know about a task without building it.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskMeta {
    pub name: String,
    /// The dataset this task trains on (its name without `-singletask-taskN`); `None` for the
    /// online mazes, which collect their own data.
    pub dataset: Option<String>,
    pub recipe: Option<DatasetRecipe>,
    /// The OGBench singletask variant's fixed evaluation task.
    pub singletask: Option<usize>,
    /// Which row of the study this native task stands in for, said honestly.
    pub stands_in_for: String,
}

const MAZES: [(&str, Layout); 4] = [("medium", Layout::Medium), ("large", Layout::Large), ("giant", Layout::Giant), ("teleport", Layout::Teleport)];
const ONLINE: [&str; 3] = ["umaze", "bigmaze", "hardestmaze"];
const PUZZLES: [&str; 2] = ["3x3", "4x4"];
const CUBES: [&str; 2] = ["single", "double"];
/// The imitation tasks (VQ-BeT's suite): no goals, no singletask variants, scored by
/// [`crate::Info::score`]. Each row: name, the cap on a demonstration's rows, the expert's action
/// noise. There are about 200 demos each (the study's PushT set has 206 human demos).
const IMITATION: &[(&str, usize, f32)] = &[
    // pusht: demos end on the first row with coverage > 0.95 (the expert's median is 113 steps);
    // the cap is the 300-step evaluation limit. Noise: a 10 px std on the target position.
    ("pusht", 300, 10.0),
    // multigoal4: demos end when all 4 corners are visited (620–672 rows); the cap is the
    // evaluation limit. Noise 0.5 as the maze recipes (the momentum filters most of it).
    ("multigoal4", crate::multigoal::MAX_EPISODE_STEPS, 0.5),
    // blockpush2: demos end when both blocks are in targets (127–240 rows); noise 0.2, a
    // manipulation-sized noise (OGBench's cube oracle uses 0.1) that still leaves 200/200 demos.
    ("blockpush2", crate::blockpush::MAX_EPISODE_STEPS, 0.2),
    // 281 rows = the 280-step evaluation limit + the final observation (the expert's demos take
    // 110–237 rows, median 182, on the default seed); noise 0.1 as OGBench's manipulation oracles.
    ("kitchen2d", 281, 0.1),
];

/// Whether `name` is one of the imitation tasks.
pub fn is_imitation(name: &str) -> bool {
    IMITATION.iter().any(|(n, ..)| *n == name)
}

/// The dataset-bearing base tasks (no singletask suffix).
pub fn base_tasks() -> Vec<String> {
    let mut v = Vec::new();
    for (m, _) in MAZES {
        for kind in ["navigate", "stitch"] {
            v.push(format!("pointmaze-{m}-{kind}"));
        }
    }
    v.push("accelmaze-medium-navigate".into());
    for kind in ["navigate", "stitch"] {
        v.push(format!("pointsoccer-arena-{kind}"));
    }
    for p in PUZZLES {
        v.push(format!("kinpuzzle-{p}-play"));
    }
    for c in CUBES {
        v.push(format!("kincube-{c}-play"));
    }
    v.push("kinscene-play".into());
    v.extend(IMITATION.iter().map(|(n, ..)| n.to_string()));
    v
}

/// Every registered task name: the base tasks, their `-singletask-task{1..5}` variants and the
/// online mazes.
pub fn task_names() -> Vec<String> {
    let mut v = Vec::new();
    for b in base_tasks() {
        v.push(b.clone());
        if is_imitation(&b) {
            continue;
        }
        for k in 1..=5 {
            v.push(format!("{b}-singletask-task{k}"));
        }
    }
    for o in ONLINE {
        v.push(format!("pointmaze-{o}-online"));
    }
    v
}

fn unknown(name: &str) -> EnvError {
    let bases = base_tasks().join(", ");
    let online: Vec<String> = ONLINE.iter().map(|o| format!("pointmaze-{o}-online")).collect();
    EnvError::UnknownTask { name: name.into(), known: format!("{bases}, {} (and each goal-conditioned base task's `-singletask-task1` … `-task5` variant)", online.join(", ")) }
}

/// Splits `X-singletask-taskK` into `(X, Some(K))`.
fn split_singletask(name: &str) -> Result<(&str, Option<usize>)> {
    match name.split_once("-singletask-task") {
        None => Ok((name, None)),
        Some((base, k)) => match k.parse::<usize>() {
            Ok(k @ 1..=5) => Ok((base, Some(k))),
            _ => Err(unknown(name)),
        },
    }
}

fn stands_in_for(base: &str) -> String {
    let row = match base {
        "pointmaze-large-navigate" => "antmaze-large-navigate",
        "pointmaze-medium-stitch" => "antmaze-medium-stitch",
        "accelmaze-medium-navigate" => "humanoidmaze-medium-navigate",
        "pointsoccer-arena-navigate" => "antsoccer-arena-navigate",
        "pointsoccer-arena-stitch" => "antsoccer-arena-stitch",
        "kinpuzzle-3x3-play" => "puzzle-3x3-play",
        "kincube-single-play" => "cube-single-play",
        "kincube-double-play" => "cube-double-play",
        "kinscene-play" => "scene-play",
        "pointmaze-umaze-online" => "ant_u_maze (JaxGCRL)",
        "pointmaze-bigmaze-online" => "ant_big_maze (JaxGCRL)",
        "pointmaze-hardestmaze-online" => "ant_hardest_maze (JaxGCRL)",
        "blockpush2" => "UR3 BlockPush (VQ-BeT; human demos, ours scripted)",
        "multigoal4" => "Multimodal Ant (VQ-BeT; human demos, ours scripted)",
        "kitchen2d" => "Franka Kitchen (relay kitchen; human demos, ours scripted)",
        "pusht" => "PushT (diffusion_policy; human demos, ours scripted)",
        _ => "",
    };
    if row.is_empty() {
        let ogbench = base.replacen("kinpuzzle", "puzzle", 1);
        format!("OGBench {ogbench} (not a row of the study)")
    } else {
        format!("{row} (native stand-in; numbers are not comparable)")
    }
}

fn demo_recipe(base: &str) -> Option<DatasetRecipe> {
    let &(_, episode_len, noise) = IMITATION.iter().find(|(n, ..)| *n == base)?;
    Some(DatasetRecipe { kind: DataKind::Demos, episodes: 200, episode_len, noise })
}

/// What is known about `name`, or an error listing the known names.
pub fn meta(name: &str) -> Result<TaskMeta> {
    let (base, singletask) = split_singletask(name)?;
    if ONLINE.iter().any(|o| base == format!("pointmaze-{o}-online")) {
        if singletask.is_some() {
            return Err(unknown(name));
        }
        return Ok(TaskMeta { name: name.into(), dataset: None, recipe: None, singletask: None, stands_in_for: stands_in_for(base) });
    }
    if !base_tasks().iter().any(|b| b == base) || (singletask.is_some() && is_imitation(base)) {
        return Err(unknown(name));
    }
    // kincube, kinscene: OGBench's manipulation play recipe (noise 0.1 is the plan oracle's
    // noise scale).
    let recipe = if let Some(r) = demo_recipe(base) {
        r
    } else if base.starts_with("kinpuzzle") || base.starts_with("kincube") || base.starts_with("kinscene") {
        DatasetRecipe { kind: DataKind::Play, episodes: 1000, episode_len: 1001, noise: 0.1 }
    } else if base.ends_with("-stitch") {
        DatasetRecipe { kind: DataKind::Stitch, episodes: 5000, episode_len: 201, noise: 0.5 }
    } else if base.starts_with("accelmaze") {
        DatasetRecipe { kind: DataKind::Navigate, episodes: 1000, episode_len: 2001, noise: 0.5 }
    } else if base.contains("-giant-") {
        DatasetRecipe { kind: DataKind::Navigate, episodes: 500, episode_len: 2001, noise: 0.5 }
    } else {
        DatasetRecipe { kind: DataKind::Navigate, episodes: 1000, episode_len: 1001, noise: 0.5 }
    };
    let mut stands = stands_in_for(base);
    if let Some(k) = singletask {
        stands = stands.replacen(" (", &format!("-singletask-task{k} ("), 1);
    }
    Ok(TaskMeta { name: name.into(), dataset: Some(base.into()), recipe: Some(recipe), singletask, stands_in_for: stands })
}

/// The concrete maze behind a `pointmaze-*` / `accelmaze-*` name (pictures and experts need the
/// map, which the trait object hides).
pub fn make_maze(name: &str) -> Result<MazeEnv> {
    let (base, singletask) = split_singletask(name)?;
    meta(name)?;
    let parts: Vec<&str> = base.split('-').collect();
    match parts.as_slice() {
        ["pointmaze", size, "online"] => Ok(online_maze(name, size)),
        [family @ ("pointmaze" | "accelmaze"), size, _kind] => {
            let layout = MAZES.iter().find(|(m, _)| m == size).map(|(_, l)| *l).ok_or_else(|| unknown(name))?;
            let dynamics = if *family == "accelmaze" { Dynamics::Accel } else { Dynamics::Point };
            Ok(MazeEnv::new(name, layout, dynamics, Mode::Ogbench { singletask }))
        }
        _ => Err(EnvError::Invalid(format!("{name} is not a maze task"))),
    }
}

/// The concrete soccer env behind a `pointsoccer-*` name (experts and tests need its state).
pub fn make_soccer(name: &str) -> Result<SoccerEnv> {
    let (base, singletask) = split_singletask(name)?;
    meta(name)?;
    if !base.starts_with("pointsoccer-") {
        return Err(EnvError::Invalid(format!("{name} is not a soccer task")));
    }
    Ok(SoccerEnv::new(name, singletask))
}

/// Builds the task `name` (e.g. `pointmaze-large-navigate`, `kinpuzzle-3x3-play-singletask-task4`).
pub fn make(name: &str) -> Result<Box<dyn GoalEnv>> {
    let (base, singletask) = split_singletask(name)?;
    meta(name)?;
    let parts: Vec<&str> = base.split('-').collect();
    let env: Box<dyn GoalEnv> = match parts.as_slice() {
        ["pointmaze" | "accelmaze", ..] => Box::new(make_maze(name)?),
        ["pointsoccer", ..] => Box::new(make_soccer(name)?),
        ["kinpuzzle", size, "play"] => {
            let (r, c) = if *size == "3x3" { (3, 3) } else { (4, 4) };
            Box::new(crate::puzzle::PuzzleEnv::new(name, r, c, singletask))
        }
        ["pusht"] => Box::new(crate::pusht::PushTEnv::new(name)),
        ["kincube", _, "play"] => Box::new(crate::cube::CubeEnv::new(name, crate::cube::cube_count(base)?, singletask)),
        ["kinscene", "play"] => Box::new(crate::scene::SceneEnv::new(name, singletask)),
        ["multigoal4"] => Box::new(crate::multigoal::MultiGoalEnv::new(name)),
        ["blockpush2"] => Box::new(crate::blockpush::BlockPushEnv::new(name)),
        ["kitchen2d"] => Box::new(crate::kitchen::KitchenEnv::new()),
        _ => return Err(unknown(name)),
    };
    Ok(env)
}

/// JaxGCRL's online mazes: U_MAZE, BIG_MAZE (= OGBench medium) and HARDEST_MAZE (= OGBench
/// large) in JaxGCRL's (4i, 4j) convention. Every free cell but the start R=(1,1) is a G cell;
/// the `hard` goals are those of the paper's `ant_maze.py`.
fn online_maze(name: &str, size: &str) -> MazeEnv {
    let (layout, hard): (Layout, Vec<(usize, usize)>) = match size {
        "umaze" => (Layout::UMaze, vec![(3, 1)]),
        "bigmaze" => (Layout::Medium, vec![(1, 5), (1, 6), (2, 6), (6, 3), (6, 5), (6, 6)]),
        _ => (Layout::Large, vec![(3, 8), (5, 4), (7, 10)]),
    };
    let maze = crate::maze::Maze::new(layout, crate::maze::Convention::JaxGcrl);
    let easy: Vec<(usize, usize)> = maze.free_cells().into_iter().filter(|&c| c != (1, 1)).collect();
    MazeEnv::new(name, layout, Dynamics::Point, Mode::Online { easy, hard })
}
