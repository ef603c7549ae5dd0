//! The dot product at the heart of FIR filtering: one per output sample.
//!
//! In WebAssembly with the `simd128` feature (the browser client enables it; the edge worker,
//! whose optimiser step is not told of SIMD, does not) it uses 128-bit SIMD (four f32 lanes, two
//! accumulators); every browser engine has shipped it since 2023 (Chrome 91, Firefox 89, Safari 16.4). There is no run-time feature
//! detection in WebAssembly: an engine without SIMD rejects the whole module when it loads, so
//! these instructions can never run where they are not supported. Elsewhere (the host builds:
//! tests, the `aura-vad` CLI, benchmarks) a scalar loop with eight accumulators, which the
//! compiler vectorises for the host.

/// `sum(a[i] * b[i])` over the common length.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(all(target_arch = "wasm32", feature = "simd128"))]
    {
        // Safe to call (Rust knows a WebAssembly engine without the feature cannot have loaded
        // the module, see the module documentation).
        dot_simd128(a, b)
    }
    #[cfg(not(all(target_arch = "wasm32", feature = "simd128")))]
    {
        dot_scalar(a, b)
    }
}

/// The portable version (also the reference for the SIMD one).
pub fn dot_scalar(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let tail = plain_dot(ca.remainder(), cb.remainder());
    (acc[0] + acc[4]) + (acc[1] + acc[5]) + (acc[2] + acc[6]) + (acc[3] + acc[7]) + tail
}

/// The last few products, one at a time.
fn plain_dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(all(target_arch = "wasm32", feature = "simd128"))]
#[target_feature(enable = "simd128")]
fn dot_simd128(a: &[f32], b: &[f32]) -> f32 {
    use core::arch::wasm32::{
        f32x4_add, f32x4_extract_lane, f32x4_mul, f32x4_splat, v128, v128_load,
    };
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc0 = f32x4_splat(0.0);
    let mut acc1 = f32x4_splat(0.0);
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        // SAFETY: `x` and `y` are 8 f32s each, so both 16-byte loads at offsets 0 and 4 are in
        // bounds; WebAssembly loads have no alignment requirement.
        unsafe {
            let (px, py) = (x.as_ptr(), y.as_ptr());
            acc0 = f32x4_add(
                acc0,
                f32x4_mul(v128_load(px.cast::<v128>()), v128_load(py.cast::<v128>())),
            );
            acc1 = f32x4_add(
                acc1,
                f32x4_mul(
                    v128_load(px.add(4).cast::<v128>()),
                    v128_load(py.add(4).cast::<v128>()),
                ),
            );
        }
    }
    let acc = f32x4_add(acc0, acc1);
    let tail = plain_dot(ca.remainder(), cb.remainder());
    (f32x4_extract_lane::<0>(acc) + f32x4_extract_lane::<1>(acc))
        + (f32x4_extract_lane::<2>(acc) + f32x4_extract_lane::<3>(acc))
        + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_plain_sum_for_every_length_and_tail() {
        for n in [0, 1, 7, 8, 9, 63, 64, 65, 320] {
            let a: Vec<f32> = (0..n).map(|i| ((i * 7 % 13) as f32 - 6.0) / 8.0).collect();
            let b: Vec<f32> = (0..n).map(|i| ((i * 5 % 11) as f32 - 5.0) / 4.0).collect();
            let plain: f64 = a
                .iter()
                .zip(&b)
                .map(|(x, y)| f64::from(*x) * f64::from(*y))
                .sum();
            assert!((f64::from(dot(&a, &b)) - plain).abs() < 1e-4, "n = {n}");
        }
    }

    #[test]
    fn uses_the_common_length() {
        assert_eq!(dot(&[1.0, 2.0, 3.0], &[4.0, 5.0]), 14.0);
    }
}
