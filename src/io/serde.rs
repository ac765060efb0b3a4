//! serde for the layers, the optimizers and `ActivityStats`.
