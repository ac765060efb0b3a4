//! The rectifier kernel: a [`Rule`] (what one member does to a few lanes),
//! where each element's slope comes from ([`Slopes`]), what a member keeps
//! or learns beyond the mask ([`Tap`]), and the three passes that combine
//! them: [`Forward`], [`Predict`] and [`Backward`]. The loops in `loops` run
//! the passes; the layer in `rectifier` calls them.
//!
//! Element `n` of an array is its row-major (logical) index: block
//! `k = n / 64`, lane `i = n % 64`. Slopes and taps see `(k, i)`, so what
//! they give an element depends on its (row, column), never on the memory
//! layout, the code path or the thread.

use ndarray::{Array2, ArrayRef2};

use super::lanes::Lanes;
use super::loops::{self, Pass, WORD};
use crate::alloc::Need;

/// How one member of the family treats its inputs, written once over
/// [`Lanes`], so that the portable path, the SIMD paths and the scalar
/// functions all run the same operations.
pub trait Rule: Copy + Send + Sync {
    /// Which lanes of `x` are on the active side (where the gradient passes
    /// unchanged), and the activation of `x`, given each lane's slope.
    fn forward<V: Lanes>(self, x: V, slope: V) -> (V::Mask, V);
    /// The gradient passed back through lanes on the given sides, given
    /// upstream `g` and each lane's slope.
    fn backward<V: Lanes>(self, g: V, active: V::Mask, slope: V) -> V;
}

/// `rule` applied to one value with the given slope.
pub(crate) fn apply<R: Rule>(rule: R, x: f64, slope: f64) -> f64 {
    rule.forward(x, slope).1
}

/// The derivative of `rule` at `x`: the gradient it passes back for an
/// upstream gradient of 1.
pub(crate) fn derivative<R: Rule>(rule: R, x: f64, slope: f64) -> f64 {
    rule.backward(1.0, rule.forward(x, slope).0, slope)
}

/// Where each element's slope comes from.
pub trait Slopes: Copy + Send + Sync {
    /// Starts block `k`.
    #[inline(always)]
    fn begin(&mut self, _k: usize) {}
    /// The slopes of elements `i..i + V::N` of the current block.
    fn lanes<V: Lanes>(&self, i: usize) -> V;
    /// The same slopes for the blocks from `k` on, numbered from 0.
    #[cfg(feature = "rayon")]
    fn skip_blocks(self, k: usize) -> Self;
}

/// One slope for every element (ignored by the rules that have none).
#[derive(Debug, Clone, Copy)]
pub struct Fixed(pub f64);

impl Slopes for Fixed {
    #[inline(always)]
    fn lanes<V: Lanes>(&self, _i: usize) -> V {
        V::splat(self.0)
    }

    #[cfg(feature = "rayon")]
    fn skip_blocks(self, _k: usize) -> Self {
        self
    }
}

/// Slopes that repeat along each row: element `n` has `slopes[n % cols]`
/// (one per column, or one shared with a period of 1).
#[derive(Debug, Clone, Copy)]
pub struct Columns<'a> {
    /// `table[j] = slopes[j % cols]` for `j < cols + WORD`, so that the
    /// slopes of a block starting in column `c` are `table[c..]`.
    table: &'a [f64],
    cols: usize,
    first: usize,
    /// Where the current block's slopes start in the table.
    start: usize,
    /// The current block's slopes: `table[start..start + WORD]`.
    block: &'a [f64; WORD],
}

impl<'a> Columns<'a> {
    /// `slopes` laid out with period `cols` in `table`, whose buffer is
    /// reused.
    pub fn new(slopes: &[f64], cols: usize, table: &'a mut Vec<f64>) -> Self {
        table.clear();
        table.extend(slopes.iter().cycle().take(cols + WORD));
        Columns::laid_out(table, cols)
    }

    /// Slopes already laid out by [`Columns::new`] for `cols` columns.
    pub fn laid_out(table: &'a [f64], cols: usize) -> Self {
        Columns {
            table,
            cols,
            first: 0,
            start: 0,
            block: window(table, 0),
        }
    }

    /// The column of the current block's first element: where its slopes
    /// start in the table.
    #[inline(always)]
    pub fn start(&self) -> usize {
        self.start
    }
}

impl Slopes for Columns<'_> {
    #[inline(always)]
    fn begin(&mut self, k: usize) {
        self.start = ((self.first + k) * WORD) % self.cols;
        self.block = window(self.table, self.start);
    }

    #[inline(always)]
    fn lanes<V: Lanes>(&self, i: usize) -> V {
        V::load(&self.block[i..])
    }

    #[cfg(feature = "rayon")]
    fn skip_blocks(self, k: usize) -> Self {
        Columns {
            first: self.first + k,
            ..self
        }
    }
}

/// A slope drawn from U(lower, upper) for each element, the same for the
/// same key and element every time: `lower + h·((upper - lower)·2^-32)`,
/// where `h` is [`Lanes::hashed`] seeded by `key` and the element's block.
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

impl Slopes for Drawn {
    #[inline(always)]
    fn begin(&mut self, k: usize) {
        self.seed = mix64(self.key ^ mix64((self.first + k) as u64)) as u32;
    }

    #[inline(always)]
    fn lanes<V: Lanes>(&self, i: usize) -> V {
        V::splat(self.lower).add(V::hashed(self.seed, i).mul(V::splat(self.scale)))
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
pub trait Tap: Send {
    /// Starts block `k`.
    #[inline(always)]
    fn begin(&mut self, _k: usize) {}
    /// Sees input `x`, elements `i..i + V::N` of the current block, in a
    /// forward.
    #[inline(always)]
    fn forward<V: Lanes>(&mut self, _x: V, _i: usize) {}
    /// Sees upstream `g` and the recorded sides, elements `i..i + V::N` of
    /// the current block, in a backward.
    #[inline(always)]
    fn backward<V: Lanes>(&mut self, _g: V, _active: V::Mask, _i: usize) {}
    /// The tap over blocks `..k` and the tap over blocks `k..`, or itself
    /// if it cannot be split.
    #[cfg(feature = "rayon")]
    fn split_at(self, k: usize) -> Result<(Self, Self), Self>
    where
        Self: Sized;
}

impl Tap for () {
    #[cfg(feature = "rayon")]
    fn split_at(self, _k: usize) -> Result<(Self, Self), Self> {
        Ok(((), ()))
    }
}

/// The forward pass: applies a rule and records each element's side,
/// element `i` of block `k` at bit `i` of `bits[k]`.
pub(super) struct Forward<'a, R, S, T> {
    pub(super) rule: R,
    pub(super) slopes: S,
    pub(super) tap: T,
    pub(super) bits: &'a mut [u64],
}

impl<R: Rule, S: Slopes, T: Tap> Pass for Forward<'_, R, S, T> {
    #[inline(always)]
    fn begin(&mut self, k: usize) -> u64 {
        // Checked here rather than in `finish`, so that the compiler does
        // not keep the block's lane masks alive across the check.
        assert!(k < self.bits.len(), "one mask word per block");
        self.slopes.begin(k);
        self.tap.begin(k);
        0
    }

    #[inline(always)]
    fn lanes<V: Lanes>(&mut self, x: V, i: usize, word: &mut u64) -> V {
        let (active, y) = self.rule.forward(x, self.slopes.lanes(i));
        self.tap.forward(x, i);
        *word |= V::to_bits(active) << i;
        y
    }

    #[inline(always)]
    fn finish(&mut self, k: usize, word: u64) {
        self.bits[k] = word;
    }

    #[cfg(feature = "rayon")]
    fn split_at(self, k: usize) -> Result<(Self, Self), Self> {
        let Forward {
            rule,
            slopes,
            tap,
            bits,
        } = self;
        match tap.split_at(k) {
            Ok((ta, tb)) => {
                let (a, b) = bits.split_at_mut(k);
                let (sa, sb) = (slopes, slopes.skip_blocks(k));
                Ok((
                    Forward {
                        rule,
                        slopes: sa,
                        tap: ta,
                        bits: a,
                    },
                    Forward {
                        rule,
                        slopes: sb,
                        tap: tb,
                        bits: b,
                    },
                ))
            }
            Err(tap) => Err(Forward {
                rule,
                slopes,
                tap,
                bits,
            }),
        }
    }
}

/// The inference pass: applies a rule, records nothing.
pub(super) struct Predict<R, S> {
    pub(super) rule: R,
    pub(super) slopes: S,
}

impl<R: Rule, S: Slopes> Pass for Predict<R, S> {
    #[inline(always)]
    fn begin(&mut self, k: usize) -> u64 {
        self.slopes.begin(k);
        0
    }

    #[inline(always)]
    fn lanes<V: Lanes>(&mut self, x: V, i: usize, _word: &mut u64) -> V {
        self.rule.forward(x, self.slopes.lanes(i)).1
    }

    #[cfg(feature = "rayon")]
    fn split_at(self, k: usize) -> Result<(Self, Self), Self> {
        let b = Predict {
            rule: self.rule,
            slopes: self.slopes.skip_blocks(k),
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

impl<R: Rule, S: Slopes, T: Tap> Pass for Backward<'_, R, S, T> {
    #[inline(always)]
    fn begin(&mut self, k: usize) -> u64 {
        self.slopes.begin(k);
        self.tap.begin(k);
        self.bits[k]
    }

    #[inline(always)]
    fn lanes<V: Lanes>(&mut self, g: V, i: usize, word: &mut u64) -> V {
        let active = V::from_bits(*word, i);
        self.tap.backward(g, active, i);
        self.rule.backward(g, active, self.slopes.lanes(i))
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
                Ok((
                    Backward {
                        rule,
                        slopes,
                        tap: ta,
                        bits: a,
                    },
                    Backward {
                        rule,
                        slopes: slopes.skip_blocks(k),
                        tap: tb,
                        bits: b,
                    },
                ))
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

/// Where a pass writes its output: a new buffer that it fills from a
/// standard-layout input as it reads it (no copy followed by a second
/// pass), or a standard-layout array that it rewrites in place.
pub(super) enum Output<'a> {
    Fill(&'a [f64], Vec<f64>, (usize, usize)),
    InPlace(Array2<f64>),
}

impl<'a> Output<'a> {
    /// Room for a pass over `input` into a new array: a buffer, or a
    /// standard-layout copy of an input in any other layout.
    pub(super) fn new(input: &'a ArrayRef2<f64>, need: Need<2>) -> crate::Result<Self> {
        Ok(match input.as_slice() {
            Some(src) => Output::Fill(src, need.buffer()?, input.dim()),
            None => Output::InPlace(need.copy(input)?),
        })
    }

    /// Room for a pass over `a` in place: `a` itself, copied first only if
    /// it is not in standard layout.
    pub(super) fn owned(a: Array2<f64>, need: Need<2>) -> crate::Result<Output<'static>> {
        Ok(Output::InPlace(if a.is_standard_layout() {
            a
        } else {
            need.copy(&a)?
        }))
    }

    /// The output of `pass`.
    pub(super) fn run(self, pass: impl Pass) -> Array2<f64> {
        match self {
            Output::Fill(src, buffer, dim) => {
                let out = loops::copied(pass, src, buffer);
                Array2::from_shape_vec(dim, out).expect("the input's shape holds its elements")
            }
            Output::InPlace(mut a) => {
                loops::in_place(pass, slice_of(&mut a));
                a
            }
        }
    }
}

/// The row-major slice of an array known to be in standard layout.
fn slice_of(a: &mut Array2<f64>) -> &mut [f64] {
    a.as_slice_mut()
        .expect("a standard-layout array is one row-major slice")
}

/// The `WORD` elements of `a` from `start`: a fixed-size window, so that
/// the lanes of a block index it without bounds checks.
#[inline(always)]
pub(super) fn window(a: &[f64], start: usize) -> &[f64; WORD] {
    a[start..start + WORD]
        .try_into()
        .expect("a window of WORD elements")
}

/// [`window`] of a mutable slice.
#[inline(always)]
pub(super) fn window_mut(a: &mut [f64], start: usize) -> &mut [f64; WORD] {
    (&mut a[start..start + WORD])
        .try_into()
        .expect("a window of WORD elements")
}

/// The first element of block `k`, as an index into a row-major slice.
#[inline(always)]
pub(super) fn start_of(k: usize) -> usize {
    k * WORD
}

#[cfg(test)]
mod tests {
    use ndarray::Array2;

    use super::super::AtZero;

    /// The semantics table of DESIGN.md, hand-computed, with the awkward
    /// values both inside a SIMD block (the first 64 elements) and in the
    /// scalar tail, through every entry point.
    #[test]
    fn semantics_table_holds_in_blocks_and_tails() {
        use crate::{Layer, LeakyReluLayer, ReluLayer};

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
        type Case = (Box<dyn Layer>, [f64; 7], [f64; 7]);
        let cases: [Case; 4] = [
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
            let mut input = Array2::from_elem((1, 80), 1.0);
            let mut upstream = Array2::from_elem((1, 80), 1.0);
            for (i, (&xi, &gi)) in x.iter().zip(&g).enumerate() {
                for col in [9 + i, 73 + i] {
                    input[[0, col]] = xi;
                    upstream[[0, col]] = gi;
                }
            }
            let check = |what: &str, a: &Array2<f64>, want: &[f64; 7]| {
                for (i, w) in want.iter().enumerate() {
                    for col in [9 + i, 73 + i] {
                        assert_eq!(a[[0, col]].to_bits(), w.to_bits(), "{what} of {}", x[i]);
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
        use crate::{Layer, LeakyReluLayer, ReluLayer};
        use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};

        const DAZ: u32 = 1 << 6;
        // Zeros at columns 3 and 4 (in a SIMD block) and 67 and 68 (in the tail).
        let mut x = Array2::from_elem((1, 70), -1.0);
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
