//! The kinematic effector shared by the manipulation stand-ins (`kinpuzzle-*`, `kincube-*`), and
//! the pieces of OGBench's plan oracle (`manipspace/oracles/plan/plan_oracle.py`) they share:
//! keyframe interpolation, time jitter and temporally correlated plan noise.
//!
//! The effector replaces OGBench's UR5e arm: it moves exactly to
//! `clip(pose + scale·clip(a, −1, 1), workspace)` each control step. OGBench's arm tracks the
//! same relative targets through inverse kinematics, so the action semantics are kept while the
//! arm's lag and overshoot are dropped.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// Action scale (OGBench manipspace): Δx, Δy, Δz in metres, Δyaw in radians, Δgripper.
pub const ACTION_SCALE: [f32; 5] = [0.05, 0.05, 0.05, 0.3, 1.0];
/// Effector workspace the target pose is clipped to: `[x, y, z]` low and high (metres).
pub const WORKSPACE_LO: [f32; 3] = [0.25, -0.35, 0.02];
pub const WORKSPACE_HI: [f32; 3] = [0.6, 0.35, 0.35];
/// OGBench's `_arm_sampling_bounds`: where reset effector poses (and the oracle's random final
/// poses) are drawn from; yaw is uniform in [−π, π].
pub const ARM_SAMPLE_LO: [f32; 3] = [0.25, -0.2, 0.20];
pub const ARM_SAMPLE_HI: [f32; 3] = [0.6, 0.2, 0.25];
/// OGBench's observation centre x (`xyz_center = [0.425, 0, 0]`) and position scale (×10).
pub const CENTER_X: f32 = 0.425;
pub const POS_OBS_SCALE: f32 = 10.0;
/// OGBench's control timestep (s); `qvel` in the datasets is a finite difference over it.
pub const CONTROL_DT: f32 = 0.05;
/// The plan oracle's default segment duration, 0.4 s, in control steps.
pub const SEGMENT_STEPS: f32 = 8.0;
/// Std (in control steps) of the Gaussian smoothing of the plan noise.
pub const NOISE_SMOOTHING: f32 = 0.5;

/// Wraps an angle into [−π, π).
pub fn wrap_angle(a: f32) -> f32 {
    let two_pi = 2.0 * std::f32::consts::PI;
    let w = (a + std::f32::consts::PI).rem_euclid(two_pi) - std::f32::consts::PI;
    if w >= std::f32::consts::PI {
        w - two_pi
    } else {
        w
    }
}

/// One kinematic control step of the effector position and yaw (the gripper is the caller's).
pub fn move_effector(pos: &mut [f32; 3], yaw: &mut f32, action: &[f32]) {
    for d in 0..3 {
        let a = action[d].clamp(-1.0, 1.0);
        pos[d] = (pos[d] + ACTION_SCALE[d] * a).clamp(WORKSPACE_LO[d], WORKSPACE_HI[d]);
    }
    *yaw = wrap_angle(*yaw + ACTION_SCALE[3] * action[3].clamp(-1.0, 1.0));
}

/// Writes the effector block `[(x − 0.425)·10, y·10, z·10, cos yaw, sin yaw]` into `obs[..5]`.
pub fn write_effector(obs: &mut [f32], pos: [f32; 3], yaw: f32) {
    write_position(&mut obs[..3], pos);
    obs[3] = yaw.cos();
    obs[4] = yaw.sin();
}

/// Writes a position scaled as OGBench does (`(xyz − [0.425, 0, 0])·10`) into `obs[..3]`.
pub fn write_position(obs: &mut [f32], pos: [f32; 3]) {
    obs[0] = (pos[0] - CENTER_X) * POS_OBS_SCALE;
    obs[1] = pos[1] * POS_OBS_SCALE;
    obs[2] = pos[2] * POS_OBS_SCALE;
}

/// The observation bounds of the effector position block.
pub fn effector_obs_bounds() -> ([f32; 3], [f32; 3]) {
    (
        [(WORKSPACE_LO[0] - CENTER_X) * POS_OBS_SCALE, WORKSPACE_LO[1] * POS_OBS_SCALE, WORKSPACE_LO[2] * POS_OBS_SCALE],
        [(WORKSPACE_HI[0] - CENTER_X) * POS_OBS_SCALE, WORKSPACE_HI[1] * POS_OBS_SCALE, WORKSPACE_HI[2] * POS_OBS_SCALE],
    )
}

/// A pose drawn from OGBench's arm sampling bounds with yaw uniform in [−π, π].
pub fn sample_pose(rng: &mut ChaCha8Rng) -> ([f32; 3], f32) {
    sample_pose_within(rng, ARM_SAMPLE_LO, ARM_SAMPLE_HI)
}

/// A pose uniform in the box `lo..=hi` with yaw uniform in [−π, π] (kinscene samples up to
/// OGBench scene's higher 0.35 m).
pub fn sample_pose_within(rng: &mut ChaCha8Rng, lo: [f32; 3], hi: [f32; 3]) -> ([f32; 3], f32) {
    let mut p = [0.0f32; 3];
    for d in 0..3 {
        p[d] = rng.random_range(lo[d]..=hi[d]);
    }
    (p, rng.random_range(-std::f32::consts::PI..=std::f32::consts::PI))
}

/// scipy's `gaussian_filter1d(x, sigma, axis=0)` (truncate 4, `reflect` boundary) on `[len, 5]`.
pub fn gaussian_smooth(x: &[[f32; 5]], sigma: f32) -> Vec<[f32; 5]> {
    let n = x.len();
    if sigma <= 0.0 || n == 0 {
        return x.to_vec();
    }
    let radius = (4.0 * sigma + 0.5) as i64;
    let mut w: Vec<f32> = (-radius..=radius).map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp()).collect();
    let s: f32 = w.iter().sum();
    w.iter_mut().for_each(|v| *v /= s);
    let reflect = |i: i64| {
        let p = 2 * n as i64;
        let m = i.rem_euclid(p);
        (if m < n as i64 { m } else { p - 1 - m }) as usize
    };
    (0..n as i64)
        .map(|t| {
            let mut out = [0.0f32; 5];
            for (o, wk) in (-radius..=radius).zip(&w) {
                let row = &x[reflect(t + o)];
                for c in 0..5 {
                    out[c] += wk * row[c];
                }
            }
            out
        })
        .collect()
}

/// Jitters every keyframe time but the first by `U(−1, 1)·SEGMENT_STEPS·frac` (OGBench's
/// cube oracle uses `frac = 0.2`).
pub fn jitter_times(rng: &mut ChaCha8Rng, times: &mut [f32], frac: f32) {
    for t in &mut times[1..] {
        *t += rng.random_range(-1.0f32..=1.0) * SEGMENT_STEPS * frac;
    }
}

/// The plan at every control step `0..ceil(times.last())`: keyframes `[x, y, z, yaw, gripper]`
/// interpolated linearly in position and gripper and along the shorter arc in yaw (OGBench
/// slerps the orientation, which for a pure yaw is the same).
pub fn interpolate_keyframes(keys: &[[f32; 5]], times: &[f32]) -> Vec<[f32; 5]> {
    assert!(keys.len() == times.len() && keys.len() >= 2, "interpolate_keyframes: {} keys, {} times", keys.len(), times.len());
    let last = keys.len() - 1;
    let len = times[last].ceil().max(1.0) as usize;
    (0..len)
        .map(|t| {
            let t = t as f32;
            let s = (0..last).rev().find(|&s| times[s] <= t).unwrap_or(0);
            let u = ((t - times[s]) / (times[s + 1] - times[s])).clamp(0.0, 1.0);
            let (a, b) = (keys[s], keys[s + 1]);
            [a[0] + (b[0] - a[0]) * u, a[1] + (b[1] - a[1]) * u, a[2] + (b[2] - a[2]) * u, wrap_angle(a[3] + wrap_angle(b[3] - a[3]) * u), a[4] + (b[4] - a[4]) * u]
        })
        .collect()
}

/// Adds OGBench's temporally correlated plan noise, `N(0, 1)·scale·noise` smoothed with
/// σ = 0.5 steps, to every plan point (no draws when `noise` is 0).
pub fn add_plan_noise(rng: &mut ChaCha8Rng, plan: &mut [[f32; 5]], noise: f32) {
    if noise <= 0.0 {
        return;
    }
    let raw: Vec<[f32; 5]> = (0..plan.len())
        .map(|_| {
            let mut r = [0.0f32; 5];
            for (c, v) in r.iter_mut().enumerate() {
                let z: f32 = rng.sample(StandardNormal);
                *v = z * ACTION_SCALE[c] * noise;
            }
            r
        })
        .collect();
    for (p, e) in plan.iter_mut().zip(gaussian_smooth(&raw, NOISE_SMOOTHING)) {
        for c in 0..5 {
            p[c] += e[c];
        }
    }
}

/// The oracle's action towards plan point `p` from state `cur = [x, y, z, yaw, gripper]`:
/// `(p − cur)/scale` (yaw difference wrapped to [−π, π]), clipped to [−1, 1].
pub fn plan_action(p: &[f32; 5], cur: [f32; 5]) -> [f32; 5] {
    let mut a = [0.0f32; 5];
    for d in 0..3 {
        a[d] = (p[d] - cur[d]) / ACTION_SCALE[d];
    }
    a[3] = wrap_angle(p[3] - cur[3]) / ACTION_SCALE[3];
    a[4] = (p[4] - cur[4]) / ACTION_SCALE[4];
    a.map(|v| v.clamp(-1.0, 1.0))
}

/// What the play-data loop needs from a manipulation simulation (puzzle, cubes, scene).
pub(crate) trait PlaySim {
    fn observe(&self, obs: &mut [f32]);
    /// Appends the row's `qpos` (`Dataset::qpos_dim` values).
    fn qpos(&self, out: &mut Vec<f32>);
    /// Whether `qpos` column `c` is an angle, whose finite difference is wrapped.
    fn is_angle(&self, c: usize) -> bool;
    /// Appends the row's button states (`Dataset::button_dim` values; none by default).
    fn buttons(&self, _out: &mut Vec<i64>) {}
    /// The effector `[x, y, z, yaw, closure]` that plan actions are taken from.
    fn effector(&self) -> [f32; 5];
    fn apply(&mut self, action: &[f32; 5]);
}

/// Records `len` rows of play into `ds` (OGBench `generate_manipspace.py`): each row holds the
/// observation, `qpos`, `qvel` = the finite difference of `qpos` into the row over
/// [`CONTROL_DT`] (zeros on row 0; angles wrapped), the buttons, `terminals` = 1 on the last
/// row, and the action towards the plan's next point. A plan that runs out is replaced by
/// `next_plan` from the state it left.
pub(crate) fn record_play<S: PlaySim>(sim: &mut S, ds: &mut crate::dataset::Dataset, len: usize, rng: &mut ChaCha8Rng, mut next_plan: impl FnMut(&mut ChaCha8Rng, &S) -> Vec<[f32; 5]>) {
    let qdim = ds.qpos_dim;
    let mut obs = vec![0.0f32; ds.obs_dim];
    let mut q = Vec::with_capacity(qdim);
    let mut prev: Vec<f32> = Vec::with_capacity(qdim);
    let mut plan = next_plan(rng, sim);
    let mut idx = 0usize;
    for t in 0..len {
        sim.observe(&mut obs);
        q.clear();
        sim.qpos(&mut q);
        ds.observations.extend_from_slice(&obs);
        ds.qpos.extend_from_slice(&q);
        if t == 0 {
            ds.qvel.extend(std::iter::repeat_n(0.0, qdim));
        } else {
            ds.qvel.extend((0..qdim).map(|c| if sim.is_angle(c) { wrap_angle(q[c] - prev[c]) } else { q[c] - prev[c] } / CONTROL_DT));
        }
        std::mem::swap(&mut prev, &mut q);
        sim.buttons(&mut ds.button_states);
        ds.terminals.push(if t + 1 == len { 1.0 } else { 0.0 });

        let done = idx + 1 >= plan.len();
        let a = plan_action(&plan[idx.min(plan.len() - 1)], sim.effector());
        ds.actions.extend_from_slice(&a);
        sim.apply(&a);
        idx += 1;
        if done {
            plan = next_plan(rng, sim);
            idx = 0;
        }
    }
}

/// The table seen from above, as the arm tasks draw it (x down, y to the right, the robot at the
/// top): OGBench's effector workspace with a margin for buttons and cubes at its edge.
pub(crate) fn table_scene() -> crate::shapes::Scene {
    use crate::shapes::{Colour, Paint, Scene, Shape, View};
    let (lo, hi) = (WORKSPACE_LO, WORKSPACE_HI);
    let mut s = Scene::new([lo[0] - 0.02, lo[1] - 0.02], [hi[0] + 0.02, hi[1] + 0.02], View::XDownYRight);
    s.fixed(Shape::rect([lo[0] - 0.02, lo[1] - 0.02], [hi[0] + 0.02, hi[1] + 0.02]), Paint::fill(Colour::Floor));
    s
}

/// The effector seen from above: a cross, larger when higher, red while the gripper is closed.
pub(crate) fn draw_effector(s: &mut crate::shapes::Scene, pos: [f32; 3], closed: bool) {
    use crate::shapes::{Colour, Paint, Shape};
    let colour = if closed { Colour::Rgb(200, 30, 30) } else { Colour::Ink };
    for arm in Shape::cross([pos[0], pos[1]], 0.012 + 0.05 * pos[2]) {
        s.state(arm, Paint::line(colour, 3.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoothing_matches_scipy_on_an_impulse() {
        // scipy.ndimage.gaussian_filter1d([0,0,1,0,0,0], 0.5) = [0.00026, 0.10645, 0.78657, 0.10645, 0.00026, 0]
        let mut x = vec![[0.0f32; 5]; 6];
        x[2][0] = 1.0;
        let y = gaussian_smooth(&x, 0.5);
        let want = [0.000_26, 0.106_45, 0.786_57, 0.106_45, 0.000_26, 0.0];
        for (t, w) in want.iter().enumerate() {
            assert!((y[t][0] - w).abs() < 1e-4, "t={t}: {} vs {w}", y[t][0]);
        }
        // Reflect boundary keeps a constant signal constant.
        let c = gaussian_smooth(&[[2.0f32; 5]; 3], 0.5);
        assert!(c.iter().all(|r| r.iter().all(|v| (v - 2.0).abs() < 1e-6)));
    }

    #[test]
    fn wrap_angle_stays_in_range() {
        for a in [-10.0f32, -3.2, -3.1, 0.0, 3.1, std::f32::consts::PI, 3.2, 10.0] {
            let w = wrap_angle(a);
            assert!((-std::f32::consts::PI..std::f32::consts::PI).contains(&w), "{a} -> {w}");
            let k = ((w - a) / (2.0 * std::f32::consts::PI)).round();
            assert!((k * 2.0 * std::f32::consts::PI - (w - a)).abs() < 1e-4, "{a} -> {w}");
        }
    }

    #[test]
    fn keyframes_interpolate_linearly_and_yaw_along_the_short_arc() {
        let keys = [[0.3, 0.0, 0.2, 3.0, 0.0], [0.4, 0.1, 0.1, -3.0, 1.0]];
        let plan = interpolate_keyframes(&keys, &[0.0, 4.0]);
        assert_eq!(plan.len(), 4);
        let mid = plan[2];
        assert!((mid[0] - 0.35).abs() < 1e-6 && (mid[4] - 0.5).abs() < 1e-6);
        // 3.0 → −3.0 crosses ±π (0.28 rad), not 0 (6 rad).
        assert!(mid[3].abs() > 3.0, "yaw {}", mid[3]);
    }
}
