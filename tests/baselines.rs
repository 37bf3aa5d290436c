//! The paper's baselines: each method's distinctive mechanism against a hand
//! computation in f64, and every method learning on the built-in data.

mod common;

use common::*;
use mla::burn::module::Module;
use mla::burn::tensor::{Device, Tensor, TensorData};
use mla::config::{Method, OgmConfig, OptimizerConfig, RunConfig};
use mla::data::{Batch, Splits};
use mla::model::{HeadLayout, ModelConfig, ModelSpec, MultimodalModel};
use mla::rng::Rng;
use mla::train::{
    Joint, OgmGe, Strategy, TrainBatch, build_optimizer, ogm_coefficients, ogm_scores,
    qmf_rank_loss,
};

const S: usize = 3; // feature size
const C: usize = 4; // classes
const B: usize = 2; // samples

/// `(rows, cols, values)` of a linear layer: weight `[in, out]` and bias `[out]`.
fn linear(l: &mla::burn::nn::Linear) -> (usize, usize, Vec<f64>, Vec<f64>) {
    let [i, o] = l.weight.val().dims();
    let w = host(l.weight.val()).into_iter().map(f64::from).collect();
    let b = host(l.bias.as_ref().unwrap().val())
        .into_iter()
        .map(f64::from)
        .collect();
    (i, o, w, b)
}

/// `x W + b` for one row `x`.
fn apply(l: &mla::burn::nn::Linear, x: &[f64]) -> Vec<f64> {
    let (i, o, w, b) = linear(l);
    assert_eq!(x.len(), i);
    (0..o)
        .map(|j| b[j] + (0..i).map(|k| x[k] * w[k * o + j]).sum::<f64>())
        .collect()
}

/// A model of `layout` for `m` modalities of `S` features and `C` classes.
fn model(layout: HeadLayout, m: usize) -> MultimodalModel {
    let mut config = RunConfig::default();
    synth(&mut config).modalities.truncate(1);
    let mut first = synth(&mut config).modalities[0].clone();
    first.informative_classes = C;
    synth(&mut config).modalities = vec![first; m];
    synth(&mut config).num_classes = C;
    let splits = splits_of(&config);
    let model = ModelConfig {
        feature_dim: S,
        ..Default::default()
    };
    let spec = ModelSpec::for_data(&splits.train, &model, layout).unwrap();
    spec.init(3, &cpu()).unwrap()
}

/// `m` random feature rows per sample, and the tensors of them.
fn features(m: usize, seed: u64) -> (Vec<Vec<Vec<f64>>>, Vec<Tensor<2>>) {
    let mut rng = Rng::new(seed);
    let rows: Vec<Vec<Vec<f64>>> = (0..m)
        .map(|_| (0..B).map(|_| normals(&mut rng, S, 1.0)).collect())
        .collect();
    let tensors = rows
        .iter()
        .map(|r| tensor2(&r.concat(), B, S, &cpu()))
        .collect();
    (rows, tensors)
}

fn presence(p: &[[f32; B]]) -> Tensor<2> {
    let flat: Vec<f32> = p.iter().flatten().copied().collect();
    Tensor::from_data(TensorData::new(flat, [p.len(), B]), &cpu())
}

fn close(got: &[f32], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (g, w) in got.iter().zip(want) {
        assert!((*g as f64 - w).abs() < 1e-4, "{what}: {got:?} vs {want:?}");
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn lse(x: &[f64]) -> f64 {
    let max = x.iter().cloned().fold(f64::MIN, f64::max);
    max + x.iter().map(|v| (v - max).exp()).sum::<f64>().ln()
}

#[test]
fn film_modulates_the_others_by_the_condition_modality() {
    let model = model(HeadLayout::Film { condition: 1 }, 3);
    let (h, t) = features(3, 1);
    // Sample 1 lacks modality 2: its feature counts as zero.
    let present = [[1.0, 1.0], [1.0, 1.0], [1.0, 0.0]];
    let got = host(model.head.fused_logits(t, &presence(&present)));
    let mut want = Vec::new();
    for i in 0..B {
        let gb = apply(&film(&model).film, &h[1][i]);
        let (gamma, beta) = gb.split_at(S);
        let mut z = Vec::new();
        for k in [0, 2] {
            for d in 0..S {
                z.push(gamma[d] * h[k][i][d] * present[k][i] as f64 + beta[d]);
            }
        }
        want.extend(apply(&film(&model).head, &z));
    }
    close(&got, &want, "FiLM logits");
}

#[test]
fn bigated_gates_hidden_states_by_the_gate_modality() {
    let model = model(HeadLayout::Gated { gate: 0 }, 3);
    let (h, t) = features(3, 2);
    let present = [[1.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
    let got = host(model.head.fused_logits(t, &presence(&present)));
    let mut want = Vec::new();
    let mut gates = Vec::new();
    for i in 0..B {
        let hidden = |k: usize| {
            let x: Vec<f64> = h[k][i].iter().map(|v| v * present[k][i] as f64).collect();
            apply(&gated(&model).hidden[k], &x)
        };
        let gate: Vec<f64> = hidden(0).into_iter().map(sigmoid).collect();
        let mut z = Vec::new();
        for k in [1, 2] {
            z.extend(hidden(k).iter().zip(&gate).map(|(x, g)| g * x));
        }
        gates.extend(gate);
        want.extend(apply(&gated(&model).head, &z));
    }
    close(&got, &want, "BiGated logits");
    assert!(gates.iter().all(|g| *g > 0.0 && *g < 1.0));
    // A modality on its own: the others deactivated (zero features).
    let got = host(model.unimodal_logits(1, tensor2(&h[1].concat(), B, S, &cpu())));
    let zero = vec![0.0; S];
    let mut want = Vec::new();
    for row in &h[1] {
        let gate: Vec<f64> = apply(&gated(&model).hidden[0], &zero)
            .into_iter()
            .map(sigmoid)
            .collect();
        let mut z: Vec<f64> = apply(&gated(&model).hidden[1], row)
            .iter()
            .zip(&gate)
            .map(|(x, g)| g * x)
            .collect();
        z.extend(
            apply(&gated(&model).hidden[2], &zero)
                .iter()
                .zip(&gate)
                .map(|(x, g)| g * x),
        );
        want.extend(apply(&gated(&model).head, &z));
    }
    close(&got, &want, "BiGated, modality 1 alone");
}

#[test]
fn sum_late_and_qmf_fuse_their_heads_as_defined() {
    let present = [[1.0, 1.0], [1.0, 0.0]];
    let (h, _) = features(2, 4);
    for layout in [HeadLayout::Sum, HeadLayout::Late, HeadLayout::Energy] {
        let model = model(layout, 2);
        let (_, t) = features(2, 4);
        let got = host(model.head.fused_logits(t.clone(), &presence(&present)));
        let (fused, weights) = model.head.fuse(t, &presence(&present));
        let (fused, weights) = (host(fused), host(weights));
        let mut want = Vec::new();
        let mut want_w = vec![0.0; 2 * B];
        for i in 0..B {
            let l: Vec<Vec<f64>> = (0..2).map(|k| apply(&heads(&model)[k], &h[k][i])).collect();
            let here: Vec<usize> = (0..2).filter(|&k| present[k][i] > 0.0).collect();
            let w: Vec<f64> = match layout {
                HeadLayout::Sum => here.iter().map(|_| 1.0).collect(),
                HeadLayout::Late => here.iter().map(|_| 1.0 / here.len() as f64).collect(),
                // QMF: energy confidences clamped at 0 and normalised (with a 1e-6
                // floor each, so that no confidence anywhere gives equal weights).
                _ => {
                    let c: Vec<f64> = here.iter().map(|&k| (lse(&l[k]) / 10.0).max(0.0)).collect();
                    let total: f64 = c.iter().sum::<f64>() + 1e-6 * c.len() as f64;
                    c.iter().map(|c| (c + 1e-6) / total).collect()
                }
            };
            want.extend(
                (0..C).map(|c| here.iter().zip(&w).map(|(&k, w)| w * l[k][c]).sum::<f64>()),
            );
            let total: f64 = w.iter().sum();
            for (&k, w) in here.iter().zip(&w) {
                want_w[k * B + i] = w / total;
            }
        }
        close(&got, &want, &format!("{layout:?} logits"));
        close(&fused, &want, &format!("{layout:?} logits, with weights"));
        close(&weights, &want_w, &format!("{layout:?} weights"));
    }
}

#[test]
fn qmf_ranking_loss_by_hand() {
    let (c, l) = ([0.9, 0.1, 0.2, 0.4], [0.8, 0.7, 0.1, 0.6]);
    // Pairs (i, i+1 mod 4) where both are present: t = sign(l_i - l_j), cost
    // max(0, t (c_i - c_j) - |l_i - l_j|), averaged over the pairs.
    let by_hand = |present: [f64; 4]| {
        let (mut sum, mut pairs) = (0.0, 0.0);
        for i in 0..4 {
            let j = (i + 1) % 4;
            let d: f64 = l[i] - l[j];
            let t = if d > 0.0 {
                1.0
            } else if d < 0.0 {
                -1.0
            } else {
                0.0
            };
            let both = present[i] * present[j];
            sum += both * (t * (c[i] - c[j]) - d.abs()).max(0.0);
            pairs += both;
        }
        sum / pairs
    };
    let t = |v: [f64; 4]| Tensor::<1>::from_floats(v.map(|x| x as f32), &cpu());
    for present in [[1.0; 4], [1.0, 1.0, 0.0, 1.0]] {
        let want = by_hand(present);
        let got = host(qmf_rank_loss(t(c), t(l), t(present)))[0] as f64;
        assert!((got - want).abs() < 1e-6, "{present:?}: {got} vs {want}");
    }
    // The harder sample 0 is more confident than sample 1: that pair costs.
    assert!(by_hand([1.0, 1.0, 0.0, 0.0]) > 0.5);
}

#[test]
fn ogm_coefficients_by_hand() {
    let k = host(ogm_coefficients(
        Tensor::<1>::from_floats([3.0, 1.0], &cpu()),
        0.5,
    ));
    close(&k, &[1.0 - (0.5f64 * 3.0).tanh(), 1.0], "two modalities");
    let k = host(ogm_coefficients(
        Tensor::<1>::from_floats([2.0, 1.0, 1.0], &cpu()),
        0.3,
    ));
    // ρ = (2 / 1, 1 / 1.5, 1 / 1.5): only the first is dominant.
    close(
        &k,
        &[1.0 - (0.3f64 * 2.0).tanh(), 1.0, 1.0],
        "three modalities",
    );
}

fn splits() -> Splits {
    let mut config = RunConfig::default();
    synth(&mut config).train = 64;
    splits_of(&config)
}

/// One SGD step (no momentum, no decay, lr 1) of `strategy` from the same start.
fn one_step(
    strategy: &mut dyn Strategy,
    splits: &Splits,
    indices: &[usize],
) -> (MultimodalModel, MultimodalModel) {
    let dev = cpu();
    let ad: Device = dev.clone().autodiff();
    let config = ModelConfig {
        feature_dim: 8,
        ..Default::default()
    };
    let spec = ModelSpec::for_data(&splits.train, &config, strategy.head_layout()).unwrap();
    let start = spec.init(5, &dev).unwrap();
    let mut opt = build_optimizer(&OptimizerConfig {
        momentum: 0.0,
        weight_decay: 0.0,
        ..Default::default()
    });
    let batch = TrainBatch {
        data: &splits.train,
        indices,
        device: &ad,
        epoch: 0,
        label_smoothing: 0.0,
    };
    let (after, _) = strategy
        .train_batch(start.clone().train(), &batch, &mut opt, 1.0)
        .unwrap();
    (start, after.valid())
}

#[test]
fn ogm_scales_only_the_dominant_encoder_by_its_coefficient() {
    let splits = splits();
    let indices: Vec<usize> = (0..32).collect();
    let (start, joint) = one_step(&mut Joint::new(HeadLayout::Concat), &splits, &indices);
    let config = OgmConfig {
        alpha: 0.5,
        noise: false,
        ..Default::default()
    };
    let (_, ogm) = one_step(&mut OgmGe::new(&config), &splits, &indices);
    // The coefficients from the starting model, computed on their own.
    let b = Batch::gather(&splits.train, &indices, &cpu());
    let feats = start.all_features(&b).unwrap();
    let scores = host(ogm_scores(concat(&start), &feats, &b));
    let k = host(ogm_coefficients(
        Tensor::<1>::from_floats(scores.as_slice(), &cpu()),
        0.5,
    ));
    println!("scores {scores:?} coefficients {k:?}");
    assert_eq!(k.iter().filter(|&&k| k < 1.0).count(), 1, "{k:?}");
    let step = |after: &MultimodalModel, m: usize| -> Vec<f64> {
        let (a, s) = (params_of(&after.encoders[m]), params_of(&start.encoders[m]));
        a.iter().zip(&s).map(|(a, s)| (*a - *s) as f64).collect()
    };
    for (m, &k) in k.iter().enumerate() {
        let (j, o) = (step(&joint, m), step(&ogm, m));
        let want: Vec<f64> = j.iter().map(|v| v * k as f64).collect();
        let got: Vec<f32> = o.iter().map(|v| *v as f32).collect();
        close(&got, &want, &format!("encoder {m} (k = {k})"));
    }
    assert_eq!(
        params_of(&concat(&joint).linear),
        params_of(&concat(&ogm).linear),
        "the head is not modulated"
    );
    // Scores by hand: each modality's share of the head, with half the bias.
    let (_, _, w, bias) = linear(&concat(&start).linear);
    let labels = mla::data::labels(&splits.train, &indices, &cpu());
    let labels: Vec<i64> = labels.into_data().convert::<i64>().try_to_vec().unwrap();
    for m in 0..2 {
        let h = host(feats[m].clone());
        let mut want = 0.0;
        for (i, &y) in labels.iter().enumerate() {
            let out: Vec<f64> = (0..C.max(splits.train.num_classes))
                .take(splits.train.num_classes)
                .map(|c| {
                    bias[c] / 2.0
                        + (0..8)
                            .map(|d| {
                                h[i * 8 + d] as f64 * w[(m * 8 + d) * splits.train.num_classes + c]
                            })
                            .sum::<f64>()
                })
                .collect();
            want += (out[y as usize] - lse(&out)).exp();
        }
        assert!(
            (scores[m] as f64 - want).abs() < 1e-3,
            "score {m}: {} vs {want}",
            scores[m]
        );
    }
}

fn params_of<M: Module>(module: &M) -> Vec<f32> {
    use mla::burn::module::{ModuleVisitor, Param};
    struct Collect(Vec<f32>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.extend(host(
                param.val().reshape([param.val().shape().num_elements()]),
            ));
        }
    }
    let mut c = Collect(Vec::new());
    module.visit(&mut c);
    c.0
}

#[test]
fn every_method_learns_the_builtin_data() {
    let mut config = RunConfig::default();
    config.train.epochs = 12;
    config.train.optimizer.kind = mla::OptimizerKind::Adam;
    synth(&mut config).train = 600;
    let splits = splits_of(&config);
    let chance = 1.0 / splits.train.num_classes as f64;
    for method in Method::ALL {
        config.train.method = method;
        println!("{}:", method.name());
        let (_, test) = train_and_test(&config, splits.clone());
        assert!(
            test.fused > chance + 0.25,
            "{} fused {:.3}",
            method.name(),
            test.fused
        );
        assert!(test.unimodal.iter().all(|a| a.is_finite()));
    }
}

#[test]
fn a_condition_modality_out_of_range_is_a_clear_error() {
    let mut config = RunConfig::default();
    config.train.method = Method::Film;
    config.train.condition_modality = 2;
    let e = mla::Trainer::new(&config.model, &config.train, splits_of(&config), &cpu())
        .err()
        .expect("two modalities have no modality 2")
        .to_string();
    assert!(
        e.contains("train.condition_modality") && e.contains("FiLM's condition modality is 2"),
        "{e}"
    );
}

/// `(x W + b)` then ReLU.
fn relu_apply(l: &mla::burn::nn::Linear, x: &[f64]) -> Vec<f64> {
    apply(l, x).into_iter().map(|v| v.max(0.0)).collect()
}

/// The layers of autoencoder blocks, in order: encoder, decoder, encoder, ...
fn flat(blocks: &[mla::model::head::Autoencoder]) -> Vec<mla::burn::nn::Linear> {
    blocks
        .iter()
        .flat_map(|b| [b.encoder.clone(), b.decoder.clone()])
        .collect()
}

/// A cascade of (encoder, decoder) pairs on one row, by hand: the output and codes.
fn cascade_by_hand(
    layers: &[mla::burn::nn::Linear],
    x: &[f64],
    residual: bool,
) -> (Vec<f64>, Vec<Vec<f64>>) {
    let mut x = x.to_vec();
    let mut codes = Vec::new();
    for pair in layers.chunks(2) {
        let code = relu_apply(&pair[0], &x);
        let out = apply(&pair[1], &code);
        x = if residual {
            x.iter().zip(&out).map(|(a, b)| a + b).collect()
        } else {
            out
        };
        codes.push(code);
    }
    (x, codes)
}

#[test]
fn ae_and_cra_fill_in_absent_modalities_and_keep_present_ones() {
    // Sample 0 has both modalities; sample 1 lacks modality 1.
    let p = [[1.0, 1.0], [1.0, 0.0]];
    let (rows, feats) = features(2, 21);
    for (layout, residual) in [
        (HeadLayout::Autoencoder { hidden: 2 }, false),
        (
            HeadLayout::Cascade {
                blocks: 2,
                hidden: 2,
            },
            true,
        ),
    ] {
        let model = model(layout, 2);
        let net = model.head.imputation("a test").unwrap();
        assert_eq!(flat(&net.blocks).len(), if residual { 4 } else { 2 });
        let got = host(model.head.fused_logits(feats.clone(), &presence(&p)));
        let mut want = Vec::new();
        for j in 0..B {
            let x: Vec<f64> = (0..2)
                .flat_map(|k| rows[k][j].iter().map(move |v| v * p[k][j] as f64))
                .collect();
            let (imputed, _) = cascade_by_hand(&flat(&net.blocks), &x, residual);
            let z: Vec<f64> = (0..2 * S)
                .map(|i| if p[i / S][j] == 1.0 { x[i] } else { imputed[i] })
                .collect();
            want.extend(apply(&net.head, &z));
        }
        close(&got, &want, &format!("{layout:?}"));
    }
}

#[test]
fn mmin_reads_its_codes_and_its_losses_are_the_imagination_errors() {
    let model = model(
        HeadLayout::Imagination {
            blocks: 2,
            hidden: 2,
        },
        2,
    );
    let net = model.head.imputation("a test").unwrap();
    let (cascade, cycle) = (flat(&net.blocks), flat(&net.backward));
    assert_eq!(cascade.len() + cycle.len(), 8);
    let (rows, feats) = features(2, 22);
    // Both samples have both modalities; sample 1's modality 0 is hidden in training.
    let present = [[1.0, 1.0], [1.0, 1.0]];
    let shown = [[1.0, 0.0], [1.0, 1.0]];
    let logits = host(model.head.fused_logits(feats.clone(), &presence(&present)));
    let labels = [2usize, 1];
    let losses = mla::train::imputation_losses(
        net,
        feats,
        &presence(&present),
        &presence(&shown),
        Tensor::from_data(TensorData::new(vec![2i64, 1], [B]), &cpu()),
        0.0,
    );
    let (mut ce, mut forward, mut backward) = (0.0, 0.0, 0.0);
    let (mut hidden_cells, mut shown_cells) = (0.0, 0.0);
    let mut want_logits = Vec::new();
    for j in 0..B {
        let full: Vec<f64> = (0..2).flat_map(|k| rows[k][j].clone()).collect();
        // At evaluation everything present is seen: the head reads both codes.
        let (_, codes) = cascade_by_hand(&cascade, &full, true);
        want_logits.extend(apply(&net.head, &codes.concat()));
        // In training the network sees only the shown modalities.
        let seen = |i: usize| shown[i / S][j] == 1.0;
        let input: Vec<f64> = (0..2 * S)
            .map(|i| if seen(i) { full[i] } else { 0.0 })
            .collect();
        let (imagined, codes) = cascade_by_hand(&cascade, &input, true);
        let l = apply(&net.head, &codes.concat());
        ce += lse(&l) - l[labels[j]];
        let back_in: Vec<f64> = (0..2 * S)
            .map(|i| if seen(i) { 0.0 } else { imagined[i] })
            .collect();
        let (back, _) = cascade_by_hand(&cycle, &back_in, true);
        for i in 0..2 * S {
            if seen(i) {
                backward += (back[i] - full[i]).powi(2);
                shown_cells += 1.0;
            } else {
                forward += (imagined[i] - full[i]).powi(2);
                hidden_cells += 1.0;
            }
        }
    }
    close(&logits, &want_logits, "MMIN logits");
    close(&host(losses.ce), &[ce / B as f64], "cross-entropy");
    close(
        &host(losses.recon),
        &[forward / hidden_cells],
        "forward imagination",
    );
    close(
        &host(losses.cycle.unwrap()),
        &[backward / shown_cells],
        "backward imagination",
    );
}

#[test]
fn training_hides_present_modalities_at_the_rate_and_always_shows_one() {
    let n = 4000;
    let present = vec![
        (0..n).map(|i| i % 10 != 0).collect::<Vec<bool>>(),
        vec![true; n],
        (0..n).map(|i| i % 3 != 0).collect(),
    ];
    let indices: Vec<usize> = (0..n).collect();
    let shown = mla::train::shown_modalities(&present, &indices, 0, 5, 0.4);
    let mut hidden = 0;
    let mut total = 0;
    for j in 0..n {
        assert!((0..3).any(|k| shown[k][j]), "sample {j} sees nothing");
        for k in 0..3 {
            assert!(present[k][j] || !shown[k][j], "absent cell shown");
            if present[k][j] {
                total += 1;
                hidden += usize::from(!shown[k][j]);
            }
        }
    }
    // Hidden with 0.4, less the few put back so that one stays.
    let rate = hidden as f64 / total as f64;
    assert!(rate > 0.33 && rate < 0.4, "{rate}");
    // Another epoch hides others; the same epoch the same.
    assert_ne!(
        shown,
        mla::train::shown_modalities(&present, &indices, 1, 5, 0.4)
    );
    assert_eq!(
        shown,
        mla::train::shown_modalities(&present, &indices, 0, 5, 0.4)
    );
}
