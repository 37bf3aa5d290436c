//! MLP encoder over a feature vector (the paper's missing-modality setup).

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor, activation::relu};
use serde::{Deserialize, Serialize};

/// `layers` fully connected layers with ReLU: `d_in -> hidden -> ... -> d_out`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpEncoderConfig {
    /// Width of the hidden layers.
    #[serde(default = "default_hidden")]
    pub hidden: usize,
    /// Number of linear layers (>= 1).
    #[serde(default = "default_layers")]
    pub layers: usize,
}

fn default_hidden() -> usize {
    128
}
fn default_layers() -> usize {
    3
}

impl Default for MlpEncoderConfig {
    fn default() -> Self {
        Self {
            hidden: default_hidden(),
            layers: default_layers(),
        }
    }
}

impl MlpEncoderConfig {
    /// Builds the encoder for inputs of `d_in` features and outputs of `d_out`.
    pub fn init(&self, d_in: usize, d_out: usize, device: &Device) -> MlpEncoder {
        let widths: Vec<usize> = std::iter::once(d_in)
            .chain(std::iter::repeat_n(
                self.hidden,
                self.layers.saturating_sub(1),
            ))
            .chain(std::iter::once(d_out))
            .collect();
        let layers = widths
            .windows(2)
            .map(|w| LinearConfig::new(w[0], w[1]).init(device))
            .collect();
        MlpEncoder { layers }
    }
}

/// See [`MlpEncoderConfig`].
#[derive(Module, Debug)]
pub struct MlpEncoder {
    pub layers: Vec<Linear>,
}

impl MlpEncoder {
    /// `[B, d_in] -> [B, d_out]`, ReLU after every layer (features are non-negative,
    /// as the pooled ReLU features of the paper's CNNs are).
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.layers
            .iter()
            .fold(x, |x, layer| relu(layer.forward(x)))
    }
}
