//! The small layers the flow is made of. LayerNorm is our own (see [`crate::ops`]) because
//! candle-nn's fused `layer_norm` is registered without a backward pass (`apply_op3_no_bwd`):
//! gradients would stop at every LayerNorm without an error.

use candle_core::Tensor;

use crate::activation::Activation;
use crate::error::Result;
use crate::fused::{dense_epilogue, Norm, NormOrder};
use crate::init::ParamBuilder;

pub(crate) enum DenseInit {
    /// PyTorch's default `U(±1/√fan_in)` for weight and bias (flax code's coupling hidden layers).
    TorchUniform,
    /// flax's default: lecun-normal weight, zero bias.
    LecunNormal,
    /// All zeros: the last layer of S and T, so each coupling starts as the identity.
    Zeros,
}

/// `y = x Wᵀ + b` with `W` of shape `[out, in]` (torch/candle layout, so checkpoints read the same).
/// In a member ensemble W is `[E, out, in]`, b `[E, out]` and x `[E, rows, in]`: one batched
/// matmul for all members.
#[derive(Clone, Debug)]
pub struct Dense {
    pub(crate) weight: Tensor,
    pub(crate) bias: Tensor,
}

impl Dense {
    pub(crate) fn new(b: &mut ParamBuilder, name: &str, fan_in: usize, out: usize, init: DenseInit) -> Result<Self> {
        let (w, bias) = match init {
            DenseInit::TorchUniform => {
                let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
                (b.uniform(out * fan_in, bound), b.uniform(out, bound))
            }
            DenseInit::LecunNormal => (b.lecun_normal(out * fan_in, fan_in), b.constant(out, 0.0)),
            DenseInit::Zeros => (b.constant(out * fan_in, 0.0), b.constant(out, 0.0)),
        };
        Ok(Self { weight: b.param(&format!("{name}.weight"), &[out, fan_in], w)?, bias: b.param(&format!("{name}.bias"), &[out], bias)? })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        crate::ops::bias_add(&self.matmul(x)?, &self.bias)
    }

    /// The same layer with its parameters cut from the graph (see [`crate::Mlp::forward_frozen`]).
    pub(crate) fn detached(&self) -> Self {
        Self { weight: self.weight.detach(), bias: self.bias.detach() }
    }

    /// `x Wᵀ` without the bias, for a fused epilogue to add it.
    pub(crate) fn matmul(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.matmul(&self.weight.t()?)?)
    }

    /// `epilogue(x Wᵀ + b)`: the bias, `act` and the optional LayerNorm as one fused op.
    pub(crate) fn forward_with(&self, x: &Tensor, act: Activation, norm: Option<&LayerNorm>, order: NormOrder) -> Result<Tensor> {
        dense_epilogue(&self.matmul(x)?, &self.bias, act, norm.map(LayerNorm::as_norm), order)
    }
}

/// LayerNorm over the last axis with a learned scale and shift.
#[derive(Clone, Debug)]
pub struct LayerNorm {
    pub(crate) weight: Tensor,
    pub(crate) bias: Tensor,
    pub(crate) eps: f64,
}

impl LayerNorm {
    pub(crate) fn new(b: &mut ParamBuilder, name: &str, dim: usize, eps: f64) -> Result<Self> {
        Ok(Self { weight: b.param(&format!("{name}.weight"), &[dim], b.constant(dim, 1.0))?, bias: b.param(&format!("{name}.bias"), &[dim], b.constant(dim, 0.0))?, eps })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        crate::ops::layer_norm(x, &self.weight, &self.bias, self.eps)
    }

    pub(crate) fn detached(&self) -> Self {
        Self { weight: self.weight.detach(), bias: self.bias.detach(), eps: self.eps }
    }

    pub(crate) fn as_norm(&self) -> Norm<'_> {
        Norm { gamma: &self.weight, beta: &self.bias, eps: self.eps }
    }
}

/// `Linear → LeakyReLU → LayerNorm → Linear → LeakyReLU → LayerNorm → Linear(zero)`: the S or T
/// net of a coupling (flax `MetaBlock`), LayerNorm after each activation as in the paper; without
/// the LayerNorms for the ablation (`FlowConfig::coupling_layer_norm = false`).
#[derive(Clone, Debug)]
pub struct CouplingNet {
    pub(crate) l1: Dense,
    pub(crate) n1: Option<LayerNorm>,
    pub(crate) l2: Dense,
    pub(crate) n2: Option<LayerNorm>,
    pub(crate) l3: Dense,
    /// LeakyReLU with the config's slope.
    pub(crate) act: Activation,
}

impl CouplingNet {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(b: &mut ParamBuilder, name: &str, input: usize, first: usize, hidden: usize, out: usize, slope: f64, norm_eps: Option<f64>) -> Result<Self> {
        let l1 = Dense::new(b, &format!("{name}.0"), input, first, DenseInit::TorchUniform)?;
        let n1 = norm_eps.map(|eps| LayerNorm::new(b, &format!("{name}.norm0"), first, eps)).transpose()?;
        let l2 = Dense::new(b, &format!("{name}.1"), first, hidden, DenseInit::TorchUniform)?;
        let n2 = norm_eps.map(|eps| LayerNorm::new(b, &format!("{name}.norm1"), hidden, eps)).transpose()?;
        Ok(Self { l1, n1, l2, n2, l3: Dense::new(b, &format!("{name}.2"), hidden, out, DenseInit::Zeros)?, act: Activation::LeakyRelu { slope } })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.l1.forward_with(x, self.act, self.n1.as_ref(), NormOrder::AfterActivation)?;
        let h = self.l2.forward_with(&h, self.act, self.n2.as_ref(), NormOrder::AfterActivation)?;
        self.l3.forward(&h)
    }
}

/// `k × [Linear → LayerNorm → SiLU] → Linear(rep)` (flax `RealNVPEncoder`).
#[derive(Clone, Debug)]
pub struct Encoder {
    pub(crate) layers: Vec<(Dense, LayerNorm)>,
    pub(crate) out: Dense,
    /// SiLU (flax `RealNVPEncoder`).
    pub(crate) act: Activation,
}

impl Encoder {
    pub(crate) fn new(b: &mut ParamBuilder, input: usize, hidden: &[usize], rep: usize, eps: f64) -> Result<Self> {
        let mut layers = Vec::with_capacity(hidden.len());
        let mut fan_in = input;
        for (i, &h) in hidden.iter().enumerate() {
            let dense = Dense::new(b, &format!("encoder.{i}"), fan_in, h, DenseInit::LecunNormal)?;
            let norm = LayerNorm::new(b, &format!("encoder.norm{i}"), h, eps)?;
            layers.push((dense, norm));
            fan_in = h;
        }
        let out = Dense::new(b, "encoder.out", fan_in, rep, DenseInit::LecunNormal)?;
        Ok(Self { layers, out, act: Activation::Silu })
    }

    pub fn forward(&self, y: &Tensor) -> Result<Tensor> {
        let mut h = y.clone();
        for (dense, norm) in &self.layers {
            h = dense.forward_with(&h, self.act, Some(norm), NormOrder::BeforeActivation)?;
        }
        self.out.forward(&h)
    }
}
