//! Env stepping and dataset generation throughput (`cargo bench -p envs`).
//! Target from the native-tasks issue: pointmaze stepping at ≥ 10M steps/s per core.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use envs::maze::Layout;
use envs::pointmaze::{Dynamics, MazeEnv, Mode};
use envs::soccer::{SoccerEnv, SoccerExpert};
use envs::{Env, Split, VecEnv};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn actions(n: usize) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
}

fn stepping(c: &mut Criterion) {
    let acts = actions(2 * 4096);
    let mut g = c.benchmark_group("pointmaze-large");
    g.throughput(Throughput::Elements(4096));
    g.bench_function("advance x4096 (dynamics only)", |b| {
        let mut env = MazeEnv::new("pointmaze-large-navigate", Layout::Large, Dynamics::Point, Mode::Ogbench { singletask: None });
        env.reset(0).unwrap();
        b.iter(|| {
            for a in acts.chunks_exact(2) {
                env.advance([a[0], a[1]]);
            }
            black_box(env.pos())
        })
    });
    g.throughput(Throughput::Elements(999));
    g.bench_function("step_into x999 (checks, reward, time limit)", |b| {
        let mut env = MazeEnv::new("pointmaze-large-navigate", Layout::Large, Dynamics::Point, Mode::Ogbench { singletask: None });
        let mut obs = [0.0f32; 2];
        b.iter(|| {
            // Task 1's goal is far away, so no episode ends within 999 steps.
            env.reset_into(1, Some(1), &mut obs).unwrap();
            for a in acts.chunks_exact(2).take(999) {
                black_box(env.step_into(a, &mut obs).unwrap());
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("vecenv");
    let n = 1024;
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("pointmaze-large 1024 envs, one step", |b| {
        let mut venv = VecEnv::new("pointmaze-large-navigate", n).unwrap();
        let seeds: Vec<u64> = (0..n as u64).collect();
        let acts = actions(2 * n);
        let mut active = vec![true; n];
        let mut t = 0;
        venv.reset(&seeds, Some(1)).unwrap();
        b.iter(|| {
            t += 1;
            if t % 900 == 0 {
                venv.reset(&seeds, Some(1)).unwrap();
                active.fill(true);
            }
            venv.step(&acts, &active).unwrap();
            // A constant push can slide an env into its goal; skip it until the next reset.
            for (on, tr) in active.iter_mut().zip(venv.transitions()) {
                *on &= !(tr.terminated || tr.truncated);
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("kincube-double");
    g.throughput(Throughput::Elements(500));
    g.bench_function("step_into x500 (random actions, grasp/contact rules, reward)", |b| {
        let mut env = envs::cube::CubeEnv::new("kincube-double-play", 2, None);
        let mut obs = vec![0.0f32; env.observation_spec().dim()];
        let acts = actions(5 * 500);
        b.iter(|| {
            // Random actions do not solve task 4 (swap) within its 500 steps.
            env.reset_into(1, Some(4), &mut obs).unwrap();
            for a in acts.chunks_exact(5) {
                std::hint::black_box(env.step_into(a, &mut obs).unwrap());
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("kinscene");
    g.throughput(Throughput::Elements(750));
    g.bench_function("step_into x750 (random actions, fixtures, locks, buttons, reward)", |b| {
        let mut env = envs::scene::SceneEnv::new("kinscene-play", None);
        let mut obs = vec![0.0f32; env.observation_spec().dim()];
        let acts = actions(5 * 750);
        b.iter(|| {
            // Random actions do not solve task 5 within its 750 steps.
            env.reset_into(1, Some(5), &mut obs).unwrap();
            for a in acts.chunks_exact(5) {
                std::hint::black_box(env.step_into(a, &mut obs).unwrap());
            }
        })
    });
    g.finish();
}

fn soccer(c: &mut Criterion) {
    let acts = actions(2 * 4096);
    let mut g = c.benchmark_group("pointsoccer-arena");
    g.throughput(Throughput::Elements(4096));
    g.bench_function("advance x4096 (dynamics only)", |b| {
        let mut env = SoccerEnv::new("pointsoccer-arena-navigate", None);
        env.reset(0).unwrap();
        b.iter(|| {
            // Half the steps chase the ball, so contacts are frequent.
            for (k, a) in acts.chunks_exact(2).enumerate() {
                let a = if k % 64 < 32 {
                    let (p, q) = (env.agent(), env.ball());
                    [q[0] - p[0] + a[0], q[1] - p[1] + a[1]]
                } else {
                    [a[0], a[1]]
                };
                env.advance(a);
            }
            black_box(env.ball())
        })
    });
    g.throughput(Throughput::Elements(999));
    g.bench_function("expert + step_into x999 (noiseless, task 4)", |b| {
        let mut env = SoccerEnv::new("pointsoccer-arena-navigate", None);
        let mut obs = [0.0f32; 6];
        b.iter(|| {
            env.reset_into(3, Some(4), &mut obs).unwrap();
            let expert = SoccerExpert { goal: env.goal_xy() };
            let mut n = 0;
            for _ in 0..999 {
                let a = expert.clean_action(&env);
                n += 1;
                let t = env.step_into(&a, &mut obs).unwrap();
                if t.terminated || t.truncated {
                    env.reset_into(3, Some(4), &mut obs).unwrap();
                }
            }
            black_box(n)
        })
    });
    g.finish();
    let mut g = c.benchmark_group("datasets");
    g.sample_size(10);
    g.throughput(Throughput::Elements(10_010));
    g.bench_function("pointsoccer-arena-navigate, 10 episodes × 1001 rows", |b| b.iter(|| black_box(envs::generate_with("pointsoccer-arena-navigate", 0, Split::Train, 10, 1001).unwrap())));
    g.finish();
}

/// The imitation tasks: env steps with random actions (no episode ends: random actions do not
/// finish either task within the limit), and generating 10 demos.
fn imitation(c: &mut Criterion) {
    let acts = actions(2 * 1000);
    let mut g = c.benchmark_group("imitation");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("multigoal4 step_into x1000 (random actions)", |b| {
        let mut env = envs::multigoal::MultiGoalEnv::new("multigoal4");
        let mut obs = [0.0f32; 4];
        b.iter(|| {
            env.reset_into(1, None, &mut obs).unwrap();
            for a in acts.chunks_exact(2) {
                black_box(env.step_into(a, &mut obs).unwrap());
            }
        })
    });
    g.throughput(Throughput::Elements(500));
    g.bench_function("blockpush2 step_into x500 (random actions, contacts)", |b| {
        let mut env = envs::blockpush::BlockPushEnv::new("blockpush2");
        let mut obs = [0.0f32; 6];
        b.iter(|| {
            env.reset_into(1, None, &mut obs).unwrap();
            for a in acts.chunks_exact(2).take(500) {
                black_box(env.step_into(a, &mut obs).unwrap());
            }
        })
    });
    g.finish();
    let mut g = c.benchmark_group("datasets");
    g.sample_size(10);
    for task in ["multigoal4", "blockpush2"] {
        let cap = envs::meta(task).unwrap().recipe.unwrap().episode_len;
        g.bench_function(format!("{task} 10 demos"), |b| b.iter(|| black_box(envs::generate_with(task, 0, Split::Train, 10, cap).unwrap())));
    }
    g.finish();
}

fn generation(c: &mut Criterion) {
    let mut g = c.benchmark_group("datasets");
    g.sample_size(10);
    g.throughput(Throughput::Elements(1_001_000));
    g.bench_function("pointmaze-large-navigate train split (1000 × 1001 rows)", |b| b.iter(|| black_box(envs::generate("pointmaze-large-navigate", 0, Split::Train).unwrap())));
    g.throughput(Throughput::Elements(10_010));
    for task in ["kincube-single-play", "kincube-double-play", "kinscene-play"] {
        g.bench_function(format!("{task} 10 episodes (10 × 1001 rows)"), |b| b.iter(|| std::hint::black_box(envs::generate_with(task, 0, Split::Train, 10, 1001).unwrap())));
    }
    g.finish();
}

/// Storage and sampling: save / load / sha256 of a full 1M-row dataset, and one 256-row
/// goal-conditioned batch (these were timed tests once; speed belongs here).
fn storage(c: &mut Criterion) {
    let ds = envs::generate("pointmaze-large-navigate", 0, Split::Train).unwrap();
    let dir = std::env::temp_dir().join(format!("nf-rl-bench-storage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("pointmaze-large-navigate.npz");
    let mut g = c.benchmark_group("storage");
    g.sample_size(10);
    g.throughput(Throughput::Elements(ds.len() as u64));
    g.bench_function("save_npz (1000 × 1001 rows)", |b| b.iter(|| ds.save_npz(&path).unwrap()));
    g.bench_function("load_npz (1000 × 1001 rows)", |b| b.iter(|| black_box(envs::Dataset::load_npz(&path).unwrap())));
    g.bench_function("sha256 of the file", |b| b.iter(|| black_box(envs::manifest::sha256_file(&path).unwrap())));
    g.finish();
    let s = envs::GcSampler::new(ds, envs::GoalConfig::geometric(0.99)).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut batch = envs::Batch::default();
    c.bench_function("GcSampler::sample_into(256)", |b| b.iter(|| s.sample_into(256, &mut rng, &mut batch)));
    let _ = std::fs::remove_dir_all(&dir);
}

fn kitchen(c: &mut Criterion) {
    let mut g = c.benchmark_group("kitchen2d");
    g.throughput(Throughput::Elements(280));
    g.bench_function("step_into x280 (random actions, contacts, score)", |b| {
        let mut env = envs::kitchen::KitchenEnv::new();
        let mut obs = [0.0f32; envs::kitchen::OBS_DIM];
        let acts = actions(2 * 280);
        b.iter(|| {
            // Random actions never complete 4 sub-tasks, so every episode runs to the limit.
            env.reset_into(1, None, &mut obs).unwrap();
            for a in acts.chunks_exact(2) {
                black_box(env.step_into(a, &mut obs).unwrap());
            }
        })
    });
    g.finish();
    let mut g = c.benchmark_group("datasets");
    g.sample_size(10);
    g.bench_function("kitchen2d, 10 demos (≤ 281 rows each)", |b| b.iter(|| black_box(envs::generate_with("kitchen2d", 0, Split::Train, 10, 281).unwrap())));
    g.finish();
}

/// PushT: the target is ≥ 10 000 control steps/s per core, each 10 rapier substeps.
fn pusht(c: &mut Criterion) {
    let mut g = c.benchmark_group("pusht");
    g.throughput(Throughput::Elements(300));
    g.bench_function("step_into x300 (random targets, 10 substeps each, coverage)", |b| {
        let mut env = envs::pusht::PushTEnv::new("pusht");
        let mut obs = [0.0f32; 5];
        let acts: Vec<f32> = actions(600).iter().map(|a| 256.0 + 256.0 * a).collect();
        let mut seed = 0;
        b.iter(|| {
            seed += 1;
            env.reset_into(seed, None, &mut obs).unwrap();
            for a in acts.chunks_exact(2) {
                let t = env.step_into(a, &mut obs).unwrap();
                if t.terminated || t.truncated {
                    break;
                }
            }
            black_box(obs)
        })
    });
    g.finish();
    let mut g = c.benchmark_group("datasets");
    g.sample_size(10);
    g.bench_function("pusht 10 demos (≤ 300 rows each)", |b| b.iter(|| black_box(envs::generate_with("pusht", 0, Split::Train, 10, 300).unwrap())));
    g.finish();
}

criterion_group!(benches, stepping, soccer, imitation, kitchen, pusht, generation, storage);
criterion_main!(benches);
