//! Hyperparameter validation: one vocabulary for every layer, optimizer and
//! checker, so that each rejects a bad value the same way, naming it.

use crate::{LayerError, Result};

/// A named value of a layer's (or optimizer's, or checker's), to be
/// validated before use.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hyper {
    layer: &'static str,
    name: &'static str,
    value: f64,
}

/// `layer`'s hyperparameter `name`, equal to `value`.
pub(crate) fn hyper(layer: &'static str, name: &'static str, value: f64) -> Hyper {
    Hyper { layer, name, value }
}

impl Hyper {
    /// The value if `ok`, else [`LayerError::InvalidParameter`] naming the
    /// layer, the parameter, its value and `reason`.
    pub(crate) fn require(self, ok: bool, reason: &'static str) -> Result<f64> {
        self.require_with(ok, reason, None)
    }

    /// The value if `ok`, else [`LayerError::InvalidParameter`] naming the
    /// layer, the parameter, its value, `reason` and the other value the
    /// rule compares it with: `require_against(upper >= lower, "must be at
    /// least", ("lower", lower))` prints `must be at least lower = 0.3`.
    pub(crate) fn require_against(
        self,
        ok: bool,
        reason: &'static str,
        bound: (&'static str, f64),
    ) -> Result<f64> {
        self.require_with(ok, reason, Some(bound))
    }

    fn require_with(
        self,
        ok: bool,
        reason: &'static str,
        bound: Option<(&'static str, f64)>,
    ) -> Result<f64> {
        if ok {
            Ok(self.value)
        } else {
            Err(LayerError::InvalidParameter {
                layer: self.layer,
                name: self.name,
                value: self.value,
                reason,
                bound,
            })
        }
    }

    /// The value unless it is NaN or infinite.
    pub(crate) fn finite(self) -> Result<f64> {
        self.require(self.value.is_finite(), "must be finite")
    }

    /// The value if it is finite and `> 0`.
    pub(crate) fn positive(self) -> Result<f64> {
        let v = self.value;
        self.require(v.is_finite() && v > 0.0, "must be finite and positive")
    }

    /// The value if it is finite and `>= 0`.
    pub(crate) fn non_negative(self) -> Result<f64> {
        let v = self.value;
        self.require(v.is_finite() && v >= 0.0, "must be finite and non-negative")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rule_names_the_layer_the_parameter_and_the_value() {
        let err = hyper("L", "cap", -1.5).positive().unwrap_err();
        assert_eq!(
            err.to_string(),
            "L: invalid cap = -1.5: must be finite and positive"
        );
        assert_eq!(hyper("L", "a", 0.0).positive().ok(), None);
        assert_eq!(hyper("L", "a", 0.0).non_negative(), Ok(0.0));
        assert!(hyper("L", "a", -0.0).non_negative().is_ok());
        assert!(hyper("L", "a", f64::INFINITY).non_negative().is_err());
        assert!(hyper("L", "a", f64::NAN).finite().is_err());
        assert_eq!(hyper("L", "a", -3.0).finite(), Ok(-3.0));
        assert!(hyper("L", "a", 2.0).require(false, "why").is_err());
    }

    #[test]
    fn a_rule_between_two_values_prints_both() {
        let err = hyper("L", "upper", 0.1)
            .require_against(false, "must be at least", ("lower", 0.3))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "L: invalid upper = 0.1: must be at least lower = 0.3"
        );
        let bound = ("samples", 1e300);
        let err = hyper("L", "active", f64::INFINITY)
            .require_against(false, "must not exceed", bound)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "L: invalid active = inf: must not exceed samples = 1e300"
        );
        let ok = hyper("L", "upper", 0.5).require_against(true, "must be at least", ("lower", 0.3));
        assert_eq!(ok, Ok(0.5));
    }

    #[test]
    fn values_are_printed_short_in_exponent_form_when_very_large_or_small() {
        let cases = [
            (f64::MIN, "-1.7976931348623157e308"),
            (f64::MAX, "1.7976931348623157e308"),
            (-5e-324, "-5e-324"),
            (1e300, "1e300"),
            (1e16, "1e16"),
            (9_999_999_999_999_998.0, "9999999999999998"),
            (123456.0, "123456"),
            (0.1, "0.1"),
            (1e-5, "0.00001"),
            (9.9e-6, "9.9e-6"),
            (-0.0, "-0"),
            (0.0, "0"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ];
        for (value, printed) in cases {
            let message = hyper("Sgd", "learning_rate", value)
                .require(false, "must be finite and positive")
                .unwrap_err()
                .to_string();
            let expected =
                format!("Sgd: invalid learning_rate = {printed}: must be finite and positive");
            assert_eq!(message, expected);
            assert!(
                message.len() < 100,
                "{} characters: {message}",
                message.len()
            );
            // Shortest round trip: the printed value parses back to its bits.
            assert!(printed.parse::<f64>().unwrap().to_bits() == value.to_bits() || value.is_nan());
        }
    }
}
