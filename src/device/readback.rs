//! Reading tensors back to the host.

use burn::tensor::Tensor;

use crate::error::{MlaError, Result};

/// Reads a float tensor back to the host with an asynchronous read (the only kind
/// the browser allows).
pub async fn read_floats<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>> {
    tensor
        .into_data_async()
        .await
        .map_err(|e| MlaError::Read(e.to_string()))?
        .try_into_vec()
        .map_err(|e| MlaError::Read(format!("{e:?}")))
}
