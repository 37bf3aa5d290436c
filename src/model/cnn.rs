//! A small 2-D CNN over an image or spectrogram.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::kernels::{adaptive_avg_pool2d, conv2d_forward, max_pool2d, relu};

/// 3x3 convolutions with ReLU, 2x2 max-pooling between them, average pooling to a
/// `grid x grid` map (which keeps the coarse layout that global pooling would lose),
/// and a linear projection to the feature size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CnnEncoderConfig {
    /// Output channels of each convolution (>= 1 entry).
    #[serde(default = "default_channels")]
    pub channels: Vec<usize>,
    /// Side of the pooled map before the projection (1 = global average pooling).
    #[serde(default = "default_grid")]
    pub grid: usize,
}

fn default_grid() -> usize {
    4
}

fn default_channels() -> Vec<usize> {
    vec![16, 32]
}

impl Default for CnnEncoderConfig {
    fn default() -> Self {
        Self {
            channels: default_channels(),
            grid: default_grid(),
        }
    }
}

impl CnnEncoderConfig {
    /// Builds the encoder for `in_channels`-channel images and `d_out` features.
    pub fn init(&self, in_channels: usize, d_out: usize, device: &Device) -> CnnEncoder {
        let mut c_in = in_channels;
        let convs = self
            .channels
            .iter()
            .map(|&c_out| {
                let conv = Conv2dConfig::new([c_in, c_out], [3, 3])
                    .with_padding(PaddingConfig2d::Same)
                    .init(device);
                c_in = c_out;
                conv
            })
            .collect();
        CnnEncoder {
            convs,
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            grid: AdaptiveAvgPool2dConfig::new([self.grid, self.grid]).init(),
            proj: LinearConfig::new(c_in * self.grid * self.grid, d_out).init(device),
        }
    }
}

/// See [`CnnEncoderConfig`].
#[derive(Module, Debug)]
pub struct CnnEncoder {
    pub convs: Vec<Conv2d>,
    pub pool: MaxPool2d,
    pub grid: AdaptiveAvgPool2d,
    pub proj: Linear,
}

impl CnnEncoder {
    /// `[B, C_in, H, W] -> [B, d_out]`: convolutions, pooling to the grid, projection.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let last = self.convs.len().saturating_sub(1);
        let x = self.convs.iter().enumerate().fold(x, |x, (i, conv)| {
            let x = relu(conv2d_forward(conv, x));
            // Pool between convolutions while the map is still large enough.
            let [_, _, h, w] = x.dims();
            if i < last && h >= 2 && w >= 2 {
                max_pool2d(&self.pool, x)
            } else {
                x
            }
        });
        let x = adaptive_avg_pool2d(&self.grid, x);
        let [b, c, h, w] = x.dims();
        relu(self.proj.forward(x.reshape([b, c * h * w])))
    }
}
