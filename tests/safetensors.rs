//! safetensors round trips, bit for bit, for every layer type and nested
//! `Sequential`s; PyTorch's names; and bad files of every kind, each
//! followed by a check that the network is unchanged.
#![cfg(feature = "safetensors")]

use std::path::PathBuf;

use rectify::ndarray::{array, Array1, Array2, ArrayD, ArrayRef2};
use rectify::rand::{rngs::StdRng, Rng, SeedableRng};
use rectify::{
    ClippedReluLayer, DenseLayer, Layer, LayerError, LeakyReluLayer, PReluLayer, Param, RReluLayer,
    ReluLayer, Result, SafetensorsError, Sequential, ThresholdLayer,
};
use safetensors::{Dtype, SafeTensors};

/// Bit patterns a lossy copy would change: ±0.0, subnormals, extremes.
const SPECIAL: [f64; 6] = [
    -0.0,
    5e-324,
    -2.2250738585072014e-308,
    1e300,
    -1.0 / 3.0,
    0.1,
];

/// A dense layer with random weights from `rng`, some of them `SPECIAL`.
fn dense(inputs: usize, outputs: usize, rng: &mut StdRng) -> DenseLayer {
    let mut draw = |i: usize| match i % 7 {
        6 => SPECIAL[rng.random_range(0..SPECIAL.len())],
        _ => rng.random_range(-1.0..1.0),
    };
    let weights = Array2::from_shape_fn((inputs, outputs), |(i, j)| draw(i * outputs + j));
    let bias = Array1::from_shape_fn(outputs, |j| draw(j + 3));
    DenseLayer::from_parts(weights, bias).unwrap()
}

/// A parameter-free layer of the user's own.
struct Negate;

impl Layer for Negate {
    fn forward(&mut self, input: &ArrayRef2<f64>) -> Result<Array2<f64>> {
        self.predict(input)
    }
    fn backward(&mut self, grad: &ArrayRef2<f64>) -> Result<Array2<f64>> {
        Ok(-grad.to_owned())
    }
    fn predict(&self, input: &ArrayRef2<f64>) -> Result<Array2<f64>> {
        Ok(-input.to_owned())
    }
}

/// A layer of the user's own with a parameter, which the format cannot name.
struct Scale(ArrayD<f64>, ArrayD<f64>);

impl Scale {
    fn new() -> Self {
        Scale(ArrayD::ones(vec![1]), ArrayD::zeros(vec![1]))
    }
}

impl Layer for Scale {
    fn forward(&mut self, input: &ArrayRef2<f64>) -> Result<Array2<f64>> {
        self.predict(input)
    }
    fn backward(&mut self, grad: &ArrayRef2<f64>) -> Result<Array2<f64>> {
        Ok(grad * self.0[0])
    }
    fn predict(&self, input: &ArrayRef2<f64>) -> Result<Array2<f64>> {
        Ok(input * self.0[0])
    }
    fn params(&mut self) -> Vec<Param<'_>> {
        vec![Param {
            value: self.0.view_mut(),
            grad: self.1.view(),
        }]
    }
}

/// Every layer type, nested two deep, with random parameters from `seed`:
///
/// ```text
/// 0 Dense(3, 4)   1 ReLU   2 Sequential(0 Dense(4, 4), 1 PReLU(4),
/// 2 Sequential(0 LeakyReLU, 1 PReLU(1)))   3 RReLU   4 ReLU6
/// 5 Threshold   6 Box<dyn Layer> (ReLU)   7 Negate   8 Dense(4, 2)
/// ```
fn net(seed: u64) -> Sequential {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut slopes = |n| Array1::from_shape_fn(n, |_| rng.random_range(-0.5..0.5));
    let (prelu4, prelu1) = (slopes(4), slopes(1));
    let mut rng = StdRng::seed_from_u64(seed + 100);
    let mut innermost = Sequential::new();
    innermost
        .push(LeakyReluLayer::new(0.2).unwrap())
        .push(PReluLayer::from_slopes(prelu1).unwrap());
    let mut inner = Sequential::new();
    inner
        .push(dense(4, 4, &mut rng))
        .push(PReluLayer::from_slopes(prelu4).unwrap())
        .push(innermost);
    let boxed: Box<dyn Layer> = Box::new(ReluLayer::new());
    let mut net = Sequential::new();
    net.push(dense(3, 4, &mut rng))
        .push(ReluLayer::new())
        .push(inner)
        .push(RReluLayer::default())
        .push(ClippedReluLayer::relu6())
        .push(ThresholdLayer::new(-0.5, -0.25).unwrap())
        .push(boxed)
        .push(Negate)
        .push(dense(4, 2, &mut rng));
    net
}

/// `net`'s tensors, in order of name.
const NAMES: [&str; 8] = [
    "0.bias",
    "0.weight",
    "2.0.bias",
    "2.0.weight",
    "2.1.weight",
    "2.2.1.weight",
    "8.bias",
    "8.weight",
];

fn x() -> Array2<f64> {
    array![[0.5, -1.0, 2.0], [0.0, 3.0, -0.25], [-2.0, 0.125, 1.0]]
}

/// Every parameter's bits, and the bits of the prediction on `x()`.
fn snapshot(net: &mut Sequential) -> (Vec<Vec<u64>>, Vec<u64>) {
    let params = (net.params().iter())
        .map(|p| p.value.iter().map(|v| v.to_bits()).collect())
        .collect();
    let y = net.predict(&x()).unwrap();
    (params, y.iter().map(|v| v.to_bits()).collect())
}

/// The sorted tensor names of a safetensors file.
fn names(bytes: &[u8]) -> Vec<String> {
    let file = SafeTensors::deserialize(bytes).unwrap();
    let mut names: Vec<String> = file.names().into_iter().map(str::to_owned).collect();
    names.sort();
    names
}

/// A fresh directory under `target/tmp` for one test.
fn directory(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("safetensors-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The files in `dir`, sorted.
fn listing(dir: &PathBuf) -> Vec<String> {
    let mut files: Vec<String> = (std::fs::read_dir(dir).unwrap())
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    files
}

#[test]
fn a_round_trip_keeps_every_bit_of_every_layer_type() {
    let mut trained = net(1);
    let bytes = trained.to_safetensors_bytes().unwrap();
    assert_eq!(names(&bytes), NAMES);
    let mut fresh = net(2);
    assert_ne!(snapshot(&mut fresh), snapshot(&mut trained));
    fresh.load_safetensors_bytes(&bytes).unwrap();
    assert_eq!(snapshot(&mut fresh), snapshot(&mut trained));
    assert_eq!(fresh.to_safetensors_bytes().unwrap(), bytes);

    let dir = directory("round-trip");
    let path = dir.join("model.safetensors");
    trained.save_safetensors(&path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    let mut from_file = net(3);
    from_file.load_safetensors(&path).unwrap();
    assert_eq!(snapshot(&mut from_file), snapshot(&mut trained));
    assert_eq!(
        listing(&dir),
        ["model.safetensors"],
        "no temporary file left"
    );
}

#[test]
fn files_hold_f64_in_pytorch_s_layout() {
    let mut layer =
        DenseLayer::from_parts(array![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], array![7.0, 8.0])
            .unwrap();
    let bytes = layer.to_safetensors_bytes().unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let weight = file.tensor("weight").unwrap();
    assert_eq!((weight.dtype(), weight.shape()), (Dtype::F64, &[2, 3][..]));
    let values: Vec<f64> = (weight.data().chunks_exact(8))
        .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(
        values,
        [1.0, 3.0, 5.0, 2.0, 4.0, 6.0],
        "nn.Linear's (outputs, inputs)"
    );
    assert_eq!(names(&bytes), ["bias", "weight"]);

    let mut prelu = PReluLayer::<f64>::new(3, 0.5).unwrap();
    let bytes = prelu.to_safetensors_bytes().unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(file.tensor("weight").unwrap().shape(), [3]);
    assert_eq!(names(&bytes), ["weight"]);
}

#[test]
fn single_layers_round_trip_through_files_and_bytes() {
    let dir = directory("single");
    let mut rng = StdRng::seed_from_u64(4);
    let mut trained = dense(5, 3, &mut rng);
    let path = dir.join("linear.safetensors");
    trained.save_safetensors(&path).unwrap();
    let mut copy = dense(5, 3, &mut rng);
    copy.load_safetensors(&path).unwrap();
    let bits = |d: &DenseLayer| {
        (d.weights().iter().chain(&d.bias()))
            .map(|v| v.to_bits())
            .collect::<Vec<_>>()
    };
    assert_eq!(bits(&copy), bits(&trained));

    let mut prelu = PReluLayer::from_slopes(array![-0.0, 5e-324, 0.3]).unwrap();
    let path = dir.join("prelu.safetensors");
    prelu.save_safetensors(&path).unwrap();
    let mut copy = PReluLayer::new(3, 0.25).unwrap();
    copy.load_safetensors(&path).unwrap();
    let bits = |p: &PReluLayer| p.slopes().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&copy), bits(&prelu));
    let mut copy = PReluLayer::new(3, 0.25).unwrap();
    copy.load_safetensors_bytes(&prelu.to_safetensors_bytes().unwrap())
        .unwrap();
    assert_eq!(bits(&copy), bits(&prelu));

    // A layer file and a one-layer network's differ by the prefix.
    let mut one = Sequential::<f64>::new();
    one.push(PReluLayer::new(3, 0.25).unwrap());
    let err = one.load_safetensors(&path).unwrap_err().to_string();
    assert!(
        err.ends_with(r#"missing tensor "0.weight", expected shape [3]"#),
        "{err}"
    );
}

#[test]
fn an_empty_network_saves_no_tensors() {
    let bytes = Sequential::<f64>::new().to_safetensors_bytes().unwrap();
    assert!(names(&bytes).is_empty());
    let mut relu_only = Sequential::<f64>::new();
    relu_only.push(ReluLayer::new());
    relu_only.load_safetensors_bytes(&bytes).unwrap();
    let mut other = net(1);
    let before = snapshot(&mut other);
    let err = other.load_safetensors_bytes(&bytes).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"<bytes>: missing tensor "0.weight", expected shape [4, 3]"#
    );
    assert_eq!(snapshot(&mut other), before);
}

/// A safetensors file of `(name, dtype, shape, data)` tensors.
fn file(tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
    let views = tensors.iter().map(|(name, dtype, shape, data)| {
        (
            *name,
            safetensors::tensor::TensorView::new(*dtype, shape.clone(), data).unwrap(),
        )
    });
    safetensors::serialize(views, None).unwrap()
}

/// The tensors of a good file of `net(1)`, as `file` takes them.
fn tensors() -> Vec<(String, Dtype, Vec<usize>, Vec<u8>)> {
    tensors_of(&net(1).to_safetensors_bytes().unwrap())
}

/// A file's tensors, `(name, dtype, shape, data)`, as `file` takes them.
type Entries = Vec<(String, Dtype, Vec<usize>, Vec<u8>)>;

/// The tensors of the file `bytes`, as `file` takes them.
fn tensors_of(bytes: &[u8]) -> Entries {
    let file = SafeTensors::deserialize(bytes).unwrap();
    (file.tensors().into_iter())
        .map(|(name, t)| (name, t.dtype(), t.shape().to_vec(), t.data().to_vec()))
        .collect()
}

/// `tensors()` changed by `edit`, as a file.
fn edited(edit: impl FnOnce(&mut Vec<(String, Dtype, Vec<usize>, Vec<u8>)>)) -> Vec<u8> {
    edited_from(tensors(), edit)
}

/// `all` changed by `edit`, as a file.
fn edited_from(mut all: Entries, edit: impl FnOnce(&mut Entries)) -> Vec<u8> {
    edit(&mut all);
    let borrowed: Vec<_> = (all.iter())
        .map(|(n, d, s, b)| (n.as_str(), *d, s.clone(), b.clone()))
        .collect();
    file(&borrowed)
}

/// Raw bytes: the header's length, the header, then `data`.
fn raw(header_len: u64, header: &str, data: &[u8]) -> Vec<u8> {
    let mut bytes = header_len.to_le_bytes().to_vec();
    bytes.extend(header.as_bytes());
    bytes.extend(data);
    bytes
}

/// `header` with its length, then `data`.
fn headed(header: &str, data: &[u8]) -> Vec<u8> {
    raw(header.len() as u64, header, data)
}

/// `bytes` is refused with a message that contains `message`, and neither
/// `net(2)`'s parameters nor its predictions change.
fn refused(bytes: &[u8], message: &str) -> SafetensorsError {
    let mut network = net(2);
    let before = snapshot(&mut network);
    let err = network.load_safetensors_bytes(bytes).unwrap_err();
    assert!(
        err.to_string().contains(message),
        "{err} does not contain {message}"
    );
    assert_eq!(snapshot(&mut network), before, "after {err}");
    network.forward(&x()).unwrap(); // and it still trains
    match err {
        LayerError::Safetensors(err) => *err,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_missing_tensor_is_refused_by_name_and_shape() {
    let bytes = edited(|all| all.retain(|t| t.0 != "2.0.bias"));
    let err = refused(
        &bytes,
        r#"<bytes>: missing tensor "2.0.bias", expected shape [4]"#,
    );
    assert!(matches!(err, SafetensorsError::Missing { ref tensor, .. } if tensor == "2.0.bias"));
}

#[test]
fn an_unexpected_tensor_is_refused_by_name_and_shape() {
    let bytes = edited(|all| all.push(("9.weight".into(), Dtype::F64, vec![1, 2], vec![0; 16])));
    refused(
        &bytes,
        r#"<bytes>: unexpected tensor "9.weight" of shape [1, 2]"#,
    );
    // PyTorch's `num_batches_tracked` and the like are refused too.
    let bytes = edited(|all| all.push(("0.running_mean".into(), Dtype::F64, vec![4], vec![0; 32])));
    refused(&bytes, r#"unexpected tensor "0.running_mean" of shape [4]"#);
}

#[test]
fn a_wrong_shape_is_refused_with_both_shapes() {
    // rectify's own (inputs, outputs) layout instead of nn.Linear's.
    let bytes = edited(|all| {
        let weight = all.iter_mut().find(|t| t.0 == "0.weight").unwrap();
        weight.2 = vec![3, 4];
    });
    let err = refused(
        &bytes,
        r#"<bytes>: tensor "0.weight" has shape [3, 4], expected [4, 3]"#,
    );
    assert_eq!(
        err,
        SafetensorsError::Shape {
            file: "<bytes>".into(),
            tensor: "0.weight".into(),
            expected: vec![4, 3],
            found: vec![3, 4]
        }
    );
    let bytes = edited(|all| {
        let slopes = all.iter_mut().find(|t| t.0 == "2.2.1.weight").unwrap();
        (slopes.2, slopes.3) = (vec![], slopes.3.clone()); // a scalar
    });
    refused(
        &bytes,
        r#"tensor "2.2.1.weight" has shape [], expected [1]"#,
    );
}

#[test]
fn dtypes_other_than_f64_and_f32_are_refused() {
    for (dtype, size, name) in [
        (Dtype::F16, 2, "F16"),
        (Dtype::BF16, 2, "BF16"),
        (Dtype::I64, 8, "I64"),
        (Dtype::U8, 1, "U8"),
    ] {
        let bytes = edited(|all| {
            let bias = all.iter_mut().find(|t| t.0 == "8.bias").unwrap();
            (bias.1, bias.3) = (dtype, vec![0; 2 * size]);
        });
        let message = format!(
            r#"<bytes>: tensor "8.bias" of shape [2] has dtype {name}, expected F64 or F32"#
        );
        refused(&bytes, &message);
    }
}

#[test]
fn f32_tensors_are_widened_exactly() {
    let weights: [f32; 6] = [0.1, -0.0, 1e-45, f32::MAX, -1.0 / 3.0, 16_777_217.0];
    let bias: [f32; 2] = [0.2, -7.5];
    let le = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let bytes = file(&[
        ("weight", Dtype::F32, vec![2, 3], le(&weights)),
        ("bias", Dtype::F32, vec![2], le(&bias)),
    ]);
    let mut dense = DenseLayer::<f64>::from_parts(Array2::zeros((3, 2)), Array1::zeros(2)).unwrap();
    dense.load_safetensors_bytes(&bytes).unwrap();
    let widened = weights.map(f64::from);
    assert_eq!(
        dense
            .weights()
            .t()
            .iter()
            .map(|v| v.to_bits())
            .collect::<Vec<_>>(),
        widened.map(f64::to_bits)
    );
    assert_eq!(dense.bias(), array![f64::from(0.2f32), -7.5]);
    assert_eq!(dense.bias()[0], 0.20000000298023224); // not 0.2
}

#[test]
fn a_nan_or_an_infinity_is_refused_as_from_parts_refuses_it() {
    for (value, shown) in [(f64::NAN, "NaN"), (f64::NEG_INFINITY, "-inf")] {
        let bytes = edited(|all| {
            let bias = all.iter_mut().find(|t| t.0 == "2.0.bias").unwrap();
            bias.3[16..24].copy_from_slice(&value.to_le_bytes());
        });
        let message = format!(
            r#"<bytes>: tensor "2.0.bias" holds {shown} at flat index 2, expected finite values"#
        );
        refused(&bytes, &message);
    }
    let bytes = file(&[(
        "weight",
        Dtype::F32,
        vec![1],
        f32::NAN.to_le_bytes().to_vec(),
    )]);
    assert!(PReluLayer::<f64>::default()
        .load_safetensors_bytes(&bytes)
        .is_err());
}

/// Non-finite values with distinct bits: NaN payloads and signs, ±inf.
const NOT_FINITE: [(u64, &str); 5] = [
    (0x7ff8_0000_0000_0000, "NaN"),
    (0xfff8_0000_0000_dead, "NaN"),
    (0x7ff0_0000_0000_0001, "NaN"), // signalling
    (0x7ff0_0000_0000_0000, "inf"),
    (0xfff0_0000_0000_0000, "-inf"),
];

/// Dense(3, 4), ReLU, Dense(4, 2): tensors 0.weight, 0.bias, 2.weight, 2.bias.
fn mlp(seed: u64) -> Sequential {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut net = Sequential::new();
    net.push(dense(3, 4, &mut rng))
        .push(ReluLayer::new())
        .push(dense(4, 2, &mut rng));
    net
}

#[test]
fn a_model_holding_nan_or_an_infinity_is_not_saved_and_no_file_appears() {
    let dir = directory("not-finite");
    let (path, kept) = (dir.join("model.safetensors"), dir.join("kept.safetensors"));
    let mut good = mlp(1);
    good.save_safetensors(&kept).unwrap();
    let good_bytes = std::fs::read(&kept).unwrap();
    for (bits, shown) in NOT_FINITE {
        let mut net = mlp(1);
        // 2.weight is (inputs, outputs) = (4, 2) here and (2, 4) in the
        // file: [3, 1] here is [1, 3] there, flat index 1·4 + 3 = 7.
        net.params()[2].value[[3, 1]] = f64::from_bits(bits);
        let before = snapshot(&mut net);
        let message =
            format!("tensor \"2.weight\" holds {shown} at flat index 7, expected finite values");

        let err = net.to_safetensors_bytes().unwrap_err();
        assert_eq!(err.to_string(), format!("<bytes>: {message}"));
        let LayerError::Safetensors(err) = err else {
            panic!("{err:?}")
        };
        assert!(matches!(
            *err,
            SafetensorsError::NotFinite { ref tensor, index: 7, value, .. }
                if tensor == "2.weight" && value.to_bits() == bits
        ));

        // No file appears, not even a temporary one.
        let err = net.save_safetensors(&path).unwrap_err();
        assert_eq!(err.to_string(), format!("{}: {message}", path.display()));
        assert_eq!(listing(&dir), ["kept.safetensors"], "{shown}");
        // A file already there is left as it was.
        let err = net.save_safetensors(&kept).unwrap_err();
        assert_eq!(err.to_string(), format!("{}: {message}", kept.display()));
        assert_eq!(std::fs::read(&kept).unwrap(), good_bytes);
        assert_eq!(listing(&dir), ["kept.safetensors"], "{shown}");
        // The network is unchanged, its NaN's bits included.
        assert_eq!(snapshot(&mut net).0, before.0);

        // Single layers too.
        let mut dense = DenseLayer::from_parts(array![[1.0, 2.0]], array![0.0, 0.5]).unwrap();
        dense.params()[1].value[[1]] = f64::from_bits(bits);
        let err = dense.save_safetensors(&path).unwrap_err();
        let message =
            format!("tensor \"bias\" holds {shown} at flat index 1, expected finite values");
        assert_eq!(err.to_string(), format!("{}: {message}", path.display()));
        assert!(dense.to_safetensors_bytes().is_err());
        let mut prelu = PReluLayer::new(3, 0.25).unwrap();
        prelu.params()[0].value[[2]] = f64::from_bits(bits);
        let err = prelu.to_safetensors_bytes().unwrap_err();
        let message =
            format!("tensor \"weight\" holds {shown} at flat index 2, expected finite values");
        assert_eq!(err.to_string(), format!("<bytes>: {message}"));
        assert!(prelu.save_safetensors(&path).is_err());
        assert_eq!(listing(&dir), ["kept.safetensors"], "{shown}");
    }
}

#[test]
fn what_a_save_writes_loads_back_and_what_it_refuses_never_reaches_the_disk() {
    use rectify::{loss, Adam, NonFinite};

    // The story of a diverged run: NaN in the data, a NaN loss, a NaN
    // gradient.
    let dir = directory("diverged");
    let path = dir.join("checkpoint.safetensors");
    let x = array![[0.5, f64::NAN, 2.0], [1.0, -1.0, 0.25]];
    let y = array![[1.0, 0.0], [0.0, 1.0]];
    let step = |net: &mut Sequential, adam: &mut Adam| -> rectify::Result<f64> {
        let (l, grad) = loss::mse(&net.forward(&x)?, &y)?;
        net.backward(&grad)?;
        adam.step(net)?;
        Ok(l)
    };

    // By default the step is refused, so the model stays finite, saves,
    // and loads back bit for bit.
    let mut net = mlp(3);
    net.save_safetensors(&path).unwrap();
    let before = std::fs::read(&path).unwrap();
    let mut adam = Adam::new(0.01).unwrap();
    let err = step(&mut net, &mut adam).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("Adam::step: parameter 0 (in params() order) would become NaN"),
        "{err}"
    );
    net.save_safetensors(&path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let mut back = mlp(4);
    back.load_safetensors(&path).unwrap();
    assert_eq!(snapshot(&mut back), snapshot(&mut net));

    // Written as PyTorch writes it, the NaN reaches the weights; the save
    // then refuses, naming the first tensor that holds one, and the last
    // good checkpoint stays.
    let mut adam = Adam::new(0.01).unwrap().with_non_finite(NonFinite::Write);
    assert!(step(&mut net, &mut adam).unwrap().is_nan());
    let err = net.save_safetensors(&path).unwrap_err();
    assert!(
        err.to_string()
            .ends_with(r#"tensor "0.weight" holds NaN at flat index 0, expected finite values"#),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(listing(&dir), ["checkpoint.safetensors"]);
}

#[test]
fn truncated_and_garbage_bytes_are_refused() {
    let good = net(1).to_safetensors_bytes().unwrap();
    let header_len = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    for cut in [
        0,
        1,
        7,
        8,
        9,
        8 + header_len / 2,
        8 + header_len,
        good.len() - 1,
    ] {
        let err = refused(&good[..cut], "<bytes>: not a valid safetensors file");
        assert!(
            matches!(err, SafetensorsError::Format { .. }),
            "{cut}: {err:?}"
        );
    }
    let mut longer = good.clone();
    longer.push(0);
    refused(&longer, "not a valid safetensors file");
    refused(
        b"this is not a model at all, only text",
        "not a valid safetensors file",
    );
    let mut rng = StdRng::seed_from_u64(5);
    let noise: Vec<u8> = (0..4096).map(|_| rng.random()).collect();
    refused(&noise, "not a valid safetensors file");
    // A PyTorch pickle (`torch.save`) starts with a zip header.
    refused(
        b"PK\x03\x04\x14\x00\x00\x00\x08\x00",
        "not a valid safetensors file",
    );
}

#[test]
fn malformed_headers_are_refused() {
    let cases: [(Vec<u8>, &str); 8] = [
        (raw(u64::MAX, "{}", b""), "header too large"),
        (raw(100_000_001, "{}", b""), "header too large"),
        (raw(1 << 20, "{}", b""), "invalid header length"),
        (raw(10, "{not json}", b""), "invalid JSON"),
        (raw(2, "\u{ff}", b""), "not a valid safetensors file"),
        // A shape whose element count overflows usize.
        (
            headed(
                r#"{"0.weight":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}}"#,
                &[0; 8],
            ),
            "overflow",
        ),
        // Offsets that do not match the shape.
        (
            headed(
                r#"{"0.weight":{"dtype":"F64","shape":[4,3],"data_offsets":[0,8]}}"#,
                &[0; 8],
            ),
            "invalid shape, data type, or offset",
        ),
        (
            headed(
                r#"{"0.weight":{"dtype":"F64","shape":[1,1],"data_offsets":[8,16]}}"#,
                &[0; 16],
            ),
            "invalid offset",
        ),
    ];
    for (bytes, message) in cases {
        let err = refused(&bytes, message);
        assert!(matches!(err, SafetensorsError::Format { .. }), "{err:?}");
    }
}

#[test]
fn unreadable_paths_are_refused_and_change_nothing() {
    let dir = directory("unreadable");
    let mut network = net(2);
    let before = snapshot(&mut network);
    let missing = dir.join("missing.safetensors");
    let err = network.load_safetensors(&missing).unwrap_err();
    let message = format!("{}: cannot read: ", missing.display());
    assert!(err.to_string().starts_with(&message), "{err}");
    let LayerError::Safetensors(inner) = &err else {
        panic!("{err:?}")
    };
    let SafetensorsError::Io { source, .. } = &**inner else {
        panic!("{err:?}")
    };
    assert_eq!(source.get_ref().kind(), std::io::ErrorKind::NotFound);
    assert!(
        std::error::Error::source(&err).is_some(),
        "the io::Error is the source"
    );
    assert!(network.load_safetensors(&dir).is_err(), "a directory");
    let garbage = dir.join("garbage.safetensors");
    std::fs::write(&garbage, b"garbage").unwrap();
    let err = network.load_safetensors(&garbage).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "{}: not a valid safetensors file",
            garbage.display()
        )),
        "{err}"
    );
    assert_eq!(snapshot(&mut network), before);
}

#[test]
fn saves_replace_the_file_whole_or_leave_it_alone() {
    let dir = directory("atomic");
    let path = dir.join("model.safetensors");
    let mut first = net(1);
    first.save_safetensors(&path).unwrap();
    let mut second = net(2);
    second.save_safetensors(&path).unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        second.to_safetensors_bytes().unwrap()
    );

    // A save that fails leaves the old file as it was, and no other file.
    let mut unnamed = Sequential::new();
    unnamed.push(ReluLayer::new()).push(Scale::new());
    let err = unnamed.save_safetensors(&path).unwrap_err();
    let message = format!(
        "{}: layer 1 (Scale) has parameters that safetensors cannot name",
        path.display()
    );
    assert_eq!(err.to_string(), message);
    let err = second.save_safetensors(&dir).unwrap_err().to_string(); // a directory
    assert!(err.contains("cannot write"), "{err}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        second.to_safetensors_bytes().unwrap()
    );
    assert_eq!(listing(&dir), ["model.safetensors"]);

    let nowhere = dir.join("no").join("such").join("directory.safetensors");
    let err = second.save_safetensors(&nowhere).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("{}: cannot write: ", nowhere.display())),
        "{err}"
    );
    assert_eq!(listing(&dir), ["model.safetensors"]);
}

#[test]
fn layers_the_format_cannot_name_are_errors_with_their_index_and_type() {
    let mut inner = Sequential::new();
    inner.push(ReluLayer::new()).push(Scale::new());
    let mut nested = Sequential::new();
    nested.push(Negate).push(ReluLayer::new()).push(inner);
    let err = nested.to_safetensors_bytes().unwrap_err();
    assert_eq!(
        err.to_string(),
        "<bytes>: layer 2.1 (Scale) has parameters that safetensors cannot name"
    );
    let bytes = Sequential::<f64>::new().to_safetensors_bytes().unwrap();
    assert!(nested.load_safetensors_bytes(&bytes).is_err());

    // A boxed layer hides its type: a parameter-free one is fine (see
    // `net`), one with parameters is not.
    let boxed: Box<dyn Layer> =
        Box::new(DenseLayer::from_parts(array![[1.0]], array![0.0]).unwrap());
    let mut net = Sequential::new();
    net.push(boxed);
    let err = net.to_safetensors_bytes().unwrap_err();
    assert_eq!(
        err.to_string(),
        "<bytes>: layer 0 (Box<dyn Layer>) has parameters that safetensors cannot name"
    );
}

// f32 networks: F32 files, F64 rounded to nearest on the way in.

/// `f32` bit patterns a lossy copy would change: ±0.0, subnormals, extremes.
const SPECIAL_F32: [f32; 6] = [-0.0, 1e-45, -1.1754942e-38, f32::MAX, -1.0 / 3.0, 0.1];

/// `dense`'s `f32` twin: random weights from `rng`, some of them
/// `SPECIAL_F32`.
fn dense32(inputs: usize, outputs: usize, rng: &mut StdRng) -> DenseLayer<f32> {
    let mut draw = |i: usize| match i % 7 {
        6 => SPECIAL_F32[rng.random_range(0..SPECIAL_F32.len())],
        _ => rng.random_range(-1.0..1.0),
    };
    let weights = Array2::from_shape_fn((inputs, outputs), |(i, j)| draw(i * outputs + j));
    let bias = Array1::from_shape_fn(outputs, |j| draw(j + 3));
    DenseLayer::from_parts(weights, bias).unwrap()
}

/// `net`'s architecture in `f32` (the boxed layer a `Box<dyn Layer<f32>>`,
/// no `Negate`, whose place keeps an `f32` ReLU so that the names are
/// `NAMES`).
fn net32(seed: u64) -> Sequential<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut slopes = |n| Array1::from_shape_fn(n, |_| rng.random_range(-0.5f32..0.5));
    let (prelu4, prelu1) = (slopes(4), slopes(1));
    let mut rng = StdRng::seed_from_u64(seed + 100);
    let mut innermost = Sequential::new();
    innermost
        .push(LeakyReluLayer::new(0.2).unwrap())
        .push(PReluLayer::from_slopes(prelu1).unwrap());
    let mut inner = Sequential::new();
    inner
        .push(dense32(4, 4, &mut rng))
        .push(PReluLayer::from_slopes(prelu4).unwrap())
        .push(innermost);
    let boxed: Box<dyn Layer<f32>> = Box::new(ReluLayer::new());
    let mut net = Sequential::new();
    net.push(dense32(3, 4, &mut rng))
        .push(ReluLayer::new())
        .push(inner)
        .push(RReluLayer::default())
        .push(ClippedReluLayer::relu6())
        .push(ThresholdLayer::new(-0.5, -0.25).unwrap())
        .push(boxed)
        .push(ReluLayer::new())
        .push(dense32(4, 2, &mut rng));
    net
}

/// Every parameter's bits, and the bits of the prediction on `x()` in f32.
fn snapshot32(net: &mut Sequential<f32>) -> (Vec<Vec<u32>>, Vec<u32>) {
    let params = (net.params().iter())
        .map(|p| p.value.iter().map(|v| v.to_bits()).collect())
        .collect();
    let y = net.predict(&x().mapv(|v| v as f32)).unwrap();
    (params, y.iter().map(|v| v.to_bits()).collect())
}

/// The dtypes of a safetensors file's tensors, without repeats.
fn dtypes(bytes: &[u8]) -> Vec<Dtype> {
    let file = SafeTensors::deserialize(bytes).unwrap();
    let mut dtypes: Vec<Dtype> = file.tensors().iter().map(|(_, t)| t.dtype()).collect();
    dtypes.dedup();
    dtypes
}

#[test]
fn an_f32_network_round_trips_bit_for_bit_through_f32_tensors() {
    let mut trained = net32(1);
    let bytes = trained.to_safetensors_bytes().unwrap();
    assert_eq!(names(&bytes), NAMES);
    assert_eq!(dtypes(&bytes), [Dtype::F32]);
    // Half the bytes of the f64 file's data.
    let f64_bytes = net(1).to_safetensors_bytes().unwrap();
    assert!(bytes.len() < f64_bytes.len(), "{}", bytes.len());

    let mut fresh = net32(2);
    assert_ne!(snapshot32(&mut fresh), snapshot32(&mut trained));
    fresh.load_safetensors_bytes(&bytes).unwrap();
    assert_eq!(snapshot32(&mut fresh), snapshot32(&mut trained));
    assert_eq!(fresh.to_safetensors_bytes().unwrap(), bytes);

    let dir = directory("round-trip-f32");
    let path = dir.join("model.safetensors");
    trained.save_safetensors(&path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    let mut from_file = net32(3);
    from_file.load_safetensors(&path).unwrap();
    assert_eq!(snapshot32(&mut from_file), snapshot32(&mut trained));
    assert_eq!(listing(&dir), ["model.safetensors"]);

    // Single layers: a DenseLayer<f32> and a PReluLayer<f32>.
    let mut rng = StdRng::seed_from_u64(6);
    let mut dense = dense32(5, 3, &mut rng);
    let path = dir.join("linear.safetensors");
    dense.save_safetensors(&path).unwrap();
    let mut copy = dense32(5, 3, &mut rng);
    copy.load_safetensors(&path).unwrap();
    let bits = |d: &DenseLayer<f32>| {
        (d.weights().iter().chain(&d.bias()))
            .map(|v| v.to_bits())
            .collect::<Vec<_>>()
    };
    assert_eq!(bits(&copy), bits(&dense));
    let mut prelu = PReluLayer::from_slopes(array![-0.0f32, 1e-45, 0.3]).unwrap();
    let mut copy = PReluLayer::<f32>::new(3, 0.25).unwrap();
    copy.load_safetensors_bytes(&prelu.to_safetensors_bytes().unwrap())
        .unwrap();
    let bits = |p: &PReluLayer<f32>| p.slopes().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&copy), bits(&prelu));
}

#[test]
fn files_of_f32_layers_hold_f32_in_pytorch_s_layout() {
    let mut layer = DenseLayer::from_parts(
        array![[1.0f32, 2.0], [3.0, 4.0], [5.0, 0.1]],
        array![7.0, -0.0],
    )
    .unwrap();
    let bytes = layer.to_safetensors_bytes().unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let weight = file.tensor("weight").unwrap();
    assert_eq!((weight.dtype(), weight.shape()), (Dtype::F32, &[2, 3][..]));
    let values: Vec<u32> = (weight.data().chunks_exact(4))
        .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let expected = [1.0f32, 3.0, 5.0, 2.0, 4.0, 0.1].map(f32::to_bits);
    assert_eq!(values, expected, "nn.Linear's (outputs, inputs), f32 bits");
    let bias = file.tensor("bias").unwrap();
    assert_eq!(
        (bias.dtype(), bias.data()),
        (Dtype::F32, &[0, 0, 0xe0, 0x40, 0, 0, 0, 0x80][..])
    );

    let mut prelu = PReluLayer::<f32>::new(3, 0.5).unwrap();
    let bytes = prelu.to_safetensors_bytes().unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let weight = file.tensor("weight").unwrap();
    assert_eq!((weight.dtype(), weight.shape()), (Dtype::F32, &[3][..]));
    assert_eq!(weight.data(), 0.5f32.to_le_bytes().repeat(3));
}

/// A one-tensor-pair file for a `DenseLayer` of `(inputs, outputs)`: F64
/// `weight` of `weights` (PyTorch's layout, row-major) and a zero F64 bias.
fn f64_linear(outputs: usize, inputs: usize, weights: &[f64]) -> Vec<u8> {
    let le = |v: &[f64]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    file(&[
        ("weight", Dtype::F64, vec![outputs, inputs], le(weights)),
        ("bias", Dtype::F64, vec![outputs], le(&vec![0.0; outputs])),
    ])
}

#[test]
fn an_f32_network_rounds_f64_tensors_to_nearest() {
    // Ties to even, subnormals, underflow to ±0, and the largest value that
    // still rounds down to f32::MAX.
    let below_overflow = (f64::from(f32::MAX) + 2f64.powi(103)).next_down();
    let weights = [
        0.1,
        -1.0 / 3.0,
        16_777_217.0, // halfway between two f32s: to the even one, 16777216
        16_777_219.0, // halfway: to 16777220
        1e-40,        // an f32 subnormal
        1e-46,        // below half the smallest subnormal: +0.0
        -1e-300,      // -0.0
        below_overflow,
        -below_overflow,
        0.7,
        1e30,
        -2.5e-39,
    ];
    let bytes = f64_linear(3, 4, &weights);
    let mut dense = DenseLayer::<f32>::from_parts(Array2::zeros((4, 3)), Array1::zeros(3)).unwrap();
    dense.load_safetensors_bytes(&bytes).unwrap();
    let got: Vec<u32> = dense.weights().t().iter().map(|v| v.to_bits()).collect();
    let rounded: Vec<u32> = weights.iter().map(|&v| (v as f32).to_bits()).collect();
    assert_eq!(got, rounded);
    assert_eq!(dense.weights()[[0, 0]], 0.1f32);
    assert_eq!(dense.weights()[[2, 0]], 16_777_216.0); // weight[0][2]
    assert_eq!(dense.weights()[[2, 1]].to_bits(), 0x8000_0000); // -1e-300: -0.0
    assert_eq!(dense.weights()[[3, 1]], f32::MAX);

    // A whole network: an f64 network's file (without values beyond f32)
    // into its f32 twin, each value rounded as `as f32` rounds it.
    let mut wide = mlp(7);
    let mut narrow = {
        let mut rng = StdRng::seed_from_u64(8);
        let mut net = Sequential::<f32>::new();
        net.push(dense32(3, 4, &mut rng))
            .push(ReluLayer::new())
            .push(dense32(4, 2, &mut rng));
        net
    };
    for p in wide.params() {
        for v in p.value {
            if v.abs() > 1e30 {
                *v = 1e30; // SPECIAL's 1e300 overflows f32: see below
            }
        }
    }
    narrow
        .load_safetensors_bytes(&wide.to_safetensors_bytes().unwrap())
        .unwrap();
    let (wide_params, narrow_params) = (wide.params(), narrow.params());
    for (w, n) in wide_params.iter().zip(&narrow_params) {
        let expected: Vec<u32> = w.value.iter().map(|&v| (v as f32).to_bits()).collect();
        let got: Vec<u32> = n.value.iter().map(|v| v.to_bits()).collect();
        assert_eq!(got, expected);
    }

    // PReLU too.
    let slopes = [0.1f64, -0.0, 1e-320];
    let le = slopes.iter().flat_map(|x| x.to_le_bytes()).collect();
    let bytes = file(&[("weight", Dtype::F64, vec![3], le)]);
    let mut prelu = PReluLayer::<f32>::new(3, 0.25).unwrap();
    prelu.load_safetensors_bytes(&bytes).unwrap();
    let got: Vec<u32> = prelu.slopes().iter().map(|v| v.to_bits()).collect();
    assert_eq!(got, [0.1f32.to_bits(), 0x8000_0000, 0]);
}

#[test]
fn an_f64_value_that_overflows_f32_is_refused_by_an_f32_network_naming_the_tensor() {
    let overflow = f64::from(f32::MAX) + 2f64.powi(103); // rounds to inf (ties to even)
    assert_eq!(overflow as f32, f32::INFINITY);
    for (value, shown) in [
        (1e300, "1e300"),
        (-1e300, "-1e300"),
        (overflow, "3.4028235677973366e38"),
        (-f64::MAX, "-1.7976931348623157e308"),
    ] {
        let mut weights = [0.5; 6];
        weights[4] = value;
        let bytes = f64_linear(2, 3, &weights);
        let mut dense = DenseLayer::from_parts(
            array![[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]],
            array![7.0, 8.0],
        )
        .unwrap();
        let before = dense.clone();
        let err = dense.load_safetensors_bytes(&bytes).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                r#"<bytes>: tensor "weight" holds {shown} at flat index 4, which overflows f32, the model's element type"#
            )
        );
        let LayerError::Safetensors(inner) = err else {
            panic!("{err:?}")
        };
        assert!(matches!(
            *inner,
            SafetensorsError::Overflow { ref tensor, index: 4, value: v, element_type: "f32", .. }
                if tensor == "weight" && v == value
        ));
        assert_eq!(dense.weights(), before.weights(), "nothing loaded");
        assert_eq!(dense.bias(), before.bias());
        // An f64 layer takes it.
        let mut wide =
            DenseLayer::<f64>::from_parts(Array2::zeros((3, 2)), Array1::zeros(2)).unwrap();
        wide.load_safetensors_bytes(&bytes).unwrap();
        assert_eq!(wide.weights()[[1, 1]], value);
    }

    // In a network, after tensors that were fine: nothing is loaded. net(1)
    // holds SPECIAL's 1e300 somewhere.
    let bytes = net(1).to_safetensors_bytes().unwrap();
    let mut narrow = net32(2);
    let before = snapshot32(&mut narrow);
    let err = narrow.load_safetensors_bytes(&bytes).unwrap_err();
    assert!(
        err.to_string().contains("holds 1e300 at flat index")
            && err
                .to_string()
                .ends_with("which overflows f32, the model's element type"),
        "{err}"
    );
    assert_eq!(snapshot32(&mut narrow), before);
    narrow.forward(&x().mapv(|v| v as f32)).unwrap();
}

#[test]
fn an_f32_network_refuses_what_an_f64_one_refuses() {
    let mut net = net32(2);
    let before = snapshot32(&mut net);
    // NaN in an F32 file and in an F64 one.
    let nan32 = file(&[(
        "weight",
        Dtype::F32,
        vec![1],
        f32::NAN.to_le_bytes().to_vec(),
    )]);
    let err = PReluLayer::<f32>::default()
        .load_safetensors_bytes(&nan32)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"<bytes>: tensor "weight" holds NaN at flat index 0, expected finite values"#
    );
    let good = net32(1).to_safetensors_bytes().unwrap();
    // `edited`, from net32(1)'s file.
    let edited = |edit: &dyn Fn(&mut Entries)| edited_from(tensors_of(&good), edit);
    let bytes = edited(&|all| {
        let bias = all.iter_mut().find(|t| t.0 == "2.0.bias").unwrap();
        bias.3[8..12].copy_from_slice(&f32::INFINITY.to_le_bytes());
    });
    let err = net.load_safetensors_bytes(&bytes).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"<bytes>: tensor "2.0.bias" holds inf at flat index 2, expected finite values"#
    );
    // An F64 file's NaN; its 1e300 would overflow, but comes later.
    let bytes = edited_from(tensors(), |all| {
        let weight = all.iter_mut().find(|t| t.0 == "0.weight").unwrap();
        weight.3[8..16].copy_from_slice(&f64::NAN.to_le_bytes());
    });
    let err = net.load_safetensors_bytes(&bytes).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"<bytes>: tensor "0.weight" holds NaN at flat index 1, expected finite values"#
    );
    // A missing tensor, a wrong shape, a wrong dtype.
    let bytes = good.clone();
    let mut short = Sequential::<f32>::new();
    short.push(dense32(3, 4, &mut StdRng::seed_from_u64(9)));
    let err = short.load_safetensors_bytes(&bytes).unwrap_err();
    assert!(
        err.to_string().starts_with("<bytes>: unexpected tensor"),
        "{err}"
    );
    let bytes = edited(&|all| {
        let weight = all.iter_mut().find(|t| t.0 == "0.weight").unwrap();
        weight.2 = vec![3, 4];
    });
    let err = net.load_safetensors_bytes(&bytes).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"<bytes>: tensor "0.weight" has shape [3, 4], expected [4, 3]"#
    );
    let bytes = edited(&|all| {
        let bias = all.iter_mut().find(|t| t.0 == "8.bias").unwrap();
        (bias.1, bias.3) = (Dtype::F16, vec![0; 4]);
    });
    let err = net.load_safetensors_bytes(&bytes).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("has dtype F16, expected F64 or F32"),
        "{err}"
    );
    assert_eq!(snapshot32(&mut net), before);

    // A save refuses a NaN or an infinity, naming the tensor; no file.
    let dir = directory("not-finite-f32");
    let path = dir.join("model.safetensors");
    for (value, shown) in [(f32::NAN, "NaN"), (f32::NEG_INFINITY, "-inf")] {
        let mut net = net32(1);
        net.params()[0].value[[2, 1]] = value; // [1, 2] in the file: flat index 5
        let err = net.save_safetensors(&path).unwrap_err();
        let message =
            format!(r#"tensor "0.weight" holds {shown} at flat index 5, expected finite values"#);
        assert_eq!(err.to_string(), format!("{}: {message}", path.display()));
        assert_eq!(
            net.to_safetensors_bytes().unwrap_err().to_string(),
            format!("<bytes>: {message}")
        );
        assert!(listing(&dir).is_empty());
    }
}

#[test]
fn an_f64_network_widens_an_f32_network_s_file_exactly() {
    let mut narrow = net32(1);
    let bytes = narrow.to_safetensors_bytes().unwrap();
    let mut wide = net(2);
    wide.load_safetensors_bytes(&bytes).unwrap();
    let (narrow_params, wide_params) = (narrow.params(), wide.params());
    for (n, w) in narrow_params.iter().zip(&wide_params) {
        let expected: Vec<u64> = n.value.iter().map(|&v| f64::from(v).to_bits()).collect();
        let got: Vec<u64> = w.value.iter().map(|v| v.to_bits()).collect();
        assert_eq!(got, expected);
    }
    // And it saves F64, which the f32 network loads back bit for bit.
    let wide_bytes = wide.to_safetensors_bytes().unwrap();
    assert_eq!(dtypes(&wide_bytes), [Dtype::F64]);
    let mut back = net32(3);
    back.load_safetensors_bytes(&wide_bytes).unwrap();
    assert_eq!(snapshot32(&mut back), snapshot32(&mut narrow));
}
