//! [`Lanes`]: the few vector operations the family's rules are written in,
//! for one `f64` (the portable path, and every array's tail), an SSE2
//! register (x86_64's baseline) and an AVX2 register (chosen at run time).
//!
//! A rule is written once, generically over `Lanes`, so every path runs the
//! same IEEE operations and agrees bit for bit; the kernel's tests check it.

use std::mem::MaybeUninit;

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// The multipliers of Chris Wellons' `lowbias32` integer hash.
const HASH: [u32; 2] = [0x7feb_352d, 0x846c_a68b];

/// `lowbias32`, the 32-bit hash of [`Lanes::hashed`]: a bijection
/// with good avalanche on consecutive inputs.
#[inline(always)]
pub(crate) fn hash32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(HASH[0]);
    x ^= x >> 15;
    x = x.wrapping_mul(HASH[1]);
    x ^ (x >> 16)
}

/// `2^52` as bits: OR-ed with an integer below `2^52` it makes the `f64`
/// `2^52 + n`, exactly.
const TWO_52: u64 = 0x4330_0000_0000_0000;

/// A group of `N` `f64` lanes and the per-lane operations the rules need.
pub trait Lanes: Copy {
    /// How many `f64` one value holds.
    const N: usize;
    /// One boolean per lane.
    type Mask: Copy;
    /// All lanes `x`.
    fn splat(x: f64) -> Self;
    /// The first `N` elements of `src`.
    fn load(src: &[f64]) -> Self;
    /// Writes the lanes to the first `N` elements of `dst`.
    fn store(self, dst: &mut [f64]);
    /// [`Lanes::store`] into memory that may be uninitialized.
    fn store_uninit(self, dst: &mut [MaybeUninit<f64>]);
    /// `self > t`, lane by lane: false for NaN.
    fn gt(self, t: Self) -> Self::Mask;
    /// `self >= t`, lane by lane: false for NaN.
    fn ge(self, t: Self) -> Self::Mask;
    /// `!(self <= t)`, lane by lane: true for NaN.
    fn not_le(self, t: Self) -> Self::Mask;
    /// `!(self < t)`, lane by lane: true for NaN.
    fn not_lt(self, t: Self) -> Self::Mask;
    /// Lanes set in both masks.
    fn and(a: Self::Mask, b: Self::Mask) -> Self::Mask;
    /// `a` where `m` is set, else `b`.
    fn select(m: Self::Mask, a: Self, b: Self) -> Self;
    /// `self · k`, lane by lane.
    fn mul(self, k: Self) -> Self;
    /// `self + k`, lane by lane.
    fn add(self, k: Self) -> Self;
    /// Lane `j` is `hash32(seed + i + j)` (integer arithmetic modulo
    /// `2^32`) as an `f64`, exactly: a uniform draw from `0..2^32` that
    /// depends only on `seed` and the element's index `i + j`, the same on
    /// every path.
    fn hashed(seed: u32, i: usize) -> Self;
    /// The mask as the low `N` bits of a word, lane `i` at bit `i`.
    fn to_bits(m: Self::Mask) -> u64;
    /// The mask of bits `i..i + N` of `word`, bit `i + j` for lane `j`: the
    /// inverse of [`Lanes::to_bits`] shifted left by `i`.
    fn from_bits(word: u64, i: usize) -> Self::Mask;
}

/// The portable path: one lane, plain `f64` arithmetic.
impl Lanes for f64 {
    const N: usize = 1;
    type Mask = bool;

    #[inline(always)]
    fn splat(x: f64) -> Self {
        x
    }

    #[inline(always)]
    fn load(src: &[f64]) -> Self {
        src[0]
    }

    #[inline(always)]
    fn store(self, dst: &mut [f64]) {
        dst[0] = self;
    }

    #[inline(always)]
    fn store_uninit(self, dst: &mut [MaybeUninit<f64>]) {
        dst[0].write(self);
    }

    #[inline(always)]
    fn gt(self, t: Self) -> bool {
        self > t
    }

    #[inline(always)]
    fn ge(self, t: Self) -> bool {
        self >= t
    }

    #[inline(always)]
    #[allow(clippy::neg_cmp_op_on_partial_ord)] // true for NaN, on purpose
    fn not_le(self, t: Self) -> bool {
        !(self <= t)
    }

    #[inline(always)]
    #[allow(clippy::neg_cmp_op_on_partial_ord)] // true for NaN, on purpose
    fn not_lt(self, t: Self) -> bool {
        !(self < t)
    }

    #[inline(always)]
    fn and(a: bool, b: bool) -> bool {
        a & b
    }

    #[inline(always)]
    fn select(m: bool, a: Self, b: Self) -> Self {
        if m {
            a
        } else {
            b
        }
    }

    #[inline(always)]
    fn mul(self, k: Self) -> Self {
        self * k
    }

    #[inline(always)]
    fn add(self, k: Self) -> Self {
        self + k
    }

    #[inline(always)]
    fn hashed(seed: u32, i: usize) -> Self {
        f64::from(hash32(seed.wrapping_add(i as u32)))
    }

    #[inline(always)]
    fn to_bits(m: bool) -> u64 {
        u64::from(m)
    }

    #[inline(always)]
    fn from_bits(word: u64, i: usize) -> bool {
        (word >> i) & 1 == 1
    }
}

/// Two lanes in an SSE2 register. SSE2 is part of the x86_64 baseline, so
/// no run-time detection is needed.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(crate) struct Sse2(__m128d);

#[cfg(target_arch = "x86_64")]
impl Lanes for Sse2 {
    const N: usize = 2;
    type Mask = __m128d;

    #[inline(always)]
    fn splat(x: f64) -> Self {
        // SAFETY: SSE2 is part of the x86_64 baseline.
        unsafe { Sse2(_mm_set1_pd(x)) }
    }

    #[inline(always)]
    fn load(src: &[f64]) -> Self {
        assert!(src.len() >= 2);
        // SAFETY: `src` holds at least two `f64` (checked above; the check
        // folds away in the kernel's fixed-size blocks); `loadu` has no
        // alignment requirement.
        Sse2(unsafe { _mm_loadu_pd(src.as_ptr()) })
    }

    #[inline(always)]
    fn store(self, dst: &mut [f64]) {
        assert!(dst.len() >= 2);
        // SAFETY: `dst` holds at least two `f64` (checked above) and is
        // borrowed mutably; `storeu` has no alignment requirement.
        unsafe { _mm_storeu_pd(dst.as_mut_ptr(), self.0) }
    }

    #[inline(always)]
    fn store_uninit(self, dst: &mut [MaybeUninit<f64>]) {
        assert!(dst.len() >= 2);
        // SAFETY: `dst` holds at least two `f64` (checked above) and is
        // borrowed mutably; `storeu` has no alignment requirement.
        unsafe { _mm_storeu_pd(dst.as_mut_ptr().cast(), self.0) }
    }

    #[inline(always)]
    fn gt(self, t: Self) -> __m128d {
        // SAFETY: SSE2 is part of the x86_64 baseline.
        unsafe { _mm_cmpgt_pd(self.0, t.0) }
    }

    #[inline(always)]
    fn ge(self, t: Self) -> __m128d {
        // SAFETY: SSE2 is part of the x86_64 baseline.
        unsafe { _mm_cmpge_pd(self.0, t.0) }
    }

    #[inline(always)]
    fn not_le(self, t: Self) -> __m128d {
        // SAFETY: SSE2 is part of the x86_64 baseline.
        unsafe { _mm_cmpnle_pd(self.0, t.0) }
    }

    #[inline(always)]
    fn not_lt(self, t: Self) -> __m128d {
        // SAFETY: SSE2 is part of the x86_64 baseline.
        unsafe { _mm_cmpnlt_pd(self.0, t.0) }
    }

    #[inline(always)]
    fn and(a: __m128d, b: __m128d) -> __m128d {
        // SAFETY: SSE2 is part of the x86_64 baseline.
        unsafe { _mm_and_pd(a, b) }
    }

    #[inline(always)]
    fn select(m: __m128d, a: Self, b: Self) -> Self {
        // SAFETY: SSE2 is part of the x86_64 baseline.
        unsafe { Sse2(_mm_or_pd(_mm_and_pd(m, a.0), _mm_andnot_pd(m, b.0))) }
    }

    #[inline(always)]
    fn mul(self, k: Self) -> Self {
        // SAFETY: SSE2 is part of the x86_64 baseline.
        unsafe { Sse2(_mm_mul_pd(self.0, k.0)) }
    }

    #[inline(always)]
    fn add(self, k: Self) -> Self {
        // SAFETY: SSE2 is part of the x86_64 baseline.
        unsafe { Sse2(_mm_add_pd(self.0, k.0)) }
    }

    #[inline(always)]
    fn hashed(seed: u32, i: usize) -> Self {
        // `hash32` on 32-bit values in the low halves of 64-bit lanes:
        // `mul_epu32` multiplies the low halves, and the 32-bit adds and
        // shifts keep each low half to itself; the high halves are zeroed
        // once, at the end, to read the low halves as integers below 2^52.
        // SAFETY: SSE2 is part of the x86_64 baseline.
        unsafe {
            let first = (seed as i32).wrapping_add(i as i32);
            let mut x = _mm_add_epi32(_mm_set1_epi64x(i64::from(first)), _mm_set_epi64x(1, 0));
            x = _mm_xor_si128(x, _mm_srli_epi32::<16>(x));
            x = _mm_mul_epu32(x, _mm_set1_epi64x(HASH[0].into()));
            x = _mm_xor_si128(x, _mm_srli_epi32::<15>(x));
            x = _mm_mul_epu32(x, _mm_set1_epi64x(HASH[1].into()));
            x = _mm_xor_si128(x, _mm_srli_epi32::<16>(x));
            let x = _mm_and_si128(x, _mm_set1_epi64x(0xffff_ffff));
            let two_52 = _mm_set1_epi64x(TWO_52 as i64);
            let n = _mm_castsi128_pd(_mm_or_si128(x, two_52));
            Sse2(_mm_sub_pd(n, _mm_castsi128_pd(two_52)))
        }
    }

    #[inline(always)]
    fn to_bits(m: __m128d) -> u64 {
        // SAFETY: SSE2 is part of the x86_64 baseline.
        unsafe { _mm_movemask_pd(m) as u64 }
    }

    #[inline(always)]
    fn from_bits(word: u64, i: usize) -> __m128d {
        // Both 32-bit halves of lane i test bit i, so a lane is all ones
        // exactly when its bit is set.
        // SAFETY: SSE2 is part of the x86_64 baseline.
        unsafe {
            let lanes = _mm_set_epi32(2, 2, 1, 1);
            let bits = _mm_set1_epi32(((word >> i) & 3) as i32);
            _mm_castsi128_pd(_mm_cmpeq_epi32(_mm_and_si128(bits, lanes), lanes))
        }
    }
}

/// Four lanes in an AVX2 register.
///
/// Only used in the loops' `in_place_avx2` and `copy_into_avx2` (and in
/// tests behind the same check), which are only
/// called once `is_x86_feature_detected!("avx2")` said yes: that is what
/// makes the `unsafe` blocks of its methods sound.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(crate) struct Avx2(__m256d);

#[cfg(target_arch = "x86_64")]
impl Lanes for Avx2 {
    const N: usize = 4;
    type Mask = __m256d;

    #[inline(always)]
    fn splat(x: f64) -> Self {
        // SAFETY: see the type's documentation: the CPU has AVX2.
        unsafe { Avx2(_mm256_set1_pd(x)) }
    }

    #[inline(always)]
    fn load(src: &[f64]) -> Self {
        assert!(src.len() >= 4);
        // SAFETY: the CPU has AVX2 (see the type's documentation), and
        // `src` holds at least four `f64`; `loadu` needs no alignment.
        Avx2(unsafe { opaque(_mm256_loadu_pd(src.as_ptr())) })
    }

    #[inline(always)]
    fn store(self, dst: &mut [f64]) {
        assert!(dst.len() >= 4);
        // SAFETY: the CPU has AVX2 (see the type's documentation), and
        // `dst` holds at least four `f64`; `storeu` needs no alignment.
        unsafe { _mm256_storeu_pd(dst.as_mut_ptr(), self.0) }
    }

    #[inline(always)]
    fn store_uninit(self, dst: &mut [MaybeUninit<f64>]) {
        assert!(dst.len() >= 4);
        // SAFETY: the CPU has AVX2 (see the type's documentation), and
        // `dst` holds at least four `f64`; `storeu` needs no alignment.
        unsafe { _mm256_storeu_pd(dst.as_mut_ptr().cast(), self.0) }
    }

    #[inline(always)]
    fn gt(self, t: Self) -> __m256d {
        // SAFETY: see the type's documentation: the CPU has AVX2.
        unsafe { _mm256_cmp_pd::<_CMP_GT_OQ>(self.0, t.0) }
    }

    #[inline(always)]
    fn ge(self, t: Self) -> __m256d {
        // SAFETY: see the type's documentation: the CPU has AVX2.
        unsafe { _mm256_cmp_pd::<_CMP_GE_OQ>(self.0, t.0) }
    }

    #[inline(always)]
    fn not_le(self, t: Self) -> __m256d {
        // SAFETY: see the type's documentation: the CPU has AVX2.
        unsafe { _mm256_cmp_pd::<_CMP_NLE_UQ>(self.0, t.0) }
    }

    #[inline(always)]
    fn not_lt(self, t: Self) -> __m256d {
        // SAFETY: see the type's documentation: the CPU has AVX2.
        unsafe { _mm256_cmp_pd::<_CMP_NLT_UQ>(self.0, t.0) }
    }

    #[inline(always)]
    fn and(a: __m256d, b: __m256d) -> __m256d {
        // SAFETY: see the type's documentation: the CPU has AVX2.
        unsafe { _mm256_and_pd(a, b) }
    }

    #[inline(always)]
    fn select(m: __m256d, a: Self, b: Self) -> Self {
        // SAFETY: see the type's documentation: the CPU has AVX2.
        unsafe { Avx2(_mm256_blendv_pd(b.0, a.0, m)) }
    }

    #[inline(always)]
    fn mul(self, k: Self) -> Self {
        // SAFETY: see the type's documentation: the CPU has AVX2.
        unsafe { Avx2(_mm256_mul_pd(self.0, k.0)) }
    }

    #[inline(always)]
    fn add(self, k: Self) -> Self {
        // SAFETY: see the type's documentation: the CPU has AVX2.
        unsafe { Avx2(_mm256_add_pd(self.0, k.0)) }
    }

    #[inline(always)]
    fn hashed(seed: u32, i: usize) -> Self {
        // As for `Sse2`, four lanes at a time.
        // SAFETY: see the type's documentation: the CPU has AVX2.
        unsafe {
            let first = (seed as i32).wrapping_add(i as i32);
            let lanes = _mm256_set_epi64x(3, 2, 1, 0);
            let mut x = _mm256_add_epi32(_mm256_set1_epi64x(i64::from(first)), lanes);
            x = _mm256_xor_si256(x, _mm256_srli_epi32::<16>(x));
            x = _mm256_mul_epu32(x, _mm256_set1_epi64x(HASH[0].into()));
            x = _mm256_xor_si256(x, _mm256_srli_epi32::<15>(x));
            x = _mm256_mul_epu32(x, _mm256_set1_epi64x(HASH[1].into()));
            x = _mm256_xor_si256(x, _mm256_srli_epi32::<16>(x));
            let x = _mm256_and_si256(x, _mm256_set1_epi64x(0xffff_ffff));
            let two_52 = _mm256_set1_epi64x(TWO_52 as i64);
            let n = _mm256_castsi256_pd(_mm256_or_si256(x, two_52));
            Avx2(_mm256_sub_pd(n, _mm256_castsi256_pd(two_52)))
        }
    }

    #[inline(always)]
    fn to_bits(m: __m256d) -> u64 {
        // SAFETY: see the type's documentation: the CPU has AVX2.
        unsafe { _mm256_movemask_pd(m) as u64 }
    }

    #[inline(always)]
    fn from_bits(word: u64, i: usize) -> __m256d {
        // Lane j tests bit i + j of the whole word: after unrolling, `i` is
        // a constant and the broadcast of `word` is shared by the block.
        let lanes = [1, 2, 4, 8].map(|b: i64| b << i);
        // SAFETY: see the type's documentation: the CPU has AVX2.
        unsafe {
            let lanes = _mm256_set_epi64x(lanes[3], lanes[2], lanes[1], lanes[0]);
            let word = _mm256_set1_epi64x(word as i64);
            _mm256_castsi256_pd(_mm256_cmpeq_epi64(_mm256_and_si256(word, lanes), lanes))
        }
    }
}

/// `v`, through an empty `asm!` block, so that LLVM cannot see where it was
/// loaded from.
///
/// Without it LLVM turns `store(select(m, load(p), y), p)` (every in-place
/// pass: an element either keeps its value or is replaced) into a masked
/// store, `vmaskmovpd`, which on AMD Zen is several times slower than the
/// plain load, blend and store; the in-place passes ran 3-4x slower with it.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
#[inline]
unsafe fn opaque(mut v: __m256d) -> __m256d {
    // SAFETY: the block is empty: it reads and writes nothing but `v`'s
    // register, and the caller guarantees the CPU has AVX.
    unsafe {
        std::arch::asm!("/* {0} */", inout(ymm_reg) v, options(pure, nomem, nostack, preserves_flags));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn sse2_mask_bits_round_trip() {
        for bits in 0..4 {
            assert_eq!(Sse2::to_bits(Sse2::from_bits(bits, 0)), bits);
            assert_eq!(Sse2::to_bits(Sse2::from_bits(bits << 62, 62)), bits);
            // Other bits of the word are ignored.
            assert_eq!(
                Sse2::to_bits(Sse2::from_bits(!(3 << 40) | bits << 40, 40)),
                bits
            );
        }
    }

    #[test]
    fn hashed_lanes_agree_with_the_scalar_hash() {
        let mut seen = [0usize; 16];
        for seed in [0u32, 1, 0xdead_beef, u32::MAX - 1, u32::MAX] {
            for i in [0, 1, 60, 4096] {
                let one: Vec<f64> = (0..4)
                    .map(|j| <f64 as Lanes>::hashed(seed, i + j))
                    .collect();
                for (j, &h) in one.iter().enumerate() {
                    assert_eq!(h, f64::from(hash32(seed.wrapping_add((i + j) as u32))));
                    seen[(h / 268_435_456.0) as usize] += 1;
                }
                #[cfg(target_arch = "x86_64")]
                {
                    let mut two = [0.0; 2];
                    Sse2::hashed(seed, i).store(&mut two);
                    assert_eq!(two[..], one[..2]);
                    if is_x86_feature_detected!("avx2") {
                        // SAFETY: the CPU has AVX2.
                        let four = unsafe { avx2_hashed(seed, i) };
                        assert_eq!(four[..], one[..]);
                    }
                }
            }
        }
        assert!(seen.iter().filter(|&&n| n > 0).count() > 8, "{seen:?}");
    }

    /// # Safety
    ///
    /// The CPU must have AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn avx2_hashed(seed: u32, i: usize) -> [f64; 4] {
        let mut four = [0.0; 4];
        Avx2::hashed(seed, i).store(&mut four);
        four
    }
}
