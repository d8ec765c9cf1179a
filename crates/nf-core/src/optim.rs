//! Optimiser helpers shared by every agent: AdamW with the paper's warm-up + cosine schedule.

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use serde::{Deserialize, Serialize};

use crate::error::{FlowError, Result};

/// Linear warm-up to `peak` over `warmup` steps, then cosine decay to `floor` at `total` steps
/// (optax `warmup_cosine_decay_schedule`, as in the NF-GCBC and NF-BC code).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WarmupCosine {
    pub peak: f64,
    pub warmup: usize,
    pub total: usize,
    pub floor: f64,
}

impl Default for WarmupCosine {
    /// NF-GCBC: 3e-4, 500 warm-up steps, 1M steps, floor 1e-6.
    fn default() -> Self {
        Self { peak: 3e-4, warmup: 500, total: 1_000_000, floor: 1e-6 }
    }
}

impl WarmupCosine {
    pub fn lr(&self, step: usize) -> f64 {
        if step < self.warmup {
            // optax starts the warm-up at 0 and reaches `peak` at step `warmup`.
            return self.peak * step as f64 / self.warmup as f64;
        }
        let span = self.total.saturating_sub(self.warmup).max(1) as f64;
        let t = ((step - self.warmup) as f64 / span).min(1.0);
        self.floor + 0.5 * (self.peak - self.floor) * (1.0 + (std::f64::consts::PI * t).cos())
    }
}

/// AdamW plus a schedule and a finite-loss guard: a NaN or inf loss is an error before any
/// parameter moves, so a diverged run never writes garbage.
/// AdamW (decoupled weight decay, Loshchilov & Hutter) whose moments can be saved and restored,
/// so a killed run resumes with exactly the optimiser state it had. candle-nn's `AdamW` keeps its
/// moments private, which rules out bit-exact resumption.
pub struct AdamW {
    vars: Vec<Var>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    t: usize,
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl AdamW {
    pub fn new(vars: Vec<Var>, lr: f64, weight_decay: f64) -> Result<Self> {
        let m = vars.iter().map(|v| v.as_tensor().zeros_like()).collect::<candle_core::Result<Vec<_>>>()?;
        let v = vars.iter().map(|v| v.as_tensor().zeros_like()).collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self { vars, m, v, t: 0, lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay })
    }

    /// Adam (no weight decay), as the offline-RL agents use.
    pub fn adam(vars: Vec<Var>, lr: f64) -> Result<Self> {
        Self::new(vars, lr, 0.0)
    }

    pub fn steps(&self) -> usize {
        self.t
    }

    /// One update from `grads`; variables without a gradient are left alone (their moments
    /// still decay, as in optax).
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.t += 1;
        let (b1, b2) = (self.beta1, self.beta2);
        let c1 = 1.0 - b1.powi(self.t as i32);
        let c2 = 1.0 - b2.powi(self.t as i32);
        for ((var, m), v) in self.vars.iter().zip(self.m.iter_mut()).zip(self.v.iter_mut()) {
            let Some(g) = grads.get(var.as_tensor()) else { continue };
            *m = ((&*m * b1)? + (g * (1.0 - b1))?)?;
            *v = ((&*v * b2)? + (g.sqr()? * (1.0 - b2))?)?;
            let update = ((&*m / c1)? / ((&*v / c2)?.sqrt()? + self.eps)?)?;
            let decayed = if self.weight_decay > 0.0 { (var.as_tensor() * (1.0 - self.lr * self.weight_decay))? } else { var.as_tensor().clone() };
            var.set(&(decayed - (update * self.lr)?)?)?;
        }
        Ok(())
    }

    /// The optimiser state as named tensors (`{prefix}.m.{i}`, `{prefix}.v.{i}`, `{prefix}.t`).
    pub fn state(&self, prefix: &str) -> Result<Vec<(String, Tensor)>> {
        let mut out = Vec::with_capacity(2 * self.m.len() + 1);
        for (i, (m, v)) in self.m.iter().zip(&self.v).enumerate() {
            out.push((format!("{prefix}.m.{i}"), m.clone()));
            out.push((format!("{prefix}.v.{i}"), v.clone()));
        }
        let dev = self.m.first().map(|t| t.device().clone()).unwrap_or(candle_core::Device::Cpu);
        out.push((format!("{prefix}.t"), Tensor::new(&[self.t as i64], &dev)?));
        Ok(out)
    }

    /// Restores what [`AdamW::state`] saved; the variable list must be the same.
    pub fn load_state(&mut self, prefix: &str, tensors: &std::collections::HashMap<String, Tensor>) -> Result<()> {
        let get = |k: String| tensors.get(&k).cloned().ok_or_else(|| FlowError::Checkpoint { path: Default::default(), reason: format!("optimiser state `{k}` missing") });
        for i in 0..self.m.len() {
            let (m, v) = (get(format!("{prefix}.m.{i}"))?, get(format!("{prefix}.v.{i}"))?);
            if m.dims() != self.m[i].dims() {
                return Err(FlowError::Checkpoint { path: Default::default(), reason: format!("optimiser state `{prefix}.m.{i}` has shape {:?}, expected {:?}", m.dims(), self.m[i].dims()) });
            }
            self.m[i] = m.to_device(self.m[i].device())?;
            self.v[i] = v.to_device(self.v[i].device())?;
        }
        self.t = get(format!("{prefix}.t"))?.to_vec1::<i64>()?[0] as usize;
        Ok(())
    }
}

/// AdamW on a warm-up + cosine schedule with a non-finite-loss guard: the flow training loop of
/// the paper's BC and GCBC code.
pub struct Trainer {
    opt: AdamW,
    schedule: WarmupCosine,
}

impl Trainer {
    pub fn new(vars: Vec<Var>, schedule: WarmupCosine, weight_decay: f64) -> Result<Self> {
        let opt = AdamW::new(vars, schedule.lr(0), weight_decay)?;
        Ok(Self { opt, schedule })
    }

    pub fn step_count(&self) -> usize {
        self.opt.steps()
    }

    /// Backpropagates `loss` and applies one update; a NaN or infinite loss is refused before it
    /// can touch the parameters.
    pub fn step(&mut self, loss: &Tensor) -> Result<f64> {
        let value = loss.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?;
        if !value.is_finite() {
            return Err(FlowError::NonFinite(format!("loss = {value} at step {}", self.opt.steps())));
        }
        let grads: GradStore = loss.backward()?;
        self.opt.lr = self.schedule.lr(self.opt.steps() + 1);
        self.opt.step(&grads)?;
        Ok(value)
    }

    pub fn optimizer(&self) -> &AdamW {
        &self.opt
    }
    pub fn optimizer_mut(&mut self) -> &mut AdamW {
        &mut self.opt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_shape() {
        let s = WarmupCosine { peak: 1.0, warmup: 10, total: 110, floor: 0.0 };
        assert_eq!(s.lr(0), 0.0);
        assert!((s.lr(5) - 0.5).abs() < 1e-12);
        assert!((s.lr(10) - 1.0).abs() < 1e-12);
        assert!((s.lr(60) - 0.5).abs() < 1e-12);
        assert!(s.lr(110).abs() < 1e-12);
        assert!(s.lr(1000).abs() < 1e-12);
    }
}
