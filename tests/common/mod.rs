//! Helpers shared by the integration tests: host reads and f64 references.
#![allow(dead_code)]

use mla::burn::tensor::{Device, Tensor, TensorData};
use mla::rng::Rng;

pub fn cpu() -> Device {
    Device::flex()
}

/// The wgpu device, or `None` (skip) where there is no adapter. CI installs a software
/// Vulkan adapter and sets MLA_REQUIRE_WGPU=1, so there a test cannot pass by skipping.
#[cfg(feature = "wgpu")]
pub fn wgpu() -> Option<Device> {
    match mla::Backend::Wgpu.device() {
        Ok(device) => Some(device),
        Err(e) if std::env::var_os("MLA_REQUIRE_WGPU").is_none() => {
            eprintln!("skipping: {e} (set MLA_REQUIRE_WGPU=1 to make this an error)");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

/// A folder named by the environment variable `var`, else `default` under
/// `~/.cache/mla`, if it holds `probe`; `None` (skip) otherwise, unless
/// MLA_REQUIRE_PRETRAINED is set (as CI does after fetching them).
pub fn cached_dir(var: &str, default: &str, probe: &str) -> Option<std::path::PathBuf> {
    let dir = match std::env::var_os(var).filter(|v| !v.is_empty()) {
        Some(d) => std::path::PathBuf::from(d),
        None => std::path::PathBuf::from(std::env::var_os("HOME")?)
            .join(".cache/mla")
            .join(default),
    };
    if dir.join(probe).exists() {
        return Some(dir);
    }
    let why = format!(
        "{} not found (set {var}; `mla-native encoders import` makes the encoder files, \
         see the README)",
        dir.join(probe).display()
    );
    if std::env::var_os("MLA_REQUIRE_PRETRAINED").is_some() {
        panic!("{why}");
    }
    eprintln!("skipping: {why} (set MLA_REQUIRE_PRETRAINED=1 to make this an error)");
    None
}

/// Reads any float tensor to the host.
pub fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec::<f32>().unwrap()
}

pub fn tensor2(values: &[f64], rows: usize, cols: usize, device: &Device) -> Tensor<2> {
    let v: Vec<f32> = values.iter().map(|&x| x as f32).collect();
    Tensor::from_data(TensorData::new(v, [rows, cols]), device)
}

pub fn tensor1(values: &[f64], device: &Device) -> Tensor<1> {
    let v: Vec<f32> = values.iter().map(|&x| x as f32).collect();
    Tensor::from_data(TensorData::new(v, [values.len()]), device)
}

pub fn normals(rng: &mut Rng, n: usize, scale: f64) -> Vec<f64> {
    (0..n).map(|_| rng.normal() * scale).collect()
}

/// Row-major `d x d` matrix product `a · b`.
pub fn matmul(a: &[f64], b: &[f64], n: usize, k: usize, m: usize) -> Vec<f64> {
    let mut out = vec![0.0; n * m];
    for i in 0..n {
        for j in 0..m {
            out[i * m + j] = (0..k).map(|l| a[i * k + l] * b[l * m + j]).sum();
        }
    }
    out
}

/// Eq. 5 in f64 with plain loops: `P ← P − (P h)(P h)ᵀ / (α + hᵀ P h)`, written from
/// the paper's form `P − q hᵀ P` with `q = P h / (α + hᵀ P h)`.
pub fn rls_update(p: &mut [f64], h: &[f64], alpha: f64) {
    let d = h.len();
    let ph: Vec<f64> = (0..d)
        .map(|i| (0..d).map(|j| p[i * d + j] * h[j]).sum())
        .collect();
    let hp: Vec<f64> = (0..d)
        .map(|j| (0..d).map(|i| h[i] * p[i * d + j]).sum())
        .collect();
    let denom = alpha + (0..d).map(|i| h[i] * ph[i]).sum::<f64>();
    let q: Vec<f64> = ph.iter().map(|x| x / denom).collect();
    for i in 0..d {
        for j in 0..d {
            p[i * d + j] -= q[i] * hp[j];
        }
    }
}

pub fn identity(d: usize) -> Vec<f64> {
    (0..d * d)
        .map(|k| if k / d == k % d { 1.0 } else { 0.0 })
        .collect()
}

/// Eigenvalues of a symmetric matrix by cyclic Jacobi rotations (f64).
pub fn symmetric_eigenvalues(a: &[f64], d: usize) -> Vec<f64> {
    let mut a = a.to_vec();
    for _sweep in 0..100 {
        let off: f64 = (0..d)
            .flat_map(|i| (0..d).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * d + j].powi(2))
            .sum();
        let scale: f64 = a.iter().map(|x| x * x).sum::<f64>().max(1e-300);
        if off <= 1e-30 * scale {
            break;
        }
        for p in 0..d {
            for q in p + 1..d {
                let apq = a[p * d + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q * d + q] - a[p * d + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..d {
                    let akp = a[k * d + p];
                    let akq = a[k * d + q];
                    a[k * d + p] = c * akp - s * akq;
                    a[k * d + q] = s * akp + c * akq;
                }
                for k in 0..d {
                    let apk = a[p * d + k];
                    let aqk = a[q * d + k];
                    a[p * d + k] = c * apk - s * aqk;
                    a[q * d + k] = s * apk + c * aqk;
                }
            }
        }
    }
    (0..d).map(|i| a[i * d + i]).collect()
}

/// A model with default encoders and `feature_dim` features for `data`, its `layout`
/// of head, initialised from `seed` on the CPU and ready to train.
pub fn trainable_model(
    data: &mla::data::Dataset,
    feature_dim: usize,
    layout: mla::model::HeadLayout,
    seed: u64,
) -> mla::model::MultimodalModel {
    let config = mla::model::ModelConfig {
        feature_dim,
        ..Default::default()
    };
    use mla::burn::module::Module;
    mla::model::ModelSpec::for_data(data, &config, layout)
        .unwrap()
        .init(seed, &cpu())
        .unwrap()
        .train()
}

/// The synthetic data settings of a run configuration.
pub fn synth(config: &mut mla::RunConfig) -> &mut mla::data::SyntheticConfig {
    let data = format!("{:?}", config.data);
    match config.data.get_mut::<mla::data::SyntheticConfig>() {
        Some(s) => s,
        None => panic!("not synthetic data: {data}"),
    }
}

/// Generates the synthetic splits of a run configuration, masked as its `missing`
/// section says (as the front ends do after loading).
pub fn splits_of(config: &mla::RunConfig) -> mla::data::Splits {
    let mut splits = match config.data.get::<mla::data::SyntheticConfig>() {
        Some(s) => s.generate().unwrap(),
        None => panic!("not synthetic data: {:?}", config.data),
    };
    config
        .missing
        .apply(&mut splits, config.train.seed)
        .unwrap();
    splits
}

/// Every float parameter of a CPU model, flattened in traversal order.
pub fn params(model: &mla::model::MultimodalModel) -> Vec<f32> {
    use mla::burn::module::{Module, ModuleVisitor, Param};
    use mla::burn::tensor::Tensor;
    struct Collect(Vec<f32>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0
                .extend(param.val().into_data().try_to_vec::<f32>().unwrap());
        }
    }
    let mut c = Collect(Vec::new());
    model.visit(&mut c);
    c.0
}

/// `seconds` of a sine at `hz` plus noise, as 16-bit samples.
pub fn tone(hz: f64, rate: u32, seconds: f64, noise: f64, rng: &mut Rng) -> Vec<i16> {
    let n = (rate as f64 * seconds) as usize;
    (0..n)
        .map(|i| {
            let t = i as f64 / rate as f64;
            let v = 8000.0 * (2.0 * std::f64::consts::PI * hz * t).sin() + noise * rng.normal();
            v.clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}

/// Trains on `splits` for every epoch of `config` on the CPU, then tests the best epoch.
pub fn train_and_test(
    config: &mla::config::RunConfig,
    splits: mla::data::Splits,
) -> (mla::Trainer, mla::eval::EvalReport) {
    let mut trainer = mla::Trainer::new(&config.model, &config.train, splits, &cpu()).unwrap();
    while !trainer.is_finished() {
        pollster::block_on(trainer.end_epoch()).unwrap();
    }
    let test = pollster::block_on(trainer.test()).unwrap();
    println!("{test:?}");
    (trainer, test)
}

/// The trainer's best model written to a model file (with `preprocess`) and read back
/// on the CPU, as a front end would load it.
pub fn reload(
    trainer: &mla::Trainer,
    preprocess: Option<mla::data::Preprocess>,
) -> (mla::io::ModelHeader, mla::model::MultimodalModel) {
    let (model, _) = trainer.best_model();
    let header = mla::io::ModelHeader {
        spec: trainer.spec().clone(),
        fusion: trainer.config().fusion,
        preprocess,
        written_by: "test".into(),
        temperatures: Vec::new(),
    };
    let bytes = pollster::block_on(mla::io::save_model(&header, &model)).unwrap();
    pollster::block_on(mla::io::load_model(&bytes, &cpu())).unwrap()
}

/// MLA's shared head of `model`.
pub fn shared(model: &mla::model::MultimodalModel) -> &mla::model::head::SharedHead {
    match &model.head {
        mla::model::Head::Shared(head) => head,
        _ => panic!("not MLA's shared head"),
    }
}

/// The FiLM head of `model`.
pub fn film(model: &mla::model::MultimodalModel) -> &mla::model::head::FilmHead {
    match &model.head {
        mla::model::Head::Film(head) => head,
        _ => panic!("not a FiLM head"),
    }
}

/// The BiGated head of `model`.
pub fn gated(model: &mla::model::MultimodalModel) -> &mla::model::head::GatedHead {
    match &model.head {
        mla::model::Head::Gated(head) => head,
        _ => panic!("not a BiGated head"),
    }
}

/// The per-modality heads of `model`.
pub fn heads(model: &mla::model::MultimodalModel) -> &[mla::burn::nn::Linear] {
    &model.head.per_modality("a test").unwrap().heads
}

/// The concatenation head of `model`.
pub fn concat(model: &mla::model::MultimodalModel) -> &mla::model::head::ConcatHead {
    model.head.concat("a test").unwrap()
}
