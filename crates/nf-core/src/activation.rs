//! The nonlinearities of every network here, as one enum that both the candle modules and the
//! hand-fused batch-1 path ([`crate::fast`]) evaluate. The fast path is a second copy of the
//! flow's arithmetic; keeping the activation a value the modules carry (rather than a function
//! each path calls by name) means a changed activation reaches both paths or fails to compile.

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// A hidden-layer nonlinearity.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Activation {
    /// The tanh approximation (flax's `nn.gelu` default).
    Gelu,
    Relu,
    /// `x·σ(x)` (the flow encoder's).
    Silu,
    /// `max(x, slope·x)` for `0 ≤ slope ≤ 1` (the coupling nets').
    LeakyRelu {
        slope: f64,
    },
}

impl Activation {
    /// The activation on a tensor, differentiable, on any device.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(match *self {
            Activation::Gelu => crate::ops::gelu(x)?,
            Activation::Relu => x.relu()?,
            Activation::Silu => x.silu()?,
            Activation::LeakyRelu { slope } => crate::ops::leaky_relu(x, slope)?,
        })
    }

    /// `out[i] = φ(pre[i])` in f32 with the formulas of the CPU tensor kernels, so the fused path
    /// computes what the graph computes. One `match` per slice, not per element: this runs in the
    /// batch-1 hot loop.
    #[inline(always)]
    pub(crate) fn apply(&self, pre: &[f32], out: &mut [f32]) {
        out.copy_from_slice(pre);
        self.apply_in_place(out);
    }

    /// [`Activation::apply`] with the output written over the input.
    #[inline(always)]
    pub(crate) fn apply_in_place(&self, xs: &mut [f32]) {
        let xs = xs.iter_mut();
        match *self {
            Activation::Gelu => xs.for_each(|x| *x = crate::ops::gelu_f32(*x)),
            Activation::Relu => xs.for_each(|x| *x = x.max(0.0)),
            // candle's f32 `silu` kernel.
            Activation::Silu => xs.for_each(|x| *x = *x / (1.0 + (-*x).exp())),
            Activation::LeakyRelu { slope } => {
                let k = slope as f32;
                // A select, not a branch: the signs are random, and the select vectorises.
                xs.for_each(|x| *x = if *x > 0.0 { *x } else { *x * k })
            }
        }
    }

    /// The backward pass in place: `g[i] ← g[i]·φ'(pre[i])`.
    #[inline(always)]
    pub(crate) fn backward(&self, pre: &[f32], g: &mut [f32]) {
        let pairs = g.iter_mut().zip(pre);
        match *self {
            Activation::Gelu => pairs.for_each(|(g, &x)| *g *= crate::ops::gelu_grad_f32(x)),
            // Selects, not branches: the signs are random, and a select vectorises.
            Activation::Relu => pairs.for_each(|(g, &x)| *g = if x > 0.0 { *g } else { 0.0 }),
            Activation::Silu => pairs.for_each(|(g, &x)| {
                let s = 1.0 / (1.0 + (-x).exp());
                *g *= s * (1.0 + x * (1.0 - s));
            }),
            Activation::LeakyRelu { slope } => {
                let k = slope as f32;
                pairs.for_each(|(g, &x)| *g = if x > 0.0 { *g } else { *g * k })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;

    /// Every variant: the slice form equals the tensor form, and the slice backward equals
    /// candle's gradient, on points that cross zero and reach both tails.
    #[test]
    fn slice_forms_agree_with_the_tensor_forms() {
        let xs: Vec<f32> = (-40..=40).map(|i| i as f32 * 0.15 + 0.013).collect();
        for act in [Activation::Gelu, Activation::Relu, Activation::Silu, Activation::LeakyRelu { slope: 0.01 }, Activation::LeakyRelu { slope: 0.3 }] {
            let x = Var::from_slice(&xs, xs.len(), &Device::Cpu).unwrap();
            let y = act.forward(x.as_tensor()).unwrap();
            let want: Vec<f32> = y.to_vec1().unwrap();
            let grad: Vec<f32> = y.sum_all().unwrap().backward().unwrap().get(x.as_tensor()).unwrap().to_vec1().unwrap();
            let mut got = vec![0.0; xs.len()];
            act.apply(&xs, &mut got);
            let mut g = vec![1.0; xs.len()];
            act.backward(&xs, &mut g);
            for i in 0..xs.len() {
                assert!((got[i] - want[i]).abs() <= 1e-6 * (1.0 + want[i].abs()), "{act:?} at {}: {} vs tensor {}", xs[i], got[i], want[i]);
                assert!((g[i] - grad[i]).abs() <= 1e-5 * (1.0 + grad[i].abs()), "{act:?}' at {}: {} vs candle {}", xs[i], g[i], grad[i]);
            }
        }
    }
}
