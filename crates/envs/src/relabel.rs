//! OGBench's singletask relabelling (`relabel_utils.py`): a `…-singletask-taskN` task trains on
//! its base task's dataset with rewards and masks recomputed from each row's `qpos` (mazes,
//! cubes), `button_states` (puzzle) or both (scene) against task N's goal. Success is judged on
//! the row's own state (OGBench's `success_timing="pre"`). Each family's row holds its rule
//! ([`crate::family::Family::singletask_rewards`]); [`crate::task::singletask_rewards`] picks it for a
//! resolved task. This module holds the pieces the rules share:
//! - mazes: `reward = success − 1`, `mask = 1 − success`, success = within 1.0 of the
//!   (noise-free) goal;
//! - soccer: the same with the *ball's* position (`qpos[2..4]`) within 1.0 of the goal;
//! - puzzle: `reward = #matched − #buttons`, `mask = 1 − all matched`;
//! - cubes: `reward = #cubes within 0.04 of task N's goal − #cubes`, `mask = 1 − all placed`
//!   (cube positions from `qpos[5 + 4i..8 + 4i]`; singletask goals are not permuted);
//! - scene: `reward = #satisfied − 5` over cube, 2 buttons, drawer and window, `mask = 1 − all`
//!   (cube `qpos[5..8]`, drawer `qpos[9]`, window `qpos[10]`, buttons from `button_states`).

use crate::dataset::Dataset;
use crate::family::Relabelled;

/// `(reward, mask)` of every row `t` of `ds` by `rule(t)`.
pub(crate) fn per_row(ds: &Dataset, rule: impl Fn(usize) -> (f32, f32)) -> Relabelled {
    (0..ds.len()).map(rule).unzip()
}

/// OGBench's locomotion rule on every row: success when the point at `qpos[col..col + 2]` (the
/// agent, or the ball) is within `tol` of `goal`; `reward = success − 1`, `mask = 1 − success`.
pub(crate) fn reach_rewards(ds: &Dataset, col: usize, goal: [f32; 2], tol: f32) -> Relabelled {
    per_row(ds, |t| {
        let q = &ds.qpos_row(t)[col..col + 2];
        let success = ((q[0] - goal[0]).powi(2) + (q[1] - goal[1]).powi(2)).sqrt() <= tol;
        (success as i32 as f32 - 1.0, 1.0 - success as i32 as f32)
    })
}
