//! Times a training step of three MLPs and prints each median, in the format
//! `benches/pytorch_mlp.py` prints for PyTorch (see `benches/vs_pytorch.sh`).
//!
//! A step is `forward_owned` through a `Sequential` of Dense, ReLU, Dense,
//! ReLU, Dense, then softmax cross-entropy, `backward_params` (every
//! parameter gradient, but not the gradient of the network's input, which
//! PyTorch skips too), and `Sgd` with momentum 0.9, in f64 and then in f32
//! (the names end in `_f64` and `_f32`), with what
//! the default build uses: `gemm`'s threads for large products and its
//! AVX-512 kernels where the CPU has them (`RAYON_NUM_THREADS=1` for one
//! thread).
//!
//! ```text
//! cargo run --release --example mlp_step            # about 20 s
//! cargo run --release --example mlp_step -- 0.5     # seconds of steps per MLP
//! ```

use std::error::Error;
use std::time::{Duration, Instant};

use rectify::loss::softmax_cross_entropy;
use rectify::ndarray::Array2;
use rectify::ndarray_rand::rand_distr::Uniform;
use rectify::ndarray_rand::RandomExt;
use rectify::rand::{rngs::StdRng, SeedableRng};
use rectify::{DenseLayer, Float, Layer, ReluLayer, Sequential, Sgd};

/// (name, layer widths, batch), as in `benches/mlp.rs`.
const MLPS: [(&str, [usize; 4], usize); 3] = [
    ("784-256-256-10_b128", [784, 256, 256, 10], 128),
    ("784-1024-1024-10_b256", [784, 1024, 1024, 10], 256),
    ("64-64-64-10_b32", [64, 64, 64, 10], 32),
];

fn main() -> Result<(), Box<dyn Error>> {
    let seconds: f64 = match std::env::args().nth(1) {
        Some(s) => s.parse()?,
        None => 3.0,
    };
    for (name, widths, batch) in MLPS {
        let median = median_step::<f64>(widths, batch, seconds)?;
        println!("{name}_f64 {:.6} ms ({} steps)", median.0 * 1e3, median.1);
    }
    for (name, widths, batch) in MLPS {
        let median = median_step::<f32>(widths, batch, seconds)?;
        println!("{name}_f32 {:.6} ms ({} steps)", median.0 * 1e3, median.1);
    }
    Ok(())
}

/// The median time of a step of the MLP of `widths` on a batch of `batch`,
/// in `A`, over at least `seconds` of steps; and how many steps it is of.
fn median_step<A: Float>(
    widths: [usize; 4],
    batch: usize,
    seconds: f64,
) -> Result<(f64, usize), Box<dyn Error>> {
    let mut rng = StdRng::seed_from_u64(0);
    let mut net = Sequential::<A>::new();
    for (i, pair) in widths.windows(2).enumerate() {
        net.push(DenseLayer::new(pair[0], pair[1], &mut rng));
        if i + 2 < widths.len() {
            net.push(ReluLayer::new());
        }
    }
    let mut sgd = Sgd::new(0.01)?.with_momentum(0.9)?;
    let x = Array2::random_using((batch, widths[0]), Uniform::new(-1.0, 1.0)?, &mut rng);
    let x = x.mapv(|v: f64| A::from(v).expect("in range"));
    let labels: Vec<usize> = (0..batch).map(|i| (i * 7) % widths[3]).collect();
    let mut times = Vec::new();
    let mut spent = Duration::ZERO;
    let mut step = 0;
    while step < 5 || spent.as_secs_f64() < seconds {
        let input = x.clone();
        let start = Instant::now();
        let logits = net.forward_owned(input)?;
        let (_, grad) = softmax_cross_entropy(&logits, &labels)?;
        net.backward_params(grad)?;
        sgd.step(&mut net)?;
        let elapsed = start.elapsed();
        spent += elapsed;
        // The first steps warm up caches and the allocator.
        if step >= 3 {
            times.push(elapsed.as_secs_f64());
        }
        step += 1;
    }
    times.sort_by(f64::total_cmp);
    Ok((times[times.len() / 2], times.len()))
}
