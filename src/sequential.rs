//! [`Sequential`]: layers run one after another, itself a [`Layer`].

use std::any::{type_name, Any};
use std::fmt;
use std::ops::Range;

use ndarray::{Array2, ArrayRef2};

use crate::alloc::need;
use crate::cache::Cache;
use crate::{Float, Layer, LayerError, Param, Result};

/// A [`Layer`] that can also be downcast to its concrete type.
///
/// Call these on the `dyn DynLayer`, not on its `Box`, so that they see the
/// layer's type rather than the box's.
pub(crate) trait DynLayer<A: Float>: Layer<A> {
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn type_name(&self) -> &'static str;
}

impl<A: Float, T: Layer<A> + 'static> DynLayer<A> for T {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn type_name(&self) -> &'static str {
        type_name::<T>()
    }
}

/// Layers applied in order: the output of one is the input of the next.
///
/// `forward` passes arrays between layers by value (through
/// [`Layer::forward_owned`] and [`Layer::backward_owned`]), so activation
/// layers work in place. `params()` is every layer's params, in layer order.
/// An empty `Sequential` is the identity.
///
/// An error in layer `k` comes back as [`LayerError::InSequential`] with
/// `index: k` around the layer's own error. After a failed `forward`,
/// `backward` is [`LayerError::ForwardFailed`] until the next successful
/// `forward`, since the layers' caches no longer belong to one pass. After
/// [`push`](Self::push) or [`layer_mut`](Self::layer_mut), which may change
/// the layers, it is [`LayerError::BackwardBeforeForward`] until the next
/// `forward`: the container has no pass, as when new.
///
/// # Shapes
///
/// - input: whatever the first layer takes
/// - output: whatever the last layer gives
/// - grad_output: the shape of the last forward's output
///
/// # Examples
///
/// ```
/// use rectify::rand::{rngs::StdRng, SeedableRng};
/// use rectify::{ndarray::array, DenseLayer, Layer, ReluLayer, Sequential};
///
/// let mut rng = StdRng::seed_from_u64(0);
/// let mut net = Sequential::new();
/// net.push(DenseLayer::new(2, 8, &mut rng))
///     .push(ReluLayer::new())
///     .push(DenseLayer::new(8, 1, &mut rng));
///
/// let y = net.forward(&array![[0.5, -1.0], [2.0, 0.0]])?;
/// assert_eq!(y.dim(), (2, 1));
/// let dx = net.backward(&array![[1.0], [-1.0]])?;
/// assert_eq!(dx.dim(), (2, 2));
/// assert_eq!(net.params().len(), 4); // two weights, two biases
///
/// let relu: &ReluLayer = net.layer(1).unwrap();
/// assert_eq!(relu.mask().unwrap().shape(), (2, 8));
/// # Ok::<(), rectify::LayerError>(())
/// ```
///
/// A `Sequential` is [`Send`]: it trains on a worker thread. To keep the
/// best model seen so far, snapshot its parameters (a copy of each
/// [`Param`]'s value; the caches need no copy, since a restored model
/// starts with a new forward) and write them back when wanted, as below; or
/// keep the whole model as bytes with `to_safetensors_bytes` and
/// `load_safetensors_bytes` (feature `safetensors`, on by default), which
/// also check every name and shape on the way back:
///
/// ```
/// use rectify::rand::{rngs::StdRng, SeedableRng};
/// use rectify::{loss, ndarray::{array, ArrayD}, DenseLayer, Layer, Sequential, Sgd};
///
/// let mut net = Sequential::new();
/// net.push(DenseLayer::new(2, 1, &mut StdRng::seed_from_u64(0)));
/// let (x, y) = (array![[1.0, 2.0], [0.5, -1.0]], array![[1.0], [0.0]]);
/// let snapshot: Vec<ArrayD<f64>> = net.params().iter().map(|p| p.value.to_owned()).collect();
/// let before = net.predict(&x)?;
///
/// let mut sgd = Sgd::new(0.1)?;
/// let mut net = std::thread::spawn(move || -> rectify::Result<Sequential> {
///     let (_, grad) = loss::mse(&net.forward(&x)?, &y)?;
///     net.backward(&grad)?;
///     sgd.step(&mut net)?;
///     Ok(net)
/// })
/// .join()
/// .unwrap()?;
///
/// for (param, saved) in net.params().iter_mut().zip(&snapshot) {
///     param.value.assign(saved);
/// }
/// assert_eq!(net.predict(&array![[1.0, 2.0], [0.5, -1.0]])?, before);
/// # Ok::<(), rectify::LayerError>(())
/// ```
#[derive(Default)]
pub struct Sequential<A: Float = f64> {
    layers: Vec<Box<dyn DynLayer<A>>>,
    /// The shape of the last forward's output.
    output_dim: Cache<(usize, usize)>,
}

const LAYER: &str = "Sequential";

/// Wraps layer `index`'s error.
pub(crate) fn in_layer(index: usize) -> impl FnOnce(LayerError) -> LayerError {
    move |error| LayerError::InSequential {
        index,
        error: Box::new(error),
    }
}

impl<A: Float> Sequential<A> {
    /// An empty container, the identity until layers are pushed.
    ///
    /// ```
    /// use rectify::{ndarray::array, Layer, Sequential};
    ///
    /// let mut id = Sequential::new();
    /// assert!(id.is_empty());
    /// assert_eq!(id.forward(&array![[1.0, -2.0]])?, array![[1.0, -2.0]]);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a layer; returns `self` so pushes chain.
    ///
    /// ```
    /// use rectify::{LeakyReluLayer, ReluLayer, Sequential};
    ///
    /// let mut net = Sequential::<f32>::new();
    /// net.push(ReluLayer::new()).push(LeakyReluLayer::default());
    /// assert_eq!(net.len(), 2);
    /// ```
    pub fn push(&mut self, layer: impl Layer<A> + 'static) -> &mut Self {
        self.layers.push(Box::new(layer));
        self.output_dim.clear();
        self
    }

    /// The number of layers.
    ///
    /// ```
    /// # use rectify::{ReluLayer, Sequential};
    /// let mut net = Sequential::<f64>::new();
    /// net.push(ReluLayer::new());
    /// assert_eq!(net.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Whether there are no layers.
    ///
    /// ```
    /// # use rectify::Sequential;
    /// assert!(Sequential::<f64>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// Layer `index` as a `T`; `None` if out of range or of another type.
    /// A layer pushed as a `Box<dyn Layer>` has the type `Box<dyn Layer>`.
    ///
    /// ```
    /// use rectify::{ndarray::array, DenseLayer, ReluLayer, Sequential};
    ///
    /// let mut net = Sequential::new();
    /// net.push(DenseLayer::from_parts(array![[2.0]], array![1.0])?);
    /// let dense: &DenseLayer = net.layer(0).unwrap();
    /// assert_eq!(dense.weights(), array![[2.0]]);
    /// assert!(net.layer::<ReluLayer>(0).is_none());
    /// assert!(net.layer::<DenseLayer>(1).is_none());
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn layer<T: Layer<A> + 'static>(&self, index: usize) -> Option<&T> {
        let layer: &dyn DynLayer<A> = self.layers.get(index)?.as_ref();
        layer.as_any().downcast_ref()
    }

    /// Layer `index` as a mutable `T`; `None` if out of range or of another
    /// type.
    ///
    /// The layer may be replaced or changed through it, so the container
    /// forgets its last pass, as [`push`](Self::push) does: `backward` is
    /// [`LayerError::BackwardBeforeForward`] until the next forward, as on
    /// a new container (a backward that could fail partway, after the
    /// layers behind the changed one had overwritten their gradients, is
    /// never run). It is not [`LayerError::ForwardFailed`], which says that
    /// a forward returned an error: here nothing failed, there is simply no
    /// pass since the change, and a replaced layer has never run a forward
    /// itself. Read a layer with [`layer`](Self::layer) to keep the pass.
    ///
    /// ```
    /// use rectify::{ndarray::array, AtZero, Layer, LayerError, ReluLayer, Sequential};
    ///
    /// let mut net = Sequential::new();
    /// net.push(ReluLayer::new());
    /// net.forward(&array![[0.0]])?;
    /// let relu = net.layer_mut::<ReluLayer>(0).unwrap();
    /// *relu = ReluLayer::new().at_zero(AtZero::Active);
    /// let err = net.backward(&array![[3.0]]).unwrap_err();
    /// assert_eq!(err, LayerError::BackwardBeforeForward { layer: "Sequential" });
    /// assert_eq!(err.to_string(), "Sequential::backward called before forward");
    ///
    /// net.forward(&array![[0.0]])?;
    /// assert_eq!(net.backward(&array![[3.0]])?, array![[3.0]]);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn layer_mut<T: Layer<A> + 'static>(&mut self, index: usize) -> Option<&mut T> {
        let layer: &mut dyn DynLayer<A> = self.layers.get_mut(index)?.as_mut();
        let layer = layer.as_any_mut().downcast_mut()?;
        self.output_dim.clear();
        Some(layer)
    }

    /// The layers, for code that recognizes them by type (the safetensors
    /// names of their parameters, [`GradCheck`](crate::GradCheck)'s report).
    pub(crate) fn layers_mut(&mut self) -> impl Iterator<Item = &mut (dyn DynLayer<A> + 'static)> {
        self.layers.iter_mut().map(|layer| layer.as_mut())
    }

    /// Runs `forward_owned` through the layers from `start` on.
    fn forward_from(&mut self, start: usize, mut x: Array2<A>) -> Result<Array2<A>> {
        for (i, layer) in self.layers.iter_mut().enumerate().skip(start) {
            x = layer.forward_owned(x).map_err(in_layer(i))?;
        }
        *self.output_dim.slot() = Some(x.dim());
        Ok(x)
    }

    /// Errors unless `grad` has the shape of the last forward's output.
    fn check_grad(&self, grad: &ArrayRef2<A>) -> Result<()> {
        let cached = self.output_dim.pass(LAYER);
        LayerError::check_backward(LAYER, cached, |&&dim| dim, grad.dim()).map(drop)
    }

    /// Runs `backward_owned` through the layers in `range`, last first.
    fn backward_through(&mut self, range: Range<usize>, mut g: Array2<A>) -> Result<Array2<A>> {
        let layers = self.layers[range.clone()].iter_mut().zip(range);
        for (layer, i) in layers.rev() {
            g = layer.backward_owned(g).map_err(in_layer(i))?;
        }
        Ok(g)
    }
}

/// `a` as a new array: the output of an empty `Sequential`, the identity.
fn identity<A: Float>(
    operation: &'static str,
    what: &'static str,
    a: &ArrayRef2<A>,
) -> Result<Array2<A>> {
    need(LAYER, operation, what, [a.nrows(), a.ncols()]).copy(a)
}

impl<A: Float> Layer<A> for Sequential<A> {
    fn forward(&mut self, input: &ArrayRef2<A>) -> Result<Array2<A>> {
        let result = match self.layers.first_mut() {
            None => identity("forward", "output", input).and_then(|x| self.forward_from(0, x)),
            Some(first) => {
                (first.forward(input).map_err(in_layer(0))).and_then(|x| self.forward_from(1, x))
            }
        };
        self.output_dim.record(result)
    }

    fn forward_owned(&mut self, input: Array2<A>) -> Result<Array2<A>> {
        let result = self.forward_from(0, input);
        self.output_dim.record(result)
    }

    fn backward(&mut self, grad_output: &ArrayRef2<A>) -> Result<Array2<A>> {
        self.check_grad(grad_output)?;
        let end = self.layers.len().saturating_sub(1);
        let Some(last) = self.layers.last_mut() else {
            return identity("backward", "grad_input", grad_output);
        };
        let g = last.backward(grad_output).map_err(in_layer(end))?;
        self.backward_through(0..end, g)
    }

    fn backward_owned(&mut self, grad_output: Array2<A>) -> Result<Array2<A>> {
        self.check_grad(&grad_output)?;
        self.backward_through(0..self.layers.len(), grad_output)
    }

    /// [`backward_owned`](Layer::backward_owned) through every layer but
    /// the first, whose [`backward_params`](Layer::backward_params) skips
    /// the network's input gradient, which a training step never reads: in
    /// an MLP, the first `DenseLayer`'s `g·Wᵀ` product (PyTorch skips it
    /// too). The parameter gradients are those of `backward_owned`, bit for
    /// bit.
    ///
    /// ```
    /// use rectify::rand::{rngs::StdRng, SeedableRng};
    /// use rectify::{ndarray::Array2, DenseLayer, Layer, ReluLayer, Sequential};
    ///
    /// let mut rng = StdRng::seed_from_u64(0);
    /// let mut net = Sequential::new();
    /// net.push(DenseLayer::new(784, 256, &mut rng))
    ///     .push(ReluLayer::new())
    ///     .push(DenseLayer::new(256, 10, &mut rng));
    /// net.forward(&Array2::from_elem((32, 784), 0.5))?;
    /// net.backward_params(Array2::from_elem((32, 10), 0.1))?; // no 32x784 gradient made
    /// assert!(net.params()[0].grad.iter().any(|&g| g != 0.0));
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    fn backward_params(&mut self, grad_output: Array2<A>) -> Result<()> {
        self.check_grad(&grad_output)?;
        let len = self.layers.len();
        let g = self.backward_through(len.min(1)..len, grad_output)?;
        match self.layers.first_mut() {
            Some(first) => first.backward_params(g).map_err(in_layer(0)),
            None => Ok(()),
        }
    }

    fn predict(&self, input: &ArrayRef2<A>) -> Result<Array2<A>> {
        let mut layers = self.layers.iter().enumerate();
        let Some((_, first)) = layers.next() else {
            return identity("predict", "output", input);
        };
        let x = first.predict(input).map_err(in_layer(0))?;
        layers.try_fold(x, |x, (i, layer)| layer.predict(&x).map_err(in_layer(i)))
    }

    /// Every layer's params, first layer first.
    fn params(&mut self) -> Vec<Param<'_, A>> {
        self.layers.iter_mut().flat_map(|l| l.params()).collect()
    }

    fn __as_sequential(&mut self, _: Token) -> Option<&mut Sequential<A>> {
        Some(self)
    }
}

/// The argument of the hidden [`Layer::__as_sequential`],
/// [`Layer::__type_name`] and [`Layer::__mask`], which code outside the crate cannot name, so
/// cannot call or override them.
pub struct Token(pub(crate) ());

/// Lists the layers' type names.
/// `full` (a type name such as `a::b::Rectifier<a::c::Relu>`) with every
/// path cut to its last segment (`Rectifier<Relu>`).
pub(crate) fn short_type_name(full: &str) -> String {
    let last = |path: &str| path.rsplit("::").next().unwrap_or(path).to_owned();
    let mut out = String::with_capacity(full.len());
    let mut start = 0;
    for (i, c) in full.char_indices() {
        if !(c.is_alphanumeric() || c == '_' || c == ':') {
            out += &last(&full[start..i]);
            out.push(c);
            start = i + c.len_utf8();
        }
    }
    out + &last(&full[start..])
}

/// Prints the layers' type names, without their module paths.
impl<A: Float> fmt::Debug for Sequential<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = (self.layers.iter())
            .map(|l| short_type_name(l.as_ref().type_name()))
            .collect();
        f.debug_struct("Sequential")
            .field("layers", &names)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DenseLayer, PReluLayer, ReluLayer};
    use ndarray::array;

    /// Dense(2→2) → ReLU → Dense(2→1), with hand-picked weights.
    fn net() -> Sequential {
        let mut net = Sequential::new();
        net.push(
            DenseLayer::from_parts(array![[1.0, -1.0], [2.0, 0.5]], array![0.0, 1.0]).unwrap(),
        )
        .push(ReluLayer::new())
        .push(DenseLayer::from_parts(array![[1.0], [2.0]], array![0.5]).unwrap());
        net
    }

    fn x() -> Array2<f64> {
        array![[1.0, 1.0], [2.0, -1.0]]
    }

    fn g() -> Array2<f64> {
        array![[2.0], [-3.0]]
    }

    fn grads(net: &mut Sequential) -> Vec<Vec<f64>> {
        net.params()
            .iter()
            .map(|p| p.grad.iter().copied().collect())
            .collect()
    }

    #[test]
    fn backward_params_gives_the_parameter_gradients_of_backward() {
        // Nested, with a parametric layer first in the inner container.
        let make = || {
            let mut inner = Sequential::new();
            inner
                .push(net())
                .push(PReluLayer::<f64>::new(1, 0.1).unwrap());
            let mut outer = Sequential::new();
            outer
                .push(inner)
                .push(DenseLayer::from_parts(array![[0.5, -2.0]], array![1.0, -0.5]).unwrap());
            outer
        };
        let (x, g) = (x(), array![[2.0, -1.0], [-3.0, 0.5]]);
        let (mut full, mut lean) = (make(), make());
        full.forward(&x).unwrap();
        full.backward_owned(g.clone()).unwrap();
        lean.forward(&x).unwrap();
        lean.backward_params(g.clone()).unwrap();
        let bits = |net: &mut Sequential| -> Vec<Vec<u64>> {
            grads(net)
                .iter()
                .map(|p| p.iter().map(|v| v.to_bits()).collect())
                .collect()
        };
        assert_eq!(bits(&mut lean), bits(&mut full));
        assert!(grads(&mut lean)[0].iter().any(|&v| v != 0.0));

        // Errors as backward's, and nothing changes.
        let err = lean.backward_params(array![[1.0, 2.0, 3.0]]).unwrap_err();
        assert!(err.to_string().contains("[1, 3]"), "{err}");
        assert_eq!(bits(&mut lean), bits(&mut full));
        let mut fresh = make();
        assert!(matches!(
            fresh.backward_params(g.clone()),
            Err(LayerError::BackwardBeforeForward { .. })
        ));
        let mut empty = Sequential::new();
        empty.forward(&x).unwrap();
        assert_eq!(empty.backward_params(x.clone()), Ok(()));
    }

    #[test]
    fn forward_and_backward_chain_the_layers() {
        // Hidden pre-activations are [[3, 0.5], [0, -1.5]]: the second row
        // is inactive (0 exactly, and negative), so only row 0 flows back.
        let mut net = net();
        assert_eq!(net.forward(&x()).unwrap(), array![[4.5], [0.5]]);
        assert_eq!(net.backward(&g()).unwrap(), array![[-2.0, 6.0], [0.0, 0.0]]);
        let expected = vec![
            vec![2.0, 4.0, 2.0, 4.0],
            vec![2.0, 4.0],
            vec![6.0, 1.0],
            vec![-1.0],
        ];
        assert_eq!(grads(&mut net), expected);
        assert_eq!(net.predict(&x()).unwrap(), array![[4.5], [0.5]]);

        let mut owned = self::net();
        let transposed = x().t().to_owned();
        assert_eq!(
            owned.forward(&transposed.t()).unwrap(),
            array![[4.5], [0.5]]
        );
        owned.forward_owned(transposed.reversed_axes()).unwrap();
        let dx = owned.backward_owned(g()).unwrap();
        assert_eq!(dx, array![[-2.0, 6.0], [0.0, 0.0]]);
        assert_eq!(grads(&mut owned), expected);
    }

    #[test]
    fn an_empty_sequential_is_the_identity() {
        let mut id = Sequential::default();
        let err = id.backward(&g()).unwrap_err();
        assert_eq!(
            err,
            LayerError::BackwardBeforeForward {
                layer: "Sequential"
            }
        );
        assert_eq!(id.forward(&x().t()).unwrap(), x().t());
        assert_eq!(
            id.backward(&array![[1.0, 2.0], [3.0, 4.0]]).unwrap(),
            array![[1.0, 2.0], [3.0, 4.0]]
        );
        assert_eq!(id.predict(&x()).unwrap(), x());
        assert_eq!(id.forward_owned(x()).unwrap(), x());
        assert_eq!(id.backward_owned(x()).unwrap(), x());
        assert!(id.params().is_empty());
        assert!(id.backward(&g()).is_err()); // still checks the shape
    }

    #[test]
    fn errors_name_the_failing_layer_and_the_container_keeps_working() {
        let mut net = net();
        net.forward(&x()).unwrap();
        let err = net.forward(&array![[1.0, 2.0, 3.0]]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Sequential layer 0: DenseLayer::forward: input has shape [1, 3], expected [1, 2]"
        );
        let err = net.backward(&g()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Sequential::backward called after a failed forward (the error it returned left no pass to differentiate)"
        );
        assert!(net.predict(&array![[1.0, 2.0, 3.0]]).is_err());
        // A failure in a later layer, after earlier layers succeeded.
        let mut later = Sequential::new();
        later
            .push(ReluLayer::new())
            .push(PReluLayer::new(3, 0.5).unwrap());
        later.forward(&array![[1.0, -2.0, 3.0]]).unwrap();
        let err = later.forward_owned(x()).unwrap_err();
        assert!(matches!(err, LayerError::InSequential { index: 1, .. }));
        let err = later.backward(&array![[1.0, 1.0, 1.0]]).unwrap_err();
        assert_eq!(
            err,
            LayerError::ForwardFailed {
                layer: "Sequential"
            }
        );
        later.forward(&array![[1.0, -2.0, 3.0]]).unwrap();
        assert_eq!(
            later.backward(&array![[1.0, 1.0, 1.0]]).unwrap(),
            array![[1.0, 0.0, 1.0]]
        );

        net.forward(&x()).unwrap();
        let err = net.backward(&array![[1.0, 2.0]]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Sequential::backward: grad_output has shape [1, 2], expected [2, 1]"
        );
        assert_eq!(net.backward(&g()).unwrap(), array![[-2.0, 6.0], [0.0, 0.0]]);

        let mut bad = Sequential::new();
        bad.push(ReluLayer::new()).push(net);
        let err = bad.forward(&array![[1.0]]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Sequential layer 1: Sequential layer 0: DenseLayer::forward: input has shape [1, 1], expected [1, 2]"
        );
        assert!(matches!(err, LayerError::InSequential { index: 1, .. }));
    }

    #[test]
    fn layers_can_be_reached_by_their_type() {
        let mut net = net();
        net.forward(&x()).unwrap();
        let relu: &ReluLayer = net.layer(1).unwrap();
        assert_eq!(
            relu.mask().unwrap().to_array(),
            array![[true, true], [false, false]]
        );
        assert!(net.layer::<DenseLayer>(1).is_none());
        assert!(net.layer::<ReluLayer>(3).is_none());
        *net.layer_mut::<DenseLayer>(2).unwrap() =
            DenseLayer::from_parts(array![[0.0], [0.0]], array![7.0]).unwrap();
        assert_eq!(net.predict(&x()).unwrap(), array![[7.0], [7.0]]);
        // The new layer has no pass, so neither has the container: nothing
        // failed, so it is not ForwardFailed.
        let err = net.backward(&g()).unwrap_err();
        assert_eq!(err, LayerError::BackwardBeforeForward { layer: LAYER });
        assert_eq!(
            err.to_string(),
            "Sequential::backward called before forward"
        );
        // Reaching a layer through layer_mut, even without changing it,
        // forgets the pass too, and so does a push.
        net.forward(&x()).unwrap();
        net.layer_mut::<ReluLayer>(1).unwrap();
        let err = net.backward_owned(g()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Sequential::backward called before forward"
        );
        net.forward(&x()).unwrap();
        net.push(ReluLayer::new());
        let err = net.backward(&g()).unwrap_err();
        assert_eq!(err, LayerError::BackwardBeforeForward { layer: LAYER });
        net.layers.pop();
        assert!(net.layer_mut::<ReluLayer>(0).is_none());
        net.forward(&x()).unwrap();
        assert!(net.layer_mut::<ReluLayer>(0).is_none()); // no match: the pass is kept
        assert!(net.backward(&g()).is_ok());
        let debug = format!("{net:?}");
        assert_eq!(
            debug,
            r#"Sequential { layers: ["DenseLayer", "Rectifier<Relu>", "DenseLayer"] }"#
        );
        assert_eq!(
            short_type_name("alloc::boxed::Box<dyn a::Layer>"),
            "Box<dyn Layer>"
        );
    }
}
