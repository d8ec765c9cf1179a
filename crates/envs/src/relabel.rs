//! OGBench's singletask relabelling (`relabel_utils.py`): a `…-singletask-taskN` task trains on
//! its base task's dataset with rewards and masks recomputed from each row's `qpos` (mazes,
//! cubes), `button_states` (puzzle) or both (scene) against task N's goal. Success is judged on the row's own state
//! (OGBench's `success_timing="pre"`).

use crate::dataset::Dataset;
use crate::error::{EnvError, Result};
use crate::puzzle::{puzzle_tasks, singletask_reward};
use crate::registry::{make_maze, make_soccer, meta};
use crate::soccer::{soccer_task_cells, SOCCER_GOAL_TOL};

/// `(rewards, masks)`, one per dataset row, for singletask `task`:
/// - mazes: `reward = success − 1`, `mask = 1 − success`, success = within 1.0 of the
///   (noise-free) goal;
/// - soccer: the same with the *ball's* position (`qpos[2..4]`) within 1.0 of the goal;
/// - puzzle: `reward = #matched − #buttons`, `mask = 1 − all matched`;
/// - cubes: `reward = #cubes within 0.04 of task N's goal − #cubes`, `mask = 1 − all placed`
///   (cube positions from `qpos[5 + 4i..8 + 4i]`; singletask goals are not permuted);
/// - scene: `reward = #satisfied − 5` over cube, 2 buttons, drawer and window, `mask = 1 − all`
///   (cube `qpos[5..8]`, drawer `qpos[9]`, window `qpos[10]`, buttons from `button_states`).
pub fn singletask_rewards(task: &str, ds: &Dataset) -> Result<(Vec<f32>, Vec<f32>)> {
    let m = meta(task)?;
    let k = m.singletask.ok_or_else(|| EnvError::Invalid(format!("{task} is not a singletask variant (expected a name ending in -singletask-task1 … -task5)")))?;
    let base = m.dataset.expect("singletask tasks have a dataset");
    let n = ds.len();
    let mut rewards = Vec::with_capacity(n);
    let mut masks = Vec::with_capacity(n);
    if base.starts_with("kincube") {
        let cubes = crate::cube::cube_count(&base)?;
        let goals = &crate::cube::cube_tasks(cubes)[k - 1].goal;
        if ds.qpos_dim < 5 + 4 * cubes {
            return Err(EnvError::Invalid(format!("{task}: dataset qpos has {} columns, {cubes} cubes need {}", ds.qpos_dim, 5 + 4 * cubes)));
        }
        for t in 0..n {
            let (r, mk) = crate::cube::singletask_reward(ds.qpos_row(t), goals);
            rewards.push(r);
            masks.push(mk);
        }
    } else if base.starts_with("kinscene") {
        let goal = crate::scene::scene_tasks()[k - 1].goal;
        if ds.qpos_dim < crate::scene::QPOS_DIM || ds.button_dim != 2 {
            return Err(EnvError::Invalid(format!("{task}: dataset has {} qpos columns and {} button states per row, the scene needs {} and 2", ds.qpos_dim, ds.button_dim, crate::scene::QPOS_DIM)));
        }
        for t in 0..n {
            let (r, mk) = crate::scene::singletask_reward(ds.qpos_row(t), ds.buttons_row(t), &goal);
            rewards.push(r);
            masks.push(mk);
        }
    } else if base.starts_with("kinpuzzle") {
        let (rows, cols) = if base.contains("3x3") { (3, 3) } else { (4, 4) };
        let goal = &puzzle_tasks(rows, cols)[k - 1].1;
        if ds.button_dim != goal.len() {
            return Err(EnvError::Invalid(format!("{task}: dataset has {} button states per row, the task has {} buttons", ds.button_dim, goal.len())));
        }
        for t in 0..n {
            let (r, mk) = singletask_reward(ds.buttons_row(t), goal);
            rewards.push(r);
            masks.push(mk);
        }
    } else if base.starts_with("pointsoccer") {
        // The ball's position (qpos columns 2, 3) against the task's noiseless goal.
        let (_, _, goal_cell) = soccer_task_cells(k).expect("soccer tasks have cells");
        let g = make_soccer(task)?.maze().ij_to_xy(goal_cell);
        if ds.qpos_dim < 4 {
            return Err(EnvError::Invalid(format!("{task}: dataset qpos has {} columns, need the agent's and the ball's x, y", ds.qpos_dim)));
        }
        reach_rewards(ds, 2, g, SOCCER_GOAL_TOL, &mut rewards, &mut masks);
    } else {
        let env = make_maze(task)?;
        let (_, goal_cell) = env.task_cells(k).expect("OGBench maze tasks have cells");
        let g = env.maze().ij_to_xy(goal_cell);
        let tol = env.goal_tol();
        if ds.qpos_dim < 2 {
            return Err(EnvError::Invalid(format!("{task}: dataset qpos has {} columns, need the agent's x, y", ds.qpos_dim)));
        }
        reach_rewards(ds, 0, g, tol, &mut rewards, &mut masks);
    }
    Ok((rewards, masks))
}

/// OGBench's locomotion rule on every row: success when the point at `qpos[col..col + 2]` (the
/// agent, or the ball) is within `tol` of `goal`; `reward = success − 1`, `mask = 1 − success`.
fn reach_rewards(ds: &Dataset, col: usize, goal: [f32; 2], tol: f32, rewards: &mut Vec<f32>, masks: &mut Vec<f32>) {
    for t in 0..ds.len() {
        let q = &ds.qpos_row(t)[col..col + 2];
        let success = ((q[0] - goal[0]).powi(2) + (q[1] - goal[1]).powi(2)).sqrt() <= tol;
        rewards.push(success as i32 as f32 - 1.0);
        masks.push(1.0 - success as i32 as f32);
    }
}
