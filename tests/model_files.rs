//! Model files of every head layout, written by earlier versions of the crate, still
//! load and predict what they predicted when they were written; checkpoints of earlier
//! versions still resume.
//!
//! `tests/fixtures/model-files/<format>/` holds, per layout, a model file and the
//! predictions its writer made on a fixed batch (`<layout>.json`), and checkpoints
//! after the first epoch of a few runs (`<run>.checkpoint`). `v1` was written by the
//! last version before typed heads (untyped weights: `MLA2` files, checkpoint version
//! 2), `v2` by the first with them (`MLA3`, version 3). A new format adds a folder:
//! `MLA_FIXTURE_FORMAT=v3 cargo test --release --test model_files -- --ignored`.

mod common;

use std::path::{Path, PathBuf};

use mla::burn::module::{Module, ModuleMapper, Param};
use mla::burn::tensor::Tensor;
use mla::data::{Batch, Dataset, InputKind, ModalityData};
use mla::fusion::Fusion;
use mla::io::{ModelHeader, load_model, save_model};
use mla::model::{EncoderConfig, HeadLayout, MlpEncoderConfig, ModelSpec};
use mla::rng::Rng;
use serde::{Deserialize, Serialize};

use common::{cpu, host};

/// Every head layout, named for its file.
fn layouts() -> Vec<(&'static str, HeadLayout)> {
    vec![
        ("shared", HeadLayout::Shared),
        ("shared-weight", HeadLayout::SharedWeight),
        ("unshared", HeadLayout::Unshared),
        ("concat", HeadLayout::Concat),
        ("sum", HeadLayout::Sum),
        ("late", HeadLayout::Late),
        ("energy", HeadLayout::Energy),
        ("film", HeadLayout::Film { condition: 1 }),
        ("gated", HeadLayout::Gated { gate: 2 }),
        ("autoencoder", HeadLayout::Autoencoder { hidden: 5 }),
        (
            "cascade",
            HeadLayout::Cascade {
                blocks: 2,
                hidden: 5,
            },
        ),
        (
            "imagination",
            HeadLayout::Imagination {
                blocks: 2,
                hidden: 5,
            },
        ),
    ]
}

/// Three modalities of 5, 4 and 3 features, 3 classes, 6 samples, some modalities
/// absent.
fn data() -> Dataset {
    let mut rng = Rng::new(7);
    let n = 6;
    let absent = [(0, 1), (1, 3), (2, 4), (0, 5), (2, 5)];
    let modalities = [5, 4, 3]
        .iter()
        .enumerate()
        .map(|(k, &dim)| ModalityData {
            name: format!("m{k}"),
            kind: InputKind::Features { dim },
            values: (0..n * dim)
                .map(|_| rng.normal() as f32)
                .collect::<Vec<_>>()
                .into(),
            present: (0..n).map(|i| !absent.contains(&(k, i))).collect(),
        })
        .collect();
    Dataset::new(modalities, vec![0, 1, 2, 0, 1, 2], 3).unwrap()
}

fn spec(layout: HeadLayout) -> ModelSpec {
    let data = data();
    let encoder = EncoderConfig::Mlp(MlpEncoderConfig {
        hidden: 6,
        layers: 2,
    });
    ModelSpec {
        modalities: data.names(),
        inputs: data.kinds(),
        encoders: vec![encoder; 3],
        feature_dim: 4,
        num_classes: 3,
        head: layout,
    }
}

/// Adds a different small offset to every weight, so that no parameter is zero (the
/// per-modality biases start at zero) and any two swapped parameters differ.
struct Perturb(usize);

impl ModuleMapper for Perturb {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.map(|value| {
            let shape = value.shape();
            let n = shape.num_elements();
            let offsets: Vec<f32> = (0..n)
                .map(|i| 0.1 * ((self.0 * 1000 + i) as f32 * 0.37).sin())
                .collect();
            self.0 += 1;
            let offsets =
                Tensor::<1>::from_floats(offsets.as_slice(), &value.device()).reshape(shape);
            value + offsets
        })
    }
}

/// What a model predicted on [`data`]'s batch.
#[derive(Debug, Serialize, Deserialize)]
struct Expected {
    unimodal: Vec<f32>,
    fused: Vec<f32>,
    weights: Vec<f32>,
}

fn predictions(model: &mla::model::MultimodalModel) -> Expected {
    let data = data();
    let indices: Vec<usize> = (0..data.len()).collect();
    let batch = Batch::gather(&data, &indices, &cpu());
    let p = mla::eval::predict(model, Fusion::Entropy, &batch).unwrap();
    Expected {
        unimodal: host(p.unimodal),
        fused: host(p.fused),
        weights: host(p.weights),
    }
}

fn fixtures(format: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/model-files")
        .join(format)
}

/// Writes this version's model file and predictions for every layout into
/// `tests/fixtures/model-files/$MLA_FIXTURE_FORMAT/`.
#[test]
#[ignore = "writes fixtures: MLA_FIXTURE_FORMAT=name cargo test --test model_files -- --ignored"]
fn write_fixtures() {
    let format = std::env::var("MLA_FIXTURE_FORMAT").expect("MLA_FIXTURE_FORMAT");
    let dir = fixtures(&format);
    std::fs::create_dir_all(&dir).unwrap();
    for (k, (name, layout)) in layouts().into_iter().enumerate() {
        let spec = spec(layout);
        let model = spec.init(k as u64, &cpu()).unwrap().map(&mut Perturb(0));
        let header = ModelHeader::new(spec, Fusion::Entropy, None);
        let bytes = pollster::block_on(save_model(&header, &model)).unwrap();
        std::fs::write(dir.join(format!("{name}.mla")), bytes).unwrap();
        let expected = serde_json::to_string(&predictions(&model)).unwrap();
        std::fs::write(dir.join(format!("{name}.json")), expected).unwrap();
    }
}

/// The runs whose checkpoints after one epoch are kept as fixtures: MLA (shared head,
/// HGM, momentum), MLA with a bias per modality and its own head optimizers, late
/// fusion (a head per modality) and MMIN (imputation), each for 3 epochs.
fn checkpoint_runs() -> Vec<(&'static str, mla::RunConfig)> {
    let base = || {
        let mut config = mla::RunConfig::default();
        config.train.epochs = 3;
        let synth = common::synth(&mut config);
        (synth.train, synth.valid, synth.test) = (200, 50, 50);
        config.model.feature_dim = 8;
        config.model.encoders = vec![
            EncoderConfig::Mlp(MlpEncoderConfig {
                hidden: 8,
                layers: 2,
            });
            2
        ];
        config
    };
    let mut bias = base();
    bias.train.mla.bias_per_modality = true;
    bias.train.mla.head_state_per_modality = true;
    let mut late = base();
    late.train.method = mla::Method::Late;
    let mut mmin = base();
    mmin.train.method = mla::Method::Mmin;
    mmin.missing = mla::data::MissingConfig::everywhere(0.3);
    vec![
        ("mla", base()),
        ("mla-bias", bias),
        ("late", late),
        ("mmin", mmin),
    ]
}

#[test]
#[ignore = "writes fixtures: MLA_FIXTURE_FORMAT=name cargo test --test model_files -- --ignored"]
fn write_checkpoint_fixtures() {
    let format = std::env::var("MLA_FIXTURE_FORMAT").expect("MLA_FIXTURE_FORMAT");
    let dir = fixtures(&format);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, config) in checkpoint_runs() {
        let mut trainer = mla::Trainer::new(
            &config.model,
            &config.train,
            common::splits_of(&config),
            &cpu(),
        )
        .unwrap();
        pollster::block_on(trainer.end_epoch()).unwrap();
        let bytes = pollster::block_on(trainer.checkpoint()).unwrap();
        std::fs::write(dir.join(format!("{name}.checkpoint")), bytes).unwrap();
    }
}

/// The formats kept as fixtures, oldest first.
const FORMATS: [&str; 2] = ["v1", "v2"];

#[test]
fn model_files_of_every_layout_and_format_predict_what_they_did_when_written() {
    for format in FORMATS {
        for (name, layout) in layouts() {
            let path = fixtures(format).join(format!("{name}.mla"));
            let bytes = std::fs::read(&path).unwrap();
            let (header, model) = pollster::block_on(load_model(&bytes, &cpu()))
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(header.spec.head, layout);
            let want: Expected = serde_json::from_slice(
                &std::fs::read(fixtures(format).join(format!("{name}.json"))).unwrap(),
            )
            .unwrap();
            let got = predictions(&model);
            for (what, got, want) in [
                ("unimodal", &got.unimodal, &want.unimodal),
                ("fused", &got.fused, &want.fused),
                ("weights", &got.weights, &want.weights),
            ] {
                assert_eq!(got.len(), want.len(), "{format}/{name}: {what}");
                for (g, w) in got.iter().zip(want) {
                    assert!(
                        (g - w).abs() <= 1e-6 * w.abs().max(1.0),
                        "{format}/{name}: {what} {g} != {w}"
                    );
                }
            }
            // Saved again, it is a file of the current format that predicts the same.
            let again = pollster::block_on(save_model(&header, &model)).unwrap();
            assert_eq!(&again[..4], b"MLA3", "{format}/{name}");
            let (_, reloaded) = pollster::block_on(load_model(&again, &cpu())).unwrap();
            assert_eq!(predictions(&reloaded).fused, got.fused, "{format}/{name}");
        }
    }
}

/// Training resumed by this version from an earlier version's checkpoint ends as this
/// version's run that never stopped (to rounding: the checkpoint's first epoch ran on
/// that version's kernels): the weights and the optimizer's state (keyed by parameter
/// ids) carried over to the right parameters.
#[test]
fn checkpoints_of_every_format_resume_and_end_as_a_run_never_stopped() {
    for format in FORMATS {
        for (name, config) in checkpoint_runs() {
            let path = fixtures(format).join(format!("{name}.checkpoint"));
            let bytes = std::fs::read(&path).unwrap();
            let new = || common::splits_of(&config);
            let mut resumed =
                mla::Trainer::resume(&config.model, &config.train, new(), &cpu(), &bytes)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(resumed.epochs_done(), 1);
            let mut whole = mla::Trainer::new(&config.model, &config.train, new(), &cpu()).unwrap();
            for trainer in [&mut resumed, &mut whole] {
                while !trainer.is_finished() {
                    pollster::block_on(trainer.end_epoch()).unwrap();
                }
            }
            // The first epoch's numbers come from the checkpoint, computed by the build
            // that wrote it: its losses may differ in the last bits where this build's
            // kernels sum in another order (AVX-512 products); all else is exact.
            let (a, b) = (resumed.history(), whole.history());
            assert_eq!(a.len(), b.len(), "{format}/{name}: epochs");
            for (ra, rb) in a.iter().zip(b) {
                for (la, lb) in ra.train_loss.iter().zip(&rb.train_loss) {
                    assert!(
                        (la - lb).abs() <= 1e-6 * lb.abs().max(1.0),
                        "{format}/{name}: epoch {} loss {la} != {lb}",
                        rb.epoch
                    );
                }
                let same_loss = mla::EpochMetrics {
                    train_loss: rb.train_loss.clone(),
                    ..ra.clone()
                };
                assert_eq!(
                    &same_loss, rb,
                    "{format}/{name}: every epoch's accuracies and settings"
                );
            }
            // Bit for bit only where the checkpoint's build summed as this one does; a
            // parameter or optimizer state carried to the wrong place differs by far
            // more than rounding.
            let (a, b) = (
                common::params(&resumed.best_model().0),
                common::params(&whole.best_model().0),
            );
            assert_eq!(a.len(), b.len(), "{format}/{name}: parameters");
            for (i, (pa, pb)) in a.iter().zip(&b).enumerate() {
                assert!(
                    (pa - pb).abs() <= 1e-6 + 1e-5 * pb.abs(),
                    "{format}/{name}: best weights, parameter {i}: {pa} != {pb}"
                );
            }
        }
    }
}

/// A model file of a format this build does not know is refused, saying why.
#[test]
fn a_model_file_of_a_newer_format_is_refused_by_name() {
    let mut bytes = std::fs::read(fixtures("v2").join("shared.mla")).unwrap();
    bytes[3] = b'4';
    let e = pollster::block_on(load_model(&bytes, &cpu())).unwrap_err();
    assert!(e.to_string().contains("newer"), "{e}");
}
