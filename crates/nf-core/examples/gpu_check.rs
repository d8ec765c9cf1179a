//! GPU check of the `cuda` feature at the NF-GCBC size (obs 29 → encoder 4×512 → rep 64,
//! action 8, 6 blocks × 256): correctness against the CPU path, then timings.
//!
//! `cargo run --release -p nf-core --features cuda --example gpu_check [-- ITERS]`
//!
//! Without the `cuda` feature (or without a GPU) it prints why and exits with status 2.
//! Checks (each prints PASS/FAIL; the exit status is 1 if any fails):
//! (a) `inverse(forward(x)) ≈ x` on the GPU; (b) log_prob, z, logdet, sample (fixed noise),
//! score and every parameter gradient: GPU vs CPU on identical weights; (c) a short AdamW run on
//! the GPU: finite, decreasing loss that tracks the CPU run, gradients reaching every parameter;
//! (d) timings (GPU and, for reference, CPU on the same host).

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use nf_core::optim::{Trainer, WarmupCosine};
use nf_core::{ConditionalFlow, FlowConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const OBS: usize = 29;
const ACT: usize = 8;

type R<T> = anyhow::Result<T>;

fn randn(rng: &mut ChaCha8Rng, b: usize, d: usize, scale: f32) -> R<Tensor> {
    let v: Vec<f32> = (0..b * d).map(|_| rng.sample::<f32, _>(StandardNormal) * scale).collect();
    Ok(Tensor::from_vec(v, (b, d), &Device::Cpu)?)
}

fn cpu64(t: &Tensor) -> R<Tensor> {
    Ok(t.to_device(&Device::Cpu)?.to_dtype(DType::F64)?)
}

fn max_abs(t: &Tensor) -> R<f64> {
    Ok(cpu64(t)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f64>()?)
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> R<f64> {
    Ok((cpu64(a)? - cpu64(b)?)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f64>()?)
}

/// Adds `N(0, scale²)` to every trainable tensor so no coupling is the identity any more
/// (the last layer of each S/T net starts at zero).
fn perturb(flow: &ConditionalFlow, seed: u64, scale: f64) -> R<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for var in flow.trainable_vars() {
        let noise: Vec<f64> = (0..var.elem_count()).map(|_| rng.sample::<f64, _>(StandardNormal) * scale).collect();
        let noise = Tensor::from_vec(noise, var.shape(), &Device::Cpu)?.to_dtype(var.dtype())?;
        var.set(&(var.as_tensor() + noise.to_device(var.device())?)?)?;
    }
    Ok(())
}

/// `v > 0` (false for NaN).
fn positive(v: f64) -> bool {
    v > 0.0
}

struct Checks {
    failed: Vec<String>,
}

impl Checks {
    fn check(&mut self, name: &str, value: f64, bar: f64) {
        let ok = value.is_finite() && value <= bar;
        println!("  [{}] {name:<52} {value:>11.3e}  (bar {bar:.0e})", if ok { "PASS" } else { "FAIL" });
        if !ok {
            self.failed.push(name.to_string());
        }
    }
    fn flag(&mut self, name: &str, ok: bool, detail: String) {
        println!("  [{}] {name:<52} {detail}", if ok { "PASS" } else { "FAIL" });
        if !ok {
            self.failed.push(name.to_string());
        }
    }
}

/// Mean wall time of `f` in milliseconds after `warm` untimed calls; `sync` runs after the loop.
fn time_ms(warm: usize, iters: usize, dev: &Device, mut f: impl FnMut() -> R<()>) -> R<f64> {
    for _ in 0..warm {
        f()?;
    }
    dev.synchronize()?;
    let t = Instant::now();
    for _ in 0..iters {
        f()?;
    }
    dev.synchronize()?;
    Ok(t.elapsed().as_secs_f64() * 1e3 / iters as f64)
}

fn main() -> R<()> {
    let iters: usize = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(50);
    // NF_GPU_CHECK_DRY=1 runs both sides on the CPU: a dry run of this program's own logic.
    let dry = std::env::var_os("NF_GPU_CHECK_DRY").is_some();
    let gpu = match if dry { Ok(Device::Cpu) } else { Device::new_cuda(0) } {
        Ok(d) => d,
        Err(e) => {
            eprintln!("gpu_check: no CUDA device ({e}); build with `--features cuda` and run on a GPU host");
            std::process::exit(2);
        }
    };
    let cpu = Device::Cpu;
    println!("gpu_check: device {:?}, {iters} timed iterations per figure", gpu.location());
    let mut c = Checks { failed: vec![] };

    // ---------------------------------------------------------------- identical weights
    let cfg = FlowConfig::gcbc(ACT, OBS);
    let cpu_flow = ConditionalFlow::new(cfg.clone(), 0, &cpu)?;
    perturb(&cpu_flow, 1, 0.01)?;
    let dir = std::env::temp_dir().join(format!("nf_gpu_check_{}", std::process::id()));
    cpu_flow.save(&dir)?;
    let gpu_flow = ConditionalFlow::load(&dir, &gpu)?;
    let _ = std::fs::remove_dir_all(&dir);
    println!("GCBC flow: {} parameters, {} tensors", gpu_flow.num_params(), gpu_flow.named_tensors().len());
    let same_seed = ConditionalFlow::new(cfg.clone(), 0, &gpu)?;
    let reference = ConditionalFlow::new(cfg.clone(), 0, &cpu)?;
    let mut seed_diff = 0f64;
    let (a, b) = (same_seed.named_tensors(), reference.named_tensors());
    for (k, v) in &a {
        seed_diff = seed_diff.max(max_abs_diff(v, &b[k])?);
    }

    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let x_c = randn(&mut rng, 256, ACT, 1.0)?;
    let y_c = randn(&mut rng, 256, OBS, 1.0)?;
    let noise_c = randn(&mut rng, 256, ACT, 1.0)?;
    let (x_g, y_g, noise_g) = (x_c.to_device(&gpu)?, y_c.to_device(&gpu)?, noise_c.to_device(&gpu)?);

    println!("\n(a) invertibility on the GPU (f32, batch 256, perturbed weights)");
    c.check("same seed → same init on GPU and CPU (max |Δ|)", seed_diff, 0.0);
    let (z_g, ld_g) = gpu_flow.forward(&x_g, Some(&y_g))?;
    let (x2_g, ild_g) = gpu_flow.inverse(&z_g, Some(&y_g))?;
    println!("  max |z| = {:.2}, max |logdet| = {:.2}", max_abs(&z_g)?, max_abs(&ld_g)?);
    let inv_err = max_abs_diff(&x2_g, &x_g)?;
    println!("  max |x| = {:.2}; relative round-trip error {:.3e}", max_abs(&x_g)?, inv_err / max_abs(&x_g)?);
    c.check("GPU max |inverse(forward(x)) − x|", inv_err, 1e-4);
    c.check("GPU max |logdet_fwd + logdet_inv|", max_abs(&(&ld_g + &ild_g)?)?, 1e-3);
    let (z_c, ld_c) = cpu_flow.forward(&x_c, Some(&y_c))?;
    let (x2_c, _) = cpu_flow.inverse(&z_c, Some(&y_c))?;
    println!("  (CPU reference: max |inverse(forward(x)) − x| = {:.3e})", max_abs_diff(&x2_c, &x_c)?);

    println!("\n(b) GPU vs CPU on the same weights (f32)");
    let lp_g = gpu_flow.log_prob(&x_g, Some(&y_g))?;
    let lp_c = cpu_flow.log_prob(&x_c, Some(&y_c))?;
    println!("  log_prob range on CPU: [{:.2}, {:.2}]", cpu64(&lp_c)?.min(0)?.to_scalar::<f64>()?, cpu64(&lp_c)?.max(0)?.to_scalar::<f64>()?);
    c.check("max |log_prob_gpu − log_prob_cpu|", max_abs_diff(&lp_g, &lp_c)?, 1e-3);
    c.check("max |z_gpu − z_cpu|", max_abs_diff(&z_g, &z_c)?, 1e-4);
    c.check("max |logdet_gpu − logdet_cpu|", max_abs_diff(&ld_g, &ld_c)?, 1e-3);
    let s_g = gpu_flow.sample(Some(&y_g), &noise_g)?;
    let s_c = cpu_flow.sample(Some(&y_c), &noise_c)?;
    c.check("sample, fixed noise: max |x_gpu − x_cpu|", max_abs_diff(&s_g, &s_c)?, 1e-4);
    let d_g = gpu_flow.denoise(&s_g, Some(&y_g))?;
    let d_c = cpu_flow.denoise(&s_c, Some(&y_c))?;
    c.check("denoised sample: max |x_gpu − x_cpu|", max_abs_diff(&d_g, &d_c)?, 1e-4);
    let sc_g = gpu_flow.score(&x_g, Some(&y_g))?;
    let sc_c = cpu_flow.score(&x_c, Some(&y_c))?;
    println!("  max |score| = {:.2}", max_abs(&sc_c)?);
    c.check("score: max |Δ| / max |score_cpu|", max_abs_diff(&sc_g, &sc_c)? / max_abs(&sc_c)?, 1e-3);
    {
        let loss_g = gpu_flow.log_prob(&x_g, Some(&y_g))?.mean_all()?.neg()?;
        let loss_c = cpu_flow.log_prob(&x_c, Some(&y_c))?.mean_all()?.neg()?;
        let (gg, gc) = (loss_g.backward()?, loss_c.backward()?);
        let pg = gpu_flow.params().data().lock().unwrap().clone();
        let pc = cpu_flow.params().data().lock().unwrap().clone();
        let (mut worst, mut worst_name, mut missing, mut zero) = (0f64, String::new(), vec![], vec![]);
        for (name, vg) in &pg {
            let Some(g) = gg.get(vg.as_tensor()) else {
                missing.push(name.clone());
                continue;
            };
            let gcpu = gc.get(pc[name].as_tensor()).expect("CPU gradient");
            let scale = max_abs(gcpu)?;
            if !positive(max_abs(g)?) {
                zero.push(name.clone());
            }
            let rel = max_abs_diff(g, gcpu)? / scale.max(1e-6);
            if rel > worst {
                worst = rel;
                worst_name = name.clone();
            }
        }
        c.flag("GPU gradient reaches every parameter (log_prob)", missing.is_empty() && zero.is_empty(), format!("{} params, missing {:?}, zero {:?}", pg.len(), missing, zero));
        println!("  worst gradient: `{worst_name}`");
        c.check("max over params of |g_gpu − g_cpu|∞ / |g_cpu|∞", worst, 1e-2);
    }

    println!("\n(c) training on the GPU (fresh GCBC flow, AdamW, fixed batch 256, peak lr 1e-3)");
    {
        let mut drng = ChaCha8Rng::seed_from_u64(3);
        let y = randn(&mut drng, 256, OBS, 1.0)?;
        // A learnable target: actions a smooth function of the observation plus noise.
        let w = randn(&mut drng, OBS, ACT, 0.3)?;
        let x = (y.matmul(&w)?.tanh()? + randn(&mut drng, 256, ACT, 0.1)?)?;
        let sched = WarmupCosine { peak: 1e-3, warmup: 5, total: 10_000, floor: 1e-6 };
        let steps = 40;
        let mut curves = vec![];
        for (i, dev) in [&gpu, &cpu].into_iter().enumerate() {
            let flow = ConditionalFlow::new(cfg.clone(), 0, dev)?;
            let mut trainer = Trainer::new(flow.trainable_vars(), sched, 1e-6)?;
            let (xd, yd) = (x.to_device(dev)?, y.to_device(dev)?);
            let mut rng = ChaCha8Rng::seed_from_u64(11);
            let mut losses = vec![];
            for _ in 0..steps {
                let loss = flow.nll_loss(&xd, Some(&yd), &mut rng)?;
                losses.push(trainer.step(&loss)?);
            }
            // After training every coupling is non-trivial: all parameters get gradients.
            if i == 0 {
                let loss = flow.nll_loss(&xd, Some(&yd), &mut rng)?;
                let grads = loss.backward()?;
                let names = flow.params().data().lock().unwrap().clone();
                let bad: Vec<_> = names.iter().filter(|(_, v)| grads.get(v.as_tensor()).map(|g| !positive(max_abs(g).unwrap_or(0.0))).unwrap_or(true)).map(|(n, _)| n.clone()).collect();
                c.flag("after training: every parameter has a non-zero grad", bad.is_empty(), format!("{} params, bad {:?}", names.len(), bad));
            }
            curves.push(losses);
        }
        let (g, cc) = (&curves[0], &curves[1]);
        let show = |v: &Vec<f64>| [0, 1, 5, 10, 20, 30, steps - 1].iter().map(|&i| format!("{:.3}", v[i])).collect::<Vec<_>>().join(" ");
        println!("  GPU loss @0,1,5,10,20,30,{}: {}", steps - 1, show(g));
        println!("  CPU loss @0,1,5,10,20,30,{}: {}", steps - 1, show(cc));
        c.flag("GPU losses finite", g.iter().all(|v| v.is_finite()), String::new());
        let (first, last) = (g[..3].iter().sum::<f64>() / 3.0, g[steps - 3..].iter().sum::<f64>() / 3.0);
        c.flag("GPU loss decreases (mean of last 3 < first 3 − 1)", last < first - 1.0, format!("{first:.3} → {last:.3}"));
        let dev10 = (0..10).map(|i| (g[i] - cc[i]).abs()).fold(0.0, f64::max);
        c.check("|loss_gpu − loss_cpu| over the first 10 steps", dev10, 1e-2);
        let devall = g.iter().zip(cc).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        println!("  (max |loss_gpu − loss_cpu| over all {steps} steps: {devall:.3e})");
    }

    println!("\n(d) timings, ms per call (mean of {iters} after warm-up; sample = sample_action incl. host noise upload and readback)");
    let mut rows: Vec<(String, f64, f64)> = vec![];
    for (label, batch) in [("train step (nll + backward + AdamW)", 256usize), ("train step", 1024), ("train step", 4096)] {
        let mut r = [f64::NAN; 2];
        for (i, dev) in [&gpu, &cpu].into_iter().enumerate() {
            if i == 1 && batch > 256 {
                continue;
            }
            let flow = ConditionalFlow::new(cfg.clone(), 0, dev)?;
            let mut trainer = Trainer::new(flow.trainable_vars(), WarmupCosine::default(), 1e-6)?;
            let mut rng = ChaCha8Rng::seed_from_u64(0);
            let x = randn(&mut rng, batch, ACT, 1.0)?.to_device(dev)?;
            let y = randn(&mut rng, batch, OBS, 1.0)?.to_device(dev)?;
            let n = if i == 1 { (iters / 2).max(5) } else { iters };
            r[i] = time_ms(5, n, dev, || {
                let loss = flow.nll_loss(&x, Some(&y), &mut rng)?;
                trainer.step(&loss)?;
                Ok(())
            })?;
        }
        rows.push((format!("{label} @ batch {batch}"), r[0], r[1]));
    }
    for denoise in [false, true] {
        let fcfg = FlowConfig { denoise, ..cfg.clone() };
        for batch in [1usize, 256] {
            let mut r = [f64::NAN; 2];
            for (i, dev) in [&gpu, &cpu].into_iter().enumerate() {
                let flow = ConditionalFlow::new(fcfg.clone(), 0, dev)?;
                let mut rng = ChaCha8Rng::seed_from_u64(1);
                let y = randn(&mut rng, batch, OBS, 1.0)?.to_device(dev)?;
                r[i] = time_ms(5, iters, dev, || {
                    let a = flow.sample_action(Some(&y), &mut rng, batch)?;
                    let _host: Vec<Vec<f32>> = a.to_vec2()?;
                    Ok(())
                })?;
            }
            rows.push((format!("sample_action @ batch {batch}, {}", if denoise { "denoise" } else { "plain" }), r[0], r[1]));
        }
    }
    for denoise in [false, true] {
        let flow = ConditionalFlow::new(FlowConfig { denoise, ..cfg.clone() }, 0, &cpu)?;
        let mut fast = flow.fast_sampler()?;
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let cond: Vec<f32> = (0..OBS).map(|_| rng.sample(StandardNormal)).collect();
        let noise: Vec<f32> = (0..ACT).map(|_| rng.sample(StandardNormal)).collect();
        let mut out = vec![0.0; ACT];
        let t = time_ms(20, iters * 20, &cpu, || {
            fast.sample_action(&cond, &noise, &mut out)?;
            Ok(())
        })?;
        rows.push((format!("FastSampler (CPU) @ batch 1, {}", if denoise { "denoise" } else { "plain" }), f64::NAN, t));
    }
    println!("\n  {:<50} {:>12} {:>12}", "operation", "GPU ms", "CPU ms");
    println!("  {}", "-".repeat(76));
    for (name, g, cms) in &rows {
        let f = |v: f64| if v.is_nan() { "—".to_string() } else { format!("{v:.3}") };
        println!("  {name:<50} {:>12} {:>12}", f(*g), f(*cms));
    }

    println!();
    if c.failed.is_empty() {
        println!("gpu_check: ALL CHECKS PASSED");
        Ok(())
    } else {
        println!("gpu_check: FAILED: {:?}", c.failed);
        std::process::exit(1);
    }
}
