//! Where one NF-GCBC training step's time goes: forward, backward and optimiser, with the number
//! of graph nodes the step builds, at the paper's size and at the quick suite's. Run with one
//! thread, as the runner runs each job:
//! `RAYON_NUM_THREADS=1 cargo run --release -p nf-core --example step_profile -- [paper|quick] [steps] [batch] [members] [cpu|cuda]`.
//! The perf benchmarks (`cargo xtask perf`) hold the targets; this example is for profiling
//! (e.g. under `perf record`), and for the op counts of a change.

use std::time::Instant;

use candle_core::{Device, Tensor};
use nf_core::optim::{Trainer, WarmupCosine};
use nf_core::{ConditionalFlow, EncoderConfig, FlowConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn randn(rng: &mut ChaCha8Rng, b: usize, d: usize) -> Tensor {
    let v: Vec<f32> = (0..b * d).map(|_| rng.sample(StandardNormal)).collect();
    Tensor::from_vec(v, (b, d), &Device::Cpu).unwrap()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let size = std::env::args().nth(1).unwrap_or_else(|| "paper".into());
    let steps: usize = std::env::args().nth(2).map(|s| s.parse().expect("steps: a whole number")).unwrap_or(20);
    let batch: usize = std::env::args().nth(3).map(|s| s.parse().expect("batch: a whole number")).unwrap_or(256);
    // Members: 1 is a solo flow; E > 1 an ensemble of E members, each with its own batch.
    let members: usize = std::env::args().nth(4).map(|s| s.parse().expect("members: a whole number")).unwrap_or(1);
    // `cuda` (a `--features cuda` build) times the step on GPU 0; the default is the CPU.
    let dev = match std::env::args().nth(5).as_deref() {
        None | Some("cpu") => Device::Cpu,
        Some("cuda") => Device::new_cuda(0).expect("GPU 0 (build with `--features cuda`)"),
        Some(other) => panic!("device `{other}`: expected `cpu` or `cuda`"),
    };
    // Paper: obs 29 and a goal → condition 58, action 8 (NF-GCBC's defaults). Quick: the quick
    // suite's NF-GCBC on pointmaze-medium-navigate (2-D position and goal → condition 4, action 2).
    let (cond, act, cfg) = match size.as_str() {
        "paper" => (58, 8, FlowConfig::gcbc(8, 58)),
        "quick" => (4, 2, FlowConfig { blocks: 4, channels: 64, encoder: EncoderConfig { hidden: vec![128, 128], rep: 32, ..EncoderConfig::default() }, ..FlowConfig::gcbc(2, 4) }),
        other => panic!("size `{other}`: expected `paper` or `quick`"),
    };
    let seeds: Vec<u64> = (0..members as u64).collect();
    let flow = if members > 1 { ConditionalFlow::members(cfg, &seeds, &dev).unwrap() } else { ConditionalFlow::new(cfg, 0, &dev).unwrap() };
    let mut trainer = Trainer::new(flow.trainable_vars(), WarmupCosine::default(), 1e-6).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let (x, y) = (randn(&mut rng, members * batch, act), randn(&mut rng, members * batch, cond));
    let (x, y) = if members > 1 { (x.reshape((members, batch, act)).unwrap(), y.reshape((members, batch, cond)).unwrap()) } else { (x, y) };
    let (x, y) = (x.to_device(&dev).unwrap(), y.to_device(&dev).unwrap());
    let mut rngs: Vec<ChaCha8Rng> = seeds.iter().map(|&s| ChaCha8Rng::seed_from_u64(s)).collect();
    let (mut fwd, mut bwd, mut opt) = (vec![], vec![], vec![]);
    let mut nodes = 0;
    for i in 0..steps + 3 {
        let t0 = Instant::now();
        let loss = if members > 1 { flow.member_nll_losses(&x, Some(&y), &mut rngs).unwrap().sum_all().unwrap() } else { flow.nll_loss(&x, Some(&y), &mut rng).unwrap() };
        let _ = loss.to_scalar::<f32>().unwrap();
        let t1 = Instant::now();
        let grads = loss.backward().unwrap();
        // A GPU runs asynchronously: wait for each phase before reading the clock.
        dev.synchronize().unwrap();
        let t2 = Instant::now();
        trainer.optimizer_mut().step(&grads).unwrap();
        dev.synchronize().unwrap();
        let t3 = Instant::now();
        nodes = loss.sorted_nodes().len();
        if i >= 3 {
            fwd.push((t1 - t0).as_secs_f64() * 1e3);
            bwd.push((t2 - t1).as_secs_f64() * 1e3);
            opt.push((t3 - t2).as_secs_f64() * 1e3);
        }
    }
    let (f, b, o) = (median(fwd), median(bwd), median(opt));
    println!("{size} × {members} members of batch {batch}: {} parameters, {nodes} graph nodes; median ms: forward {f:.2}, backward {b:.2}, optimiser {o:.2}, step {:.2}", flow.num_params(), f + b + o);
}
