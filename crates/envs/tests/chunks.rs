//! NF-BC's chunk batches: histories never reach into the previous episode and chunks never run
//! past the episode's last transition.

use envs::{Batch, Split, TransitionSampler};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

#[test]
fn chunks_respect_episode_boundaries() {
    let ds = envs::generate_with("accelmaze-medium-navigate", 4, Split::Train, 3, 12).unwrap();
    let (od, ad) = (ds.obs_dim, ds.act_dim);
    let s = TransitionSampler::new(ds.clone()).unwrap();
    let (h, k) = (3, 4);
    let mut b = Batch::default();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    s.sample_chunks_into(500, h, k, &mut rng, &mut b);
    assert_eq!((b.obs_dim, b.act_dim, b.observations.len(), b.actions.len()), (h * od, k * ad, 500 * h * od, 500 * k * ad));
    let mut seen_padding = (false, false);
    for (i, &t) in b.idxs.iter().enumerate() {
        let ep = t / 12; // 12 rows per episode; rows 12·ep .. 12·ep + 10 are transitions
        let (first, last) = (12 * ep, 12 * ep + 10);
        for j in 0..h {
            let want = (t + j + 1).saturating_sub(h).max(first);
            seen_padding.0 |= t + j + 1 < h + first;
            assert_eq!(&b.observations[(i * h + j) * od..(i * h + j + 1) * od], ds.observation(want), "row {t} history {j}");
        }
        for j in 0..k {
            let want = (t + j).min(last);
            seen_padding.1 |= t + j > last;
            assert_eq!(&b.actions[(i * k + j) * ad..(i * k + j + 1) * ad], ds.action(want), "row {t} chunk {j}");
        }
    }
    assert!(seen_padding.0 && seen_padding.1, "the sample never exercised the episode edges");
}
