//! The `mla-native` binary end to end: bad input, train, eval, manifest, predict.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mla-native"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mla-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn bad_values_fail_cleanly_without_panicking() {
    for (args, needle) in [
        (vec!["train", "--alpha", "0"], "train.hgm.alpha"),
        (vec!["train", "--alpha", "-1"], "train.hgm.alpha"),
        (vec!["train", "--epochs", "0"], "train.epochs"),
        (vec!["train", "--device", "tpu"], "unknown device `tpu`"),
        (vec!["train", "--lr", "nan"], "train.optimizer.lr"),
        (
            vec!["eval", "--model", "/nonexistent/run"],
            "/nonexistent/run/config.json",
        ),
        (
            vec!["train", "--manifest", "/nonexistent/m.csv"],
            "/nonexistent/m.csv",
        ),
        (vec!["train", "--data", "nope"], "unknown source `nope`"),
        (
            vec!["train", "--data", "mfeat:/nonexistent"],
            "/nonexistent/mfeat-fou.csv",
        ),
        (
            vec!["train", "--data", "av-digits:fsdd=/nonexistent,mnist=/x"],
            "/nonexistent",
        ),
        (vec!["train", "--image-size", "8"], "manifests only"),
    ] {
        let o = run(&args);
        let out = text(&o);
        assert!(!o.status.success(), "{args:?} should fail");
        assert!(out.contains(needle), "{args:?}: {out}");
        assert!(!out.contains("panicked"), "{args:?} panicked: {out}");
    }
}

#[test]
fn train_then_eval_reproduces_the_test_numbers() {
    let dir = scratch("train");
    let out = dir.join("run");
    let o = run(&[
        "train",
        "--epochs",
        "3",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("fused"));
    for f in [
        "model.mla",
        "config.json",
        "metrics.jsonl",
        "test.json",
        "plot.svg",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    // The plot has a line per loss (2 modalities) and per accuracy (2 + fused), each
    // with a point per epoch.
    let plot = std::fs::read_to_string(out.join("plot.svg")).unwrap();
    assert!(plot.starts_with("<svg"), "{plot}");
    let lines: Vec<&str> = plot
        .lines()
        .filter(|l| l.starts_with("<polyline"))
        .collect();
    assert_eq!(lines.len(), 5, "{plot}");
    for l in lines {
        let points = l
            .split("points=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(points.split(' ').count(), 3, "{l}");
    }
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 4, "3 epochs and the test line");
    let o = run(&["eval", "--model", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("matches the saved test result exactly"));
    // A model of the built-in data cannot read images or text.
    let manifest = dir.join("m.csv");
    std::fs::write(&manifest, "image,text,label\n,hello,x\n").unwrap();
    let o = run(&[
        "predict",
        "--model",
        out.to_str().unwrap(),
        "--input",
        manifest.to_str().unwrap(),
    ]);
    assert!(
        !o.status.success() && text(&o).contains("no preprocessing"),
        "{}",
        text(&o)
    );
    std::fs::remove_dir_all(dir).ok();
}

/// The built-in sample written by `mla-native sample`: the manifest's path.
fn write_shapes(dir: &Path, n: usize) -> PathBuf {
    let o = run(&[
        "sample",
        "--out",
        dir.to_str().unwrap(),
        "--samples",
        &n.to_string(),
        "--seed",
        "5",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let path = dir.join("shapes.csv");
    let rows = std::fs::read_to_string(&path).unwrap().lines().count();
    assert_eq!(rows, n + 1, "header and one row per sample");
    path
}

#[test]
fn manifest_train_eval_and_predict() {
    let dir = scratch("manifest");
    let manifest = write_shapes(&dir, 120);
    let out = dir.join("run");
    let o = run(&[
        "train",
        "--manifest",
        manifest.to_str().unwrap(),
        "--epochs",
        "3",
        "--lr",
        "0.01",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&["eval", "--model", out.to_str().unwrap()]);
    assert!(
        o.status.success() && text(&o).contains("matches"),
        "{}",
        text(&o)
    );
    let preds = dir.join("preds.jsonl");
    let o = run(&[
        "predict",
        "--model",
        out.to_str().unwrap(),
        "--input",
        manifest.to_str().unwrap(),
        "--output",
        preds.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&preds)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 120);
    // A model file on its own (as the browser page exports it) predicts the same.
    let again = run(&[
        "predict",
        "--model",
        out.join("model.mla").to_str().unwrap(),
        "--input",
        manifest.to_str().unwrap(),
    ]);
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(
        String::from_utf8_lossy(&again.stdout),
        std::fs::read_to_string(&preds).unwrap()
    );
    for l in &lines {
        let p = &l["prediction"];
        let total: f64 = p["probabilities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .sum();
        assert!((total - 1.0).abs() < 1e-4);
        let w: f64 = p["modalities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["weight"].as_f64().unwrap())
            .sum();
        assert!((w - 1.0).abs() < 1e-4);
    }
    // A manifest row naming a missing file is an error naming file and line.
    std::fs::write(dir.join("bad.csv"), "image,text,label\nnope.png,hi,x\n").unwrap();
    let o = run(&[
        "predict",
        "--model",
        out.to_str().unwrap(),
        "--input",
        dir.join("bad.csv").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("bad.csv line 2") && text(&o).contains("nope.png"),
        "{}",
        text(&o)
    );
    std::fs::remove_dir_all(dir).ok();
}
