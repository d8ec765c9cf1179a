//! Per-dimension min-max scaling of a dataset's observations and actions to [−1, 1]: what
//! diffusion_policy's `LinearNormalizer` (mode `limits`, `get_range_normalizer_from_stat`) does
//! to PushT, and what VQ-BeT's loaders do to Multimodal Ant.
//!
//! Why it belongs to the data and not to an agent: the imitation agents' fixed scales (NF-BC's
//! σ = 0.1 training noise and σ² denoising step, Diffusion Policy's unit-variance DDPM noise,
//! VQ-BeT's codebook) assume actions of order one. PushT's pixel units ([0, 512]) put them three
//! orders of magnitude off, so every agent trains on scaled data, and its policy maps the
//! environment's observation in and its action back out (`rl::Normalized`).
//!
//! Which tasks are scaled is a property of the task ([`Scaling`] in the family row), chosen as
//! the references do and from our data's ranges (training split, seed 0):
//!
//! | task | observations | actions | scaling | why |
//! |---|---|---|---|---|
//! | `pusht` | [0, 512] px | [0, 512] px | min-max | diffusion_policy scales PushT |
//! | `multigoal4` | [−0.5, 16.5] | [−1, 1] | min-max | VQ-BeT scales Multimodal Ant |
//! | `blockpush2` | [1, 12.8] | [−1, 1] | min-max | the reference leaves UR3 raw (metres, of order one); our table units are not |
//! | `kitchen2d` | [0, 3.9] | [−1, 1] | raw | as the reference's relay kitchen: already of order one |

use crate::dataset::Dataset;
use crate::error::{EnvError, Result};

/// How an imitation task's agents see its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scaling {
    /// As recorded (the data is already of order one).
    Raw,
    /// Each observation and action dimension min-max scaled to [−1, 1] over the training split.
    MinMax,
}

/// A dimension whose range is below this is constant: it maps to 0 (diffusion_policy's
/// `range_eps = 1e-4`, where such a dimension gets scale 1 and the offset that centres it).
pub const RANGE_EPS: f32 = 1e-4;

/// `y = x · scale + offset` per dimension, for observations and actions separately.
#[derive(Clone, Debug, PartialEq)]
pub struct Normalizer {
    pub obs_scale: Vec<f32>,
    pub obs_offset: Vec<f32>,
    pub act_scale: Vec<f32>,
    pub act_offset: Vec<f32>,
}

/// `(scale, offset)` mapping each column's [min, max] of `rows` (`[n, width]`) onto [−1, 1].
fn fit_columns(rows: impl Iterator<Item = usize>, data: &[f32], width: usize) -> (Vec<f32>, Vec<f32>) {
    let mut lo = vec![f32::INFINITY; width];
    let mut hi = vec![f32::NEG_INFINITY; width];
    for r in rows {
        for (j, &v) in data[r * width..(r + 1) * width].iter().enumerate() {
            lo[j] = lo[j].min(v);
            hi[j] = hi[j].max(v);
        }
    }
    let mut scale = Vec::with_capacity(width);
    let mut offset = Vec::with_capacity(width);
    for (l, h) in lo.into_iter().zip(hi) {
        if h - l < RANGE_EPS {
            scale.push(1.0);
            offset.push(-l);
        } else {
            let s = 2.0 / (h - l);
            scale.push(s);
            offset.push(-1.0 - s * l);
        }
    }
    (scale, offset)
}

/// Applies `(scale, offset)` to every row of `data`, whose width is a multiple of the
/// dimension count (a stacked history or an action chunk scales each slot alike).
fn apply(data: &mut [f32], scale: &[f32], offset: &[f32]) {
    let d = scale.len();
    for (i, v) in data.iter_mut().enumerate() {
        *v = *v * scale[i % d] + offset[i % d];
    }
}

fn invert(data: &mut [f32], scale: &[f32], offset: &[f32]) {
    let d = scale.len();
    for (i, v) in data.iter_mut().enumerate() {
        *v = (*v - offset[i % d]) / scale[i % d];
    }
}

impl Normalizer {
    /// Fits the ranges on `ds`: observations over every row, actions over the transition rows
    /// (an episode's terminal row carries no action, see [`crate::loader`]).
    pub fn fit(ds: &Dataset) -> Result<Self> {
        if ds.is_empty() {
            return Err(EnvError::Invalid("cannot fit a normaliser on an empty dataset".into()));
        }
        if let Some(i) = ds.observations.iter().chain(&ds.actions).position(|v| !v.is_finite()) {
            let (what, at) = if i < ds.observations.len() { ("observation", i / ds.obs_dim) } else { ("action", (i - ds.observations.len()) / ds.act_dim) };
            return Err(EnvError::Invalid(format!("cannot fit a normaliser: the dataset's {what} row {at} is not finite")));
        }
        let (obs_scale, obs_offset) = fit_columns(0..ds.len(), &ds.observations, ds.obs_dim);
        let transitions: Vec<usize> = (0..ds.len()).filter(|&r| ds.terminals[r] == 0.0).collect();
        let rows = if transitions.is_empty() { (0..ds.len()).collect() } else { transitions };
        let (act_scale, act_offset) = fit_columns(rows.into_iter(), &ds.actions, ds.act_dim);
        Ok(Self { obs_scale, obs_offset, act_scale, act_offset })
    }

    pub fn obs_dim(&self) -> usize {
        self.obs_scale.len()
    }

    pub fn act_dim(&self) -> usize {
        self.act_scale.len()
    }

    /// `ds` with its observations and actions scaled (the rest as it was).
    pub fn scale_dataset(&self, mut ds: Dataset) -> Result<Dataset> {
        if ds.obs_dim != self.obs_dim() || ds.act_dim != self.act_dim() {
            return Err(EnvError::Invalid(format!(
                "the normaliser is for observations of {} and actions of {} dimensions; the dataset has {} and {}",
                self.obs_dim(),
                self.act_dim(),
                ds.obs_dim,
                ds.act_dim
            )));
        }
        apply(&mut ds.observations, &self.obs_scale, &self.obs_offset);
        apply(&mut ds.actions, &self.act_scale, &self.act_offset);
        Ok(ds)
    }

    /// Scales observations in place (rows of one observation or of a stacked history).
    pub fn scale_obs(&self, obs: &mut [f32]) {
        apply(obs, &self.obs_scale, &self.obs_offset);
    }

    /// Scales actions in place (rows of one action or of a chunk).
    pub fn scale_actions(&self, act: &mut [f32]) {
        apply(act, &self.act_scale, &self.act_offset);
    }

    /// Maps scaled actions back to the environment's units, in place.
    pub fn unscale_actions(&self, act: &mut [f32]) {
        invert(act, &self.act_scale, &self.act_offset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dataset() -> Dataset {
        let mut ds = Dataset::new(2, 1, 0, 0, 0);
        // Episode of 3 rows: obs column 0 spans [0, 512], column 1 is constant 7; actions span
        // [100, 300] over the transitions, the terminal row's action (999) is ignored.
        ds.observations = vec![0.0, 7.0, 256.0, 7.0, 512.0, 7.0];
        ds.actions = vec![100.0, 300.0, 999.0];
        ds.terminals = vec![0.0, 0.0, 1.0];
        ds
    }

    /// The ranges map onto [−1, 1]; a constant dimension maps to 0; the terminal row's action
    /// does not count; scaling then unscaling returns the input.
    #[test]
    fn ranges_map_onto_the_unit_box_and_invert() {
        let n = Normalizer::fit(&dataset()).unwrap();
        let ds = n.scale_dataset(dataset()).unwrap();
        assert_eq!(ds.observations, vec![-1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
        assert_eq!(&ds.actions[..2], &[-1.0, 1.0]);
        let mut chunk = vec![100.0, 200.0, 300.0, 123.25];
        n.scale_actions(&mut chunk);
        assert_eq!(&chunk[..3], &[-1.0, 0.0, 1.0]);
        n.unscale_actions(&mut chunk);
        for (a, b) in chunk.iter().zip([100.0, 200.0, 300.0, 123.25]) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
        let mut history = vec![512.0, 7.0, 0.0, 7.0];
        n.scale_obs(&mut history);
        assert_eq!(history, vec![1.0, 0.0, -1.0, 0.0]);
    }

    #[test]
    fn non_finite_data_and_wrong_widths_are_named() {
        let mut bad = dataset();
        bad.actions[1] = f32::NAN;
        let e = Normalizer::fit(&bad).unwrap_err().to_string();
        assert!(e.contains("action row 1"), "{e}");
        let n = Normalizer::fit(&dataset()).unwrap();
        let e = n.scale_dataset(Dataset::new(3, 1, 0, 0, 0)).unwrap_err().to_string();
        assert!(e.contains("observations of 2") && e.contains("has 3"), "{e}");
    }
}
