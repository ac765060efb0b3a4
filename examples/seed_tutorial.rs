//! The tutorial `rectify` grew from ("ReLU function in Python", DigitalOcean,
//! in Russian translation), replayed with the crate: the same points, the
//! same printed lines, then what the tutorial left out: the gradients at
//! those points, the convention at zero, and NaN.
//!
//! Run with `cargo run --example seed_tutorial`.

use std::error::Error;

use rectify::ndarray::{Array1, Array2};
use rectify::{leaky_relu, relu, AtZero, Layer, LeakyReluLayer, ReluLayer};

/// The tutorial's inputs, in its order.
const POINTS: [f64; 5] = [1.0, -10.0, 0.0, 15.0, -20.0];

fn main() -> Result<(), Box<dyn Error>> {
    // The tutorial's two programs, line for line (Python's '%.1f' is {:.1}).
    for x in POINTS {
        println!("Applying Relu on ({x:.1}) gives {:.1}", relu(x));
    }
    for x in POINTS {
        println!(
            "Applying Leaky Relu on ({x:.1}) gives {:.1}",
            leaky_relu(x, 0.01)
        );
    }

    // The same points through the layers: one batch of five samples.
    let batch = Array2::from_shape_vec((5, 1), POINTS.to_vec())?;
    let mut layers = [
        ("ReLU", Box::new(ReluLayer::new()) as Box<dyn Layer>),
        (
            "ReLU, AtZero::Active",
            Box::new(ReluLayer::new().at_zero(AtZero::Active)),
        ),
        ("Leaky ReLU", Box::new(LeakyReluLayer::default())),
        (
            "Leaky ReLU, AtZero::Active",
            Box::new(LeakyReluLayer::default().at_zero(AtZero::Active)),
        ),
    ];
    println!();
    println!("Gradients at the same points: backward of an upstream gradient of 1.");
    println!("The default ReLU'(0) = 0 is PyTorch's; AtZero::Active is the tutorial's");
    println!("f'(x) = 1 for x >= 0.");
    println!();
    print!("{:>34}", "x =");
    for x in POINTS {
        print!("{x:>7.1}");
    }
    println!();
    for (name, layer) in &mut layers {
        let output = layer.forward(&batch)?;
        let grad = layer.backward(&Array2::ones(batch.dim()))?;
        print_row(&format!("{name}: f(x) ="), &output.column(0).to_owned());
        print_row("f'(x) =", &grad.column(0).to_owned());
    }

    // NaN: Python's max(0.0, x) and Rust's f64::max(0.0, x) both give 0.0,
    // which hides a diverged network. rectify propagates it.
    println!();
    let nan = f64::NAN;
    println!("A NaN input (a diverged network upstream):");
    println!(
        "  max(0.0, NaN)          gives {:.1}  (the tutorial's relu)",
        f64::max(0.0, nan)
    );
    println!("  rectify::relu(NaN)     gives {:.1}", relu(nan));
    println!(
        "  leaky_relu(NaN, 0.01)  gives {:.1}",
        leaky_relu(nan, 0.01)
    );
    let mut relu_layer = ReluLayer::new();
    let y = relu_layer.forward(&Array2::from_elem((1, 1), nan))?;
    let g = relu_layer.backward(&Array2::from_elem((1, 1), 2.0))?;
    println!(
        "  ReluLayer: forward gives {:.1}, backward of 2.0 gives {:.1} (the gradient passes)",
        y[[0, 0]],
        g[[0, 0]]
    );
    Ok(())
}

fn print_row(label: &str, values: &Array1<f64>) {
    print!("{label:>34}");
    for v in values {
        print!("{v:>7.2}");
    }
    println!();
}
