//! The flow learns: a fitted density approaches the true entropy and integrates to one, and a
//! conditional flow captures modes that move with the condition, beating the best Gaussian.

use candle_core::{DType, Device, Tensor};
use nf_core::optim::{Trainer, WarmupCosine};
use nf_core::toy::{self, Toy2d};
use nf_core::{ConditionalFlow, EncoderConfig, FlowConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[test]
fn eight_gaussians_nll_near_entropy_and_density_integrates_to_one() {
    let cfg = FlowConfig { blocks: 8, channels: 64, noise_std: 0.0, denoise: false, ..FlowConfig::gcbc(2, 0) };
    let flow = ConditionalFlow::new(cfg, 0, &Device::Cpu).unwrap();
    let steps = 2500;
    let schedule = WarmupCosine { peak: 2e-3, warmup: 100, total: steps, floor: 1e-5 };
    let mut trainer = Trainer::new(flow.trainable_vars(), schedule, 1e-6).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    toy::fit(&flow, Toy2d::EightGaussians, &mut trainer, steps, 256, &mut rng, |_, _| {}).unwrap();

    let test = toy::samples_tensor(Toy2d::EightGaussians, &mut rng, 20_000, DType::F32, &Device::Cpu).unwrap();
    let nll = -flow.log_prob(&test, None).unwrap().mean_all().unwrap().to_scalar::<f32>().unwrap() as f64;
    let entropy = Toy2d::EightGaussians.entropy(&mut rng, 200_000).unwrap();
    eprintln!("eight-gaussians: test NLL {nll:.3}, true entropy {entropy:.3}");
    // NLL ≥ entropy up to Monte-Carlo error (it is a cross-entropy): a much lower value is a bug.
    assert!(nll > entropy - 0.05, "NLL {nll} below the entropy {entropy}: densities are not normalised");
    assert!(nll < entropy + 0.3, "NLL {nll} not within 0.3 nats of the entropy {entropy}");

    let n = 200;
    let grid = toy::density_grid(&flow, n, -4.0, 4.0).unwrap();
    let cell = (8.0 / n as f64).powi(2);
    let mass: f64 = grid.iter().map(|p| p[2].exp()).sum::<f64>() * cell;
    eprintln!("eight-gaussians: density mass on the grid {mass:.4}");
    assert!((mass - 1.0).abs() < 0.05, "density integrates to {mass}");
}

/// y ~ U(−1, 1); x ∈ R² is one of two tight clusters at ±(2y, 1 + y/2), which move with y. The best Gaussian p(x|y) for each y (moment-matched, the optimum of the expected NLL)
/// has a closed-form NLL; the flow must beat it clearly.
#[test]
fn conditional_flow_beats_best_gaussian_on_condition_dependent_mixture() {
    const STD: f64 = 0.15;
    let centre = |y: f64| [2.0 * y, 1.0 + 0.5 * y];
    let sample = |rng: &mut ChaCha8Rng| -> ([f64; 2], f64) {
        let y: f64 = rng.random_range(-1.0..1.0);
        let sign = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
        let c = centre(y);
        let (a, b): (f64, f64) = (rng.sample(StandardNormal), rng.sample(StandardNormal));
        ([sign * c[0] + STD * a, sign * c[1] + STD * b], y)
    };
    let batch = |rng: &mut ChaCha8Rng, n: usize| -> (Tensor, Tensor) {
        let (xs, ys): (Vec<[f64; 2]>, Vec<f64>) = (0..n).map(|_| sample(rng)).unzip();
        let x = Tensor::from_vec(xs.concat(), (n, 2), &Device::Cpu).unwrap().to_dtype(DType::F32).unwrap();
        let y = Tensor::from_vec(ys, (n, 1), &Device::Cpu).unwrap().to_dtype(DType::F32).unwrap();
        (x, y)
    };
    let cfg = FlowConfig { blocks: 6, channels: 64, noise_std: 0.0, denoise: false, encoder: EncoderConfig { hidden: vec![64, 64], rep: 16, ..EncoderConfig::default() }, ..FlowConfig::gcbc(2, 1) };
    let flow = ConditionalFlow::new(cfg, 1, &Device::Cpu).unwrap();
    let steps = 1500;
    let schedule = WarmupCosine { peak: 2e-3, warmup: 100, total: steps, floor: 1e-5 };
    let mut trainer = Trainer::new(flow.trainable_vars(), schedule, 1e-6).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for _ in 0..steps {
        let (x, y) = batch(&mut rng, 256);
        let loss = flow.nll_loss(&x, Some(&y), &mut rng).unwrap();
        trainer.step(&loss).unwrap();
    }
    let (x, y) = batch(&mut rng, 20_000);
    let nll = -flow.log_prob(&x, Some(&y)).unwrap().mean_all().unwrap().to_scalar::<f32>().unwrap() as f64;

    // Best Gaussian per y: mean 0, covariance c cᵀ + STD² I, so
    // NLL = log(2π) + ½ log det Σ + 1 (= d/2 with d = 2). Averaged over y by quadrature.
    let n = 2000;
    let gauss_nll: f64 = (0..n)
        .map(|i| {
            let y = -1.0 + (i as f64 + 0.5) * 2.0 / n as f64;
            let c = centre(y);
            let (s2, cc) = (STD * STD, c[0] * c[0] + c[1] * c[1]);
            let det = s2 * (s2 + cc);
            (2.0 * std::f64::consts::PI).ln() + 0.5 * det.ln() + 1.0
        })
        .sum::<f64>()
        / n as f64;
    // The true conditional entropy: log 2 + the entropy of one isotropic Gaussian of std STD.
    let true_h = 2f64.ln() + (2.0 * std::f64::consts::PI * std::f64::consts::E * STD * STD).ln();
    eprintln!("conditional mixture: flow NLL {nll:.3}, best Gaussian {gauss_nll:.3}, true entropy {true_h:.3}");
    assert!(nll > true_h - 0.05, "NLL {nll} below the true entropy {true_h}");
    assert!(nll < gauss_nll - 1.0, "flow NLL {nll} does not clearly beat the best Gaussian {gauss_nll}");
}

/// The README's first command works end to end (at a tiny budget) and writes every promised file.
#[test]
fn fit2d_example_writes_its_outputs() {
    let exe = std::env::current_exe().unwrap();
    let example = exe.parent().unwrap().parent().unwrap().join("examples").join("fit2d");
    let out = std::env::temp_dir().join(format!("nf-core-fit2d-{}", std::process::id()));
    let status = std::process::Command::new(&example)
        .args(["--dist", "two-moons", "--steps", "30", "--blocks", "2", "--channels", "16", "--out"])
        .arg(&out)
        .status()
        .unwrap_or_else(|e| panic!("running {}: {e}", example.display()));
    assert!(status.success());
    let density = std::fs::read_to_string(out.join("density.csv")).unwrap();
    assert_eq!(density.lines().next(), Some("x,y,log_prob"));
    assert_eq!(density.lines().count(), 1 + 200 * 200);
    assert_eq!(std::fs::read_to_string(out.join("samples.csv")).unwrap().lines().count(), 1 + 2000);
    let png = std::fs::read(out.join("density.png")).unwrap();
    assert!(png.len() > 10_000 && png.starts_with(b"\x89PNG"), "density.png is not a real PNG");
    let reloaded = ConditionalFlow::load(&out, &Device::Cpu).unwrap();
    assert_eq!(reloaded.config().dim, 2);
    let _ = std::fs::remove_dir_all(&out);
}
