//! ResNet-18, the paper's encoder for spectrograms and for video frames.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor, activation::relu};
use serde::{Deserialize, Serialize};

use crate::kernels::{
    self, Activation, adaptive_avg_pool2d, batch_norm, conv2d_forward, max_pool2d,
};

/// ResNet-18 (He et al., 2016): a 7x7 stride-2 convolution and a 3x3 stride-2 max-pool,
/// four stages of two basic residual blocks with `width`, 2x, 4x and 8x channels (the
/// last three halving the map), global average pooling and a projection to the feature
/// size.
///
/// With `frames > 1` the input holds that many images stacked on the channel axis
/// (`[B, frames * C, H, W]`): each frame goes through the trunk on its own and the
/// features are averaged over time, as in the paper's audio-visual setup.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resnet18Config {
    /// Channels of the first stage (64 in the original; smaller is faster).
    #[serde(default = "default_width")]
    pub width: usize,
    /// Frames stacked on the channel axis (1 for a spectrogram or a single image).
    #[serde(default = "default_frames")]
    pub frames: usize,
}

fn default_width() -> usize {
    64
}

fn default_frames() -> usize {
    1
}

impl Default for Resnet18Config {
    fn default() -> Self {
        Self {
            width: default_width(),
            frames: default_frames(),
        }
    }
}

fn conv(c_in: usize, c_out: usize, kernel: usize, stride: usize, device: &Device) -> Conv2d {
    let pad = kernel / 2;
    Conv2dConfig::new([c_in, c_out], [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(false)
        .init(device)
}

fn norm(channels: usize, device: &Device) -> BatchNorm {
    BatchNormConfig::new(channels).init(device)
}

impl Resnet18Config {
    /// Builds the encoder for inputs of `in_channels` (all frames together) and
    /// `d_out` features. `in_channels` must be a multiple of `frames` (checked by
    /// [`crate::model::EncoderConfig::check`]).
    pub fn init(&self, in_channels: usize, d_out: usize, device: &Device) -> Resnet18 {
        let w = self.width;
        let mut blocks = Vec::with_capacity(8);
        let mut c_in = w;
        for (stage, c_out) in [w, 2 * w, 4 * w, 8 * w].into_iter().enumerate() {
            for k in 0..2 {
                let stride = if stage > 0 && k == 0 { 2 } else { 1 };
                blocks.push(BasicBlock::new(c_in, c_out, stride, device));
                c_in = c_out;
            }
        }
        Resnet18 {
            stem: conv(in_channels / self.frames, w, 7, 2, device),
            stem_norm: norm(w, device),
            // 3x3 stride-2 max-pool with padding 1.
            stem_pool: MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(),
            blocks,
            pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            proj: LinearConfig::new(8 * w, d_out).init(device),
            frames: self.frames,
        }
    }
}

/// Two 3x3 convolutions with batch norm, and the input added back (through a strided
/// 1x1 convolution when the shape changes).
#[derive(Module, Debug)]
pub struct BasicBlock {
    pub conv1: Conv2d,
    pub norm1: BatchNorm,
    pub conv2: Conv2d,
    pub norm2: BatchNorm,
    pub shortcut: Option<Conv2d>,
    pub shortcut_norm: Option<BatchNorm>,
}

impl BasicBlock {
    fn new(c_in: usize, c_out: usize, stride: usize, device: &Device) -> Self {
        let reshape = stride != 1 || c_in != c_out;
        Self {
            conv1: conv(c_in, c_out, 3, stride, device),
            norm1: norm(c_out, device),
            conv2: conv(c_out, c_out, 3, 1, device),
            norm2: norm(c_out, device),
            shortcut: reshape.then(|| {
                Conv2dConfig::new([c_in, c_out], [1, 1])
                    .with_stride([stride, stride])
                    .with_bias(false)
                    .init(device)
            }),
            shortcut_norm: reshape.then(|| norm(c_out, device)),
        }
    }

    /// `[N, C_in, H, W] -> [N, C_out, H / stride, W / stride]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = conv2d_forward(&self.conv1, x.clone());
        let y = batch_norm(&self.norm1, y, Activation::Relu);
        let y = batch_norm(
            &self.norm2,
            conv2d_forward(&self.conv2, y),
            Activation::None,
        );
        let skip = match (&self.shortcut, &self.shortcut_norm) {
            (Some(c), Some(n)) => batch_norm(n, conv2d_forward(c, x), Activation::None),
            _ => x,
        };
        kernels::add_relu(y, skip)
    }
}

/// See [`Resnet18Config`].
#[derive(Module, Debug)]
pub struct Resnet18 {
    pub stem: Conv2d,
    pub stem_norm: BatchNorm,
    pub stem_pool: MaxPool2d,
    pub blocks: Vec<BasicBlock>,
    pub pool: AdaptiveAvgPool2d,
    pub proj: Linear,
    pub frames: usize,
}

impl Resnet18 {
    /// `[B, frames * C, H, W] -> [B, d_out]`: every frame through the trunk, the
    /// pooled features averaged over frames, projected.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let [b, c, h, w] = x.dims();
        let t = self.frames.max(1);
        let x = x.reshape([b * t, c / t, h, w]);
        let x = conv2d_forward(&self.stem, x);
        let x = batch_norm(&self.stem_norm, x, Activation::Relu);
        let x = max_pool2d(&self.stem_pool, x);
        let x = self.blocks.iter().fold(x, |x, block| block.forward(x));
        let [_, channels, _, _] = x.dims();
        let features = adaptive_avg_pool2d(&self.pool, x).reshape([b, t, channels]);
        let features = features.mean_dim(1).reshape([b, channels]);
        relu(self.proj.forward(features))
    }
}
