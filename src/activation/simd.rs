//! The machinery under the rectifier kernel: [`Lanes`], the few vector
//! operations the rules are written in, for one `f64` (the portable path,
//! and every array's tail), an SSE2 register (x86_64's baseline) and an AVX2
//! register (chosen at run time); and the loops that run a [`Pass`] over a
//! slice, 64 elements (one mask word) at a time, with the widest lanes the
//! CPU has.
//!
//! A rule is written once, generically over `Lanes`, so every path runs the
//! same IEEE operations and agrees bit for bit; the kernel's tests check it.

use std::mem::MaybeUninit;

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Elements per block: one mask word.
pub(super) const WORD: usize = u64::BITS as usize;

/// What a pass does to each element, and the mask word it keeps per block.
///
/// The loops below do every load and store; a pass only maps values, so
/// every element of a block is written exactly once, whatever the pass.
pub(super) trait Pass: Send {
    /// The word block `k` starts from: its recorded sides, or 0.
    #[inline(always)]
    fn word(&self, _k: usize) -> u64 {
        0
    }
    /// The new values of `x`, elements `i..i + V::N` of a block whose word
    /// is `word` (which the pass may update).
    fn lanes<V: Lanes>(&self, x: V, i: usize, word: &mut u64) -> V;
    /// Takes block `k`'s final word.
    #[inline(always)]
    fn finish(&mut self, _k: usize, _word: u64) {}
    /// The pass over blocks `..k` and the pass over blocks `k..`.
    #[cfg(feature = "rayon")]
    fn split_at(self, k: usize) -> (Self, Self)
    where
        Self: Sized;
}

/// Runs `pass` over `data` in place, on the calling thread even with the
/// `rayon` feature: an in-place pass is bound by memory bandwidth, which one
/// core nearly saturates on the 2-core machine this was measured on, where
/// two threads ran it 0.85-1.2x as fast as one (no consistent gain) from
/// 2^20 to 2^24 elements.
pub(super) fn in_place<P: Pass>(mut pass: P, data: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        return unsafe { in_place_avx2(&mut pass, data) };
    }
    blocks_in_place::<Fast, P>(&mut pass, data);
}

/// Runs `pass` over `src` into a new vector, reading `src` once and
/// writing the result once (no copy followed by a second pass).
pub(super) fn copied<P: Pass>(pass: P, src: &[f64]) -> Vec<f64> {
    let mut out = crate::alloc::buffer(src.len());
    copy_into(pass, src, &mut out.spare_capacity_mut()[..src.len()]);
    // SAFETY: `copy_into` wrote every element of the first `src.len()`
    // elements of `out`'s spare capacity.
    unsafe { out.set_len(src.len()) };
    out
}

/// Runs `pass` over `src` into `dst`, of the same length, writing every
/// element of `dst`.
fn copy_into<P: Pass>(mut pass: P, src: &[f64], dst: &mut [MaybeUninit<f64>]) {
    #[cfg(feature = "rayon")]
    if let Some(mid) = parallel_split(src.len()) {
        let (a, b) = pass.split_at(mid / WORD);
        let ((sa, sb), (da, db)) = (src.split_at(mid), dst.split_at_mut(mid));
        rayon::join(|| copy_into(a, sa, da), || copy_into(b, sb, db));
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        return unsafe { copy_into_avx2(&mut pass, src, dst) };
    }
    blocks_copied::<Fast, P>(&mut pass, src, dst);
}

/// Elements from which [`copy_into`] splits its work between threads.
///
/// Writing a new array is bound by the page faults of its fresh memory,
/// which two threads take in parallel. Measured on 2 cores: 1.15-1.35x from
/// 2^19 elements (4 MiB), 1.4-1.7x from 2^22 on, slower at 2^18.
#[cfg(all(feature = "rayon", not(test)))]
const PARALLEL_MIN: usize = 1 << 19;

/// Small enough for the tests to reach the parallel path.
#[cfg(all(feature = "rayon", test))]
const PARALLEL_MIN: usize = 300;

/// Where to cut `len` elements in two, at a block boundary, if there are at
/// least [`PARALLEL_MIN`]: the halves go to two threads (and may be cut
/// again).
#[cfg(feature = "rayon")]
fn parallel_split(len: usize) -> Option<usize> {
    (len >= PARALLEL_MIN).then(|| (len / 2).next_multiple_of(WORD))
}

/// The widest lanes every CPU of the target has.
#[cfg(target_arch = "x86_64")]
type Fast = Sse2;
#[cfg(not(target_arch = "x86_64"))]
type Fast = f64;

/// [`blocks_in_place`] compiled for AVX2.
///
/// # Safety
///
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn in_place_avx2<P: Pass>(pass: &mut P, data: &mut [f64]) {
    blocks_in_place::<Avx2, P>(pass, data);
}

/// [`blocks_copied`] compiled for AVX2.
///
/// # Safety
///
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn copy_into_avx2<P: Pass>(pass: &mut P, src: &[f64], dst: &mut [MaybeUninit<f64>]) {
    blocks_copied::<Avx2, P>(pass, src, dst);
}

/// Runs `pass` over `data` in place with lanes `V` for whole blocks and one
/// lane for the tail.
#[inline(always)]
pub(super) fn blocks_in_place<V: Lanes, P: Pass>(pass: &mut P, data: &mut [f64]) {
    let mut blocks = data.chunks_exact_mut(WORD);
    let mut k = 0;
    for block in &mut blocks {
        run_block::<V, P>(pass, k, WORD, block);
        k += 1;
    }
    let tail = blocks.into_remainder();
    if !tail.is_empty() {
        run_block::<f64, P>(pass, k, tail.len(), tail);
    }
}

/// Runs `pass` over `src` into `dst`, of the same length, with lanes `V`
/// for whole blocks and one lane for the tail; writes every element of `dst`.
#[inline(always)]
pub(super) fn blocks_copied<V: Lanes, P: Pass>(
    pass: &mut P,
    src: &[f64],
    dst: &mut [MaybeUninit<f64>],
) {
    assert_eq!(src.len(), dst.len());
    let mut blocks = src.chunks_exact(WORD).zip(dst.chunks_exact_mut(WORD));
    let mut k = 0;
    for (src, dst) in &mut blocks {
        run_block::<V, P>(pass, k, WORD, &mut Copied { src, dst });
        k += 1;
    }
    let done = k * WORD;
    if done < src.len() {
        let (src, dst) = (&src[done..], &mut dst[done..]);
        run_block::<f64, P>(pass, k, src.len(), &mut Copied { src, dst });
    }
}

/// Runs `pass` over block `k`, elements `0..len` of `io`, `V::N` at a time;
/// `len` is a multiple of `V::N`. Stores every element.
#[inline(always)]
fn run_block<V: Lanes, P: Pass>(pass: &mut P, k: usize, len: usize, io: &mut (impl Io + ?Sized)) {
    // A constant in every instance: `len` is `WORD` or `V::N` is 1.
    assert_eq!(len % V::N, 0, "no element left unwritten");
    let mut word = pass.word(k);
    for i in (0..len / V::N).map(|j| j * V::N) {
        let y = pass.lanes(io.load::<V>(i), i, &mut word);
        io.store(i, y);
    }
    pass.finish(k, word);
}

/// Where a block is read from and written to.
trait Io {
    /// Elements `i..i + V::N` of the input.
    fn load<V: Lanes>(&self, i: usize) -> V;
    /// Writes elements `i..i + V::N` of the output.
    fn store<V: Lanes>(&mut self, i: usize, y: V);
}

/// In place.
impl Io for [f64] {
    #[inline(always)]
    fn load<V: Lanes>(&self, i: usize) -> V {
        V::load(&self[i..])
    }

    #[inline(always)]
    fn store<V: Lanes>(&mut self, i: usize, y: V) {
        y.store(&mut self[i..]);
    }
}

/// From `src` into the uninitialized `dst` of the same length.
struct Copied<'a> {
    src: &'a [f64],
    dst: &'a mut [MaybeUninit<f64>],
}

impl Io for Copied<'_> {
    #[inline(always)]
    fn load<V: Lanes>(&self, i: usize) -> V {
        V::load(&self.src[i..])
    }

    #[inline(always)]
    fn store<V: Lanes>(&mut self, i: usize, y: V) {
        y.store_uninit(&mut self.dst[i..]);
    }
}

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
    /// `a` where `m` is set, else `b`.
    fn select(m: Self::Mask, a: Self, b: Self) -> Self;
    /// `self · k`, lane by lane.
    fn mul(self, k: Self) -> Self;
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
/// Only used in [`in_place_avx2`] and [`copy_into_avx2`], which are only
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
