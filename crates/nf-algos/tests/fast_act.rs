//! The three NF agents act the same at batch 1 (nf-core's fused path) and in batches (candle's
//! graph): the same seed gives the same actions, row for row, because the noise is drawn
//! row-major either way.

use candle_core::Device;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rl::Agent;

/// Relative to the actions' scale. These small flows differ by ~1e-7 between the paths; nf-core's
/// `tests/properties.rs` (`SAMPLE_TOL`) bounds the paper-sized presets.
const TOL: f32 = 1e-5;

fn batch(obs: usize, act: usize) -> envs::Batch {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut v = |k: usize| (0..k).map(|_| rng.random_range(-1.0f32..1.0)).collect::<Vec<f32>>();
    let n = 64;
    envs::Batch {
        batch: n,
        obs_dim: obs,
        act_dim: act,
        observations: v(n * obs),
        actions: v(n * act),
        goals: v(n * obs),
        next_observations: v(n * obs),
        rewards: v(n),
        masks: vec![1.0; n],
        ..Default::default()
    }
}

/// A few large steps so the couplings are no longer the identity they start as.
fn trained(mut agent: impl Agent, b: &envs::Batch) -> impl Agent {
    for s in 0..30 {
        agent.update(b, &mut ChaCha8Rng::seed_from_u64(s)).unwrap();
    }
    agent
}

/// `act` on 3 rows at once against `act` on each row alone from the continuing stream.
fn rows_match_single_rows(name: &str, agent: &dyn Agent, obs_w: usize, goal_w: usize, act_w: usize) {
    let rows = 3;
    let mut r = ChaCha8Rng::seed_from_u64(77);
    let obs: Vec<f32> = (0..rows * obs_w).map(|_| r.random_range(-1.5f32..1.5)).collect();
    let goals: Vec<f32> = (0..rows * goal_w).map(|_| r.random_range(-1.5f32..1.5)).collect();
    let goal = |r: usize| (goal_w > 0).then(|| &goals[r * goal_w..(r + 1) * goal_w]);
    for seed in 0..4 {
        let together = agent.act(&obs, (goal_w > 0).then_some(&goals[..]), rows, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let alone: Vec<f32> = (0..rows).flat_map(|r| agent.act(&obs[r * obs_w..(r + 1) * obs_w], goal(r), 1, &mut rng).unwrap()).collect();
        assert_eq!(together.len(), rows * act_w);
        let scale = together.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        let err = alone.iter().zip(&together).fold(0.0f32, |m, (a, b)| m.max((a - b).abs())) / scale;
        assert!(err <= TOL, "{name} seed {seed}: one row at a time {alone:?} vs batched {together:?} (rel. error {err:e})");
        // Different seeds give different actions (the comparison is not between constants).
        let other = agent.act(&obs, (goal_w > 0).then_some(&goals[..]), rows, &mut ChaCha8Rng::seed_from_u64(seed + 100)).unwrap();
        assert_ne!(other, together, "{name}: actions do not depend on the noise");
    }
}

#[test]
fn nf_gcbc_batch_one_matches_the_batched_path() {
    let cfg = nf_algos::NfGcbcConfig { blocks: 3, channels: 32, encoder_hidden: vec![32], rep: 16, lr: 1e-2, warmup: 1, schedule_steps: 30, ..Default::default() };
    let agent = trained(nf_algos::NfGcbc::new(cfg, 3, 2, 4, &Device::Cpu).unwrap(), &batch(3, 2));
    rows_match_single_rows("nf-gcbc", &agent, 3, 3, 2);
}

#[test]
fn nf_rlbc_batch_one_matches_the_batched_path() {
    for temp in [1.0, 0.5] {
        let cfg = nf_algos::NfRlbcConfig { blocks: 3, channels: 32, encoder_hidden: vec![32], rep: 16, critic_hidden: vec![32, 32], lr: 1e-2, action_temperature: temp, ..Default::default() };
        let agent = trained(nf_algos::NfRlbc::new(cfg, 4, 2, 4, &Device::Cpu).unwrap(), &batch(4, 2));
        rows_match_single_rows(&format!("nf-rlbc (temperature {temp})"), &agent, 4, 0, 2);
    }
}

#[test]
fn nf_bc_batch_one_matches_the_batched_path() {
    let cfg =
        nf_algos::NfBcConfig { blocks: 3, channels: 32, encoder_hidden: vec![32], rep: 16, obs_history: 2, action_chunk: 4, execute: 2, lr: 1e-2, warmup: 1, schedule_steps: 30, ..Default::default() };
    let agent = trained(nf_algos::NfBc::new(cfg, 3, 2, 4, &Device::Cpu).unwrap(), &batch(6, 8));
    rows_match_single_rows("nf-bc", &agent, 6, 0, 8);
}

/// After `load_state` the batch-1 path acts with the loaded weights, not a snapshot of the old.
#[test]
fn batch_one_acts_with_loaded_weights() {
    let cfg = nf_algos::NfGcbcConfig { blocks: 3, channels: 32, encoder_hidden: vec![32], rep: 16, lr: 1e-2, warmup: 1, schedule_steps: 30, ..Default::default() };
    let source = trained(nf_algos::NfGcbc::new(cfg.clone(), 3, 2, 4, &Device::Cpu).unwrap(), &batch(3, 2));
    let mut target = nf_algos::NfGcbc::new(cfg, 3, 2, 5, &Device::Cpu).unwrap();
    let (obs, goal) = ([0.3f32, -1.2, 2.0], [1.0f32, 0.5, -0.7]);
    let act = |a: &dyn Agent| a.act(&obs, Some(&goal), 1, &mut ChaCha8Rng::seed_from_u64(3)).unwrap();
    let before = act(&target);
    target.load_state(&source.state().unwrap().into_iter().collect()).unwrap();
    assert_ne!(act(&target), before);
    assert_eq!(act(&target), act(&source));
}
