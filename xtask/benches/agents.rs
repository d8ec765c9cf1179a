//! Agent throughput at the paper's sizes (`cargo bench -p xtask --bench agents`): gradient steps
//! per second at batch 256, and actions per second at batch 1 (the real-time control path), for
//! every agent of the registry at its default (the paper's) config. Dimensions are those of the
//! 29-D / 8-D antmaze the paper's sizes were set for. The gradient steps also time
//! `nf-gcbc-quick`, NF-GCBC as the quick suite's first experiment configures it, on that
//! experiment's task; `cargo xtask perf --compare` sets these beside the same models in JAX.

use candle_core::Device;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use envs::Batch;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rl::{Agent, DataSpec};

// The registry itself (xtask is a binary crate, so the bench includes the module).
#[allow(dead_code)]
#[path = "../src/agents.rs"]
mod agents;
// Its unit tests compile here too (clippy --all-targets) but run only in the binary.
#[allow(dead_code, unused_imports)]
#[path = "../src/perf.rs"]
mod perf;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const OBS: usize = 29;
const ACT: usize = 8;

/// A batch of `obs_dim`-D observations and goals and `act_dim`-D actions, shaped for `spec`
/// (the same seeded noise for every agent).
fn batch_of(n: usize, spec: &DataSpec, obs_dim: usize, act_dim: usize) -> Batch {
    rl::synthetic_batch(n, obs_dim, act_dim, spec, &mut ChaCha8Rng::seed_from_u64(0))
}

/// A batch at the paper's sizes.
fn batch(n: usize, spec: &DataSpec) -> Batch {
    batch_of(n, spec, OBS, ACT)
}

/// Every registered agent at its default config (the budget a paper run would give it).
fn agents() -> Vec<Box<dyn Agent>> {
    agents::AGENTS
        .iter()
        .map(|a| {
            let cfg = a.configure(None).unwrap();
            cfg.build(&mut rl::TrainConfig::default(), OBS, ACT, 0, &Device::Cpu).unwrap().0
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group(perf::GROUP);
    g.sample_size(10);
    g.throughput(Throughput::Elements(1));
    for mut agent in agents() {
        let name = agent.name().to_string();
        let b256 = batch(256, &agent.data_spec());
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        g.bench_function(&name, |bch| bch.iter(|| agent.update(&b256, &mut rng).unwrap()));
    }
    let quick = perf::quick_nf_gcbc(&perf::repo_root().join(perf::QUICK_SUITE)).unwrap();
    let (obs, act) = (quick.task.obs_dim, quick.task.act_dim);
    let mut train = quick.train;
    let mut agent = quick.config.build(&mut train, obs, act, 0, &Device::Cpu).unwrap().0;
    let b256 = batch_of(256, &agent.data_spec(), obs, act);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    g.bench_function(perf::QUICK_NF_GCBC, |bch| bch.iter(|| agent.update(&b256, &mut rng).unwrap()));
    g.finish();
    let mut g = c.benchmark_group("act, batch 1");
    g.throughput(Throughput::Elements(1));
    for agent in agents() {
        let name = agent.name().to_string();
        let one = batch(1, &agent.data_spec());
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        g.bench_function(&name, |bch| bch.iter(|| agent.act(&one.observations, Some(&one.goals), 1, &mut rng).unwrap()));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
