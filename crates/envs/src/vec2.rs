//! The 2-D vector arithmetic the planar tasks (soccer, PushT, blockpush2, kitchen2d) share, on
//! plain `[f32; 2]` so their states stay `Copy` arrays that write straight into observations.
//! (nalgebra, which rapier2d brings, would do, but converting at every step of the hand-written
//! physics costs more code than these eight lines save.)

#[inline]
pub(crate) fn sub(a: [f32; 2], b: [f32; 2]) -> [f32; 2] {
    [a[0] - b[0], a[1] - b[1]]
}
#[inline]
pub(crate) fn add(a: [f32; 2], b: [f32; 2]) -> [f32; 2] {
    [a[0] + b[0], a[1] + b[1]]
}
#[inline]
pub(crate) fn scale(s: f32, a: [f32; 2]) -> [f32; 2] {
    [s * a[0], s * a[1]]
}
#[inline]
pub(crate) fn dot(a: [f32; 2], b: [f32; 2]) -> f32 {
    a[0] * b[0] + a[1] * b[1]
}
/// The z component of the 3-D cross product.
#[inline]
pub(crate) fn cross(a: [f32; 2], b: [f32; 2]) -> f32 {
    a[0] * b[1] - a[1] * b[0]
}
#[inline]
pub(crate) fn norm(a: [f32; 2]) -> f32 {
    dot(a, a).sqrt()
}
#[inline]
pub(crate) fn dist(a: [f32; 2], b: [f32; 2]) -> f32 {
    norm(sub(a, b))
}
/// `a` normalised, or `fallback` when `a` is (nearly) zero.
#[inline]
pub(crate) fn unit_or(a: [f32; 2], fallback: [f32; 2]) -> [f32; 2] {
    let n = norm(a);
    if n > 1e-6 {
        scale(1.0 / n, a)
    } else {
        fallback
    }
}
