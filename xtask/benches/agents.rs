//! Agent throughput at the paper's sizes (`cargo bench -p xtask --bench agents`): gradient steps
//! per second at batch 256, and actions per second at batch 1 (the real-time control path).
//! Dimensions are those of the 29-D / 8-D antmaze the paper's sizes were set for.

use candle_core::Device;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use envs::Batch;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rl::Agent;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const OBS: usize = 29;
const ACT: usize = 8;

fn batch(n: usize) -> Batch {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut v = |k: usize, lo: f32, hi: f32| (0..k).map(|_| rng.random_range(lo..hi)).collect::<Vec<f32>>();
    Batch {
        batch: n,
        obs_dim: OBS,
        act_dim: ACT,
        observations: v(n * OBS, -1.0, 1.0),
        actions: v(n * ACT, -1.0, 1.0),
        next_observations: v(n * OBS, -1.0, 1.0),
        next_actions: v(n * ACT, -1.0, 1.0),
        goals: v(n * OBS, -1.0, 1.0),
        rewards: v(n, -1.0, 0.0),
        masks: vec![1.0; n],
        ..Default::default()
    }
}

fn agents() -> Vec<Box<dyn Agent>> {
    let dev = Device::Cpu;
    vec![
        Box::new(nf_algos::NfGcbc::new(Default::default(), OBS, ACT, 0, &dev).unwrap()),
        Box::new(nf_algos::NfRlbc::new(Default::default(), OBS, ACT, 0, &dev).unwrap()),
        Box::new(baselines::Gcbc::new(Default::default(), OBS, ACT, 0, &dev).unwrap()),
        Box::new(baselines::FmGcbc::new(Default::default(), OBS, ACT, 0, &dev).unwrap()),
        Box::new(baselines::Bc::new(Default::default(), OBS, ACT, 0, &dev).unwrap()),
        Box::new(baselines::Rebrac::new(Default::default(), OBS, ACT, 0, &dev).unwrap()),
        Box::new(baselines::Fql::new(Default::default(), OBS, ACT, 0, &dev).unwrap()),
    ]
}

fn bench(c: &mut Criterion) {
    let b256 = batch(256);
    let mut g = c.benchmark_group("gradient step, batch 256");
    g.sample_size(10);
    g.throughput(Throughput::Elements(1));
    for mut agent in agents() {
        let name = agent.name().to_string();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        g.bench_function(&name, |bch| bch.iter(|| agent.update(&b256, &mut rng).unwrap()));
    }
    g.finish();
    let one = batch(1);
    let mut g = c.benchmark_group("act, batch 1");
    g.throughput(Throughput::Elements(1));
    for agent in agents() {
        let name = agent.name().to_string();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        g.bench_function(&name, |bch| bch.iter(|| agent.act(&one.observations, Some(&one.goals), 1, &mut rng).unwrap()));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
