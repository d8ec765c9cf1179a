//! The affine coupling `x_trans ← (x_trans − T([x_cond, y]))·exp(−S([x_cond, y]))`.

use candle_core::{Tensor, D};

use crate::error::Result;
use crate::init::ParamBuilder;
use crate::nn::CouplingNet;

/// Splits x into `x_cond` (first ⌈d/2⌉ dims, passed through) and `x_trans` (last ⌊d/2⌋ dims,
/// transformed), with separate S and T nets.
///
/// d = 1 is degenerate in the paper's code (`array_split` leaves nothing to transform). Here, when
/// there is a condition, the single dimension is transformed given the condition alone, which
/// makes each block a conditional location-scale map; without a condition the coupling is empty.
#[derive(Clone, Debug)]
pub struct AffineCoupling {
    pub(crate) split: usize,
    pub(crate) trans: usize,
    pub(crate) s: CouplingNet,
    pub(crate) t: CouplingNet,
    pub(crate) soft_clamp: Option<f64>,
}

impl AffineCoupling {
    /// Returns `None` when there is nothing to transform (d = 1 with no condition). `norm_eps`:
    /// the S and T nets' LayerNorm epsilon, `None` for nets without LayerNorm.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        b: &mut ParamBuilder,
        name: &str,
        dim: usize,
        rep: usize,
        channels: usize,
        widen_first: bool,
        slope: f64,
        norm_eps: Option<f64>,
        soft_clamp: Option<f64>,
    ) -> Result<Option<Self>> {
        let (split, trans) = if dim == 1 { (0, 1) } else { (dim.div_ceil(2), dim / 2) };
        let input = split + rep;
        if input == 0 {
            return Ok(None);
        }
        let first = if widen_first { channels + rep } else { channels };
        let s = CouplingNet::new(b, &format!("{name}.s"), input, first, channels, trans, slope, norm_eps)?;
        let t = CouplingNet::new(b, &format!("{name}.t"), input, first, channels, trans, slope, norm_eps)?;
        Ok(Some(Self { split, trans, s, t, soft_clamp }))
    }

    /// The (log-scale, shift) pair for conditioning inputs `x_cond` and representation `rep`.
    fn scale_shift(&self, x_cond: Option<&Tensor>, rep: Option<&Tensor>) -> Result<(Tensor, Tensor)> {
        let input = match (x_cond, rep) {
            (Some(x), Some(r)) => Tensor::cat(&[x, r], D::Minus1)?,
            (Some(x), None) => x.clone(),
            (None, Some(r)) => r.clone(),
            (None, None) => unreachable!("constructor rejects couplings without inputs"),
        };
        let mut s = self.s.forward(&input)?;
        if let Some(c) = self.soft_clamp {
            s = ((s / c)?.tanh()? * c)?;
        }
        Ok((s, self.t.forward(&input)?))
    }

    fn parts(&self, x: &Tensor) -> Result<(Option<Tensor>, Tensor)> {
        let cond = if self.split > 0 { Some(x.narrow(D::Minus1, 0, self.split)?) } else { None };
        Ok((cond, x.narrow(D::Minus1, self.split, self.trans)?))
    }

    fn join(x_cond: Option<Tensor>, y_trans: Tensor) -> Result<Tensor> {
        Ok(match x_cond {
            Some(c) => Tensor::cat(&[&c, &y_trans], D::Minus1)?,
            None => y_trans,
        })
    }

    /// Data → latent. Returns the output and `log|det ∂y/∂x| = −Σ s` per sample.
    pub fn forward(&self, x: &Tensor, rep: Option<&Tensor>) -> Result<(Tensor, Tensor)> {
        let (x_cond, x_trans) = self.parts(x)?;
        let (s, t) = self.scale_shift(x_cond.as_ref(), rep)?;
        let y_trans = (x_trans - t)?.mul(&s.neg()?.exp()?)?;
        Ok((Self::join(x_cond, y_trans)?, s.sum(D::Minus1)?.neg()?))
    }

    /// Latent → data. Returns the output and `log|det ∂x/∂z| = +Σ s` per sample.
    pub fn inverse(&self, z: &Tensor, rep: Option<&Tensor>) -> Result<(Tensor, Tensor)> {
        let (z_cond, z_trans) = self.parts(z)?;
        let (s, t) = self.scale_shift(z_cond.as_ref(), rep)?;
        let x_trans = z_trans.mul(&s.exp()?)?.add(&t)?;
        Ok((Self::join(z_cond, x_trans)?, s.sum(D::Minus1)?))
    }
}
