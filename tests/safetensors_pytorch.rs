//! Files written by PyTorch load into rectify and give PyTorch's outputs and
//! input gradients; rectify's own file of them is PyTorch's, tensor for
//! tensor. The fixtures and the script that wrote them
//! (`tests/fixtures/torch_mlp.py`, torch 2.15, CPU) are in
//! `tests/fixtures/`; this test needs no Python.
//!
//! An `f32` network loads the float32 file as it is and computes in `f32`,
//! within float32's rounding of PyTorch's float32 outputs.
//!
//! It also saves the loaded networks to `target/tmp/rectify_mlp_f64.safetensors`
//! and `target/tmp/rectify_mlp_f32.safetensors` for the check by hand that
//! PyTorch loads rectify's files with `strict=True`, into a float64 and a
//! float32 `nn.Sequential`: `python tests/fixtures/check_rectify_file.py
//! target/tmp/rectify_mlp_f32.safetensors` (and `_f64`). Checked so with
//! torch 2.15.0 (CPU) on this project's machine: both files loaded with
//! `strict=True`, every tensor of the dtype of PyTorch's own file and equal
//! to it, and the outputs and input gradients equal bit for bit to those of
//! the model loaded from PyTorch's own file.
#![cfg(feature = "safetensors")]

use rectify::ndarray::{Array1, Array2, ArrayD, Ix2};
use rectify::{DenseLayer, Float, Layer, LeakyReluLayer, PReluLayer, ReluLayer, Sequential};
use safetensors::{Dtype, SafeTensors};

const F64: &[u8] = include_bytes!("fixtures/torch_mlp_f64.safetensors");
const F32: &[u8] = include_bytes!("fixtures/torch_mlp_f32.safetensors");
const DATA: &[u8] = include_bytes!("fixtures/torch_mlp_data.safetensors");

/// The script's MODEL with placeholder parameters: Linear(3, 5), ReLU,
/// Sequential(Linear(5, 4), PReLU(4)), LeakyReLU(0.1), Linear(4, 2), PReLU().
fn model() -> Sequential {
    model_in()
}

/// [`model`] in `f32` or `f64`.
fn model_in<A: Float>() -> Sequential<A> {
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

#[test]
fn a_float32_file_from_pytorch_loads_into_an_f32_network_as_it_is() {
    let mut net = model_in::<f32>();
    net.load_safetensors_bytes(F32).unwrap();
    // Every parameter holds the file's bits: nn.Linear's weight transposed.
    let file = SafeTensors::deserialize(F32).unwrap();
    let stored = |name: &str| -> Vec<u32> {
        let tensor = file.tensor(name).unwrap();
        assert_eq!(tensor.dtype(), Dtype::F32, "{name}");
        (tensor.data().chunks_exact(4))
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
            .collect()
    };
    let names = [
        ("0.weight", true),
        ("0.bias", false),
        ("2.0.weight", true),
        ("2.0.bias", false),
        ("2.1.weight", false),
        ("4.weight", true),
        ("4.bias", false),
        ("5.weight", false),
    ];
    for ((name, transposed), p) in names.into_iter().zip(net.params()) {
        let value = if transposed {
            p.value.t()
        } else {
            p.value.view()
        };
        let bits: Vec<u32> = value.iter().map(|v| v.to_bits()).collect();
        assert_eq!(bits, stored(name), "{name}");
    }

    // PyTorch's float32 pass (on x rounded to float32), float32's rounding
    // away: gemm and PyTorch's BLAS sum the dot products in other orders.
    let x = data("x").mapv(|v| v as f32);
    let grad = data("grad_output").mapv(|v| v as f32);
    let y = net.forward(&x).unwrap();
    let dx = net.backward(&grad).unwrap();
    assert_eq!(net.predict(&x).unwrap(), y);
    let native = data("f32.native_output");
    let within = |what: &str, got: &Array2<f32>, want: &Array2<f64>, bound: f64| {
        assert_eq!(got.dim(), want.dim(), "{what}");
        for (g, w) in got.iter().zip(want) {
            let g = f64::from(*g);
            assert!(
                (g - w).abs() <= bound * (1.0 + w.abs()),
                "{what}: {g:e} against {w:e}\n{got}\n{want}"
            );
        }
    };
    // Here 7 of the 14 outputs equal PyTorch's bit for bit and the others
    // are within 3.8e-8·(1 + |want|), under a float32 ulp (2^-23 is 1.2e-7
    // relative); the bound leaves room for other CPUs' kernels.
    within("output", &y, &native, 1e-6);
    // The fixture has no float32 input gradient: against the float64 pass
    // on the same weights, at float32's precision (inputs and upstream
    // gradient rounded too; here within 1.5e-8·(1 + |want|)).
    within("grad_input", &dx, &data("f32.grad_input"), 1e-6);
    within("output", &y, &data("f32.output"), 1e-6);
}

#[test]
fn rectify_saves_an_f32_network_as_pytorch_s_float32_file() {
    let mut net = model_in::<f32>();
    net.load_safetensors_bytes(F32).unwrap();
    let path =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("rectify_mlp_f32.safetensors");
    net.save_safetensors(&path).unwrap();
    let ours = std::fs::read(&path).unwrap();
    let (ours, theirs) = (
        SafeTensors::deserialize(&ours).unwrap(),
        SafeTensors::deserialize(F32).unwrap(),
    );
    let (mut names, mut torch_names) = (ours.names(), theirs.names());
    names.sort_unstable();
    torch_names.sort_unstable();
    assert_eq!(names, torch_names);
    for name in names {
        let (a, b) = (ours.tensor(name).unwrap(), theirs.tensor(name).unwrap());
        assert_eq!(a.dtype(), Dtype::F32, "{name}");
        assert_eq!(
            (a.dtype(), a.shape(), a.data()),
            (b.dtype(), b.shape(), b.data()),
            "{name}"
        );
    }
}

#[test]
fn an_f32_network_rounds_pytorch_s_float64_file_to_nearest() {
    let mut narrow = model_in::<f32>();
    narrow.load_safetensors_bytes(F64).unwrap();
    let mut wide = model();
    wide.load_safetensors_bytes(F64).unwrap();
    for (n, w) in narrow.params().iter().zip(wide.params()) {
        let rounded: Vec<u32> = w.value.iter().map(|&v| (v as f32).to_bits()).collect();
        let bits: Vec<u32> = n.value.iter().map(|v| v.to_bits()).collect();
        assert_eq!(bits, rounded);
    }
    // torch_mlp.py's float32 file is the float64 one rounded (`.float()`),
    // so both loads give the same network.
    let mut from_f32 = model_in::<f32>();
    from_f32.load_safetensors_bytes(F32).unwrap();
    assert_eq!(
        from_f32.to_safetensors_bytes().unwrap(),
        narrow.to_safetensors_bytes().unwrap()
    );
}
