//! An in-memory multimodal data set with per-sample presence masks (this file), its
//! value stores (`values`), batches for a model (`batch`) and the report of samples that
//! cannot be read (`triage`).

pub mod batch;
pub mod triage;
pub mod values;

use serde::{Deserialize, Serialize};

use crate::data::dataset::values::Values;
use crate::error::{MlaError, Result};

/// What one modality's input looks like for one sample.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InputKind {
    /// A vector of `dim` real features.
    Features { dim: usize },
    /// An image (or spectrogram) of `channels x height x width` values.
    Image {
        channels: usize,
        height: usize,
        width: usize,
    },
    /// `len` token ids in `0..vocab` (id 0 is padding).
    Tokens { len: usize, vocab: usize },
}

impl InputKind {
    /// Number of stored values per sample.
    pub fn item_len(&self) -> usize {
        match *self {
            InputKind::Features { dim } => dim,
            InputKind::Image {
                channels,
                height,
                width,
            } => channels * height * width,
            InputKind::Tokens { len, .. } => len,
        }
    }
}

/// One modality of a data set: `n` samples of one [`InputKind`], and which are present.
#[derive(Clone, Debug, PartialEq)]
pub struct ModalityData {
    /// Human-readable name ("audio", "image", ...).
    pub name: String,
    /// Shape of one sample.
    pub kind: InputKind,
    /// `n * kind.item_len()` values, sample-major, in memory or mapped from a file.
    /// Token ids are stored as exact integers.
    pub values: Values,
    /// `present[i]` is false when sample `i` lacks this modality; its values are ignored.
    pub present: Vec<bool>,
}

impl ModalityData {
    /// The values of sample `i`.
    pub fn item(&self, i: usize) -> &[f32] {
        let len = self.kind.item_len();
        &self.values[i * len..(i + 1) * len]
    }
}

/// A labelled data set of `M >= 2` modalities.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// One entry per modality, all of the same length.
    pub modalities: Vec<ModalityData>,
    /// Class index of each sample.
    pub labels: Vec<usize>,
    /// Number of classes `C`.
    pub num_classes: usize,
}

impl Dataset {
    /// Builds and checks a data set.
    pub fn new(
        modalities: Vec<ModalityData>,
        labels: Vec<usize>,
        num_classes: usize,
    ) -> Result<Self> {
        let data = Self {
            modalities,
            labels,
            num_classes,
        };
        data.validate()?;
        Ok(data)
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Number of modalities `M`.
    pub fn num_modalities(&self) -> usize {
        self.modalities.len()
    }

    /// The input kind of every modality, in order.
    pub fn kinds(&self) -> Vec<InputKind> {
        self.modalities.iter().map(|m| m.kind.clone()).collect()
    }

    /// Modality names, in order.
    pub fn names(&self) -> Vec<String> {
        self.modalities.iter().map(|m| m.name.clone()).collect()
    }

    /// Checks sizes, labels, token ids, finiteness and that every sample has a modality.
    pub fn validate(&self) -> Result<()> {
        let n = self.labels.len();
        if self.modalities.len() < 2 {
            return Err(MlaError::Data(format!(
                "MLA needs at least 2 modalities, got {}",
                self.modalities.len()
            )));
        }
        if self.num_classes < 2 {
            return Err(MlaError::Data(format!(
                "need at least 2 classes, got {}",
                self.num_classes
            )));
        }
        if let Some((i, &y)) = self
            .labels
            .iter()
            .enumerate()
            .find(|(_, y)| **y >= self.num_classes)
        {
            return Err(MlaError::Data(format!(
                "sample {i}: label {y} is out of range for {} classes",
                self.num_classes
            )));
        }
        for m in &self.modalities {
            let len = m.kind.item_len();
            if len == 0 {
                return Err(MlaError::Data(format!(
                    "modality `{}`: zero-sized input",
                    m.name
                )));
            }
            if m.values.len() != n * len || m.present.len() != n {
                return Err(MlaError::Data(format!(
                    "modality `{}`: expected {n} samples of {len} values, got {} values and {} presence flags",
                    m.name,
                    m.values.len(),
                    m.present.len()
                )));
            }
            for i in (0..n).filter(|&i| m.present[i]) {
                let item = m.item(i);
                if let Some(j) = item.iter().position(|v| !v.is_finite()) {
                    return Err(MlaError::Data(format!(
                        "modality `{}`, sample {i}, value {j}: not a finite number ({})",
                        m.name, item[j]
                    )));
                }
                if let InputKind::Tokens { vocab, .. } = m.kind
                    && let Some(j) = item
                        .iter()
                        .position(|&t| t < 0.0 || t.fract() != 0.0 || t as usize >= vocab)
                {
                    return Err(MlaError::Data(format!(
                        "modality `{}`, sample {i}, token {j}: id {} is not in 0..{vocab}",
                        m.name, item[j]
                    )));
                }
            }
        }
        if let Some(i) = (0..n).find(|&i| self.modalities.iter().all(|m| !m.present[i])) {
            return Err(MlaError::Data(format!(
                "sample {i} has no modality present"
            )));
        }
        Ok(())
    }

    /// The train, validation and test splits of the given sample indices, checked.
    pub fn split(&self, train: &[usize], valid: &[usize], test: &[usize]) -> Result<Splits> {
        let splits = Splits {
            train: self.subset(train),
            valid: self.subset(valid),
            test: self.subset(test),
        };
        splits.validate()?;
        Ok(splits)
    }

    /// [`Dataset::split`], consuming the data set: where the three parts together take
    /// every sample once, each in-memory modality is reordered in place and cut into its
    /// parts, so that building the splits holds little more than one copy of the data
    /// (instead of two).
    pub fn split_into(self, train: &[usize], valid: &[usize], test: &[usize]) -> Result<Splits> {
        let order: Vec<usize> = train.iter().chain(valid).chain(test).copied().collect();
        let mut seen = vec![false; self.len()];
        let permutation = order.len() == self.len()
            && order
                .iter()
                .all(|&i| i < seen.len() && !std::mem::replace(&mut seen[i], true));
        if !permutation {
            return self.split(train, valid, test);
        }
        let cuts = [train.len(), train.len() + valid.len()];
        let pick = |v: &[usize]| -> [Vec<usize>; 3] {
            let o: Vec<usize> = order.iter().map(|&i| v[i]).collect();
            [
                o[..cuts[0]].to_vec(),
                o[cuts[0]..cuts[1]].to_vec(),
                o[cuts[1]..].to_vec(),
            ]
        };
        let mut parts: [Vec<ModalityData>; 3] = Default::default();
        for m in self.modalities {
            let len = m.kind.item_len();
            let present: Vec<bool> = order.iter().map(|&i| m.present[i]).collect();
            let presents = [
                present[..cuts[0]].to_vec(),
                present[cuts[0]..cuts[1]].to_vec(),
                present[cuts[1]..].to_vec(),
            ];
            let values: [Values; 3] = match m.values.into_memory() {
                Ok(mut v) => {
                    permute_rows(&mut v, len, &order);
                    // Cut from the end, giving memory back after each cut.
                    let last = v.split_off(cuts[1] * len);
                    v.shrink_to_fit();
                    let middle = v.split_off(cuts[0] * len);
                    v.shrink_to_fit();
                    [v.into(), middle.into(), last.into()]
                }
                Err(mapped) => [train, valid, test].map(|part| {
                    part.iter()
                        .flat_map(|&i| mapped[i * len..(i + 1) * len].iter().copied())
                        .collect::<Vec<f32>>()
                        .into()
                }),
            };
            for ((part, values), present) in parts.iter_mut().zip(values).zip(presents) {
                part.push(ModalityData {
                    name: m.name.clone(),
                    kind: m.kind.clone(),
                    values,
                    present,
                });
            }
        }
        let labels = pick(&self.labels);
        let [train, valid, test] = parts;
        let [train_y, valid_y, test_y] = labels;
        let part = |modalities, labels| Dataset {
            modalities,
            labels,
            num_classes: self.num_classes,
        };
        let splits = Splits {
            train: part(train, train_y),
            valid: part(valid, valid_y),
            test: part(test, test_y),
        };
        splits.validate()?;
        Ok(splits)
    }

    /// The samples at `indices`, in that order (in memory).
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        self.subset_with(indices, |m, _| {
            Ok(indices
                .iter()
                .flat_map(|&i| m.item(i).iter().copied())
                .collect::<Vec<f32>>()
                .into())
        })
        .expect("copying in memory cannot fail")
    }

    /// [`Dataset::split`] into files under `dir` (one per split and modality, mapped),
    /// copied sample by sample: memory stays bounded whatever the data's size.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn split_to_files(
        &self,
        train: &[usize],
        valid: &[usize],
        test: &[usize],
        dir: &std::path::Path,
    ) -> Result<Splits> {
        let part = |name: &str, indices: &[usize]| {
            self.subset_with(indices, |m, k| {
                let path = dir.join(format!("{name}-{k}.f32"));
                let io = |e: std::io::Error| {
                    MlaError::Data(format!("sample store {}: {e}", path.display()))
                };
                let mut out =
                    crate::data::dataset::values::ValuesWriter::create(&path).map_err(io)?;
                for &i in indices {
                    out.push(m.item(i)).map_err(io)?;
                }
                out.finish().map_err(io)
            })
        };
        let splits = Splits {
            train: part("train", train)?,
            valid: part("valid", valid)?,
            test: part("test", test)?,
        };
        splits.validate()?;
        Ok(splits)
    }

    /// The samples at `indices`, each modality's values made by `values(modality, k)`.
    fn subset_with(
        &self,
        indices: &[usize],
        mut values: impl FnMut(&ModalityData, usize) -> Result<Values>,
    ) -> Result<Dataset> {
        let modalities = self
            .modalities
            .iter()
            .enumerate()
            .map(|(k, m)| {
                Ok(ModalityData {
                    name: m.name.clone(),
                    kind: m.kind.clone(),
                    values: values(m, k)?,
                    present: indices.iter().map(|&i| m.present[i]).collect(),
                })
            })
            .collect::<Result<_>>()?;
        Ok(Dataset {
            modalities,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            num_classes: self.num_classes,
        })
    }

    /// Samples per class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.num_classes];
        for &y in &self.labels {
            counts[y] += 1;
        }
        counts
    }
}

/// Reorders the rows (`len` values each) of `values` in place so that row `k` becomes
/// the old row `order[k]` (`order` a permutation), one row of scratch memory.
fn permute_rows(values: &mut [f32], len: usize, order: &[usize]) {
    let mut done = vec![false; order.len()];
    let mut scratch = vec![0.0; len];
    for start in 0..order.len() {
        if done[start] || order[start] == start {
            continue;
        }
        // Follow the cycle through `start`: each row is read before it is overwritten.
        scratch.copy_from_slice(&values[start * len..(start + 1) * len]);
        let mut at = start;
        loop {
            done[at] = true;
            let from = order[at];
            if from == start {
                values[at * len..(at + 1) * len].copy_from_slice(&scratch);
                break;
            }
            values.copy_within(from * len..(from + 1) * len, at * len);
            at = from;
        }
    }
}

/// Train, validation and test parts of one data set. The best epoch is chosen on
/// `valid`; `test` is evaluated once at the end.
#[derive(Clone, Debug, PartialEq)]
pub struct Splits {
    pub train: Dataset,
    pub valid: Dataset,
    pub test: Dataset,
}

impl Splits {
    /// Checks that the parts agree on modalities and classes and are not empty.
    pub fn validate(&self) -> Result<()> {
        for (name, part) in [
            ("train", &self.train),
            ("valid", &self.valid),
            ("test", &self.test),
        ] {
            part.validate()?;
            if part.is_empty() {
                return Err(MlaError::Data(format!("the {name} split is empty")));
            }
            if part.kinds() != self.train.kinds() || part.num_classes != self.train.num_classes {
                return Err(MlaError::Data(format!(
                    "the {name} split's modalities or classes differ from the train split's"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_modal(values_a: Vec<f32>, present_b: Vec<bool>, labels: Vec<usize>) -> Result<Dataset> {
        let n = labels.len();
        Dataset::new(
            vec![
                ModalityData {
                    name: "a".into(),
                    kind: InputKind::Features { dim: 2 },
                    values: values_a.into(),
                    present: vec![true; n],
                },
                ModalityData {
                    name: "b".into(),
                    kind: InputKind::Tokens { len: 1, vocab: 3 },
                    values: (0..n).map(|i| (i % 3) as f32).collect::<Vec<_>>().into(),
                    present: present_b,
                },
            ],
            labels,
            2,
        )
    }

    #[test]
    fn rejects_bad_shapes_labels_and_values() {
        assert!(two_modal(vec![0.0; 4], vec![true; 2], vec![0, 1]).is_ok());
        let e = two_modal(vec![0.0; 3], vec![true; 2], vec![0, 1])
            .unwrap_err()
            .to_string();
        assert!(e.contains("modality `a`"), "{e}");
        let e = two_modal(vec![0.0; 4], vec![true; 2], vec![0, 2])
            .unwrap_err()
            .to_string();
        assert!(e.contains("sample 1") && e.contains("label 2"), "{e}");
        let e = two_modal(vec![0.0, f32::NAN, 0.0, 0.0], vec![true; 2], vec![0, 1])
            .unwrap_err()
            .to_string();
        assert!(e.contains("sample 0, value 1"), "{e}");
    }

    #[test]
    fn splitting_in_place_equals_copying() {
        // 23 samples with distinct values, every seed's split a different permutation.
        let n = 23;
        let data = two_modal(
            (0..2 * n).map(|v| v as f32).collect(),
            (0..n).map(|i| i % 4 != 1).collect(),
            (0..n).map(|i| i % 2).collect(),
        )
        .unwrap();
        for seed in 0..20 {
            let (train, valid, test) =
                crate::data::transform::split::stratified_split(&data.labels, 2, 0.2, 0.3, seed)
                    .unwrap();
            let copied = data.split(&train, &valid, &test).unwrap();
            let moved = data.clone().split_into(&train, &valid, &test).unwrap();
            for (a, b) in [
                (&copied.train, &moved.train),
                (&copied.valid, &moved.valid),
                (&copied.test, &moved.test),
            ] {
                assert_eq!(a.labels, b.labels);
                for (ma, mb) in a.modalities.iter().zip(&b.modalities) {
                    assert_eq!(*ma.values, *mb.values);
                    assert_eq!(ma.present, mb.present);
                }
            }
        }
        // Parts that do not take every sample once are copied as before.
        let partial = data.clone().split_into(&[0, 1, 2], &[3], &[4, 4]).unwrap();
        assert_eq!(partial.test.labels, vec![0, 0]);
        assert_eq!(*partial.test.modalities[0].values, [8., 9., 8., 9.]);
    }

    #[test]
    fn subset_keeps_order_and_masks() {
        let d = two_modal(
            vec![0., 1., 2., 3., 4., 5.],
            vec![true, false, true],
            vec![0, 1, 0],
        )
        .unwrap();
        let s = d.subset(&[2, 1]);
        assert_eq!(s.labels, vec![0, 1]);
        assert_eq!(s.modalities[0].values, vec![4., 5., 2., 3.]);
        assert_eq!(s.modalities[1].present, vec![true, false]);
    }
}
