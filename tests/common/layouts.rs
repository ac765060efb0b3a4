//! Other memory layouts of the same logical array, for checking that a
//! layer gives the same bits whatever the layout of its input.

use rectify::ndarray::{Array, ArrayRef, Dimension, ShapeBuilder, Slice};

use super::bits::Bits;

/// `a` with the same values in column-major (Fortran) layout.
pub fn column_major<A: Clone, D: Dimension>(a: &ArrayRef<A, D>) -> Array<A, D> {
    // The reversed axes, read in logical order, are `a` in column-major order.
    let values = a.t().iter().cloned().collect();
    Array::from_shape_vec(a.raw_dim().f(), values).unwrap()
}

/// The steps of [`with_steps`]: 2 on even axes, -2 (backwards) on odd ones,
/// so axis 1 (the channel axis, or the columns) runs backwards in memory.
pub fn steps(axis: usize) -> Slice {
    Slice::new(0, None, if axis.is_multiple_of(2) { 2 } else { -2 })
}

/// A backing array twice `a`'s size on every axis (filled with 1234.5),
/// holding `a` at the elements that `backing.slice_each_axis(|d|
/// steps(d.axis.index()))` views, so that view is `a`, logically, with
/// steps of 2 and -2.
pub fn with_steps<A: Bits, D: Dimension>(a: &ArrayRef<A, D>) -> Array<A, D> {
    let mut dim = a.raw_dim();
    for d in dim.slice_mut() {
        *d *= 2;
    }
    let mut backing = Array::from_elem(dim, A::nearest(1234.5));
    backing
        .slice_each_axis_mut(|d| steps(d.axis.index()))
        .assign(a);
    backing
}
