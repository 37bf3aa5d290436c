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
        (
            vec!["train", "--image-size", "8"],
            "manifest and emoji data only",
        ),
        (vec!["train", "--pretrained"], "model.pretrained"),
        (
            vec!["train", "--data", "emoji:/nonexistent"],
            "/nonexistent/emoji.json",
        ),
        (
            vec!["train", "--data", "emoji:/x,label=kind"],
            "expected category or subcategory",
        ),
        (
            vec![
                "train",
                "--manifest",
                "m.csv",
                "--pretrained",
                "--image-size",
                "64",
            ],
            "image_size = 224",
        ),
        (
            vec![
                "encoders",
                "import",
                "--dir",
                "/nonexistent/enc",
                "--from",
                "/nonexistent/wheels",
            ],
            "is not in /nonexistent/wheels",
        ),
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
    // The same as CSV: a header, a row per sample with the JSON's numbers.
    let csv_out = dir.join("preds.csv");
    let o = run(&[
        "predict",
        "--model",
        out.to_str().unwrap(),
        "--input",
        manifest.to_str().unwrap(),
        "--output",
        csv_out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let csv = std::fs::read_to_string(&csv_out).unwrap();
    let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    let header = &rows[0];
    assert_eq!(rows.len(), 121, "a header and 120 rows");
    assert_eq!(header[..5], ["line", "image", "text", "label", "predicted"]);
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("{name} in {header:?}"))
    };
    for (row, json) in rows[1..].iter().zip(&lines) {
        // Captions hold no commas here, so a plain split finds the cells.
        assert_eq!(row.len(), header.len());
        assert_eq!(row[col("predicted")], json["predicted"].as_str().unwrap());
        for m in json["prediction"]["modalities"].as_array().unwrap() {
            let name = m["name"].as_str().unwrap();
            let lambda: f64 = row[col(&format!("{name}_lambda"))].parse().unwrap();
            assert!((lambda - m["weight"].as_f64().unwrap()).abs() < 1e-6);
        }
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

/// Metrics lines without the wall-clock seconds (the only thing a rerun may change).
fn epochs_without_seconds(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            if let Some(o) = v.as_object_mut() {
                o.remove("seconds");
            }
            v
        })
        .collect()
}

#[test]
fn a_killed_run_resumes_and_ends_like_an_uninterrupted_one() {
    let dir = scratch("resume");
    let (whole, killed) = (dir.join("whole"), dir.join("killed"));
    let common = ["train", "--epochs", "30", "--quiet", "--seed", "3", "--out"];
    let o = run(&[&common[..], &[whole.to_str().unwrap()]].concat());
    assert!(o.status.success(), "{}", text(&o));

    // Killed (SIGKILL) once it has checkpointed 3 epochs: mid-epoch, or at worst
    // between two of an epoch's writes, which resuming must cope with too.
    let mut child = bin()
        .args([&common[..], &[killed.to_str().unwrap()]].concat())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    loop {
        let lines = std::fs::read_to_string(killed.join("metrics.jsonl"))
            .map(|m| m.lines().count())
            .unwrap_or(0);
        if lines >= 3 && killed.join("checkpoint.mlac").is_file() {
            break;
        }
        assert!(
            started.elapsed().as_secs() < 120,
            "the run never got to epoch 3"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!killed.join("test.json").exists(), "killed before the end");

    let o = run(&["train", "--resume", killed.to_str().unwrap(), "--quiet"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("resuming"), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(killed.join("test.json")).unwrap(),
        std::fs::read_to_string(whole.join("test.json")).unwrap(),
        "same test numbers"
    );
    assert_eq!(
        epochs_without_seconds(&killed),
        epochs_without_seconds(&whole),
        "same losses and accuracies every epoch, and the same best epoch"
    );

    // A finished run is not resumed by accident; a flag that changes the run is refused.
    let o = run(&["train", "--resume", killed.to_str().unwrap()]);
    assert!(
        !o.status.success() && text(&o).contains("finished run"),
        "{}",
        text(&o)
    );
    let o = run(&[
        "train",
        "--resume",
        killed.to_str().unwrap(),
        "--batch-size",
        "7",
    ]);
    assert!(
        !o.status.success() && text(&o).contains("--batch-size"),
        "{}",
        text(&o)
    );
    let o = run(&["train", "--resume", dir.join("nothing").to_str().unwrap()]);
    assert!(
        !o.status.success() && text(&o).contains("config.json"),
        "{}",
        text(&o)
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_config_file_sets_the_run_and_flags_override_it() {
    let dir = scratch("config");
    let first = dir.join("first");
    let o = run(&[
        "train",
        "--epochs",
        "2",
        "--lr",
        "0.05",
        "--no-hgm",
        "--quiet",
        "--out",
        first.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    // The saved TOML runs the same thing again.
    let again = dir.join("again");
    let toml = first.join("config.toml");
    let o = run(&[
        "train",
        "--config",
        toml.to_str().unwrap(),
        "--quiet",
        "--out",
        again.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let config = |d: &Path| std::fs::read_to_string(d.join("config.json")).unwrap();
    assert_eq!(config(&again), config(&first));
    assert_eq!(
        std::fs::read_to_string(again.join("test.json")).unwrap(),
        std::fs::read_to_string(first.join("test.json")).unwrap()
    );
    // A flag overrides the file; a hand-written file needs only what differs.
    let hand = dir.join("run.toml");
    std::fs::write(&hand, "[train]\nepochs = 1\nbatch_size = 16\n").unwrap();
    let third = dir.join("third");
    let o = run(&[
        "train",
        "--config",
        hand.to_str().unwrap(),
        "--batch-size",
        "8",
        "--quiet",
        "--out",
        third.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let saved: serde_json::Value = serde_json::from_str(&config(&third)).unwrap();
    assert_eq!(
        (&saved["train"]["epochs"], &saved["train"]["batch_size"]),
        (&serde_json::json!(1), &serde_json::json!(8))
    );
    // A misspelt key is named with its line.
    std::fs::write(&hand, "[train]\nepochz = 1\n").unwrap();
    let o = run(&["train", "--config", hand.to_str().unwrap()]);
    assert!(
        !o.status.success() && text(&o).contains("epochz") && text(&o).contains("line 2"),
        "{}",
        text(&o)
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn skip_bad_leaves_out_broken_rows_and_lists_them() {
    let dir = scratch("skip");
    let manifest = write_shapes(&dir, 60);
    let text_of = std::fs::read_to_string(&manifest).unwrap();
    // Break the first image the manifest names.
    let first = text_of
        .lines()
        .skip(1)
        .find_map(|l| l.split(',').next().filter(|p| !p.is_empty()))
        .unwrap()
        .to_string();
    std::fs::write(manifest.parent().unwrap().join(&first), b"not a png").unwrap();
    let out = dir.join("run");
    let args = |skip: bool| {
        let mut a = vec![
            "train".to_string(),
            "--manifest".into(),
            manifest.display().to_string(),
            "--epochs".into(),
            "1".into(),
            "--quiet".into(),
            "--out".into(),
            out.display().to_string(),
        ];
        if skip {
            a.push("--skip-bad".into());
        }
        a
    };
    let o = bin().args(args(false)).output().unwrap();
    assert!(
        !o.status.success() && text(&o).contains(&first),
        "{}",
        text(&o)
    );
    let o = bin().args(args(true)).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("skipped 1 bad samples"), "{}", text(&o));
    let listed = std::fs::read_to_string(out.join("skipped.txt")).unwrap();
    assert!(
        listed.contains(&first) && listed.contains("line"),
        "{listed}"
    );
    let o = run(&["train", "--skip-bad", "--epochs", "1"]);
    assert!(
        !o.status.success() && text(&o).contains("--skip-bad applies"),
        "{}",
        text(&o)
    );
    std::fs::remove_dir_all(dir).ok();
}

/// A manifest with audio, vector (inline and `.npy`) and text columns trains from the
/// command line, and `predict` reads the same typed columns back.
#[test]
fn typed_manifest_trains_and_predicts() {
    let dir = scratch("typed");
    let mut csv = String::from("voice:audio,feat:vector,note:text,label\n");
    for i in 0..48 {
        let class = i % 3;
        // A tone per class; the vector's largest entry is the class.
        let hz = 400.0 + 600.0 * class as f64;
        let samples: Vec<i16> = (0..2400)
            .map(|t| (6000.0 * (2.0 * std::f64::consts::PI * hz * t as f64 / 8000.0).sin()) as i16)
            .collect();
        std::fs::write(
            dir.join(format!("{i}.wav")),
            mla::data::formats::wav::encode_wav(&samples, 8000),
        )
        .unwrap();
        let v: Vec<f32> = (0..3)
            .map(|d| {
                if d == class {
                    2.0
                } else {
                    (i % 5) as f32 * 0.1
                }
            })
            .collect();
        let feat = if i % 2 == 0 {
            format!("\"{},{},{}\"", v[0], v[1], v[2])
        } else {
            std::fs::write(
                dir.join(format!("{i}.npy")),
                mla::data::encode_npy(&[3], &v),
            )
            .unwrap();
            format!("{i}.npy")
        };
        let note = if i % 4 == 0 { "" } else { "some words" };
        csv += &format!("{i}.wav,{feat},{note},k{class}\n");
    }
    let manifest = dir.join("typed.csv");
    std::fs::write(&manifest, &csv).unwrap();
    let out = dir.join("run");
    let data = format!("manifest:{},mel-bins=16,frames=30", manifest.display());
    let o = run(&[
        "train",
        "--data",
        &data,
        "--epochs",
        "4",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let config = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(
        config.contains("mel_bins = 16") && config.contains("frames = 30"),
        "{config}"
    );
    // The text column's encoder turned label smoothing on, and the log says so.
    assert!(
        text(&o).contains("label smoothing 0.1 (the scratch text encoder's default"),
        "{}",
        text(&o)
    );

    // Predict rows without labels and without the text column.
    let mut input = String::from("feat:vector,voice:audio\n");
    for i in 0..6 {
        let feat = if i % 2 == 0 {
            "1 0 0".to_string()
        } else {
            format!("{i}.npy")
        };
        input += &format!("{feat},{i}.wav\n");
    }
    std::fs::write(dir.join("new.csv"), input).unwrap();
    let preds = dir.join("preds.csv");
    let o = run(&[
        "predict",
        "--model",
        out.to_str().unwrap(),
        "--input",
        dir.join("new.csv").to_str().unwrap(),
        "--output",
        preds.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("no `note` column"), "{}", text(&o));
    let written = std::fs::read_to_string(&preds).unwrap();
    let header: Vec<&str> = written.lines().next().unwrap().split(',').collect();
    assert_eq!(
        header[..5],
        ["line", "feat:vector", "voice:audio", "label", "predicted"]
    );
    assert!(
        header.contains(&"note_present") && header.contains(&"voice_lambda"),
        "{header:?}"
    );
    assert_eq!(written.lines().count(), 7);
    for row in written.lines().skip(1) {
        let cells: Vec<&str> = row.split(',').collect();
        let at = |name: &str| cells[header.iter().position(|h| *h == name).unwrap()];
        assert_eq!(at("note_present"), "false");
        assert_eq!(at("note_lambda").parse::<f32>().unwrap(), 0.0);
    }
    // A vector of the wrong length is an error naming the line.
    std::fs::write(dir.join("short.csv"), "feat:vector\n1 2\n").unwrap();
    let o = run(&[
        "predict",
        "--model",
        out.to_str().unwrap(),
        "--input",
        dir.join("short.csv").to_str().unwrap(),
    ]);
    assert!(
        !o.status.success()
            && text(&o).contains("short.csv line 2")
            && text(&o).contains("2 numbers"),
        "{}",
        text(&o)
    );
    std::fs::remove_dir_all(dir).ok();
}

/// `bench` runs methods x seeds, prints the table, and a rerun after losing a run's
/// result trains only that one again.
#[test]
fn bench_runs_a_grid_and_resumes_it() {
    let dir = scratch("bench");
    let out = dir.join("grid");
    let args = [
        "bench",
        "--methods",
        "concat,qmf",
        "--ablation",
        "--seeds",
        "2",
        "--jobs",
        "2",
        "--out",
        out.to_str().unwrap(),
        "--",
        "--epochs",
        "2",
    ];
    let o = run(&args);
    assert!(o.status.success(), "{}", text(&o));
    let table = std::fs::read_to_string(out.join("table.md")).unwrap();
    assert!(table.starts_with("| Data | Concat | QMF |"), "{table}");
    assert!(
        table.contains("| Multi |") && table.contains("| strong |") && table.contains("**"),
        "{table}"
    );
    let ablation = std::fs::read_to_string(out.join("ablation.md")).unwrap();
    assert!(
        ablation.contains("MLA (HGM ✗, DF ✗)") && ablation.contains("| MLA |"),
        "{ablation}"
    );
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["columns"].as_array().unwrap().len(), 6);
    // Lose one run's result: only that run trains again.
    std::fs::remove_file(out.join("runs/qmf-seed1/test.json")).unwrap();
    let o = run(&args);
    assert!(o.status.success(), "{}", text(&o));
    let log = text(&o);
    assert_eq!(log.matches("already done").count(), 11, "{log}");
    assert!(
        log.contains("qmf seed 1: resumed") || log.contains("qmf seed 1: trained"),
        "{log}"
    );
    // A run that fails is reported, and the others still make the table.
    let o = run(&[
        "bench",
        "--data",
        "mfeat:/nonexistent",
        "--methods",
        "sum",
        "--seeds",
        "1",
        "--out",
        dir.join("bad").to_str().unwrap(),
    ]);
    assert!(
        !o.status.success() && text(&o).contains("1 of 1 runs failed"),
        "{}",
        text(&o)
    );
    std::fs::remove_dir_all(dir).ok();
}

/// The encoder directory and the emoji package, as the pretrained tests of the core
/// find them; `None` (skip) without them unless MLA_REQUIRE_PRETRAINED is set.
fn pretrained_inputs() -> Option<(PathBuf, PathBuf)> {
    let home = PathBuf::from(std::env::var_os("HOME")?);
    let from = |var: &str, default: &str| {
        std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".cache/mla").join(default))
    };
    let (encoders, emoji) = (
        from("MLA_ENCODERS", "encoders"),
        from("MLA_EMOJI", "emoji/package"),
    );
    let present = encoders.join("mobilenet_v2.mlae").exists()
        && encoders.join("minilm_l6.mlae").exists()
        && emoji.join("emoji.json").exists();
    if !present {
        assert!(
            std::env::var_os("MLA_REQUIRE_PRETRAINED").is_none(),
            "no encoder files in {} or no emoji in {}",
            encoders.display(),
            emoji.display()
        );
        eprintln!("skipping: no encoder files or emoji package");
        return None;
    }
    Some((encoders, emoji))
}

#[test]
fn pretrained_encoders_train_eval_and_predict_from_files() {
    let Some((encoders, emoji)) = pretrained_inputs() else {
        return;
    };
    let dir = scratch("pretrained");
    // Small pictures keep the feature extraction short.
    let config = dir.join("run.toml");
    std::fs::write(
        &config,
        format!(
            "[data]\nsource = \"emoji\"\ndir = \"{}\"\n[model]\nfeature_dim = 32\n\
             encoders = [{{ type = \"mobilenet_v2\", image_size = 48 }}, {{ type = \"minilm\", max_tokens = 12 }}]\n",
            emoji.display()
        ),
    )
    .unwrap();
    let run_dir = dir.join("run");
    let enc = encoders.to_str().unwrap();
    let o = run(&[
        "train",
        "--config",
        config.to_str().unwrap(),
        "--epochs",
        "3",
        "--lr",
        "0.05",
        "--quiet",
        "--encoders",
        enc,
        "--out",
        run_dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    // The saved configuration pins each encoder file by its hash; the model file
    // leaves the frozen networks out.
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("config.json")).unwrap()).unwrap();
    for e in saved["model"]["encoders"].as_array().unwrap() {
        assert_eq!(e["sha256"].as_str().map(str::len), Some(64), "{e}");
    }
    let model_size = std::fs::metadata(run_dir.join("model.mla")).unwrap().len();
    assert!(model_size < 1_000_000, "{model_size} bytes");
    let split = std::fs::read_to_string(run_dir.join("split.csv")).unwrap();
    assert!(
        split.starts_with("line,split\n") && split.contains(",test\n"),
        "{split}"
    );

    // eval computes the features again (or takes them from the cache): the same numbers.
    let o = run(&[
        "eval",
        "--model",
        run_dir.to_str().unwrap(),
        "--encoders",
        enc,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("matches the saved test result exactly"),
        "{}",
        text(&o)
    );

    // predict from the files themselves; a missing encoder file is a clear error.
    let manifest = dir.join("some.csv");
    let mut csv = String::from("image:image,name:text,label\n");
    for (png, name) in [
        ("1f34e.png", "red apple"),
        ("1f1ea-1f1ec.png", "Egypt Flag"),
    ] {
        csv += &format!(
            "{},{name},\n",
            emoji.join("img/google/64").join(png).display()
        );
    }
    std::fs::write(&manifest, csv).unwrap();
    let args = [
        "predict",
        "--model",
        run_dir.to_str().unwrap(),
        "--input",
        manifest.to_str().unwrap(),
    ];
    let o = bin().args(args).args(["--encoders", enc]).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["predicted"], "Flags", "{}", lines[1]);
    let empty = dir.join("no-encoders");
    std::fs::create_dir_all(&empty).unwrap();
    let o = bin()
        .args(args)
        .args(["--encoders", empty.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        text(&o).contains("mla-native encoders import") && text(&o).contains("mobilenet_v2"),
        "{}",
        text(&o)
    );
}

/// `mla-native --threads 1 speed ARGS --json`, which must succeed: its report.
fn speed_report(args: &[&str]) -> serde_json::Value {
    let all: Vec<&str> = ["--threads", "1", "speed"]
        .into_iter()
        .chain(args.iter().copied())
        .chain(["--json"])
        .collect();
    let o = run(&all);
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).expect("one JSON line")
}

#[test]
fn speed_times_each_method_on_a_model_and_rejects_empty_runs() {
    for (model, method, name) in [
        ("mfeat-mlp", "mla", "mla"),
        ("mfeat-mlp", "concat", "joint"),
        ("av-cnn", "mla", "mla"),
    ] {
        let r = speed_report(&[
            "--model", model, "--method", method, "--batch", "8", "--warmup", "1", "--steps", "2",
        ]);
        assert_eq!(r["framework"], "mla");
        assert_eq!(r["model"], model);
        assert_eq!(r["method"], name);
        assert_eq!(
            (r["threads"].as_u64(), r["batch"].as_u64()),
            (Some(1), Some(8))
        );
        let seconds = r["seconds_per_step"].as_f64().unwrap();
        assert!(seconds > 0.0 && seconds.is_finite(), "{r}");
    }
    // Two methods round for round: both timed, the ratio of the rounds' times.
    let r = speed_report(&[
        "--model",
        "mfeat-mlp",
        "--batch",
        "8",
        "--steps",
        "2",
        "--rounds",
        "3",
        "--against",
        "concat",
    ]);
    assert_eq!(
        (r["per"].as_str(), r["rounds"].as_u64()),
        (Some("step"), Some(3))
    );
    assert_eq!(r["against"]["method"], "joint");
    let ratio = r["against"]["ratio"].as_f64().unwrap();
    assert!(ratio > 0.0 && ratio.is_finite(), "{r}");
    // Whole epochs (batches and validation) on a data set, with its default model.
    let r = speed_report(&["--data", "builtin", "--rounds", "2", "--against", "late"]);
    assert_eq!(
        (r["per"].as_str(), r["model"].as_str()),
        (Some("epoch"), Some("builtin"))
    );
    let epoch = r["seconds_per_epoch"].as_f64().unwrap();
    let step = r["seconds_per_step"].as_f64().unwrap();
    assert!(r["steps"].as_u64().unwrap() > 1 && epoch > step, "{r}");
    assert!(
        r["against"]["seconds_per_epoch"].as_f64().unwrap() > 0.0,
        "{r}"
    );
    let o = run(&["speed", "--model", "mfeat-mlp", "--steps", "0"]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("--steps and --rounds must be at least 1"),
        "{}",
        text(&o)
    );
}

#[test]
fn missing_rates_mask_runs_and_bench_makes_table_2_and_fig_2() {
    let dir = scratch("missing");
    let out = dir.join("run");
    let o = run(&[
        "train",
        "--epochs",
        "2",
        "--quiet",
        "--missing",
        "0.5",
        "--missing-test",
        "0.2,0",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("missing in train"), "{}", text(&o));
    let reports: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("missing.json")).unwrap()).unwrap();
    assert_eq!(reports[0]["split"], "train");
    assert_eq!(reports[2]["rates"], serde_json::json!([0.2, 0.0]));
    let config = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(config.contains("[missing]"), "{config}");
    // eval draws the same test masks (it matches the saved result) and reports the gap.
    let o = run(&["eval", "--model", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("matches the saved test result exactly")
            && text(&o).contains("modality gap"),
        "{}",
        text(&o)
    );
    let svg = std::fs::read_to_string(out.join("embeddings.svg")).unwrap();
    assert_eq!(svg.matches("<g data-modality").count(), 2, "{svg}");
    let gap: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("gap.json")).unwrap()).unwrap();
    assert!(gap["pairs"][0]["gap"].as_f64().unwrap() > 0.0);
    // Bad rates name their flag or field.
    for (args, want) in [
        (vec!["train", "--missing", "1.5"], "missing"),
        (vec!["train", "--missing", "0.5,x"], "not a rate"),
        (
            vec!["train", "--missing-train", "0.1,0.2,0.3"],
            "3 rates for 2 modalities",
        ),
        (
            vec!["bench", "--missing-rates", "2", "--out", "x"],
            "--missing-rates: 2",
        ),
    ] {
        let o = run(&args);
        assert!(
            !o.status.success() && text(&o).contains(want),
            "{args:?}: {}",
            text(&o)
        );
        assert!(!text(&o).contains("panicked"), "{}", text(&o));
    }
    // Table 2: a row per method, a column per rate.
    let grid = dir.join("table2");
    let o = run(&[
        "bench",
        "--methods",
        "mla,ae",
        "--seeds",
        "1",
        "--jobs",
        "2",
        "--missing-rates",
        "0.1,0.5",
        "--out",
        grid.to_str().unwrap(),
        "--",
        "--epochs",
        "1",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let table = std::fs::read_to_string(grid.join("missing.md")).unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines[0], "| Method | η = 0.1 | η = 0.5 |", "{table}");
    assert!(
        lines[2].starts_with("| MLA |") && lines[3].starts_with("| AE |"),
        "{table}"
    );
    assert!(grid.join("runs/ae-missing0.5-seed0/test.json").is_file());
    // Fig. 2: each modality masked in training at each ratio; the other splits whole.
    let iso = dir.join("isolation");
    let o = run(&[
        "bench",
        "--methods",
        "qmf",
        "--seeds",
        "1",
        "--isolation",
        "0,0.8",
        "--out",
        iso.to_str().unwrap(),
        "--",
        "--epochs",
        "1",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let md = std::fs::read_to_string(iso.join("isolation.md")).unwrap();
    assert_eq!(
        md.lines().filter(|l| l.starts_with("| QMF |")).count(),
        4,
        "{md}"
    );
    let masked: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(iso.join("runs/qmf-mask-strong0.8-seed0/missing.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(masked[0]["rates"], serde_json::json!([0.8, 0.0]));
    assert_eq!(masked[2]["rates"], serde_json::json!([0.0, 0.0]));
    let svg = std::fs::read_to_string(iso.join("isolation.svg")).unwrap();
    assert_eq!(svg.matches("<polyline").count(), 2 * 3, "{svg}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn bench_tunes_the_learning_rate_per_method_on_validation() {
    let dir = scratch("lr-grid");
    let out = dir.join("grid");
    let o = run(&[
        "bench",
        "--methods",
        "mla,late",
        "--seeds",
        "1",
        "--jobs",
        "2",
        "--lr-grid",
        "0.0001,0.01",
        "--out",
        out.to_str().unwrap(),
        "--",
        "--epochs",
        "2",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let lr = std::fs::read_to_string(out.join("lr.md")).unwrap();
    // Four rows, one chosen per method: with 2 epochs, 1e-4 barely moves, 0.01 learns.
    assert_eq!(
        lr.lines().filter(|l| l.starts_with("| MLA |")).count(),
        2,
        "{lr}"
    );
    assert!(
        lr.contains("| MLA | 0.01 (chosen) |") && lr.contains("| Late Fusion | 0.01 (chosen) |"),
        "{lr}"
    );
    let table = std::fs::read_to_string(out.join("table.md")).unwrap();
    assert!(
        table.starts_with("| Data | MLA (lr 0.01) | Late Fusion (lr 0.01) |"),
        "{table}"
    );
    assert!(table.contains("| best epoch |"), "{table}");
    let o = run(&[
        "bench",
        "--lr-grid",
        "0.1",
        "--out",
        "x",
        "--",
        "--lr",
        "0.2",
    ]);
    assert!(
        !o.status.success() && text(&o).contains("leave --lr out"),
        "{}",
        text(&o)
    );
    std::fs::remove_dir_all(dir).ok();
}

/// A run that diverges exits non-zero naming what diverged and where, keeps its last
/// good checkpoint and best model, and resumes from it with a lower `--lr` (issue 25).
#[test]
fn a_diverging_run_stops_and_resumes_with_a_lower_rate() {
    let dir = scratch("diverge");
    let out = dir.join("run");
    let out_s = out.to_str().unwrap();
    let o = run(&["train", "--epochs", "1", "--quiet", "--out", out_s]);
    assert!(o.status.success(), "{}", text(&o));
    let checkpoint = std::fs::read(out.join("checkpoint.mlac")).unwrap();
    // Two more epochs at an absurd rate: the second epoch of the run diverges.
    let o = run(&[
        "train", "--resume", out_s, "--epochs", "3", "--lr", "1e30", "--quiet",
    ]);
    let t = text(&o);
    assert!(!o.status.success(), "{t}");
    assert!(
        t.contains("training diverged: mla's")
            && t.contains("in epoch 2")
            && t.contains("lower learning rate")
            && t.contains(&format!("--resume {out_s} --lr")),
        "{t}"
    );
    assert!(!t.contains("panicked"), "{t}");
    assert_eq!(
        std::fs::read(out.join("checkpoint.mlac")).unwrap(),
        checkpoint,
        "the last good checkpoint is kept as it was"
    );
    // The best model (epoch 1) still predicts; eval finds it finite.
    let o = run(&["eval", "--model", out_s]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("XDG_RUNTIME_DIR"), "{}", text(&o));
    // Without XDG_RUNTIME_DIR, Mesa's Vulkan driver complains each time it starts.
    let o = bin()
        .args([
            "train", "--resume", out_s, "--epochs", "3", "--lr", "0.001", "--quiet",
        ])
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    // A CPU run's resume starts no GPU driver.
    assert!(!text(&o).contains("XDG_RUNTIME_DIR"), "{}", text(&o));
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    assert_eq!(
        metrics.lines().count(),
        4,
        "3 epochs and the test line: {metrics}"
    );
    std::fs::remove_dir_all(dir).ok();
}

/// Files that are not what they claim: a damaged model file, a device or FIFO named in
/// a manifest, a manifest naming a truncated JPEG; and a model of the built-in data
/// blamed correctly when asked to read raw inputs.
#[test]
fn damaged_and_hostile_files_are_clear_errors() {
    let dir = scratch("hostile");
    let out = dir.join("run");
    let o = run(&[
        "train",
        "--epochs",
        "1",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let model = out.join("model.mla");
    let mut bytes = std::fs::read(&model).unwrap();
    let n = bytes.len();
    bytes[n - 100] ^= 0x20;
    let damaged = dir.join("damaged.mla");
    std::fs::write(&damaged, &bytes).unwrap();
    let manifest = dir.join("m.csv");
    std::fs::write(&manifest, "v:vector,label\n1;2,x\n").unwrap();
    let o = run(&[
        "predict",
        "--model",
        damaged.to_str().unwrap(),
        "--input",
        manifest.to_str().unwrap(),
    ]);
    assert!(
        !o.status.success() && text(&o).contains("SHA-256 does not match"),
        "{}",
        text(&o)
    );
    // Trained on the built-in data: the message names the model, not the encoders.
    let o = run(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--input",
        manifest.to_str().unwrap(),
    ]);
    assert!(
        !o.status.success()
            && text(&o).contains(&format!(
                "{} was trained on the built-in data",
                model.display()
            )),
        "{}",
        text(&o)
    );

    // A manifest whose cells name a device and a FIFO: refused, never read.
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let fifo = data.join("pipe.wav");
    let fifo_made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success());
    let mut m = String::from("clip:audio,v:vector,label\n");
    for i in 0..6 {
        m += &format!(
            "/dev/zero,1;2,a\n{},3;4,b\n",
            if fifo_made && i == 0 {
                "pipe.wav"
            } else {
                "/dev/urandom"
            }
        );
    }
    std::fs::write(data.join("m.csv"), m).unwrap();
    let o = run(&[
        "train",
        "--manifest",
        data.join("m.csv").to_str().unwrap(),
        "--epochs",
        "1",
        "--quiet",
    ]);
    assert!(
        !o.status.success() && text(&o).contains("not a regular file"),
        "{}",
        text(&o)
    );

    // A truncated JPEG among good pictures: an error naming it; --skip-bad leaves it out.
    let shapes = dir.join("shapes");
    let path = write_shapes(&shapes, 24);
    let mut img = image::RgbImage::new(16, 16);
    for (x, y, p) in img.enumerate_pixels_mut() {
        *p = image::Rgb([(x * 16) as u8, (y * 16) as u8, 128]);
    }
    let mut jpeg = std::io::Cursor::new(Vec::new());
    img.write_to(&mut jpeg, image::ImageFormat::Jpeg).unwrap();
    let jpeg = jpeg.into_inner();
    std::fs::write(shapes.join("cut.jpg"), &jpeg[..jpeg.len() / 3]).unwrap();
    let mut csv = std::fs::read_to_string(&path).unwrap();
    let first = csv.lines().nth(1).unwrap().to_string();
    let (_, rest) = first.split_once(',').unwrap();
    csv += &format!("cut.jpg,{rest}\n");
    std::fs::write(&path, csv).unwrap();
    let o = run(&[
        "train",
        "--manifest",
        path.to_str().unwrap(),
        "--epochs",
        "1",
        "--quiet",
    ]);
    assert!(
        !o.status.success() && text(&o).contains("cut.jpg") && text(&o).contains("cut short"),
        "{}",
        text(&o)
    );
    let o = run(&[
        "train",
        "--manifest",
        path.to_str().unwrap(),
        "--epochs",
        "1",
        "--quiet",
        "--skip-bad",
        "--out",
        dir.join("skipped").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let skipped = std::fs::read_to_string(dir.join("skipped/skipped.txt")).unwrap();
    assert!(skipped.contains("cut.jpg"), "{skipped}");
    std::fs::remove_dir_all(dir).ok();
}

/// `--threads`, else `RAYON_NUM_THREADS` (as in any rayon program), else every core: the
/// thread count a run reports; a count that is not one is refused by name.
#[test]
fn threads_come_from_the_flag_then_rayon_num_threads() {
    let threads = |env: Option<&str>, flag: Option<&str>| {
        let mut c = bin();
        c.env_remove("RAYON_NUM_THREADS");
        if let Some(v) = env {
            c.env("RAYON_NUM_THREADS", v);
        }
        if let Some(f) = flag {
            c.args(["--threads", f]);
        }
        let o = c
            .args([
                "speed",
                "--model",
                "mfeat-mlp",
                "--batch",
                "8",
                "--steps",
                "1",
                "--rounds",
                "1",
                "--json",
            ])
            .output()
            .unwrap();
        let t = text(&o);
        if !o.status.success() {
            return Err(t);
        }
        let line = t
            .lines()
            .rev()
            .find(|l| l.starts_with('{'))
            .unwrap()
            .to_string();
        let report: serde_json::Value = serde_json::from_str(&line).unwrap();
        Ok(report["threads"].as_u64().unwrap())
    };
    assert_eq!(threads(Some("1"), None), Ok(1));
    assert_eq!(threads(Some("1"), Some("2")), Ok(2));
    assert_eq!(threads(None, Some("3")), Ok(3));
    let e = threads(Some("many"), None).unwrap_err();
    assert!(
        e.contains("RAYON_NUM_THREADS") && !e.contains("panicked"),
        "{e}"
    );
    let e = threads(None, Some("0")).unwrap_err();
    assert!(e.contains("--threads") && !e.contains("panicked"), "{e}");
}
