//! Seed derivation: every random stream of a run (each step's batch, each evaluation episode)
//! comes from the run seed and its position, so a resumed run draws exactly what an
//! uninterrupted one would, without saving generator state.

/// Mixes several words into one seed (SplitMix64 over the words).
pub fn mix(words: &[u64]) -> u64 {
    let mut z: u64 = 0x6A09_E667_F3BC_C908;
    for &w in words {
        z = z.wrapping_add(w).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
    }
    z
}
