//! A hand-fused, single-threaded batch-1 path for the real-time control loop:
//! sampling and the denoising step without candle's graph.
//!
//! At batch 1 candle spends its time on per-op dispatch, allocation and thread wake-ups rather
//! than arithmetic, and the inverse pass re-derives W⁻¹ from L and U on every call. Here the
//! weights are snapshotted once (W⁻¹ precomputed), every matrix-vector product is an `axpy` over
//! rows laid out for it, and the score `∇ₓ log p(x|y)` for denoising is a hand-written
//! vector-Jacobian product. No crate offers this: it is the flow's own backward pass.
//! Tests check it against the candle path.

use crate::activation::Activation;
use crate::error::{FlowError, Result};
use crate::flow::ConditionalFlow;
use crate::nn::{CouplingNet, Dense, LayerNorm};

fn to_vec(t: &candle_core::Tensor) -> Result<Vec<f32>> {
    Ok(t.to_device(&candle_core::Device::Cpu)?.to_dtype(candle_core::DType::F32)?.flatten_all()?.to_vec1()?)
}

/// `y = b + Σᵢ xᵢ·rowᵢ(m)` for `m` stored `[in][out]` (or `y = Σ_o g_o·row_o` for `[out][in]`).
/// One `axpy` per row: at batch 1 the cost is the weights streaming from L3, so unrolling over
/// rows (tried: 4 rows per pass) gains nothing here.
#[inline(always)]
fn rows_axpy<const FMA: bool>(m: &[f32], x: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
    #[inline(always)]
    fn madd<const FMA: bool>(acc: f32, a: f32, w: f32) -> f32 {
        if FMA {
            w.mul_add(a, acc)
        } else {
            acc + a * w
        }
    }
    match bias {
        Some(b) => y.copy_from_slice(b),
        None => y.fill(0.0),
    }
    let n = y.len();
    for (&a, r) in x.iter().zip(m.chunks_exact(n)) {
        for (yj, &w) in y.iter_mut().zip(r) {
            *yj = madd::<FMA>(*yj, a, w);
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn rows_axpy_avx2(m: &[f32], x: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
    rows_axpy::<true>(m, x, bias, y)
}

/// Picks the widest vector unit this CPU has (the default target is plain SSE2).
fn matvec(m: &[f32], x: &[f32], bias: Option<&[f32]>, y: &mut [f32], avx2: bool) {
    debug_assert_eq!(m.len(), x.len() * y.len());
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: `avx2` is only true when the CPU reported AVX2 and FMA at construction.
        return unsafe { rows_axpy_avx2(m, x, bias, y) };
    }
    let _ = avx2;
    rows_axpy::<false>(m, x, bias, y)
}

fn transpose(w: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0; w.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = w[r * cols + c];
        }
    }
    t
}

struct FDense {
    /// `[in][out]` for the forward product.
    wt: Vec<f32>,
    /// `[out][in]` for the backward product (kept only where a backward pass is needed).
    w: Vec<f32>,
    b: Vec<f32>,
    n_out: usize,
}

impl FDense {
    fn new(d: &Dense, keep_backward: bool) -> Result<Self> {
        let (n_out, n_in) = d.weight.dims2()?;
        let w = to_vec(&d.weight)?;
        Ok(Self { wt: transpose(&w, n_out, n_in), w: if keep_backward { w } else { Vec::new() }, b: to_vec(&d.bias)?, n_out })
    }
}

struct FLn {
    g: Vec<f32>,
    b: Vec<f32>,
    eps: f32,
}

impl FLn {
    fn new(n: &LayerNorm) -> Result<Self> {
        Ok(Self { g: to_vec(&n.weight)?, b: to_vec(&n.bias)?, eps: n.eps as f32 })
    }

    /// Returns `rstd`; writes `γ·x̂ + β` into `y`.
    fn forward(&self, x: &[f32], y: &mut [f32]) -> f32 {
        let n = x.len() as f32;
        let mean = x.iter().sum::<f32>() / n;
        let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
        let rstd = 1.0 / (var + self.eps).sqrt();
        for i in 0..x.len() {
            y[i] = (x[i] - mean) * rstd * self.g[i] + self.b[i];
        }
        rstd
    }

    /// Input gradient from the output gradient `g` (overwritten with the result).
    fn backward(&self, x: &[f32], rstd: f32, g: &mut [f32]) {
        let n = x.len() as f32;
        let mean = x.iter().sum::<f32>() / n;
        let (mut mg, mut mgx) = (0.0f32, 0.0f32);
        for i in 0..x.len() {
            let gg = g[i] * self.g[i];
            mg += gg;
            mgx += gg * (x[i] - mean) * rstd;
        }
        let (mg, mgx) = (mg / n, mgx / n);
        for i in 0..x.len() {
            let xh = (x[i] - mean) * rstd;
            g[i] = rstd * (g[i] * self.g[i] - mg - xh * mgx);
        }
    }
}

/// Activations of one S or T net, kept for its backward pass.
#[derive(Default, Clone)]
struct NetCache {
    a1: Vec<f32>,
    b1: Vec<f32>,
    n1: Vec<f32>,
    r1: f32,
    a2: Vec<f32>,
    b2: Vec<f32>,
    n2: Vec<f32>,
    r2: f32,
    out: Vec<f32>,
}

/// An S or T net; `n1`/`n2` are `None` without the coupling LayerNorm (the ablation).
struct FNet {
    l1: FDense,
    n1: Option<FLn>,
    l2: FDense,
    n2: Option<FLn>,
    l3: FDense,
    act: Activation,
}

impl FNet {
    fn new(n: &CouplingNet) -> Result<Self> {
        let ln = |n: &Option<LayerNorm>| n.as_ref().map(FLn::new).transpose();
        Ok(Self { l1: FDense::new(&n.l1, true)?, n1: ln(&n.n1)?, l2: FDense::new(&n.l2, true)?, n2: ln(&n.n2)?, l3: FDense::new(&n.l3, true)?, act: n.act })
    }

    fn cache(&self) -> NetCache {
        let (h1, h2, o) = (self.l1.n_out, self.l2.n_out, self.l3.n_out);
        NetCache { a1: vec![0.0; h1], b1: vec![0.0; h1], n1: vec![0.0; h1], a2: vec![0.0; h2], b2: vec![0.0; h2], n2: vec![0.0; h2], out: vec![0.0; o], ..NetCache::default() }
    }

    fn forward(&self, input: &[f32], c: &mut NetCache, avx2: bool) {
        matvec(&self.l1.wt, input, Some(&self.l1.b), &mut c.a1, avx2);
        self.act.apply(&c.a1, &mut c.b1);
        c.r1 = norm_forward(self.n1.as_ref(), &c.b1, &mut c.n1);
        matvec(&self.l2.wt, &c.n1, Some(&self.l2.b), &mut c.a2, avx2);
        self.act.apply(&c.a2, &mut c.b2);
        c.r2 = norm_forward(self.n2.as_ref(), &c.b2, &mut c.n2);
        matvec(&self.l3.wt, &c.n2, Some(&self.l3.b), &mut c.out, avx2);
    }

    /// Adds `∂(g_out · net(input))/∂input` to `g_in`, using the activations in `c`.
    fn backward(&self, c: &NetCache, g_out: &[f32], g_in: &mut [f32], s: &mut Scratch, avx2: bool) {
        let (h1, h2) = (self.l1.n_out, self.l2.n_out);
        let g2 = &mut s.g2[..h2];
        matvec(&self.l3.w, g_out, None, g2, avx2);
        if let Some(n2) = &self.n2 {
            n2.backward(&c.b2, c.r2, g2);
        }
        self.act.backward(&c.a2, g2);
        let g1 = &mut s.g1[..h1];
        matvec(&self.l2.w, g2, None, g1, avx2);
        if let Some(n1) = &self.n1 {
            n1.backward(&c.b1, c.r1, g1);
        }
        self.act.backward(&c.a1, g1);
        let gi = &mut s.gi[..g_in.len()];
        matvec(&self.l1.w, g1, None, gi, avx2);
        for (a, b) in g_in.iter_mut().zip(gi.iter()) {
            *a += b;
        }
    }
}

/// `y = LayerNorm(x)` (returning its rstd), or `y = x` without one.
fn norm_forward(n: Option<&FLn>, x: &[f32], y: &mut [f32]) -> f32 {
    match n {
        Some(n) => n.forward(x, y),
        None => {
            y.copy_from_slice(x);
            1.0
        }
    }
}

struct FBlock {
    /// `W` row-major `[d][d]` (forward `h = x·W`, and the score's `g_x = W·g_h`) and `W⁻¹`,
    /// precomputed once; `None` without the linear map (the identity, the ablation).
    w: Option<(Vec<f32>, Vec<f32>)>,
    split: usize,
    nets: Option<(FNet, FNet)>,
}

/// The condition encoder: `[Dense → LayerNorm → act]*` then `Dense`.
struct FEncoder {
    layers: Vec<(FDense, FLn)>,
    out: FDense,
    act: Activation,
}

#[derive(Default)]
struct Scratch {
    g1: Vec<f32>,
    g2: Vec<f32>,
    gi: Vec<f32>,
}

/// A frozen copy of a [`ConditionalFlow`] for batch-1 inference on the CPU. Build it once after
/// training (or loading) with [`ConditionalFlow::fast_sampler`]; it does not see later updates.
/// Callers outside this crate sample through [`crate::FlowSampler`], which picks this path when
/// it pays and keeps the copy fresh.
pub struct FastSampler {
    dim: usize,
    cond_dim: usize,
    avx2: bool,
    noise_std: f32,
    denoise: bool,
    soft_clamp: Option<f32>,
    encoder: Option<FEncoder>,
    blocks: Vec<FBlock>,
    // Buffers reused across calls (the denoising pass still allocates a few d-sized vectors).
    rep: Vec<f32>,
    enc_a: Vec<f32>,
    enc_b: Vec<f32>,
    input: Vec<f32>,
    h: Vec<f32>,
    tmp: Vec<f32>,
    g: Vec<f32>,
    g_in: Vec<f32>,
    /// Per block: the block input after its linear map, and both nets' activations.
    caches: Vec<(Vec<f32>, NetCache, NetCache)>,
    scratch: Scratch,
}

impl ConditionalFlow {
    /// Snapshots the current weights into a [`FastSampler`].
    pub fn fast_sampler(&self) -> Result<FastSampler> {
        let cfg = self.config();
        let d = cfg.dim;
        let encoder = match &self.encoder {
            Some(e) => {
                let layers = e.layers.iter().map(|(l, n)| Ok((FDense::new(l, false)?, FLn::new(n)?))).collect::<Result<Vec<_>>>()?;
                Some(FEncoder { layers, out: FDense::new(&e.out, false)?, act: e.act })
            }
            None => None,
        };
        let mut blocks = Vec::new();
        let mut caches = Vec::new();
        let mut widest = d + cfg.rep_dim();
        for b in &self.blocks {
            let nets = match &b.coupling {
                Some(c) => Some((FNet::new(&c.s)?, FNet::new(&c.t)?)),
                None => None,
            };
            let (cs, ct) = match &nets {
                Some((s, t)) => {
                    widest = widest.max(s.l1.n_out).max(s.l2.n_out);
                    (s.cache(), t.cache())
                }
                None => (NetCache::default(), NetCache::default()),
            };
            caches.push((vec![0.0; d], cs, ct));
            let split = b.coupling.as_ref().map_or(d, |c| c.split);
            let w = match &b.linear {
                Some(l) => Some((to_vec(&l.weight()?)?, to_vec(&l.inverse_weight()?)?)),
                None => None,
            };
            blocks.push(FBlock { w, split, nets });
        }
        let enc_width = cfg.encoder.hidden.iter().copied().max().unwrap_or(0).max(cfg.cond_dim);
        #[cfg(target_arch = "x86_64")]
        let avx2 = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
        #[cfg(not(target_arch = "x86_64"))]
        let avx2 = false;
        Ok(FastSampler {
            dim: d,
            cond_dim: cfg.cond_dim,
            avx2,
            noise_std: cfg.noise_std as f32,
            denoise: cfg.denoise,
            soft_clamp: cfg.soft_clamp.map(|c| c as f32),
            encoder,
            blocks,
            rep: vec![0.0; cfg.rep_dim()],
            enc_a: vec![0.0; enc_width],
            enc_b: vec![0.0; enc_width],
            input: vec![0.0; widest],
            h: vec![0.0; d],
            tmp: vec![0.0; d],
            g: vec![0.0; d],
            g_in: vec![0.0; widest],
            caches,
            scratch: Scratch { g1: vec![0.0; widest], g2: vec![0.0; widest], gi: vec![0.0; widest] },
        })
    }
}

fn check_len(what: &'static str, got: usize, want: usize) -> Result<()> {
    if got != want {
        return Err(FlowError::Shape { what, expected: format!("[{want}]"), got: vec![got] });
    }
    Ok(())
}

impl FastSampler {
    pub fn dim(&self) -> usize {
        self.dim
    }

    fn encode(&mut self, cond: &[f32]) {
        let Some(FEncoder { layers, out, act }) = &self.encoder else {
            self.rep.copy_from_slice(cond);
            return;
        };
        let mut width = cond.len();
        self.enc_b[..width].copy_from_slice(cond);
        for (dense, ln) in layers {
            let n = dense.n_out;
            matvec(&dense.wt, &self.enc_b[..width], Some(&dense.b), &mut self.enc_a[..n], self.avx2);
            ln.forward(&self.enc_a[..n], &mut self.enc_b[..n]);
            act.apply_in_place(&mut self.enc_b[..n]);
            width = n;
        }
        matvec(&out.wt, &self.enc_b[..width], Some(&out.b), &mut self.rep, self.avx2);
    }

    /// Evaluates block `k`'s S and T nets on `x_cond` (and the rep) into its cache.
    fn nets(&mut self, k: usize, x_cond: &[f32]) {
        let Some((s, t)) = &self.blocks[k].nets else { return };
        let n = x_cond.len() + self.rep.len();
        self.input[..x_cond.len()].copy_from_slice(x_cond);
        self.input[x_cond.len()..n].copy_from_slice(&self.rep);
        let (_, cs, ct) = &mut self.caches[k];
        s.forward(&self.input[..n], cs, self.avx2);
        t.forward(&self.input[..n], ct, self.avx2);
        if let Some(c) = self.soft_clamp {
            for v in &mut cs.out {
                *v = c * (*v / c).tanh();
            }
        }
    }

    /// Latent → data for an encoded condition; `self.h` holds the result.
    fn inverse(&mut self, noise: &[f32]) {
        self.h.copy_from_slice(noise);
        for k in (0..self.blocks.len()).rev() {
            let split = self.blocks[k].split;
            if self.blocks[k].nets.is_some() {
                let x_cond = self.h[..split].to_vec();
                self.nets(k, &x_cond);
                let (_, cs, ct) = &self.caches[k];
                for (j, v) in self.h[split..].iter_mut().enumerate() {
                    *v = *v * cs.out[j].exp() + ct.out[j];
                }
            }
            if let Some((_, w_inv)) = &self.blocks[k].w {
                matvec(w_inv, &self.h, None, &mut self.tmp, self.avx2);
                std::mem::swap(&mut self.h, &mut self.tmp);
            }
        }
    }

    /// `∇ₓ log p(x|y)` at `self.h` (encoded condition in `self.rep`), written to `self.g`.
    fn score_at_h(&mut self) {
        let d = self.dim;
        // Forward pass, keeping each block's post-linear input and the nets' activations.
        let mut x = self.h.clone();
        for k in 0..self.blocks.len() {
            let mut y = match &self.blocks[k].w {
                Some((w, _)) => {
                    let mut y = vec![0.0; d];
                    matvec(w, &x, None, &mut y, self.avx2);
                    y
                }
                None => x.clone(),
            };
            self.caches[k].0.copy_from_slice(&y);
            if self.blocks[k].nets.is_some() {
                let split = self.blocks[k].split;
                let x_cond = y[..split].to_vec();
                self.nets(k, &x_cond);
                let (_, cs, ct) = &self.caches[k];
                for j in 0..d - split {
                    y[split + j] = (y[split + j] - ct.out[j]) * (-cs.out[j]).exp();
                }
            }
            x = y;
        }
        // d/dz of log N(z) is −z; then back through the blocks.
        let mut g: Vec<f32> = x.iter().map(|v| -v).collect();
        for k in (0..self.blocks.len()).rev() {
            let split = self.blocks[k].split;
            if let Some((s_net, t_net)) = &self.blocks[k].nets {
                let (h, cs, ct) = &self.caches[k];
                let trans = d - split;
                let mut g_s = vec![0.0; trans];
                let mut g_t = vec![0.0; trans];
                for j in 0..trans {
                    let e = (-cs.out[j]).exp();
                    let y_tr = (h[split + j] - ct.out[j]) * e;
                    g_s[j] = -g[split + j] * y_tr - 1.0; // the −Σs log-det term adds −1
                    g_t[j] = -g[split + j] * e;
                    g[split + j] *= e;
                }
                if let Some(c) = self.soft_clamp {
                    for (j, gs) in g_s.iter_mut().enumerate() {
                        let th = cs.out[j] / c; // = tanh(r/c)
                        *gs *= 1.0 - th * th;
                    }
                }
                let n_in = split + self.rep.len();
                let g_in = &mut self.g_in[..n_in];
                g_in.fill(0.0);
                s_net.backward(cs, &g_s, g_in, &mut self.scratch, self.avx2);
                t_net.backward(ct, &g_t, g_in, &mut self.scratch, self.avx2);
                for j in 0..split {
                    g[j] += g_in[j];
                }
            }
            // h = x·W, so ∂/∂x = W·g (row i of W dotted with g); the identity leaves g.
            if let Some((w, _)) = &self.blocks[k].w {
                g = (0..d).map(|i| (0..d).map(|j| w[i * d + j] * g[j]).sum()).collect();
            }
        }
        self.g.copy_from_slice(&g);
    }

    fn check(&self, cond: &[f32], noise: &[f32], out: &[f32]) -> Result<()> {
        check_len("cond", cond.len(), self.cond_dim)?;
        check_len("noise", noise.len(), self.dim)?;
        check_len("out", out.len(), self.dim)
    }

    /// `x = f⁻¹(noise | cond)` (no denoising).
    pub fn sample(&mut self, cond: &[f32], noise: &[f32], out: &mut [f32]) -> Result<()> {
        self.check(cond, noise, out)?;
        self.encode(cond);
        self.inverse(noise);
        out.copy_from_slice(&self.h);
        Ok(())
    }

    /// What a policy executes: a sample, then `x + σ²·∇ₓ log p(x|y)` if the config denoises.
    pub fn sample_action(&mut self, cond: &[f32], noise: &[f32], out: &mut [f32]) -> Result<()> {
        self.draw(cond, noise, self.denoise, out)
    }

    /// A sample, then one denoising step `x + σ²·∇ₓ log p(x|y)` if `denoise` (whatever the config
    /// says; σ is its `noise_std`).
    pub fn draw(&mut self, cond: &[f32], noise: &[f32], denoise: bool, out: &mut [f32]) -> Result<()> {
        self.check(cond, noise, out)?;
        self.encode(cond);
        self.inverse(noise);
        if denoise {
            self.score_at_h();
            let s2 = self.noise_std * self.noise_std;
            for (h, g) in self.h.iter_mut().zip(&self.g) {
                *h += s2 * g;
            }
        }
        out.copy_from_slice(&self.h);
        Ok(())
    }

    /// `∇ₓ log p(x | cond)`.
    pub fn score(&mut self, x: &[f32], cond: &[f32], out: &mut [f32]) -> Result<()> {
        self.check(cond, x, out)?;
        self.encode(cond);
        self.h.copy_from_slice(x);
        self.score_at_h();
        out.copy_from_slice(&self.g);
        Ok(())
    }
}
