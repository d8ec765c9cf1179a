//! `rl::train_members` end to end: each member's run directory holds what its solo run writes,
//! a killed ensemble resumes bit-exactly, and a member whose loss goes NaN fails alone.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use envs::{Batch, Split};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rl::{Agent, AgentConfig, DataSpec, Members, Metrics, RlError, TrainConfig};

const TASK: &str = "pointmaze-medium-navigate";

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nf-rl-members-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn small() -> nf_algos::NfGcbcConfig {
    nf_algos::NfGcbcConfig { blocks: 2, channels: 32, encoder_hidden: vec![32, 32], rep: 8, lr: 1e-3, warmup: 10, schedule_steps: 100, ..Default::default() }
}

fn data() -> envs::Dataset {
    envs::generate_with(TASK, 0, Split::Train, 40, 1001).unwrap()
}

fn train_cfg(seed: u64, steps: u64) -> TrainConfig {
    TrainConfig { steps, batch_size: 64, eval_every: 50, eval_episodes: 2, seed }
}

fn column(dir: &Path, name: &str) -> Vec<f64> {
    rl::train::MetricsCsv::read(dir.join(rl::METRICS_FILE)).unwrap().series("step", name).unwrap().into_iter().map(|(_, v)| v).collect()
}

fn ensemble(dirs: &[PathBuf], seeds: &[u64], steps: u64) -> Vec<rl::Result<rl::TrainSummary>> {
    let dev = Device::Cpu;
    let mut ens = nf_algos::nf_gcbc::members(&small(), 2, 2, seeds, &dev).unwrap();
    let mut scratch = nf_algos::NfGcbc::new(small(), 2, 2, 0, &dev).unwrap();
    let cfgs: Vec<_> = seeds.iter().map(|&s| train_cfg(s, steps)).collect();
    rl::train_members(&mut ens, &mut scratch, &envs::Task::resolve(TASK).unwrap(), data(), &cfgs, dirs, &mut |_| {}).unwrap()
}

/// Member e of `cfg`'s ensemble against the solo agent with seed e, step by step for 100 steps
/// on the batches and noise streams the training loop gives each seed: the losses agree to
/// 1e-4 relative (the bound the design asks for; on the CPU with one thread they are bitwise
/// equal, which the runner test checks through whole runs).
fn members_follow_their_solo_runs<C: AgentConfig>(cfg: C) {
    let (dev, seeds) = (Device::Cpu, [0u64, 5, 11]);
    let sampler = Sampler::of(cfg.data_spec());
    let mut ens = cfg.build_members(2, 2, &seeds, &dev).expect("an ensemble form").unwrap();
    let mut solos: Vec<C::Agent> = seeds.iter().map(|&s| cfg.build(2, 2, s, &dev).unwrap()).collect();
    let stream = |seed: u64, step: u64| ChaCha8Rng::seed_from_u64(rl::seeds::mix(&[seed, step]));
    let mut batches: Vec<Batch> = seeds.iter().map(|_| Batch::default()).collect();
    let mut worst = 0f64;
    for step in 0..100 {
        let mut rngs: Vec<ChaCha8Rng> = seeds.iter().map(|&s| stream(s, step)).collect();
        for (b, r) in batches.iter_mut().zip(rngs.iter_mut()) {
            sampler.sample_into(64, r, b);
        }
        let got = ens.update(&batches, &mut rngs, &[true; 3]).unwrap();
        for (e, &seed) in seeds.iter().enumerate() {
            let (mut r, mut b) = (stream(seed, step), Batch::default());
            sampler.sample_into(64, &mut r, &mut b);
            let want = solos[e].update(&b, &mut r).unwrap();
            let got = got[e].as_ref().expect("a live member reports").as_ref().expect("a finite loss");
            assert_eq!(got.len(), want.len());
            for ((gk, g), (wk, w)) in got.iter().zip(&want) {
                assert_eq!(gk, wk);
                let err = (g - w).abs() / w.abs().max(1.0);
                worst = worst.max(err);
                assert!(err <= 1e-4, "{}: step {step}, member {e}: {gk} {g} vs solo {w}", C::NAME);
            }
        }
    }
    println!("{}: largest relative difference over 100 steps × 3 members: {worst:e}", C::NAME);
    for (e, solo) in solos.iter().enumerate() {
        let (m, s): (HashMap<_, _>, HashMap<_, _>) = (ens.member_state(e).unwrap().into_iter().collect(), solo.state().unwrap().into_iter().collect());
        assert_eq!(m.len(), s.len(), "{}: member {e}'s state has the solo agent's tensors", C::NAME);
        for (k, t) in &s {
            assert_eq!(m[k].dims(), t.dims(), "{}: {k}", C::NAME);
        }
    }
}

/// The batches the training loop draws for a data spec (goal-conditioned on the maze, transitions
/// on its singletask variant).
enum Sampler {
    Goal(envs::GcSampler),
    Transitions(envs::TransitionSampler),
    Chunks(envs::TransitionSampler, usize, usize),
}

impl Sampler {
    fn of(spec: DataSpec) -> Self {
        match spec {
            DataSpec::GoalConditioned(goals) => Sampler::Goal(envs::GcSampler::new(data(), goals).unwrap()),
            DataSpec::ValueGoals(goals) => Sampler::Goal(envs::GcSampler::value_based(data(), goals).unwrap()),
            DataSpec::Transitions => {
                let task = format!("{TASK}-singletask-task3");
                let ds = envs::generate_with(&task, 0, Split::Train, 40, 1001).unwrap();
                let (r, m) = envs::singletask_rewards(&envs::Task::resolve(&task).unwrap(), &ds).unwrap();
                Sampler::Transitions(envs::TransitionSampler::new(ds).unwrap().with_rewards(r, m).unwrap())
            }
            DataSpec::Chunks { obs_history, action_chunk, .. } => Sampler::Chunks(envs::TransitionSampler::new(data()).unwrap(), obs_history, action_chunk),
            DataSpec::Online(_) => unreachable!("no online agent has a member ensemble"),
        }
    }

    fn sample_into(&self, n: usize, rng: &mut ChaCha8Rng, out: &mut Batch) {
        match self {
            Sampler::Goal(s) => s.sample_into(n, rng, out),
            Sampler::Transitions(s) => s.sample_transitions_into(n, rng, out),
            Sampler::Chunks(s, h, k) => s.sample_chunks_into(n, *h, *k, rng, out),
        }
    }
}

#[test]
fn nf_bc_members_follow_their_solo_runs() {
    members_follow_their_solo_runs(nf_algos::NfBcConfig {
        blocks: 2,
        channels: 32,
        encoder_hidden: vec![32],
        rep: 8,
        obs_history: 2,
        action_chunk: 4,
        execute: 2,
        warmup: 10,
        schedule_steps: 100,
        ..Default::default()
    });
}

#[test]
fn nf_rlbc_members_follow_their_solo_runs() {
    members_follow_their_solo_runs(nf_algos::NfRlbcConfig { blocks: 2, channels: 32, encoder_hidden: vec![32], rep: 8, critic_hidden: vec![32, 32], alpha: 1.0, ..Default::default() });
}

#[test]
fn nf_gcbc_members_follow_their_solo_runs() {
    members_follow_their_solo_runs(small());
}

#[test]
fn bc_and_fm_gcbc_members_follow_their_solo_runs() {
    members_follow_their_solo_runs(baselines::BcConfig { hidden: vec![64, 64], lr: 1e-3, ..Default::default() });
    members_follow_their_solo_runs(baselines::FmGcbcConfig { hidden: vec![64, 64], lr: 1e-3, ..Default::default() });
}

#[test]
fn rebrac_members_follow_their_solo_runs() {
    members_follow_their_solo_runs(baselines::RebracConfig { actor_hidden: vec![32, 32], critic_hidden: vec![32, 32], ..Default::default() });
}

#[test]
fn fql_members_follow_their_solo_runs() {
    members_follow_their_solo_runs(baselines::FqlConfig { actor_hidden: vec![32, 32], critic_hidden: vec![32, 32], flow_steps: 3, ..Default::default() });
    members_follow_their_solo_runs(baselines::FqlConfig {
        actor_hidden: vec![32, 32],
        critic_hidden: vec![32, 32],
        flow_steps: 3,
        normalize_q_loss: true,
        q_agg: baselines::FqlQAgg::Min,
        ..Default::default()
    });
}

#[test]
fn gcbc_members_follow_their_solo_runs() {
    members_follow_their_solo_runs(baselines::GcbcConfig { hidden: vec![64, 64], lr: 1e-3, ..Default::default() });
}

#[test]
fn member_runs_write_their_solo_records_and_resume_bitwise() {
    let seeds = [0u64, 1];
    let task = envs::Task::resolve(TASK).unwrap();
    let full: Vec<PathBuf> = seeds.iter().map(|s| tmp(&format!("full{s}"))).collect();
    let split: Vec<PathBuf> = seeds.iter().map(|s| tmp(&format!("split{s}"))).collect();
    for r in ensemble(&full, &seeds, 100) {
        assert_eq!(r.unwrap().resumed_from, 0);
    }
    // "Kill" after the first checkpoint: the ensemble told to stop at 50, then the same to 100.
    ensemble(&split, &seeds, 50);
    for r in ensemble(&split, &seeds, 100) {
        assert_eq!(r.unwrap().resumed_from, 50);
    }
    for (e, &seed) in seeds.iter().enumerate() {
        // Resumed = uninterrupted, bit for bit (parameters, optimiser state, metrics).
        let load = |d: &Path| candle_core::safetensors::load(d.join(rl::LAST_CHECKPOINT), &Device::Cpu).unwrap();
        let (a, b) = (load(&full[e]), load(&split[e]));
        assert_eq!(a.len(), b.len());
        for (k, t) in &a {
            let flat = |t: &Tensor| t.flatten_all().unwrap().to_dtype(candle_core::DType::F64).unwrap().to_vec1::<f64>().unwrap();
            assert_eq!(flat(t), flat(&b[k]), "member {e}: {k} differs after resumption");
        }
        let strip = |p: &Path| -> Vec<String> { std::fs::read_to_string(p.join(rl::METRICS_FILE)).unwrap().lines().map(|l| l.rsplit_once(',').unwrap().0.to_string()).collect() };
        assert_eq!(strip(&full[e]), strip(&split[e]), "member {e}: metrics after resumption");

        // The member's records are its solo run's: same columns, same loss averages (to 1e-4),
        // and its checkpoint loads into, and resumes as, a solo agent.
        let solo_dir = tmp(&format!("solo{seed}"));
        let mut solo = nf_algos::NfGcbc::new(small(), 2, 2, seed, &Device::Cpu).unwrap();
        rl::train(&mut solo, &task, data(), &train_cfg(seed, 100), &solo_dir, &mut |_| {}).unwrap();
        let header = |d: &Path| rl::train::MetricsCsv::read(d.join(rl::METRICS_FILE)).unwrap().header().clone();
        assert_eq!(header(&full[e]), header(&solo_dir));
        let (m, s) = (column(&full[e], "train/nll"), column(&solo_dir, "train/nll"));
        assert_eq!(m.len(), 2);
        for (x, y) in m.iter().zip(&s) {
            assert!((x - y).abs() <= 1e-4 * y.abs().max(1.0), "member {e}: mean nll {x} vs solo {y}");
        }
        let mut reloaded = nf_algos::NfGcbc::new(small(), 2, 2, 99, &Device::Cpu).unwrap();
        assert_eq!(rl::load_checkpoint(&mut reloaded, &full[e].join(rl::LAST_CHECKPOINT)).unwrap().0, 100);
    }
}

/// Three members; member 1's loss is NaN at its 7th step.
struct FaultyMembers {
    steps: [u64; 3],
}

impl Members for FaultyMembers {
    fn count(&self) -> usize {
        3
    }
    fn data_spec(&self) -> DataSpec {
        DataSpec::GoalConditioned(envs::GoalConfig::default())
    }
    fn update(&mut self, _b: &[Batch], _r: &mut [ChaCha8Rng], live: &[bool]) -> rl::Result<Vec<Option<rl::Result<Metrics>>>> {
        Ok((0..3)
            .map(|e| {
                live[e].then(|| {
                    self.steps[e] += 1;
                    let v = if e == 1 && self.steps[e] == 7 { f64::NAN } else { 1.0 };
                    Ok(vec![("critic_loss".into(), rl::check_finite("critic_loss", v)?)])
                })
            })
            .collect())
    }
    fn member_state(&self, e: usize) -> rl::Result<Vec<(String, Tensor)>> {
        Ok(vec![("steps".into(), Tensor::new(&[self.steps[e] as i64], &Device::Cpu)?)])
    }
    fn load_member_state(&mut self, e: usize, s: &HashMap<String, Tensor>) -> rl::Result<()> {
        self.steps[e] = s["steps"].to_vec1::<i64>()?[0] as u64;
        Ok(())
    }
}

/// The solo agent the members' states are evaluated and saved through.
struct Scratch {
    steps: u64,
}

impl Agent for Scratch {
    fn name(&self) -> &str {
        "faulty"
    }
    fn data_spec(&self) -> DataSpec {
        DataSpec::GoalConditioned(envs::GoalConfig::default())
    }
    fn update(&mut self, _b: &Batch, _r: &mut ChaCha8Rng) -> rl::Result<Metrics> {
        unreachable!("the ensemble trains; the scratch agent only evaluates")
    }
    fn act(&self, _o: &[f32], _g: Option<&[f32]>, n: usize, _r: &mut ChaCha8Rng) -> rl::Result<Vec<f32>> {
        Ok(vec![0.0; 2 * n])
    }
    fn state(&self) -> rl::Result<Vec<(String, Tensor)>> {
        Ok(vec![("steps".into(), Tensor::new(&[self.steps as i64], &Device::Cpu)?)])
    }
    fn load_state(&mut self, s: &HashMap<String, Tensor>) -> rl::Result<()> {
        self.steps = s["steps"].to_vec1::<i64>()?[0] as u64;
        Ok(())
    }
}

#[test]
fn a_nan_member_fails_alone_naming_step_term_and_checkpoint() {
    let dirs: Vec<PathBuf> = (0..3).map(|e| tmp(&format!("nan{e}"))).collect();
    let cfgs: Vec<_> = (0..3).map(|s| TrainConfig { steps: 20, batch_size: 8, eval_every: 5, eval_episodes: 1, seed: s }).collect();
    let data = envs::generate_with(TASK, 0, Split::Train, 2, 51).unwrap();
    let out = rl::train_members(&mut FaultyMembers { steps: [0; 3] }, &mut Scratch { steps: 0 }, &envs::Task::resolve(TASK).unwrap(), data, &cfgs, &dirs, &mut |_| {}).unwrap();
    let err = out[1].as_ref().unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, RlError::NonFinite { step: 7, .. }), "{msg}");
    assert!(msg.contains("critic_loss") && msg.contains("step 7") && msg.contains("last.safetensors"), "{msg}");
    // The failed member's records end at its step-5 evaluation; the others ran all 20 steps.
    assert_eq!(std::fs::read_to_string(dirs[1].join(rl::METRICS_FILE)).unwrap().lines().count(), 2);
    for e in [0, 2] {
        assert!(out[e].is_ok(), "member {e}: {:?}", out[e].as_ref().err());
        assert_eq!(column(&dirs[e], "eval/success").len(), 4, "member {e}");
        let ckpt = candle_core::safetensors::load(dirs[e].join(rl::LAST_CHECKPOINT), &Device::Cpu).unwrap();
        assert_eq!(ckpt["steps"].to_vec1::<i64>().unwrap(), [20], "member {e} trained every step");
    }
}
