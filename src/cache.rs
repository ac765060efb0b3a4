//! [`Cache`]: what a layer's last forward left for its backward.

use crate::{LayerError, Result};

/// What a layer's last forward left for its backward: nothing yet, that
/// pass, or a failure.
///
/// After a failed forward, `backward` is [`LayerError::ForwardFailed`]
/// until the next successful forward, so that it never differentiates an
/// earlier batch's pass by mistake; after the layer's parameters were
/// handed out ([`Cache::stale`]), it is [`LayerError::ParametersChanged`].
/// The value stays allocated, for the next forward to reuse.
#[derive(Debug, Clone)]
pub(crate) struct Cache<T> {
    value: Option<T>,
    state: State,
}

impl<T> Default for Cache<T> {
    fn default() -> Self {
        Cache {
            value: None,
            state: State::Pass,
        }
    }
}

/// Whether the value belongs to a pass that backward may differentiate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum State {
    #[default]
    Pass,
    Failed,
    Stale,
}

impl<T> Cache<T> {
    /// The last forward's pass, if it succeeded (stale or not: what it
    /// computed, such as a mask, is still its own).
    pub(crate) fn get(&self) -> Option<&T> {
        self.value.as_ref().filter(|_| self.state != State::Failed)
    }

    /// The last forward's pass, or `layer`'s error saying why there is
    /// none to differentiate.
    pub(crate) fn pass(&self, layer: &'static str) -> Result<&T> {
        match (&self.value, self.state) {
            (_, State::Failed) => Err(LayerError::ForwardFailed { layer }),
            (None, _) => Err(LayerError::BackwardBeforeForward { layer }),
            (Some(_), State::Stale) => Err(LayerError::ParametersChanged { layer }),
            (Some(value), State::Pass) => Ok(value),
        }
    }

    /// The value for a forward to write (`None` before the first), whose
    /// result then goes through [`Cache::record`].
    pub(crate) fn slot(&mut self) -> &mut Option<T> {
        &mut self.value
    }

    /// Records whether the forward that wrote the slot succeeded, passing
    /// its result on.
    pub(crate) fn record<R>(&mut self, result: Result<R>) -> Result<R> {
        self.state = match result.is_err() || self.value.is_none() {
            true => State::Failed,
            false => State::Pass,
        };
        result
    }

    /// Marks the last pass as computed with parameters that may have
    /// changed since: `backward` is [`LayerError::ParametersChanged`] until
    /// the next forward. A failed pass stays failed.
    pub(crate) fn stale(&mut self) {
        if self.state == State::Pass {
            self.state = State::Stale;
        }
    }

    /// Forgets the last pass: `backward` is
    /// [`LayerError::BackwardBeforeForward`] until the next forward.
    pub(crate) fn clear(&mut self) {
        *self = Cache::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_forward_hides_the_last_pass_until_the_next_success() {
        let mut cache = Cache::<u32>::default();
        assert_eq!(
            cache.pass("L"),
            Err(LayerError::BackwardBeforeForward { layer: "L" })
        );
        *cache.slot() = Some(1);
        assert_eq!(cache.record(Ok(())), Ok(()));
        assert_eq!((cache.get(), cache.pass("L")), (Some(&1), Ok(&1)));

        let err = LayerError::BackwardBeforeForward { layer: "inner" };
        assert_eq!(cache.record::<()>(Err(err.clone())), Err(err));
        assert_eq!(cache.get(), None);
        let err = cache.pass("L").unwrap_err();
        assert_eq!(
            err.to_string(),
            "L::backward called after a failed forward (the error it returned left no pass to differentiate)"
        );
        assert_eq!(cache.slot(), &mut Some(1)); // kept for reuse

        *cache.slot() = Some(2);
        cache.record(Ok(())).unwrap();
        assert_eq!(cache.pass("L"), Ok(&2));
        cache.clear();
        assert_eq!(
            cache.pass("L"),
            Err(LayerError::BackwardBeforeForward { layer: "L" })
        );
    }
}
