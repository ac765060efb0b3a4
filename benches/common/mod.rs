//! Helpers of the benches; each bench compiles them, and not every bench
//! uses every helper.
#![allow(dead_code)]

pub mod gemm;
pub mod mlp;
