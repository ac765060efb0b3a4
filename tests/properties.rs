//! Property tests of every member of the family over random shapes
//! (including empty ones), layouts and values that include ±0.0, ±inf, NaN,
//! subnormals and the members' kinks, against a reference written from the
//! semantics tables of docs/semantics.md. The properties are in
//! `tests/common/props.rs`, which `properties_f32.rs` checks in f32.

mod common {
    pub mod bits;
    pub mod props;
}

use proptest::prelude::*;
use rectify::{LeakyReluLayer, RReluLayer, ReluLayer};

use common::props::{
    agree_with_the_scalar_functions, case, clipped_relu_property, leaky_property, prelu_property,
    relu_property, rrelu_with_equal_bounds_property, threshold_property, view,
};

/// A value from the table's interesting classes, or an ordinary number;
/// the kinks of the clipped and threshold layers below, and the floats just
/// above 6, below 0.5 and above -1.5.
fn value() -> impl Strategy<Value = f64> + Clone {
    let neighbours = vec![
        f64::from_bits(6.0f64.to_bits() + 1),
        f64::from_bits(0.5f64.to_bits() - 1),
        f64::from_bits((-1.5f64).to_bits() - 1),
    ];
    common::props::value(-100.0..100.0f64, &[], vec![6.0, 0.5, -1.5, 2.0], neighbours)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn relu_properties(x in case(value()), zero_active in any::<bool>()) {
        relu_property(&x, zero_active)?;
    }

    #[test]
    fn leaky_properties(
        x in case(value()),
        zero_active in any::<bool>(),
        slope in prop_oneof![Just(0.01), Just(0.0), -2.0..2.0f64],
    ) {
        leaky_property(&x, zero_active, slope)?;
    }

    #[test]
    fn prelu_properties(
        x in case(value()),
        zero_active in any::<bool>(),
        per_column in any::<bool>(),
        seed in 0..1000u32,
    ) {
        prelu_property(&x, zero_active, per_column, (seed, 2.0))?;
    }

    #[test]
    fn rrelu_with_equal_bounds_is_leaky_with_nan_active(
        x in case(value()),
        zero_active in any::<bool>(),
        slope in -2.0..2.0f64,
    ) {
        rrelu_with_equal_bounds_property(&x, zero_active, slope)?;
    }

    #[test]
    fn rrelu_slopes_stay_in_their_bounds(
        (backing, layout) in case(value()),
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
        x in case(value()),
        zero_active in any::<bool>(),
        cap in prop::sample::select(vec![6.0, 0.5, 2.0]),
    ) {
        clipped_relu_property(&x, zero_active, cap)?;
    }

    #[test]
    fn threshold_properties(
        x in case(value()),
        t in prop::sample::select(vec![0.0, -1.5, 6.0]),
        value in prop_oneof![Just(0.0), Just(-0.0), -10.0..10.0f64],
    ) {
        threshold_property(&x, t, value)?;
    }

    #[test]
    fn leaky_with_slope_zero_equals_relu_except_at_minus_infinity((backing, layout) in case(value())) {
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
    fn layers_agree_with_the_scalar_functions(x in case(value()), slope in -2.0..2.0f64) {
        agree_with_the_scalar_functions(&x, slope, 2.0, (-1.5, 3.0))?;
    }
}
