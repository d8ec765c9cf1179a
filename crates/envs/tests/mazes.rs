//! Properties of the maze tasks: contact, speed, teleports, experts, rewards and errors.

use envs::expert::MazeExpert;
use envs::maze::{Layout, AGENT_RADIUS, TELEPORT_OUT};
use envs::pointmaze::{Dynamics, MazeEnv, Mode};
use envs::{make, Env, EnvError, GoalEnv, VecEnv};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn maze_env(name: &str) -> MazeEnv {
    let (layout, dynamics) = match name {
        "pointmaze-medium-navigate" => (Layout::Medium, Dynamics::Point),
        "pointmaze-large-navigate" => (Layout::Large, Dynamics::Point),
        "pointmaze-giant-navigate" => (Layout::Giant, Dynamics::Point),
        "pointmaze-teleport-navigate" => (Layout::Teleport, Dynamics::Point),
        "accelmaze-medium-navigate" => (Layout::Medium, Dynamics::Accel),
        _ => unreachable!(),
    };
    MazeEnv::new(name, layout, dynamics, Mode::Ogbench { singletask: None })
}

const ALL: [&str; 5] = ["pointmaze-medium-navigate", "pointmaze-large-navigate", "pointmaze-giant-navigate", "pointmaze-teleport-navigate", "accelmaze-medium-navigate"];

#[test]
fn no_wall_penetration_and_speed_bound_over_1e5_random_steps() {
    for name in ALL {
        let mut env = maze_env(name);
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut obs = vec![0.0; env.observation_spec().dim()];
        env.reset_into(1, None, &mut obs).unwrap();
        let mut worst = f32::INFINITY;
        for t in 0..100_000 {
            // Mostly full-throttle pushes (the hardest case for contact), sometimes out of range.
            let a = [rng.random_range(-1.5f32..1.5), rng.random_range(-1.5f32..1.5)];
            let before = env.pos();
            env.advance(a);
            let p = env.pos();
            let c = env.maze().clearance(p);
            worst = worst.min(c);
            assert!(c >= AGENT_RADIUS - 1e-4, "{name}: step {t}: clearance {c} < radius at {p:?}");
            let step = ((p[0] - before[0]).powi(2) + (p[1] - before[1]).powi(2)).sqrt();
            let teleported = TELEPORT_OUT.iter().any(|&o| env.maze().ij_to_xy(o) == p) && step > 1.0;
            let bound = match env.dynamics() {
                Dynamics::Point => 0.2 * 2f32.sqrt(),
                Dynamics::Accel => 0.1 * 2f32.sqrt(),
            };
            assert!(teleported || step <= bound + 1e-5, "{name}: step {t} moved {step} > {bound}");
            if env.dynamics() == Dynamics::Accel {
                let v = env.vel();
                assert!(v[0].abs() <= 0.1 + 1e-6 && v[1].abs() <= 0.1 + 1e-6, "{name}: velocity {v:?} exceeds 0.1 per axis");
            }
            if t % 1000 == 999 {
                // Re-seed somewhere else so the walk covers the whole maze.
                env.reset_into(t as u64, None, &mut obs).unwrap();
            }
        }
        assert!(worst < AGENT_RADIUS + 0.05, "{name}: the walk never touched a wall (min clearance {worst})");
    }
}

#[test]
fn teleport_sends_to_a_random_out_cell() {
    let mut env = maze_env("pointmaze-teleport-navigate");
    let in_xy = env.maze().ij_to_xy((4, 6));
    let outs: Vec<[f32; 2]> = TELEPORT_OUT.iter().map(|&o| env.maze().ij_to_xy(o)).collect();
    let mut seen = [0usize; 3];
    for seed in 0..300 {
        env.reseed(seed);
        // 1.6 away in the free cell above, moving 0.2 toward the in-cell centre: lands 1.4 away
        // (< 1.5) and teleports.
        env.set_state([in_xy[0], in_xy[1] - 1.6], [0.0; 2]);
        env.advance([0.0, 1.0]);
        let p = env.pos();
        let k = outs.iter().position(|o| *o == p).unwrap_or_else(|| panic!("not teleported: {p:?}"));
        seen[k] += 1;
    }
    assert!(seen.iter().all(|&n| n > 60), "out-cells not uniform: {seen:?}");
    // Stopping just outside the radius does not teleport.
    env.set_state([in_xy[0], in_xy[1] - 1.8], [0.0; 2]);
    env.advance([0.0, 1.0]);
    assert!((env.pos()[1] - (in_xy[1] - 1.6)).abs() < 1e-5, "teleported from outside the radius: {:?}", env.pos());
}

/// Runs `episodes` evaluation episodes per task with the BFS expert; returns successes per task.
fn expert_success(name: &str, noise: f32, episodes: u64) -> Vec<usize> {
    let mut env = maze_env(name);
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let mut obs = vec![0.0; env.observation_spec().dim()];
    (1..=5)
        .map(|task| {
            (0..episodes)
                .filter(|&ep| {
                    env.reset_into(1000 * task as u64 + ep, Some(task), &mut obs).unwrap();
                    let expert = MazeExpert::new(env.maze(), env.goal_xy());
                    for _ in 0..env.max_episode_steps() {
                        let a = expert.noisy_action(env.maze(), env.dynamics(), env.pos(), env.vel(), noise, &mut rng);
                        let t = env.step_into(&a, &mut obs).unwrap();
                        if t.terminated {
                            return t.info.success;
                        }
                        if t.truncated {
                            return false;
                        }
                    }
                    false
                })
                .count()
        })
        .collect()
}

#[test]
fn noiseless_expert_reaches_every_evaluation_goal() {
    for name in ALL {
        let s = expert_success(name, 0.0, 10);
        println!("{name}: noiseless expert successes per task (of 10): {s:?}");
        assert!(s.iter().all(|&n| n == 10), "{name}: noiseless expert failed some goals: {s:?}");
    }
}

#[test]
fn noisy_expert_reaches_at_least_80_percent() {
    for name in ALL {
        let s = expert_success(name, 0.5, 20);
        let rate = s.iter().sum::<usize>() as f32 / 100.0;
        println!("{name}: noise-0.5 expert success {rate:.2} (per task of 20: {s:?})");
        assert!(rate >= 0.8, "{name}: noisy expert success {rate} < 0.8");
    }
}

#[test]
fn singletask_reward_is_success_minus_one_and_goal_is_noiseless() {
    let mut env = make("pointmaze-medium-navigate-singletask-task2").unwrap();
    for seed in 0..5 {
        env.reset(seed).unwrap();
        assert_eq!(env.current_task(), Some(2));
        // Goal = exact centre of (1,6) in OGBench coordinates: (4·6 − 4, 4·1 − 4).
        assert_eq!(env.goal(), &[20.0, 0.0]);
        let s = env.step(&[0.0, 0.0]).unwrap();
        assert_eq!(s.reward, -1.0);
        assert!(!s.info.success);
    }
    // Goal-conditioned variant: reward 1 and termination at the goal.
    let mut gc = MazeEnv::new("x", Layout::Medium, Dynamics::Point, Mode::Ogbench { singletask: Some(1) });
    let mut obs = vec![0.0; 2];
    gc.reset_into(0, None, &mut obs).unwrap();
    let g = gc.goal_xy();
    gc.set_state([g[0] - 0.5, g[1]], [0.0; 2]);
    let t = gc.step_into(&[0.0, 0.0], &mut obs).unwrap();
    assert!(t.info.success && t.terminated && t.reward == 0.0);
}

#[test]
fn truncation_at_the_time_limit() {
    let mut env = make("pointmaze-medium-navigate").unwrap();
    env.reset_to_task(1, 0).unwrap();
    let mut last = None;
    for _ in 0..env.max_episode_steps() {
        last = Some(env.step(&[0.0, 0.0]).unwrap());
    }
    assert!(last.unwrap().truncated);
    assert!(matches!(env.step(&[0.0, 0.0]), Err(EnvError::EpisodeOver { .. })));
}

#[test]
fn bad_input_names_the_problem() {
    let mut env = make("pointmaze-large-navigate").unwrap();
    env.reset(0).unwrap();
    let e = env.step(&[0.0, 0.0, 0.0]).unwrap_err();
    assert!(matches!(e, EnvError::ActionDim { expected: 2, got: 3, .. }), "{e}");
    assert!(e.to_string().contains("pointmaze-large-navigate"));
    let e = env.step(&[0.0, f32::NAN]).unwrap_err();
    assert!(matches!(e, EnvError::NonFiniteAction { index: 1, .. }), "{e}");
    let e = make("antmaze-large-navigate").err().unwrap();
    let msg = e.to_string();
    assert!(msg.contains("antmaze-large-navigate") && msg.contains("pointmaze-large-navigate"), "{msg}");
    assert!(make("pointmaze-large-navigate-singletask-task6").is_err());
    assert!(matches!(env.reset_to_task(6, 0), Err(EnvError::TaskIndex { index: 6, count: 5, .. })));
}

#[test]
fn online_mazes_use_jaxgcrl_conventions() {
    let mut env = make("pointmaze-umaze-online").unwrap();
    let obs = env.reset_to_task(2, 3).unwrap();
    // Start at R=(1,1) → (4, 4) ± 0.1; the hard goal is (3,1) → (12, 4).
    assert!((obs[0] - 4.0).abs() <= 0.1 && (obs[1] - 4.0).abs() <= 0.1);
    assert_eq!(env.goal(), &[12.0, 4.0]);
    assert_eq!(env.max_episode_steps(), 1000);
    let big = make("pointmaze-bigmaze-online").unwrap();
    assert_eq!(big.tasks().len(), 2);
}

#[test]
fn vec_env_matches_sequential_stepping() {
    let n = 8;
    let mut venv = VecEnv::new("accelmaze-medium-navigate", n).unwrap();
    let seeds: Vec<u64> = (0..n as u64).collect();
    venv.reset(&seeds, Some(3)).unwrap();
    let mut singles: Vec<_> = (0..n).map(|_| make("accelmaze-medium-navigate").unwrap()).collect();
    for (k, e) in singles.iter_mut().enumerate() {
        let o = e.reset_to_task(3, k as u64).unwrap();
        assert_eq!(o, venv.observations()[k * 4..(k + 1) * 4]);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let active = vec![true; n];
    for _ in 0..50 {
        let acts: Vec<f32> = (0..n * 2).map(|_| rng.random_range(-1.0..1.0)).collect();
        venv.step(&acts, &active).unwrap();
        for (k, e) in singles.iter_mut().enumerate() {
            let s = e.step(&acts[k * 2..k * 2 + 2]).unwrap();
            assert_eq!(s.obs, venv.observations()[k * 4..(k + 1) * 4]);
        }
    }
}

#[test]
fn singletask_relabelling_matches_the_environment_success_rule() {
    let ds = envs::generate_with("pointmaze-medium-navigate", 3, envs::Split::Train, 20, 1001).unwrap();
    for k in 1..=5 {
        let task = format!("pointmaze-medium-navigate-singletask-task{k}");
        let (rewards, masks) = envs::singletask_rewards(&envs::Task::resolve(&task).unwrap(), &ds).unwrap();
        assert_eq!(rewards.len(), ds.len());
        let mut env = envs::registry::make_maze(&task).unwrap();
        env.reset(0).unwrap();
        let mut hits = 0;
        for t in 0..ds.len() {
            let q = ds.qpos_row(t);
            env.set_state([q[0], q[1]], [0.0; 2]);
            let success = env.success();
            assert_eq!(rewards[t], if success { 0.0 } else { -1.0 }, "{task} row {t}");
            assert_eq!(masks[t], if success { 0.0 } else { 1.0 });
            hits += success as usize;
        }
        assert!(hits > 0, "{task}: the navigate data never passes the goal");
    }
    // Puzzle: #matched − #buttons against the task's goal, row by row.
    let ds = envs::generate_with("kinpuzzle-3x3-play", 1, envs::Split::Train, 2, 1001).unwrap();
    let goal = &envs::puzzle::puzzle_tasks(3, 3)[3].1;
    let (rewards, masks) = envs::singletask_rewards(&envs::Task::resolve("kinpuzzle-3x3-play-singletask-task4").unwrap(), &ds).unwrap();
    for t in 0..ds.len() {
        let matched = ds.buttons_row(t).iter().zip(goal).filter(|(a, b)| **a == **b as i64).count();
        assert_eq!(rewards[t], matched as f32 - 9.0);
        assert_eq!(masks[t], if matched == 9 { 0.0 } else { 1.0 });
    }
    assert!(envs::singletask_rewards(&envs::Task::resolve("pointmaze-medium-navigate").unwrap(), &ds).is_err());
}
