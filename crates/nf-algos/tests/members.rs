//! NF-GCBC as a member ensemble: a member whose loss goes non-finite drops out and the others go
//! on as their solo runs (`xtask/tests/members.rs` holds every ensemble agent to its solo runs).

use candle_core::Device;
use envs::{Batch, GcSampler, GoalConfig, Split};
use nf_algos::{NfGcbc, NfGcbcConfig};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rl::{Agent, Members, RlError};

const SEEDS: [u64; 3] = [0, 5, 11];
/// The bound the design asks for: 1e-4 relative (on the CPU the losses are bitwise equal).
const TOL: f64 = 1e-4;

fn cfg() -> NfGcbcConfig {
    NfGcbcConfig { blocks: 2, channels: 32, encoder_hidden: vec![32, 32], rep: 8, lr: 1e-3, warmup: 10, schedule_steps: 100, ..Default::default() }
}

fn sampler() -> GcSampler {
    let data = envs::generate_with("pointmaze-medium-navigate", 0, Split::Train, 40, 1001).unwrap();
    GcSampler::new(data, GoalConfig::geometric(cfg().gamma)).unwrap()
}

/// The streams the training loop gives seed `seed` at `step`.
fn stream(seed: u64, step: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(rl::seeds::mix(&[seed, step]))
}

/// Member 1's batch turns to NaN at step 3: it reports the non-finite term and drops out; the
/// others' losses still follow their solo runs.
#[test]
fn a_non_finite_member_drops_out_and_the_others_go_on() {
    let dev = Device::Cpu;
    let s = sampler();
    let mut ens = nf_algos::nf_gcbc::members(&cfg(), 2, 2, &SEEDS, &dev).unwrap();
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
