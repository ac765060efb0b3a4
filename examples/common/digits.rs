//! The UCI optical digits (`examples/data/digits.csv.gz`, scikit-learn's
//! copy; see `examples/data/LICENSE-digits.md`), and the training loop
//! shared by `examples/train_digits.rs` and `tests/digits.rs`.

use std::error::Error;
use std::io::Read;

use flate2::read::GzDecoder;
use rectify::loss::softmax_cross_entropy;
use rectify::ndarray::{Array2, ArrayRef2, Axis};
use rectify::rand::{rngs::StdRng, seq::SliceRandom, SeedableRng};
use rectify::{
    ActivityStats, DenseLayer, Float, Layer, LayerError, Optimizer, ReluLayer, Sequential,
};

/// The file, compiled in: nothing is read or fetched at run time.
const GZIP: &[u8] = include_bytes!("../data/digits.csv.gz");
/// 8x8 pixels per image.
pub const PIXELS: usize = 64;
/// The digits 0 to 9.
pub const CLASSES: usize = 10;
/// A pixel counts the set pixels of a 4x4 block: 0 to 16.
const MAX_PIXEL: f64 = 16.0;

/// Images as rows of pixels scaled to [0, 1], and their digits.
pub struct Digits {
    pub x: Array2<f64>,
    pub labels: Vec<usize>,
}

impl Digits {
    /// All 1797 images.
    ///
    /// # Errors
    ///
    /// If the file does not decompress, or a row does not hold 64 pixels in
    /// 0..=16 and a digit; the message names the row.
    pub fn load() -> Result<Self, Box<dyn Error>> {
        let mut csv = String::new();
        GzDecoder::new(GZIP).read_to_string(&mut csv)?;
        let (mut pixels, mut labels) = (Vec::new(), Vec::new());
        for (row, line) in csv.lines().enumerate() {
            let values: Vec<u8> = line.split(',').map(str::parse).collect::<Result<_, _>>()?;
            match values.split_last() {
                Some((&label, image))
                    if image.len() == PIXELS
                        && usize::from(label) < CLASSES
                        && image.iter().all(|&p| f64::from(p) <= MAX_PIXEL) =>
                {
                    pixels.extend(image.iter().map(|&p| f64::from(p) / MAX_PIXEL));
                    labels.push(usize::from(label));
                }
                _ => return Err(format!("digits.csv row {row}: not 64 pixels and a digit").into()),
            }
        }
        let x = Array2::from_shape_vec((labels.len(), PIXELS), pixels)?;
        Ok(Digits { x, labels })
    }

    /// `(train, test)`: the images in an order shuffled from `seed`, the
    /// first `test` of them for testing.
    pub fn split(&self, test: usize, seed: u64) -> (Digits, Digits) {
        let mut order: Vec<usize> = (0..self.labels.len()).collect();
        order.shuffle(&mut StdRng::seed_from_u64(seed));
        let (test_rows, train_rows) = order.split_at(test.min(order.len()));
        (self.select(train_rows), self.select(test_rows))
    }

    /// The images and their digits, as [`train_epoch`] and [`evaluate`]
    /// take them.
    pub fn samples(&self) -> (&ArrayRef2<f64>, &[usize]) {
        (&self.x, &self.labels)
    }

    fn select(&self, rows: &[usize]) -> Digits {
        Digits {
            x: self.x.select(Axis(0), rows),
            labels: rows.iter().map(|&i| self.labels[i]).collect(),
        }
    }
}

/// Dense(64 → `hidden`) → `activation` → Dense(`hidden` → 10), He-normal
/// weights from `seed`: the same seed gives the same weights whatever the
/// activation.
pub fn mlp<A: Float>(hidden: usize, activation: Box<dyn Layer<A>>, seed: u64) -> Sequential<A> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut net = Sequential::new();
    net.push(DenseLayer::new(PIXELS, hidden, &mut rng))
        .push(activation)
        .push(DenseLayer::new(hidden, CLASSES, &mut rng));
    net
}

/// One pass over the samples `x` (rows) and their `labels` in
/// mini-batches of `batch`, in an order shuffled by `rng`, one softmax
/// cross-entropy step of `optimizer` per batch.
pub fn train_epoch<A: Float>(
    net: &mut Sequential<A>,
    optimizer: &mut dyn Optimizer<A>,
    (x, labels): (&ArrayRef2<A>, &[usize]),
    batch: usize,
    rng: &mut StdRng,
) -> Result<(), LayerError> {
    let mut order: Vec<usize> = (0..labels.len()).collect();
    order.shuffle(rng);
    for rows in order.chunks(batch) {
        let batch_labels: Vec<usize> = rows.iter().map(|&i| labels[i]).collect();
        let logits = net.forward_owned(x.select(Axis(0), rows))?;
        let (_, grad) = softmax_cross_entropy(&logits, &batch_labels)?;
        net.backward_owned(grad)?;
        optimizer.step(net)?;
    }
    Ok(())
}

/// A network on a data set.
pub struct Evaluation {
    /// Mean softmax cross-entropy.
    pub loss: f64,
    /// The fraction of samples whose largest logit is their label's.
    pub accuracy: f64,
    /// The fraction of hidden units that are *dead* on the set: their
    /// pre-activation is not above 0 for any sample, so ReLU passes them no
    /// gradient (Leaky ReLU and PReLU pass slope·g). Counted by
    /// `ActivityStats` from a ReLU mask of the pre-activations, the one
    /// definition for every activation here.
    pub dead: f64,
}

/// `net` (whose layer 0 is the hidden `DenseLayer`) on the samples `x`
/// and their `labels`, by `predict`: nothing in the network changes.
///
/// # Errors
///
/// If a layer rejects the data, or layer 0 is not a `DenseLayer`.
pub fn evaluate<A: Float>(
    net: &Sequential<A>,
    (x, labels): (&ArrayRef2<A>, &[usize]),
) -> Result<Evaluation, Box<dyn Error>> {
    let logits = net.predict(x)?;
    let (loss, _) = softmax_cross_entropy(&logits, labels)?;
    let correct = (logits.axis_iter(Axis(0)).zip(labels))
        .filter(|(row, &label)| argmax(row.iter()) == label)
        .count();
    Ok(Evaluation {
        loss: loss.widen(),
        accuracy: correct as f64 / labels.len() as f64,
        dead: hidden_activity(net, x)?.dead_fraction(),
    })
}

/// How often each hidden unit of `net` (whose layer 0 is the hidden
/// `DenseLayer`) has a pre-activation above 0 on the samples `x`.
///
/// # Errors
///
/// If the layer rejects `x`, or layer 0 is not a `DenseLayer`.
pub fn hidden_activity<A: Float>(
    net: &Sequential<A>,
    x: &ArrayRef2<A>,
) -> Result<ActivityStats, Box<dyn Error>> {
    let hidden: &DenseLayer<A> = net.layer(0).ok_or("layer 0 is not a DenseLayer")?;
    let mut probe = ReluLayer::new();
    probe.forward_owned(hidden.predict(x)?)?;
    let mask = probe.mask().ok_or("the probe ran no forward")?;
    let mut activity = ActivityStats::new(mask.shape().1);
    activity.record(mask)?;
    Ok(activity)
}

/// The index of the largest value (the first, on ties).
pub fn argmax<'a, A: Float>(values: impl Iterator<Item = &'a A>) -> usize {
    let mut best = (0, A::neg_infinity());
    for (i, &v) in values.enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    best.0
}
