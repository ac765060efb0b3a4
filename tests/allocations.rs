//! What the layers allocate, counted by a global allocator: the activations'
//! cached mask costs one bit per element (RReLU's slopes are regenerated,
//! not stored), a steady-state training step through them allocates
//! nothing, and `forward`/`predict` allocate only their result. PReLU, which
//! needs its input for the slope gradient, caches it once and reuses the
//! buffer. A training step of a whole MLP allocates the arrays the contract
//! returns, the `params()` vectors, and `gemm`'s packing buffers.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};

use rectify::loss::softmax_cross_entropy;
use rectify::ndarray::Array2;
use rectify::rand::{rngs::StdRng, SeedableRng};
use rectify::{
    ClippedReluLayer, DenseLayer, Layer, LeakyReluLayer, PReluLayer, Param, RReluLayer, ReluLayer,
    Sequential, Sgd, ThresholdLayer,
};

/// Counts the allocations of the current thread (the test harness runs
/// tests on several threads at once).
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    static BYTES: Cell<usize> = const { Cell::new(0) };
    /// The size of each allocation, while [`sizes`] runs.
    static SIZES: RefCell<Option<Vec<usize>>> = const { RefCell::new(None) };
}

fn record(size: usize) {
    let _ = SIZES.try_with(|sizes| {
        if let Ok(mut sizes) = sizes.try_borrow_mut() {
            // Only into room made beforehand: a push that grew the vector
            // would allocate inside the allocator.
            if let Some(sizes) = sizes.as_mut().filter(|s| s.len() < s.capacity()) {
                sizes.push(size);
            }
        }
    });
    // `try_with`: the thread-local may already be gone while a thread exits.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    let _ = BYTES.try_with(|b| b.set(b.get() + size));
}

// SAFETY: every call is forwarded to `System` unchanged; the counters are
// const-initialized thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: the caller's guarantees for `layout` are `System`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size);
        // SAFETY: as for `alloc`; `ptr` came from this allocator, which is `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, which is `System`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// `f`'s result, with the number of allocations and bytes it made.
fn counted<T>(f: impl FnOnce() -> T) -> (T, usize, usize) {
    let (n0, b0) = (ALLOCATIONS.with(Cell::get), BYTES.with(Cell::get));
    let out = f();
    let (n1, b1) = (ALLOCATIONS.with(Cell::get), BYTES.with(Cell::get));
    (out, n1 - n0, b1 - b0)
}

/// The size of each allocation `f` makes (up to 10,000 of them).
fn sizes(f: impl FnOnce()) -> Vec<usize> {
    SIZES.with(|s| *s.borrow_mut() = Some(Vec::with_capacity(10_000)));
    f();
    SIZES.with(|s| s.borrow_mut().take()).expect("set above")
}

/// Uniform-ish values on both sides of zero, including exact zeros.
fn input(shape: (usize, usize)) -> Array2<f64> {
    Array2::from_shape_fn(shape, |(i, j)| ((i * 7 + j * 13) % 11) as f64 - 5.0)
}

/// Makers of fresh layers, one of each member whose cache is the mask alone.
fn layers() -> [fn() -> Box<dyn Layer>; 5] {
    [
        || Box::new(ReluLayer::new()),
        || Box::new(LeakyReluLayer::default()),
        || Box::new(ClippedReluLayer::relu6()),
        || Box::new(ThresholdLayer::new(0.5, -1.0).unwrap()),
        || Box::new(RReluLayer::default()),
    ]
}

/// Shapes whose sizes are and are not multiples of 64, all below the size
/// from which the `rayon` feature hands work to other threads (whose
/// allocations these thread-local counters would not see).
const SHAPES: [(usize, usize); 4] = [(64, 128), (3, 7), (33, 65), (500, 1000)];

#[test]
fn the_mask_costs_one_bit_per_element() {
    for make in layers() {
        for shape in SHAPES {
            let n = shape.0 * shape.1;
            let mask_bytes = n.div_ceil(64) * 8;
            // A fresh layer's first forward_owned allocates the mask and
            // nothing else (the input's buffer becomes the output).
            let mut fresh = make();
            let x = input(shape);
            let (_, count, bytes) = counted(|| fresh.forward_owned(x).unwrap());
            assert_eq!((count, bytes), (1, mask_bytes), "{shape:?}");
            let bits_per_element = 8.0 * bytes as f64 / n as f64;
            println!("{shape:?}: mask {bytes} bytes, {bits_per_element:.3} bits per element");
            assert!(bits_per_element <= 1.0 + 64.0 / n as f64);

            // forward through a reference: the output and the mask.
            let (mut fresh, x) = (make(), input(shape));
            let (_, count, bytes) = counted(|| fresh.forward(&x).unwrap());
            assert!(
                count <= 2 && bytes <= n * 8 + mask_bytes,
                "{shape:?}: {count} {bytes}"
            );
        }
    }
}

#[test]
fn growing_inputs_keep_the_mask_at_one_bit_per_element() {
    let mut relu = ReluLayer::new();
    relu.forward_owned(input((10, 64))).unwrap(); // 10 mask words
                                                  // One more row: the mask's buffer grows to 11 words, not to 20 (as a
                                                  // `Vec` growing by doubling would).
    let x = input((11, 64));
    let (_, count, bytes) = counted(|| relu.forward_owned(x).unwrap());
    assert_eq!((count, bytes), (1, 11 * 8));
}

#[test]
fn a_steady_state_training_step_allocates_nothing() {
    for make in layers() {
        let mut layer = make();
        for shape in SHAPES {
            let (x0, g0) = (input(shape), input(shape).mapv(|v| 0.5 - v));
            let (mut x, mut g) = (x0.clone(), g0.clone());
            // The first step allocates the mask.
            x = layer.forward_owned(x).unwrap();
            g = layer.backward_owned(g).unwrap();
            for _ in 0..5 {
                x.assign(&x0);
                g.assign(&g0);
                let ((y, dx), count, bytes) = counted(|| {
                    let y = layer.forward_owned(x).unwrap();
                    (y, layer.backward_owned(g).unwrap())
                });
                assert_eq!((count, bytes), (0, 0), "{shape:?}");
                (x, g) = (y, dx);
            }
        }
    }
}

#[test]
fn new_arrays_allocate_only_the_result() {
    for make in layers() {
        let mut layer = make();
        for shape in SHAPES {
            let n = shape.0 * shape.1;
            let (x, g) = (input(shape), input(shape));
            layer.forward(&x).unwrap(); // the mask, once
            let (_, count, bytes) = counted(|| layer.forward(&x).unwrap());
            assert_eq!((count, bytes), (1, n * 8), "forward {shape:?}");
            let (_, count, bytes) = counted(|| layer.predict(&x).unwrap());
            assert_eq!((count, bytes), (1, n * 8), "predict {shape:?}");
            let (_, count, bytes) = counted(|| layer.backward(&g).unwrap());
            assert_eq!((count, bytes), (1, n * 8), "backward {shape:?}");
        }
    }
}

#[test]
fn prelu_caches_its_input_once_and_then_allocates_nothing() {
    for shape in SHAPES {
        let n = shape.0 * shape.1;
        let mut prelu = PReluLayer::new(shape.1, 0.25).unwrap();
        let (x0, g0) = (input(shape), input(shape).mapv(|v| 0.5 - v));
        // The first forward: the mask, the input's copy (padded to whole
        // 64-element blocks), the slope table (one slope per column plus
        // one block's worth).
        let (x, g) = (x0.clone(), g0.clone());
        let (mut x, count, bytes) = counted(|| prelu.forward_owned(x).unwrap());
        let table = (shape.1 + 64) * 8;
        assert_eq!(
            (count, bytes),
            (3, n.div_ceil(64) * 8 + n.div_ceil(64) * 64 * 8 + table),
            "{shape:?}"
        );
        // The first backward: the per-position slope-gradient sums.
        let (mut g, count, bytes) = counted(|| prelu.backward_owned(g).unwrap());
        assert_eq!((count, bytes), (1, table), "{shape:?}");
        for _ in 0..3 {
            x.assign(&x0);
            g.assign(&g0);
            let ((y, dx), count, bytes) = counted(|| {
                let y = prelu.forward_owned(x).unwrap();
                (y, prelu.backward_owned(g).unwrap())
            });
            assert_eq!((count, bytes), (0, 0), "{shape:?}");
            (x, g) = (y, dx);
        }
    }
}

/// One steady-state training step of a 20-16-16-4 MLP at batch 8 through
/// `Sequential` (`forward_owned`, softmax cross-entropy, `backward_owned`,
/// `Sgd` with momentum) allocates:
///
/// - the arrays the contract returns: each Dense layer's output
///   (`forward_owned`) and input gradient (`backward_owned`), and the loss
///   gradient, 5,888 bytes here (`batch · Σ(inputs + outputs) + batch ·
///   classes` elements);
/// - the `Vec<Param>`s of `params()`: one per Dense layer and the
///   `Sequential`'s, which grows while it collects them;
/// - at most one packing buffer inside `gemm` per matrix product (9 here).
///
/// Nothing else: no temporaries for the bias, its gradient or the weight
/// gradient, which is written in place.
#[test]
fn an_mlp_training_step_allocates_its_results_params_and_gemm_packing_only() {
    let (batch, widths) = (8, [20, 16, 16, 4]);
    let mut rng = StdRng::seed_from_u64(0);
    let mut net = Sequential::new();
    net.push(DenseLayer::new(widths[0], widths[1], &mut rng))
        .push(ReluLayer::new())
        .push(DenseLayer::new(widths[1], widths[2], &mut rng))
        .push(ReluLayer::new())
        .push(DenseLayer::new(widths[2], widths[3], &mut rng));
    let mut sgd = Sgd::new(0.1).unwrap().with_momentum(0.9).unwrap();
    let x = input((batch, widths[0]));
    let labels: Vec<usize> = (0..batch).map(|i| i % widths[3]).collect();
    let mut step = |x: Array2<f64>| {
        let logits = net.forward_owned(x).unwrap();
        let (_, grad) = softmax_cross_entropy(&logits, &labels).unwrap();
        net.backward_owned(grad).unwrap();
        sgd.step(&mut net).unwrap();
    };
    step(x.clone()); // masks and the optimizer's velocity, once
    for _ in 0..3 {
        let x = x.clone();
        let mut sizes = sizes(|| step(x));
        let total: usize = sizes.iter().sum();

        let mut arrays: Vec<usize> = widths
            .windows(2)
            .flat_map(|w| [batch * w[1], batch * w[0]])
            .chain([batch * widths[3]])
            .map(|n| n * size_of::<f64>())
            .collect();
        assert_eq!(arrays.iter().sum::<usize>(), 5888);
        for size in &mut arrays {
            let at = sizes.iter().position(|s| s == size);
            assert!(at.is_some(), "no array of {size} bytes in {sizes:?}");
            sizes.swap_remove(at.unwrap());
        }
        // What is left: params() vectors (whole Params) and gemm's buffers.
        let param = size_of::<Param<'static>>();
        let (params, packing): (Vec<usize>, Vec<usize>) =
            sizes.iter().partition(|&&s| s % param == 0);
        assert_eq!(params.len(), 3 + 2, "{params:?}"); // grown 4 → 8 Params
        assert!(packing.len() <= 9, "{packing:?}");
        let (params, packing): (usize, usize) = (params.iter().sum(), packing.iter().sum());
        println!("one step: {total} bytes: arrays 5888, params() {params}, gemm packing {packing}");
    }
}
