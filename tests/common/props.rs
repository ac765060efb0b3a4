//! The properties that `properties.rs` checks in f64 and
//! `properties_f32.rs` in f32: random arrays viewed in three layouts,
//! references written from the semantics tables of docs/semantics.md and computed
//! element by element in the element type (hyperparameters rounded to it,
//! products in it, as PyTorch computes), and the check of every entry point
//! of a layer against a reference, bit for bit.

use proptest::prelude::*;
use rectify::ndarray::{s, Array1, Array2, ArrayRef, ArrayView2, Axis, Dimension};
use rectify::{
    AtZero, ClippedReluLayer, Float, LeakyReluLayer, Member, PReluLayer, RReluLayer, Rectifier,
    ReluLayer, ThresholdLayer,
};

use super::bits::{same, Bits};

/// A value from the semantics table's classes, or an ordinary number:
/// `ordinary` weighs 4; each special value 1 (±0.0, ±inf, NaN, the negative
/// subnormal nearest 0, a positive subnormal, and each of `extremes`); the
/// `kinks` of the layers' hyperparameters 1 together, and their
/// `neighbours` 1 together.
pub fn value<A: Float + Bits, S: Strategy<Value = A> + Clone>(
    ordinary: S,
    extremes: &[A],
    kinks: Vec<A>,
    neighbours: Vec<A>,
) -> impl Strategy<Value = A> + Clone {
    let (zero, min_positive) = (A::zero(), A::min_positive_value());
    let smallest_subnormal = min_positive * A::epsilon();
    let subnormal = min_positive / A::nearest(4.0);
    let mut special = vec![zero, -zero, A::infinity(), -A::infinity(), A::nan()];
    special.extend([-smallest_subnormal, subnormal]);
    special.extend_from_slice(extremes);
    prop_oneof![
        4 => ordinary,
        special.len() as u32 => prop::sample::select(special),
        1 => prop::sample::select(kinks),
        1 => prop::sample::select(neighbours),
    ]
}

/// How the test array is laid out in memory.
#[derive(Debug, Clone, Copy)]
pub enum Layout {
    Standard,
    Transposed,
    Strided,
}

/// A backing array of `value`s and the layout to view it through, for a
/// random shape of 0 to 11 rows and 0 to 79 columns (so rows cross the
/// 64-bit mask word and every SIMD width's tail).
pub fn case<S>(value: S) -> impl Strategy<Value = (Array2<S::Value>, Layout)>
where
    S: Strategy + Clone + 'static,
{
    (0..12usize, 0..80usize, 0..3u8).prop_flat_map(move |(rows, cols, kind)| {
        let layout = [Layout::Standard, Layout::Transposed, Layout::Strided][kind as usize];
        let (br, bc) = match layout {
            Layout::Standard => (rows, cols),
            Layout::Transposed => (cols, rows),
            Layout::Strided => (2 * rows, 2 * cols),
        };
        proptest::collection::vec(value.clone(), br * bc)
            .prop_map(move |data| (Array2::from_shape_vec((br, bc), data).unwrap(), layout))
    })
}

/// The test array: `backing` seen through `layout`.
pub fn view<A>(backing: &Array2<A>, layout: Layout) -> ArrayView2<'_, A> {
    match layout {
        Layout::Standard => backing.view(),
        Layout::Transposed => backing.t(),
        Layout::Strided => backing.slice(s![..;2, ..;2]),
    }
}

/// Bit-for-bit equality, NaN equal to NaN.
pub fn same_array<A: Bits, D: Dimension>(a: &ArrayRef<A, D>, b: &ArrayRef<A, D>) -> bool {
    a.shape() == b.shape() && a.iter().zip(b).all(|(&x, &y)| same(x, y))
}

/// A non-uniform upstream gradient of the given shape.
fn upstream<A: Bits>(shape: (usize, usize)) -> Array2<A> {
    Array2::from_shape_fn(shape, |(r, c)| {
        A::nearest(1.0 + r as f64 * 0.5 - c as f64 * 0.25)
    })
}

fn side(zero_active: bool) -> AtZero {
    if zero_active {
        AtZero::Active
    } else {
        AtZero::Inactive
    }
}

/// What a member does to one element, from the semantics tables: (active,
/// output, gradient for upstream `g`) of `x` in column `col`.
type Reference<A> = Box<dyn Fn(A, usize, A) -> (bool, A, A)>;

/// `x > 0`, or `x >= 0` when `±0.0` is active.
fn positive<A: Float>(x: A, zero_active: bool) -> bool {
    x > A::zero() || (zero_active && x == A::zero())
}

/// ReLU: NaN is active (its gradient passes); the output is +0.0 or above.
fn relu<A: Float>(zero_active: bool) -> Reference<A> {
    Box::new(move |x, _, g| {
        let above = x > A::zero() || x.is_nan();
        let active = above || positive(x, zero_active);
        let y = if above { x } else { A::zero() };
        (active, y, if active { g } else { A::zero() })
    })
}

/// The leaky side: `x` where active (`x > 0`, `±0.0` too if `zero_active`,
/// NaN too if `nan_active`), `slope·x` elsewhere, with the slope of the
/// column (or the one slope).
fn leaky<A: Float>(zero_active: bool, slopes: Vec<A>, nan_active: bool) -> Reference<A> {
    Box::new(move |x, c, g| {
        let a = slopes[c % slopes.len()];
        if positive(x, zero_active) || (nan_active && x.is_nan()) {
            (true, x, g)
        } else {
            (false, x * a, g * a)
        }
    })
}

/// The clipped ReLU with cap `cap`: NaN is active and passes through.
fn clipped<A: Float>(zero_active: bool, cap: A) -> Reference<A> {
    Box::new(move |x, _, g| {
        let y = if x.is_nan() {
            x
        } else if x <= A::zero() {
            A::zero()
        } else if x >= cap {
            cap
        } else {
            x
        };
        let active = x.is_nan() || (positive(x, zero_active) && x < cap);
        (active, y, if active { g } else { A::zero() })
    })
}

/// Threshold `t` with value `value`: NaN is active and passes through.
fn threshold<A: Float>(t: A, value: A) -> Reference<A> {
    Box::new(move |x, _, g| {
        let active = x.is_nan() || x > t;
        let y = if active { x } else { value };
        (active, y, if active { g } else { A::zero() })
    })
}

/// Checks every entry point of `layer` on `x` against `reference`, bit for
/// bit: the output, the mask, the input gradient of a non-uniform upstream
/// gradient, `predict`, the owned pair, and the same as the 3-D array
/// `(rows, cols, 1)`.
fn check_member<A: Bits + Float, M: Member<A>>(
    layer: &mut Rectifier<M>,
    x: ArrayView2<'_, A>,
    reference: &Reference<A>,
) -> Result<(), TestCaseError> {
    let g = upstream(x.dim());
    let at = |(r, c): (usize, usize)| reference(x[(r, c)], c, g[(r, c)]);
    let want_mask = Array2::from_shape_fn(x.dim(), |i| at(i).0);
    let want_y = Array2::from_shape_fn(x.dim(), |i| at(i).1);
    let want_dx = Array2::from_shape_fn(x.dim(), |i| at(i).2);

    let y = layer.forward(&x).unwrap();
    prop_assert!(same_array(&y, &want_y), "forward {:?} != {:?}", y, want_y);
    prop_assert_eq!(layer.mask().unwrap().to_array(), want_mask.clone());
    let dx = layer.backward(&g).unwrap();
    prop_assert!(
        same_array(&dx, &want_dx),
        "backward {:?} != {:?}",
        dx,
        want_dx
    );
    let predicted = layer.predict(&x).unwrap();
    prop_assert!(
        same_array(&predicted, &want_y),
        "predict {:?} != {:?}",
        predicted,
        want_y
    );

    let owned = layer.forward_owned(x.to_owned()).unwrap();
    prop_assert!(same_array(&owned, &want_y), "forward_owned differs");
    prop_assert_eq!(layer.mask().unwrap().to_array(), want_mask.clone());
    let dx_owned = layer.backward_owned(g.clone()).unwrap();
    prop_assert!(same_array(&dx_owned, &want_dx), "backward_owned differs");

    let three = |a: &Array2<A>| a.clone().insert_axis(Axis(2));
    let y3 = layer.forward(&three(&x.to_owned())).unwrap();
    prop_assert!(same_array(&y3, &three(&want_y)), "3-D forward");
    prop_assert_eq!(
        layer.mask().unwrap().to_array_nd(),
        want_mask.insert_axis(Axis(2)).into_dyn()
    );
    let dx3 = layer.backward_owned(three(&g)).unwrap();
    prop_assert!(same_array(&dx3, &three(&want_dx)), "3-D backward");
    Ok(())
}

/// A random array: a backing array and the layout to view it through.
pub type Case<A> = (Array2<A>, Layout);

/// ReLU against [`relu`].
pub fn relu_property<A: Bits + Float>(
    (backing, layout): &Case<A>,
    zero_active: bool,
) -> Result<(), TestCaseError> {
    let mut layer = ReluLayer::new().at_zero(side(zero_active));
    check_member(&mut layer, view(backing, *layout), &relu(zero_active))
}

/// Leaky ReLU with `slope` against [`leaky`]: NaN is inactive, its
/// gradient scaled by the slope.
pub fn leaky_property<A: Bits + Float>(
    (backing, layout): &Case<A>,
    zero_active: bool,
    slope: f64,
) -> Result<(), TestCaseError> {
    let mut layer = LeakyReluLayer::new(slope)
        .unwrap()
        .at_zero(side(zero_active));
    let reference = leaky(zero_active, vec![A::nearest(slope)], false);
    check_member(&mut layer, view(backing, *layout), &reference)
}

/// PReLU with one slope or one per column, k/4 - `offset` (in the element
/// type) with k in 0..17 drawn from `seed`, against [`leaky`].
pub fn prelu_property<A: Bits + Float>(
    (backing, layout): &Case<A>,
    zero_active: bool,
    per_column: bool,
    (seed, offset): (u32, f64),
) -> Result<(), TestCaseError> {
    let x = view(backing, *layout);
    let n = if per_column { x.ncols().max(1) } else { 1 };
    let slopes = Array1::from_shape_fn(n, |c| {
        let k = (seed as usize * 7 + c * 13) % 17;
        A::nearest(k as f64 / 4.0) - A::nearest(offset)
    });
    if per_column && x.ncols() == 0 {
        return Ok(()); // one slope per column of none: no such layer
    }
    let mut layer = PReluLayer::from_slopes(slopes.clone())
        .unwrap()
        .at_zero(side(zero_active));
    check_member(&mut layer, x, &leaky(zero_active, slopes.to_vec(), false))
}

/// RReLU with both bounds `slope`: Leaky ReLU with NaN active.
pub fn rrelu_with_equal_bounds_property<A: Bits + Float>(
    (backing, layout): &Case<A>,
    zero_active: bool,
    slope: f64,
) -> Result<(), TestCaseError> {
    let mut layer = RReluLayer::new(slope, slope)
        .unwrap()
        .at_zero(side(zero_active));
    let reference = leaky(zero_active, vec![A::nearest(slope)], true);
    check_member(&mut layer, view(backing, *layout), &reference)
}

/// The clipped ReLU with `cap` against [`clipped`].
pub fn clipped_relu_property<A: Bits + Float>(
    (backing, layout): &Case<A>,
    zero_active: bool,
    cap: f64,
) -> Result<(), TestCaseError> {
    let mut layer = ClippedReluLayer::new(cap)
        .unwrap()
        .at_zero(side(zero_active));
    let reference = clipped(zero_active, A::nearest(cap));
    check_member(&mut layer, view(backing, *layout), &reference)
}

/// Threshold `t` with `value` against [`threshold`].
pub fn threshold_property<A: Bits + Float>(
    (backing, layout): &Case<A>,
    t: f64,
    value: f64,
) -> Result<(), TestCaseError> {
    let mut layer = ThresholdLayer::new(t, value).unwrap();
    let reference = threshold(A::nearest(t), A::nearest(value));
    check_member(&mut layer, view(backing, *layout), &reference)
}

/// ReLU, Leaky ReLU (`slope`), the clipped ReLU (`cap`) and Threshold
/// (`t`, `value`) give on `x` what their scalar functions give, with the
/// hyperparameters rounded to the element type.
pub fn agree_with_the_scalar_functions<A: Bits + Float>(
    (backing, layout): &Case<A>,
    slope: f64,
    cap: f64,
    (t, value): (f64, f64),
) -> Result<(), TestCaseError> {
    let x = view(backing, *layout);
    let relu = ReluLayer::new().predict(&x).unwrap();
    let leaky = LeakyReluLayer::new(slope).unwrap().predict(&x).unwrap();
    let clipped = ClippedReluLayer::new(cap).unwrap().predict(&x).unwrap();
    let threshold = ThresholdLayer::new(t, value).unwrap().predict(&x).unwrap();
    let (slope, cap, t, value) = (
        A::nearest(slope),
        A::nearest(cap),
        A::nearest(t),
        A::nearest(value),
    );
    prop_assert!(same_array(&relu, &x.mapv(rectify::relu)));
    prop_assert!(same_array(
        &leaky,
        &x.mapv(|v| rectify::leaky_relu(v, slope))
    ));
    prop_assert!(same_array(
        &clipped,
        &x.mapv(|v| rectify::clipped_relu(v, cap))
    ));
    prop_assert!(same_array(
        &threshold,
        &x.mapv(|v| rectify::threshold(v, t, value))
    ));
    Ok(())
}
