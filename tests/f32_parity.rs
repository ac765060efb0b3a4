//! An `f32` MLP and the losses against PyTorch float32 (CPU):
//! `tests/fixtures/mlp_f32.txt`, written by `tests/fixtures/mlp_f32.py`,
//! holds an MLP 8 → 16 → 16 → 16 → 4 (Linear, ReLU, Linear, LeakyReLU(0.1),
//! Linear, PReLU(16), Linear), its input, upstream gradient, every layer's
//! output and input gradient, every parameter and its gradient, and
//! `cross_entropy` (on the output and on 50 times it) and `mse_loss` on the
//! output, with their gradients. The same network is built as a
//! `Sequential<f32>` (`DenseLayer::<f32>::from_parts` with PyTorch's weight
//! transposed, `PReluLayer::<f32>::from_slopes`).
//!
//! # What must agree, and how closely
//!
//! `u = 2⁻²⁴` is f32's unit roundoff (`ε = 2u`) and `γₙ = n·u / (1 − n·u)`.
//! A sum of `n` rounded products, in any order and with or without fused
//! multiply-adds, is within `γₙ·Σ|terms|` of the exact sum (Higham,
//! *Accuracy and Stability of Numerical Algorithms*, §3.1); two of them, in
//! different orders (rectify's GEMM and PyTorch's MKL), are within
//! `2γₙ·Σ|terms|` of each other.
//!
//! Layer by layer, each layer of the `Sequential` gets PyTorch's own input
//! and upstream gradient for that layer:
//!
//! - the activations (ReLU, LeakyReLU, PReLU), elementwise, give PyTorch's
//!   output and input gradient **bit for bit**;
//! - a Dense layer's products are within `2γₙ·Σ|terms|` elementwise, `n` its
//!   inner dimension: the output `x·W + b` with `n = inputs + 1` (the bias
//!   is a term), the input gradient `g·Wᵀ` with `n = outputs`, the weight
//!   gradient `xᵀ·g` and the bias gradient `Σ g` with `n = rows`; so is
//!   PReLU's slope gradient, a sum of `rows` products.
//!
//! End to end, the `Sequential` runs `forward` on the input and `backward`
//! on the upstream gradient, and its output, input gradient and every
//! parameter gradient must be within the bound that those per-product
//! bounds give when carried through the network to first and second order
//! (see [`Bounds`]): the differences of a layer's input, times the
//! magnitudes of its weights, plus the layer's own rounding. The bound
//! holds as long as rectify and PyTorch take the same side of every kink,
//! which the test checks too (the fixture's nearest pre-activation is
//! 2.7e-4 from 0, the bound there below 1e-5).
//!
//! With this fixture, the Dense outputs and weight gradients happen to be
//! bit-identical (the same summation order for inner dimensions of 8 and
//! 16 rows); the input and bias gradients differ in about half the elements
//! by an ulp or a few, and end to end the largest difference is 7% of its
//! bound.
//!
//! The losses get PyTorch's logits: `mse`'s gradient `(2/n)·(p − t)` is the
//! same two roundings and must match bit for bit, its loss (a sum of `n`
//! squares) within `2γₙ₊₁` of the sum of the squares over `n`.
//! `softmax_cross_entropy` goes through `exp` and `ln`, which PyTorch
//! (SLEEF) and rectify (the platform's libm) each round within 1 ulp
//! (`ε`): with `C` classes, each row's `log Σ exp` is within
//! `δ = (C + 3)·ε·(1 + |log Σ exp|)` of the exact one on each side, so the
//! loss (a mean of `rows` terms `log Σ exp − logit`) is within
//! `2δ_max + 2γ_rows·mean|term|`, and each gradient element
//! `softmax/rows − onehot/rows` within `(p/rows)·(2δ + 6ε) + 2ε·|grad|`.

use std::collections::HashMap;

use rectify::loss::{mse, softmax_cross_entropy};
use rectify::ndarray::{Array, Array1, Array2, ArrayD, ArrayView2, Axis, Dimension, Ix1, Ix2, Zip};
use rectify::{DenseLayer, Layer, LayerError, LeakyReluLayer, PReluLayer, ReluLayer, Sequential};

const FIXTURE: &str = include_str!("fixtures/mlp_f32.txt");

/// f32's unit roundoff.
const U: f64 = f32::EPSILON as f64 / 2.0;

/// `γₙ = n·u / (1 − n·u)`.
fn gamma(n: usize) -> f64 {
    let nu = n as f64 * U;
    nu / (1.0 - nu)
}

/// The Linear layers, by index in the network.
const DENSE: [usize; 4] = [0, 2, 4, 6];
/// LeakyReLU's slope.
const SLOPE: f64 = 0.1;

// ---------------------------------------------------------------- fixture

/// The fixture's tensors by name, and its labels.
struct Fixture {
    tensors: HashMap<String, ArrayD<f32>>,
    labels: Vec<usize>,
}

impl Fixture {
    fn parse() -> Self {
        let mut tensors = HashMap::new();
        let mut labels = Vec::new();
        let mut lines = FIXTURE.lines().filter(|l| !l.starts_with('#'));
        while let Some(line) = lines.next() {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words[0] {
                "labels" => labels = words[1..].iter().map(|w| w.parse().unwrap()).collect(),
                "tensor" => {
                    let shape: Vec<usize> = words[2..].iter().map(|w| w.parse().unwrap()).collect();
                    let size: usize = shape.iter().product();
                    let rows = if shape.len() > 1 {
                        size / shape[shape.len() - 1]
                    } else {
                        1
                    };
                    let mut values = Vec::with_capacity(size);
                    for _ in 0..rows {
                        let row = lines.next().expect("a row of values");
                        values.extend(row.split_whitespace().map(|w| {
                            assert_eq!(w.len(), 8, "{}: {w} is not an f32 token", words[1]);
                            f32::from_bits(u32::from_str_radix(w, 16).unwrap())
                        }));
                    }
                    let array = ArrayD::from_shape_vec(shape, values).expect("the tensor's size");
                    tensors.insert(words[1].to_string(), array);
                }
                other => panic!("unknown line {other}"),
            }
        }
        Fixture { tensors, labels }
    }

    fn get(&self, name: &str) -> &ArrayD<f32> {
        self.tensors
            .get(name)
            .unwrap_or_else(|| panic!("no tensor {name}"))
    }

    fn matrix(&self, name: &str) -> Array2<f32> {
        self.get(name).clone().into_dimensionality::<Ix2>().unwrap()
    }

    fn vector(&self, name: &str) -> Array1<f32> {
        self.get(name).clone().into_dimensionality::<Ix1>().unwrap()
    }

    fn scalar(&self, name: &str) -> f32 {
        let t = self.get(name);
        assert_eq!(t.ndim(), 0, "{name}");
        t[[]]
    }

    /// Layer `i`'s input in PyTorch's pass.
    fn input(&self, i: usize) -> Array2<f32> {
        match i {
            0 => self.matrix("x"),
            i => self.matrix(&format!("{}.output", i - 1)),
        }
    }

    /// The gradient that reached layer `i`'s output in PyTorch's pass.
    fn grad_output(&self, i: usize) -> Array2<f32> {
        match i {
            6 => self.matrix("grad_output"),
            i => self.matrix(&format!("{}.grad_input", i + 1)),
        }
    }

    /// Layer `i`'s slope on the negative side, per column (of 16).
    fn slopes(&self, i: usize) -> Array1<f64> {
        match i {
            1 => Array1::zeros(16),
            3 => Array1::from_elem(16, f64::from(SLOPE as f32)),
            5 => self.vector("5.weight").mapv(f64::from),
            _ => unreachable!("layer {i} is not an activation"),
        }
    }
}

/// The fixture's network as a `Sequential<f32>`.
fn network(fx: &Fixture) -> Result<Sequential<f32>, LayerError> {
    let dense = |i: usize| {
        let weight = fx.matrix(&format!("{i}.weight")).reversed_axes();
        DenseLayer::<f32>::from_parts(
            weight.as_standard_layout().to_owned(),
            fx.vector(&format!("{i}.bias")),
        )
    };
    let mut net = Sequential::<f32>::new();
    net.push(dense(0)?)
        .push(ReluLayer::new())
        .push(dense(2)?)
        .push(LeakyReluLayer::new(SLOPE)?)
        .push(dense(4)?)
        .push(PReluLayer::<f32>::from_slopes(fx.vector("5.weight"))?)
        .push(dense(6)?);
    Ok(net)
}

// ---------------------------------------------------------------- comparison

fn abs(a: &ArrayView2<'_, f32>) -> Array2<f64> {
    a.mapv(|v| f64::from(v).abs())
}

fn wide<D: Dimension>(a: &Array<f32, D>) -> Array<f64, D> {
    a.mapv(f64::from)
}

/// Every element of `actual` within `bound` of `expected` (the same bits
/// where the bound is 0).
fn within<D: Dimension>(
    what: &str,
    actual: &Array<f32, D>,
    expected: &Array<f32, D>,
    bound: &Array<f64, D>,
) {
    assert_eq!(actual.shape(), expected.shape(), "{what}");
    assert_eq!(actual.shape(), bound.shape(), "{what}");
    let elements = actual.iter().zip(expected).zip(bound).enumerate();
    for (i, ((&a, &e), &b)) in elements {
        let d = (f64::from(a) - f64::from(e)).abs();
        assert!(
            d <= b && a.is_finite(),
            "{what}, flat index {i} of {:?}: {a:e}, PyTorch's {e:e}, {d:e} apart, bound {b:e}",
            actual.shape()
        );
    }
}

/// The same bits, element by element.
fn identical(what: &str, actual: &Array2<f32>, expected: &Array2<f32>) {
    assert_eq!(actual.shape(), expected.shape(), "{what}");
    Zip::indexed(actual)
        .and(expected)
        .for_each(|(r, c), &a, &e| {
            assert_eq!(
                a.to_bits(),
                e.to_bits(),
                "{what} [{r}, {c}]: {a:e}, PyTorch's {e:e}"
            );
        });
}

/// `2γₙ·(|a|·|b|)`: how far two roundings of the product `a·b` (inner
/// dimension `n`) can be apart.
fn product_bound(a: &Array2<f64>, b: &Array2<f64>) -> Array2<f64> {
    let n = a.ncols();
    a.dot(b) * (2.0 * gamma(n))
}

// ---------------------------------------------------------------- layer by layer

#[test]
fn each_layer_on_pytorchs_inputs_matches_activations_bit_for_bit() -> Result<(), LayerError> {
    let fx = Fixture::parse();
    let mut net = network(&fx)?;
    let rows = fx.input(0).nrows();
    for i in DENSE {
        let (x, g) = (fx.input(i), fx.grad_output(i));
        let w = fx.matrix(&format!("{i}.weight")); // (out, in), PyTorch's
        let b = fx.vector(&format!("{i}.bias"));
        let dense: &mut DenseLayer<f32> = net.layer_mut(i).expect("a DenseLayer");
        let y = dense.forward(&x)?;
        // x·W + b: inputs + 1 terms.
        let terms = abs(&x.view()).dot(&abs(&w.t())) + &abs(&b.view().insert_axis(Axis(0)));
        let bound = terms * (2.0 * gamma(x.ncols() + 1));
        within(
            &format!("layer {i} output"),
            &y,
            &fx.matrix(&format!("{i}.output")),
            &bound,
        );
        assert_eq!(dense.predict(&x)?, y, "layer {i}: predict is forward");

        let dx = dense.backward(&g)?;
        let bound = product_bound(&abs(&g.view()), &abs(&w.view()));
        within(
            &format!("layer {i} input gradient"),
            &dx,
            &fx.matrix(&format!("{i}.grad_input")),
            &bound,
        );
        let dw = dense.weights_grad().t().to_owned();
        let bound = product_bound(&abs(&g.t()), &abs(&x.view()));
        within(
            &format!("layer {i} weight gradient"),
            &dw,
            &fx.matrix(&format!("{i}.weight.grad")),
            &bound,
        );
        let db = dense.bias_grad().to_owned();
        let bound = abs(&g.view()).sum_axis(Axis(0)) * (2.0 * gamma(rows));
        within(
            &format!("layer {i} bias gradient"),
            &db,
            &fx.vector(&format!("{i}.bias.grad")),
            &bound,
        );
    }

    let (x, g) = (fx.input(1), fx.grad_output(1));
    let relu: &mut ReluLayer = net.layer_mut(1).expect("a ReluLayer");
    identical(
        "ReLU output",
        &Layer::<f32>::forward(relu, &x)?,
        &fx.matrix("1.output"),
    );
    identical(
        "ReLU input gradient",
        &Layer::<f32>::backward(relu, &g)?,
        &fx.matrix("1.grad_input"),
    );

    let (x, g) = (fx.input(3), fx.grad_output(3));
    let leaky: &mut LeakyReluLayer = net.layer_mut(3).expect("a LeakyReluLayer");
    identical(
        "LeakyReLU output",
        &Layer::<f32>::forward(leaky, &x)?,
        &fx.matrix("3.output"),
    );
    identical(
        "LeakyReLU input gradient",
        &Layer::<f32>::backward(leaky, &g)?,
        &fx.matrix("3.grad_input"),
    );

    let (x, g) = (fx.input(5), fx.grad_output(5));
    let prelu: &mut PReluLayer<f32> = net.layer_mut(5).expect("a PReluLayer");
    identical("PReLU output", &prelu.forward(&x)?, &fx.matrix("5.output"));
    identical(
        "PReLU input gradient",
        &prelu.backward(&g)?,
        &fx.matrix("5.grad_input"),
    );
    // Σ over the rows of g·x where x < 0: rows products.
    let terms =
        Zip::from(&x)
            .and(&g)
            .map_collect(|&x, &g| if x < 0.0 { f64::from(x * g).abs() } else { 0.0 });
    let bound = terms.sum_axis(Axis(0)) * (2.0 * gamma(rows));
    within(
        "PReLU slope gradient",
        &prelu.slopes_grad().to_owned(),
        &fx.vector("5.weight.grad"),
        &bound,
    );
    Ok(())
}

// ---------------------------------------------------------------- end to end

/// How far rectify's values may be from PyTorch's in the whole network,
/// elementwise: the per-product bounds above carried through the layers,
/// with PyTorch's values as the reference magnitudes.
///
/// Forward, with `D` the bound at a layer's input (0 at the network's):
/// a Dense layer's outputs differ by at most `D·|W| + γ(2|x|·|W| + 2|b| +
/// D·|W|)`, `γ = γ_{inputs+1}` (the input's difference through the exact
/// product, then each side's rounding, the rectify side's magnitudes being
/// at most PyTorch's plus `D`); an activation passes `D` on its positive
/// side and `|s|·D·(1 + u) + 2u·|s|·|x|` on its negative side (slope `s`,
/// each side rounding `s·x` once), provided both take the same side, which
/// `|x| > D` ensures. Backward, with `E` the bound at a layer's output
/// gradient (0 at the network's), the same rules with the gradient in
/// place of the input; the weight gradient `gᵀ·x` differs by at most
/// `|g|ᵀ·D + Eᵀ·|x| + Eᵀ·D` plus `γ_rows` times twice its terms and that,
/// the bias gradient by `Σ E + γ_rows(2Σ|g| + Σ E)`, and PReLU's slope
/// gradient likewise over its negative inputs.
struct Bounds {
    /// The bound on each layer's output.
    output: Vec<Array2<f64>>,
    /// The bound on each layer's input gradient.
    grad_input: Vec<Array2<f64>>,
    /// The bounds on each Dense layer's weight (PyTorch's (out, in)) and
    /// bias gradients, and on PReLU's slope gradient, by layer.
    weight_grad: HashMap<usize, Array2<f64>>,
    bias_grad: HashMap<usize, Array1<f64>>,
    slope_grad: Array1<f64>,
    /// The smallest `|x| / D` over the activations' inputs: above 1, both
    /// sides take the same side of every kink.
    kink_margin: f64,
}

impl Bounds {
    fn new(fx: &Fixture) -> Self {
        let rows = fx.input(0).nrows();
        let mut kink_margin = f64::INFINITY;
        // Forward.
        let mut d = Array2::<f64>::zeros(fx.input(0).dim());
        let mut inputs_d = Vec::new();
        let mut output = Vec::new();
        for i in 0..7 {
            inputs_d.push(d.clone());
            let x = wide(&fx.input(i)).mapv(f64::abs);
            d = if DENSE.contains(&i) {
                let w = wide(&fx.matrix(&format!("{i}.weight")))
                    .mapv(f64::abs)
                    .reversed_axes();
                let b = wide(&fx.vector(&format!("{i}.bias")))
                    .mapv(f64::abs)
                    .insert_axis(Axis(0));
                let propagated = d.dot(&w);
                let own = (x.dot(&w) + &b) * 2.0 + &propagated;
                propagated + own * gamma(x.ncols() + 1)
            } else {
                let s = fx.slopes(i).mapv(f64::abs);
                let signed = fx.input(i);
                Zip::indexed(&d).map_collect(|(r, c), &d| {
                    let v = f64::from(signed[[r, c]]);
                    if d > 0.0 {
                        kink_margin = kink_margin.min(v.abs() / d);
                    }
                    if v > 0.0 {
                        d
                    } else {
                        s[c] * d * (1.0 + U) + 2.0 * U * s[c] * v.abs()
                    }
                })
            };
            output.push(d.clone());
        }
        // Backward.
        let mut e = Array2::<f64>::zeros(fx.grad_output(6).dim());
        let mut grad_input = vec![Array2::zeros((0, 0)); 7];
        let mut weight_grad = HashMap::new();
        let mut bias_grad = HashMap::new();
        let mut slope_grad = Array1::zeros(0);
        for i in (0..7).rev() {
            let g = wide(&fx.grad_output(i)).mapv(f64::abs);
            let x = wide(&fx.input(i)).mapv(f64::abs);
            let d = &inputs_d[i];
            if DENSE.contains(&i) {
                let w = wide(&fx.matrix(&format!("{i}.weight"))).mapv(f64::abs); // (out, in)
                let mixed = g.t().dot(d) + e.t().dot(&x) + e.t().dot(d);
                let own = g.t().dot(&x) * 2.0 + &mixed;
                weight_grad.insert(i, mixed + own * gamma(rows));
                let es = e.sum_axis(Axis(0));
                bias_grad.insert(i, &es + &((g.sum_axis(Axis(0)) * 2.0 + &es) * gamma(rows)));
                let propagated = e.dot(&w);
                let own = g.dot(&w) * 2.0 + &propagated;
                e = propagated + own * gamma(w.nrows());
            } else {
                let s = fx.slopes(i).mapv(f64::abs);
                let signed = fx.input(i);
                let negative = signed.mapv(|v| if v > 0.0 { 0.0 } else { 1.0 });
                if i == 5 {
                    let mixed = (&g * d + &e * &x + &e * d) * &negative;
                    let own = (&g * &x * &negative) * 2.0 + &mixed;
                    slope_grad = mixed.sum_axis(Axis(0)) + own.sum_axis(Axis(0)) * gamma(rows);
                }
                e = Zip::indexed(&e).and(&g).map_collect(|(r, c), &e, &g| {
                    if signed[[r, c]] > 0.0 {
                        e
                    } else {
                        s[c] * e * (1.0 + U) + 2.0 * U * s[c] * g
                    }
                });
            }
            grad_input[i] = e.clone();
        }
        Bounds {
            output,
            grad_input,
            weight_grad,
            bias_grad,
            slope_grad,
            kink_margin,
        }
    }
}

#[test]
fn the_sequential_end_to_end_is_within_the_propagated_bounds() -> Result<(), LayerError> {
    let fx = Fixture::parse();
    let bounds = Bounds::new(&fx);
    assert!(
        bounds.kink_margin > 1.0,
        "a kink within the bound: {}",
        bounds.kink_margin
    );
    let mut net = network(&fx)?;
    let y = net.forward(&fx.matrix("x"))?;
    within("output", &y, &fx.matrix("6.output"), &bounds.output[6]);
    assert_eq!(net.predict(&fx.matrix("x"))?, y);
    let dx = net.backward(&fx.matrix("grad_output"))?;
    within(
        "input gradient",
        &dx,
        &fx.matrix("0.grad_input"),
        &bounds.grad_input[0],
    );
    for i in DENSE {
        let dense: &DenseLayer<f32> = net.layer(i).expect("a DenseLayer");
        let dw = dense.weights_grad().t().to_owned();
        let what = format!("layer {i} weight gradient");
        within(
            &what,
            &dw,
            &fx.matrix(&format!("{i}.weight.grad")),
            &bounds.weight_grad[&i],
        );
        let what = format!("layer {i} bias gradient");
        let db = dense.bias_grad().to_owned();
        within(
            &what,
            &db,
            &fx.vector(&format!("{i}.bias.grad")),
            &bounds.bias_grad[&i],
        );
    }
    let prelu: &PReluLayer<f32> = net.layer(5).expect("a PReluLayer");
    let ds = prelu.slopes_grad().to_owned();
    within(
        "slope gradient",
        &ds,
        &fx.vector("5.weight.grad"),
        &bounds.slope_grad,
    );
    // The parameters, each with its gradient: 4 Dense layers and PReLU.
    assert_eq!(net.params().len(), 4 * 2 + 1);
    Ok(())
}

// ---------------------------------------------------------------- losses

#[test]
fn mse_matches_pytorch_float32() -> Result<(), LayerError> {
    let fx = Fixture::parse();
    let (p, t) = (fx.matrix("6.output"), fx.matrix("mse.target"));
    let (loss, grad) = mse(&p, &t)?;
    identical("mse gradient", &grad, &fx.matrix("mse.grad"));
    let n = p.len();
    let squares: f64 = Zip::from(&p)
        .and(&t)
        .fold(0.0, |s, &p, &t| s + f64::from(p - t).powi(2));
    let bound = 2.0 * gamma(n + 1) * squares / n as f64;
    let expected = fx.scalar("mse.loss");
    let d = (f64::from(loss) - f64::from(expected)).abs();
    assert!(
        d <= bound,
        "mse {loss:e}, PyTorch's {expected:e}, bound {bound:e}"
    );
    Ok(())
}

#[test]
fn softmax_cross_entropy_matches_pytorch_float32() -> Result<(), LayerError> {
    let fx = Fixture::parse();
    for name in ["ce", "ce_large"] {
        let logits = fx.matrix(&format!("{name}.logits"));
        let (rows, classes) = logits.dim();
        let (loss, grad) = softmax_cross_entropy(&logits, &fx.labels)?;
        let eps = f64::from(f32::EPSILON);
        // Per row: log Σ exp, its δ, and each class's probability.
        let mut delta_max: f64 = 0.0;
        let mut terms = 0.0;
        let mut bound = Array2::<f64>::zeros((rows, classes));
        for (r, row) in logits.outer_iter().enumerate() {
            let row = row.mapv(f64::from);
            let max = row.fold(f64::NEG_INFINITY, |m, &v| m.max(v));
            let lse = max + row.mapv(|v| (v - max).exp()).sum().ln();
            let delta = (classes + 3) as f64 * eps * (1.0 + lse.abs());
            delta_max = delta_max.max(delta);
            terms += (lse - row[fx.labels[r]]).abs();
            for c in 0..classes {
                let p = (row[c] - lse).exp() / rows as f64;
                let g = f64::from(grad[[r, c]]).abs();
                bound[[r, c]] = p * (2.0 * delta + 6.0 * eps) + 2.0 * eps * g;
            }
        }
        within(
            &format!("{name} gradient"),
            &grad,
            &fx.matrix(&format!("{name}.grad")),
            &bound,
        );
        let expected = fx.scalar(&format!("{name}.loss"));
        let limit = 2.0 * delta_max + 2.0 * gamma(rows) * terms / rows as f64;
        let d = (f64::from(loss) - f64::from(expected)).abs();
        assert!(
            d <= limit,
            "{name} loss {loss:e}, PyTorch's {expected:e}, bound {limit:e}"
        );
    }
    Ok(())
}
