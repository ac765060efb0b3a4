//! Property tests of every member of the family over random shapes
//! (including empty ones), layouts and values that include ±0.0, ±inf, NaN,
//! subnormals and the members' kinks, against a reference written from the
//! semantics tables of the README.

use proptest::prelude::*;
use rectify::ndarray::{s, Array1, Array2, ArrayView2};
use rectify::{
    AtZero, ClippedReluLayer, LeakyReluLayer, Member, PReluLayer, RReluLayer, Rectifier, ReluLayer,
    ThresholdLayer,
};

/// A value from the table's interesting classes, or an ordinary number.
fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => -100.0..100.0f64,
        1 => Just(0.0),
        1 => Just(-0.0),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(f64::NAN),
        1 => Just(-f64::from_bits(1)),
        1 => Just(f64::MIN_POSITIVE / 4.0),
        // The kinks of the clipped and threshold layers below, and their
        // neighbours.
        1 => prop::sample::select(vec![6.0, 0.5, -1.5, 2.0]),
        // (The floats just above 6, below 0.5 and above -1.5.)
        1 => prop::sample::select(vec![
            f64::from_bits(6.0f64.to_bits() + 1),
            f64::from_bits(0.5f64.to_bits() - 1),
            f64::from_bits((-1.5f64).to_bits() - 1),
        ]),
    ]
}

/// How the test array is laid out in memory.
#[derive(Debug, Clone, Copy)]
enum Layout {
    Standard,
    Transposed,
    Strided,
}

/// A backing array and the layout to view it through, for a random shape of
/// 0 to 11 rows and 0 to 79 columns (so rows cross the 64-bit mask word).
fn case() -> impl Strategy<Value = (Array2<f64>, Layout)> {
    (0..12usize, 0..80usize, 0..3u8).prop_flat_map(|(rows, cols, kind)| {
        let layout = [Layout::Standard, Layout::Transposed, Layout::Strided][kind as usize];
        let (br, bc) = match layout {
            Layout::Standard => (rows, cols),
            Layout::Transposed => (cols, rows),
            Layout::Strided => (2 * rows, 2 * cols),
        };
        proptest::collection::vec(value(), br * bc)
            .prop_map(move |data| (Array2::from_shape_vec((br, bc), data).unwrap(), layout))
    })
}

fn view(backing: &Array2<f64>, layout: Layout) -> ArrayView2<'_, f64> {
    match layout {
        Layout::Standard => backing.view(),
        Layout::Transposed => backing.t(),
        Layout::Strided => backing.slice(s![..;2, ..;2]),
    }
}

/// Bit-for-bit equality, NaN equal to NaN.
fn same(a: &Array2<f64>, b: &Array2<f64>) -> bool {
    a.dim() == b.dim()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
}

/// A non-uniform upstream gradient of the given shape.
fn upstream(shape: (usize, usize)) -> Array2<f64> {
    Array2::from_shape_fn(shape, |(r, c)| 1.0 + r as f64 * 0.5 - c as f64 * 0.25)
}

/// What a member does to one element, from the semantics tables: whether
/// `x` (in column `col`) is on the active side, the output, and the
/// gradient for upstream `g` on the inactive side.
struct Reference {
    active: Box<dyn Fn(f64) -> bool>,
    output: Box<dyn Fn(f64, usize) -> f64>,
    inactive_grad: Box<dyn Fn(f64, usize) -> f64>,
}

/// `x > 0`, or `x >= 0` when `±0.0` is active.
fn positive(zero_active: bool) -> impl Fn(f64) -> bool {
    move |x| if zero_active { x >= 0.0 } else { x > 0.0 }
}

/// The leaky side: `x` where active, `slope·x` elsewhere.
fn leaky(zero_active: bool, slopes: Array1<f64>, nan_active: bool) -> Reference {
    let on = positive(zero_active);
    let output_slopes = slopes.clone();
    Reference {
        active: Box::new(move |x| on(x) || (nan_active && x.is_nan())),
        output: Box::new(move |x, c| {
            let a = output_slopes[c % output_slopes.len()];
            if positive(zero_active)(x) {
                x
            } else {
                a * x
            }
        }),
        inactive_grad: Box::new(move |g, c| slopes[c % slopes.len()] * g),
    }
}

/// Checks every entry point of `layer` on `x` against `reference`, bit for
/// bit: the output, the mask, the input gradient of a non-uniform upstream
/// gradient, `predict`, and the owned pair.
fn check_member<M: Member>(
    layer: &mut Rectifier<M>,
    x: ArrayView2<'_, f64>,
    reference: &Reference,
) -> Result<(), TestCaseError> {
    let want_y = Array2::from_shape_fn(x.dim(), |(r, c)| (reference.output)(x[(r, c)], c));
    let want_mask = x.mapv(|v| (reference.active)(v));
    let g = upstream(x.dim());
    let want_dx = Array2::from_shape_fn(x.dim(), |(r, c)| {
        if want_mask[(r, c)] {
            g[(r, c)]
        } else {
            (reference.inactive_grad)(g[(r, c)], c)
        }
    });

    let y = layer.forward(&x).unwrap();
    prop_assert!(same(&y, &want_y), "forward {:?} != {:?}", y, want_y);
    prop_assert_eq!(layer.mask().unwrap().to_array(), want_mask.clone());
    let dx = layer.backward(&g).unwrap();
    prop_assert!(same(&dx, &want_dx), "backward {:?} != {:?}", dx, want_dx);
    let predicted = layer.predict(&x).unwrap();
    prop_assert!(
        same(&predicted, &want_y),
        "predict {:?} != {:?}",
        predicted,
        want_y
    );

    let owned = layer.forward_owned(x.to_owned()).unwrap();
    prop_assert!(same(&owned, &want_y), "forward_owned differs");
    prop_assert_eq!(layer.mask().unwrap().to_array(), want_mask);
    let dx_owned = layer.backward_owned(g).unwrap();
    prop_assert!(same(&dx_owned, &want_dx), "backward_owned differs");
    Ok(())
}

fn side(zero_active: bool) -> AtZero {
    if zero_active {
        AtZero::Active
    } else {
        AtZero::Inactive
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn relu_properties((backing, layout) in case(), zero_active in any::<bool>()) {
        let x = view(&backing, layout);
        let mut relu = ReluLayer::new().at_zero(side(zero_active));
        let on = positive(zero_active);
        // NaN is active in ReLU: its gradient passes; the output is +0.0 or above.
        let reference = Reference {
            active: Box::new(move |v| v.is_nan() || on(v)),
            output: Box::new(|v, _| if v > 0.0 || v.is_nan() { v } else { 0.0 }),
            inactive_grad: Box::new(|_, _| 0.0),
        };
        check_member(&mut relu, x, &reference)?;
    }

    #[test]
    fn leaky_properties(
        (backing, layout) in case(),
        zero_active in any::<bool>(),
        slope in prop_oneof![Just(0.01), Just(0.0), -2.0..2.0f64],
    ) {
        let x = view(&backing, layout);
        let mut layer = LeakyReluLayer::new(slope).unwrap().at_zero(side(zero_active));
        // NaN is inactive in Leaky ReLU: its gradient is scaled by the slope.
        check_member(&mut layer, x, &leaky(zero_active, Array1::from_elem(1, slope), false))?;
    }

    #[test]
    fn prelu_properties(
        (backing, layout) in case(),
        zero_active in any::<bool>(),
        per_column in any::<bool>(),
        seed in 0..1000u32,
    ) {
        let x = view(&backing, layout);
        let n = if per_column { x.ncols().max(1) } else { 1 };
        let slopes = Array1::from_shape_fn(n, |c| ((seed as usize * 7 + c * 13) % 17) as f64 / 4.0 - 2.0);
        let mut layer = PReluLayer::from_slopes(slopes.clone()).unwrap().at_zero(side(zero_active));
        if per_column && x.ncols() == 0 {
            return Ok(()); // one slope per column of none: no such layer
        }
        check_member(&mut layer, x, &leaky(zero_active, slopes, false))?;
    }

    #[test]
    fn rrelu_with_equal_bounds_is_leaky_with_nan_active(
        (backing, layout) in case(),
        zero_active in any::<bool>(),
        slope in -2.0..2.0f64,
    ) {
        let x = view(&backing, layout);
        let mut layer = RReluLayer::new(slope, slope).unwrap().at_zero(side(zero_active));
        check_member(&mut layer, x, &leaky(zero_active, Array1::from_elem(1, slope), true))?;
    }

    #[test]
    fn rrelu_slopes_stay_in_their_bounds(
        (backing, layout) in case(),
        lower in -1.0..1.0f64,
        width in 0.0..1.0f64,
        seed in any::<u64>(),
    ) {
        let x = view(&backing, layout);
        let upper = lower + width;
        let mut layer = RReluLayer::new(lower, upper).unwrap().with_seed(seed);
        let y = layer.forward(&x).unwrap();
        for (&v, &out) in x.iter().zip(&y) {
            if v.is_finite() && v < 0.0 && v.abs() > 1e-300 {
                let r = out / v;
                prop_assert!(r >= lower - 1e-15 && r <= upper + 1e-15, "{} in [{}, {}]", r, lower, upper);
            } else if v > 0.0 || v.is_nan() {
                prop_assert!(out.to_bits() == v.to_bits() || out.is_nan());
            }
        }
    }

    #[test]
    fn clipped_relu_properties(
        (backing, layout) in case(),
        zero_active in any::<bool>(),
        cap in prop::sample::select(vec![6.0, 0.5, 2.0]),
    ) {
        let x = view(&backing, layout);
        let mut layer = ClippedReluLayer::new(cap).unwrap().at_zero(side(zero_active));
        let on = positive(zero_active);
        let reference = Reference {
            active: Box::new(move |v| v.is_nan() || (on(v) && v < cap)),
            output: Box::new(move |v, _| {
                if v.is_nan() { v } else if v <= 0.0 { 0.0 } else if v >= cap { cap } else { v }
            }),
            inactive_grad: Box::new(|_, _| 0.0),
        };
        check_member(&mut layer, x, &reference)?;
    }

    #[test]
    fn threshold_properties(
        (backing, layout) in case(),
        t in prop::sample::select(vec![0.0, -1.5, 6.0]),
        value in prop_oneof![Just(0.0), Just(-0.0), -10.0..10.0f64],
    ) {
        let x = view(&backing, layout);
        let mut layer = ThresholdLayer::new(t, value).unwrap();
        let reference = Reference {
            active: Box::new(move |v| v.is_nan() || v > t),
            output: Box::new(move |v, _| if v.is_nan() || v > t { v } else { value }),
            inactive_grad: Box::new(|_, _| 0.0),
        };
        check_member(&mut layer, x, &reference)?;
    }

    #[test]
    fn leaky_with_slope_zero_equals_relu_except_at_minus_infinity((backing, layout) in case()) {
        let x = view(&backing, layout);
        let leaky = LeakyReluLayer::new(0.0).unwrap().predict(&x).unwrap();
        let relu = ReluLayer::new().predict(&x).unwrap();
        for ((&l, &r), &v) in leaky.iter().zip(&relu).zip(&x) {
            if v == f64::NEG_INFINITY {
                prop_assert!(l.is_nan() && r.to_bits() == 0);
            } else {
                prop_assert!(l == r || (l.is_nan() && r.is_nan()), "at {}: {} vs {}", v, l, r);
            }
        }
    }

    #[test]
    fn layers_agree_with_the_scalar_functions((backing, layout) in case(), slope in -2.0..2.0f64) {
        let x = view(&backing, layout);
        let relu = ReluLayer::new().predict(&x).unwrap();
        let leaky = LeakyReluLayer::new(slope).unwrap().predict(&x).unwrap();
        let clipped = ClippedReluLayer::new(2.0).unwrap().predict(&x).unwrap();
        let threshold = ThresholdLayer::new(-1.5, 3.0).unwrap().predict(&x).unwrap();
        prop_assert!(same(&relu, &x.mapv(rectify::relu)));
        prop_assert!(same(&leaky, &x.mapv(|v| rectify::leaky_relu(v, slope))));
        prop_assert!(same(&clipped, &x.mapv(|v| rectify::clipped_relu(v, 2.0))));
        prop_assert!(same(&threshold, &x.mapv(|v| rectify::threshold(v, -1.5, 3.0))));
    }
}
