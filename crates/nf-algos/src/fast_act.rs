//! Batch-1 actions through nf-core's hand-fused [`FastSampler`] (the real-time control path):
//! about 10× cheaper than candle's graph for one action. The sampler snapshots the weights, so
//! it is rebuilt whenever the agent has taken gradient steps since it was made.

use std::sync::Mutex;

use nf_core::{ConditionalFlow, FastSampler};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rl::Result;

/// Below this batch size a flow on a GPU acts through the CPU sampler row by row: candle's
/// per-op launches cost ~60 ms per denoised call on an H200 whatever the batch, against ~0.4 ms
/// per row here.
pub(crate) const GPU_ROWS_ON_CPU: usize = 64;

#[derive(Default)]
pub(crate) struct FastCache(Mutex<Option<(usize, FastSampler)>>);

impl FastCache {
    /// [`FastCache::act`] for `n` condition rows of width `cond_dim` (row-major noise draws, as
    /// the batched path draws them).
    #[allow(clippy::too_many_arguments)] // the batched twin of `act`: the same arguments plus the row count
    pub(crate) fn act_rows(&self, flow: &ConditionalFlow, version: usize, cond: &[f32], cond_dim: usize, n: usize, denoise: bool, rng: &mut ChaCha8Rng) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(n * flow.config().dim);
        for r in 0..n {
            out.extend(self.act(flow, version, &cond[r * cond_dim..(r + 1) * cond_dim], denoise, rng)?);
        }
        Ok(out)
    }

    /// One action for one condition row; `denoise` picks `sample_action` over `sample`.
    /// The noise is drawn exactly as `ConditionalFlow::noise` draws it.
    pub(crate) fn act(&self, flow: &ConditionalFlow, version: usize, cond: &[f32], denoise: bool, rng: &mut ChaCha8Rng) -> Result<Vec<f32>> {
        let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if guard.as_ref().is_none_or(|(v, _)| *v != version) {
            *guard = Some((version, flow.fast_sampler()?));
        }
        let (_, fast) = guard.as_mut().expect("just built");
        let dim = flow.config().dim;
        let noise: Vec<f32> = (0..dim).map(|_| rng.sample(StandardNormal)).collect();
        let mut out = vec![0.0f32; dim];
        if denoise {
            fast.sample_action(cond, &noise, &mut out)?;
        } else {
            fast.sample(cond, &noise, &mut out)?;
        }
        Ok(out)
    }
}
