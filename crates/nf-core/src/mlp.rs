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
}

impl Mlp {
    /// Registers the MLP's parameters in `params` (drawn from `seed`).
    #[allow(clippy::too_many_arguments)]
    pub fn new(params: &VarMap, name: &str, input: usize, hidden: &[usize], output: usize, activation: Activation, layer_norm: bool, seed: u64, device: &Device) -> Result<Self> {
        let buffers = VarMap::new();
        let mut b = ParamBuilder::new(params, &buffers, seed, device, DType::F32);
        let mut layers = Vec::with_capacity(hidden.len());
        let mut fan_in = input;
        for (i, &h) in hidden.iter().enumerate() {
            let dense = Dense::new(&mut b, &format!("{name}.{i}"), fan_in, h, DenseInit::LecunNormal)?;
            let norm = if layer_norm { Some(LayerNorm::new(&mut b, &format!("{name}.norm{i}"), h, 1e-6)?) } else { None };
            layers.push((dense, norm));
            fan_in = h;
        }
        let out = Dense::new(&mut b, &format!("{name}.out"), fan_in, output, DenseInit::LecunNormal)?;
        Ok(Self { layers, out, activation })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        for (dense, norm) in &self.layers {
            h = dense.forward_with(&h, self.activation, norm.as_ref(), NormOrder::AfterActivation)?;
        }
        self.out.forward(&h)
    }
}
