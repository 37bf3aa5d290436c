//! The multimodal model: per-modality encoders and one linear head.

use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::LinearConfig;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::pretrained::{EncoderFiles, Net, TrainMode, extract_modality};
use super::{Encoder, EncoderConfig, Head, HeadLayout, seeded};
use crate::data::{Batch, ColumnKind, Dataset, EncoderInput, InputKind};
use crate::error::{MlaError, Result};

/// Architecture settings: the feature size and each modality's encoder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Size `s` of every encoder's output feature.
    #[serde(default = "default_feature_dim")]
    pub feature_dim: usize,
    /// One encoder per modality; empty means "the default encoder for each input kind".
    #[serde(default)]
    pub encoders: Vec<EncoderConfig>,
    /// Where `encoders` is empty: pretrained encoders for the image and text columns
    /// of a manifest (MobileNetV2, MiniLM) instead of encoders trained from scratch.
    #[serde(default)]
    pub pretrained: bool,
}

fn default_feature_dim() -> usize {
    128
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            feature_dim: default_feature_dim(),
            encoders: Vec::new(),
            pretrained: false,
        }
    }
}

impl ModelConfig {
    /// The default for manifests of raw data: smaller features than the synthetic
    /// data's, so a page or a laptop trains it in seconds per epoch.
    pub fn for_manifest() -> Self {
        Self {
            feature_dim: 64,
            ..Self::default()
        }
    }

    /// The encoders of a manifest's columns, filling in defaults by column kind
    /// (pretrained ones for images and texts with `pretrained`).
    pub fn for_columns(&self, kinds: &[ColumnKind]) -> Result<Vec<EncoderConfig>> {
        if self.encoders.is_empty() {
            return Ok(kinds
                .iter()
                .map(|&k| EncoderConfig::for_column(k, self.pretrained))
                .collect());
        }
        if self.encoders.len() != kinds.len() {
            return Err(MlaError::config(
                "model.encoders",
                format!(
                    "{} encoders for {} columns",
                    self.encoders.len(),
                    kinds.len()
                ),
            ));
        }
        Ok(self.encoders.clone())
    }

    /// The encoder configuration of each modality, filling in defaults.
    pub fn resolve(&self, kinds: &[InputKind]) -> Result<Vec<EncoderConfig>> {
        if self.feature_dim == 0 {
            return Err(MlaError::config("model.feature_dim", "must be > 0"));
        }
        let encoders = if self.encoders.is_empty() {
            kinds.iter().map(EncoderConfig::default_for).collect()
        } else {
            self.encoders.clone()
        };
        if encoders.len() != kinds.len() {
            return Err(MlaError::config(
                "model.encoders",
                format!("{} encoders for {} modalities", encoders.len(), kinds.len()),
            ));
        }
        for (i, (e, k)) in encoders.iter().zip(kinds).enumerate() {
            e.check(k, &format!("model.encoders[{i}]"))?;
        }
        Ok(encoders)
    }
}

/// Everything needed to rebuild a model's architecture (saved next to its weights).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Modality names, in order.
    pub modalities: Vec<String>,
    /// Input kind of each modality.
    pub inputs: Vec<InputKind>,
    /// Encoder of each modality (resolved, never empty).
    pub encoders: Vec<EncoderConfig>,
    /// Feature size `s`.
    pub feature_dim: usize,
    /// Number of classes `C`.
    pub num_classes: usize,
    /// How the head reads the features.
    pub head: HeadLayout,
}

impl ModelSpec {
    /// Checks that the parts agree and every size is within [`crate::limits`], before
    /// anything of that size is allocated (a model file's header is untrusted input).
    /// Errors name the field.
    pub fn validate(&self) -> Result<()> {
        use crate::limits::{
            MAX_CHANNELS, MAX_CLASSES, MAX_FRAMES, MAX_TOKENS, MAX_VECTOR_LEN, MAX_VOCAB,
            MAX_WIDTH, within,
        };
        let bad = |why: String| MlaError::config("model (architecture)", why);
        let m = self.modalities.len();
        if m == 0 || self.inputs.len() != m || self.encoders.len() != m {
            return Err(bad(format!(
                "{m} modalities, {} inputs and {} encoders (one each, at least one)",
                self.inputs.len(),
                self.encoders.len()
            )));
        }
        if self.feature_dim == 0 || self.num_classes < 2 {
            return Err(bad(format!(
                "`feature_dim` {} and `num_classes` {} (need >= 1 and >= 2)",
                self.feature_dim, self.num_classes
            )));
        }
        let mut sizes = vec![
            ("feature_dim", self.feature_dim, MAX_WIDTH),
            ("num_classes", self.num_classes, MAX_CLASSES),
        ];
        for (input, encoder) in self.inputs.iter().zip(&self.encoders) {
            match *input {
                InputKind::Features { dim } => sizes.push(("inputs.dim", dim, MAX_VECTOR_LEN)),
                InputKind::Image {
                    channels,
                    height,
                    width,
                } => sizes.extend([
                    ("inputs.channels", channels, MAX_CHANNELS),
                    ("inputs.height", height, MAX_FRAMES),
                    ("inputs.width", width, MAX_FRAMES),
                    (
                        "inputs (values)",
                        channels.saturating_mul(height).saturating_mul(width),
                        MAX_VECTOR_LEN,
                    ),
                ]),
                InputKind::Tokens { len, vocab } => sizes.extend([
                    ("inputs.len", len, MAX_TOKENS),
                    ("inputs.vocab", vocab, MAX_VOCAB),
                ]),
            }
            sizes.extend(encoder.sizes());
        }
        for (field, value, max) in sizes {
            within(field, value, max).map_err(bad)?;
        }
        // Each size within bounds, their products may not be: the whole model is too.
        let (s, c) = (self.feature_dim, self.num_classes);
        let head = match self.head {
            HeadLayout::Autoencoder { hidden: h }
            | HeadLayout::Cascade { hidden: h, .. }
            | HeadLayout::Imagination { hidden: h, .. } => {
                let blocks = match self.head {
                    HeadLayout::Cascade { blocks, .. } | HeadLayout::Imagination { blocks, .. } => {
                        blocks
                    }
                    _ => 1,
                };
                within("head blocks", blocks, 64).map_err(bad)?;
                within("head hidden", h, MAX_WIDTH).map_err(bad)?;
                m.saturating_mul(s)
                    .saturating_mul(h)
                    .saturating_mul(4 * blocks)
                    .saturating_add(h.saturating_mul(blocks).saturating_mul(c))
            }
            _ => m.saturating_mul(s).saturating_mul(s + c).saturating_mul(2),
        };
        let params = self
            .inputs
            .iter()
            .zip(&self.encoders)
            .map(|(i, e)| e.approx_params(i, s))
            .fold(head, usize::saturating_add);
        within("parameters (estimated)", params, crate::limits::MAX_PARAMS).map_err(bad)?;
        Ok(())
    }

    /// The frozen pretrained networks, which a model file leaves out: what a front end
    /// loads ([`MultimodalModel::with_frozen_networks`]) to predict from raw inputs.
    pub fn frozen_networks(&self) -> Vec<Net> {
        self.encoders
            .iter()
            .filter_map(EncoderConfig::pretrained)
            .filter(|p| p.train == TrainMode::Frozen)
            .map(|p| p.net)
            .collect()
    }

    /// The architecture `config` gives for the modalities and classes of `data`.
    pub fn for_data(data: &Dataset, config: &ModelConfig, head: HeadLayout) -> Result<Self> {
        let kinds = data.kinds();
        let encoders = config.resolve(&kinds)?;
        Ok(ModelSpec {
            modalities: data.names(),
            inputs: encoders
                .iter()
                .zip(&kinds)
                .map(|(e, k)| e.model_input(k))
                .collect(),
            encoders,
            feature_dim: config.feature_dim,
            num_classes: data.num_classes,
            head,
        })
    }

    /// Builds the model with weights drawn from `seed`.
    ///
    /// Weights are drawn on the CPU and then moved to `device`, so the same seed gives
    /// the same initial model on every backend.
    pub fn init(&self, seed: u64, device: &Device) -> Result<MultimodalModel> {
        let cpu = Device::flex();
        let (model, record) = seeded(&cpu, seed, || {
            let model = self.build(&cpu)?;
            // Drawing every (lazily initialised) parameter now, while the seeded RNG is
            // ours, in the order of the module tree: encoders, then the head.
            model.encoders.visit(&mut Draw);
            if self.head.per_modality() {
                // Models before typed heads drew a 1x1 stand-in head here; drawing it
                // still keeps a seed's initial weights what they were.
                LinearConfig::new(1, 1).init(&cpu).visit(&mut Draw);
            }
            let record = model.clone().into_record();
            Ok::<_, MlaError>((model, record))
        })?;
        Ok(model.load_record(record).to_device(device))
    }

    /// Builds the architecture on `device` with parameters that are still to be
    /// initialised or loaded (see [`crate::io::load_model`]).
    pub fn build(&self, device: &Device) -> Result<MultimodalModel> {
        if self.encoders.len() != self.inputs.len() || self.modalities.len() != self.inputs.len() {
            return Err(MlaError::Model(
                "modalities, inputs and encoders differ in number".into(),
            ));
        }
        let m = self.inputs.len();
        self.head.check(m)?;
        let encoders = self
            .encoders
            .iter()
            .zip(&self.inputs)
            .map(|(e, k)| e.init(k, self.feature_dim, device))
            .collect::<Result<Vec<_>>>()?;
        let head = self
            .head
            .init(m, self.feature_dim, self.num_classes, device);
        Ok(MultimodalModel {
            encoders,
            head,
            layout: self.head,
            temperatures: Vec::new(),
        })
    }
}

/// Which pretrained networks [`MultimodalModel::load_networks`] puts in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Networks {
    /// The frozen ones, which model files leave out: needed to predict from raw inputs.
    Frozen,
    /// The ones that train: their starting weights, when training begins.
    Trained,
}

/// Encoders `h_1 .. h_M` and the head `g` (for the baselines, the fused head of their
/// layout: see [`Head`]).
#[derive(Module, Debug)]
pub struct MultimodalModel {
    pub encoders: Vec<Encoder>,
    pub head: Head,
    /// The configuration `head` was built from.
    #[module(skip)]
    pub layout: HeadLayout,
    /// MLA with `calibrate`: each modality's temperature, dividing its logits before
    /// fusion (empty: none). Saved in the model file's header.
    #[module(skip)]
    pub temperatures: Vec<f32>,
}

impl MultimodalModel {
    /// Puts the weights of the pretrained networks of `which` encoders in, from `files`
    /// (each checked against the SHA-256 its configuration names). Trained networks
    /// are frozen where their `train` mode says.
    pub fn load_networks(
        mut self,
        spec: &ModelSpec,
        files: &EncoderFiles,
        which: Networks,
        device: &Device,
    ) -> Result<Self> {
        for (encoder, config) in self.encoders.iter_mut().zip(&spec.encoders) {
            let (Encoder::Pretrained(e), Some(p)) = (encoder, config.pretrained()) else {
                continue;
            };
            if (p.train == TrainMode::Frozen) != (which == Networks::Frozen) {
                continue;
            }
            let file = files.get(p.net, p.sha256.as_deref())?;
            e.backbone = Some(file.backbone(device)?.freeze_for(p.train));
        }
        Ok(self)
    }

    /// Fits what the encoders take from the training split's present samples rather
    /// than learn: the standardisation of each frozen pretrained encoder's cached
    /// features, and the word weights of each text encoder with TF-IDF pooling. Done
    /// once, when training starts: the statistics are part of the model from then on.
    pub fn fit_statistics(mut self, train: &Dataset) -> Self {
        for (encoder, data) in self.encoders.iter_mut().zip(&train.modalities) {
            let rows = || -> Vec<usize> {
                (0..data.present.len())
                    .filter(|&i| data.present[i])
                    .collect()
            };
            match (encoder, &data.kind) {
                (Encoder::Pretrained(e), InputKind::Features { .. }) => {
                    e.standardize(&data.values, &rows())
                }
                (Encoder::Text(e), InputKind::Tokens { len, .. }) => {
                    e.fit_idf(&data.values, *len, &rows())
                }
                _ => {}
            }
        }
        self
    }

    /// The model with the frozen pretrained networks its file leaves out (none: as it
    /// is), their encoder files taken from `files` or, where missing there, fetched by
    /// file name with `fetch` (a front end's read of a folder or URL) and kept in
    /// `files`; each checked against the SHA-256 the model names.
    pub async fn with_frozen_networks<F, Fut>(
        self,
        spec: &ModelSpec,
        files: &mut EncoderFiles,
        device: &Device,
        fetch: F,
    ) -> Result<Self>
    where
        F: FnMut(String) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<Vec<u8>, String>>,
    {
        let nets = spec.frozen_networks();
        if nets.is_empty() {
            return Ok(self);
        }
        files.fetch(&nets, fetch).await?;
        self.load_networks(spec, files, Networks::Frozen, device)
    }

    /// Standardises the features of each pretrained network in the model (those that
    /// train) with their statistics over `train`'s present samples: one pass of the
    /// network, when training starts.
    pub async fn standardize_networks(mut self, train: &Dataset, device: &Device) -> Result<Self> {
        for (encoder, data) in self.encoders.iter_mut().zip(&train.modalities) {
            let Encoder::Pretrained(e) = encoder else {
                continue;
            };
            let Some(backbone) = &e.backbone else {
                continue;
            };
            let dim = e.net.feature_dim();
            let features =
                extract_modality(data, &backbone.valid(), dim, device, &mut |_| {}).await?;
            let rows: Vec<usize> = (0..data.present.len())
                .filter(|&i| data.present[i])
                .collect();
            e.standardize(&features.values, &rows);
        }
        Ok(self)
    }

    /// The model without the pretrained networks of `which` encoders (what a model
    /// file holds: frozen networks are named by their file's hash instead).
    pub fn drop_networks(mut self, spec: &ModelSpec, which: Networks) -> Self {
        for (encoder, config) in self.encoders.iter_mut().zip(&spec.encoders) {
            if let (Encoder::Pretrained(e), Some(p)) = (encoder, config.pretrained())
                && (p.train == TrainMode::Frozen) == (which == Networks::Frozen)
            {
                e.backbone = None;
            }
        }
        self
    }

    /// Number of modalities `M`.
    pub fn num_modalities(&self) -> usize {
        self.encoders.len()
    }

    /// `h_m(x)`: `[B, s]`.
    pub fn features(&self, modality: usize, input: &EncoderInput) -> Result<Tensor<2>> {
        self.encoders[modality].forward(input)
    }

    /// Unimodal logits `f_m = g(h_m(x))`: `[B, s] -> [B, C]` ([`Head::unimodal_logits`]).
    pub fn unimodal_logits(&self, modality: usize, features: Tensor<2>) -> Tensor<2> {
        self.head.unimodal_logits(modality, features)
    }

    /// Every modality's features of a batch: `M x [B, s]`.
    pub fn all_features(&self, batch: &Batch) -> Result<Vec<Tensor<2>>> {
        (0..self.num_modalities())
            .map(|m| self.features(m, &batch.inputs[m]))
            .collect()
    }

    /// Logits of every modality for a batch: `[M, B, C]`.
    pub fn all_unimodal_logits(&self, batch: &Batch) -> Result<Tensor<3>> {
        let logits = (0..self.num_modalities())
            .map(|m| Ok(self.unimodal_logits(m, self.features(m, &batch.inputs[m])?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Tensor::stack(logits, 0))
    }
}

/// Draws a lazily initialised parameter's value.
struct Draw;

impl ModuleVisitor for Draw {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let _ = param.val();
    }
}
