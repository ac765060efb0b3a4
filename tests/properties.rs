//! Property tests over random shapes (including empty ones), layouts and
//! values that include ±0.0, ±inf, NaN and subnormals.

use proptest::prelude::*;
use rectify::ndarray::{s, Array2, ArrayView2};
use rectify::{AtZero, Layer, LeakyReluLayer, ReluLayer};

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

/// Checks the properties every rectifier has, given the comparison its mask
/// claims, the gradient it passes on the inactive side and how to read its mask.
fn check_layer<L: Layer>(
    layer: &mut L,
    x: ArrayView2<'_, f64>,
    active: impl Fn(f64) -> bool,
    inactive_grad: impl Fn(f64) -> f64,
    mask: impl Fn(&L) -> Array2<bool>,
) -> Result<(), TestCaseError> {
    let y = layer.forward(&x).unwrap();
    prop_assert_eq!(y.dim(), x.dim());
    prop_assert_eq!(mask(layer), x.mapv(&active));

    let g = upstream(x.dim());
    let dx = layer.backward(&g).unwrap();
    let want = Array2::from_shape_fn(x.dim(), |i| {
        if active(x[i]) {
            g[i]
        } else {
            inactive_grad(g[i])
        }
    });
    prop_assert!(same(&dx, &want), "backward {:?} != {:?}", dx, want);

    let predicted = layer.predict(&x).unwrap();
    prop_assert!(same(&predicted, &y), "predict differs from forward");
    let owned = layer.forward_owned(x.to_owned()).unwrap();
    prop_assert!(same(&owned, &y), "forward_owned differs from forward");
    prop_assert_eq!(mask(layer), x.mapv(&active));
    let dx_owned = layer.backward_owned(g).unwrap();
    prop_assert!(same(&dx_owned, &dx), "backward_owned differs from backward");
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
        let y = relu.predict(&x).unwrap();
        prop_assert!(y.iter().all(|v| v.is_nan() || v.to_bits() == 0 || *v > 0.0), "{:?}", y);
        // NaN is active in ReLU: its gradient passes.
        let active = |v: f64| v.is_nan() || if zero_active { v >= 0.0 } else { v > 0.0 };
        check_layer(&mut relu, x, active, |_| 0.0, |l| l.mask().unwrap().to_array())?;
    }

    #[test]
    fn leaky_properties(
        (backing, layout) in case(),
        zero_active in any::<bool>(),
        slope in prop_oneof![Just(0.01), Just(0.0), -2.0..2.0f64],
    ) {
        let x = view(&backing, layout);
        let mut leaky = LeakyReluLayer::new(slope).unwrap().at_zero(side(zero_active));
        // NaN is inactive in Leaky ReLU: its gradient is scaled by the slope.
        let active = |v: f64| if zero_active { v >= 0.0 } else { v > 0.0 };
        check_layer(&mut leaky, x, active, |g| slope * g, |l| l.mask().unwrap().to_array())?;
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
        prop_assert!(same(&relu, &x.mapv(rectify::relu)));
        prop_assert!(same(&leaky, &x.mapv(|v| rectify::leaky_relu(v, slope))));
    }
}
