//! The rectifier family: one kernel, parameterised by a [`Rule`], shared by
//! every layer of the family, plus the [`Mask`] it caches and [`AtZero`].
//!
//! A rule says, for a few lanes of input `x` at a time, which are on the
//! active side (their gradient passes unchanged) and what the output is, and
//! what the gradient through lanes on a given side is. The three passes
//! below ([`Forward`], [`Predict`], [`Backward`]) apply a rule; the loops in
//! `simd` are the only loops over the data, with SIMD lanes where the CPU
//! has them, one lane for the tails and elsewhere, and threads with the
//! `rayon` feature. [`relu`](crate::relu) and
//! [`leaky_relu`](crate::leaky_relu) are the same rules applied to one value.

mod leaky_relu;
mod mask;
mod prelu;
mod relu;
mod simd;

pub use leaky_relu::{leaky_relu, leaky_relu_grad, LeakyReluLayer};
pub use mask::Mask;
pub use prelu::PReluLayer;
pub use relu::{relu, relu_grad, ReluLayer};

use ndarray::{Array2, ArrayRef2};

use crate::{LayerError, Result};
use simd::{Lanes, Pass, WORD};

/// Which side an input of exactly `±0.0` falls on.
///
/// ReLU is not differentiable at zero, so a convention is needed.
/// `Inactive` (the default) gives ReLU'(0) = 0, as PyTorch, TensorFlow and
/// JAX do and as Bertoin et al. (NeurIPS 2021) recommend. `Active` is the
/// tutorial's f'(x) = 1 for x >= 0. Only the gradient (and, for Leaky ReLU,
/// the sign of a zero output) depends on it: ReLU's output at `±0.0` is
/// `+0.0` either way.
///
/// # Examples
///
/// ```
/// use rectify::{ndarray::array, AtZero, Layer, ReluLayer};
///
/// let x = array![[0.0, -0.0]];
/// let g = array![[5.0, 7.0]];
/// let mut pytorch = ReluLayer::new();
/// pytorch.forward(&x)?;
/// assert_eq!(pytorch.backward(&g)?, array![[0.0, 0.0]]);
///
/// let mut tutorial = ReluLayer::new().at_zero(AtZero::Active);
/// tutorial.forward(&x)?;
/// assert_eq!(tutorial.backward(&g)?, array![[5.0, 7.0]]);
/// # Ok::<(), rectify::LayerError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AtZero {
    /// `±0.0` is inactive: ReLU'(0) = 0, Leaky ReLU'(0) = slope.
    #[default]
    Inactive,
    /// `±0.0` is active: the derivative at zero is 1.
    Active,
}

impl AtZero {
    /// Whether `±0.0` is on the active side.
    ///
    /// The rules compare with `>=` instead of `>` then, rather than with `>`
    /// against the largest negative `f64`: that subnormal threshold would
    /// read as `-0.0` on a thread with denormals-are-zero set (as a library
    /// built with `-ffast-math` may leave it), and `±0.0` would silently
    /// become inactive.
    fn zero_is_active(self) -> bool {
        self == AtZero::Active
    }
}

/// How one member of the rectifier family treats its inputs, written once
/// over [`Lanes`] so that the portable path, the SIMD path and the scalar
/// functions ([`relu()`], [`leaky_relu()`], ...) all run the same operations.
pub(crate) trait Rule: Copy + Send {
    /// The layer's name, for error messages.
    const LAYER: &'static str;
    /// Which lanes of `x` are on the active side (where the gradient passes
    /// unchanged), and the activation of `x`.
    fn forward<V: Lanes>(self, x: V) -> (V::Mask, V);
    /// The gradient passed back through lanes on the given sides, given
    /// upstream `g`.
    fn backward<V: Lanes>(self, g: V, active: V::Mask) -> V;
}

/// The forward pass of a rule: applies it and records each element's side,
/// element `i` of block `k` at bit `i` of `bits[k]`.
struct Forward<'a, R> {
    rule: R,
    bits: &'a mut [u64],
}

impl<R: Rule> Pass for Forward<'_, R> {
    #[inline(always)]
    fn word(&self, k: usize) -> u64 {
        // Checked here rather than in `finish`, so that the compiler does
        // not keep the block's lane masks alive across the check.
        assert!(k < self.bits.len(), "one mask word per block");
        0
    }

    #[inline(always)]
    fn lanes<V: Lanes>(&self, x: V, i: usize, word: &mut u64) -> V {
        let (active, y) = self.rule.forward(x);
        *word |= V::to_bits(active) << i;
        y
    }

    #[inline(always)]
    fn finish(&mut self, k: usize, word: u64) {
        self.bits[k] = word;
    }

    #[cfg(feature = "rayon")]
    fn split_at(self, k: usize) -> (Self, Self) {
        let (a, b) = self.bits.split_at_mut(k);
        let rule = self.rule;
        (Forward { rule, bits: a }, Forward { rule, bits: b })
    }
}

/// The inference pass of a rule: applies it, records nothing.
struct Predict<R>(R);

impl<R: Rule> Pass for Predict<R> {
    #[inline(always)]
    fn lanes<V: Lanes>(&self, x: V, _i: usize, _word: &mut u64) -> V {
        self.0.forward(x).1
    }

    #[cfg(feature = "rayon")]
    fn split_at(self, _k: usize) -> (Self, Self) {
        (Predict(self.0), self)
    }
}

/// The backward pass of a rule: turns upstream gradients into input
/// gradients from the sides a [`Forward`] recorded.
struct Backward<'a, R> {
    rule: R,
    bits: &'a [u64],
}

impl<R: Rule> Pass for Backward<'_, R> {
    #[inline(always)]
    fn word(&self, k: usize) -> u64 {
        self.bits[k]
    }

    #[inline(always)]
    fn lanes<V: Lanes>(&self, g: V, i: usize, word: &mut u64) -> V {
        self.rule.backward(g, V::from_bits(*word, i))
    }

    #[cfg(feature = "rayon")]
    fn split_at(self, k: usize) -> (Self, Self) {
        let (a, b) = self.bits.split_at(k);
        let rule = self.rule;
        (Backward { rule, bits: a }, Backward { rule, bits: b })
    }
}

/// A new standard-layout array of `input`'s values with `pass` applied,
/// reading a standard-layout input once (no copy followed by a second pass).
fn new_array(input: &ArrayRef2<f64>, pass: impl Pass) -> Array2<f64> {
    let Some(src) = input.as_slice() else {
        let mut out = input.as_standard_layout().into_owned();
        simd::in_place(pass, slice_of(&mut out));
        return out;
    };
    Array2::from_shape_vec(input.dim(), simd::copied(pass, src))
        .expect("the input's shape holds its elements")
}

/// `a` itself if it is in standard (row-major, contiguous) layout, else a
/// row-major copy.
fn into_standard(a: Array2<f64>) -> Array2<f64> {
    if a.is_standard_layout() {
        a
    } else {
        a.as_standard_layout().into_owned()
    }
}

/// The row-major slice of an array known to be in standard layout.
fn slice_of(a: &mut Array2<f64>) -> &mut [f64] {
    a.as_slice_mut()
        .expect("into_standard returns a standard-layout array")
}

/// Implements [`Layer`](crate::Layer) for a rectifier layer by handing every
/// call to its `inner: Rectifier<_>`.
macro_rules! delegate_layer {
    ($layer:ty) => {
        impl $crate::Layer for $layer {
            fn forward(
                &mut self,
                input: &::ndarray::ArrayRef2<f64>,
            ) -> $crate::Result<::ndarray::Array2<f64>> {
                Ok(self.inner.forward(input))
            }

            fn backward(
                &mut self,
                grad_output: &::ndarray::ArrayRef2<f64>,
            ) -> $crate::Result<::ndarray::Array2<f64>> {
                self.inner.backward(grad_output)
            }

            fn predict(
                &self,
                input: &::ndarray::ArrayRef2<f64>,
            ) -> $crate::Result<::ndarray::Array2<f64>> {
                Ok(self.inner.predict(input))
            }

            fn forward_owned(
                &mut self,
                input: ::ndarray::Array2<f64>,
            ) -> $crate::Result<::ndarray::Array2<f64>> {
                Ok(self.inner.forward_owned(input))
            }

            fn backward_owned(
                &mut self,
                grad_output: ::ndarray::Array2<f64>,
            ) -> $crate::Result<::ndarray::Array2<f64>> {
                self.inner.backward_owned(grad_output)
            }
        }
    };
}
use delegate_layer;

/// The state every rectifier layer has: its rule and the mask of the last
/// forward. The layers are thin wrappers that pick the rule.
#[derive(Debug, Clone)]
pub(crate) struct Rectifier<R> {
    pub(crate) rule: R,
    mask: Option<Mask>,
}

impl<R: Rule> Rectifier<R> {
    pub(crate) fn new(rule: R) -> Self {
        Rectifier { rule, mask: None }
    }

    pub(crate) fn mask(&self) -> Option<&Mask> {
        self.mask.as_ref()
    }

    pub(crate) fn forward(&mut self, input: &ArrayRef2<f64>) -> Array2<f64> {
        let rule = self.rule;
        let bits = self.reset_mask(input.dim()).words_mut();
        new_array(input, Forward { rule, bits })
    }

    /// Rectifies in place, reusing the mask's buffer from the last forward.
    pub(crate) fn forward_owned(&mut self, input: Array2<f64>) -> Array2<f64> {
        let mut out = into_standard(input);
        let rule = self.rule;
        let bits = self.reset_mask(out.dim()).words_mut();
        simd::in_place(Forward { rule, bits }, slice_of(&mut out));
        out
    }

    /// The mask, sized for a `shape` input, reusing its buffer.
    fn reset_mask(&mut self, shape: (usize, usize)) -> &mut Mask {
        let mask = self.mask.get_or_insert_with(Mask::default);
        mask.reset(shape);
        mask
    }

    pub(crate) fn predict(&self, input: &ArrayRef2<f64>) -> Array2<f64> {
        new_array(input, Predict(self.rule))
    }

    pub(crate) fn backward(&self, grad_output: &ArrayRef2<f64>) -> Result<Array2<f64>> {
        let bits = self.check_grad(grad_output.dim())?.words();
        Ok(new_array(
            grad_output,
            Backward {
                rule: self.rule,
                bits,
            },
        ))
    }

    pub(crate) fn backward_owned(&self, grad_output: Array2<f64>) -> Result<Array2<f64>> {
        let mask = self.check_grad(grad_output.dim())?;
        let mut grad = into_standard(grad_output);
        let pass = Backward {
            rule: self.rule,
            bits: mask.words(),
        };
        simd::in_place(pass, slice_of(&mut grad));
        Ok(grad)
    }

    /// The cached mask, if there is one and `grad` has its shape.
    fn check_grad(&self, grad: (usize, usize)) -> Result<&Mask> {
        LayerError::check_backward(R::LAYER, self.mask.as_ref(), |m| m.shape(), grad)
    }
}

#[cfg(test)]
mod test_util;

#[cfg(test)]
pub(super) mod tests {
    use std::mem::MaybeUninit;

    use ndarray::{s, Array2};

    use super::*;

    /// Awkward values (NaN with payloads and both signs, ±0.0, ±inf,
    /// subnormals, the extremes) mixed with ordinary ones, deterministically.
    pub(crate) fn awkward(len: usize, seed: u64) -> Vec<f64> {
        const SPECIAL: [f64; 12] = [
            f64::NAN,
            -f64::NAN,
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            -f64::MIN_POSITIVE,
            1e-310,
            -1e-310,
            f64::MAX,
            f64::MIN,
        ];
        let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let r = state >> 33;
                match r % 4 {
                    0 => SPECIAL[(r / 4) as usize % SPECIAL.len()],
                    // A NaN with a payload.
                    1 if r % 64 == 1 => f64::from_bits(0x7ff8_0000_0000_0000 | r),
                    _ => (r % 2001) as f64 / 100.0 - 10.0,
                }
            })
            .collect()
    }

    /// `rule`'s forward and backward over `x` and `g` with lanes `V` (one
    /// lane for the tails), in place and copied: outputs, mask words and
    /// input gradients, as bits, after checking that both loops agree.
    fn passes_with<V: Lanes, R: Rule>(rule: R, x: &[f64], g: &[f64]) -> [Vec<u64>; 3] {
        let mut words = vec![0; x.len().div_ceil(WORD)];
        let mut y = x.to_vec();
        simd::blocks_in_place::<V, _>(
            &mut Forward {
                rule,
                bits: &mut words,
            },
            &mut y,
        );
        let mut copied_words = vec![0; words.len()];
        let copied = copied_with::<V, _>(
            Forward {
                rule,
                bits: &mut copied_words,
            },
            x,
        );
        assert_eq!(bits_of(&copied), bits_of(&y));
        assert_eq!(copied_words, words);
        let predicted = copied_with::<V, _>(Predict(rule), x);
        assert_eq!(bits_of(&predicted), bits_of(&y));
        let mut dx = g.to_vec();
        simd::blocks_in_place::<V, _>(&mut Backward { rule, bits: &words }, &mut dx);
        let copied = copied_with::<V, _>(Backward { rule, bits: &words }, g);
        assert_eq!(bits_of(&copied), bits_of(&dx));
        [bits_of(&y), words, bits_of(&dx)]
    }

    /// [`simd::blocks_copied`] with lanes `V` into a vector that starts out
    /// full of a NaN no pass produces from [`awkward`] values, so that an
    /// element left unwritten shows.
    fn copied_with<V: Lanes, P: Pass>(mut pass: P, src: &[f64]) -> Vec<f64> {
        let unwritten = MaybeUninit::new(f64::from_bits(0x7ff4_dead_beef_0000));
        let mut out = vec![unwritten; src.len()];
        simd::blocks_copied::<V, P>(&mut pass, src, &mut out);
        // SAFETY: every element was initialized, with `unwritten` if not by the pass.
        out.into_iter()
            .map(|y| unsafe { y.assume_init() })
            .collect()
    }

    /// The same with AVX2, which needs a function compiled for it.
    ///
    /// # Safety
    ///
    /// The CPU must have AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn passes_with_avx2<R: Rule>(rule: R, x: &[f64], g: &[f64]) -> [Vec<u64>; 3] {
        passes_with::<simd::Avx2, R>(rule, x, g)
    }

    fn bits_of<'a>(a: impl IntoIterator<Item = &'a f64>) -> Vec<u64> {
        a.into_iter().map(|v| v.to_bits()).collect()
    }

    /// Every way of running `rule` (in place, into a new array, predict, the
    /// SIMD blocks and the scalar tails, and the parallel path where enabled)
    /// agrees bit for bit with the portable path, at lengths that are not
    /// multiples of any SIMD width or of 64, for standard, transposed and
    /// sliced inputs.
    pub(crate) fn paths_agree<R: Rule>(rule: R) {
        for (rows, cols) in [
            (1, 1),
            (1, 3),
            (3, 21),
            (1, 63),
            (2, 32),
            (5, 13),
            (1, 65),
            (7, 19),
            (33, 65),
            (2, 1031),
        ] {
            let n = rows * cols;
            let x = Array2::from_shape_vec((rows, cols), awkward(n, n as u64)).unwrap();
            let g = Array2::from_shape_vec((rows, cols), awkward(n, 7 * n as u64)).unwrap();
            let (xs, gs) = (x.as_slice().unwrap(), g.as_slice().unwrap());
            let portable = passes_with::<f64, R>(rule, xs, gs);
            #[cfg(target_arch = "x86_64")]
            {
                assert_eq!(
                    passes_with::<simd::Sse2, R>(rule, xs, gs),
                    portable,
                    "SSE2 {n}"
                );
                if is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2.
                    let avx2 = unsafe { passes_with_avx2(rule, xs, gs) };
                    assert_eq!(avx2, portable, "AVX2 {n}");
                }
            }
            let [want_y, want_words, want_dx] = portable;

            let mut layer = Rectifier::new(rule);
            let y = layer.forward_owned(x.clone());
            assert_eq!(bits_of(&y), want_y, "forward_owned {rows}x{cols}");
            assert_eq!(
                layer.mask().unwrap().words(),
                want_words,
                "mask {rows}x{cols}"
            );
            let dx = layer.backward_owned(g.clone()).unwrap();
            assert_eq!(bits_of(&dx), want_dx, "backward_owned {rows}x{cols}");
            let dx = layer.backward(&g.view()).unwrap();
            assert_eq!(bits_of(&dx), want_dx, "backward {rows}x{cols}");

            let mut layer = Rectifier::new(rule);
            let y = layer.forward(&x.view());
            assert_eq!(bits_of(&y), want_y, "forward {rows}x{cols}");
            assert_eq!(layer.mask().unwrap().words(), want_words);
            assert_eq!(bits_of(&layer.predict(&x)), want_y, "predict {rows}x{cols}");

            // The same values reached through a transposed and a sliced view.
            let xt = x.t().to_owned();
            let gt = g.t().to_owned();
            let y = layer.forward(&xt.t());
            assert_eq!(bits_of(&y), want_y, "forward of a transposed view");
            assert_eq!(layer.mask().unwrap().words(), want_words);
            assert_eq!(bits_of(&layer.predict(&xt.t())), want_y);
            let dx = layer.backward(&gt.t()).unwrap();
            assert_eq!(bits_of(&dx), want_dx, "backward of a transposed view");
            let dx = layer.backward_owned(gt.reversed_axes()).unwrap();
            assert_eq!(
                bits_of(&dx),
                want_dx,
                "backward_owned of a transposed array"
            );

            let mut wide = Array2::from_elem((rows, 2 * cols), f64::NAN);
            wide.slice_mut(s![.., ..;2]).assign(&x);
            let y = layer.forward(&wide.slice(s![.., ..;2]));
            assert_eq!(bits_of(&y), want_y, "forward of a sliced view");
            assert_eq!(layer.mask().unwrap().words(), want_words);
        }
    }

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

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn sse2_mask_bits_round_trip() {
        use simd::Sse2;
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
}
