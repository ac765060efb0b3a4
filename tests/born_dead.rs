//! Born-dead ReLU networks, as in `examples/born_dead.rs`: the Monte Carlo
//! estimate through the crate's layers agrees with the closed form for He's
//! initialization, and RAI lowers it.

#[path = "../examples/common/born_dead.rs"]
mod born_dead;

use born_dead::{estimate, formula};
use rectify::ndarray::Array1;
use rectify::{Init, LayerError};

const TRIALS: u64 = 3000;

#[test]
fn he_networks_are_born_dead_as_often_as_the_formula_says() -> Result<(), LayerError> {
    for (width, depths, seed) in [
        (2, &[1, 3, 6][..], 1),
        (3, &[2, 10][..], 2),
        (5, &[10][..], 3),
    ] {
        let he = estimate(
            width,
            10,
            Init::HeNormal,
            Array1::ones(width).view(),
            TRIALS,
            seed,
        )?;
        for &depth in depths {
            let (p, se, exact) = (
                he.probability(depth),
                he.standard_error(depth),
                formula(width, depth),
            );
            assert!(
                (p - exact).abs() <= 4.0 * se,
                "n = {width}, k = {depth}: {p} ± {se}, formula {exact}"
            );
        }
    }
    // The formula itself, by hand: n = 3, k = 10 gives 1 − (7/8)¹⁰.
    assert!((formula(3, 10) - 0.736_924_423_836).abs() < 1e-12);
    Ok(())
}

#[test]
fn rai_networks_are_born_dead_less_often_than_he_networks() -> Result<(), LayerError> {
    for (width, depth) in [(3, 10), (5, 10)] {
        let x = Array1::ones(width);
        let he = estimate(width, depth, Init::HeNormal, x.view(), TRIALS, 4)?;
        let rai = estimate(width, depth, Init::Rai, x.view(), TRIALS, 5)?;
        let gap = he.probability(depth) - rai.probability(depth);
        let se = he.standard_error(depth).hypot(rai.standard_error(depth));
        assert!(
            gap > 4.0 * se,
            "n = {width}, k = {depth}: He {} against RAI {} (± {se})",
            he.probability(depth),
            rai.probability(depth)
        );
    }
    Ok(())
}
