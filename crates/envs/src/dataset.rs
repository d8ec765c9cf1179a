//! The in-memory dataset in OGBench's layout: flat row-major arrays, one row per time step,
//! `terminals[t] = 1` on the last row of each episode (whose action OGBench's loader drops).

/// One dataset split, as OGBench's `.npz` files hold it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dataset {
    pub obs_dim: usize,
    pub act_dim: usize,
    pub qpos_dim: usize,
    pub qvel_dim: usize,
    /// 0 unless the task has buttons (puzzle).
    pub button_dim: usize,
    /// `[N, obs_dim]` float32.
    pub observations: Vec<f32>,
    /// `[N, act_dim]` float32.
    pub actions: Vec<f32>,
    /// `[N]` float32, 1.0 on each episode's last row.
    pub terminals: Vec<f32>,
    /// `[N, qpos_dim]` float32: what singletask relabelling reads (maze: x, y).
    pub qpos: Vec<f32>,
    /// `[N, qvel_dim]` float32.
    pub qvel: Vec<f32>,
    /// `[N, button_dim]` int64 (puzzle only).
    pub button_states: Vec<i64>,
}

impl Dataset {
    pub fn new(obs_dim: usize, act_dim: usize, qpos_dim: usize, qvel_dim: usize, button_dim: usize) -> Self {
        Self { obs_dim, act_dim, qpos_dim, qvel_dim, button_dim, ..Default::default() }
    }
    /// Number of rows (time steps, including each episode's final row).
    pub fn len(&self) -> usize {
        self.terminals.len()
    }
    pub fn is_empty(&self) -> bool {
        self.terminals.is_empty()
    }
    pub fn reserve(&mut self, rows: usize) {
        self.observations.reserve(rows * self.obs_dim);
        self.actions.reserve(rows * self.act_dim);
        self.terminals.reserve(rows);
        self.qpos.reserve(rows * self.qpos_dim);
        self.qvel.reserve(rows * self.qvel_dim);
        self.button_states.reserve(rows * self.button_dim);
    }
    /// Appends every row of `other` (same layout).
    pub fn append(&mut self, other: &Dataset) {
        debug_assert_eq!((self.obs_dim, self.act_dim, self.qpos_dim, self.qvel_dim, self.button_dim), (other.obs_dim, other.act_dim, other.qpos_dim, other.qvel_dim, other.button_dim));
        self.observations.extend_from_slice(&other.observations);
        self.actions.extend_from_slice(&other.actions);
        self.terminals.extend_from_slice(&other.terminals);
        self.qpos.extend_from_slice(&other.qpos);
        self.qvel.extend_from_slice(&other.qvel);
        self.button_states.extend_from_slice(&other.button_states);
    }
    pub fn observation(&self, t: usize) -> &[f32] {
        &self.observations[t * self.obs_dim..(t + 1) * self.obs_dim]
    }
    pub fn action(&self, t: usize) -> &[f32] {
        &self.actions[t * self.act_dim..(t + 1) * self.act_dim]
    }
    pub fn qpos_row(&self, t: usize) -> &[f32] {
        &self.qpos[t * self.qpos_dim..(t + 1) * self.qpos_dim]
    }
    pub fn buttons_row(&self, t: usize) -> &[i64] {
        &self.button_states[t * self.button_dim..(t + 1) * self.button_dim]
    }
    /// `(start, end)` row ranges of the episodes (end exclusive, the terminal row included).
    pub fn episodes(&self) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut start = 0;
        for (t, &term) in self.terminals.iter().enumerate() {
            if term > 0.5 {
                out.push((start, t + 1));
                start = t + 1;
            }
        }
        out
    }
}
