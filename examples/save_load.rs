//! Trains a small ReLU network on noisy XOR, saves it as safetensors, loads
//! the file into a fresh network and checks that it predicts the same, bit
//! for bit.
//!
//! The file has PyTorch's names (`0.weight`, `0.bias`, `2.weight`, ...), so
//! the five lines of Python it prints load it into `torch.nn.Sequential`
//! with `strict=True`.
//!
//! ```text
//! cargo run --release --example save_load                      # saves to the temporary directory
//! cargo run --release --example save_load -- xor.safetensors   # saves to xor.safetensors
//! ```

use std::error::Error;
use std::path::PathBuf;

use rectify::loss::softmax_cross_entropy;
use rectify::ndarray::{array, Array2, Axis};
use rectify::ndarray_rand::rand_distr::Uniform;
use rectify::ndarray_rand::RandomExt;
use rectify::rand::{rngs::StdRng, SeedableRng};
use rectify::{Adam, DenseLayer, Layer, ReluLayer, Sequential};

const HIDDEN: usize = 16;
const POINTS: usize = 200;
const STEPS: usize = 300;

/// Dense(2 → HIDDEN) → ReLU → Dense(HIDDEN → 2), its weights drawn from `seed`.
fn mlp(seed: u64) -> Sequential {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut net = Sequential::new();
    net.push(DenseLayer::new(2, HIDDEN, &mut rng))
        .push(ReluLayer::new())
        .push(DenseLayer::new(HIDDEN, 2, &mut rng));
    net
}

/// The index of each row's largest logit.
fn classes(logits: &Array2<f64>) -> Vec<usize> {
    let argmax = |row: rectify::ndarray::ArrayView1<f64>| {
        (0..row.len()).fold(0, |best, j| if row[j] > row[best] { j } else { best })
    };
    logits.axis_iter(Axis(0)).map(argmax).collect()
}

fn main() -> Result<(), Box<dyn Error>> {
    let path = std::env::args_os().nth(1).map_or_else(
        || std::env::temp_dir().join("rectify_save_load.safetensors"),
        PathBuf::from,
    );

    // Noisy XOR: the class is whether x and y have the same sign.
    let mut rng = StdRng::seed_from_u64(0);
    let x = Array2::random_using((POINTS, 2), Uniform::new(-1.0, 1.0)?, &mut rng);
    let labels: Vec<usize> = (x.rows().into_iter())
        .map(|p| usize::from(p[0] * p[1] > 0.0))
        .collect();

    let mut net = mlp(1);
    let mut adam = Adam::new(0.02)?;
    for _ in 0..STEPS {
        let (_, grad) = softmax_cross_entropy(&net.forward(&x)?, &labels)?;
        net.backward_owned(grad)?;
        adam.step(&mut net)?;
    }
    let predicted = net.predict(&x)?;
    let (loss, _) = softmax_cross_entropy(&predicted, &labels)?;
    let correct = (classes(&predicted).iter().zip(&labels))
        .filter(|(p, l)| p == l)
        .count();
    println!(
        "trained 2-{HIDDEN}-2 on {POINTS} XOR points: loss {loss:.4}, accuracy {correct}/{POINTS}"
    );

    net.save_safetensors(&path)?;
    let size = std::fs::metadata(&path)?.len();
    println!("saved {} ({size} bytes)", path.display());

    let mut fresh = mlp(2);
    assert_ne!(
        fresh.predict(&x)?,
        predicted,
        "a fresh network predicts otherwise"
    );
    fresh.load_safetensors(&path)?;
    let reloaded = fresh.predict(&x)?;
    let same_bits = (reloaded.iter().zip(&predicted)).all(|(a, b)| a.to_bits() == b.to_bits());
    assert!(same_bits, "the loaded network predicts otherwise");
    println!(
        "loaded into a fresh network: the same {} logits, bit for bit",
        reloaded.len()
    );

    let mut from_bytes = mlp(3);
    from_bytes.load_safetensors_bytes(&net.to_safetensors_bytes()?)?;
    assert_eq!(from_bytes.predict(&x)?, predicted);

    let corners = array![[0.5, 0.5], [-0.5, 0.5]];
    let logits = fresh.predict(&corners)?;
    println!(
        "logits at (0.5, 0.5) and (-0.5, 0.5): {:.6?}",
        logits
            .rows()
            .into_iter()
            .map(|r| r.to_vec())
            .collect::<Vec<_>>()
    );
    println!("in PyTorch:");
    println!("    import torch; from torch import nn; from safetensors.torch import load_file");
    println!("    net = nn.Sequential(nn.Linear(2, {HIDDEN}), nn.ReLU(), nn.Linear({HIDDEN}, 2)).double()");
    println!(
        "    net.load_state_dict(load_file({:?}), strict=True)",
        path.display().to_string()
    );
    println!("    print(net(torch.tensor([[0.5, 0.5], [-0.5, 0.5]], dtype=torch.float64)))");
    Ok(())
}
