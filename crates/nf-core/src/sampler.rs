//! [`FlowSampler`]: the one door through which samples leave a [`ConditionalFlow`].
//!
//! Two paths compute the same samples: candle's graph (batched, on the flow's device) and the
//! hand-fused [`FastSampler`] (CPU, one row at a time, about 10× cheaper for one row because
//! candle's cost there is dispatch, not arithmetic). Which one runs is a question of speed only,
//! so it is decided here, with the snapshot of the weights the fused path needs, and callers see
//! one method whatever the device. `tests/properties.rs` holds the two paths together.

use std::ops::Deref;
use std::sync::Mutex;

use candle_core::{DType, Tensor};
use rand::Rng;
use rand_distr::StandardNormal;

use crate::error::{FlowError, Result};
use crate::fast::FastSampler;
use crate::flow::ConditionalFlow;

/// How one draw of base noise becomes a sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Draw {
    /// Scale of the base noise: 1 samples the flow, 0 maps the base's mode (a deterministic
    /// sample).
    pub temperature: f64,
    /// One denoising step `x ← x + σ²·∇ₓ log p(x|y)` after sampling, σ = the config's `noise_std`.
    pub denoise: bool,
}

impl Draw {
    /// A plain sample `x = f⁻¹(z | y)`, `z ~ N(0, I)`.
    pub const PLAIN: Draw = Draw { temperature: 1.0, denoise: false };

    /// A sample, denoised when `denoise` is true.
    pub fn sample(denoise: bool) -> Self {
        Draw { denoise, ..Self::PLAIN }
    }
}

/// Below this many rows a flow on a GPU samples through the CPU's fused path row by row:
/// candle's per-op launches cost ~60 ms per denoised call on an H200 whatever the batch, against
/// ~0.4 ms per row here.
const GPU_ROWS_ON_CPU: usize = 64;

/// The two ways to compute a sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Path {
    /// candle's graph, all rows at once on the flow's device.
    Graph,
    /// [`FastSampler`], row by row on the CPU.
    Fused,
}

/// The fused path computes in f32; on a CPU it pays for one row only (candle's batched matmuls
/// win from two rows up), on a GPU for up to [`GPU_ROWS_ON_CPU`] rows.
fn path(on_cpu: bool, dtype: DType, rows: usize) -> Path {
    match (dtype, on_cpu) {
        (DType::F32, true) if rows == 1 => Path::Fused,
        (DType::F32, false) if rows <= GPU_ROWS_ON_CPU => Path::Fused,
        _ => Path::Graph,
    }
}

/// A flow with the snapshot its fused path samples from. It dereferences to the flow for
/// training and checkpoints; samples go through [`FlowSampler::sample_rows`].
///
/// The snapshot is tagged with the caller's weight version (an optimiser step count): weights
/// change through the optimiser's variables, which the flow cannot observe, so the caller says
/// when they moved. Loading weights through [`FlowSampler::set_named_tensors`] drops it.
pub struct FlowSampler {
    flow: ConditionalFlow,
    snapshot: Mutex<Option<(usize, FastSampler)>>,
}

impl Deref for FlowSampler {
    type Target = ConditionalFlow;

    fn deref(&self) -> &ConditionalFlow {
        &self.flow
    }
}

impl FlowSampler {
    pub fn new(flow: ConditionalFlow) -> Self {
        Self { flow, snapshot: Mutex::new(None) }
    }

    /// `rows` samples, row-major `[rows, dim]`, for condition rows `cond` (`[rows, cond_dim]`
    /// row-major; empty for an unconditional flow). `version` names the current weights: the
    /// fused path re-snapshots them whenever it differs from the last call's.
    ///
    /// The noise is `rows × dim` standard normals drawn row-major from `rng`, as
    /// [`ConditionalFlow::noise`] draws them, whichever path runs: the same seed gives the same
    /// samples up to float rounding on every device and batch size.
    pub fn sample_rows(&self, version: usize, cond: &[f32], rows: usize, draw: Draw, rng: &mut impl Rng) -> Result<Vec<f32>> {
        let cond_dim = self.flow.config().cond_dim;
        if cond.len() != rows * cond_dim {
            return Err(FlowError::Shape { what: "cond", expected: format!("[{rows} × {cond_dim}] values"), got: vec![cond.len()] });
        }
        match path(self.flow.device().is_cpu(), self.flow.dtype(), rows) {
            Path::Fused => self.sample_fused(version, cond, rows, draw, rng),
            Path::Graph => self.sample_graph(cond, rows, draw, rng),
        }
    }

    /// Overwrites the weights as [`ConditionalFlow::set_named_tensors`] does and drops the
    /// snapshot (a loaded checkpoint may carry the step count the snapshot was taken at).
    pub fn set_named_tensors(&self, map: &std::collections::HashMap<String, Tensor>, prefix: &str) -> Result<()> {
        *self.snapshot.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.flow.set_named_tensors(map, prefix)
    }

    fn sample_graph(&self, cond: &[f32], rows: usize, draw: Draw, rng: &mut impl Rng) -> Result<Vec<f32>> {
        let flow = &self.flow;
        let cond_dim = flow.config().cond_dim;
        let cond = if cond_dim > 0 { Some(Tensor::from_slice(cond, (rows, cond_dim), flow.device())?.to_dtype(flow.dtype())?) } else { None };
        let mut noise = flow.noise(rng, rows)?;
        if draw.temperature != 1.0 {
            noise = (noise * draw.temperature)?;
        }
        let mut x = flow.sample(cond.as_ref(), &noise)?.detach();
        if draw.denoise {
            x = flow.denoise(&x, cond.as_ref())?;
        }
        Ok(x.flatten_all()?.to_dtype(DType::F32)?.to_vec1()?)
    }

    fn sample_fused(&self, version: usize, cond: &[f32], rows: usize, draw: Draw, rng: &mut impl Rng) -> Result<Vec<f32>> {
        let mut guard = self.snapshot.lock().unwrap_or_else(|p| p.into_inner());
        if guard.as_ref().is_none_or(|(v, _)| *v != version) {
            *guard = Some((version, self.flow.fast_sampler()?));
        }
        let (_, fast) = guard.as_mut().expect("just built");
        let (dim, cond_dim) = (self.flow.config().dim, self.flow.config().cond_dim);
        let scale = draw.temperature as f32;
        let mut noise = vec![0.0f32; dim];
        let mut out = vec![0.0f32; rows * dim];
        for (r, x) in out.chunks_exact_mut(dim).enumerate() {
            for z in &mut noise {
                *z = rng.sample(StandardNormal);
            }
            if draw.temperature != 1.0 {
                noise.iter_mut().for_each(|z| *z *= scale);
            }
            fast.draw(&cond[r * cond_dim..(r + 1) * cond_dim], &noise, draw.denoise, x)?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The GPU branch cannot run on a machine without one; its decision is checked here, and the
    /// rows it sends to the fused path go through the same loop as the CPU's single row.
    #[test]
    fn path_choice() {
        assert_eq!(path(true, DType::F32, 1), Path::Fused);
        assert_eq!(path(true, DType::F32, 2), Path::Graph);
        assert_eq!(path(true, DType::F64, 1), Path::Graph);
        assert_eq!(path(false, DType::F32, 1), Path::Fused);
        assert_eq!(path(false, DType::F32, GPU_ROWS_ON_CPU), Path::Fused);
        assert_eq!(path(false, DType::F32, GPU_ROWS_ON_CPU + 1), Path::Graph);
        assert_eq!(path(false, DType::BF16, 1), Path::Graph);
    }
}
