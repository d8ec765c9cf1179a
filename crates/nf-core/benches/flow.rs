//! The hot paths at the paper's NF-GCBC size: obs 29 → encoder 4×512 → rep 64, action 8,
//! 6 blocks × 256 (≈2.1M parameters, ≈3.2 GFLOP per training step at batch 256).
//! `cargo xtask perf` or `cargo bench -p nf-core`.

use candle_core::{Device, Tensor};
use criterion::{criterion_group, criterion_main, Criterion};
use nf_core::optim::{Trainer, WarmupCosine};
use nf_core::{ConditionalFlow, FlowConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const OBS: usize = 29;
const ACT: usize = 8;

fn randn(rng: &mut ChaCha8Rng, b: usize, d: usize) -> Tensor {
    let v: Vec<f32> = (0..b * d).map(|_| rng.sample(StandardNormal)).collect();
    Tensor::from_vec(v, (b, d), &Device::Cpu).unwrap()
}

fn gcbc_flow(denoise: bool) -> ConditionalFlow {
    let cfg = FlowConfig { denoise, ..FlowConfig::gcbc(ACT, OBS) };
    ConditionalFlow::new(cfg, 0, &Device::Cpu).unwrap()
}

fn train_step(c: &mut Criterion) {
    let flow = gcbc_flow(true);
    eprintln!("GCBC-sized flow: {} parameters", flow.num_params());
    let mut trainer = Trainer::new(flow.trainable_vars(), WarmupCosine::default(), 1e-6).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let (x, y) = (randn(&mut rng, 256, ACT), randn(&mut rng, 256, OBS));
    c.bench_function("train_step/gcbc/batch256", |b| {
        b.iter(|| {
            let loss = flow.nll_loss(&x, Some(&y), &mut rng).unwrap();
            trainer.step(&loss).unwrap()
        })
    });
}

fn sampling(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for denoise in [false, true] {
        let flow = gcbc_flow(denoise);
        for batch in [1usize, 256] {
            let y = randn(&mut rng, batch, OBS);
            let name = format!("sample/gcbc/batch{batch}/{}", if denoise { "denoise" } else { "plain" });
            c.bench_function(&name, |b| b.iter(|| flow.sample_action(Some(&y), &mut rng, batch).unwrap()));
        }
    }
    // The hand-fused batch-1 path (`FastSampler`), which `FlowSampler::sample_rows` takes for one row on a CPU.
    for denoise in [false, true] {
        let flow = gcbc_flow(denoise);
        let mut fast = flow.fast_sampler().unwrap();
        let cond: Vec<f32> = (0..OBS).map(|_| rng.sample(StandardNormal)).collect();
        let noise: Vec<f32> = (0..ACT).map(|_| rng.sample(StandardNormal)).collect();
        let mut out = vec![0.0; ACT];
        let name = format!("fast_sample/gcbc/batch1/{}", if denoise { "denoise" } else { "plain" });
        c.bench_function(&name, |b| b.iter(|| fast.sample_action(&cond, &noise, &mut out).unwrap()));
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots().sample_size(20).measurement_time(std::time::Duration::from_secs(8));
    targets = train_step, sampling
}
criterion_main!(benches);
