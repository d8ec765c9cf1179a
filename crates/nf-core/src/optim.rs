//! Optimiser helpers shared by every agent: AdamW with the paper's warm-up + cosine schedule.

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
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
        Self {
            peak: 3e-4,
            warmup: 500,
            total: 1_000_000,
            floor: 1e-6,
        }
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
pub struct Trainer {
    opt: AdamW,
    schedule: WarmupCosine,
    step: usize,
}

impl Trainer {
    /// `weight_decay` 1e-6 is the paper's AdamW setting; 0 gives Adam.
    pub fn new(vars: Vec<Var>, schedule: WarmupCosine, weight_decay: f64) -> Result<Self> {
        let opt = AdamW::new(
            vars,
            ParamsAdamW {
                lr: schedule.lr(0),
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay,
            },
        )?;
        Ok(Self { opt, schedule, step: 0 })
    }

    pub fn step_count(&self) -> usize {
        self.step
    }

    /// Backpropagates `loss` and applies one update; returns the loss value.
    pub fn step(&mut self, loss: &Tensor) -> Result<f64> {
        let value = loss.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?;
        if !value.is_finite() {
            return Err(FlowError::NonFinite(format!("loss = {value} at step {}", self.step)));
        }
        let grads: GradStore = loss.backward()?;
        self.step += 1;
        self.opt.set_learning_rate(self.schedule.lr(self.step));
        self.opt.step(&grads)?;
        Ok(value)
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
