//! A plain MLP for the critics and baseline policies that sit beside the flow (FQL's `MLP`:
//! `Dense → activation → LayerNorm?` per hidden layer, then a linear output).

use crate::activation::Activation;
use crate::error::Result;
use crate::fused::NormOrder;
use crate::init::ParamBuilder;
use crate::nn::{Dense, DenseInit, LayerNorm};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;

/// `hidden.len() × [Dense → activation → LayerNorm?] → Dense(out)`. Weights are lecun-normal
/// (flax's default), as in the reference agents; parameter names are `{name}.{i}.weight|bias`,
/// `{name}.norm{i}.weight|bias`, `{name}.out.weight|bias`.
#[derive(Clone, Debug)]
pub struct Mlp {
    layers: Vec<(Dense, Option<LayerNorm>)>,
    out: Dense,
    activation: Activation,
    order: NormOrder,
}

impl Mlp {
    /// Registers the MLP's parameters in `params` (drawn from `seed`).
    #[allow(clippy::too_many_arguments)]
    pub fn new(params: &VarMap, name: &str, input: usize, hidden: &[usize], output: usize, activation: Activation, layer_norm: bool, seed: u64, device: &Device) -> Result<Self> {
        let buffers = VarMap::new();
        let b = ParamBuilder::new(params, &buffers, seed, device, DType::F32);
        Self::build(b, name, input, hidden, output, activation, layer_norm)
    }

    /// A member ensemble of E = `seeds.len()` MLPs: every parameter stacked along a leading
    /// member axis, member e initialised bitwise as `new(…, seeds[e], …)` would be. Inputs are
    /// `[E, rows, input]`.
    #[allow(clippy::too_many_arguments)]
    pub fn members(params: &VarMap, name: &str, input: usize, hidden: &[usize], output: usize, activation: Activation, layer_norm: bool, seeds: &[u64], device: &Device) -> Result<Self> {
        let buffers = VarMap::new();
        let b = ParamBuilder::members(params, &buffers, seeds, device, DType::F32);
        Self::build(b, name, input, hidden, output, activation, layer_norm)
    }

    fn build(mut b: ParamBuilder<'_>, name: &str, input: usize, hidden: &[usize], output: usize, activation: Activation, layer_norm: bool) -> Result<Self> {
        let mut layers = Vec::with_capacity(hidden.len());
        let mut fan_in = input;
        for (i, &h) in hidden.iter().enumerate() {
            let dense = Dense::new(&mut b, &format!("{name}.{i}"), fan_in, h, DenseInit::LecunNormal)?;
            let norm = if layer_norm { Some(LayerNorm::new(&mut b, &format!("{name}.norm{i}"), h, 1e-6)?) } else { None };
            layers.push((dense, norm));
            fan_in = h;
        }
        let out = Dense::new(&mut b, &format!("{name}.out"), fan_in, output, DenseInit::LecunNormal)?;
        Ok(Self { layers, out, activation, order: NormOrder::AfterActivation })
    }

    /// The same MLP with each hidden layer `Dense → LayerNorm → activation` (JaxGCRL's and the
    /// NF-UGS code's networks) instead of `Dense → activation → LayerNorm` (FQL's); the
    /// parameters are unchanged.
    pub fn norm_before_activation(mut self) -> Self {
        self.order = NormOrder::BeforeActivation;
        self
    }

    /// The MLP as a function of its input only: gradients reach `x` but not the weights. A critic
    /// inside an actor loss is frozen in every reference (only the actor's optimiser steps on
    /// that loss), so the weight gradients a plain forward would have backward compute are
    /// thrown away; this skips them. Values and input gradients are those of [`Mlp::forward`].
    pub fn forward_frozen(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        for (dense, norm) in &self.layers {
            let norm = norm.as_ref().map(LayerNorm::detached);
            h = dense.detached().forward_with(&h, self.activation, norm.as_ref(), self.order)?;
        }
        self.out.detached().forward(&h)
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        for (dense, norm) in &self.layers {
            h = dense.forward_with(&h, self.activation, norm.as_ref(), self.order)?;
        }
        self.out.forward(&h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Var;

    /// A frozen forward gives the same values and input gradients, and no weight gradients.
    #[test]
    fn frozen_forward_matches_forward_and_leaves_weights_without_gradient() {
        let dev = Device::Cpu;
        let params = VarMap::new();
        let mlp = Mlp::new(&params, "q", 6, &[16, 16], 1, Activation::Gelu, true, 3, &dev).unwrap();
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (9, 6), &dev).unwrap()).unwrap();
        let (plain, frozen) = (mlp.forward(x.as_tensor()).unwrap(), mlp.forward_frozen(x.as_tensor()).unwrap());
        let v = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(v(&plain), v(&frozen));
        let (gp, gf) = (plain.sum_all().unwrap().backward().unwrap(), frozen.sum_all().unwrap().backward().unwrap());
        assert_eq!(v(gp.get(x.as_tensor()).unwrap()), v(gf.get(x.as_tensor()).unwrap()));
        for var in params.all_vars() {
            assert!(gp.get(var.as_tensor()).is_some(), "the plain forward reaches every weight");
            assert!(gf.get(var.as_tensor()).is_none(), "the frozen forward reaches no weight");
        }
    }
}
