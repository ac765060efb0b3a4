//! End to end: a Dense → ReLU → Dense network learns XOR-like quadrants with
//! SGD, and a fixed seed reproduces the run bit for bit.

use ndarray_rand::RandomExt;
use rectify::loss::softmax_cross_entropy;
use rectify::ndarray::{Array2, Axis};
use rectify::rand::{distr::Uniform, rngs::StdRng, SeedableRng};
use rectify::{DenseLayer, Layer, LayerError, ReluLayer, Sequential, Sgd};

const SAMPLES: usize = 256;
const EPOCHS: usize = 300;

/// A finished training run.
struct Run {
    /// The loss before each step.
    losses: Vec<f64>,
    /// Correctly classified training points after the last step.
    correct: usize,
    net: Sequential,
}

/// Points in [-1, 1]², labelled 1 where both coordinates have the same sign.
fn quadrants(rng: &mut StdRng) -> (Array2<f64>, Vec<usize>) {
    let x = Array2::random_using((SAMPLES, 2), Uniform::new(-1.0, 1.0).unwrap(), rng);
    let labels = x
        .rows()
        .into_iter()
        .map(|p| usize::from(p[0] * p[1] > 0.0))
        .collect();
    (x, labels)
}

/// Full-batch training of a 2 → 16 → 2 network, everything drawn from `seed`.
fn train(seed: u64) -> Result<Run, LayerError> {
    let mut rng = StdRng::seed_from_u64(seed);
    let (x, labels) = quadrants(&mut rng);
    let mut net = Sequential::new();
    net.push(DenseLayer::new(2, 16, &mut rng))
        .push(ReluLayer::new())
        .push(DenseLayer::new(16, 2, &mut rng));
    let mut sgd = Sgd::new(0.2)?.with_momentum(0.9)?;
    let mut losses = Vec::with_capacity(EPOCHS);
    for _ in 0..EPOCHS {
        let logits = net.forward(&x)?;
        let (loss, grad) = softmax_cross_entropy(&logits, &labels)?;
        net.backward_owned(grad)?;
        sgd.step(&mut net)?;
        losses.push(loss);
    }
    let predicted = net.predict(&x)?;
    let correct = (predicted.axis_iter(Axis(0)).zip(&labels))
        .filter(|(logits, &label)| usize::from(logits[1] > logits[0]) == label)
        .count();
    Ok(Run {
        losses,
        correct,
        net,
    })
}

#[test]
fn a_two_layer_mlp_learns_the_quadrants() -> Result<(), LayerError> {
    // Seed 42 goes from 0.786 to 0.037, with 256/256 points right.
    let run = train(42)?;
    let (first, last) = (run.losses[0], run.losses[EPOCHS - 1]);
    assert!(
        first > 0.5,
        "an untrained net is near ln 2 = 0.69, got {first}"
    );
    assert!(last < 0.1, "final loss {last}");
    assert!(last < first / 5.0, "loss fell only from {first} to {last}");
    assert!(
        run.correct >= SAMPLES * 95 / 100,
        "{} of {SAMPLES} right",
        run.correct
    );
    Ok(())
}

#[test]
fn the_same_seed_gives_bit_identical_runs() -> Result<(), LayerError> {
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let (a, b) = (train(7)?, train(7)?);
    assert_eq!(bits(&a.losses), bits(&b.losses));
    for index in [0, 2] {
        let dense_a: &DenseLayer = a.net.layer(index).unwrap();
        let dense_b: &DenseLayer = b.net.layer(index).unwrap();
        let weights = |d: &DenseLayer| bits(d.weights().as_slice().unwrap());
        assert_eq!(weights(dense_a), weights(dense_b));
        assert_eq!(
            bits(&dense_a.bias().to_vec()),
            bits(&dense_b.bias().to_vec())
        );
    }
    assert_ne!(bits(&a.losses), bits(&train(8)?.losses));
    Ok(())
}

/// Three steps of a 16 → 1024 → 10 network at batch 512, large enough that
/// the ReLU passes (2^19 elements) reach the `rayon` feature's threads;
/// returns the bits of every parameter afterwards.
fn wide_steps(seed: u64) -> Result<Vec<u64>, LayerError> {
    let mut rng = StdRng::seed_from_u64(seed);
    let x = Array2::random_using((512, 16), Uniform::new(-1.0, 1.0).unwrap(), &mut rng);
    let labels: Vec<usize> = (0..512).map(|i| i % 10).collect();
    let mut net = Sequential::<f64>::new();
    net.push(DenseLayer::new(16, 1024, &mut rng))
        .push(ReluLayer::new())
        .push(DenseLayer::new(1024, 10, &mut rng));
    let mut sgd = Sgd::new(0.1)?.with_momentum(0.9)?;
    for _ in 0..3 {
        let logits = net.forward_owned(x.clone())?;
        let (_, grad) = softmax_cross_entropy(&logits, &labels)?;
        net.backward_owned(grad)?;
        sgd.step(&mut net)?;
    }
    let params = net.params();
    Ok(params
        .iter()
        .flat_map(|p| p.value.iter().map(|v| v.to_bits()))
        .collect())
}

/// The same seed gives the same bits on one thread and on several (with
/// the `rayon` feature; without it everything runs on one thread anyway).
#[test]
fn the_thread_count_does_not_change_the_bits_of_training() -> Result<(), LayerError> {
    let on = |threads: usize| {
        #[cfg(feature = "rayon")]
        {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| wide_steps(5))
        }
        #[cfg(not(feature = "rayon"))]
        {
            let _ = threads;
            wide_steps(5)
        }
    };
    let one = on(1)?;
    assert_eq!(one, on(2)?);
    assert_eq!(one, on(3)?);
    assert_ne!(one, wide_steps(6)?);
    Ok(())
}
