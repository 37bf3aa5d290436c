//! Turning samples into device tensors.

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::data::dataset::{Dataset, InputKind};

/// One modality's inputs for a batch of `B` samples, shaped for its encoder.
#[derive(Clone, Debug)]
pub enum EncoderInput {
    /// `[B, dim]`
    Features(Tensor<2>),
    /// `[B, channels, height, width]`
    Image(Tensor<4>),
    /// `[B, len]` token ids
    Tokens(Tensor<2, Int>),
}

impl EncoderInput {
    /// Builds the input of modality `modality` for the samples `indices` of `data`.
    /// Absent samples contribute zeros (padding for tokens): a masked cell's stored
    /// values are never read, by any method.
    pub fn gather(data: &Dataset, modality: usize, indices: &[usize], device: &Device) -> Self {
        let m = &data.modalities[modality];
        let len = m.kind.item_len();
        let mut values: Vec<f32> = Vec::with_capacity(indices.len() * len);
        for &i in indices {
            if m.present[i] {
                values.extend_from_slice(m.item(i));
            } else {
                values.resize(values.len() + len, 0.0);
            }
        }
        Self::from_values(&m.kind, values, indices.len(), device)
    }

    /// `b` samples of `kind` from their values, sample-major.
    pub fn from_values(kind: &InputKind, values: Vec<f32>, b: usize, device: &Device) -> Self {
        match *kind {
            InputKind::Features { dim } => {
                EncoderInput::Features(Tensor::from_data(TensorData::new(values, [b, dim]), device))
            }
            InputKind::Image {
                channels,
                height,
                width,
            } => EncoderInput::Image(Tensor::from_data(
                TensorData::new(values, [b, channels, height, width]),
                device,
            )),
            InputKind::Tokens { len, .. } => {
                let ids: Vec<i64> = values.into_iter().map(|v| v as i64).collect();
                EncoderInput::Tokens(Tensor::from_data(TensorData::new(ids, [b, len]), device))
            }
        }
    }

    /// Batch size `B`.
    pub fn batch_size(&self) -> usize {
        match self {
            EncoderInput::Features(t) => t.dims()[0],
            EncoderInput::Image(t) => t.dims()[0],
            EncoderInput::Tokens(t) => t.dims()[0],
        }
    }
}

/// A batch over all modalities: inputs, presence masks and labels.
#[derive(Clone, Debug)]
pub struct Batch {
    /// One input per modality, `B` samples each.
    pub inputs: Vec<EncoderInput>,
    /// `[M, B]`: 1.0 where the modality is present, 0.0 where it is missing.
    pub present: Tensor<2>,
    /// `present` on the host, `[M][B]`.
    pub present_host: Vec<Vec<bool>>,
    /// `[B]` class indices.
    pub labels: Tensor<1, Int>,
}

impl Batch {
    /// Builds the batch of samples `indices` of `data` on `device`.
    pub fn gather(data: &Dataset, indices: &[usize], device: &Device) -> Self {
        let inputs = (0..data.num_modalities())
            .map(|m| EncoderInput::gather(data, m, indices, device))
            .collect();
        let present_host: Vec<Vec<bool>> = data
            .modalities
            .iter()
            .map(|m| indices.iter().map(|&i| m.present[i]).collect())
            .collect();
        let present = flags_tensor(&present_host, device);
        Batch {
            inputs,
            present,
            present_host,
            labels: labels(data, indices, device),
        }
    }
}

/// `[M][B]` flags as an `[M, B]` tensor of 1.0 (true) and 0.0 (false).
pub fn flags_tensor(flags: &[Vec<bool>], device: &Device) -> Tensor<2> {
    let (m, n) = (flags.len(), flags.first().map_or(0, Vec::len));
    let flat: Vec<f32> = flags
        .iter()
        .flat_map(|row| row.iter().map(|&p| if p { 1.0 } else { 0.0 }))
        .collect();
    Tensor::from_data(TensorData::new(flat, [m, n]), device)
}

/// `[B]` labels of the samples `indices`.
pub fn labels(data: &Dataset, indices: &[usize], device: &Device) -> Tensor<1, Int> {
    let ys: Vec<i64> = indices.iter().map(|&i| data.labels[i] as i64).collect();
    Tensor::from_data(TensorData::new(ys, [indices.len()]), device)
}
