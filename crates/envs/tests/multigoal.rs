//! Properties of `multigoal4`: expert success, demo datasets, multimodality, dynamics, errors.

use envs::multigoal::{MultiGoalEnv, MultiGoalExpert, ARENA_HI, ARENA_LO, GOALS, GOAL_RADIUS, MAX_EPISODE_STEPS, MAX_SPEED};
use envs::{make, meta, Env, EnvError, GoalEnv, Split};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const NAME: &str = "multigoal4";

/// Runs `seeds` evaluation episodes through `step_into`; returns (successes, episode lengths).
fn expert_runs(noise: f32, seeds: u64) -> (usize, Vec<usize>) {
    let mut env = MultiGoalEnv::new(NAME);
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut obs = [0.0; 4];
    let mut lens = Vec::new();
    let mut wins = 0;
    for seed in 0..seeds {
        env.reset_into(seed, Some(1), &mut obs).unwrap();
        let expert = MultiGoalExpert::random(&mut rng);
        let (mut score, mut steps) = (0.0, 0);
        loop {
            let a = expert.noisy_action(&env, noise, &mut rng);
            let t = env.step_into(&a, &mut obs).unwrap();
            steps += 1;
            score += t.reward;
            assert_eq!(score, t.info.score, "seed {seed}: rewards do not sum to the score");
            if t.terminated || t.truncated {
                assert_eq!(t.terminated, t.info.score == 4.0);
                assert_eq!(t.info.success, t.terminated);
                wins += t.info.success as usize;
                lens.push(steps);
                break;
            }
        }
    }
    (wins, lens)
}

#[test]
fn noiseless_expert_visits_all_four_goals() {
    let (wins, lens) = expert_runs(0.0, 200);
    println!("{NAME}: noiseless expert {wins}/200, episode length {}–{}", lens.iter().min().unwrap(), lens.iter().max().unwrap());
    assert!(wins >= 190, "noiseless expert {wins}/200");
}

/// With the recipe's noise N(0, 0.5²) the expert measured 200/200, episodes of 619–671 steps
/// (the limit is 1200). The floor, 95 %, catches a broken controller; the length check a limit
/// that leaves a policy less than 50 % over the slowest demo.
#[test]
fn noisy_expert_success() {
    let noise = meta(NAME).unwrap().recipe.unwrap().noise;
    let (wins, lens) = expert_runs(noise, 200);
    let longest = *lens.iter().max().unwrap();
    println!("{NAME}: noise-{noise} expert {wins}/200, episode length {}–{longest} (limit {MAX_EPISODE_STEPS})", lens.iter().min().unwrap());
    assert!(wins >= 190, "noisy expert {wins}/200");
    assert!(3 * longest <= 2 * MAX_EPISODE_STEPS, "the time limit leaves no margin over the expert's {longest} steps");
}

/// The order in which one demo reaches the goals, read from its `qpos` flags.
fn visit_order(ds: &envs::Dataset, s: usize, e: usize) -> Vec<usize> {
    let mut order = Vec::new();
    for t in s..e {
        for k in 0..4 {
            if ds.qpos_row(t)[2 + k] > 0.5 && !order.contains(&k) {
                order.push(k);
            }
        }
    }
    order
}

#[test]
fn demos_are_multimodal() {
    let ds = envs::generate(NAME, 0, Split::Train).unwrap();
    let eps = ds.episodes();
    assert_eq!(eps.len(), 200);
    let mut first = [0usize; 4];
    let mut orders = std::collections::HashSet::new();
    for &(s, e) in &eps {
        let order = visit_order(&ds, s, e);
        assert_eq!(order.len(), 4, "a demo missed a goal: {order:?}");
        first[order[0]] += 1;
        orders.insert(order);
    }
    println!("{NAME}: first corner of 200 demos {first:?} (goals {GOALS:?}); {} of 24 orders", orders.len());
    let common = first.iter().filter(|&&n| n >= 40).count();
    assert!(common >= 2, "fewer than two first corners with ≥ 20 % of the demos: {first:?}");
    assert!(orders.len() >= 20, "only {} visiting orders", orders.len());
}

#[test]
fn demo_rows_are_consistent_and_end_at_the_top_score() {
    let ds = envs::generate_with(NAME, 3, Split::Train, 12, MAX_EPISODE_STEPS).unwrap();
    assert_eq!((ds.obs_dim, ds.act_dim, ds.qpos_dim, ds.qvel_dim, ds.button_dim), (4, 2, 6, 2, 0));
    for (s, e) in ds.episodes() {
        assert!(e - s <= MAX_EPISODE_STEPS);
        let last = ds.qpos_row(e - 1);
        assert_eq!(&last[2..], &[1.0; 4], "demo {s}..{e} does not end with every goal visited");
        assert!(ds.qpos_row(e - 2)[2..].contains(&0.0), "demo {s}..{e} goes on after its last goal");
        for t in s..e {
            let (o, q) = (ds.observation(t), ds.qpos_row(t));
            assert_eq!(&o[..2], &q[..2]);
            assert_eq!(&o[2..], &ds.qvel[2 * t..2 * t + 2]);
            assert!(ds.action(t).iter().all(|a| (-1.0..=1.0).contains(a)));
            if t > s {
                // Flags only switch on, and only within reach of their goal.
                let p = ds.qpos_row(t - 1);
                for k in 0..4 {
                    assert!(q[2 + k] >= p[2 + k]);
                    if q[2 + k] > p[2 + k] {
                        let d = ((q[0] - GOALS[k][0]).powi(2) + (q[1] - GOALS[k][1]).powi(2)).sqrt();
                        assert!(d <= GOAL_RADIUS, "goal {k} marked at distance {d}");
                    }
                }
            }
        }
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn same_seed_gives_identical_bytes() {
    let a = envs::generate_with(NAME, 7, Split::Train, 6, MAX_EPISODE_STEPS).unwrap();
    let b = envs::generate_with(NAME, 7, Split::Train, 6, MAX_EPISODE_STEPS).unwrap();
    assert_eq!(bits(&a.observations), bits(&b.observations));
    assert_eq!(bits(&a.actions), bits(&b.actions));
    assert_eq!(bits(&a.qpos), bits(&b.qpos));
    assert_eq!(bits(&a.qvel), bits(&b.qvel));
    assert_eq!(bits(&a.terminals), bits(&b.terminals));
    let c = envs::generate_with(NAME, 8, Split::Train, 6, MAX_EPISODE_STEPS).unwrap();
    assert_ne!(bits(&a.observations), bits(&c.observations), "seed ignored");
    let v = envs::generate(NAME, 7, Split::Val).unwrap();
    assert_eq!(v.episodes().len(), 20);
    // A cap cuts a demo short, with its terminal row.
    let short = envs::generate_with(NAME, 7, Split::Train, 3, 100).unwrap();
    assert_eq!(short.len(), 300);
    assert_eq!(short.episodes().len(), 3);
}

#[test]
fn dynamics_respect_speed_and_walls_over_random_steps() {
    let mut env = MultiGoalEnv::new(NAME);
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut obs = [0.0; 4];
    env.reset_into(0, None, &mut obs).unwrap();
    let (mut at_wall, mut fastest) = (0usize, 0.0f32);
    let mut dir = [1.0f32, 0.0];
    for t in 0..100_000u64 {
        // Persistent random directions reach the walls; white noise would not.
        if t % 300 == 0 {
            dir = [rng.random_range(-1.5f32..1.5), rng.random_range(-1.5f32..1.5)];
        }
        let before = env.visited();
        env.advance(dir);
        let (p, v, after) = (env.pos(), env.vel(), env.visited());
        assert!(p.iter().all(|x| (ARENA_LO..=ARENA_HI).contains(x)), "step {t}: left the arena at {p:?}");
        assert!(v.iter().all(|x| x.abs() <= MAX_SPEED + 1e-6), "step {t}: speed {v:?}");
        for k in 0..4 {
            assert!(after[k] >= before[k], "step {t}: a visited flag switched off");
        }
        at_wall += p.iter().any(|&x| x == ARENA_LO || x == ARENA_HI) as usize;
        fastest = fastest.max(v[0].abs().max(v[1].abs()));
        if t % 5000 == 4999 {
            env.reset_into(t, None, &mut obs).unwrap();
        }
    }
    println!("random walk: {at_wall} steps at a wall, fastest axis speed {fastest:.4}");
    assert!(at_wall > 1000, "the walk rarely reached a wall");
    assert!(fastest > 0.99 * MAX_SPEED);
    // A wall stops the velocity into it.
    env.set_state([ARENA_HI - 0.05, 8.0], [MAX_SPEED, 0.0], [false; 4]);
    env.advance([1.0, 0.0]);
    assert_eq!(env.pos()[0], ARENA_HI);
    assert_eq!(env.vel()[0], 0.0);
}

#[test]
fn goals_count_once_within_the_radius() {
    let mut env = make(NAME).unwrap();
    let mut obs = env.reset(4).unwrap();
    assert!(obs[..2].iter().all(|x| (7.0..=9.0).contains(x)) && obs[2..] == [0.0, 0.0]);
    assert_eq!(env.top_score(), 4.0);
    assert!(env.goal().is_empty());
    assert_eq!(env.tasks().len(), 1);
    assert_eq!(env.current_task(), Some(1));
    let mut mg = MultiGoalEnv::new(NAME);
    mg.set_state([16.0 - GOAL_RADIUS - 0.05, 16.0], [0.0; 2], [true, true, true, false]);
    assert_eq!(mg.score(), 3);
    let first = mg.step(&[1.0, 0.0]).unwrap();
    assert_eq!((first.reward, first.info.score, first.terminated), (0.0, 3.0, false), "0.05 short of the radius after one 0.02 step");
    let mut total = 0.0;
    for _ in 0..10 {
        let s = mg.step(&[1.0, 0.0]).unwrap();
        total += s.reward;
        if s.terminated {
            assert!(s.info.success && s.info.score == 4.0 && mg.success());
            break;
        }
    }
    assert_eq!(total, 1.0);
    assert!(mg.step(&[0.0, 0.0]).is_err(), "stepping after the end must fail");
    // The time limit truncates.
    env.reset(0).unwrap();
    for t in 1..=MAX_EPISODE_STEPS {
        let s = env.step(&[0.0, 0.0]).unwrap();
        assert_eq!(s.truncated, t == MAX_EPISODE_STEPS);
        obs = s.obs;
    }
    assert_eq!(obs.len(), 4);
}

#[test]
fn bad_input_names_the_problem() {
    let mut env = make(NAME).unwrap();
    env.reset(0).unwrap();
    let e = env.step(&[0.0, 0.0, 0.0]).unwrap_err();
    assert!(matches!(e, EnvError::ActionDim { expected: 2, got: 3, .. }), "{e}");
    assert!(e.to_string().contains(NAME), "{e}");
    let e = env.step(&[0.0, f32::NAN]).unwrap_err();
    assert!(matches!(e, EnvError::NonFiniteAction { index: 1, .. }), "{e}");
    assert!(matches!(env.reset_to_task(2, 0), Err(EnvError::TaskIndex { index: 2, count: 1, .. })));
    assert!(env.reset_to_task(1, 0).is_ok());
    let msg = make("multigoal5").err().unwrap().to_string();
    assert!(msg.contains("multigoal5") && msg.contains(NAME), "{msg}");
    assert!(make(&format!("{NAME}-singletask-task1")).is_err());
    assert!(envs::Task::resolve(NAME).unwrap().is_imitation());
    assert!(envs::base_tasks().contains(&NAME.to_string()));
    assert!(meta(NAME).unwrap().stands_in_for.contains("Multimodal Ant"));
}
