//! The loops under the rectifier kernel: the only loops over the data. They
//! run a [`Pass`] over a slice, 64 elements (one mask word) at a time, with
//! the widest [`Lanes`] the CPU has, one lane for the tail, and threads for
//! new arrays with the `rayon` feature.

use std::mem::MaybeUninit;

use super::lanes::Lanes;
#[cfg(target_arch = "x86_64")]
use super::lanes::{Avx2, Sse2};

/// Elements per block: one mask word.
pub(super) const WORD: usize = u64::BITS as usize;

/// What a pass does to each element, and the mask word it keeps per block.
///
/// The loops below do every load and store; a pass only maps values, so
/// every element of a block is written exactly once, whatever the pass.
pub(super) trait Pass: Send {
    /// Starts block `k`; returns the word it starts from: its recorded
    /// sides, or 0.
    fn begin(&mut self, k: usize) -> u64;
    /// The new values of `x`, elements `i..i + V::N` of the current block,
    /// whose word is `word` (which the pass may update).
    fn lanes<V: Lanes>(&mut self, x: V, i: usize, word: &mut u64) -> V;
    /// Takes block `k`'s final word.
    #[inline(always)]
    fn finish(&mut self, _k: usize, _word: u64) {}
    /// The pass over blocks `..k` and the pass over blocks `k..` (which
    /// numbers them from 0), or the pass itself if it cannot be split.
    #[cfg(feature = "rayon")]
    fn split_at(self, k: usize) -> Result<(Self, Self), Self>
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

/// Runs `pass` over `src` into `out`, an empty buffer with room for it,
/// reading `src` once and writing the result once (no copy followed by a
/// second pass).
///
/// # Panics
///
/// If `out` is not empty with capacity for `src.len()` elements.
pub(super) fn copied<P: Pass>(pass: P, src: &[f64], mut out: Vec<f64>) -> Vec<f64> {
    assert!(out.is_empty(), "copied writes into an empty buffer");
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
        match pass.split_at(mid / WORD) {
            Ok((a, b)) => {
                let ((sa, sb), (da, db)) = (src.split_at(mid), dst.split_at_mut(mid));
                rayon::join(|| copy_into(a, sa, da), || copy_into(b, sb, db));
                return;
            }
            Err(whole) => pass = whole,
        }
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
    let mut word = pass.begin(k);
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
