//! ResNet-18: the architecture against torchvision's parameter count, frame pooling,
//! learning inside MLA, and batch-norm statistics surviving a checkpoint.

mod common;

use common::{cpu, host};
use mla::burn::module::{Module, ModuleVisitor, Param};
use mla::burn::tensor::{Distribution, Tensor};
use mla::model::{EncoderConfig, Resnet18Config};
use mla::{RunConfig, Trainer};

/// The tests of this file draw from the backend's global RNG (unseeded weights, random
/// inputs); one at a time, so none steals draws from another's seeded initialisation.
static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    RNG.lock().unwrap_or_else(|p| p.into_inner())
}

fn parameters<M: Module>(m: &M) -> usize {
    struct Count(usize);
    impl ModuleVisitor for Count {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            self.0 += p.val().shape().num_elements();
        }
    }
    let mut c = Count(0);
    m.visit(&mut c);
    c.0
}

#[test]
fn parameter_count_matches_torchvision_resnet18() {
    let _rng = one_at_a_time();
    // torchvision.models.resnet18(): 11,689,512 parameters, of which the final
    // 512 -> 1000 layer holds 513,000; ours ends in a 512 -> d_out projection instead.
    // Burn's visitor also sees the batch norms' running mean and variance (4,800
    // channels: 64 in the stem, then 4 x 64, 4 x 128 + 128, 4 x 256 + 256 and
    // 4 x 512 + 512 in the stages, the extra ones in the downsampling shortcuts).
    let net = Resnet18Config::default().init(3, 10, &cpu());
    assert_eq!(
        parameters(&net),
        11_689_512 - 513_000 + 512 * 10 + 10 + 2 * 4_800
    );
}

#[test]
fn frames_are_encoded_one_by_one_and_averaged() {
    let _rng = one_at_a_time();
    let device = cpu();
    let config = Resnet18Config {
        width: 8,
        frames: 3,
    };
    let video = config.init(3 * 3, 16, &device);
    let frame = Tensor::<4>::random([2, 3, 20, 24], Distribution::Normal(0.0, 1.0), &device);
    let same = Tensor::cat(vec![frame.clone(), frame.clone(), frame.clone()], 1);
    let out = video.forward(same);
    assert_eq!(out.dims(), [2, 16]);
    // The same weights reading one frame: averaging three equal frames changes nothing.
    let mut single = video.clone();
    single.frames = 1;
    let one = single.forward(frame);
    let (a, b) = (host(out), host(one));
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    assert!(worst < 1e-5, "max difference {worst}");

    // Channels that are not a whole number of frames are refused, with the reason.
    let kind = mla::data::InputKind::Image {
        channels: 4,
        height: 8,
        width: 8,
    };
    let err = EncoderConfig::Resnet18(config).check(&kind, "model.encoders[0]");
    assert!(err.is_err_and(|e| e.to_string().contains("dividing the input's 4 channels")));
}

/// The built-in coloured shapes with captions, images at 32 x 32, ResNet-18 on images.
fn shapes_run() -> (RunConfig, mla::data::Splits) {
    let upload = mla::data::Upload::sample(480, 0).unwrap();
    let data = upload
        .build(&mla::data::ManifestConfig {
            image_size: 32,
            ..Default::default()
        })
        .unwrap();
    let mut config = RunConfig::default();
    config.model.feature_dim = 32;
    let kinds = data.splits.train.kinds();
    config.model.encoders = vec![
        EncoderConfig::Resnet18(Resnet18Config {
            width: 8,
            frames: 1,
        }),
        EncoderConfig::default_for(&kinds[1]),
    ];
    config.train.batch_size = 32;
    config.train.optimizer.lr = 0.05;
    (config, data.splits)
}

#[test]
fn resnet18_learns_in_mla_and_its_batch_norm_survives_a_checkpoint() {
    let _rng = one_at_a_time();
    let (mut config, splits) = shapes_run();
    config.train.epochs = 6;
    let device = cpu();
    let new = || Trainer::new(&config.model, &config.train, splits.clone(), &device).unwrap();
    let (mut whole, mut first) = (new(), new());
    for _ in 0..3 {
        pollster::block_on(first.end_epoch()).unwrap();
    }
    let bytes = pollster::block_on(first.checkpoint()).unwrap();
    let mut resumed = Trainer::resume(
        &config.model,
        &config.train,
        splits.clone(),
        &device,
        &bytes,
    )
    .unwrap();
    for t in [&mut whole, &mut resumed] {
        while !t.is_finished() {
            pollster::block_on(t.end_epoch()).unwrap();
        }
    }
    let test = pollster::block_on(whole.test()).unwrap();
    println!("{test:?}");
    let image = test.unimodal[0];
    assert!(image > 0.5, "resnet18 image accuracy {image} (chance 1/6)");
    // Evaluation uses the running batch-norm statistics: equal only if they were saved.
    for (a, b) in resumed.history().iter().zip(whole.history()) {
        assert_eq!(a, b, "epoch {}", a.epoch);
    }
    assert_eq!(pollster::block_on(resumed.test()).unwrap(), test);
}
