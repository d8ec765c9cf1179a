//! Properties of the PushT replica: exact coverage, quasi-static contacts, the scripted expert,
//! its modes, datasets, determinism, errors.

use envs::datagen::episode_seed;
use envs::pusht::{
    coverage, demo_episode, outline, overlap_area, t_contains, t_signed_distance, Order, PushTEnv, PushTExpert, PushTMode, Turn, AGENT_RADIUS, GOAL_POSE, SUCCESS_COVERAGE, T_AREA, WALL_HI, WALL_LO,
};
use envs::{make, meta, Env, EnvError, GoalEnv, Split};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const NAME: &str = "pusht";

fn recipe() -> envs::DatasetRecipe {
    meta(NAME).unwrap().recipe.unwrap()
}

#[test]
fn coverage_is_exact_against_monte_carlo_and_known_cases() {
    assert!((coverage(GOAL_POSE) - 1.0).abs() < 1e-5, "identical pose: {}", coverage(GOAL_POSE));
    assert_eq!(coverage([50.0, 50.0, 0.3]), 0.0);
    // A half-turn about the origin keeps only the crossbar's overlap with itself... of nothing:
    // the flipped crossbar lies on y ∈ [−30, 0] in the goal's frame, touching along an edge.
    let flipped = [GOAL_POSE[0], GOAL_POSE[1], GOAL_POSE[2] + std::f32::consts::PI];
    assert!(coverage(flipped) < 1e-4, "{}", coverage(flipped));
    // Shifted along the goal's body x by 10: the crossbar loses 10×30, the stem 10×90.
    let (s, c) = GOAL_POSE[2].sin_cos();
    let shifted = [GOAL_POSE[0] + 10.0 * c, GOAL_POSE[1] + 10.0 * s, GOAL_POSE[2]];
    assert!((overlap_area(shifted, GOAL_POSE) - (T_AREA - 300.0 - 900.0)).abs() < 0.5, "{}", overlap_area(shifted, GOAL_POSE));

    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let (lo, hi) = (GOAL_POSE[0] - 130.0, GOAL_POSE[0] + 130.0);
    for k in 0..6 {
        let pose = [GOAL_POSE[0] + rng.random_range(-40.0f32..40.0), GOAL_POSE[1] + rng.random_range(-40.0f32..40.0), GOAL_POSE[2] + rng.random_range(-1.0f32..1.0)];
        let exact = overlap_area(pose, GOAL_POSE);
        let n = 1_000_000;
        let hits = (0..n)
            .filter(|_| {
                let p = [rng.random_range(lo..hi), rng.random_range(lo..hi)];
                t_contains(GOAL_POSE, p) && t_contains(pose, p)
            })
            .count();
        let mc = hits as f32 / n as f32 * (hi - lo) * (hi - lo);
        println!("pose {k} {pose:?}: exact {exact:.1}, Monte-Carlo {mc:.1}");
        assert!((exact - mc).abs() < 0.01 * T_AREA, "pose {pose:?}: exact {exact} vs Monte-Carlo {mc}");
        assert!((overlap_area(GOAL_POSE, pose) - exact).abs() < 0.05, "overlap is not symmetric");
    }
}

/// Runs the expert on `seeds` resets (modes cycling); returns the successes and the episode lengths.
fn expert_success(noise: f32, seeds: u64) -> (usize, Vec<usize>) {
    let mut env = make(NAME).unwrap();
    let mut pusht = PushTEnv::new(NAME);
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut obs = vec![0.0; 5];
    let mut lens = Vec::new();
    let mut wins = 0;
    for seed in 0..seeds {
        env.reset_into(seed, None, &mut obs).unwrap();
        pusht.reset_into(seed, Some(1), &mut obs).unwrap();
        let mut expert = PushTExpert::new(PushTMode::ALL[seed as usize % 4]);
        for t in 0.. {
            let a = expert.noisy_action(&pusht, noise, &mut rng);
            // The boxed registry env and the concrete one agree step by step.
            let tr = env.step_into(&a, &mut obs).unwrap();
            let tc = pusht.step(&a).unwrap();
            assert_eq!(tc.obs, obs, "seed {seed} step {t}: the registry env diverged");
            assert_eq!(tr.info.score, pusht.coverage());
            assert_eq!(tr.reward, (pusht.coverage() / SUCCESS_COVERAGE).clamp(0.0, 1.0));
            if tr.terminated || tr.truncated {
                assert_eq!(tr.terminated, tr.info.success);
                assert_eq!(tr.info.success, pusht.coverage() > SUCCESS_COVERAGE);
                wins += tr.info.success as usize;
                lens.push(t + 1);
                break;
            }
        }
    }
    (wins, lens)
}

/// Measured: 200 of 200 noiseless episodes reach coverage > 0.95 within 300 steps (median 113
/// steps, longest 240).
#[test]
fn noiseless_expert_reaches_the_top_score() {
    let (wins, mut lens) = expert_success(0.0, 200);
    lens.sort();
    println!("{NAME}: noiseless expert {wins}/200, median length {}, longest {}", lens[100], lens[199]);
    assert!(wins >= 190, "noiseless expert below 95 %: {wins}/200");
}

/// With the recipe's noise (N(0, 10²) px on the target) the expert measured 194/200 (seeds
/// 0..200); the floor, 90 %, catches a broken expert without pinning the details.
#[test]
fn noisy_expert_success_rate() {
    let (wins, _) = expert_success(recipe().noise, 200);
    println!("{NAME}: noise-{} expert {wins}/200", recipe().noise);
    assert!(wins >= 180, "noisy expert below 90 %: {wins}/200");
}

#[test]
fn contacts_are_quasi_static_and_never_penetrate_far() {
    let mut env = PushTEnv::new(NAME);
    // Agent left of a T lying flat (crossbar along x at y ∈ [200, 230], stem up to y = 320),
    // pushing the stem's left face (x = 185) right, on the line through the centre of gravity
    // (y = 245).
    env.set_state([100.0, 245.0], [0.0; 2], [200.0, 200.0, 0.0]);
    let before = env.block_pose();
    for _ in 0..5 {
        env.advance([100.0, 245.0]);
    }
    assert_eq!(env.block_pose(), before, "an untouched T moved");
    for _ in 0..15 {
        env.advance([200.0, 245.0]);
    }
    let after = env.block_pose();
    let agent = env.agent();
    // The agent stops at 200: the stem's face (x − 15) follows it to ≈ 200 + 15.
    assert!((after[0] - 15.0 - (agent[0] + AGENT_RADIUS)).abs() < 1.0, "T at {after:?}, agent at {agent:?}");
    assert!(after[0] > 225.0, "T at {after:?}");
    assert!(after[2].abs() < 0.02 && (after[1] - 200.0).abs() < 1.0, "a push through the centre of gravity turned or lifted the T: {after:?}");
    // The T stops as soon as the agent does (pymunk's damping 0).
    let held = env.block_pose();
    env.advance(agent);
    assert!((env.block_pose()[0] - held[0]).abs() < 0.5, "the T coasts");

    // Random pushing: the T stays (nearly) inside the walls and the agent never sinks far into it.
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut obs = [0.0f32; 5];
    let (mut deepest, mut deepest_fast, mut touching, mut moved, mut wall_depth) = (0.0f32, 0.0f32, 0usize, 0.0f32, 0.0f32);
    for ep in 0..40u64 {
        env.reset_into(ep, None, &mut obs).unwrap();
        let start = env.block_pose();
        for _ in 0..150 {
            // Aim near the T's centre now and then so contacts are frequent.
            let b = env.block_pose();
            let a = if rng.random::<f32>() < 0.6 {
                [b[0] + rng.random_range(-60.0f32..60.0), b[1] + rng.random_range(-60.0f32..60.0)]
            } else {
                [rng.random_range(0.0f32..512.0), rng.random_range(0.0f32..512.0)]
            };
            env.advance(a);
            let pose = env.block_pose();
            for v in outline(pose) {
                wall_depth = v.iter().fold(wall_depth, |d, &x| d.max(WALL_LO - x).max(x - WALL_HI));
            }
            let d = t_signed_distance(pose, env.agent()).1;
            let near_wall = outline(pose).iter().any(|v| v.iter().any(|&x| !(WALL_LO + 30.0..=WALL_HI - 30.0).contains(&x)));
            let v = env.agent_vel();
            if !near_wall {
                deepest_fast = deepest_fast.max(AGENT_RADIUS - d);
            }
            // At the expert's speeds (a few hundred px/s): a faster agent covers more than a
            // disc radius per substep and, as in pymunk, can sink deeper before the contact
            // pushes back.
            if !near_wall && v[0].hypot(v[1]) < 400.0 {
                deepest = deepest.max(AGENT_RADIUS - d);
            }
            touching += (d < AGENT_RADIUS + 0.5) as usize;
        }
        moved = moved.max((env.block_pose()[0] - start[0]).abs());
    }
    println!("random pushing: {touching} touching steps, deepest agent penetration {deepest:.2} px below 400 px/s ({deepest_fast:.2} px at any speed), T's deepest wall penetration {wall_depth:.2} px, largest x shift {moved:.0}");
    // The agent is kinematic (infinitely strong, as in pymunk), so it can squeeze the T into a
    // wall, and the reset distribution (copied) can draw the T up to 17 px into one; the soft
    // contacts push it back out once the agent lets go.
    assert!(wall_depth < 40.0, "the T sank {wall_depth} px into a wall");
    assert!(touching > 500, "random pushing rarely touched the T ({touching})");
    assert!(moved > 50.0, "the T was never pushed far");
    // Measured 5.0 px (12 px at any speed) with 30 px kept from the walls (a T pinned against a
    // wall is crushed by the kinematic agent, as in pymunk). Rapier's contacts are soft, chipmunk's
    // are too: neither resolves a penetration in one substep.
    assert!(deepest < 8.0 && deepest_fast < 20.0, "the agent sank {deepest} px ({deepest_fast} px at any speed) into a free T");
}

#[test]
fn a_cloned_env_steps_exactly_like_the_original() {
    let mut env = PushTEnv::new(NAME);
    let mut obs = [0.0f32; 5];
    env.reset_into(4, None, &mut obs).unwrap();
    let mut expert = PushTExpert::new(PushTMode::ALL[0]);
    for _ in 0..40 {
        let a = expert.action(&env);
        env.advance(a);
    }
    let mut twin = env.clone();
    let mut twin_expert = expert.clone();
    for t in 0..60 {
        let (a, b) = (expert.action(&env), twin_expert.action(&twin));
        assert_eq!(a, b, "step {t}");
        env.advance(a);
        twin.advance(b);
        assert_eq!(env.block_pose().map(f32::to_bits), twin.block_pose().map(f32::to_bits), "step {t}");
        assert_eq!(env.agent().map(f32::to_bits), twin.agent().map(f32::to_bits), "step {t}");
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn same_seed_gives_identical_bytes_and_demos_end_at_success() {
    let a = envs::generate_with(NAME, 7, Split::Train, 8, 300).unwrap();
    let b = envs::generate_with(NAME, 7, Split::Train, 8, 300).unwrap();
    assert_eq!(bits(&a.observations), bits(&b.observations));
    assert_eq!(bits(&a.actions), bits(&b.actions));
    assert_eq!(bits(&a.qpos), bits(&b.qpos));
    assert_eq!(bits(&a.qvel), bits(&b.qvel));
    assert_eq!(bits(&a.terminals), bits(&b.terminals));
    let c = envs::generate_with(NAME, 8, Split::Train, 8, 300).unwrap();
    assert_ne!(bits(&a.observations), bits(&c.observations), "seed ignored");
    assert_eq!((a.obs_dim, a.act_dim, a.qpos_dim, a.qvel_dim, a.button_dim), (5, 2, 5, 2, 0));
    let eps = a.episodes();
    assert_eq!(eps.len(), 8);
    assert_eq!(eps.last().unwrap().1, a.len());
    let mut done = 0;
    for &(s, e) in &eps {
        assert!(e - s <= 300);
        for t in s..e {
            let (o, q) = (a.observation(t), a.qpos_row(t));
            assert_eq!(&o[..4], &q[..4], "row {t}: observation and qpos disagree");
            assert!((o[4] - q[4].rem_euclid(std::f32::consts::TAU)).abs() < 1e-4);
            assert!(a.action(t).iter().all(|x| (0.0..=512.0).contains(x)));
        }
        let q = a.qpos_row(e - 1);
        let last = coverage([q[2], q[3], q[4]]);
        let before = a.qpos_row(e.saturating_sub(2).max(s));
        // A demo ends on the first row with coverage > 0.95, or at the cap.
        if e - s < 300 {
            assert!(last > SUCCESS_COVERAGE, "a demo ended early at coverage {last}");
            assert!(coverage([before[2], before[3], before[4]]) <= SUCCESS_COVERAGE);
            done += 1;
        }
    }
    assert!(done >= 7, "only {done} of 8 demos reached the goal");
    let r = recipe();
    assert_eq!((r.kind, r.episodes, r.episode_len, r.noise), (envs::DataKind::Demos, 200, 300, 10.0));
}

/// The mode is drawn uniformly per demo, so each of the four makes up about a quarter.
#[test]
fn demos_use_several_modes_and_modes_change_the_trajectory() {
    let r = recipe();
    let mut counts = [0usize; 4];
    for ep in 0..200 {
        let (ds, mode) = demo_episode(r, r.episode_len, episode_seed(0, Split::Train, ep)).unwrap();
        assert!(ds.len() <= r.episode_len);
        counts[mode.index()] += 1;
    }
    println!("{NAME}: demos per mode {:?} (of 200) for {:?}", counts, PushTMode::ALL);
    assert!(counts.iter().filter(|&&n| n >= 40).count() >= 2, "fewer than two modes with ≥ 20 % of the demos: {counts:?}");

    // From one initial state, each mode takes its own path (orders differ in what they fix
    // first; turns in which way the agent walks round the T).
    let mut differ_order = 0;
    let mut differ_turn = 0;
    for seed in 0..10 {
        let paths: Vec<Vec<[f32; 2]>> = PushTMode::ALL
            .iter()
            .map(|&m| {
                let mut env = PushTEnv::new(NAME);
                let mut obs = [0.0f32; 5];
                env.reset_into(seed, None, &mut obs).unwrap();
                let mut ex = PushTExpert::new(m);
                (0..60)
                    .map(|_| {
                        let a = ex.action(&env);
                        env.advance(a);
                        env.agent()
                    })
                    .collect()
            })
            .collect();
        let far = |a: &Vec<[f32; 2]>, b: &Vec<[f32; 2]>| a.iter().zip(b).any(|(p, q)| (p[0] - q[0]).hypot(p[1] - q[1]) > 50.0);
        let idx = |o, t| PushTMode { order: o, turn: t }.index();
        differ_order += far(&paths[idx(Order::TranslateFirst, Turn::Clockwise)], &paths[idx(Order::RotateFirst, Turn::Clockwise)]) as usize;
        differ_turn += far(&paths[idx(Order::TranslateFirst, Turn::Clockwise)], &paths[idx(Order::TranslateFirst, Turn::CounterClockwise)]) as usize;
    }
    println!("{NAME}: of 10 starts, the order changed the agent's path in {differ_order}, the turn in {differ_turn}");
    assert!(differ_order >= 5 && differ_turn >= 3, "modes hardly change the trajectory: order {differ_order}/10, turn {differ_turn}/10");
}

#[test]
fn the_task_follows_the_imitation_contract() {
    let mut env = make(NAME).unwrap();
    assert_eq!(env.observation_spec().dim(), 5);
    assert_eq!(env.action_spec().dim(), 2);
    assert_eq!(env.max_episode_steps(), 300);
    assert_eq!(env.top_score(), 1.0);
    assert_eq!(env.tasks().len(), 1);
    assert_eq!(env.tasks()[0].name, "task1");
    let o1 = env.reset(11).unwrap();
    assert!(env.goal().is_empty());
    assert_eq!(env.current_task(), Some(1));
    let o2 = env.reset_to_task(1, 11).unwrap();
    assert_eq!(o1, o2, "reset(seed) and reset_to_task(1, seed) differ");
    assert_ne!(env.reset(12).unwrap(), o1);
    assert!(envs::Task::resolve(NAME).unwrap().is_imitation());
    assert!(envs::task_names().iter().all(|n| !n.starts_with("pusht-")), "pusht has no singletask variants");
    assert!(meta(NAME).unwrap().stands_in_for.contains("PushT"));
    // Initial states: the agent is clear of the T and the T within the original's ranges.
    let mut p = PushTEnv::new(NAME);
    let mut obs = [0.0f32; 5];
    for seed in 0..200 {
        p.reset_into(seed, None, &mut obs).unwrap();
        assert!(t_signed_distance(p.block_pose(), p.agent()).1 > AGENT_RADIUS, "seed {seed}: agent starts in the T");
        assert!(obs[..4].iter().all(|&x| (45.0..=455.0).contains(&x)), "seed {seed}: {obs:?}");
        assert!((0.0..std::f32::consts::TAU).contains(&obs[4]));
    }
    // The time limit truncates.
    env.reset(3).unwrap();
    let mut last = None;
    for _ in 0..300 {
        last = Some(env.step(&[5.0, 5.0]).unwrap());
    }
    let last = last.unwrap();
    assert!(last.truncated && !last.terminated, "{last:?}");
    assert!(matches!(env.step(&[5.0, 5.0]), Err(EnvError::EpisodeOver { .. })));
    // A solved state terminates with reward 1 and score = coverage.
    p.set_state([20.0, 20.0], [0.0; 2], GOAL_POSE);
    let s = p.step(&[20.0, 20.0]).unwrap();
    assert!(s.terminated && s.info.success && s.reward == 1.0 && s.info.score > 0.99, "{s:?}");
    assert!(p.success());
}

#[test]
fn bad_input_names_the_problem() {
    let mut env = make(NAME).unwrap();
    assert!(matches!(env.step(&[1.0, 1.0]), Err(EnvError::EpisodeOver { .. })), "stepping before reset");
    env.reset(0).unwrap();
    let e = env.step(&[0.0, 0.0, 0.0]).unwrap_err();
    assert!(matches!(e, EnvError::ActionDim { expected: 2, got: 3, .. }), "{e}");
    assert!(e.to_string().contains(NAME), "{e}");
    let e = env.step(&[f32::NAN, 0.0]).unwrap_err();
    assert!(matches!(e, EnvError::NonFiniteAction { index: 0, .. }), "{e}");
    assert!(matches!(env.reset_to_task(2, 0), Err(EnvError::TaskIndex { index: 2, count: 1, .. })));
    assert!(matches!(env.reset_to_task(0, 0), Err(EnvError::TaskIndex { .. })));
    let e = make("pusht-singletask-task1").err().unwrap();
    assert!(e.to_string().contains(NAME), "{e}");
    assert!(make("pushT").is_err() && make("pusht-native").is_err());
    // Out-of-box actions are clipped, as the action spec says.
    env.reset(0).unwrap();
    let s = env.step(&[-1e6, 1e6]).unwrap();
    assert!(s.obs[0] >= -1.0 && s.obs[1] <= 513.0, "{:?}", s.obs);
}
