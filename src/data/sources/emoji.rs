//! The emoji of the npm package `emoji-datasource-google` (Noto Emoji, Apache-2.0) as an
//! image + text data set: the 64x64 picture, the emoji's name, and its category (or
//! subcategory) as the label. Both modalities carry the label, neither perfectly.

use serde::{Deserialize, Serialize};

use crate::data::manifest::build::ManifestConfig;
use crate::data::manifest::table::{Column, ColumnKind, Manifest, ManifestRow};
use crate::data::sources::{DataSource, Files, Loading, SourceEntry, from_json, join};
use crate::error::{MlaError, Result};

/// Which field of `emoji.json` is the label.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmojiLabel {
    /// One of 10 categories ("Food & Drink", "Flags", ...).
    #[default]
    Category,
    /// One of about 100 subcategories ("fruit", "country-flag", ...).
    Subcategory,
}

impl std::str::FromStr for EmojiLabel {
    type Err = MlaError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "category" => Ok(EmojiLabel::Category),
            "subcategory" => Ok(EmojiLabel::Subcategory),
            _ => Err(MlaError::config(
                "data.label",
                format!("`{s}`: expected category or subcategory"),
            )),
        }
    }
}

#[derive(Deserialize)]
struct Entry {
    name: Option<String>,
    image: String,
    category: String,
    subcategory: String,
    #[serde(default)]
    has_img_google: bool,
}

/// Where the pictures are inside the package.
pub const EMOJI_IMAGES: &str = "img/google/64";

/// The manifest of the package's `emoji.json` (`json`): columns `image:image` (paths
/// relative to the package folder) and `name:text`, one row per emoji that has a
/// Google picture (skin-tone variants are left out); `line` is the entry's 1-based
/// index in the file.
pub fn emoji_manifest(json: &[u8], label: EmojiLabel) -> Result<Manifest> {
    let entries: Vec<Entry> = serde_json::from_slice(json)
        .map_err(|e| MlaError::Data(format!("emoji.json: not the package's emoji list: {e}")))?;
    let rows: Vec<ManifestRow> = entries
        .into_iter()
        .enumerate()
        .filter(|(_, e)| e.has_img_google)
        .map(|(i, e)| ManifestRow {
            line: i + 1,
            cells: vec![
                Some(format!("{EMOJI_IMAGES}/{}", e.image)),
                e.name.filter(|n| !n.trim().is_empty()),
            ],
            label: Some(match label {
                EmojiLabel::Category => e.category,
                EmojiLabel::Subcategory => e.subcategory,
            }),
        })
        .collect();
    if rows.is_empty() {
        return Err(MlaError::Data(
            "emoji.json: no emoji with a Google picture".into(),
        ));
    }
    Ok(Manifest {
        name: "emoji.json".into(),
        columns: vec![
            Column {
                name: "image".into(),
                kind: ColumnKind::Image,
            },
            Column {
                name: "name".into(),
                kind: ColumnKind::Text,
            },
        ],
        has_labels: true,
        rows,
    })
}

/// The folder of the npm package `emoji-datasource-google` (its `package/` folder,
/// holding `emoji.json` and `img/google/64/`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmojiSource {
    pub dir: String,
    /// The label: the emoji's category (default) or subcategory.
    #[serde(default)]
    pub label: EmojiLabel,
    /// Image size, tokens, vocabulary, split, as for a manifest.
    #[serde(default)]
    pub options: ManifestConfig,
}

/// `source = "emoji"`,
/// `--data emoji:DIR[,label=category|subcategory][,image-size=N][,max-tokens=N]`.
pub const ENTRY: SourceEntry = SourceEntry {
    name: "emoji",
    spec: "emoji",
    from_json: from_json::<EmojiSource>,
    from_spec: |spec| {
        let (mut dir, mut label) = (None, EmojiLabel::default());
        let mut options = ManifestConfig {
            seed: spec.seed,
            ..Default::default()
        };
        for (k, v) in &spec.options {
            match k.as_str() {
                "dir" => dir = Some(spec.path(v)),
                "image-size" => options.image_size = spec.number(k, v)?,
                "max-tokens" => options.max_tokens = spec.number(k, v)?,
                "label" => label = v.parse()?,
                _ => return Err(spec.unknown(k, "dir, label, image-size, max-tokens")),
            }
        }
        let dir = dir.ok_or_else(|| {
            spec.missing("emoji:DIR needs the folder of the npm package emoji-datasource-google")
        })?;
        Ok(Box::new(EmojiSource {
            dir,
            label,
            options,
        }))
    },
};

impl DataSource for EmojiSource {
    fn load(&self, files: &dyn Files) -> Result<Loading> {
        let json = join(&self.dir, "emoji.json");
        let bytes = files.read(&json).map_err(|why| {
            MlaError::Data(format!(
                "reading {json} (the folder of the npm package emoji-datasource-google: \
                 `npm pack emoji-datasource-google@16.0.0`, unpacked): {why}"
            ))
        })?;
        let mut manifest = emoji_manifest(&bytes, self.label)?;
        manifest.name = json;
        Ok(Loading::Manifest {
            manifest,
            dir: self.dir.clone(),
            options: self.options.clone(),
        })
    }

    crate::source_boilerplate!(manifest);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_become_rows_with_the_chosen_label() {
        let json = br#"[
            {"name": "RED APPLE", "image": "1f34e.png", "category": "Food & Drink",
             "subcategory": "food-fruit", "has_img_google": true},
            {"name": "NO PICTURE", "image": "x.png", "category": "Symbols",
             "subcategory": "other", "has_img_google": false},
            {"name": null, "image": "1f1ea.png", "category": "Flags",
             "subcategory": "country-flag", "has_img_google": true}
        ]"#;
        let m = emoji_manifest(json, EmojiLabel::Category).unwrap();
        assert_eq!(m.rows.len(), 2);
        assert_eq!(
            m.rows[0].cells[0].as_deref(),
            Some("img/google/64/1f34e.png")
        );
        assert_eq!(m.rows[0].cells[1].as_deref(), Some("RED APPLE"));
        assert_eq!(m.rows[0].label.as_deref(), Some("Food & Drink"));
        assert_eq!(m.rows[1].line, 3);
        assert_eq!(m.rows[1].cells[1], None, "a missing name is a missing text");
        let m = emoji_manifest(json, EmojiLabel::Subcategory).unwrap();
        assert_eq!(m.rows[1].label.as_deref(), Some("country-flag"));
        assert!(emoji_manifest(b"{}", EmojiLabel::Category).is_err());
    }
}
