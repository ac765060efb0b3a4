//! Files written by PyTorch load into rectify and give PyTorch's outputs and
//! input gradients; rectify's own file of them is PyTorch's, tensor for
//! tensor. The fixtures and the script that wrote them
//! (`tests/fixtures/torch_mlp.py`, torch 2.15, CPU) are in
//! `tests/fixtures/`; this test needs no Python.
//!
//! It also saves the loaded network to `target/tmp/rectify_mlp_f64.safetensors`
//! for the check by hand that PyTorch loads rectify's file with
//! `strict=True`: `python tests/fixtures/check_rectify_file.py
//! target/tmp/rectify_mlp_f64.safetensors`.
#![cfg(feature = "safetensors")]

use rectify::ndarray::{Array1, Array2, ArrayD, Ix2};
use rectify::{DenseLayer, Layer, LeakyReluLayer, PReluLayer, ReluLayer, Sequential};
use safetensors::{Dtype, SafeTensors};

const F64: &[u8] = include_bytes!("fixtures/torch_mlp_f64.safetensors");
const F32: &[u8] = include_bytes!("fixtures/torch_mlp_f32.safetensors");
const DATA: &[u8] = include_bytes!("fixtures/torch_mlp_data.safetensors");

/// The script's MODEL with placeholder parameters: Linear(3, 5), ReLU,
/// Sequential(Linear(5, 4), PReLU(4)), LeakyReLU(0.1), Linear(4, 2), PReLU().
fn model() -> Sequential {
    let dense = |inputs, outputs| {
        DenseLayer::from_parts(Array2::zeros((inputs, outputs)), Array1::zeros(outputs)).unwrap()
    };
    let mut inner = Sequential::new();
    inner
        .push(dense(5, 4))
        .push(PReluLayer::new(4, 0.25).unwrap());
    let mut net = Sequential::new();
    net.push(dense(3, 5))
        .push(ReluLayer::new())
        .push(inner)
        .push(LeakyReluLayer::new(0.1).unwrap())
        .push(dense(4, 2))
        .push(PReluLayer::default());
    net
}

/// The float64 tensor `name` of the data file, as a matrix.
fn data(name: &str) -> Array2<f64> {
    let file = SafeTensors::deserialize(DATA).unwrap();
    let tensor = file.tensor(name).unwrap();
    assert_eq!(tensor.dtype(), Dtype::F64, "{name}");
    let values = (tensor.data().chunks_exact(8))
        .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let array = ArrayD::from_shape_vec(tensor.shape(), values).unwrap();
    array.into_dimensionality::<Ix2>().unwrap()
}

/// `net`'s output and input gradient for the fixture's x and upstream
/// gradient.
fn pass(net: &mut Sequential) -> (Array2<f64>, Array2<f64>) {
    let y = net.forward(&data("x")).unwrap();
    let dx = net.backward(&data("grad_output")).unwrap();
    assert_eq!(net.predict(&data("x")).unwrap(), y);
    (y, dx)
}

/// `got` is `want` within `1e-15·(1 + |want|)` everywhere; returns how many
/// elements are equal bit for bit.
///
/// Not all are: rectify's `DenseLayer` multiplies with `gemm`, PyTorch with
/// its own BLAS, and the two sum each dot product (3 to 5 terms here) in
/// another order, with or without fused multiply-adds. With torch 2.15 on
/// this project's machine 24 of the 35 float64 values agree bit for bit and
/// the others differ by 3.8e-17·(1 + |want|) at most, 1 to 10 ulps (10 where
/// a gradient nearly cancels). The bound leaves room for other CPUs' BLAS
/// kernels while catching any real error (a wrong transpose, slope or
/// bias is off by far more).
fn close(what: &str, got: &Array2<f64>, want: &Array2<f64>) -> usize {
    assert_eq!(got.dim(), want.dim(), "{what}");
    for (g, w) in got.iter().zip(want) {
        let bound = 1e-15 * (1.0 + w.abs());
        assert!(
            (g - w).abs() <= bound,
            "{what}: {g:e} against PyTorch's {w:e}\n{got}\n{want}"
        );
    }
    got.iter()
        .zip(want)
        .filter(|(g, w)| g.to_bits() == w.to_bits())
        .count()
}

#[test]
fn a_float64_file_from_pytorch_gives_its_outputs_and_input_gradients() {
    let mut net = model();
    net.load_safetensors_bytes(F64).unwrap();
    let (y, dx) = pass(&mut net);
    let exact = close("output", &y, &data("f64.output"))
        + close("grad_input", &dx, &data("f64.grad_input"));
    // Only the dot products' rounding differs: most elements agree bit for
    // bit (24 of 35 here).
    assert!(2 * exact > y.len() + dx.len(), "{exact} of 35 bit for bit");
}

#[test]
fn a_float32_file_from_pytorch_loads_widened_exactly() {
    let mut net = model();
    net.load_safetensors_bytes(F32).unwrap();
    let file = SafeTensors::deserialize(F32).unwrap();
    let weight = file.tensor("2.0.weight").unwrap();
    assert_eq!(weight.dtype(), Dtype::F32);
    let first = f32::from_le_bytes(weight.data()[..4].try_into().unwrap());
    let dense: &Sequential = net.layer(2).unwrap();
    let dense: &DenseLayer = dense.layer(0).unwrap();
    assert_eq!(dense.weights()[[0, 0]], f64::from(first)); // weight[0][0], transposed

    let (y, dx) = pass(&mut net);
    close("output", &y, &data("f32.output"));
    close("grad_input", &dx, &data("f32.grad_input"));
    // PyTorch's own float32 arithmetic is float32's rounding away.
    let native = data("f32.native_output");
    for (g, w) in y.iter().zip(&native) {
        assert!(
            (g - w).abs() <= 1e-6 * (1.0 + w.abs()),
            "{g} against float32's {w}"
        );
    }
}

#[test]
fn rectify_saves_pytorch_s_file_back_tensor_for_tensor() {
    let mut net = model();
    net.load_safetensors_bytes(F64).unwrap();
    let path =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("rectify_mlp_f64.safetensors");
    net.save_safetensors(&path).unwrap();
    let ours = std::fs::read(&path).unwrap();
    let (ours, theirs) = (
        SafeTensors::deserialize(&ours).unwrap(),
        SafeTensors::deserialize(F64).unwrap(),
    );
    let (mut names, mut torch_names) = (ours.names(), theirs.names());
    names.sort_unstable();
    torch_names.sort_unstable();
    assert_eq!(names, torch_names);
    for name in names {
        let (a, b) = (ours.tensor(name).unwrap(), theirs.tensor(name).unwrap());
        assert_eq!(
            (a.dtype(), a.shape(), a.data()),
            (b.dtype(), b.shape(), b.data()),
            "{name}"
        );
    }
}
