//! MobileNetV2 (Sandler et al., 2018) as torchvision builds it (`width_mult = 1`), so
//! that its ImageNet weights load as they are.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor};

use crate::kernels::{Activation, batch_norm, conv2d_forward};

/// Size of the pooled feature: the last 1x1 convolution's channels.
pub const MOBILENET_V2_FEATURES: usize = 1280;

/// The inverted-residual stages: expansion `t`, output channels `c`, repeats `n`,
/// first stride `s` (the paper's Table 2).
pub const MOBILENET_V2_STAGES: [(usize, usize, usize, usize); 7] = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
];

/// A convolution without bias, batch norm and (optionally) ReLU6.
#[derive(Module, Debug)]
pub struct ConvBn {
    pub conv: Conv2d,
    pub bn: BatchNorm,
}

impl ConvBn {
    fn new(
        c_in: usize,
        c_out: usize,
        kernel: usize,
        stride: usize,
        groups: usize,
        d: &Device,
    ) -> Self {
        let pad = (kernel - 1) / 2;
        Self {
            conv: Conv2dConfig::new([c_in, c_out], [kernel, kernel])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                .with_groups(groups)
                .with_bias(false)
                .init(d),
            bn: BatchNormConfig::new(c_out).init(d),
        }
    }

    /// `[N, C_in, H, W] -> [N, C_out, H / stride, W / stride]`, without activation.
    fn linear(&self, x: Tensor<4>) -> Tensor<4> {
        batch_norm(&self.bn, conv2d_forward(&self.conv, x), Activation::None)
    }

    /// The same, then ReLU6.
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        batch_norm(&self.bn, conv2d_forward(&self.conv, x), Activation::Relu6)
    }
}

/// Expand (1x1, unless `t = 1`), depthwise 3x3, project (1x1, linear); the input is
/// added back when the shape does not change.
#[derive(Module, Debug)]
pub struct InvertedResidual {
    pub expand: Option<ConvBn>,
    pub depthwise: ConvBn,
    pub project: ConvBn,
    #[module(skip)]
    pub residual: bool,
}

impl InvertedResidual {
    fn new(c_in: usize, c_out: usize, stride: usize, t: usize, d: &Device) -> Self {
        let hidden = c_in * t;
        Self {
            expand: (t != 1).then(|| ConvBn::new(c_in, hidden, 1, 1, 1, d)),
            depthwise: ConvBn::new(hidden, hidden, 3, stride, hidden, d),
            project: ConvBn::new(hidden, c_out, 1, 1, 1, d),
            residual: stride == 1 && c_in == c_out,
        }
    }

    /// `[N, C_in, H, W] -> [N, C_out, H / stride, W / stride]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let h = match &self.expand {
            Some(e) => e.forward(x.clone()),
            None => x.clone(),
        };
        let out = self.project.linear(self.depthwise.forward(h));
        if self.residual { out + x } else { out }
    }
}

/// MobileNetV2 up to its pooled 1280-d feature, and the ImageNet classifier.
#[derive(Module, Debug)]
pub struct MobileNetV2 {
    /// 3x3 stride-2 convolution to 32 channels.
    pub stem: ConvBn,
    /// The 17 inverted-residual blocks.
    pub blocks: Vec<InvertedResidual>,
    /// 1x1 convolution to 1280 channels.
    pub last: ConvBn,
    /// ImageNet's 1000-class layer (dropout is the identity at inference).
    pub classifier: Linear,
}

impl MobileNetV2 {
    /// The architecture with fresh weights (to be loaded).
    pub fn new(device: &Device) -> Self {
        let mut blocks = Vec::with_capacity(17);
        let mut c_in = 32;
        for (t, c, n, s) in MOBILENET_V2_STAGES {
            for k in 0..n {
                blocks.push(InvertedResidual::new(
                    c_in,
                    c,
                    if k == 0 { s } else { 1 },
                    t,
                    device,
                ));
                c_in = c;
            }
        }
        Self {
            stem: ConvBn::new(3, 32, 3, 2, 1, device),
            blocks,
            last: ConvBn::new(320, MOBILENET_V2_FEATURES, 1, 1, 1, device),
            classifier: LinearConfig::new(MOBILENET_V2_FEATURES, 1000).init(device),
        }
    }

    /// Number of inverted-residual blocks (what `last-N-blocks` counts).
    pub fn num_blocks(&self) -> usize {
        self.blocks.len()
    }

    /// Pooled features of ImageNet-standardised images: `[N, 3, H, W] -> [N, 1280]`.
    pub fn features(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = self.stem.forward(images);
        for block in &self.blocks {
            x = block.forward(x);
        }
        let x = self.last.forward(x);
        let [n, c, h, w] = x.dims();
        x.reshape([n, c, h * w]).mean_dim(2).reshape([n, c])
    }

    /// ImageNet logits: `[N, 3, H, W] -> [N, 1000]`.
    pub fn logits(&self, images: Tensor<4>) -> Tensor<2> {
        self.classifier.forward(self.features(images))
    }

    /// Freezes every block but the last `n` (and the stem); the last convolution
    /// stays trainable when `n > 0`.
    pub fn freeze_all_but_last(self, n: usize) -> Self {
        let keep_from = self.blocks.len().saturating_sub(n);
        let blocks = self
            .blocks
            .into_iter()
            .enumerate()
            .map(|(i, b)| if i < keep_from { b.freeze() } else { b })
            .collect();
        Self {
            stem: self.stem.freeze(),
            blocks,
            last: if n == 0 {
                self.last.freeze()
            } else {
                self.last
            },
            classifier: self.classifier.freeze(),
        }
    }
}

/// Our name for one of torchvision's parameters (`features.N...`, `classifier.1...`),
/// keeping torchvision's last segment (`weight`, `running_mean`: the loader's adapter
/// maps those); `None` for what we do not keep (`num_batches_tracked`) or know.
pub fn from_torchvision(name: &str) -> Option<String> {
    let (module, param) = name.rsplit_once('.')?;
    if param == "num_batches_tracked" {
        return None;
    }
    let parts: Vec<&str> = module.split('.').collect();
    let conv_bn = |rest: &[&str]| match rest {
        ["0"] => Some("conv"),
        ["1"] => Some("bn"),
        _ => None,
    };
    let path = match parts.as_slice() {
        ["features", "0", rest @ ..] => format!("stem.{}", conv_bn(rest)?),
        ["features", "18", rest @ ..] => format!("last.{}", conv_bn(rest)?),
        ["classifier", "1"] => "classifier".to_string(),
        ["features", i, "conv", rest @ ..] => {
            let i: usize = i.parse().ok()?;
            if !(1..=17).contains(&i) {
                return None;
            }
            // torchvision's `conv` Sequential: [expand ConvBNReLU,] depthwise
            // ConvBNReLU, project Conv2d, BatchNorm2d; block 1 has no expansion.
            let expands = i > 1;
            let part = match (rest, expands) {
                (["0", cb], true) => format!("expand.{}", conv_bn(&[cb])?),
                (["0", cb], false) | (["1", cb], true) => format!("depthwise.{}", conv_bn(&[cb])?),
                (["1"], false) | (["2"], true) => "project.conv".to_string(),
                (["2"], false) | (["3"], true) => "project.bn".to_string(),
                _ => return None,
            };
            format!("blocks.{}.{part}", i - 1)
        }
        _ => return None,
    };
    Some(format!("{path}.{param}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torchvision_names_map_to_ours() {
        let cases = [
            ("features.0.0.weight", "stem.conv.weight"),
            ("features.0.1.running_var", "stem.bn.running_var"),
            (
                "features.1.conv.0.0.weight",
                "blocks.0.depthwise.conv.weight",
            ),
            ("features.1.conv.1.weight", "blocks.0.project.conv.weight"),
            ("features.1.conv.2.weight", "blocks.0.project.bn.weight"),
            ("features.2.conv.0.1.bias", "blocks.1.expand.bn.bias"),
            (
                "features.2.conv.1.0.weight",
                "blocks.1.depthwise.conv.weight",
            ),
            ("features.17.conv.2.weight", "blocks.16.project.conv.weight"),
            (
                "features.17.conv.3.running_mean",
                "blocks.16.project.bn.running_mean",
            ),
            ("features.18.0.weight", "last.conv.weight"),
            ("classifier.1.bias", "classifier.bias"),
        ];
        for (theirs, ours) in cases {
            assert_eq!(from_torchvision(theirs).as_deref(), Some(ours), "{theirs}");
        }
        assert_eq!(
            from_torchvision("features.3.conv.1.num_batches_tracked"),
            None
        );
        assert_eq!(from_torchvision("features.1.conv.3.weight"), None);
        assert_eq!(from_torchvision("features.19.0.weight"), None);
        assert_eq!(from_torchvision("fc.weight"), None);
    }

    #[test]
    fn architecture_has_torchvisions_parameter_count() {
        let model = MobileNetV2::new(&Device::flex());
        assert_eq!(model.num_blocks(), 17);
        // torchvision's mobilenet_v2 has 3,504,872 parameters; Burn's count also has
        // the running mean and variance of its batch norms' 17,056 channels.
        assert_eq!(model.num_params(), 3_504_872 + 2 * 17_056);
    }
}
