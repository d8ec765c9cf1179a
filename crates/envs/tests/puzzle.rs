//! Properties of kinpuzzle: Lights-Out rules, GF(2) solvability, the press model end to end,
//! singletask rewards, the play dataset and errors.

use envs::puzzle::{button_xy, play_episode, press, press_matrix_rank, puzzle_tasks, singletask_reward, solve};
use envs::{make, meta, EnvError, GoalEnv};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn grid(rows: usize, cols: usize) -> usize {
    rows * cols
}

/// Button states read from an observation's one-hot block.
fn states_from_obs(obs: &[f32], n: usize) -> Vec<u8> {
    (0..n)
        .map(|k| {
            let (z, o) = (obs[5 + 3 * k], obs[6 + 3 * k]);
            assert!((z == 1.0 && o == 0.0) || (z == 0.0 && o == 1.0), "button {k}: one-hot [{z}, {o}]");
            o as u8
        })
        .collect()
}

/// Effector [x, y, z] (metres) read from an observation.
fn pos_from_obs(obs: &[f32]) -> [f32; 3] {
    [obs[0] / 10.0 + 0.425, obs[1] / 10.0, obs[2] / 10.0]
}

#[test]
fn lights_out_toggles_corner_3_edge_4_centre_5_and_twice_restores() {
    let (r, c) = (3, 3);
    for ((i, j), want) in [((0, 0), 3), ((2, 2), 3), ((0, 1), 4), ((1, 0), 4), ((1, 1), 5)] {
        let mut s = vec![0u8; 9];
        press(r, c, &mut s, i, j);
        assert_eq!(s.iter().map(|&v| v as usize).sum::<usize>(), want, "press ({i},{j})");
        assert_eq!(s[i * c + j], 1, "the pressed button toggles");
        press(r, c, &mut s, i, j);
        assert!(s.iter().all(|&v| v == 0), "pressing ({i},{j}) twice restores");
    }
    // Exact neighbourhood of the centre, and no wrap-around on a 4x4 edge.
    let mut s = vec![0u8; 9];
    press(3, 3, &mut s, 1, 1);
    assert_eq!(s, vec![0, 1, 0, 1, 1, 1, 0, 1, 0]);
    let mut s = vec![0u8; 16];
    press(4, 4, &mut s, 0, 3);
    assert_eq!(s, vec![0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    // Toggling is XOR on arbitrary states too.
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let before: Vec<u8> = (0..16).map(|_| rng.random::<bool>() as u8).collect();
    let mut s = before.clone();
    press(4, 4, &mut s, 2, 1);
    assert_eq!(s.iter().zip(&before).filter(|(a, b)| a != b).count(), 5);
    press(4, 4, &mut s, 2, 1);
    assert_eq!(s, before);
}

#[test]
fn every_task_is_solvable_and_3x3_is_full_rank_while_4x4_is_not() {
    for (r, c) in [(3, 3), (4, 4)] {
        let tasks = puzzle_tasks(r, c);
        assert_eq!(tasks.len(), 5);
        for (k, (init, goal)) in tasks.iter().enumerate() {
            assert_eq!((init.len(), goal.len()), (grid(r, c), grid(r, c)));
            assert_ne!(init, goal, "{r}x{c} task{} is trivial", k + 1);
            let x = solve(r, c, init, goal).unwrap_or_else(|| panic!("{r}x{c} task{} unsolvable", k + 1));
            let mut s = init.clone();
            for (p, &b) in x.iter().enumerate() {
                if b == 1 {
                    press(r, c, &mut s, p / c, p % c);
                }
            }
            assert_eq!(&s, goal, "{r}x{c} task{}: the solution does not reach the goal", k + 1);
        }
    }
    // 3x3: the press matrix is invertible over GF(2), so every goal is reachable from every init.
    assert_eq!(press_matrix_rank(3, 3), 9);
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for _ in 0..50 {
        let a: Vec<u8> = (0..9).map(|_| rng.random::<bool>() as u8).collect();
        let b: Vec<u8> = (0..9).map(|_| rng.random::<bool>() as u8).collect();
        assert!(solve(3, 3, &a, &b).is_some());
    }
    // 4x4: rank 12 (nullity 4), so only 1/16 of the goals are reachable from a given init; a
    // single lit button is not reachable from all-off.
    assert_eq!(press_matrix_rank(4, 4), 12);
    let mut one = vec![0u8; 16];
    one[0] = 1;
    assert_eq!(solve(4, 4, &[0; 16], &one), None);
}

#[test]
fn task_list_specs_and_goal_observation() {
    let env = make("kinpuzzle-3x3-play").unwrap();
    assert_eq!(env.tasks().len(), 5);
    assert_eq!(env.tasks()[0].name, "task1");
    assert_eq!(env.tasks()[0].description, "init 000/000/000 → goal 110/101/011");
    assert_eq!(env.tasks()[3].description, "init 010/101/010 → goal 111/111/111");
    assert_eq!(env.max_episode_steps(), 500);
    assert_eq!(env.action_spec().dim(), 5);
    assert_eq!(make("kinpuzzle-4x4-play").unwrap().tasks()[4].description, "init 0101/0010/0001/1000 → goal 0000/0000/0000/0000");
    // Button grid: 10 cm pitch centred at (0.425, 0).
    for ((r, i, j), want) in [((3, 0, 0), [0.325, -0.1]), ((3, 2, 1), [0.525, 0.0]), ((4, 3, 3), [0.575, 0.15]), ((4, 0, 2), [0.275, 0.05])] {
        let got = button_xy(r, r, i, j);
        assert!((got[0] - want[0]).abs() < 1e-6 && (got[1] - want[1]).abs() < 1e-6, "{r}x{r} ({i},{j}): {got:?}");
    }

    for (name, r, dim) in [("kinpuzzle-3x3-play", 3, 32), ("kinpuzzle-4x4-play", 4, 53)] {
        let mut env = make(name).unwrap();
        assert_eq!(env.observation_spec().dim(), dim);
        let tasks = puzzle_tasks(r, r);
        for k in 1..=5 {
            let obs = env.reset_to_task(k, 10 + k as u64).unwrap();
            assert!(env.observation_spec().contains(&obs), "{name} task{k}: reset obs outside the spec");
            assert_eq!(env.current_task(), Some(k));
            assert_eq!(states_from_obs(&obs, r * r), tasks[k - 1].0, "reset buttons = the task's init");
            let goal = env.goal().to_vec();
            assert_eq!(states_from_obs(&goal, r * r), tasks[k - 1].1, "goal buttons = the task's goal");
            assert_eq!(&goal[..5], &obs[..5], "goal effector = the reset effector");
            let p = pos_from_obs(&obs);
            assert!((0.25..=0.6).contains(&p[0]) && (-0.2..=0.2).contains(&p[1]) && (0.2..=0.25).contains(&p[2]), "reset pose {p:?}");
            assert!(!env.success());
        }
        // task = None draws the task from the seed, deterministically; all five show up.
        let mut seen = [false; 5];
        for seed in 0..60 {
            let a = env.reset(seed).unwrap();
            let ka = env.current_task().unwrap();
            let b = env.reset(seed).unwrap();
            assert_eq!((a, ka), (b, env.current_task().unwrap()));
            seen[ka - 1] = true;
        }
        assert!(seen.iter().all(|&s| s), "{name}: tasks drawn {seen:?}");
    }
}

/// Steps towards `target` with the largest allowed moves until there; returns the last step.
fn go_to(env: &mut Box<dyn GoalEnv>, obs: &mut Vec<f32>, target: [f32; 3], steps: &mut usize) -> envs::Step {
    let mut last = None;
    for _ in 0..40 {
        let p = pos_from_obs(obs);
        if (0..3).all(|d| (p[d] - target[d]).abs() < 1e-4) && last.is_some() {
            break;
        }
        let a: Vec<f32> = (0..3).map(|d| ((target[d] - p[d]) / 0.05).clamp(-1.0, 1.0)).chain([0.0, 0.0]).collect();
        let s = env.step(&a).unwrap();
        *steps += 1;
        *obs = s.obs.clone();
        let end = s.terminated || s.truncated;
        last = Some(s);
        if end {
            break;
        }
    }
    last.unwrap()
}

#[test]
fn scripted_presses_of_the_gf2_solution_solve_every_task_within_500_steps() {
    for (name, r) in [("kinpuzzle-3x3-play", 3usize), ("kinpuzzle-4x4-play", 4)] {
        let n = r * r;
        let mut env = make(name).unwrap();
        for k in 1..=5 {
            let mut obs = env.reset_to_task(k, 100 + k as u64).unwrap();
            let init = states_from_obs(&obs, n);
            let goal = states_from_obs(env.goal(), n);
            let presses = solve(r, r, &init, &goal).unwrap();
            let targets: Vec<usize> = (0..n).filter(|&p| presses[p] == 1).collect();
            let mut steps = 0;
            let mut expect = init.clone();
            let mut last = None;
            for (m, &p) in targets.iter().enumerate() {
                let [x, y] = button_xy(r, r, p / r, p % r);
                go_to(&mut env, &mut obs, [x, y, 0.11], &mut steps);
                assert_eq!(states_from_obs(&obs, n), expect, "{name} task{k}: moving at 11 cm pressed something");
                let s = go_to(&mut env, &mut obs, [x, y, 0.025], &mut steps);
                press(r, r, &mut expect, p / r, p % r);
                assert_eq!(states_from_obs(&obs, n), expect, "{name} task{k}: pressing button {p}");
                if m + 1 == targets.len() {
                    last = Some(s);
                    break; // The episode ends on success.
                }
                assert!(!s.terminated, "{name} task{k}: terminated before the last press");
                go_to(&mut env, &mut obs, [x, y, 0.11], &mut steps);
                assert_eq!(states_from_obs(&obs, n), expect, "{name} task{k}: lifting pressed again");
            }
            let s = last.expect("a task needs at least one press");
            assert!(s.terminated && s.info.success && s.reward == 1.0, "{name} task{k}: {s:?}");
            assert!(env.success());
            assert!(steps <= 500, "{name} task{k}: {steps} steps");
            assert!(matches!(env.step(&[0.0; 5]), Err(EnvError::EpisodeOver { .. })));
        }
    }
}

#[test]
fn press_model_is_edge_triggered_with_rearm_and_ignores_shallow_and_off_footprint_pushes() {
    let mut env = make("kinpuzzle-3x3-play").unwrap();
    let mut obs = env.reset_to_task(1, 0).unwrap(); // all off
    let mut steps = 0;
    let [x, y] = button_xy(3, 3, 1, 1);
    let count = |o: &[f32]| states_from_obs(o, 9).iter().filter(|&&v| v == 1).count();
    go_to(&mut env, &mut obs, [x, y, 0.11], &mut steps);
    // Depth 0.015 < 0.02: no press, but the depth shows in the observation (0.015·120 = 1.8).
    go_to(&mut env, &mut obs, [x, y, 0.035], &mut steps);
    assert_eq!(count(&obs), 0);
    assert!((obs[5 + 3 * 4 + 2] - 1.8).abs() < 1e-3, "depth obs {}", obs[5 + 3 * 4 + 2]);
    // Down to full travel: one press (centre: 5 lit), held and wiggled inside the footprint: still one.
    go_to(&mut env, &mut obs, [x, y, 0.02], &mut steps);
    assert_eq!(count(&obs), 5);
    go_to(&mut env, &mut obs, [x + 0.03, y - 0.03, 0.03], &mut steps);
    go_to(&mut env, &mut obs, [x, y, 0.02], &mut steps);
    assert_eq!(count(&obs), 5, "holding the button pressed it again");
    // Rising to depth 0.012 (above the 0.01 re-arm depth) and back down does not press again.
    go_to(&mut env, &mut obs, [x, y, 0.038], &mut steps);
    go_to(&mut env, &mut obs, [x, y, 0.02], &mut steps);
    assert_eq!(count(&obs), 5, "re-pressed without re-arming");
    // Up past the re-arm depth, then down: a second press restores all-off.
    go_to(&mut env, &mut obs, [x, y, 0.045], &mut steps);
    go_to(&mut env, &mut obs, [x, y, 0.02], &mut steps);
    assert_eq!(count(&obs), 0);
    // Between two footprints (gap centre: 5 cm from both), down to the floor: nothing.
    go_to(&mut env, &mut obs, [x, y, 0.11], &mut steps);
    go_to(&mut env, &mut obs, [x + 0.05, y, 0.11], &mut steps);
    go_to(&mut env, &mut obs, [x + 0.05, y, 0.02], &mut steps);
    assert_eq!(count(&obs), 0);
    // The workspace floor clips z at 0.02 and the gripper and yaw do not press.
    let s = env.step(&[0.0, 0.0, -1.0, 1.0, 1.0]).unwrap();
    assert!((pos_from_obs(&s.obs)[2] - 0.02).abs() < 1e-6);
    assert_eq!(count(&s.obs), 0);
}

#[test]
fn singletask_reward_is_matched_minus_n_and_mask_is_not_all_matched() {
    let mut env = make("kinpuzzle-3x3-play-singletask-task4").unwrap();
    env.reset(3).unwrap();
    assert_eq!(env.current_task(), Some(4));
    let s = env.step(&[0.0; 5]).unwrap();
    // task4: init 010/101/010, goal 111/111/111 → the 4 lit buttons match: 4 − 9 = −5.
    assert_eq!(s.reward, -5.0);
    assert!(!s.terminated && !s.info.success);
    // A task index is ignored by the singletask variant, as in OGBench.
    env.reset_to_task(1, 3).unwrap();
    assert_eq!(env.current_task(), Some(4));
    // 4x4 task2: init all on, goal 1111/1001/1001/1111 → 12 match: 12 − 16 = −4.
    let mut env4 = make("kinpuzzle-4x4-play-singletask-task2").unwrap();
    env4.reset(0).unwrap();
    assert_eq!(env4.step(&[0.0; 5]).unwrap().reward, -4.0);
    // Goal-conditioned mode: reward 0 until success.
    let mut gc = make("kinpuzzle-3x3-play").unwrap();
    gc.reset_to_task(4, 3).unwrap();
    assert_eq!(gc.step(&[0.0; 5]).unwrap().reward, 0.0);

    let tasks = puzzle_tasks(3, 3);
    let (init, goal) = &tasks[3];
    assert_eq!(singletask_reward(init.as_slice(), goal), (-5.0, 1.0));
    assert_eq!(singletask_reward(goal.as_slice(), goal), (0.0, 0.0));
    let as_i64: Vec<i64> = init.iter().map(|&v| v as i64).collect();
    assert_eq!(singletask_reward(as_i64.as_slice(), goal), (-5.0, 1.0));
    let mut almost = goal.clone();
    almost[8] = 0;
    assert_eq!(singletask_reward(almost.as_slice(), goal), (-1.0, 1.0));
}

#[test]
fn singletask_episode_terminates_on_success_with_reward_zero() {
    let mut env = make("kinpuzzle-3x3-play-singletask-task2").unwrap();
    let mut obs = env.reset(5).unwrap();
    // task2: all on → 011/111/111, pressed along the GF(2) solution.
    let init = states_from_obs(&obs, 9);
    let goal = states_from_obs(env.goal(), 9);
    let x = solve(3, 3, &init, &goal).unwrap();
    let mut steps = 0;
    let targets: Vec<usize> = (0..9).filter(|&p| x[p] == 1).collect();
    let mut last = None;
    for &p in &targets {
        let [bx, by] = button_xy(3, 3, p / 3, p % 3);
        go_to(&mut env, &mut obs, [bx, by, 0.11], &mut steps);
        last = Some(go_to(&mut env, &mut obs, [bx, by, 0.025], &mut steps));
        if last.as_ref().unwrap().terminated {
            break;
        }
        go_to(&mut env, &mut obs, [bx, by, 0.11], &mut steps);
    }
    let s = last.unwrap();
    assert!(s.terminated && s.info.success);
    assert_eq!(s.reward, 0.0);
}

#[test]
fn goal_conditioned_episode_truncates_at_500_steps() {
    let mut env = make("kinpuzzle-4x4-play").unwrap();
    env.reset_to_task(1, 0).unwrap();
    for t in 1..=500 {
        let s = env.step(&[0.0; 5]).unwrap();
        assert_eq!(s.truncated, t == 500, "step {t}");
        assert!(!s.terminated);
    }
    assert!(matches!(env.step(&[0.0; 5]), Err(EnvError::EpisodeOver { .. })));
}

#[test]
fn play_episode_shapes_determinism_toggles_and_consistency() {
    let recipe = meta("kinpuzzle-3x3-play").unwrap().recipe.unwrap();
    assert_eq!(recipe.noise, 0.1);
    for (task, r) in [("kinpuzzle-3x3-play", 3usize), ("kinpuzzle-4x4-play", 4)] {
        let n = r * r;
        let len = 1001;
        let ds = play_episode(r, r, recipe, len, 11).unwrap();
        assert_eq!((ds.obs_dim, ds.act_dim, ds.qpos_dim, ds.qvel_dim, ds.button_dim), (5 + 3 * n, 5, 5, 5, n));
        assert_eq!(ds.len(), len);
        assert_eq!(ds.observations.len(), len * ds.obs_dim);
        assert_eq!(ds.actions.len(), len * 5);
        assert_eq!(ds.qpos.len(), len * 5);
        assert_eq!(ds.qvel.len(), len * 5);
        assert_eq!(ds.button_states.len(), len * n);
        assert_eq!(ds.episodes(), vec![(0, len)], "terminal only on the last row");
        assert!(ds.actions.iter().all(|a| (-1.0..=1.0).contains(a)));
        assert!(ds.observations.iter().chain(&ds.qpos).chain(&ds.qvel).all(|v| v.is_finite()));

        assert_eq!(ds, play_episode(r, r, recipe, len, 11).unwrap(), "{task}: not deterministic");
        let other = play_episode(r, r, recipe, len, 12).unwrap();
        assert_ne!(ds.observations, other.observations);
        assert_ne!(ds.actions, other.actions);

        let spec = make(task).unwrap().observation_spec().clone();
        let mut toggles = 0;
        let mut lit_changes = std::collections::HashSet::new();
        for t in 0..len {
            let obs = ds.observation(t);
            assert!(spec.contains(obs), "{task} row {t}: obs outside the spec");
            let b = ds.buttons_row(t);
            assert!(b.iter().all(|&v| v == 0 || v == 1));
            let from_obs = states_from_obs(obs, n);
            assert!(b.iter().zip(&from_obs).all(|(&x, &y)| x == y as i64), "{task} row {t}: button_states disagree with the observation");
            // qpos = [x, y, z, yaw, gripper] agrees with the observation's effector block.
            let q = ds.qpos_row(t);
            let p = pos_from_obs(obs);
            assert!((0..3).all(|d| (q[d] - p[d]).abs() < 1e-5));
            assert!((q[3].cos() - obs[3]).abs() < 1e-5 && (q[3].sin() - obs[4]).abs() < 1e-5);
            if t > 0 {
                let prev = ds.buttons_row(t - 1);
                if prev != b {
                    toggles += 1;
                    // Every change is one Lights-Out press.
                    let mut cur: Vec<u8> = prev.iter().map(|&v| v as u8).collect();
                    let diff: Vec<u8> = prev.iter().zip(b).map(|(x, y)| (x ^ y) as u8).collect();
                    let hit = (0..n).find(|&k| {
                        let mut z = vec![0u8; n];
                        press(r, r, &mut z, k / r, k % r);
                        z == diff
                    });
                    let k = hit.unwrap_or_else(|| panic!("{task} row {t}: change {diff:?} is not a single press"));
                    press(r, r, &mut cur, k / r, k % r);
                    lit_changes.insert(k);
                }
            }
        }
        assert!(toggles >= 10, "{task}: only {toggles} presses in {len} rows");
        assert!(lit_changes.len() >= 4, "{task}: presses hit only buttons {lit_changes:?}");
    }
    assert!(play_episode(5, 5, recipe, 10, 0).is_err());
}

#[test]
fn generate_with_concatenates_puzzle_episodes() {
    let ds = envs::generate_with("kinpuzzle-3x3-play", 0, envs::Split::Train, 3, 101).unwrap();
    assert_eq!(ds.len(), 303);
    assert_eq!(ds.episodes(), vec![(0, 101), (101, 202), (202, 303)]);
    assert_eq!(ds.button_dim, 9);
}

#[test]
fn bad_actions_and_task_indices_are_errors() {
    let mut env = make("kinpuzzle-3x3-play").unwrap();
    assert!(matches!(env.step(&[0.0; 5]), Err(EnvError::EpisodeOver { .. })), "step before reset");
    env.reset(0).unwrap();
    match env.step(&[0.0; 4]) {
        Err(EnvError::ActionDim { expected: 5, got: 4, .. }) => {}
        other => panic!("{other:?}"),
    }
    match env.step(&[0.0, 0.0, f32::NAN, 0.0, 0.0]) {
        Err(EnvError::NonFiniteAction { index: 2, .. }) => {}
        other => panic!("{other:?}"),
    }
    match env.step(&[0.0, 0.0, 0.0, f32::INFINITY, 0.0]) {
        Err(EnvError::NonFiniteAction { index: 3, .. }) => {}
        other => panic!("{other:?}"),
    }
    assert!(matches!(env.reset_to_task(6, 0), Err(EnvError::TaskIndex { index: 6, count: 5, .. })));
    assert!(matches!(env.reset_to_task(0, 0), Err(EnvError::TaskIndex { .. })));
    let mut short = vec![0.0; 31];
    assert!(matches!(env.reset_into(0, None, &mut short), Err(EnvError::ObsDim { expected: 32, got: 31, .. })));
    // Out-of-range actions are clipped: a 10× action moves at most 5 cm.
    let obs = env.reset_to_task(1, 0).unwrap();
    let s = env.step(&[10.0, 0.0, 0.0, 0.0, 0.0]).unwrap();
    let (a, b) = (pos_from_obs(&obs), pos_from_obs(&s.obs));
    assert!(b[0] - a[0] <= 0.05 + 1e-6);
}
