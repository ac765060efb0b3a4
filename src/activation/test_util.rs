//! Test helper shared by the activation layers' unit tests: checks a
//! semantics table through every entry point and many layouts.

use ndarray::{s, Array2};

use crate::Layer;

pub(crate) const INF: f64 = f64::INFINITY;
pub(crate) const NAN: f64 = f64::NAN;

/// The inputs of the semantics table, in order: the tutorial's five points,
/// then -0.0, the infinities and NaN.
pub(crate) const X: [f64; 9] = [1.0, -10.0, 0.0, 15.0, -20.0, -0.0, INF, -INF, NAN];
/// A non-uniform upstream gradient, one per input of [`X`].
pub(crate) const G: [f64; 9] = [0.5, 2.0, 3.0, -4.0, 5.0, 6.0, 7.0, 8.0, 9.0];

/// The same value bit for bit (so `-0.0` differs from `+0.0`), or both NaN.
pub(crate) fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

fn assert_same(what: &str, got: &Array2<f64>, want: &Array2<f64>) {
    assert_eq!(got.dim(), want.dim(), "{what}: shape");
    for ((idx, &g), &w) in got.indexed_iter().zip(want.iter()) {
        assert!(same(g, w), "{what} at {idx:?}: got {g:?}, want {w:?}");
    }
}

/// `v` as a row, as a column, and tiled into 37 rows with each row rotated.
fn layouts(v: &[f64]) -> [(&'static str, Array2<f64>); 3] {
    let n = v.len();
    let row = Array2::from_shape_vec((1, n), v.to_vec()).unwrap();
    let column = row.t().as_standard_layout().into_owned();
    let tiled = Array2::from_shape_fn((37, n), |(r, c)| v[(c + r) % n]);
    [("row", row), ("column", column), ("tiled", tiled)]
}

/// Checks that input `x` gives output `y` and that upstream gradient `g`
/// gives input gradient `dx`, element by element and bit for bit, through
/// `forward`, `forward_owned`, `predict`, `backward` and `backward_owned`,
/// for the values laid out as a row, a column, a transposed view, a view
/// sliced with steps out of a larger array, and tiled 37 times (a length
/// that is a multiple of no SIMD width and not of 64).
pub(crate) fn check_table(layer: &mut dyn Layer, x: &[f64], y: &[f64], g: &[f64], dx: &[f64]) {
    let [xs, ys, gs, dxs] = [x, y, g, dx].map(layouts);
    for (((name, xa), (_, ya)), ((_, ga), (_, dxa))) in
        xs.into_iter().zip(ys).zip(gs.into_iter().zip(dxs))
    {
        assert_same(
            &format!("{name} forward"),
            &layer.forward(&xa).unwrap(),
            &ya,
        );
        assert_same(
            &format!("{name} backward"),
            &layer.backward(&ga).unwrap(),
            &dxa,
        );
        assert_same(
            &format!("{name} predict"),
            &layer.predict(&xa).unwrap(),
            &ya,
        );

        assert_same(
            &format!("{name} forward_owned"),
            &layer.forward_owned(xa.clone()).unwrap(),
            &ya,
        );
        assert_same(
            &format!("{name} backward_owned"),
            &layer.backward_owned(ga.clone()).unwrap(),
            &dxa,
        );

        // Transposed: a view whose logical shape is the transpose.
        let (xt, gt) = (xa.t().to_owned(), ga.t().to_owned());
        assert_same(
            &format!("{name} transposed forward"),
            &layer.forward(&xt.t()).unwrap(),
            &ya,
        );
        assert_same(
            &format!("{name} transposed backward"),
            &layer.backward(&gt.t()).unwrap(),
            &dxa,
        );
        assert_same(
            &format!("{name} transposed predict"),
            &layer.predict(&xt.t()).unwrap(),
            &ya,
        );
        let owned_t = xt.reversed_axes(); // an owned array in column-major layout
        assert_same(
            &format!("{name} F-order forward_owned"),
            &layer.forward_owned(owned_t).unwrap(),
            &ya,
        );
        let grad_t = gt.reversed_axes();
        assert_same(
            &format!("{name} F-order backward_owned"),
            &layer.backward_owned(grad_t).unwrap(),
            &dxa,
        );

        // Sliced with steps: every other row and column of a padded array.
        let (r, c) = xa.dim();
        let spread = |a: &Array2<f64>| {
            let mut big = Array2::from_elem((2 * r + 1, 2 * c + 1), 99.0);
            big.slice_mut(s![1..;2, 1..;2]).assign(a);
            big
        };
        let (xb, gb) = (spread(&xa), spread(&ga));
        assert_same(
            &format!("{name} sliced forward"),
            &layer.forward(&xb.slice(s![1..;2, 1..;2])).unwrap(),
            &ya,
        );
        assert_same(
            &format!("{name} sliced backward"),
            &layer.backward(&gb.slice(s![1..;2, 1..;2])).unwrap(),
            &dxa,
        );
        assert_same(
            &format!("{name} sliced predict"),
            &layer.predict(&xb.slice(s![1..;2, 1..;2])).unwrap(),
            &ya,
        );
    }
}
