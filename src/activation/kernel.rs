//! The rectifier kernel: a [`Rule`] (what one member does to one value, and
//! its derivative), where each element's slope comes from ([`Slopes`]), what
//! a member keeps or learns beyond the mask ([`Tap`]), and the three passes
//! that combine them over one block of 64 elements: [`Forward`],
//! [`Predict`] and [`Backward`]. `loops` runs the passes over whole arrays,
//! on the widest SIMD the CPU has; `rectifier` calls them.
//!
//! Everything here is written for one value at a time. The loops compile
//! it for 64-element blocks with AVX-512, AVX2 or the baseline, and the
//! compiler turns each block into vector code; since it only regroups the
//! same IEEE operations, every path gives the same bits (the tests check
//! it).
//!
//! Element `n` of an array is its row-major (logical) index: block
//! `k = n / 64`, position `i = n % 64`. Slopes and taps see `(k, i)`, so
//! what they give an element depends on its logical index, never on the
//! memory layout, the code path or the thread.

use super::AtZero;
use crate::Float;

/// Elements per block: one mask word.
pub(super) const WORD: usize = u64::BITS as usize;

/// How one member of the family treats one value: its forward value and its
/// derivative, side by side.
///
/// The rule is the whole of a member's arithmetic: the layers, the scalar
/// functions and every SIMD path run it, so they agree bit for bit.
pub trait Rule<A: Float>: Copy + Send + Sync {
    /// Whether `x` is on the active side (where the gradient passes
    /// unchanged), and the activation of `x`, given its slope and the side
    /// that `±0.0` falls on.
    fn forward(self, x: A, slope: A, zero: AtZero) -> (bool, A);
    /// The gradient passed back for upstream `g` through an input on the
    /// given side with the given slope.
    fn backward(self, g: A, active: bool, slope: A) -> A;
}

/// `rule` applied to one value with the given slope.
pub(crate) fn apply<A: Float, R: Rule<A>>(rule: R, x: A, slope: A) -> A {
    rule.forward(x, slope, AtZero::Inactive).1
}

/// The derivative of `rule` at `x`: the gradient it passes back for an
/// upstream gradient of 1, with `±0.0` inactive.
pub(crate) fn derivative<A: Float, R: Rule<A>>(rule: R, x: A, slope: A) -> A {
    let active = rule.forward(x, slope, AtZero::Inactive).0;
    rule.backward(A::one(), active, slope)
}

/// Where each element's slope comes from.
pub trait Slopes<A>: Copy + Send + Sync {
    /// Starts block `k`.
    #[inline(always)]
    fn begin(&mut self, _k: usize) {}
    /// The slope of element `i` of the current block.
    fn at(&self, i: usize) -> A;
    /// The same slopes for the blocks from `k` on, numbered from 0.
    #[cfg(feature = "rayon")]
    fn skip_blocks(self, k: usize) -> Self;
}

/// One slope for every element (ignored by the rules that have none).
#[derive(Debug, Clone, Copy)]
pub struct Fixed<A>(pub A);

impl<A: Float> Slopes<A> for Fixed<A> {
    #[inline(always)]
    fn at(&self, _i: usize) -> A {
        self.0
    }

    #[cfg(feature = "rayon")]
    fn skip_blocks(self, _k: usize) -> Self {
        self
    }
}

/// Slopes that repeat with a period along the row-major order: element `n`
/// has `table[n % period]`. PReLU's per-channel slopes of an input
/// `(N, C, rest…)` have period `C·len(rest)`, each slope repeated
/// `len(rest)` times; one shared slope has period 1.
#[derive(Debug, Clone, Copy)]
pub struct Periodic<'a, A> {
    /// `period + WORD` entries, so that the slopes of a block starting at
    /// position `p` of the period are `table[p..p + WORD]`.
    table: &'a [A],
    period: usize,
    first: usize,
    /// Where the current block's slopes start in the table.
    start: usize,
    /// The current block's slopes: `table[start..start + WORD]`.
    block: &'a [A; WORD],
}

impl<'a, A: Float> Periodic<'a, A> {
    /// `slopes[c]` for the `inner` consecutive elements of channel `c`, for
    /// `period / inner` channels (`slopes` holds one, shared, or one per
    /// channel), laid out in `table`, whose buffer is reused.
    pub fn new(slopes: &[A], inner: usize, period: usize, table: &'a mut Vec<A>) -> Self {
        table.clear();
        let channel = |j: usize| {
            if slopes.len() == 1 {
                0
            } else {
                j / inner % slopes.len()
            }
        };
        table.extend((0..period + WORD).map(|j| slopes[channel(j)]));
        Periodic::laid_out(table, period)
    }

    /// Slopes already laid out by [`Periodic::new`] for `period`.
    pub fn laid_out(table: &'a [A], period: usize) -> Self {
        Periodic {
            table,
            period,
            first: 0,
            start: 0,
            block: window(table, 0),
        }
    }

    /// The position in the period of the current block's first element.
    #[inline(always)]
    pub fn start(&self) -> usize {
        self.start
    }
}

impl<A: Float> Slopes<A> for Periodic<'_, A> {
    #[inline(always)]
    fn begin(&mut self, k: usize) {
        self.start = ((self.first + k) * WORD) % self.period;
        self.block = window(self.table, self.start);
    }

    #[inline(always)]
    fn at(&self, i: usize) -> A {
        self.block[i]
    }

    #[cfg(feature = "rayon")]
    fn skip_blocks(self, k: usize) -> Self {
        Periodic {
            first: self.first + k,
            ..self
        }
    }
}

/// A slope drawn from U(lower, upper) for each element, the same for the
/// same key and element every time: `lower + h·((upper - lower)·2^-32)` in
/// `f64`, rounded to the element type, where `h` is [`hash32`] of the
/// block's seed plus the element's position.
#[derive(Debug, Clone, Copy)]
pub struct Drawn {
    key: u64,
    lower: f64,
    /// `(upper - lower)·2^-32`.
    scale: f64,
    first: usize,
    /// The current block's seed.
    seed: u32,
}

impl Drawn {
    /// Slopes from U(lower, upper) under `key`.
    pub fn new(key: u64, lower: f64, upper: f64) -> Self {
        Drawn {
            key,
            lower,
            scale: (upper - lower) / 4_294_967_296.0,
            first: 0,
            seed: 0,
        }
    }
}

/// SplitMix64's step from state `x`: the golden-ratio increment, then its
/// output function (so that 0 does not map to 0).
pub(crate) fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Chris Wellons' `lowbias32`: a bijection of `u32` with good avalanche on
/// consecutive inputs.
#[inline(always)]
pub(crate) fn hash32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^ (x >> 16)
}

impl<A: Float> Slopes<A> for Drawn {
    #[inline(always)]
    fn begin(&mut self, k: usize) {
        self.seed = mix64(self.key ^ mix64((self.first + k) as u64)) as u32;
    }

    #[inline(always)]
    fn at(&self, i: usize) -> A {
        let h = f64::from(hash32(self.seed.wrapping_add(i as u32)));
        A::round_from(self.lower + h * self.scale)
    }

    #[cfg(feature = "rayon")]
    fn skip_blocks(self, k: usize) -> Self {
        Drawn {
            first: self.first + k,
            ..self
        }
    }
}

/// What a member keeps in a forward, or accumulates in a backward, beyond
/// the mask; `()` for nothing.
pub trait Tap<A>: Send {
    /// Starts block `k`.
    #[inline(always)]
    fn begin(&mut self, _k: usize) {}
    /// Sees input `x`, element `i` of the current block, in a forward.
    #[inline(always)]
    fn forward(&mut self, _x: A, _i: usize) {}
    /// Sees upstream `g` and the recorded side of element `i` of the
    /// current block, in a backward.
    #[inline(always)]
    fn backward(&mut self, _g: A, _active: bool, _i: usize) {}
    /// The tap over blocks `..k` and the tap over blocks `k..`, or itself
    /// if it cannot be split.
    #[cfg(feature = "rayon")]
    fn split_at(self, k: usize) -> Result<(Self, Self), Self>
    where
        Self: Sized;
}

impl<A> Tap<A> for () {
    #[cfg(feature = "rayon")]
    fn split_at(self, _k: usize) -> Result<(Self, Self), Self> {
        Ok(((), ()))
    }
}

/// Where a block is read from and written to: `len()` elements.
pub(super) trait Io<A> {
    fn len(&self) -> usize;
    /// Element `i` of the input.
    fn load(&self, i: usize) -> A;
    /// Writes element `i` of the output.
    fn store(&mut self, i: usize, y: A);
}

/// A pass over one block at a time.
pub(super) trait Pass<A>: Send {
    /// Runs block `k`: every element of `io`, at most [`WORD`], each loaded
    /// once and stored once.
    fn block(&mut self, k: usize, io: &mut impl Io<A>);
    /// The pass over blocks `..k` and the pass over blocks `k..` (which
    /// numbers them from 0), or the pass itself if it cannot be split.
    #[cfg(feature = "rayon")]
    fn split_at(self, k: usize) -> Result<(Self, Self), Self>
    where
        Self: Sized;
}

/// The forward pass: applies a rule and records each element's side,
/// element `i` of block `k` at bit `i` of `bits[k]`.
pub(super) struct Forward<'a, R, S, T> {
    pub(super) rule: R,
    pub(super) zero: AtZero,
    pub(super) slopes: S,
    pub(super) tap: T,
    pub(super) bits: &'a mut [u64],
}

impl<A: Float, R: Rule<A>, S: Slopes<A>, T: Tap<A>> Pass<A> for Forward<'_, R, S, T> {
    #[inline(always)]
    fn block(&mut self, k: usize, io: &mut impl Io<A>) {
        match self.zero {
            AtZero::Inactive => self.block_on::<A, false>(k, io),
            AtZero::Active => self.block_on::<A, true>(k, io),
        }
    }

    #[cfg(feature = "rayon")]
    fn split_at(self, k: usize) -> Result<(Self, Self), Self> {
        let Forward {
            rule,
            zero,
            slopes,
            tap,
            bits,
        } = self;
        match tap.split_at(k) {
            Ok((ta, tb)) => {
                let (a, b) = bits.split_at_mut(k);
                let (sa, sb) = (slopes, slopes.skip_blocks(k));
                let half = |slopes, tap, bits| Forward {
                    rule,
                    zero,
                    slopes,
                    tap,
                    bits,
                };
                Ok((half(sa, ta, a), half(sb, tb, b)))
            }
            Err(tap) => Err(Forward {
                rule,
                zero,
                slopes,
                tap,
                bits,
            }),
        }
    }
}

impl<R, S, T> Forward<'_, R, S, T> {
    /// [`Pass::block`] with the side of `±0.0` fixed at compile time
    /// (`ACTIVE` for [`AtZero::Active`]), so that each side compiles to its
    /// own straight vector code.
    #[inline(always)]
    fn block_on<A: Float, const ACTIVE: bool>(&mut self, k: usize, io: &mut impl Io<A>)
    where
        R: Rule<A>,
        S: Slopes<A>,
        T: Tap<A>,
    {
        self.slopes.begin(k);
        self.tap.begin(k);
        let mut word = 0;
        for i in 0..io.len().min(WORD) {
            let x = io.load(i);
            let (active, y) = self.rule.forward(x, self.slopes.at(i), side::<ACTIVE>());
            self.tap.forward(x, i);
            io.store(i, y);
            word |= u64::from(active) << i;
        }
        self.bits[k] = word;
    }
}

/// The side of `±0.0` that `ACTIVE` stands for.
#[inline(always)]
const fn side<const ACTIVE: bool>() -> AtZero {
    if ACTIVE {
        AtZero::Active
    } else {
        AtZero::Inactive
    }
}

/// The inference pass: applies a rule, records nothing.
pub(super) struct Predict<R, S> {
    pub(super) rule: R,
    pub(super) zero: AtZero,
    pub(super) slopes: S,
}

impl<A: Float, R: Rule<A>, S: Slopes<A>> Pass<A> for Predict<R, S> {
    #[inline(always)]
    fn block(&mut self, k: usize, io: &mut impl Io<A>) {
        self.slopes.begin(k);
        for i in 0..io.len().min(WORD) {
            let y = self
                .rule
                .forward(io.load(i), self.slopes.at(i), self.zero)
                .1;
            io.store(i, y);
        }
    }

    #[cfg(feature = "rayon")]
    fn split_at(self, k: usize) -> Result<(Self, Self), Self> {
        let b = Predict {
            slopes: self.slopes.skip_blocks(k),
            ..self
        };
        Ok((self, b))
    }
}

/// The backward pass: turns upstream gradients into input gradients from
/// the sides a [`Forward`] recorded.
pub(super) struct Backward<'a, R, S, T> {
    pub(super) rule: R,
    pub(super) slopes: S,
    pub(super) tap: T,
    pub(super) bits: &'a [u64],
}

impl<A: Float, R: Rule<A>, S: Slopes<A>, T: Tap<A>> Pass<A> for Backward<'_, R, S, T> {
    #[inline(always)]
    fn block(&mut self, k: usize, io: &mut impl Io<A>) {
        self.slopes.begin(k);
        self.tap.begin(k);
        let word = self.bits[k];
        for i in 0..io.len().min(WORD) {
            let (g, active) = (io.load(i), (word >> i) & 1 == 1);
            self.tap.backward(g, active, i);
            io.store(i, self.rule.backward(g, active, self.slopes.at(i)));
        }
    }

    #[cfg(feature = "rayon")]
    fn split_at(self, k: usize) -> Result<(Self, Self), Self> {
        let Backward {
            rule,
            slopes,
            tap,
            bits,
        } = self;
        match tap.split_at(k) {
            Ok((ta, tb)) => {
                let (a, b) = bits.split_at(k);
                let half = |slopes, tap, bits| Backward {
                    rule,
                    slopes,
                    tap,
                    bits,
                };
                Ok((half(slopes, ta, a), half(slopes.skip_blocks(k), tb, b)))
            }
            Err(tap) => Err(Backward {
                rule,
                slopes,
                tap,
                bits,
            }),
        }
    }
}

/// The `WORD` elements of `a` from `start`: a fixed-size window, so that
/// the elements of a block index it without bounds checks.
#[inline(always)]
pub(super) fn window<A>(a: &[A], start: usize) -> &[A; WORD] {
    a[start..start + WORD]
        .try_into()
        .expect("a window of WORD elements")
}

/// [`window`] of a mutable slice.
#[inline(always)]
pub(super) fn window_mut<A>(a: &mut [A], start: usize) -> &mut [A; WORD] {
    (&mut a[start..start + WORD])
        .try_into()
        .expect("a window of WORD elements")
}

#[cfg(test)]
mod tests {
    use ndarray::Array2;

    use super::super::AtZero;
    use crate::{Float, Layer, LeakyReluLayer, ReluLayer};

    /// The semantics table of docs/semantics.md, hand-computed, with the awkward
    /// values both inside a SIMD block (the first 64 elements) and in the
    /// scalar tail, through every entry point.
    #[test]
    fn semantics_table_holds_in_blocks_and_tails() {
        table_in_blocks_and_tails::<f32>();
        table_in_blocks_and_tails::<f64>();
    }

    fn table_in_blocks_and_tails<A: Float>()
    where
        ReluLayer: Layer<A>,
        LeakyReluLayer: Layer<A>,
    {
        let (nan, inf) = (f64::NAN, f64::INFINITY);
        let x = [2.5, -4.0, 0.0, -0.0, inf, -inf, nan];
        let g = [3.0, 5.0, 7.0, -11.0, 13.0, 17.0, 19.0];
        // (layer, expected output, expected gradient) per element of `x`.
        let relu = [2.5, 0.0, 0.0, 0.0, inf, 0.0, nan];
        let relu_grad = [3.0, 0.0, 0.0, 0.0, 13.0, 0.0, 19.0];
        let relu_active_grad = [3.0, 0.0, 7.0, -11.0, 13.0, 0.0, 19.0];
        let leaky = [2.5, -1.0, 0.0, -0.0, inf, -inf, nan];
        let leaky_grad = [3.0, 1.25, 1.75, -2.75, 13.0, 4.25, 4.75];
        let leaky_active_grad = [3.0, 1.25, 7.0, -11.0, 13.0, 4.25, 4.75];
        type Case<A> = (Box<dyn Layer<A>>, [f64; 7], [f64; 7]);
        let cases: [Case<A>; 4] = [
            (Box::new(ReluLayer::new()), relu, relu_grad),
            (
                Box::new(ReluLayer::new().at_zero(AtZero::Active)),
                relu,
                relu_active_grad,
            ),
            (
                Box::new(LeakyReluLayer::new(0.25).unwrap()),
                leaky,
                leaky_grad,
            ),
            (
                Box::new(LeakyReluLayer::new(0.25).unwrap().at_zero(AtZero::Active)),
                leaky,
                leaky_active_grad,
            ),
        ];
        for (mut layer, want_y, want_dx) in cases {
            // Element i of x at columns 9 + i (in the SIMD block) and
            // 64 + 9 + i (in the tail of a 1x80 array); ones elsewhere.
            let mut input = Array2::from_elem((1, 80), A::one());
            let mut upstream = Array2::from_elem((1, 80), A::one());
            for (i, (&xi, &gi)) in x.iter().zip(&g).enumerate() {
                for col in [9 + i, 73 + i] {
                    input[[0, col]] = A::round_from(xi);
                    upstream[[0, col]] = A::round_from(gi);
                }
            }
            let check = |what: &str, a: &Array2<A>, want: &[f64; 7]| {
                for (i, w) in want.iter().enumerate() {
                    for col in [9 + i, 73 + i] {
                        let want = A::round_from(*w).bits();
                        assert_eq!(
                            a[[0, col]].bits(),
                            want,
                            "{what} of {} in {}",
                            x[i],
                            A::NAME
                        );
                    }
                }
            };
            check("forward", &layer.forward(&input).unwrap(), &want_y);
            check("backward", &layer.backward(&upstream).unwrap(), &want_dx);
            check("predict", &layer.predict(&input).unwrap(), &want_y);
            check(
                "forward_owned",
                &layer.forward_owned(input).unwrap(),
                &want_y,
            );
            check(
                "backward_owned",
                &layer.backward_owned(upstream).unwrap(),
                &want_dx,
            );
        }
    }

    /// With denormals-are-zero set on the thread (as a library built with
    /// `-ffast-math` may leave it), `AtZero::Active` still puts `±0.0` on
    /// the active side, in SIMD blocks and in tails alike.
    #[cfg(target_arch = "x86_64")]
    #[test]
    #[allow(deprecated)] // `_mm_getcsr` and `_mm_setcsr`: the plainest way to set DAZ
    fn zero_side_holds_with_denormals_are_zero() {
        use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};

        const DAZ: u32 = 1 << 6;
        // Zeros at columns 3 and 4 (in a SIMD block) and 67 and 68 (in the tail).
        let mut x = Array2::from_elem((1, 70), -1.0f64);
        for col in [3, 67] {
            x[[0, col]] = 0.0;
            x[[0, col + 1]] = -0.0;
        }
        let g = Array2::from_elem((1, 70), 2.0);
        let mut relu = ReluLayer::new().at_zero(AtZero::Active);
        let mut leaky = LeakyReluLayer::new(0.5).unwrap().at_zero(AtZero::Active);

        // SAFETY: DAZ only changes how this thread (each test has its own)
        // reads subnormal operands; the old state is restored below, before
        // any assertion can unwind.
        let saved = unsafe {
            let saved = _mm_getcsr();
            _mm_setcsr(saved | DAZ);
            saved
        };
        relu.forward(&x).unwrap();
        let relu_dx = relu.backward(&g).unwrap();
        let leaky_y = leaky.forward(&x).unwrap();
        let leaky_dx = leaky.backward(&g).unwrap();
        // SAFETY: as above.
        unsafe { _mm_setcsr(saved) };

        for col in [3, 4, 67, 68] {
            assert_eq!(relu_dx[[0, col]], 2.0, "ReLU gradient at column {col}");
            assert_eq!(leaky_dx[[0, col]], 2.0, "Leaky gradient at column {col}");
            assert_eq!(leaky_y[[0, col]].to_bits(), x[[0, col]].to_bits());
        }
        assert_eq!((relu_dx[[0, 0]], leaky_dx[[0, 0]]), (0.0, 1.0));
    }
}
