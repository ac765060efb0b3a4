//! The loops under the rectifier kernel: the only loops over the data. They
//! run a [`Pass`] over a slice, 64 elements (one mask word) at a time,
//! compiled for the widest SIMD the CPU has ([`Isa`]), with threads for new
//! arrays with the `rayon` feature; and [`Output`], where a pass writes.

use std::mem::MaybeUninit;
use std::sync::atomic::{compiler_fence, Ordering};

use ndarray::{Array, ArrayRef, Dimension};

use super::kernel::{Io, Pass, WORD};
use crate::alloc::Need;
use crate::{Float, Result};

/// An instruction set the loops are compiled for, chosen at run time.
///
/// The passes are written one value at a time; compiled with AVX-512 or
/// AVX2 enabled, the compiler turns each 64-element block into vector code
/// (compares into mask registers, blends, multiplies; the mask word from the
/// compares directly with AVX-512). The baseline (SSE2 on x86_64) is the
/// portable path, and every path gives the same bits.
///
/// Every pass runs on the widest set the CPU has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Isa {
    Baseline,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

/// Whether the CPU has the AVX-512 subsets the loops are compiled for.
#[cfg(target_arch = "x86_64")]
fn has_avx512() -> bool {
    is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512dq")
}

impl Isa {
    /// Every instruction set this CPU runs, the widest last.
    #[cfg(test)]
    pub(super) fn available() -> Vec<Isa> {
        #[allow(unused_mut)]
        let mut all = vec![Isa::Baseline];
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2") {
                all.push(Isa::Avx2);
            }
            if has_avx512() {
                all.push(Isa::Avx512);
            }
        }
        all
    }

    /// The instruction set the passes run on: AVX-512 if the CPU has it,
    /// else AVX2 if the CPU has it, else the baseline.
    fn best() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            if has_avx512() {
                return Isa::Avx512;
            }
            if is_x86_feature_detected!("avx2") {
                return Isa::Avx2;
            }
        }
        Isa::Baseline
    }

    /// Runs `pass` over `data` in place.
    pub(super) fn in_place<A: Float, P: Pass<A>>(self, pass: &mut P, data: &mut [A]) {
        match self {
            Isa::Baseline => blocks_in_place::<A, P, false>(pass, data),
            // SAFETY: `available` and `best` return these only on CPUs with
            // the features the functions are compiled for.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { in_place_avx2(pass, data) },
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { in_place_avx512(pass, data) },
        }
    }

    /// Runs `pass` over `src` into `dst`, of the same length, writing every
    /// element of `dst`.
    pub(super) fn copied<A: Float, P: Pass<A>>(
        self,
        pass: &mut P,
        src: &[A],
        dst: &mut [MaybeUninit<A>],
    ) {
        match self {
            Isa::Baseline => blocks_copied(pass, src, dst),
            // SAFETY: as in `in_place`.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { copied_avx2(pass, src, dst) },
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { copied_avx512(pass, src, dst) },
        }
    }
}

/// [`blocks_in_place`] compiled for AVX2.
///
/// # Safety
///
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn in_place_avx2<A: Float, P: Pass<A>>(pass: &mut P, data: &mut [A]) {
    blocks_in_place::<A, P, false>(pass, data);
}

/// [`blocks_copied`] compiled for AVX2.
///
/// # Safety
///
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn copied_avx2<A: Float, P: Pass<A>>(pass: &mut P, src: &[A], dst: &mut [MaybeUninit<A>]) {
    blocks_copied(pass, src, dst);
}

/// [`blocks_in_place`] compiled for AVX-512.
///
/// # Safety
///
/// The CPU must have AVX-512 F, BW, VL and DQ.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
unsafe fn in_place_avx512<A: Float, P: Pass<A>>(pass: &mut P, data: &mut [A]) {
    blocks_in_place::<A, P, true>(pass, data);
}

/// [`blocks_copied`] compiled for AVX-512.
///
/// # Safety
///
/// The CPU must have AVX-512 F, BW, VL and DQ.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
unsafe fn copied_avx512<A: Float, P: Pass<A>>(pass: &mut P, src: &[A], dst: &mut [MaybeUninit<A>]) {
    blocks_copied(pass, src, dst);
}

/// Runs `pass` over `data` in place, block by block: whole blocks as
/// fixed-size arrays (so that each compiles to straight vector code), then
/// the tail.
///
/// With `REREAD`, a whole block is read into registers before anything is
/// written back, with a compiler fence (which emits no instruction) between
/// the reads and the writes. Without it, LLVM turns a rule that keeps some
/// values and replaces the others (ReLU's `if x > 0 { x } else { 0 }`)
/// into masked stores of the replaced values only (its
/// `store(select(m, x, load p), p)` fold), which ran slower than full stores
/// on AVX-512 (docs/performance.md). On AVX2 the 64 `f64` values of a block
/// fill all 16 registers, and the fence cost more than it saved; the
/// baseline has no masked stores.
#[inline(always)]
fn blocks_in_place<A: Float, P: Pass<A>, const REREAD: bool>(pass: &mut P, data: &mut [A]) {
    let mut blocks = data.chunks_exact_mut(WORD);
    let mut k = 0;
    for block in &mut blocks {
        let block: &mut [A; WORD] = block.try_into().expect("a whole block");
        if REREAD {
            let src = *block;
            compiler_fence(Ordering::SeqCst);
            pass.block(k, &mut Reread { src, dst: block });
        } else {
            pass.block(k, &mut InPlace(block));
        }
        k += 1;
    }
    let tail = blocks.into_remainder();
    if !tail.is_empty() {
        pass.block(k, &mut InPlace(tail));
    }
}

/// Runs `pass` over `src` into `dst`, of the same length, block by block as
/// [`blocks_in_place`] does; writes every element of `dst`.
#[inline(always)]
fn blocks_copied<A: Float, P: Pass<A>>(pass: &mut P, src: &[A], dst: &mut [MaybeUninit<A>]) {
    assert_eq!(src.len(), dst.len());
    let mut blocks = src.chunks_exact(WORD).zip(dst.chunks_exact_mut(WORD));
    let mut k = 0;
    for (src, dst) in &mut blocks {
        let src: &[A; WORD] = src.try_into().expect("a whole block");
        let dst: &mut [MaybeUninit<A>; WORD] = dst.try_into().expect("a whole block");
        pass.block(k, &mut Copied { src, dst });
        k += 1;
    }
    let done = k * WORD;
    if done < src.len() {
        let (src, dst) = (&src[done..], &mut dst[done..]);
        pass.block(k, &mut Copied { src, dst });
    }
}

/// A block rewritten in place: a `&mut [A; WORD]` or the tail's `&mut [A]`.
struct InPlace<B>(B);

impl<A: Copy, B: AsRef<[A]> + AsMut<[A]>> Io<A> for InPlace<B> {
    #[inline(always)]
    fn len(&self) -> usize {
        self.0.as_ref().len()
    }

    #[inline(always)]
    fn load(&self, i: usize) -> A {
        self.0.as_ref()[i]
    }

    #[inline(always)]
    fn store(&mut self, i: usize, y: A) {
        self.0.as_mut()[i] = y;
    }
}

/// A whole block rewritten in place from `src`, the copy of `dst` read
/// before the fence in [`blocks_in_place`].
struct Reread<'a, A> {
    src: [A; WORD],
    dst: &'a mut [A; WORD],
}

impl<A: Copy> Io<A> for Reread<'_, A> {
    #[inline(always)]
    fn len(&self) -> usize {
        WORD
    }

    #[inline(always)]
    fn load(&self, i: usize) -> A {
        self.src[i]
    }

    #[inline(always)]
    fn store(&mut self, i: usize, y: A) {
        self.dst[i] = y;
    }
}

/// A block read from `src` and written to `dst`, of the same length.
struct Copied<S, D> {
    src: S,
    dst: D,
}

impl<A: Copy, S: AsRef<[A]>, D: AsMut<[MaybeUninit<A>]>> Io<A> for Copied<S, D> {
    #[inline(always)]
    fn len(&self) -> usize {
        self.src.as_ref().len()
    }

    #[inline(always)]
    fn load(&self, i: usize) -> A {
        self.src.as_ref()[i]
    }

    #[inline(always)]
    fn store(&mut self, i: usize, y: A) {
        self.dst.as_mut()[i].write(y);
    }
}

/// Runs `pass` over `data` in place, on the calling thread even with the
/// `rayon` feature: an in-place pass is bound by memory bandwidth, which one
/// core nearly saturates on the 2-core machine this was measured on, where
/// two threads ran it 0.85-1.2x as fast as one (no consistent gain) from
/// 2^20 to 2^24 elements.
pub(super) fn in_place<A: Float, P: Pass<A>>(mut pass: P, data: &mut [A]) {
    Isa::best().in_place(&mut pass, data);
}

/// Runs `pass` over `src` into `out`, an empty buffer with room for it,
/// reading `src` once and writing the result once (no copy followed by a
/// second pass).
///
/// # Panics
///
/// If `out` is not empty with capacity for `src.len()` elements.
pub(super) fn copied<A: Float, P: Pass<A>>(pass: P, src: &[A], mut out: Vec<A>) -> Vec<A> {
    assert!(out.is_empty(), "copied writes into an empty buffer");
    copy_into(pass, src, &mut out.spare_capacity_mut()[..src.len()]);
    // SAFETY: `copy_into` wrote every element of the first `src.len()`
    // elements of `out`'s spare capacity.
    unsafe { out.set_len(src.len()) };
    out
}

/// Runs `pass` over `src` into `dst`, of the same length, writing every
/// element of `dst`.
fn copy_into<A: Float, P: Pass<A>>(mut pass: P, src: &[A], dst: &mut [MaybeUninit<A>]) {
    #[cfg(feature = "rayon")]
    if let Some(mid) = parallel_split(src.len()) {
        match pass.split_at(mid / WORD) {
            Ok((a, b)) => {
                let ((sa, sb), (da, db)) = (src.split_at(mid), dst.split_at_mut(mid));
                rayon::join(|| copy_into(a, sa, da), || copy_into(b, sb, db));
                return;
            }
            Err(whole) => pass = whole,
        }
    }
    Isa::best().copied(&mut pass, src, dst);
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

/// Where a pass writes its output: a new buffer that it fills from a
/// standard-layout input as it reads it (no copy followed by a second
/// pass), or a standard-layout array that it rewrites in place.
pub(super) enum Output<'a, A, D> {
    Fill(&'a [A], Vec<A>, D),
    InPlace(Array<A, D>),
}

impl<'a, A: Float, D: Dimension> Output<'a, A, D> {
    /// Room for a pass over `input` into a new array: a buffer, or a
    /// standard-layout copy of an input in any other layout.
    pub(super) fn new(input: &'a ArrayRef<A, D>, need: Need<&[usize]>) -> Result<Self> {
        Ok(match input.as_slice() {
            Some(src) => Output::Fill(src, need.buffer()?, input.raw_dim()),
            None => Output::InPlace(need.copy(input)?),
        })
    }

    /// Room for a pass over `a` in place: `a` itself, copied first only if
    /// it is not in standard layout.
    pub(super) fn owned(a: Array<A, D>, need: Need<&[usize]>) -> Result<Output<'static, A, D>> {
        Ok(Output::InPlace(if a.is_standard_layout() {
            a
        } else {
            need.copy(&a)?
        }))
    }

    /// The output of `pass`.
    pub(super) fn run(self, pass: impl Pass<A>) -> Array<A, D> {
        match self {
            Output::Fill(src, buffer, dim) => {
                let out = copied(pass, src, buffer);
                Array::from_shape_vec(dim, out).expect("the input's shape holds its elements")
            }
            Output::InPlace(mut a) => {
                let data = a
                    .as_slice_mut()
                    .expect("a standard-layout array is one row-major slice");
                in_place(pass, data);
                a
            }
        }
    }
}
