//! Properties of the flow that span modules: invertibility, exact log-determinants, gradients,
//! checkpoints and determinism. Parameters are perturbed away from the identity initialisation
//! first, or most of these properties would hold trivially.

use candle_core::{DType, Device, Tensor};
use nalgebra::DMatrix;
use nf_core::{ConditionalFlow, Draw, EncoderConfig, FlowConfig, FlowError, FlowSampler};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

fn small_config(dim: usize, cond_dim: usize, encoder: bool) -> FlowConfig {
    FlowConfig { blocks: 4, channels: 24, encoder: EncoderConfig { enabled: encoder, hidden: vec![32, 32], rep: 8, ..EncoderConfig::default() }, ..FlowConfig::gcbc(dim, cond_dim) }
}

/// Adds `N(0, scale²)` to every trainable tensor so no coupling is the identity any more.
fn perturb(flow: &ConditionalFlow, seed: u64, scale: f64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for var in flow.trainable_vars() {
        let noise: Vec<f64> = (0..var.elem_count()).map(|_| rng.sample::<f64, _>(StandardNormal) * scale).collect();
        let noise = Tensor::from_vec(noise, var.shape(), &Device::Cpu).unwrap().to_dtype(var.dtype()).unwrap();
        var.set(&(var.as_tensor() + noise).unwrap()).unwrap();
    }
}

fn randn(rng: &mut ChaCha8Rng, shape: (usize, usize), dtype: DType) -> Tensor {
    let v: Vec<f64> = (0..shape.0 * shape.1).map(|_| rng.sample(StandardNormal)).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap().to_dtype(dtype).unwrap()
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap()
}

/// f32 with a moderate perturbation (a flow that maps N(0, I) data to |z| of a few units, like a
/// trained one), and f64 with a strong one (|z| up to ~100), where the bar is 1e-9.
#[test]
fn inverse_of_forward_is_identity_for_random_configs() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for (dtype, strength, tol) in [(DType::F32, 0.03, 1e-5), (DType::F64, 0.1, 1e-9)] {
        for dim in 1..=17 {
            for (cond_dim, encoder) in [(0, false), (rng.random_range(1..6), true), (3, false)] {
                let cfg = small_config(dim, cond_dim, encoder);
                let flow = ConditionalFlow::new_with_dtype(cfg, dim as u64, &Device::Cpu, dtype).unwrap();
                perturb(&flow, 100 + dim as u64, strength);
                let x = randn(&mut rng, (64, dim), dtype);
                let c = (cond_dim > 0).then(|| randn(&mut rng, (64, cond_dim), dtype));
                let (z, ld_f) = flow.forward(&x, c.as_ref()).unwrap();
                assert!(max_abs_diff(&z, &x) > 0.1, "dim {dim}: the flow is (nearly) the identity");
                let (x_back, ld_i) = flow.inverse(&z, c.as_ref()).unwrap();
                let err = max_abs_diff(&x, &x_back);
                assert!(err < tol, "{dtype:?} dim {dim} cond {cond_dim}: |f⁻¹(f(x)) − x| = {err}");
                // The inverse's log-det is minus the forward's at the matching point.
                let ld_err = max_abs_diff(&ld_f, &ld_i.neg().unwrap());
                assert!(ld_err < 100.0 * tol, "{dtype:?} dim {dim}: log-det mismatch {ld_err}");
                // And the other way round: f(f⁻¹(z)) = z.
                let z2 = randn(&mut rng, (16, dim), dtype);
                let c2 = (cond_dim > 0).then(|| randn(&mut rng, (16, cond_dim), dtype));
                let (xs, _) = flow.inverse(&z2, c2.as_ref()).unwrap();
                let (z_back, _) = flow.forward(&xs, c2.as_ref()).unwrap();
                let err = max_abs_diff(&z2, &z_back);
                assert!(err < tol, "{dtype:?} dim {dim}: |f(f⁻¹(z)) − z| = {err}");
            }
        }
    }
}

/// The ablation switches (no PLU map, no coupling LayerNorm, both) keep the flow exact:
/// f⁻¹(f(x)) = x to 1e-5 in f32, log-determinants equal the brute-force Jacobian's, and each
/// switch does what it says: without the linear map the first ⌈d/2⌉ dimensions pass through
/// every block unchanged; without the LayerNorm the couplings have no norm parameters.
#[test]
fn ablation_switches_keep_the_flow_invertible_with_exact_log_dets() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for (plu_linear, coupling_layer_norm) in [(false, true), (true, false), (false, false)] {
        for (dim, cond_dim) in [(1, 3), (2, 0), (5, 4), (8, 6)] {
            let name = format!("plu_linear {plu_linear} coupling_layer_norm {coupling_layer_norm} dim {dim} cond {cond_dim}");
            let cfg = FlowConfig { plu_linear, coupling_layer_norm, ..small_config(dim, cond_dim, true) };
            let names: Vec<String> = ConditionalFlow::new(cfg.clone(), 1, &Device::Cpu).unwrap().params().data().lock().unwrap().keys().cloned().collect();
            assert_eq!(names.iter().any(|n| n.contains(".linear.")), plu_linear, "{name}: {names:?}");
            assert_eq!(names.iter().any(|n| n.contains(".coupling.") && n.contains(".norm")), coupling_layer_norm, "{name}: {names:?}");
            // f32: invertibility to 1e-5.
            let flow = ConditionalFlow::new(cfg.clone(), 5, &Device::Cpu).unwrap();
            perturb(&flow, 6, 0.03);
            let x = randn(&mut rng, (32, dim), DType::F32);
            let c = (cond_dim > 0).then(|| randn(&mut rng, (32, cond_dim), DType::F32));
            let (z, ld_f) = flow.forward(&x, c.as_ref()).unwrap();
            assert!(max_abs_diff(&z, &x) > 0.1, "{name}: the flow is (nearly) the identity");
            let (x_back, ld_i) = flow.inverse(&z, c.as_ref()).unwrap();
            assert!(max_abs_diff(&x, &x_back) < 1e-5, "{name}: |f⁻¹(f(x)) − x| = {}", max_abs_diff(&x, &x_back));
            assert!(max_abs_diff(&ld_f, &ld_i.neg().unwrap()) < 1e-4, "{name}: inverse log-det is not minus the forward's");
            if !plu_linear && dim > 1 {
                let keep = dim.div_ceil(2);
                let unchanged = max_abs_diff(&z.narrow(1, 0, keep).unwrap(), &x.narrow(1, 0, keep).unwrap());
                assert_eq!(unchanged, 0.0, "{name}: without the linear map the first half must pass through");
            }
            // f64: log|det ∂z/∂x| against central finite differences.
            let flow = ConditionalFlow::new_with_dtype(cfg, 9, &Device::Cpu, DType::F64).unwrap();
            perturb(&flow, 7 + dim as u64, 0.2);
            let x = randn(&mut rng, (2, dim), DType::F64);
            let c = (cond_dim > 0).then(|| randn(&mut rng, (2, cond_dim), DType::F64));
            let logdet: Vec<f64> = flow.forward(&x, c.as_ref()).unwrap().1.to_vec1().unwrap();
            for (row, &flow_logdet) in logdet.iter().enumerate() {
                let brute = brute_force_log_det(&flow, &x.narrow(0, row, 1).unwrap(), c.as_ref().map(|c| c.narrow(0, row, 1).unwrap()).as_ref());
                assert!((brute - flow_logdet).abs() < 1e-3, "{name}: brute {brute} vs flow {flow_logdet}");
                assert!(flow_logdet.abs() > 1e-2, "{name}: perturbation too weak to test anything");
            }
        }
    }
}

/// `log|det ∂f/∂x|` at one row by central finite differences in f64, determinant by LU.
fn brute_force_log_det(flow: &ConditionalFlow, xr: &Tensor, cr: Option<&Tensor>) -> f64 {
    let dim = xr.dim(1).unwrap();
    let h = 1e-5;
    let mut jac = DMatrix::<f64>::zeros(dim, dim);
    for j in 0..dim {
        let mut e = vec![0.0; dim];
        e[j] = h;
        let e = Tensor::from_vec(e, (1, dim), &Device::Cpu).unwrap();
        let zp: Vec<f64> = flow.forward(&(xr + &e).unwrap(), cr).unwrap().0.flatten_all().unwrap().to_vec1().unwrap();
        let zm: Vec<f64> = flow.forward(&(xr - &e).unwrap(), cr).unwrap().0.flatten_all().unwrap().to_vec1().unwrap();
        for i in 0..dim {
            jac[(i, j)] = (zp[i] - zm[i]) / (2.0 * h);
        }
    }
    jac.determinant().abs().ln()
}

/// Brute force: central finite differences in f64, determinant by LU.
#[test]
fn log_det_matches_brute_force_jacobian() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for (dim, cond_dim) in [(1, 2), (2, 0), (3, 4), (5, 0), (8, 6), (17, 3)] {
        let flow = ConditionalFlow::new_with_dtype(small_config(dim, cond_dim, true), 9, &Device::Cpu, DType::F64).unwrap();
        perturb(&flow, 7 + dim as u64, 0.2);
        let x = randn(&mut rng, (3, dim), DType::F64);
        let c = (cond_dim > 0).then(|| randn(&mut rng, (3, cond_dim), DType::F64));
        let (_, logdet) = flow.forward(&x, c.as_ref()).unwrap();
        let logdet: Vec<f64> = logdet.to_vec1().unwrap();
        for (row, &flow_logdet) in logdet.iter().enumerate() {
            let brute = brute_force_log_det(&flow, &x.narrow(0, row, 1).unwrap(), c.as_ref().map(|c| c.narrow(0, row, 1).unwrap()).as_ref());
            assert!((brute - flow_logdet).abs() < 1e-3, "dim {dim}: brute {brute} vs flow {flow_logdet}");
            assert!(flow_logdet.abs() > 1e-2, "perturbation too weak to test anything");
        }
    }
}

#[test]
fn score_matches_finite_differences_and_denoise_uses_it() {
    let flow = ConditionalFlow::new_with_dtype(small_config(4, 3, true), 4, &Device::Cpu, DType::F64).unwrap();
    perturb(&flow, 5, 0.2);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let x = randn(&mut rng, (2, 4), DType::F64);
    let c = randn(&mut rng, (2, 3), DType::F64);
    let score: Vec<Vec<f64>> = flow.score(&x, Some(&c)).unwrap().to_vec2().unwrap();
    let h = 1e-5;
    for j in 0..4 {
        let mut e = vec![0.0; 8];
        e[j] = h;
        e[4 + j] = h;
        let e = Tensor::from_vec(e, (2, 4), &Device::Cpu).unwrap();
        let lp = |x: &Tensor| -> Vec<f64> { flow.log_prob(x, Some(&c)).unwrap().to_vec1().unwrap() };
        let (p, m) = (lp(&(&x + &e).unwrap()), lp(&(&x - &e).unwrap()));
        for r in 0..2 {
            let fd = (p[r] - m[r]) / (2.0 * h);
            assert!((fd - score[r][j]).abs() < 1e-5, "score[{r}][{j}] = {} vs fd {fd}", score[r][j]);
        }
    }
    let den: Vec<Vec<f64>> = flow.denoise(&x, Some(&c)).unwrap().to_vec2().unwrap();
    let x: Vec<Vec<f64>> = x.to_vec2().unwrap();
    for r in 0..2 {
        for j in 0..4 {
            assert!((den[r][j] - (x[r][j] + 0.01 * score[r][j])).abs() < 1e-12);
        }
    }
}

#[test]
fn gradients_reach_every_parameter_through_log_prob_and_sample() {
    let flow = ConditionalFlow::new(small_config(5, 3, true), 11, &Device::Cpu).unwrap();
    perturb(&flow, 12, 0.1);
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let x = randn(&mut rng, (32, 5), DType::F32);
    let c = randn(&mut rng, (32, 3), DType::F32);
    let through_log_prob = flow.log_prob(&x, Some(&c)).unwrap().mean_all().unwrap();
    let noise = flow.noise(&mut rng, 32).unwrap();
    // Any smooth function of the sample: its gradient must flow back through the inverse pass.
    let through_sample = flow.sample(Some(&c), &noise).unwrap().sin().unwrap().sum_all().unwrap();
    // NF-RLBC's shape of loss: a function of a sample and the log-density of data, one graph.
    let noise2 = flow.noise(&mut rng, 32).unwrap();
    let combined = (flow.sample(Some(&c), &noise2).unwrap().sqr().unwrap().mean_all().unwrap() - flow.log_prob(&x, Some(&c)).unwrap().mean_all().unwrap()).unwrap();
    for (what, loss) in [("log_prob", through_log_prob), ("sample", through_sample), ("sample + log_prob", combined)] {
        let grads = loss.backward().unwrap();
        let names = flow.params().data().lock().unwrap().clone();
        for (name, var) in names {
            let g = grads.get(var.as_tensor()).unwrap_or_else(|| panic!("no gradient for `{name}` through {what}"));
            let norm = g.abs().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(norm > 0.0 && norm.is_finite(), "gradient of `{name}` through {what} is {norm}");
        }
    }
}

#[test]
fn sample_and_log_prob_agrees_with_log_prob() {
    let flow = ConditionalFlow::new(small_config(6, 2, true), 13, &Device::Cpu).unwrap();
    perturb(&flow, 14, 0.1);
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let c = randn(&mut rng, (50, 2), DType::F32);
    let noise = flow.noise(&mut rng, 50).unwrap();
    let (x, lp) = flow.sample_and_log_prob(Some(&c), &noise).unwrap();
    let lp2 = flow.log_prob(&x, Some(&c)).unwrap();
    assert!(max_abs_diff(&lp, &lp2) < 1e-3);
}

#[test]
fn save_load_is_bitwise_and_seeds_are_deterministic() {
    let dir = std::env::temp_dir().join(format!("nf-core-ckpt-{}", std::process::id()));
    let cfg = small_config(7, 4, true);
    let flow = ConditionalFlow::new(cfg.clone(), 21, &Device::Cpu).unwrap();
    perturb(&flow, 22, 0.1);
    flow.save(&dir).unwrap();
    let loaded = ConditionalFlow::load(&dir, &Device::Cpu).unwrap();
    assert_eq!(loaded.config(), &cfg);
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let x = randn(&mut rng, (40, 7), DType::F32);
    let c = randn(&mut rng, (40, 4), DType::F32);
    let a: Vec<f32> = flow.log_prob(&x, Some(&c)).unwrap().to_vec1().unwrap();
    let b: Vec<f32> = loaded.log_prob(&x, Some(&c)).unwrap().to_vec1().unwrap();
    assert!(a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()), "log-probs differ after reload");

    // Same seed: identical parameters and identical samples; another seed: different ones.
    let f1 = ConditionalFlow::new(cfg.clone(), 5, &Device::Cpu).unwrap();
    let f2 = ConditionalFlow::new(cfg.clone(), 5, &Device::Cpu).unwrap();
    let f3 = ConditionalFlow::new(cfg, 6, &Device::Cpu).unwrap();
    let (t1, t2, t3) = (f1.named_tensors(), f2.named_tensors(), f3.named_tensors());
    let mut differs = false;
    for (name, t) in &t1 {
        let bits = |t: &Tensor| -> Vec<u32> { t.flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().map(|v| v.to_bits()).collect() };
        assert_eq!(bits(t), bits(&t2[name]), "`{name}` differs for the same seed");
        differs |= bits(t) != bits(&t3[name]);
    }
    assert!(differs, "different seeds gave identical parameters");
    let s = |f: &ConditionalFlow| -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        f.sample_action(Some(&c), &mut rng, 40).unwrap().flatten_all().unwrap().to_vec1().unwrap()
    };
    assert_eq!(s(&f1), s(&f2));

    // A checkpoint from another config is refused by name.
    let other = ConditionalFlow::new(small_config(6, 4, true), 1, &Device::Cpu).unwrap();
    let err = other.load_weights(&dir.join("model.safetensors")).unwrap_err().to_string();
    assert!(err.contains("model.safetensors") && err.contains("shape"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn wrong_shapes_are_named_errors() {
    let flow = ConditionalFlow::new(small_config(3, 2, true), 0, &Device::Cpu).unwrap();
    let x = Tensor::zeros((4, 5), DType::F32, &Device::Cpu).unwrap();
    let c = Tensor::zeros((4, 2), DType::F32, &Device::Cpu).unwrap();
    let err = flow.log_prob(&x, Some(&c)).unwrap_err();
    assert!(matches!(err, FlowError::Shape { what: "x", .. }), "{err}");
    assert!(err.to_string().contains("[batch, 3]") && err.to_string().contains("[4, 5]"), "{err}");
    let x = Tensor::zeros((4, 3), DType::F32, &Device::Cpu).unwrap();
    let bad_c = Tensor::zeros((4, 7), DType::F32, &Device::Cpu).unwrap();
    let err = flow.log_prob(&x, Some(&bad_c)).unwrap_err().to_string();
    assert!(err.contains("cond") && err.contains("[4, 2]") && err.contains("[4, 7]"), "{err}");
    assert!(flow.log_prob(&x, None).unwrap_err().to_string().contains("cond"));
    let uncond = ConditionalFlow::new(small_config(3, 0, false), 0, &Device::Cpu).unwrap();
    assert!(uncond.log_prob(&x, Some(&c)).unwrap_err().to_string().contains("unconditional"));
    let err = ConditionalFlow::new(small_config(0, 0, false), 0, &Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("`dim`"), "{err}");
}

/// `max |a − b| / max(1, max |b|)`: the error relative to the vector's scale (a component near
/// zero is not held to a relative bar its neighbours set).
fn rel_err(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    a.iter().zip(b).fold(0.0f32, |m, (x, y)| m.max((x - y).abs())) / scale
}

/// Every preset (gcbc, rlbc, bc, at the preset's real widths) × encoder on/off × soft clamp
/// on/off, and the shapes the fused path special-cases (d = 1, no condition).
fn agreement_configs() -> Vec<(String, FlowConfig)> {
    type Preset = fn(usize, usize) -> FlowConfig;
    let presets: [(&str, Preset); 3] = [("gcbc", FlowConfig::gcbc), ("rlbc", FlowConfig::rlbc), ("bc", FlowConfig::bc)];
    let mut out = Vec::new();
    for (name, preset) in presets {
        for encoder in [true, false] {
            for clamp in [None, Some(2.0)] {
                let mut shapes = vec![(8, 29)];
                if name == "gcbc" {
                    shapes.extend([(1, 4), (3, 0)]);
                }
                for (dim, cond_dim) in shapes {
                    let mut cfg = FlowConfig { soft_clamp: clamp, ..preset(dim, cond_dim) };
                    cfg.encoder.enabled = encoder;
                    out.push((format!("{name} dim {dim} cond {cond_dim} encoder {encoder} clamp {clamp:?}"), cfg));
                }
            }
        }
    }
    // The ablation switches (Table 10), on the denoising preset so the score path is covered.
    for (plu_linear, coupling_layer_norm) in [(false, true), (true, false), (false, false)] {
        for (dim, cond_dim) in [(8, 29), (3, 0)] {
            let cfg = FlowConfig { plu_linear, coupling_layer_norm, ..FlowConfig::gcbc(dim, cond_dim) };
            out.push((format!("gcbc dim {dim} cond {cond_dim} plu_linear {plu_linear} coupling_layer_norm {coupling_layer_norm}"), cfg));
        }
    }
    out
}

/// A preset flow moved away from its identity initialisation by about as much as training moves
/// it (perturbation scaled by 1/√width, so every preset's couplings scale by O(1) per block).
fn perturbed(cfg: &FlowConfig, seed: u64) -> ConditionalFlow {
    let flow = ConditionalFlow::new(cfg.clone(), seed, &Device::Cpu).unwrap();
    perturb(&flow, seed + 1, 0.5 / (cfg.channels as f64).sqrt());
    flow
}

/// Tolerance of the fused path against the graph, relative to the output's scale. Both compute in
/// f32 but sum in different orders (gemm blocks vs row axpys, f64 vs f32 LayerNorm statistics),
/// so they differ by a few ulps per layer. Largest differences measured over these configs
/// (x86-64 with AVX2/FMA): samples 2.6e-6 (rlbc), 6.2e-6 (gcbc), 8.5e-6 (bc, 12 blocks × 512);
/// scores 4e-5, 3e-5, 2.7e-4. The bars are ~3.5× those. A score error enters an action
/// multiplied by σ² = 0.01. Weights, LayerNorm eps, activations and the clamp are read from the
/// candle modules, so those cannot drift apart; these tests hold the two formulas together.
const SAMPLE_TOL: f32 = 3e-5;
const SCORE_TOL: f32 = 1e-3;

/// The hand-fused batch-1 path computes what the candle graph computes: samples, denoised
/// samples and scores, on every preset.
#[test]
fn fast_sampler_matches_the_candle_path() {
    for (k, (name, cfg)) in agreement_configs().into_iter().enumerate() {
        let (dim, cond_dim) = (cfg.dim, cfg.cond_dim);
        let flow = perturbed(&cfg, 31 + k as u64);
        let mut fast = flow.fast_sampler().unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(33);
        let mut moved = false;
        for _ in 0..3 {
            let c = randn(&mut rng, (1, cond_dim), DType::F32);
            let noise = flow.noise(&mut rng, 1).unwrap();
            let cond = (cond_dim > 0).then_some(&c);
            let x = flow.sample(cond, &noise).unwrap();
            let plain: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
            let den: Vec<f32> = flow.denoise(&x, cond).unwrap().flatten_all().unwrap().to_vec1().unwrap();
            let score: Vec<f32> = flow.score(&x, cond).unwrap().flatten_all().unwrap().to_vec1().unwrap();
            let (cv, nv): (Vec<f32>, Vec<f32>) = (c.flatten_all().unwrap().to_vec1().unwrap(), noise.flatten_all().unwrap().to_vec1().unwrap());
            moved |= rel_err(&plain, &nv) > 0.1;
            let mut out = vec![0.0; dim];
            fast.sample(&cv, &nv, &mut out).unwrap();
            let e = rel_err(&out, &plain);
            assert!(e <= SAMPLE_TOL, "{name}: fast sample {out:?} vs candle {plain:?} (rel. error {e:e})");
            fast.sample_action(&cv, &nv, &mut out).unwrap();
            let want = if cfg.denoise { &den } else { &plain };
            let e = rel_err(&out, want);
            assert!(e <= SAMPLE_TOL, "{name}: fast action {out:?} vs candle {want:?} (rel. error {e:e})");
            fast.draw(&cv, &nv, true, &mut out).unwrap();
            let e = rel_err(&out, &den);
            assert!(e <= SAMPLE_TOL, "{name}: fast denoised {out:?} vs candle {den:?} (rel. error {e:e})");
            let mut sc = vec![0.0; dim];
            fast.score(&plain, &cv, &mut sc).unwrap();
            let e = rel_err(&sc, &score);
            if e > SCORE_TOL {
                // The score jumps where a LeakyReLU input crosses zero, and the two paths' sum
                // orders can put an input within rounding of zero on opposite sides (measured: 1
                // in 200 random points of the no-linear, no-LayerNorm flow, error 2e-3). Then the
                // paths must agree a hair away, and the graph's own score must jump there.
                let nudged = (&x * 1.0001).unwrap();
                let want: Vec<f32> = flow.score(&nudged, cond).unwrap().flatten_all().unwrap().to_vec1().unwrap();
                let mut got = vec![0.0; dim];
                fast.score(&nudged.flatten_all().unwrap().to_vec1::<f32>().unwrap(), &cv, &mut got).unwrap();
                let (e2, jump) = (rel_err(&got, &want), rel_err(&want, &score));
                assert!(e2 <= SCORE_TOL && jump > e / 2.0, "{name}: fast score {sc:?} vs candle {score:?} (rel. error {e:e}; at x·1.0001 {e2:e}, the graph's score moved {jump:e})");
            }
        }
        assert!(moved, "{name}: the perturbed flow is still (nearly) the identity");
        let mut out = vec![0.0; dim];
        let err = fast.sample(&vec![0.0; cond_dim + 1], &vec![0.0; dim], &mut out).unwrap_err().to_string();
        assert!(err.contains("cond") && err.contains(&format!("[{cond_dim}]")), "{err}");
    }
}

/// `FlowSampler::sample_rows` takes the graph for several CPU rows and the fused path for one; a
/// row drawn alone from the continuing stream must equal that row of the batch (the noise is
/// drawn row-major either way), for every preset, denoised or not, at any temperature.
#[test]
fn flow_sampler_rows_agree_with_single_rows() {
    let rows = 3;
    for (k, (name, cfg)) in agreement_configs().into_iter().enumerate() {
        let sampler = FlowSampler::new(perturbed(&cfg, 51 + k as u64));
        let cond: Vec<f32> = randn(&mut ChaCha8Rng::seed_from_u64(k as u64), (rows, cfg.cond_dim), DType::F32).flatten_all().unwrap().to_vec1().unwrap();
        for draw in [Draw::PLAIN, Draw::sample(true), Draw { temperature: 0.5, denoise: cfg.denoise }, Draw { temperature: 0.0, denoise: false }] {
            let batch = sampler.sample_rows(0, &cond, rows, draw, &mut ChaCha8Rng::seed_from_u64(7)).unwrap();
            let mut rng = ChaCha8Rng::seed_from_u64(7);
            let cd = cfg.cond_dim;
            let single: Vec<f32> = (0..rows).flat_map(|r| sampler.sample_rows(0, &cond[r * cd..(r + 1) * cd], 1, draw, &mut rng).unwrap()).collect();
            let e = rel_err(&single, &batch);
            assert!(e <= SAMPLE_TOL, "{name} {draw:?}: rows one by one {single:?} vs batch {batch:?} (rel. error {e:e})");
        }
    }
}

/// The fused path's snapshot follows the caller's version and is dropped by a load.
#[test]
fn flow_sampler_snapshot_follows_the_weights() {
    let cfg = small_config(4, 3, true);
    let sampler = FlowSampler::new(perturbed(&cfg, 70));
    let cond = [0.3f32, -0.2, 0.9];
    let one = |version: usize| sampler.sample_rows(version, &cond, 1, Draw::sample(true), &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
    let graph = || sampler.sample_rows(0, &[cond, cond].concat(), 2, Draw::sample(true), &mut ChaCha8Rng::seed_from_u64(1)).unwrap()[..4].to_vec();
    let before = one(0);
    perturb(&sampler, 71, 0.05);
    assert_eq!(one(0), before, "same version: the snapshot is kept (weights moved without a new version)");
    let after = one(1);
    assert_ne!(after, before);
    assert!(rel_err(&after, &graph()) <= SAMPLE_TOL, "new version: the snapshot is retaken");
    // Loading other weights drops the snapshot even under the same version.
    let other = perturbed(&cfg, 72);
    sampler.set_named_tensors(&other.named_tensors(), "").unwrap();
    assert!(rel_err(&one(1), &graph()) <= SAMPLE_TOL, "load: the snapshot is retaken");
    // The condition's length is checked against the row count.
    let err = sampler.sample_rows(0, &cond, 2, Draw::PLAIN, &mut ChaCha8Rng::seed_from_u64(1)).unwrap_err().to_string();
    assert!(err.contains("cond") && err.contains("[2 × 3]"), "{err}");
}
