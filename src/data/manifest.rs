//! The image + text manifest (CSV or JSONL) that both front ends read.
//!
//! Columns: `image` (a path relative to the manifest), `text`, `label`. An empty image
//! or text cell means that modality is missing for that sample.

use serde_json::Value;

use crate::error::{MlaError, Result};

/// Columns a manifest may have.
pub const COLUMNS: [&str; 3] = ["image", "text", "label"];

/// One sample of a manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestRow {
    /// 1-based line in the manifest file (for messages).
    pub line: usize,
    /// Relative image path, if the sample has an image.
    pub image: Option<String>,
    /// Caption, if the sample has text.
    pub text: Option<String>,
    /// Class label as written.
    pub label: String,
}

/// A parsed manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// The file name (for messages).
    pub name: String,
    /// Samples in file order.
    pub rows: Vec<ManifestRow>,
}

impl Manifest {
    /// Parses `bytes`; JSONL when the name ends in `.jsonl`/`.json` or the content
    /// starts with `{`, CSV otherwise.
    pub fn parse(name: &str, bytes: &[u8]) -> Result<Manifest> {
        let text = std::str::from_utf8(bytes)
            .map_err(|e| MlaError::Data(format!("{name}: not UTF-8 text ({e})")))?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let lower = name.to_ascii_lowercase();
        let rows = if lower.ends_with(".jsonl")
            || lower.ends_with(".json")
            || text.trim_start().starts_with('{')
        {
            parse_jsonl(name, text)?
        } else {
            parse_csv(name, text)?
        };
        if rows.is_empty() {
            return Err(MlaError::Data(format!(
                "{name}: the manifest has no samples"
            )));
        }
        Ok(Manifest {
            name: name.into(),
            rows,
        })
    }
}

impl Manifest {
    /// The manifest as CSV (header `image,text,label`; missing cells empty), quoted
    /// where needed so that [`Manifest::parse`] reads back the same rows.
    pub fn to_csv(&self) -> String {
        let cell = csv_cell;
        let mut out = String::from("image,text,label\n");
        for r in &self.rows {
            out += &format!(
                "{},{},{}\n",
                cell(r.image.as_deref().unwrap_or("")),
                cell(r.text.as_deref().unwrap_or("")),
                cell(&r.label)
            );
        }
        out
    }
}

fn nonempty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

fn row_from(
    name: &str,
    line: usize,
    image: Option<String>,
    text: Option<String>,
    label: Option<String>,
) -> Result<ManifestRow> {
    let label = label
        .ok_or_else(|| MlaError::Data(format!("{name} line {line}: the `label` cell is empty")))?;
    if image.is_none() && text.is_none() {
        return Err(MlaError::Data(format!(
            "{name} line {line}: neither `image` nor `text` is given"
        )));
    }
    Ok(ManifestRow {
        line,
        image,
        text,
        label,
    })
}

fn parse_jsonl(name: &str, text: &str) -> Result<Vec<ManifestRow>> {
    let mut rows = Vec::new();
    for (k, raw) in text.lines().enumerate() {
        let line = k + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(raw)
            .map_err(|e| MlaError::Data(format!("{name} line {line}: not a JSON object ({e})")))?;
        let obj = value
            .as_object()
            .ok_or_else(|| MlaError::Data(format!("{name} line {line}: not a JSON object")))?;
        if let Some(key) = obj.keys().find(|k| !COLUMNS.contains(&k.as_str())) {
            return Err(MlaError::Data(format!(
                "{name} line {line}: unknown column `{key}` (expected {})",
                COLUMNS.join(", ")
            )));
        }
        let cell = |key: &str| -> Result<Option<String>> {
            match obj.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(nonempty(s)),
                Some(Value::Number(n)) if key == "label" => Ok(Some(n.to_string())),
                Some(other) => Err(MlaError::Data(format!(
                    "{name} line {line}: `{key}` must be a string, got {other}"
                ))),
            }
        };
        rows.push(row_from(
            name,
            line,
            cell("image")?,
            cell("text")?,
            cell("label")?,
        )?);
    }
    Ok(rows)
}

/// Splits CSV text into records of fields (RFC 4180: quotes, doubled quotes, CRLF,
/// newlines inside quotes), each with the line it starts on.
fn csv_records(name: &str, text: &str) -> Result<Vec<(usize, Vec<String>)>> {
    let mut records = Vec::new();
    let mut field = String::new();
    let mut fields = Vec::new();
    let (mut line, mut start_line) = (1, 1);
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => fields.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n') => {
                fields.push(std::mem::take(&mut field));
                if fields.iter().any(|f| !f.trim().is_empty()) {
                    records.push((start_line, std::mem::take(&mut fields)));
                }
                fields.clear();
                line += 1;
                start_line = line;
            }
            (_, ch) => {
                if ch == '\n' {
                    line += 1;
                }
                field.push(ch);
            }
        }
    }
    if quoted {
        return Err(MlaError::Data(format!(
            "{name} line {start_line}: a quoted field is never closed"
        )));
    }
    fields.push(field);
    if fields.iter().any(|f| !f.trim().is_empty()) {
        records.push((start_line, fields));
    }
    Ok(records)
}

fn parse_csv(name: &str, text: &str) -> Result<Vec<ManifestRow>> {
    let mut records = csv_records(name, text)?.into_iter();
    let (_, header) = records
        .next()
        .ok_or_else(|| MlaError::Data(format!("{name}: the manifest is empty")))?;
    let header: Vec<String> = header
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    if let Some(unknown) = header.iter().find(|h| !COLUMNS.contains(&h.as_str())) {
        return Err(MlaError::Data(format!(
            "{name} line 1: unknown column `{unknown}` (expected {})",
            COLUMNS.join(", ")
        )));
    }
    let col = |c: &str| header.iter().position(|h| h == c);
    let label =
        col("label").ok_or_else(|| MlaError::Data(format!("{name} line 1: no `label` column")))?;
    let (image, text_col) = (col("image"), col("text"));
    if image.is_none() && text_col.is_none() {
        return Err(MlaError::Data(format!(
            "{name} line 1: needs an `image` or a `text` column"
        )));
    }
    records
        .map(|(line, fields)| {
            if fields.len() != header.len() {
                return Err(MlaError::Data(format!(
                    "{name} line {line}: {} cells, but the header has {}",
                    fields.len(),
                    header.len()
                )));
            }
            let get = |c: Option<usize>| c.and_then(|i| nonempty(&fields[i]));
            row_from(name, line, get(image), get(text_col), get(Some(label)))
        })
        .collect()
}

/// One CSV cell: quoted when it holds a comma, a quote or a line break.
pub fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_quotes_missing_cells_and_crlf() {
        let m = Manifest::parse(
            "m.csv",
            b"image,text,label\r\na.png,\"a red, round \"\"ball\"\"\",ball\r\n,only text,cat\r\nb.png,,cat\r\n",
        )
        .unwrap();
        assert_eq!(m.rows.len(), 3);
        assert_eq!(m.rows[0].text.as_deref(), Some("a red, round \"ball\""));
        assert_eq!(m.rows[1].image, None);
        assert_eq!(m.rows[2].text, None);
        assert_eq!(m.rows[2].line, 4);
    }

    #[test]
    fn csv_written_reads_back_the_same_rows() {
        let m = Manifest::parse(
            "m.csv",
            b"image,text,label\na.png,\"a, \"\"b\"\"\nc\",x\n,t,\"y,z\"\nb.png,,x\n",
        )
        .unwrap();
        let again = Manifest::parse("m.csv", m.to_csv().as_bytes()).unwrap();
        let strip = |m: &Manifest| {
            m.rows
                .iter()
                .map(|r| (r.image.clone(), r.text.clone(), r.label.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(strip(&again), strip(&m));
        assert_eq!(m.rows[0].text.as_deref(), Some("a, \"b\"\nc"));
    }

    #[test]
    fn jsonl_rows_and_numeric_labels() {
        let m = Manifest::parse(
            "m.jsonl",
            b"{\"image\":\"a.png\",\"text\":\"hi\",\"label\":3}\n\n{\"text\":\"yo\",\"label\":\"x\"}\n",
        )
        .unwrap();
        assert_eq!(m.rows[0].label, "3");
        assert_eq!(m.rows[1].line, 3);
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let e = Manifest::parse("m.csv", b"image,caption,label\na.png,x,y\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("m.csv line 1") && e.contains("`caption`"), "{e}");
        let e = Manifest::parse("m.csv", b"image,text,label\na.png,x\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("2 cells"), "{e}");
        let e = Manifest::parse("m.csv", b"image,text,label\na.png,x,\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("label"), "{e}");
        let e = Manifest::parse("m.jsonl", b"{\"image\":\"a\",\"label\":1}\n{\"img\":1}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("`img`"), "{e}");
        let e = Manifest::parse("m.csv", b"image,text,label\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no samples"), "{e}");
        let e = Manifest::parse("m.csv", b"image,text,label\n\"a.png,x,y\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("never closed"), "{e}");
    }
}
