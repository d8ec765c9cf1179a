//! Agent throughput at the paper's sizes (`cargo bench -p xtask --bench agents`): gradient steps
//! per second at batch 256, and actions per second at batch 1 (the real-time control path), for
//! every agent of the registry at its default (the paper's) config. Dimensions are those of the
//! 29-D / 8-D antmaze the paper's sizes were set for. The gradient steps also time
//! `nf-gcbc-quick`, NF-GCBC as the quick suite's first experiment configures it, on that
//! experiment's task; `cargo xtask perf --compare` sets these beside the same models in JAX.
//! The online group times what one environment step of the online loop costs at the reference's
//! 1024 environments: the environments' step on each online maze, and each online agent's
//! exploration actions for 1024 rows (its SGD step is in the first group).

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
    online(c);
}

/// One step of 1024 environments: the mazes' stepping, then each online agent's exploration
/// actions for 1024 rows of the maze's (x, y) observations and goals.
fn online(c: &mut Criterion) {
    const ENVS: usize = 1024;
    let mut g = c.benchmark_group("online, 1024 environments");
    g.sample_size(10);
    g.throughput(Throughput::Elements(ENVS as u64));
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for maze in ["pointmaze-umaze-online", "pointmaze-bigmaze-online", "pointmaze-hardestmaze-online"] {
        let mut venv = envs::VecEnv::new(maze, ENVS).unwrap();
        let seeds: Vec<u64> = (0..ENVS as u64).collect();
        let actions: Vec<f32> = (0..ENVS * 2).map(|_| rand::Rng::random_range(&mut rng, -1.0..1.0)).collect();
        let all = vec![true; ENVS];
        venv.reset(&seeds, Some(1)).unwrap();
        let mut t = 0;
        g.bench_function(format!("env step/{maze}"), |bch| {
            bch.iter(|| {
                // Episodes last 1000 steps; start new ones as the online loop does.
                t += 1;
                if t % 1000 == 0 {
                    venv.reset(&seeds, Some(1)).unwrap();
                }
                venv.step(&actions, &all).unwrap()
            })
        });
    }
    let task = envs::Task::resolve("pointmaze-umaze-online").unwrap();
    for a in agents::AGENTS {
        let cfg = a.configure(None).unwrap();
        if !matches!(cfg.data_spec(), DataSpec::Online(_)) {
            continue;
        }
        let agent = cfg.build(&mut rl::TrainConfig::default(), task.obs_dim, task.act_dim, 0, &Device::Cpu).unwrap().0;
        let b = batch_of(ENVS, &agent.data_spec(), task.obs_dim, task.act_dim);
        let explorer = agent.explorer().unwrap();
        g.bench_function(format!("explore/{}", a.name()), |bch| bch.iter(|| explorer.explore(&b.observations, &b.goals, ENVS, &mut rng).unwrap()));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
