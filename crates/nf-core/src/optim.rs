//! Optimiser helpers shared by every agent: AdamW with the paper's warm-up + cosine schedule.

use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, DType, InplaceOp2, Layout, Tensor, Var};
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

/// AdamW (decoupled weight decay, Loshchilov & Hutter) whose moments can be saved and restored,
/// so a killed run resumes with exactly the optimiser state it had. candle-nn's `AdamW` keeps its
/// moments private, which rules out bit-exact resumption.
///
/// On the CPU the whole update of one parameter is one in-place pass over `(θ, g, m, v)`
/// ([`adam_update`]): written as candle ops it is ~12 passes, each allocating a tensor of the
/// parameter's size, which cost ~15% of a paper-size NF-GCBC step. The pass performs the same f32
/// operations in the same order as the composed ops it replaces (kept as the path for other
/// devices), so both give bit-identical parameters.
pub struct AdamW {
    vars: Vec<Var>,
    moments: Vec<Moments>,
    t: usize,
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

/// First and second moments of one parameter: host vectors on the CPU (updated in place by the
/// fused pass), tensors on other devices.
enum Moments {
    F32(Vec<f32>, Vec<f32>),
    F64(Vec<f64>, Vec<f64>),
    Tensors(Tensor, Tensor),
}

impl Moments {
    fn zeros(var: &Var) -> Result<Self> {
        let (n, t) = (var.elem_count(), var.as_tensor());
        Ok(match (t.device().is_cpu(), t.dtype()) {
            (true, DType::F32) => Moments::F32(vec![0.0; n], vec![0.0; n]),
            (true, DType::F64) => Moments::F64(vec![0.0; n], vec![0.0; n]),
            _ => Moments::Tensors(t.zeros_like()?, t.zeros_like()?),
        })
    }

    fn tensors(&self, like: &Tensor) -> Result<(Tensor, Tensor)> {
        Ok(match self {
            Moments::F32(m, v) => (Tensor::from_slice(m, like.shape(), like.device())?, Tensor::from_slice(v, like.shape(), like.device())?),
            Moments::F64(m, v) => (Tensor::from_slice(m, like.shape(), like.device())?, Tensor::from_slice(v, like.shape(), like.device())?),
            Moments::Tensors(m, v) => (m.clone(), v.clone()),
        })
    }

    fn set(&mut self, m: &Tensor, v: &Tensor) -> Result<()> {
        match self {
            Moments::F32(hm, hv) => {
                *hm = m.flatten_all()?.to_dtype(DType::F32)?.to_vec1()?;
                *hv = v.flatten_all()?.to_dtype(DType::F32)?.to_vec1()?;
            }
            Moments::F64(hm, hv) => {
                *hm = m.flatten_all()?.to_dtype(DType::F64)?.to_vec1()?;
                *hv = v.flatten_all()?.to_dtype(DType::F64)?.to_vec1()?;
            }
            Moments::Tensors(tm, tv) => {
                *tm = m.to_device(tm.device())?.to_dtype(tm.dtype())?;
                *tv = v.to_device(tv.device())?.to_dtype(tv.dtype())?;
            }
        }
        Ok(())
    }
}

/// The scalars of one AdamW update, as the composed ops round them.
#[derive(Clone, Copy, Debug)]
struct AdamScalars {
    b1: f64,
    b2: f64,
    inv_c1: f64,
    inv_c2: f64,
    eps: f64,
    lr: f64,
    /// `1 − lr·wd`, or `None` without weight decay.
    decay: Option<f64>,
}

/// The fused update on one parameter: `θ` is written in place, `m` and `v` are the host moments.
struct AdamUpdate<'a, T> {
    m: std::cell::RefCell<&'a mut [T]>,
    v: std::cell::RefCell<&'a mut [T]>,
    k: AdamScalars,
}

macro_rules! adam_kernel {
    ($t:ty, $variant:ident, $pass:ident) => {
        /// One parameter's update, compiled for AVX-512, AVX2 and the baseline (chosen at run
        /// time). Each line is one of the composed ops, with its constants rounded as candle's
        /// `affine` rounds them (`x·mul + add`, both cast to the element type); Rust never
        /// contracts `a·b + c` into an FMA, so every width gives the same bits.
        #[multiversion::multiversion(targets("x86_64+avx512f+avx512vl+avx512dq+avx2+fma", "x86_64+avx2+fma"))]
        fn $pass(p: &mut [$t], g: &[$t], m: &mut [$t], v: &mut [$t], k: AdamScalars) {
            let c = |x: f64| x as $t;
            let (b1, b2, nb1, nb2, ic1, ic2, eps, lr) = (c(k.b1), c(k.b2), c(1.0 - k.b1), c(1.0 - k.b2), c(k.inv_c1), c(k.inv_c2), c(k.eps), c(k.lr));
            let zero: $t = 0.0;
            // Zipped iterators (no bounds checks) and the decay hoisted out of the loop, so the
            // loop vectorises.
            let step = |p: &mut $t, gi: $t, m: &mut $t, v: &mut $t, decay: $t, has_decay: bool| {
                let mi = (*m * b1 + zero) + (gi * nb1 + zero);
                let vi = (*v * b2 + zero) + ((gi * gi) * nb2 + zero);
                *m = mi;
                *v = vi;
                let update = (mi * ic1 + zero) / ((vi * ic2 + zero).sqrt() * 1.0 + eps);
                let decayed = if has_decay { *p * decay + zero } else { *p };
                *p = decayed - (update * lr + zero);
            };
            let lanes = p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut());
            match k.decay {
                Some(d) => lanes.for_each(|(((p, &gi), m), v)| step(p, gi, m, v, c(d), true)),
                None => lanes.for_each(|(((p, &gi), m), v)| step(p, gi, m, v, 1.0, false)),
            }
        }

        impl InplaceOp2 for AdamUpdate<'_, $t> {
            fn name(&self) -> &'static str {
                "nf-adamw"
            }
            fn cpu_fwd(&self, dst: &mut CpuStorage, dst_l: &Layout, gs: &CpuStorage, gl: &Layout) -> candle_core::Result<()> {
                let ((p0, p1), (g0, g1)) = (contiguous(dst_l)?, contiguous(gl)?);
                let (CpuStorage::$variant(p), CpuStorage::$variant(g)) = (dst, gs) else { candle_core::bail!("nf-adamw: dtype mismatch") };
                let (mut m, mut v) = (self.m.borrow_mut(), self.v.borrow_mut());
                $pass(&mut p[p0..p1], &g[g0..g1], &mut m, &mut v, self.k);
                Ok(())
            }
        }
    };
}
adam_kernel!(f32, F32, adam_pass_f32);
adam_kernel!(f64, F64, adam_pass_f64);

fn contiguous(l: &Layout) -> candle_core::Result<(usize, usize)> {
    l.contiguous_offsets().ok_or_else(|| candle_core::Error::Msg("nf-adamw needs contiguous tensors".into()))
}

impl AdamW {
    pub fn new(vars: Vec<Var>, lr: f64, weight_decay: f64) -> Result<Self> {
        let moments = vars.iter().map(Moments::zeros).collect::<Result<Vec<_>>>()?;
        Ok(Self { vars, moments, t: 0, lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay })
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
        let decay = (self.weight_decay > 0.0).then_some(1.0 - self.lr * self.weight_decay);
        let k = AdamScalars { b1, b2, inv_c1: 1.0 / c1, inv_c2: 1.0 / c2, eps: self.eps, lr: self.lr, decay };
        for (var, moments) in self.vars.iter().zip(self.moments.iter_mut()) {
            let Some(g) = grads.get(var.as_tensor()) else { continue };
            let g = g.contiguous()?;
            match moments {
                Moments::F32(m, v) => var.as_tensor().inplace_op2(&g, &AdamUpdate { m: m.as_mut_slice().into(), v: v.as_mut_slice().into(), k })?,
                Moments::F64(m, v) => var.as_tensor().inplace_op2(&g, &AdamUpdate { m: m.as_mut_slice().into(), v: v.as_mut_slice().into(), k })?,
                Moments::Tensors(m, v) => {
                    let (nm, nv) = composed_moments(m, v, &g, b1, b2)?;
                    (*m, *v) = (nm, nv);
                    var.set(&composed_update(var.as_tensor(), m, v, k)?)?;
                }
            }
        }
        Ok(())
    }

    /// The optimiser state as named tensors (`{prefix}.m.{i}`, `{prefix}.v.{i}`, `{prefix}.t`).
    pub fn state(&self, prefix: &str) -> Result<Vec<(String, Tensor)>> {
        let mut out = Vec::with_capacity(2 * self.moments.len() + 1);
        for (i, (moments, var)) in self.moments.iter().zip(&self.vars).enumerate() {
            let (m, v) = moments.tensors(var.as_tensor())?;
            out.push((format!("{prefix}.m.{i}"), m));
            out.push((format!("{prefix}.v.{i}"), v));
        }
        let dev = self.vars.first().map(|t| t.device().clone()).unwrap_or(candle_core::Device::Cpu);
        out.push((format!("{prefix}.t"), Tensor::new(&[self.t as i64], &dev)?));
        Ok(out)
    }

    /// Restores what [`AdamW::state`] saved; the variable list must be the same.
    pub fn load_state(&mut self, prefix: &str, tensors: &std::collections::HashMap<String, Tensor>) -> Result<()> {
        let get = |k: String| tensors.get(&k).cloned().ok_or_else(|| FlowError::Checkpoint { path: Default::default(), reason: format!("optimiser state `{k}` missing") });
        for (i, (moments, var)) in self.moments.iter_mut().zip(&self.vars).enumerate() {
            let (m, v) = (get(format!("{prefix}.m.{i}"))?, get(format!("{prefix}.v.{i}"))?);
            for (name, t) in [("m", &m), ("v", &v)] {
                if t.dims() != var.dims() {
                    return Err(FlowError::Checkpoint { path: Default::default(), reason: format!("optimiser state `{prefix}.{name}.{i}` has shape {:?}, expected {:?}", t.dims(), var.dims()) });
                }
            }
            moments.set(&m, &v)?;
        }
        self.t = get(format!("{prefix}.t"))?.to_vec1::<i64>()?[0] as usize;
        Ok(())
    }
}

impl AdamW {
    /// Member e's optimiser state in a member ensemble of `n` (every variable stacked along a
    /// leading member axis): the tensors [`AdamW::state`] would save for that member's solo run.
    pub fn member_state(&self, prefix: &str, e: usize, n: usize) -> Result<Vec<(String, Tensor)>> {
        self.check_members(e, n)?;
        let mut out = self.state(prefix)?;
        for (name, t) in out.iter_mut() {
            if !name.ends_with(".t") {
                *t = t.get(e)?;
            }
        }
        Ok(out)
    }

    /// Restores member e's slices of the moments from a solo run's state (see
    /// [`AdamW::member_state`]), and takes its step count: the members of an ensemble share one
    /// (its caller resumes only members saved at the same step).
    pub fn load_member_state(&mut self, prefix: &str, e: usize, n: usize, tensors: &std::collections::HashMap<String, Tensor>) -> Result<()> {
        self.check_members(e, n)?;
        let get = |k: String| tensors.get(&k).cloned().ok_or_else(|| FlowError::Checkpoint { path: Default::default(), reason: format!("optimiser state `{k}` missing") });
        let t = get(format!("{prefix}.t"))?.to_vec1::<i64>()?[0] as usize;
        for (i, (moments, var)) in self.moments.iter_mut().zip(&self.vars).enumerate() {
            let (m_e, v_e) = (get(format!("{prefix}.m.{i}"))?, get(format!("{prefix}.v.{i}"))?);
            for (name, t) in [("m", &m_e), ("v", &v_e)] {
                if t.dims() != &var.dims()[1..] {
                    return Err(FlowError::Checkpoint {
                        path: Default::default(),
                        reason: format!("optimiser state `{prefix}.{name}.{i}` has shape {:?}, a member expects {:?}", t.dims(), &var.dims()[1..]),
                    });
                }
            }
            let (m, v) = moments.tensors(var.as_tensor())?;
            let put = |all: &Tensor, one: &Tensor| -> Result<Tensor> {
                let all = all.copy()?;
                all.slice_set(&one.to_dtype(all.dtype())?.to_device(all.device())?.unsqueeze(0)?, 0, e)?;
                Ok(all)
            };
            let (m, v) = (put(&m, &m_e)?, put(&v, &v_e)?);
            moments.set(&m, &v)?;
        }
        self.t = t;
        Ok(())
    }

    fn check_members(&self, e: usize, n: usize) -> Result<()> {
        let stacked = self.vars.iter().all(|v| v.dims().first() == Some(&n));
        if e >= n || !stacked {
            return Err(FlowError::Config { field: "members", reason: format!("member {e} of {n}: the optimiser's variables are not an ensemble of {n}") });
        }
        Ok(())
    }
}

/// `m ← β₁m + (1 − β₁)g`, `v ← β₂v + (1 − β₂)g²` as candle ops (devices without the fused pass).
fn composed_moments(m: &Tensor, v: &Tensor, g: &Tensor, b1: f64, b2: f64) -> Result<(Tensor, Tensor)> {
    Ok((((m * b1)? + (g * (1.0 - b1))?)?, ((v * b2)? + (g.sqr()? * (1.0 - b2))?)?))
}

/// `θ ← (1 − lr·wd)θ − lr·m̂/(√v̂ + ε)` as candle ops, on already-updated moments.
fn composed_update(p: &Tensor, m: &Tensor, v: &Tensor, k: AdamScalars) -> Result<Tensor> {
    let update = ((m * k.inv_c1)? / ((v * k.inv_c2)?.sqrt()? + k.eps)?)?;
    let decayed = match k.decay {
        Some(d) => (p * d)?,
        None => p.clone(),
    };
    Ok((decayed - (update * k.lr)?)?)
}

/// Polyak averaging `θ̄ ← (1 − τ)·θ̄ + τ·θ` of one target variable, in place on the CPU (one pass
/// instead of three allocating candle ops; the same f32 operations, so bit-identical).
pub fn polyak_update(target: &Var, source: &Tensor, tau: f64) -> Result<()> {
    let t = target.as_tensor();
    if t.device().is_cpu() && matches!(t.dtype(), DType::F32 | DType::F64) && t.dtype() == source.dtype() && t.dims() == source.dims() {
        t.inplace_op2(&source.contiguous()?, &Polyak { tau })?;
    } else {
        target.set(&((t * (1.0 - tau))? + (source * tau)?)?)?;
    }
    Ok(())
}

struct Polyak {
    tau: f64,
}

impl InplaceOp2 for Polyak {
    fn name(&self) -> &'static str {
        "nf-polyak"
    }
    fn cpu_fwd(&self, dst: &mut CpuStorage, dst_l: &Layout, ss: &CpuStorage, sl: &Layout) -> candle_core::Result<()> {
        let ((t0, t1), (s0, s1)) = (contiguous(dst_l)?, contiguous(sl)?);
        macro_rules! lerp {
            ($t:ty, $tgt:expr, $src:expr) => {{
                let (keep, take, zero) = ((1.0 - self.tau) as $t, self.tau as $t, 0.0 as $t);
                for (t, &s) in $tgt[t0..t1].iter_mut().zip(&$src[s0..s1]) {
                    *t = (*t * keep + zero) + (s * take + zero);
                }
            }};
        }
        match (dst, ss) {
            (CpuStorage::F32(t), CpuStorage::F32(s)) => lerp!(f32, t, s),
            (CpuStorage::F64(t), CpuStorage::F64(s)) => lerp!(f64, t, s),
            _ => candle_core::bail!("nf-polyak: dtype mismatch"),
        }
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

    /// The fused CPU pass gives bit-identical parameters and moments to the composed candle ops
    /// it replaces, over several steps, with and without weight decay, in f32 and f64; and its
    /// saved state resumes exactly.
    #[test]
    fn fused_adamw_matches_composed_ops_bitwise_and_resumes() {
        use candle_core::Device;
        for dtype in [DType::F32, DType::F64] {
            for wd in [0.0, 1e-2] {
                let dev = Device::Cpu;
                let init = (Tensor::randn(0f64, 1.0, (7, 13), &dev).unwrap() * 3.0).unwrap().to_dtype(dtype).unwrap();
                let var = Var::from_tensor(&init).unwrap();
                let mut opt = AdamW::new(vec![var.clone()], 3e-2, wd).unwrap();
                let (mut p, mut m, mut v) = (init.clone(), init.zeros_like().unwrap(), init.zeros_like().unwrap());
                let mut resumed: Option<(Var, AdamW)> = None;
                for t in 1..=6usize {
                    // A gradient with exact zeros and sign changes: loss = Σ w ⊙ θ², w ∈ {-1, 0, 1}.
                    let w = Tensor::arange(0u32, 91, &dev).unwrap().reshape((7, 13)).unwrap().to_dtype(DType::F64).unwrap();
                    let w = ((&w * (t as f64)).unwrap().sin().unwrap().round().unwrap()).to_dtype(dtype).unwrap();
                    let loss = (var.as_tensor().sqr().unwrap() * &w).unwrap().sum_all().unwrap();
                    let grads = loss.backward().unwrap();
                    let g = grads.get(var.as_tensor()).unwrap().clone();
                    opt.step(&grads).unwrap();
                    let (b1, b2) = (opt.beta1, opt.beta2);
                    let (c1, c2) = (1.0 - b1.powi(t as i32), 1.0 - b2.powi(t as i32));
                    let decay = (wd > 0.0).then_some(1.0 - opt.lr * wd);
                    let k = AdamScalars { b1, b2, inv_c1: 1.0 / c1, inv_c2: 1.0 / c2, eps: opt.eps, lr: opt.lr, decay };
                    (m, v) = composed_moments(&m, &v, &g, b1, b2).unwrap();
                    p = composed_update(&p, &m, &v, k).unwrap();
                    let same = |a: &Tensor, b: &Tensor| {
                        a.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap() == b.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap()
                    };
                    assert!(same(var.as_tensor(), &p), "{dtype:?} wd={wd}: parameters differ at step {t}");
                    let state: std::collections::HashMap<String, Tensor> = opt.state("o").unwrap().into_iter().collect();
                    assert!(same(&state["o.m.0"], &m) && same(&state["o.v.0"], &v), "{dtype:?} wd={wd}: moments differ at step {t}");
                    if t == 3 {
                        let copy = Var::from_tensor(&var.as_tensor().copy().unwrap()).unwrap();
                        let mut o2 = AdamW::new(vec![copy.clone()], 3e-2, wd).unwrap();
                        o2.load_state("o", &state).unwrap();
                        resumed = Some((copy, o2));
                    } else if let Some((copy, o2)) = resumed.as_mut() {
                        let loss = (copy.as_tensor().sqr().unwrap() * &w).unwrap().sum_all().unwrap();
                        o2.step(&loss.backward().unwrap()).unwrap();
                        assert!(same(copy.as_tensor(), var.as_tensor()), "{dtype:?} wd={wd}: resumed run differs at step {t}");
                    }
                }
            }
        }
    }

    /// The in-place Polyak update equals the composed `(1 − τ)·θ̄ + τ·θ` bit for bit.
    #[test]
    fn fused_polyak_matches_composed_ops_bitwise() {
        let dev = candle_core::Device::Cpu;
        for dtype in [DType::F32, DType::F64] {
            let t0 = Tensor::randn(0f64, 1.0, (5, 9), &dev).unwrap().to_dtype(dtype).unwrap();
            let src = Tensor::randn(0f64, 1.0, (5, 9), &dev).unwrap().to_dtype(dtype).unwrap();
            let target = Var::from_tensor(&t0).unwrap();
            let mut reference = t0.clone();
            for _ in 0..3 {
                polyak_update(&target, &src, 0.005).unwrap();
                reference = ((&reference * 0.995).unwrap() + (&src * 0.005).unwrap()).unwrap();
            }
            let v = |t: &Tensor| t.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap();
            assert_eq!(v(target.as_tensor()), v(&reference), "{dtype:?}");
            assert_ne!(v(target.as_tensor()), v(&t0));
        }
    }

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
