//! NF-GCBC as a member ensemble: member e sees the batches and noise of the solo run with seed e
//! and its losses follow that run's, step by step; a member whose loss goes non-finite drops out
//! and the others go on unchanged.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use envs::{Batch, GcSampler, GoalConfig, Split};
use nf_algos::{NfGcbc, NfGcbcConfig, NfGcbcMembers};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rl::{Agent, Members, RlError};

const SEEDS: [u64; 3] = [0, 5, 11];
/// The bound the design asks for: 1e-4 relative. On the CPU with one thread the members' losses
/// are measured bitwise equal to the solo runs' (the batched matmul runs the solo gemm per
/// member); the bound leaves room for devices whose batched kernels sum in another order.
const TOL: f64 = 1e-4;

fn cfg() -> NfGcbcConfig {
    NfGcbcConfig { blocks: 2, channels: 32, encoder_hidden: vec![32, 32], rep: 8, lr: 1e-3, warmup: 10, schedule_steps: 100, ..Default::default() }
}

fn sampler() -> GcSampler {
    let data = envs::generate_with("pointmaze-medium-navigate", 0, Split::Train, 40, 1001).unwrap();
    GcSampler::new(data, GoalConfig::geometric(cfg().gamma)).unwrap()
}

fn flat(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap()
}

/// The streams the training loop gives seed `seed` at `step`.
fn stream(seed: u64, step: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(rl::seeds::mix(&[seed, step]))
}

#[test]
fn members_follow_their_solo_runs_for_100_steps() {
    let dev = Device::Cpu;
    let s = sampler();
    let mut ens = NfGcbcMembers::new(&cfg(), 2, 2, &SEEDS, &dev).unwrap();
    let mut solos: Vec<NfGcbc> = SEEDS.iter().map(|&seed| NfGcbc::new(cfg(), 2, 2, seed, &dev).unwrap()).collect();
    let mut batches: Vec<Batch> = SEEDS.iter().map(|_| Batch::default()).collect();
    let live = [true; 3];
    let mut worst = 0f64;
    for step in 0..100 {
        let mut rngs: Vec<ChaCha8Rng> = SEEDS.iter().map(|&seed| stream(seed, step)).collect();
        for (b, r) in batches.iter_mut().zip(rngs.iter_mut()) {
            s.sample_into(64, r, b);
        }
        let got = ens.update(&batches, &mut rngs, &live).unwrap();
        for (e, &seed) in SEEDS.iter().enumerate() {
            let mut r = stream(seed, step);
            let mut b = Batch::default();
            s.sample_into(64, &mut r, &mut b);
            let want = solos[e].update(&b, &mut r).unwrap();
            let got = got[e].as_ref().expect("a live member reports").as_ref().expect("finite");
            let (g, w) = (got[0].1, want[0].1);
            assert_eq!(got[0].0, "nll");
            let err = (g - w).abs() / w.abs().max(1.0);
            worst = worst.max(err);
            assert!(err <= TOL, "step {step}, member {e}: nll {g} vs solo {w}");
        }
    }
    println!("largest relative loss difference over 100 steps × {} members: {worst:e}", SEEDS.len());
    // The members' saved states are their solo runs' (same names, shapes; values to TOL).
    for (e, solo) in solos.iter().enumerate() {
        let (m, s): (HashMap<_, _>, HashMap<_, _>) = (ens.member_state(e).unwrap().into_iter().collect(), solo.state().unwrap().into_iter().collect());
        assert_eq!(m.len(), s.len());
        for (k, t) in &s {
            assert_eq!(m[k].dims(), t.dims(), "{k}");
            let (a, b) = (flat(&m[k]), flat(t));
            let scale = b.iter().fold(1e-3f64, |x, v| x.max(v.abs()));
            let err = a.iter().zip(&b).fold(0f64, |x, (p, q)| x.max((p - q).abs())) / scale;
            assert!(err <= 1e-3, "member {e}: {k} differs by {err:e} (relative to its scale)");
        }
    }
}

/// Member 1's batch turns to NaN at step 3: it reports the non-finite term and drops out; the
/// others' losses still follow their solo runs.
#[test]
fn a_non_finite_member_drops_out_and_the_others_go_on() {
    let dev = Device::Cpu;
    let s = sampler();
    let mut ens = NfGcbcMembers::new(&cfg(), 2, 2, &SEEDS, &dev).unwrap();
    let mut solos: Vec<NfGcbc> = SEEDS.iter().map(|&seed| NfGcbc::new(cfg(), 2, 2, seed, &dev).unwrap()).collect();
    let mut batches: Vec<Batch> = SEEDS.iter().map(|_| Batch::default()).collect();
    let mut live = [true; 3];
    for step in 0..8 {
        let mut rngs: Vec<ChaCha8Rng> = SEEDS.iter().map(|&seed| stream(seed, step)).collect();
        for (b, r) in batches.iter_mut().zip(rngs.iter_mut()) {
            s.sample_into(32, r, b);
        }
        if step == 3 {
            batches[1].actions[0] = f32::NAN;
        }
        let got = ens.update(&batches, &mut rngs, &live).unwrap();
        for (e, &seed) in SEEDS.iter().enumerate() {
            match (&got[e], e, step) {
                (None, 1, 4..) => continue,
                (Some(Err(RlError::NonFinite { term, value, .. })), 1, 3) => {
                    assert_eq!(term, "nll");
                    assert!(value.is_nan());
                    live[1] = false;
                    continue;
                }
                (Some(Ok(m)), _, _) => {
                    let mut r = stream(seed, step);
                    let mut b = Batch::default();
                    s.sample_into(32, &mut r, &mut b);
                    let want = solos[e].update(&b, &mut r).unwrap()[0].1;
                    assert!((m[0].1 - want).abs() <= TOL * want.abs().max(1.0), "step {step}, member {e}: {} vs solo {want}", m[0].1);
                }
                (other, _, _) => panic!("step {step}, member {e}: unexpected {other:?}"),
            }
        }
    }
    assert!(!live[1]);
}
