//! `--data` source specs (`<source>:<first>[,key=value...]`), read by the registered
//! source they name (`mla::data::sources`; each source's file lists its options), with
//! paths made absolute here.

use std::path::Path;

use anyhow::{Result, anyhow};
use mla::config::{DataConfig, ManifestSource};
use mla::data::ManifestConfig;
use mla::data::sources::{self, Spec};

/// Absolute, so that `eval` finds the data from any working directory; a path that
/// need not exist yet (`new`) without resolving links.
fn absolute(path: &str, new: bool) -> String {
    let resolved = match new {
        true => std::path::absolute(Path::new(path)),
        false => std::fs::canonicalize(Path::new(path)),
    };
    resolved
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.to_string())
}

/// A manifest source with default settings (`--manifest PATH`, whatever the path holds).
pub fn manifest(path: &str, seed: u64) -> DataConfig {
    DataConfig::new(ManifestSource {
        path: absolute(path, false),
        options: ManifestConfig {
            seed,
            ..Default::default()
        },
    })
}

/// The default model for `data`: manifests (and emoji) pick encoders per column.
pub fn default_model(data: &DataConfig) -> mla::model::ModelConfig {
    match data.source().manifest_options() {
        Some(_) => mla::model::ModelConfig::for_manifest(),
        None => mla::model::ModelConfig::default(),
    }
}

/// Parses a `--data` spec with the registered source it names; `seed` seeds the data
/// (split, pairing, generation).
pub fn parse(spec: &str, seed: u64) -> Result<DataConfig> {
    let parsed = Spec::parse(spec, seed, absolute)?;
    let entry = sources::by_spec(&parsed.kind).ok_or_else(|| {
        anyhow!(
            "--data {spec}: unknown source `{}` ({})",
            parsed.kind,
            sources::spec_names().join(", ")
        )
    })?;
    Ok(DataConfig::from((entry.from_spec)(&parsed)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mla::config::{AvDigitsSource, CremaDSource, MfeatSource};

    #[test]
    fn specs_parse_and_errors_name_the_problem() {
        let data = parse("mfeat:/x,views=fou+kar", 3).unwrap();
        {
            let m = data.get::<MfeatSource>().unwrap();
            {
                assert_eq!(m.dir, "/x");
                assert_eq!(m.options.views, vec!["fou", "kar"]);
                assert_eq!(m.options.seed, 3);
            }
        }
        let data = parse(
            "av-digits:fsdd=/a,mnist=/b,split=speaker:theo,mel-bins=40",
            0,
        )
        .unwrap();
        {
            let a = data.get::<AvDigitsSource>().unwrap();
            {
                assert_eq!(a.options.split.to_string(), "speaker:theo");
                assert_eq!(a.options.fbank.mel_bins, 40);
            }
        }
        let data = parse(
            "manifest:/m.csv,image-size=16,max-tokens=8,mel-bins=40,frames=50",
            4,
        )
        .unwrap();
        {
            let m = data.get::<ManifestSource>().unwrap();
            {
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
        }
        let data = parse("crema-d:/c,frames=3,image-size=64,audio-frames=512", 2).unwrap();
        {
            let c = data.get::<CremaDSource>().unwrap();
            {
                assert_eq!(c.dir, "/c");
                let o = &c.options;
                assert_eq!(
                    (o.frames, o.image_size, o.audio_frames, o.seed),
                    (3, 64, 512, 2)
                );
            }
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
