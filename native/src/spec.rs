//! `--data` source specs: `builtin`,
//! `manifest:PATH[,image-size=N][,max-tokens=N][,mel-bins=N][,frames=N]`, `mfeat:DIR[,views=fou+fac]`,
//! `av-digits:fsdd=DIR,mnist=DIR[,split=official|speaker:NAME][,mel-bins=N][,frames=N]`,
//! `crema-d:DIR[,frames=N][,image-size=N][,audio-frames=N][,store=DIR]`,
//! `emoji:DIR[,label=category|subcategory][,image-size=N][,max-tokens=N]`.

use std::path::Path;

use anyhow::{Context, Result, bail};
use mla::config::{
    AvDigitsSource, CremaDSource, DataConfig, EmojiSource, ManifestSource, MfeatSource,
};
use mla::data::{
    AvDigitsConfig, CremaDConfig, EmojiLabel, ManifestConfig, MfeatConfig, SyntheticConfig,
};

/// Absolute, so that `eval` finds the data from any working directory.
fn absolute(path: &str) -> String {
    std::fs::canonicalize(Path::new(path))
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.to_string())
}

/// `key=value` options after the source's first `:`; a bare first item is `dir`.
fn options(spec: &str, rest: &str) -> Result<Vec<(String, String)>> {
    rest.split(',')
        .filter(|p| !p.trim().is_empty())
        .enumerate()
        .map(|(i, part)| match part.split_once('=') {
            Some((k, v)) => Ok((k.trim().to_string(), v.trim().to_string())),
            None if i == 0 => Ok(("dir".to_string(), part.trim().to_string())),
            None => bail!("--data {spec}: `{part}` is not key=value"),
        })
        .collect()
}

/// An option's value as a count, or an error naming the spec and the option.
fn number(spec: &str, k: &str, v: &str) -> Result<usize> {
    v.parse::<usize>()
        .with_context(|| format!("--data {spec}: `{k}={v}` is not a number"))
}

/// A manifest source with default settings (`--manifest PATH`, whatever the path holds).
pub fn manifest(path: &str, seed: u64) -> DataConfig {
    DataConfig::Manifest(ManifestSource {
        path: absolute(path),
        options: ManifestConfig {
            seed,
            ..Default::default()
        },
    })
}

/// The model a data source trains without a configuration file: the raw-data
/// architecture for manifests and the emoji set, the default otherwise.
pub fn default_model(data: &DataConfig) -> mla::model::ModelConfig {
    match data {
        DataConfig::Manifest(_) | DataConfig::Emoji(_) => mla::model::ModelConfig::for_manifest(),
        _ => mla::model::ModelConfig::default(),
    }
}

/// Parses a `--data` spec; `seed` seeds the data (split, pairing, generation).
pub fn parse(spec: &str, seed: u64) -> Result<DataConfig> {
    let (kind, rest) = spec.split_once(':').unwrap_or((spec, ""));
    let opts = options(spec, rest)?;
    let unknown = |k: &str, allowed: &str| -> anyhow::Error {
        anyhow::anyhow!("--data {spec}: unknown option `{k}` for {kind} (allowed: {allowed})")
    };
    match kind {
        "builtin" => {
            if let Some((k, _)) = opts.first() {
                return Err(unknown(k, "none"));
            }
            Ok(DataConfig::Synthetic(SyntheticConfig {
                seed,
                ..Default::default()
            }))
        }
        // Both are manifests: the emoji's is made from the package's emoji.json.
        "manifest" | "emoji" => {
            let manifest = kind == "manifest";
            let mut path = None;
            let mut label = EmojiLabel::default();
            let mut options = ManifestConfig {
                seed,
                ..Default::default()
            };
            for (k, v) in opts {
                let number = || number(spec, &k, &v);
                match k.as_str() {
                    "dir" => path = Some(absolute(&v)),
                    "image-size" => options.image_size = number()?,
                    "max-tokens" => options.max_tokens = number()?,
                    "mel-bins" if manifest => options.fbank.mel_bins = number()?,
                    "frames" if manifest => options.fbank.frames = number()?,
                    "label" if !manifest => label = v.parse()?,
                    _ if manifest => {
                        return Err(unknown(
                            &k,
                            "image-size, max-tokens, mel-bins, frames; the rest in --config",
                        ));
                    }
                    _ => return Err(unknown(&k, "dir, label, image-size, max-tokens")),
                }
            }
            if manifest {
                let path = path.context("--data manifest:PATH needs the manifest's path")?;
                return Ok(DataConfig::Manifest(ManifestSource { path, options }));
            }
            let dir = path.context(
                "--data emoji:DIR needs the folder of the npm package emoji-datasource-google",
            )?;
            Ok(DataConfig::Emoji(EmojiSource {
                dir,
                label,
                options,
            }))
        }
        "mfeat" => {
            let mut dir = None;
            let mut options = MfeatConfig {
                seed,
                ..Default::default()
            };
            for (k, v) in opts {
                match k.as_str() {
                    "dir" => dir = Some(absolute(&v)),
                    "views" => options.views = v.split('+').map(str::to_string).collect(),
                    _ => return Err(unknown(&k, "dir, views")),
                }
            }
            let dir = dir.context("--data mfeat:DIR needs the folder of mfeat-*.csv files")?;
            Ok(DataConfig::Mfeat(MfeatSource { dir, options }))
        }
        "av-digits" => {
            let (mut fsdd, mut mnist) = (None, None);
            let mut options = AvDigitsConfig {
                seed,
                ..Default::default()
            };
            for (k, v) in opts {
                let number = || number(spec, &k, &v);
                match k.as_str() {
                    "fsdd" => fsdd = Some(absolute(&v)),
                    "mnist" => mnist = Some(absolute(&v)),
                    "split" => options.split = v.parse()?,
                    "mel-bins" => options.fbank.mel_bins = number()?,
                    "frames" => options.fbank.frames = number()?,
                    _ => return Err(unknown(&k, "fsdd, mnist, split, mel-bins, frames")),
                }
            }
            Ok(DataConfig::AvDigits(AvDigitsSource {
                fsdd: fsdd.context("--data av-digits: needs fsdd=DIR (FSDD's recordings/)")?,
                mnist: mnist.context("--data av-digits: needs mnist=DIR (MNIST's IDX files)")?,
                options,
            }))
        }
        "crema-d" => {
            let mut dir = None;
            let mut options = CremaDConfig {
                seed,
                ..Default::default()
            };
            for (k, v) in opts {
                let number = || number(spec, &k, &v);
                match k.as_str() {
                    "dir" => dir = Some(absolute(&v)),
                    "frames" => options.frames = number()?,
                    "image-size" => options.image_size = number()?,
                    "audio-frames" => options.audio_frames = number()?,
                    // Made by the loader, so it need not exist yet.
                    "store" => {
                        let dir = std::path::absolute(&v).map(|p| p.display().to_string());
                        options.store = Some(dir.unwrap_or(v));
                    }
                    _ => return Err(unknown(&k, "dir, frames, image-size, audio-frames, store")),
                }
            }
            let dir = dir.context("--data crema-d:DIR needs the data set's root folder")?;
            Ok(DataConfig::CremaD(CremaDSource { dir, options }))
        }
        _ => bail!(
            "--data {spec}: unknown source `{kind}` (builtin, manifest, emoji, mfeat, av-digits, crema-d)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_errors_name_the_problem() {
        match parse("mfeat:/x,views=fou+kar", 3).unwrap() {
            DataConfig::Mfeat(m) => {
                assert_eq!(m.dir, "/x");
                assert_eq!(m.options.views, vec!["fou", "kar"]);
                assert_eq!(m.options.seed, 3);
            }
            other => panic!("{other:?}"),
        }
        match parse(
            "av-digits:fsdd=/a,mnist=/b,split=speaker:theo,mel-bins=40",
            0,
        )
        .unwrap()
        {
            DataConfig::AvDigits(a) => {
                assert_eq!(a.options.split.to_string(), "speaker:theo");
                assert_eq!(a.options.fbank.mel_bins, 40);
            }
            other => panic!("{other:?}"),
        }
        match parse(
            "manifest:/m.csv,image-size=16,max-tokens=8,mel-bins=40,frames=50",
            4,
        )
        .unwrap()
        {
            DataConfig::Manifest(m) => {
                assert_eq!(m.path, "/m.csv");
                let o = &m.options;
                assert_eq!(
                    (
                        o.image_size,
                        o.max_tokens,
                        o.fbank.mel_bins,
                        o.fbank.frames,
                        o.seed
                    ),
                    (16, 8, 40, 50, 4)
                );
            }
            other => panic!("{other:?}"),
        }
        match parse("crema-d:/c,frames=3,image-size=64,audio-frames=512", 2).unwrap() {
            DataConfig::CremaD(c) => {
                assert_eq!(c.dir, "/c");
                let o = &c.options;
                assert_eq!(
                    (o.frames, o.image_size, o.audio_frames, o.seed),
                    (3, 64, 512, 2)
                );
            }
            other => panic!("{other:?}"),
        }
        for (spec, needle) in [
            ("nope", "unknown source `nope`"),
            ("crema-d:", "needs the data set's root"),
            ("crema-d:/c,fps=1", "unknown option `fps`"),
            ("mfeat:/x,colour=red", "unknown option `colour`"),
            ("av-digits:fsdd=/a", "needs mnist=DIR"),
            (
                "av-digits:fsdd=/a,mnist=/b,frames=x",
                "`frames=x` is not a number",
            ),
            ("av-digits:fsdd=/a,mnist=/b,split=bob", "official"),
        ] {
            let e = format!("{:#}", parse(spec, 0).unwrap_err());
            assert!(e.contains(needle), "{spec}: {e}");
        }
    }
}
