//! [`Mask`]: which inputs of the last forward pass were on the active side.

use ndarray::{Array1, Array2, ArrayD, Dimension, IxDyn};

use super::kernel::WORD;
use crate::alloc::Need;
use crate::Result;

/// Which inputs of a rectifier's last forward pass were on the active side,
/// one bit per element (64 times smaller than caching the input).
///
/// "Active" means the gradient passes unchanged. Each member says where
/// that is, as PyTorch does:
///
/// | member | active | NaN |
/// | --- | --- | --- |
/// | [`ReluLayer`](crate::ReluLayer), [`RReluLayer`](crate::RReluLayer) | `x > 0` | active |
/// | [`LeakyReluLayer`](crate::LeakyReluLayer), [`PReluLayer`](crate::PReluLayer) | `x > 0` | inactive (its gradient is scaled by the slope) |
/// | [`ClippedReluLayer`](crate::ClippedReluLayer) | `0 < x < cap` | active |
/// | [`ThresholdLayer`](crate::ThresholdLayer) | `x > threshold` | active |
///
/// `±0.0` is active too under [`AtZero::Active`](crate::AtZero::Active). A
/// clipped unit saturated at its cap passes no gradient, so it is inactive,
/// and [`ActivityStats`](crate::ActivityStats) counts it with the dead ones.
///
/// Indices are logical (row, column), whatever the input's memory layout.
/// A mask of an n-D input has its shape ([`Mask::shape_nd`]) and n-D
/// accessors ([`Mask::get_nd`], [`Mask::to_array_nd`]); its 2-D accessors
/// see it as `(axis 0, every other axis flattened)`: samples by units.
///
/// # Examples
///
/// ```
/// use rectify::{ndarray::array, ReluLayer};
///
/// let mut relu = ReluLayer::new();
/// relu.forward(&array![[1.0, -1.0, 0.0], [2.0, 3.0, -4.0]])?;
/// let mask = relu.mask().expect("forward ran");
/// assert_eq!(mask.shape(), (2, 3));
/// assert_eq!(mask.get(0, 0), Some(true));
/// assert_eq!(mask.get(0, 2), Some(false)); // exactly 0.0 is inactive by default
/// assert_eq!(mask.get(2, 0), None); // out of bounds
/// assert_eq!(mask.count_active(), 3);
/// assert_eq!(mask.active_per_column(), array![2, 1, 0]);
/// assert_eq!(mask.to_array(), array![[true, false, false], [true, true, false]]);
/// # Ok::<(), rectify::LayerError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mask {
    /// Inline up to 4 axes, so that the mask's bits are its only allocation.
    shape: IxDyn,
    /// Element `i` of the row-major order at bit `i % 64` of word `i / 64`;
    /// bits past the last element are zero.
    words: Vec<u64>,
}

impl Default for Mask {
    /// The mask of an input of shape `(0, 0)`.
    fn default() -> Self {
        Mask {
            shape: IxDyn(&[0, 0]),
            words: Vec::new(),
        }
    }
}

impl Mask {
    /// `(rows, columns)` of the input it was recorded from. For an input
    /// with other than two axes: axis 0 by the product of the others (a 1-D
    /// input of `n` is `(n, 1)`, a 0-D one `(1, 1)`).
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::Array2, ReluLayer};
    ///
    /// let mut relu = ReluLayer::new();
    /// relu.forward(&Array2::<f64>::zeros((4, 7)))?;
    /// assert_eq!(relu.mask().unwrap().shape(), (4, 7));
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn shape(&self) -> (usize, usize) {
        match self.shape.slice().split_first() {
            Some((&rows, rest)) => (rows, rest.iter().product()),
            None => (1, 1),
        }
    }

    /// The shape of the input it was recorded from, with every axis.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::Array4, ReluLayer};
    ///
    /// let mut relu = ReluLayer::new();
    /// relu.forward(&Array4::<f32>::zeros((2, 3, 4, 5)))?;
    /// let mask = relu.mask().unwrap();
    /// assert_eq!(mask.shape_nd(), &[2, 3, 4, 5]);
    /// assert_eq!(mask.shape(), (2, 60)); // samples by units
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn shape_nd(&self) -> &[usize] {
        self.shape.slice()
    }

    /// Whether the element at `index` (one index per axis) was active;
    /// `None` if it is out of bounds or has another number of axes.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::array, ReluLayer};
    ///
    /// let mut relu = ReluLayer::new();
    /// relu.forward(&array![[[1.0, -1.0]], [[-2.0, 2.0]]])?;
    /// let mask = relu.mask().unwrap();
    /// assert_eq!(mask.get_nd(&[1, 0, 1]), Some(true));
    /// assert_eq!(mask.get_nd(&[1, 0, 0]), Some(false));
    /// assert_eq!(mask.get_nd(&[1, 1, 0]), None);
    /// assert_eq!(mask.get_nd(&[1, 0]), None);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn get_nd(&self, index: &[usize]) -> Option<bool> {
        let shape = self.shape.slice();
        if index.len() != shape.len() || index.iter().zip(shape).any(|(i, n)| i >= n) {
            return None;
        }
        let flat = (index.iter().zip(shape)).fold(0, |flat, (&i, &n)| flat * n + i);
        Some(self.bit(flat))
    }

    /// Whether element `(row, col)` was active; `None` if out of bounds.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::array, LeakyReluLayer};
    ///
    /// let mut leaky = LeakyReluLayer::default();
    /// leaky.forward(&array![[-1.0, f64::NAN, 2.0]])?;
    /// let mask = leaky.mask().unwrap();
    /// assert_eq!(
    ///     [mask.get(0, 0), mask.get(0, 1), mask.get(0, 2), mask.get(0, 3)],
    ///     [Some(false), Some(false), Some(true), None]
    /// );
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn get(&self, row: usize, col: usize) -> Option<bool> {
        let (rows, cols) = self.shape();
        if row >= rows || col >= cols {
            return None;
        }
        Some(self.bit(row * cols + col))
    }

    /// How many elements were active.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::array, ReluLayer};
    ///
    /// let mut relu = ReluLayer::new();
    /// relu.forward(&array![[1.0, -2.0], [f64::NAN, 0.5]])?;
    /// assert_eq!(relu.mask().unwrap().count_active(), 3); // NaN passes its gradient in ReLU
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn count_active(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// For each column (unit), how many rows (samples) were active. A zero
    /// marks a unit that was dead for the whole batch.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::array, ReluLayer};
    ///
    /// let mut relu = ReluLayer::new();
    /// relu.forward(&array![[1.0, -2.0], [3.0, -0.5], [-1.0, -9.0]])?;
    /// assert_eq!(relu.mask().unwrap().active_per_column(), array![2, 0]);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn active_per_column(&self) -> Array1<usize> {
        let cols = self.shape().1;
        let mut counts = Array1::zeros(cols);
        for (k, &word) in self.words.iter().enumerate() {
            let mut w = word;
            while w != 0 {
                let i = k * WORD + w.trailing_zeros() as usize;
                counts[i % cols] += 1;
                w &= w - 1;
            }
        }
        counts
    }

    /// The mask as a boolean array of the input's shape.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::array, ReluLayer};
    ///
    /// let mut relu = ReluLayer::new();
    /// let x = array![[1.0, -2.0], [3.0, 0.0]];
    /// relu.forward(&x.t())?; // logical indices, whatever the layout
    /// assert_eq!(relu.mask().unwrap().to_array(), array![[true, true], [false, false]]);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn to_array(&self) -> Array2<bool> {
        let (rows, cols) = self.shape();
        Array2::from_shape_fn((rows, cols), |(r, c)| self.bit(r * cols + c))
    }

    /// The mask as a boolean array of the input's shape, every axis kept.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::{array, Axis}, ReluLayer};
    ///
    /// let x = array![[[1.0, -1.0]], [[-2.0, 2.0]]];
    /// let mut relu = ReluLayer::new();
    /// relu.forward(&x.view().permuted_axes([2, 1, 0]))?; // logical indices, whatever the layout
    /// let mask = relu.mask().unwrap().to_array_nd();
    /// assert_eq!(mask, x.view().permuted_axes([2, 1, 0]).mapv(|v| v > 0.0).into_dyn());
    /// assert_eq!(mask.len_of(Axis(0)), 2);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn to_array_nd(&self) -> ArrayD<bool> {
        let len = self.shape.size();
        let bits = (0..len).map(|i| self.bit(i)).collect();
        ArrayD::from_shape_vec(self.shape.clone(), bits).expect("one bit per element")
    }

    /// Bit `i` of the row-major order.
    fn bit(&self, i: usize) -> bool {
        (self.words[i / WORD] >> (i % WORD)) & 1 == 1
    }

    /// Resizes for an input of `shape`, keeping the allocation (growing it
    /// exactly, so the mask never holds more than one bit per element of
    /// the largest input seen, plus one word). If the bits cannot be had,
    /// the error names `need` and the mask is unchanged.
    pub(super) fn reset(&mut self, shape: &[usize], need: Need<&[usize]>) -> Result<()> {
        let words = need.elements()?.div_ceil(WORD);
        need.reserve(&mut self.words, words)?;
        self.words.resize(words, 0);
        self.shape = IxDyn(shape);
        Ok(())
    }

    pub(super) fn words(&self) -> &[u64] {
        &self.words
    }

    pub(super) fn words_mut(&mut self) -> &mut [u64] {
        &mut self.words
    }
}

#[cfg(test)]
mod tests {
    use ndarray::{s, Array1, Array2};

    use crate::{AtZero, LeakyReluLayer, ReluLayer};

    fn wavy(rows: usize, cols: usize) -> Array2<f64> {
        Array2::from_shape_fn((rows, cols), |(r, c)| ((r * 31 + c * 7) as f64).sin())
    }

    #[test]
    fn accessors_agree_with_the_comparison_on_uneven_shapes() {
        let mut relu = ReluLayer::new();
        // Grow, shrink and grow again: 133, 6, 4160 + 1 elements.
        for (rows, cols) in [(7, 19), (2, 3), (65, 64), (1, 1)] {
            let x = wavy(rows, cols);
            relu.forward(&x).unwrap();
            let mask = relu.mask().unwrap();
            let want = x.mapv(|v| v > 0.0);
            assert_eq!(mask.shape(), (rows, cols));
            assert_eq!(mask.to_array(), want);
            assert_eq!(mask.count_active(), want.iter().filter(|&&b| b).count());
            let per_col: Array1<usize> =
                want.map_axis(ndarray::Axis(0), |c| c.iter().filter(|&&b| b).count());
            assert_eq!(mask.active_per_column(), per_col);
            for ((r, c), &b) in want.indexed_iter() {
                assert_eq!(mask.get(r, c), Some(b));
            }
            assert_eq!(mask.get(rows, 0), None);
            assert_eq!(mask.get(0, cols), None);
        }
    }

    #[test]
    fn mask_follows_logical_indices_for_transposed_and_sliced_inputs() {
        let x = wavy(9, 13);
        let mut relu = ReluLayer::new();
        relu.forward(&x.t()).unwrap();
        assert_eq!(relu.mask().unwrap().to_array(), x.t().mapv(|v| v > 0.0));
        let view = x.slice(s![1..;3, ..;-2]);
        relu.forward(&view).unwrap();
        assert_eq!(relu.mask().unwrap().to_array(), view.mapv(|v| v > 0.0));
    }

    #[test]
    fn nan_and_zero_sides() {
        let x = Array2::from_shape_vec((1, 4), vec![f64::NAN, 0.0, -0.0, 1.0]).unwrap();
        let mut relu = ReluLayer::new();
        relu.forward(&x).unwrap();
        assert_eq!(
            relu.mask().unwrap().to_array().row(0).to_vec(),
            [true, false, false, true]
        );
        let mut relu = ReluLayer::new().at_zero(AtZero::Active);
        relu.forward(&x).unwrap();
        assert_eq!(
            relu.mask().unwrap().to_array().row(0).to_vec(),
            [true, true, true, true]
        );
        let mut leaky = LeakyReluLayer::default();
        leaky.forward(&x).unwrap();
        assert_eq!(
            leaky.mask().unwrap().to_array().row(0).to_vec(),
            [false, false, false, true]
        );
        let mut leaky = LeakyReluLayer::default().at_zero(AtZero::Active);
        leaky.forward(&x).unwrap();
        assert_eq!(
            leaky.mask().unwrap().to_array().row(0).to_vec(),
            [false, true, true, true]
        );
    }

    #[test]
    fn predict_does_not_touch_the_mask() {
        let mut relu = ReluLayer::new();
        assert!(relu.predict(&wavy(2, 2)).is_ok());
        assert!(relu.mask().is_none());
        relu.forward(&wavy(3, 5)).unwrap();
        let before = relu.mask().unwrap().clone();
        relu.predict(&wavy(4, 4)).unwrap();
        assert_eq!(relu.mask().unwrap(), &before);
    }
}
