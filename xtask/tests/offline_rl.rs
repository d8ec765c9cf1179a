//! NF-RLBC at CI scale: it beats BC on a singletask puzzle on the same budget, its critic learns
//! a maze's value ordering, and the λ (MaxEnt) term does what it claims.

use std::path::PathBuf;

use candle_core::Device;
use envs::{Split, TransitionSampler};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rl::Agent;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TASK: &str = "pointmaze-medium-navigate-singletask-task3";

fn tiny(lambda: f64) -> nf_algos::NfRlbcConfig {
    nf_algos::NfRlbcConfig { blocks: 2, channels: 32, encoder_hidden: vec![64], rep: 16, critic_hidden: vec![128, 128], lr: 1e-3, discount: 0.95, tau: 0.05, alpha: 1.0, lambda, ..Default::default() }
}

fn sampler() -> TransitionSampler {
    let ds = envs::generate_with(TASK, 0, Split::Train, 100, 1001).unwrap();
    let (r, m) = envs::singletask_rewards(&envs::Task::resolve(TASK).unwrap(), &ds).unwrap();
    TransitionSampler::new(ds).unwrap().with_rewards(r, m).unwrap()
}

fn run(agent: &mut nf_algos::NfRlbc, s: &TransitionSampler, steps: usize) -> Vec<(String, f64)> {
    let mut last = Vec::new();
    let mut sums: Vec<f64> = Vec::new();
    for step in 0..steps {
        let mut rng = ChaCha8Rng::seed_from_u64(step as u64);
        let b = s.sample_transitions(128, &mut rng);
        let m = agent.update(&b, &mut rng).unwrap();
        if step >= steps - 100 {
            if sums.is_empty() {
                sums = vec![0.0; m.len()];
            }
            for (acc, (_, v)) in sums.iter_mut().zip(&m) {
                *acc += v / 100.0;
            }
        }
        last = m;
    }
    last.into_iter().zip(sums).map(|((k, _), v)| (k, v)).collect()
}

fn metric(m: &[(String, f64)], k: &str) -> f64 {
    m.iter().find(|(n, _)| n == k).unwrap().1
}

#[test]
fn the_critic_values_states_near_the_goal_above_far_ones() {
    let s = sampler();
    let mut agent = nf_algos::NfRlbc::new(tiny(0.0), 2, 2, 0, &Device::Cpu).unwrap();
    let m = run(&mut agent, &s, 1500);
    println!("after 1500 steps: {m:?}");
    // Goal of task 3: cell (4,2) → (4, 12). Near: 1.5 from it; far: the opposite corner (6,6).
    let near = [4.0f32, 10.5];
    let far = [20.0f32, 20.0];
    let (qn, qf) = (agent.q_value(&near, &[0.0, 0.0]).unwrap(), agent.q_value(&far, &[0.0, 0.0]).unwrap());
    println!("Q(near) = {qn:.2}, Q(far) = {qf:.2}");
    assert!(qn > qf + 1.0, "critic did not learn the value ordering: Q(near) {qn} vs Q(far) {qf}");
    assert!(metric(&m, "critic_loss").is_finite());
}

#[test]
fn a_positive_lambda_raises_the_policy_entropy() {
    let s = sampler();
    let mut plain = nf_algos::NfRlbc::new(tiny(0.0), 2, 2, 0, &Device::Cpu).unwrap();
    let mut maxent = nf_algos::NfRlbc::new(tiny(1.0), 2, 2, 0, &Device::Cpu).unwrap();
    let (a, b) = (run(&mut plain, &s, 400), run(&mut maxent, &s, 400));
    let (la, lb) = (metric(&a, "log_pi"), metric(&b, "log_pi"));
    println!("mean log π(a_π|s) over the last 100 steps: λ=0 {la:.3}, λ=1 {lb:.3}");
    assert!(lb < la - 0.2, "λ = 1 did not lower log π (raise entropy): {lb} vs {la}");
}

/// The paper's offline-RL claim at CI scale: on `kinpuzzle-3x3-play-singletask-task1` (Lights-Out
/// from all-off to 110/101/011: press two opposite corners; dense reward = #matched − 9) NF-RLBC
/// reaches the goal and BC, trained on the same play data for the same steps, does not: the play
/// data presses random buttons, so imitating it alone solves the task only by chance.
/// Both go through `rl::train` with the runner's protocol; each keeps its best evaluation (the
/// paper's NF-BC code keeps the best-eval checkpoint too). Measured when written: NF-RLBC best
/// 0.30 (final 0.30), BC 0.00 at every evaluation.
#[test]
fn nf_rlbc_beats_bc_on_a_singletask_puzzle_on_the_same_budget() {
    const PUZZLE: &str = "kinpuzzle-3x3-play-singletask-task1";
    let steps = 15_000;
    let cfg = rl::TrainConfig { steps, batch_size: 256, eval_every: 3_000, eval_episodes: 20, seed: 0 };
    let data = || envs::generate(PUZZLE, 0, Split::Train).unwrap();
    let dir = |n: &str| -> PathBuf {
        let d = std::env::temp_dir().join(format!("nf-rl-offline-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    };
    let dev = Device::Cpu;
    // Small networks; otherwise the paper's recipe (α = 10 for puzzle, Table 6) at γ 0.99.
    let nf_cfg = nf_algos::NfRlbcConfig {
        blocks: 4,
        channels: 64,
        encoder_hidden: vec![128, 128],
        rep: 32,
        critic_hidden: vec![256, 256],
        lr: 3e-4,
        discount: 0.99,
        tau: 0.005,
        alpha: 10.0,
        ..Default::default()
    };
    let mut nf = nf_algos::NfRlbc::new(nf_cfg, 32, 5, 0, &dev).unwrap();
    let nf_s = rl::train(&mut nf, &envs::Task::resolve(PUZZLE).unwrap(), data(), &cfg, &dir("nf-rlbc"), &mut |_| {}).unwrap();
    let bc_cfg = baselines::BcConfig { hidden: vec![256, 256], lr: 1e-3, ..Default::default() };
    let mut bc = baselines::Bc::new(bc_cfg, 32, 5, 0, &dev).unwrap();
    let bc_s = rl::train(&mut bc, &envs::Task::resolve(PUZZLE).unwrap(), data(), &cfg, &dir("bc"), &mut |_| {}).unwrap();
    println!(
        "{PUZZLE}, {steps} steps, 20 episodes per evaluation: NF-RLBC best {:.2} (final {:.2}, return {:.0}), BC best {:.2} (final {:.2}, return {:.0})",
        nf_s.best_score, nf_s.final_eval.success, nf_s.final_eval.ret, bc_s.best_score, bc_s.final_eval.success, bc_s.final_eval.ret
    );
    assert!(nf_s.best_score >= bc_s.best_score + 0.1, "NF-RLBC {} did not beat BC {}", nf_s.best_score, bc_s.best_score);
}
