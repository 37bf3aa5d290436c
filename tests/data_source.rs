//! A data source added the way a new data set is: one type implementing `DataSource`
//! (its settings, `--data` spec, validation and loading through `Files`) and one
//! registration, here a test's. Checked: a run configuration and a `--data` spec name
//! it, it validates and round-trips, it loads through an in-memory fixture, and a model
//! trains on it.

mod common;

use std::collections::HashMap;

use common::*;
use mla::config::{DataSource, RunConfig};
use mla::data::sources::{Files, Loading, SourceEntry, Spec, by_spec, from_json, join, register};
use mla::data::transform::split::stratified_split;
use mla::data::{Dataset, InputKind, ModalityData, Splits};
use mla::error::{MlaError, Result};
use serde::{Deserialize, Serialize};

/// `points.csv` in a folder: `x,y,label` per line, `x` and `y` one modality each.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Points {
    dir: String,
    #[serde(default)]
    seed: u64,
}

const ENTRY: SourceEntry = SourceEntry {
    name: "points",
    spec: "points",
    from_json: from_json::<Points>,
    from_spec: |spec| {
        let mut dir = None;
        for (k, v) in &spec.options {
            match k.as_str() {
                "dir" => dir = Some(spec.path(v)),
                _ => return Err(spec.unknown(k, "dir")),
            }
        }
        let dir = dir.ok_or_else(|| spec.missing("points:DIR needs a folder"))?;
        Ok(Box::new(Points {
            dir,
            seed: spec.seed,
        }))
    },
};

impl DataSource for Points {
    fn seed_mut(&mut self) -> &mut u64 {
        &mut self.seed
    }

    fn validate(&self) -> Result<()> {
        match self.dir.is_empty() {
            true => Err(MlaError::config("data.dir", "must name a folder")),
            false => Ok(()),
        }
    }

    fn load(&self, files: &dyn Files) -> Result<Loading> {
        let file = join(&self.dir, "points.csv");
        let bytes = files
            .read(&file)
            .map_err(|why| MlaError::Data(format!("{file}: {why}")))?;
        let (mut xs, mut ys, mut labels) = (Vec::new(), Vec::new(), Vec::new());
        for (i, line) in String::from_utf8_lossy(&bytes).lines().enumerate() {
            let bad = || MlaError::Data(format!("{file}:{}: expected x,y,label", i + 1));
            let cells: Vec<&str> = line.split(',').collect();
            let [x, y, label] = cells[..] else {
                return Err(bad());
            };
            xs.push(x.trim().parse::<f32>().map_err(|_| bad())?);
            ys.push(y.trim().parse::<f32>().map_err(|_| bad())?);
            labels.push(label.trim().parse::<usize>().map_err(|_| bad())?);
        }
        let n = labels.len();
        let classes = labels.iter().max().map_or(0, |&c| c + 1);
        let modality = |name: &str, values: Vec<f32>| ModalityData {
            name: name.into(),
            kind: InputKind::Features { dim: 1 },
            values: values.into(),
            present: vec![true; n],
        };
        let all = Dataset::new(vec![modality("x", xs), modality("y", ys)], labels, classes)?;
        let (train, valid, test) = stratified_split(&all.labels, classes, 0.2, 0.2, self.seed)?;
        let splits = Splits {
            train: all.subset(&train),
            valid: all.subset(&valid),
            test: all.subset(&test),
        };
        Ok(Loading::Built {
            splits,
            skipped: Vec::new(),
        })
    }

    mla::source_boilerplate!();
}

/// A test's files, by path.
struct Fixture(HashMap<String, Vec<u8>>);

impl Files for Fixture {
    fn read(&self, path: &str) -> std::result::Result<Vec<u8>, String> {
        self.0
            .get(path)
            .cloned()
            .ok_or_else(|| "no such file".into())
    }

    fn list(&self, _path: &str) -> std::result::Result<Vec<String>, String> {
        Err("not used".into())
    }
}

/// 120 points in two classes: class 1 has `x > 0`, and `y` is noise.
fn fixture() -> Fixture {
    let mut rng = mla::rng::Rng::new(5);
    let mut csv = String::new();
    for i in 0..120 {
        let label = i % 2;
        let x = if label == 1 { 1.0 } else { -1.0 } + 0.3 * rng.normal();
        csv.push_str(&format!("{x},{},{label}\n", rng.normal()));
    }
    Fixture(HashMap::from([(
        "set/points.csv".to_string(),
        csv.into_bytes(),
    )]))
}

#[test]
fn a_registered_source_is_configured_parsed_loaded_and_trained_on() {
    register(ENTRY);

    // A configuration names it as it names the built-in ones, and round-trips.
    let json = r#"{"data": {"source": "points", "dir": "set", "seed": 3}, "train": {"epochs": 30, "batch_size": 16}}"#;
    let mut config: RunConfig = serde_json::from_str(json).unwrap();
    config.validate().unwrap();
    let points = config.data.get::<Points>().unwrap().clone();
    assert_eq!(
        points,
        Points {
            dir: "set".into(),
            seed: 3
        }
    );
    let text = serde_json::to_string(&config).unwrap();
    assert_eq!(serde_json::from_str::<RunConfig>(&text).unwrap(), config);
    let e = serde_json::from_str::<RunConfig>(r#"{"data": {"source": "points", "folder": "x"}}"#)
        .unwrap_err();
    assert!(e.to_string().contains("folder"), "{e}");

    // So does a `--data` spec, with errors naming the problem.
    let spec = Spec::parse("points:set", 3, |p, _| p.to_string()).unwrap();
    let parsed = (by_spec("points").unwrap().from_spec)(&spec).unwrap();
    assert_eq!(parsed.as_any().downcast_ref::<Points>(), Some(&points));
    let spec = Spec::parse("points:set,colour=red", 3, |p, _| p.to_string()).unwrap();
    let e = (by_spec("points").unwrap().from_spec)(&spec).unwrap_err();
    assert!(e.to_string().contains("unknown option `colour`"), "{e}");

    // It loads through the files it is given; a missing file is named.
    let Loading::Built { splits, skipped } = config.data.source().load(&fixture()).unwrap() else {
        panic!("points are built, not a manifest");
    };
    splits.validate().unwrap();
    assert!(skipped.is_empty());
    let sizes = [&splits.train, &splits.valid, &splits.test].map(|d| d.labels.len());
    assert_eq!(sizes.iter().sum::<usize>(), 120);
    let e = config
        .data
        .source()
        .load(&Fixture(HashMap::new()))
        .unwrap_err();
    assert!(e.to_string().contains("set/points.csv"), "{e}");

    // And a model learns it (the `x` modality separates the classes).
    config.model.feature_dim = 16;
    let (_, test) = train_and_test(&config, splits);
    assert!(test.unimodal[0] > 0.8 && test.fused > 0.8, "{test:?}");
}
