//! The batch-1 fast path gives the same actions as the batched candle path (same noise draws).

use candle_core::Device;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rl::Agent;

#[test]
fn batch_one_fast_actions_match_the_candle_path() {
    let cfg = nf_algos::NfGcbcConfig { blocks: 3, channels: 32, encoder_hidden: vec![32], rep: 16, lr: 1e-2, warmup: 1, schedule_steps: 30, ..Default::default() };
    let mut agent = nf_algos::NfGcbc::new(cfg, 3, 2, 4, &Device::Cpu).unwrap();
    // A few large steps so the couplings are no longer the identity they start as.
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut v = |k: usize| (0..k).map(|_| rand::Rng::random_range(&mut rng, -1.0f32..1.0)).collect::<Vec<f32>>();
    let batch = envs::Batch { batch: 64, obs_dim: 3, act_dim: 2, observations: v(192), actions: v(128), goals: v(192), ..Default::default() };
    for s in 0..30 {
        agent.update(&batch, &mut ChaCha8Rng::seed_from_u64(s)).unwrap();
    }
    let (obs, goal) = ([0.3f32, -1.2, 2.0], [1.0f32, 0.5, -0.7]);
    for seed in 0..5 {
        let fast = agent.act(&obs, Some(&goal), 1, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap();
        let (obs2, goal2) = ([obs, obs].concat(), [goal, goal].concat());
        let slow = agent.act(&obs2, Some(&goal2), 2, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap();
        for (a, b) in fast.iter().zip(&slow[..2]) {
            assert!((a - b).abs() < 1e-4, "seed {seed}: fast {fast:?} vs candle {:?}", &slow[..2]);
        }
    }
}
