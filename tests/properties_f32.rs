//! Property tests of every member of the family in `f32`, over random
//! shapes (empty ones included), layouts and values that include ±0.0,
//! ±inf, NaN, `f32` subnormals, `f32::MAX` and the members' kinks, against a
//! reference computed element by element in `f32`, as PyTorch computes a
//! float32 tensor: hyperparameters rounded to `f32`, products in `f32`. The
//! properties are in `tests/common/props.rs`, which `properties.rs` checks
//! in f64.

mod common {
    pub mod bits;
    pub mod props;
}

use proptest::prelude::*;

use common::props::{
    agree_with_the_scalar_functions, case, clipped_relu_property, leaky_property, prelu_property,
    relu_property, rrelu_with_equal_bounds_property, threshold_property,
};

/// A value from the table's interesting classes (±f32::MAX too), or an
/// ordinary number; the kinks of the clipped and threshold layers below
/// (6.1 and 0.3 rounded to f32), and both f32 neighbours of 6.1 and 0.3.
fn value() -> impl Strategy<Value = f32> + Clone {
    let neighbours = vec![
        f32::from_bits(6.1f32.to_bits() + 1),
        f32::from_bits(6.1f32.to_bits() - 1),
        f32::from_bits(0.3f32.to_bits() - 1),
        f32::from_bits(0.3f32.to_bits() + 1),
    ];
    let kinks = vec![6.0, 6.1f32, 0.5, 0.3f32, -1.5];
    common::props::value(-100.0..100.0f32, &[f32::MAX, f32::MIN], kinks, neighbours)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn relu_f32(x in case(value()), zero_active in any::<bool>()) {
        relu_property(&x, zero_active)?;
    }

    #[test]
    fn leaky_f32(
        x in case(value()),
        zero_active in any::<bool>(),
        slope in prop_oneof![Just(0.01), Just(0.1), Just(0.0), -2.0..2.0f64],
    ) {
        leaky_property(&x, zero_active, slope)?;
    }

    #[test]
    fn prelu_f32(
        x in case(value()),
        zero_active in any::<bool>(),
        per_column in any::<bool>(),
        seed in 0..1000u32,
    ) {
        prelu_property(&x, zero_active, per_column, (seed, 2.1))?;
    }

    #[test]
    fn rrelu_f32_with_equal_bounds_is_leaky_with_nan_active(
        x in case(value()),
        zero_active in any::<bool>(),
        slope in prop_oneof![Just(0.1), -2.0..2.0f64],
    ) {
        rrelu_with_equal_bounds_property(&x, zero_active, slope)?;
    }

    #[test]
    fn clipped_relu_f32(
        x in case(value()),
        zero_active in any::<bool>(),
        cap in prop::sample::select(vec![6.0, 6.1, 0.5, 0.3]),
    ) {
        clipped_relu_property(&x, zero_active, cap)?;
    }

    #[test]
    fn threshold_f32(
        x in case(value()),
        t in prop::sample::select(vec![0.0, 0.3, -1.5, 6.1]),
        value in prop_oneof![Just(0.0), Just(-0.0), Just(0.7), -10.0..10.0f64],
    ) {
        threshold_property(&x, t, value)?;
    }

    #[test]
    fn f32_layers_agree_with_the_scalar_functions(x in case(value()), slope in -2.0..2.0f32) {
        agree_with_the_scalar_functions(&x, f64::from(slope), 6.1, (0.3, 0.7))?;
    }
}
