//! A member ensemble is E solo models in one: member e, built from seed e, has the parameters,
//! values, gradients, losses and optimiser trajectory of the solo model with that seed.

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarMap;
use nf_core::optim::{AdamW, Trainer, WarmupCosine};
use nf_core::{Activation, ConditionalFlow, EncoderConfig, FlowConfig, Mlp};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const SEEDS: [u64; 3] = [3, 17, 40];

fn cfg() -> FlowConfig {
    FlowConfig { blocks: 3, channels: 16, encoder: EncoderConfig { hidden: vec![24, 24], rep: 8, ..EncoderConfig::default() }, ..FlowConfig::gcbc(3, 5) }
}

fn flat(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap()
}

/// Largest |a − b| relative to the larger of 1 and max |b|.
fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    a.iter().zip(b).fold(0.0f64, |m, (x, y)| m.max((x - y).abs())) / scale
}

fn randn(shape: &[usize], seed: u64) -> Tensor {
    use rand::Rng;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.random_range(-1.5f32..1.5)).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

#[test]
fn a_member_starts_bitwise_as_the_solo_flow_with_its_seed() {
    let ens = ConditionalFlow::members(cfg(), &SEEDS, &Device::Cpu).unwrap();
    assert_eq!(ens.member_count(), Some(SEEDS.len()));
    for (e, &seed) in SEEDS.iter().enumerate() {
        let solo = ConditionalFlow::new(cfg(), seed, &Device::Cpu).unwrap().named_tensors();
        let member = ens.member_tensors(e).unwrap();
        assert_eq!(member.len(), solo.len());
        for (name, t) in &solo {
            assert_eq!(member[name].dims(), t.dims(), "{name}");
            assert_eq!(flat(&member[name]), flat(t), "member {e}: {name}");
        }
    }
}

/// Values and parameter gradients of log p, both directions, member by member.
#[test]
fn members_compute_the_solo_values_and_gradients() {
    let dev = Device::Cpu;
    let (e_n, b) = (SEEDS.len(), 9);
    let ens = ConditionalFlow::members(cfg(), &SEEDS, &dev).unwrap();
    let (x, y) = (randn(&[e_n, b, 3], 1), randn(&[e_n, b, 5], 2));
    let lp = ens.log_prob(&x, Some(&y)).unwrap();
    assert_eq!(lp.dims(), [e_n, b]);
    let (z, ld) = ens.inverse(&x, Some(&y)).unwrap();
    let grads = lp.sum_all().unwrap().backward().unwrap();
    let ens_vars = ens.trainable_vars();
    for (e, &seed) in SEEDS.iter().enumerate() {
        let solo = ConditionalFlow::new(cfg(), seed, &dev).unwrap();
        let (xe, ye) = (x.get(e).unwrap(), y.get(e).unwrap());
        let lp_e = solo.log_prob(&xe, Some(&ye)).unwrap();
        assert!(rel_err(&flat(&lp.get(e).unwrap()), &flat(&lp_e)) < 1e-5, "member {e}: log p");
        let (z_e, ld_e) = solo.inverse(&xe, Some(&ye)).unwrap();
        assert!(rel_err(&flat(&z.get(e).unwrap()), &flat(&z_e)) < 1e-5, "member {e}: inverse");
        assert!(rel_err(&flat(&ld.get(e).unwrap()), &flat(&ld_e)) < 1e-5, "member {e}: inverse log-det");
        let g_e = lp_e.sum_all().unwrap().backward().unwrap();
        for (ev, sv) in ens_vars.iter().zip(solo.trainable_vars()) {
            let (ge, gs) = (grads.get(ev.as_tensor()).expect("ensemble gradient"), g_e.get(sv.as_tensor()).expect("solo gradient"));
            assert!(rel_err(&flat(&ge.get(e).unwrap()), &flat(gs)) < 1e-4, "member {e}: gradient of a {:?} parameter", sv.dims());
        }
    }
}

/// Member e's loss uses member e's noise stream; a few AdamW steps on the summed loss move each
/// member as its solo run moves, and its optimiser state is the solo run's.
#[test]
fn members_train_as_their_solo_runs_and_save_solo_state() {
    let dev = Device::Cpu;
    let (e_n, b) = (SEEDS.len(), 16);
    let ens = ConditionalFlow::members(cfg(), &SEEDS, &dev).unwrap();
    let schedule = WarmupCosine { peak: 1e-3, warmup: 2, total: 10, floor: 1e-5 };
    let mut ens_trainer = Trainer::new(ens.trainable_vars(), schedule, 1e-4).unwrap();
    let solos: Vec<_> = SEEDS.iter().map(|&s| ConditionalFlow::new(cfg(), s, &dev).unwrap()).collect();
    let mut solo_trainers: Vec<_> = solos.iter().map(|f| Trainer::new(f.trainable_vars(), schedule, 1e-4).unwrap()).collect();
    let mut ens_rngs: Vec<_> = SEEDS.iter().map(|&s| ChaCha8Rng::seed_from_u64(s + 100)).collect();
    let mut solo_rngs = ens_rngs.clone();
    for step in 0..5 {
        let (x, y) = (randn(&[e_n, b, 3], 10 + step), randn(&[e_n, b, 5], 20 + step));
        let losses = ens.member_nll_losses(&x, Some(&y), &mut ens_rngs).unwrap();
        ens_trainer.step(&losses.sum_all().unwrap()).unwrap();
        for e in 0..e_n {
            let solo_loss = solos[e].nll_loss(&x.get(e).unwrap(), Some(&y.get(e).unwrap()), &mut solo_rngs[e]).unwrap();
            let (a, s) = (flat(&losses.get(e).unwrap())[0], flat(&solo_loss)[0]);
            assert!((a - s).abs() <= 1e-4 * s.abs().max(1.0), "step {step}, member {e}: loss {a} vs solo {s}");
            solo_trainers[e].step(&solo_loss).unwrap();
        }
    }
    for e in 0..e_n {
        let (member, solo) = (ens.member_tensors(e).unwrap(), solos[e].named_tensors());
        for (name, t) in &solo {
            assert!(rel_err(&flat(&member[name]), &flat(t)) < 1e-4, "member {e}: {name} after training");
        }
        let (m_state, s_state) = (ens_trainer.optimizer().member_state("opt", e, e_n).unwrap(), solo_trainers[e].optimizer().state("opt").unwrap());
        assert_eq!(m_state.len(), s_state.len());
        for ((mk, mt), (sk, st)) in m_state.iter().zip(&s_state) {
            assert_eq!(mk, sk);
            assert_eq!(mt.dims(), st.dims(), "{mk}");
            assert!(rel_err(&flat(mt), &flat(st)) < 1e-3, "member {e}: {mk}");
        }
    }
}

/// A solo checkpoint loads into a member slot and reads back unchanged, optimiser state included;
/// the other members are untouched.
#[test]
fn a_solo_state_loads_into_one_member_and_back() {
    let dev = Device::Cpu;
    let ens = ConditionalFlow::members(cfg(), &SEEDS, &dev).unwrap();
    let other = ConditionalFlow::new(cfg(), 999, &dev).unwrap();
    let before = ens.member_tensors(0).unwrap();
    ens.set_member_tensors(1, &other.named_tensors(), "").unwrap();
    for (name, t) in other.named_tensors() {
        assert_eq!(flat(&ens.member_tensors(1).unwrap()[&name]), flat(&t), "{name}");
        assert_eq!(flat(&ens.member_tensors(0).unwrap()[&name]), flat(&before[&name]), "member 0 changed: {name}");
    }
    let solo = ens.member(1).unwrap();
    assert_eq!(solo.member_count(), None);
    for (name, t) in other.named_tensors() {
        assert_eq!(flat(&solo.named_tensors()[&name]), flat(&t), "{name}");
    }
    // Wrong member or wrong shape: a clear error.
    assert!(ens.set_member_tensors(SEEDS.len(), &other.named_tensors(), "").unwrap_err().to_string().contains("member 3 of an ensemble of 3"));
    let err = ens.log_prob(&randn(&[2, 4, 3], 0), Some(&randn(&[2, 4, 5], 0))).unwrap_err().to_string();
    assert!(err.contains("[3 members, batch, 3]"), "{err}");

    // Optimiser state: member slots of an AdamW over stacked variables.
    let vars: Vec<Var> = ens.trainable_vars();
    let mut opt = AdamW::new(vars, 1e-3, 0.0).unwrap();
    let solo_opt = AdamW::new(other.trainable_vars(), 1e-3, 0.0).unwrap();
    let state: std::collections::HashMap<_, _> = solo_opt.state("opt").unwrap().into_iter().collect();
    opt.load_member_state("opt", 2, SEEDS.len(), &state).unwrap();
    for (k, t) in opt.member_state("opt", 2, SEEDS.len()).unwrap() {
        assert_eq!(flat(&t), flat(&state[&k]), "{k}");
    }
}

#[test]
fn an_mlp_ensemble_computes_its_members_solo_values() {
    let dev = Device::Cpu;
    let params = VarMap::new();
    let ens = Mlp::members(&params, "q", 6, &[16, 16], 2, Activation::Gelu, true, &SEEDS, &dev).unwrap();
    let x = randn(&[SEEDS.len(), 7, 6], 5);
    let y = ens.forward(&x).unwrap();
    assert_eq!(y.dims(), [SEEDS.len(), 7, 2]);
    for (e, &seed) in SEEDS.iter().enumerate() {
        let solo = Mlp::new(&VarMap::new(), "q", 6, &[16, 16], 2, Activation::Gelu, true, seed, &dev).unwrap();
        assert!(rel_err(&flat(&y.get(e).unwrap()), &flat(&solo.forward(&x.get(e).unwrap()).unwrap())) < 1e-5, "member {e}");
    }
}
