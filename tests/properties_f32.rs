//! Property tests of every member of the family in `f32`, over random
//! shapes (empty ones included), layouts and values that include ±0.0,
//! ±inf, NaN, `f32` subnormals, `f32::MAX` and the members' kinks, against a
//! reference computed element by element in `f32`, as PyTorch computes a
//! float32 tensor: hyperparameters rounded to `f32`, products in `f32`.

use proptest::prelude::*;
use rectify::ndarray::{s, Array1, Array2, Array3, ArrayView2};
use rectify::{
    AtZero, ClippedReluLayer, LeakyReluLayer, Member, PReluLayer, RReluLayer, Rectifier, ReluLayer,
    ThresholdLayer,
};

/// A value from the table's interesting classes, or an ordinary number.
fn value() -> impl Strategy<Value = f32> {
    prop_oneof![
        4 => -100.0..100.0f32,
        1 => Just(0.0),
        1 => Just(-0.0),
        1 => Just(f32::INFINITY),
        1 => Just(f32::NEG_INFINITY),
        1 => Just(f32::NAN),
        1 => Just(-f32::from_bits(1)),
        1 => Just(f32::MIN_POSITIVE / 4.0),
        1 => Just(f32::MAX),
        1 => Just(f32::MIN),
        // The kinks of the clipped and threshold layers below (6.1 and 0.3
        // rounded to f32), and their neighbours.
        1 => prop::sample::select(vec![6.0, 6.1f32, 0.5, 0.3f32, -1.5]),
        1 => prop::sample::select(vec![
            f32::from_bits(6.1f32.to_bits() + 1),
            f32::from_bits(6.1f32.to_bits() - 1),
            f32::from_bits(0.3f32.to_bits() - 1),
            f32::from_bits(0.3f32.to_bits() + 1),
        ]),
    ]
}

#[derive(Debug, Clone, Copy)]
enum Layout {
    Standard,
    Transposed,
    Strided,
}

/// A backing array and the layout to view it through, for a random shape of
/// 0 to 11 rows and 0 to 79 columns (so rows cross the 64-bit mask word and
/// every SIMD width's tail).
fn case() -> impl Strategy<Value = (Array2<f32>, Layout)> {
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

fn view(backing: &Array2<f32>, layout: Layout) -> ArrayView2<'_, f32> {
    match layout {
        Layout::Standard => backing.view(),
        Layout::Transposed => backing.t(),
        Layout::Strided => backing.slice(s![..;2, ..;2]),
    }
}

/// Bit-for-bit equality, NaN equal to NaN.
fn same<D: rectify::ndarray::Dimension>(
    a: &rectify::ndarray::Array<f32, D>,
    b: &rectify::ndarray::Array<f32, D>,
) -> bool {
    a.shape() == b.shape()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
}

/// A non-uniform upstream gradient of the given shape.
fn upstream(shape: (usize, usize)) -> Array2<f32> {
    Array2::from_shape_fn(shape, |(r, c)| 1.0 + r as f32 * 0.5 - c as f32 * 0.25)
}

/// One element in `f32`: (active, output, gradient for upstream `g`) of `x`
/// in column `col`.
type Reference = Box<dyn Fn(f32, usize, f32) -> (bool, f32, f32)>;

/// `x` where active (`x > 0`, `±0.0` too if `zero_active`, NaN too if
/// `nan_active`), `slope·x` elsewhere, in `f32`.
fn leaky(zero_active: bool, slopes: Vec<f32>, nan_active: bool) -> Reference {
    Box::new(move |x, c, g| {
        let a = slopes[c % slopes.len()];
        let active = x > 0.0 || (zero_active && x == 0.0) || (nan_active && x.is_nan());
        if active {
            (true, x, g)
        } else {
            (false, x * a, g * a)
        }
    })
}

/// Checks every entry point of `layer` on `x` against `reference`, bit for
/// bit, in 2-D and as the 3-D array `(rows, cols, 1)`.
fn check<M: Member<f32>>(
    layer: &mut Rectifier<M>,
    x: ArrayView2<'_, f32>,
    reference: &Reference,
) -> Result<(), TestCaseError> {
    let g = upstream(x.dim());
    let at = |(r, c): (usize, usize)| reference(x[(r, c)], c, g[(r, c)]);
    let want_mask = Array2::from_shape_fn(x.dim(), |i| at(i).0);
    let want_y = Array2::from_shape_fn(x.dim(), |i| at(i).1);
    let want_dx = Array2::from_shape_fn(x.dim(), |i| at(i).2);

    let y = layer.forward(&x).unwrap();
    prop_assert!(same(&y, &want_y), "forward {:?} != {:?}", y, want_y);
    prop_assert_eq!(layer.mask().unwrap().to_array(), want_mask.clone());
    let dx = layer.backward(&g).unwrap();
    prop_assert!(same(&dx, &want_dx), "backward {:?} != {:?}", dx, want_dx);
    prop_assert!(same(&layer.predict(&x).unwrap(), &want_y), "predict");
    prop_assert!(
        same(&layer.forward_owned(x.to_owned()).unwrap(), &want_y),
        "forward_owned"
    );
    prop_assert!(
        same(&layer.backward_owned(g.clone()).unwrap(), &want_dx),
        "backward_owned"
    );

    let three =
        |a: &Array2<f32>| -> Array3<f32> { a.clone().insert_axis(rectify::ndarray::Axis(2)) };
    let y3 = layer
        .forward(&x.to_owned().insert_axis(rectify::ndarray::Axis(2)))
        .unwrap();
    prop_assert!(same(&y3, &three(&want_y)), "3-D forward");
    prop_assert_eq!(
        layer.mask().unwrap().to_array_nd(),
        want_mask.insert_axis(rectify::ndarray::Axis(2)).into_dyn()
    );
    prop_assert!(
        same(&layer.backward_owned(three(&g)).unwrap(), &three(&want_dx)),
        "3-D backward"
    );
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
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn relu_f32((backing, layout) in case(), zero_active in any::<bool>()) {
        let mut relu = ReluLayer::new().at_zero(side(zero_active));
        let reference: Reference = Box::new(move |x, _, g| {
            let above = x > 0.0 || x.is_nan();
            let active = above || (zero_active && x == 0.0);
            (active, if above { x } else { 0.0 }, if active { g } else { 0.0 })
        });
        check(&mut relu, view(&backing, layout), &reference)?;
    }

    #[test]
    fn leaky_f32(
        (backing, layout) in case(),
        zero_active in any::<bool>(),
        slope in prop_oneof![Just(0.01), Just(0.1), Just(0.0), -2.0..2.0f64],
    ) {
        let mut layer = LeakyReluLayer::new(slope).unwrap().at_zero(side(zero_active));
        let reference = leaky(zero_active, vec![slope as f32], false);
        check(&mut layer, view(&backing, layout), &reference)?;
    }

    #[test]
    fn prelu_f32(
        (backing, layout) in case(),
        zero_active in any::<bool>(),
        per_column in any::<bool>(),
        seed in 0..1000u32,
    ) {
        let x = view(&backing, layout);
        let n = if per_column { x.ncols().max(1) } else { 1 };
        let slopes = Array1::from_shape_fn(n, |c| ((seed as usize * 7 + c * 13) % 17) as f32 / 4.0 - 2.1);
        if per_column && x.ncols() == 0 {
            return Ok(()); // one slope per column of none: no such layer
        }
        let mut layer = PReluLayer::from_slopes(slopes.clone()).unwrap().at_zero(side(zero_active));
        check(&mut layer, x, &leaky(zero_active, slopes.to_vec(), false))?;
    }

    #[test]
    fn rrelu_f32_with_equal_bounds_is_leaky_with_nan_active(
        (backing, layout) in case(),
        zero_active in any::<bool>(),
        slope in prop_oneof![Just(0.1), -2.0..2.0f64],
    ) {
        let mut layer = RReluLayer::new(slope, slope).unwrap().at_zero(side(zero_active));
        let reference = leaky(zero_active, vec![slope as f32], true);
        check(&mut layer, view(&backing, layout), &reference)?;
    }

    #[test]
    fn clipped_relu_f32(
        (backing, layout) in case(),
        zero_active in any::<bool>(),
        cap in prop::sample::select(vec![6.0, 6.1, 0.5, 0.3]),
    ) {
        let mut layer = ClippedReluLayer::new(cap).unwrap().at_zero(side(zero_active));
        let cap = cap as f32;
        let reference: Reference = Box::new(move |x, _, g| {
            let y = if x.is_nan() { x } else if x <= 0.0 { 0.0 } else if x >= cap { cap } else { x };
            let active = x.is_nan() || ((x > 0.0 || (zero_active && x == 0.0)) && x < cap);
            (active, y, if active { g } else { 0.0 })
        });
        check(&mut layer, view(&backing, layout), &reference)?;
    }

    #[test]
    fn threshold_f32(
        (backing, layout) in case(),
        t in prop::sample::select(vec![0.0, 0.3, -1.5, 6.1]),
        value in prop_oneof![Just(0.0), Just(-0.0), Just(0.7), -10.0..10.0f64],
    ) {
        let mut layer = ThresholdLayer::new(t, value).unwrap();
        let (t, value) = (t as f32, value as f32);
        let reference: Reference = Box::new(move |x, _, g| {
            let active = x.is_nan() || x > t;
            (active, if active { x } else { value }, if active { g } else { 0.0 })
        });
        check(&mut layer, view(&backing, layout), &reference)?;
    }

    #[test]
    fn f32_layers_agree_with_the_scalar_functions((backing, layout) in case(), slope in -2.0..2.0f32) {
        let x = view(&backing, layout);
        let leaky = LeakyReluLayer::new(f64::from(slope)).unwrap().predict(&x).unwrap();
        let clipped = ClippedReluLayer::new(6.1).unwrap().predict(&x).unwrap();
        let threshold = ThresholdLayer::new(0.3, 0.7).unwrap().predict(&x).unwrap();
        prop_assert!(same(&ReluLayer::new().predict(&x).unwrap(), &x.mapv(rectify::relu)));
        prop_assert!(same(&leaky, &x.mapv(|v| rectify::leaky_relu(v, slope))));
        prop_assert!(same(&clipped, &x.mapv(|v| rectify::clipped_relu(v, 6.1f32))));
        prop_assert!(same(&threshold, &x.mapv(|v| rectify::threshold(v, 0.3f32, 0.7f32))));
    }
}
