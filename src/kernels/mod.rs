//! Our own kernels for Burn's CPU backend, added through Burn's backend extension
//! where a Burn operation is slow there; other backends run Burn's operations.

pub mod conv2d;

pub use conv2d::{conv2d, forward as conv2d_forward};
