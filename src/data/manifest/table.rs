//! The manifest (CSV or JSONL) that both front ends read: a `label` column and any
//! number of typed modality columns.
//!
//! A column is written `name:type` with type `image` (a path), `audio` (a WAV path),
//! `text`, or `vector` (numbers inline, or a `.npy` path); a column called just
//! `image`, `audio`, `text` or `vector` has that type. Paths are relative to the
//! manifest. An empty cell means that modality is missing for that sample. The label
//! may be left out where nothing is learned from it (`predict`).

use std::fmt;

use serde_json::Value;

use crate::error::{MlaError, Result};

/// What a modality column holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ColumnKind {
    /// A path to a PNG, JPEG or WebP file.
    Image,
    /// A path to a WAV file (becomes a log-mel filterbank).
    Audio,
    /// Free text.
    Text,
    /// Numbers inline (space, `;` or `,` separated) or a path to a `.npy` file.
    Vector,
}

impl ColumnKind {
    /// Every kind, in the order messages list them.
    pub const ALL: [ColumnKind; 4] = [
        ColumnKind::Image,
        ColumnKind::Audio,
        ColumnKind::Text,
        ColumnKind::Vector,
    ];

    /// The name written in headers.
    pub fn name(self) -> &'static str {
        match self {
            ColumnKind::Image => "image",
            ColumnKind::Audio => "audio",
            ColumnKind::Text => "text",
            ColumnKind::Vector => "vector",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(s.trim()))
    }

    /// Whether a cell of this kind names a file.
    pub fn holds_path(self, cell: &str) -> bool {
        match self {
            ColumnKind::Image | ColumnKind::Audio => true,
            ColumnKind::Text => false,
            ColumnKind::Vector => cell.trim().to_ascii_lowercase().ends_with(".npy"),
        }
    }
}

impl fmt::Display for ColumnKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A modality column: its name (the modality's) and what it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub kind: ColumnKind,
}

impl Column {
    /// As written in a header: `name:type`, or just the type when the name is it.
    pub fn header(&self) -> String {
        if self.name == self.kind.name() {
            self.name.clone()
        } else {
            format!("{}:{}", self.name, self.kind)
        }
    }
}

/// One sample of a manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestRow {
    /// 1-based line in the manifest file (for messages).
    pub line: usize,
    /// One cell per column of [`Manifest::columns`]; `None` = modality missing.
    pub cells: Vec<Option<String>>,
    /// Class label as written (`None` when empty or there is no label column).
    pub label: Option<String>,
}

impl ManifestRow {
    /// The cell of the column named `name` in `manifest`, if any.
    pub fn cell<'a>(&'a self, manifest: &Manifest, name: &str) -> Option<&'a str> {
        let i = manifest.column(name)?;
        self.cells[i].as_deref()
    }
}

/// A parsed manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// The file name (for messages).
    pub name: String,
    /// Modality columns, in file order.
    pub columns: Vec<Column>,
    /// Whether there is a `label` column.
    pub has_labels: bool,
    /// Samples in file order.
    pub rows: Vec<ManifestRow>,
}

/// The `label` column's name.
pub const LABEL: &str = "label";

fn types() -> String {
    ColumnKind::ALL.map(ColumnKind::name).join(", ")
}

/// A header cell: `label`, a bare type, or `name:type`.
fn header_cell(name: &str, line: usize, cell: &str) -> Result<Option<Column>> {
    let cell = cell.trim();
    if cell.eq_ignore_ascii_case(LABEL) {
        return Ok(None);
    }
    let bad = |why: String| MlaError::Data(format!("{name} line {line}: column `{cell}`: {why}"));
    let (col, kind) = match cell.rsplit_once(':') {
        Some((col, kind)) => {
            let kind = ColumnKind::parse(kind)
                .ok_or_else(|| bad(format!("unknown type (types: {})", types())))?;
            (col.trim().to_string(), kind)
        }
        None => {
            let kind = ColumnKind::parse(cell).ok_or_else(|| {
                bad(format!(
                    "no type: write it as `{cell}:<type>` with a type of {}",
                    types()
                ))
            })?;
            (kind.name().to_string(), kind)
        }
    };
    if col.is_empty() || col.eq_ignore_ascii_case(LABEL) {
        return Err(bad("give the modality a name, as in `photo:image`".into()));
    }
    Ok(Some(Column { name: col, kind }))
}

impl Manifest {
    /// Parses `bytes`; JSONL when the name ends in `.jsonl`/`.json` or the content
    /// starts with `{`, CSV otherwise.
    pub fn parse(name: &str, bytes: &[u8]) -> Result<Manifest> {
        let text = std::str::from_utf8(bytes)
            .map_err(|e| MlaError::Data(format!("{name}: not UTF-8 text ({e})")))?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let lower = name.to_ascii_lowercase();
        let manifest = if lower.ends_with(".jsonl")
            || lower.ends_with(".json")
            || text.trim_start().starts_with('{')
        {
            parse_jsonl(name, text)?
        } else {
            parse_csv(name, text)?
        };
        if manifest.rows.is_empty() {
            return Err(MlaError::Data(format!(
                "{name}: the manifest has no samples"
            )));
        }
        Ok(manifest)
    }

    /// Index of the column named `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The manifest as CSV (typed header, then `label`; missing cells empty), quoted
    /// where needed so that [`Manifest::parse`] reads back the same rows.
    pub fn to_csv(&self) -> String {
        let mut header: Vec<String> = self.columns.iter().map(|c| csv_cell(&c.header())).collect();
        if self.has_labels {
            header.push(LABEL.into());
        }
        let mut out = header.join(",") + "\n";
        for r in &self.rows {
            let mut cells: Vec<String> = r
                .cells
                .iter()
                .map(|c| csv_cell(c.as_deref().unwrap_or("")))
                .collect();
            if self.has_labels {
                cells.push(csv_cell(r.label.as_deref().unwrap_or("")));
            }
            out += &(cells.join(",") + "\n");
        }
        out
    }
}

fn nonempty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// Checks a header's columns: at least one modality, no name twice.
fn check_columns(name: &str, line: usize, columns: &[Column]) -> Result<()> {
    if columns.is_empty() {
        return Err(MlaError::Data(format!(
            "{name} line {line}: no modality column (give columns such as `image`, `text`, `voice:audio`)"
        )));
    }
    for (i, c) in columns.iter().enumerate() {
        if columns[..i].iter().any(|d| d.name == c.name) {
            return Err(MlaError::Data(format!(
                "{name} line {line}: two columns are named `{}`",
                c.name
            )));
        }
    }
    Ok(())
}

fn row_from(
    name: &str,
    line: usize,
    cells: Vec<Option<String>>,
    label: Option<String>,
) -> Result<ManifestRow> {
    if cells.iter().all(Option::is_none) {
        return Err(MlaError::Data(format!(
            "{name} line {line}: every modality cell is empty"
        )));
    }
    Ok(ManifestRow { line, cells, label })
}

/// A JSON cell as text: strings as they are, a vector column's array of numbers as
/// numbers separated by spaces.
fn json_cell(name: &str, line: usize, column: &Column, value: &Value) -> Result<Option<String>> {
    let bad = |what: String| {
        Err(MlaError::Data(format!(
            "{name} line {line}: `{}` {what}",
            column.header()
        )))
    };
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(nonempty(s)),
        Value::Array(items) if column.kind == ColumnKind::Vector => {
            let mut numbers = Vec::with_capacity(items.len());
            for (k, item) in items.iter().enumerate() {
                match item {
                    Value::Number(n) => numbers.push(n.to_string()),
                    other => return bad(format!("value {} is not a number: {other}", k + 1)),
                }
            }
            Ok(nonempty(&numbers.join(" ")))
        }
        other if column.kind == ColumnKind::Vector => bad(format!(
            "must be an array of numbers or a `.npy` path, got {other}"
        )),
        other => bad(format!("must be a string, got {other}")),
    }
}

fn parse_jsonl(name: &str, text: &str) -> Result<Manifest> {
    // Columns are the union of every line's keys, in order of first appearance.
    let mut columns: Vec<Column> = Vec::new();
    let mut has_labels = false;
    let mut objects = Vec::new();
    for (k, raw) in text.lines().enumerate() {
        let line = k + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(raw)
            .map_err(|e| MlaError::Data(format!("{name} line {line}: not a JSON object ({e})")))?;
        let Value::Object(obj) = value else {
            return Err(MlaError::Data(format!(
                "{name} line {line}: not a JSON object"
            )));
        };
        let mut keyed = Vec::with_capacity(obj.len());
        for (key, value) in obj {
            let Some(column) = header_cell(name, line, &key)? else {
                has_labels = true;
                keyed.push((None, value));
                continue;
            };
            let i = match columns.iter().position(|c| c.name == column.name) {
                Some(i) if columns[i].kind == column.kind => i,
                Some(i) => {
                    return Err(MlaError::Data(format!(
                        "{name} line {line}: `{key}` is a {} column on an earlier line",
                        columns[i].kind
                    )));
                }
                None => {
                    columns.push(column);
                    columns.len() - 1
                }
            };
            keyed.push((Some(i), value));
        }
        objects.push((line, keyed));
    }
    check_columns(name, 1, &columns)?;
    let rows = objects
        .into_iter()
        .map(|(line, keyed)| {
            let mut cells = vec![None; columns.len()];
            let mut label = None;
            for (i, value) in keyed {
                match i {
                    Some(i) => cells[i] = json_cell(name, line, &columns[i], &value)?,
                    None => {
                        label = match value {
                            Value::Null => None,
                            Value::String(s) => nonempty(&s),
                            Value::Number(n) => Some(n.to_string()),
                            other => {
                                return Err(MlaError::Data(format!(
                                    "{name} line {line}: `label` must be a string or a number, got {other}"
                                )));
                            }
                        }
                    }
                }
            }
            row_from(name, line, cells, label)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Manifest {
        name: name.into(),
        columns,
        has_labels,
        rows,
    })
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

fn parse_csv(name: &str, text: &str) -> Result<Manifest> {
    let mut records = csv_records(name, text)?.into_iter();
    let (header_line, header) = records
        .next()
        .ok_or_else(|| MlaError::Data(format!("{name}: the manifest is empty")))?;
    // Per header cell: `Some(i)` = modality column `i`, `None` = the label.
    let mut columns = Vec::new();
    let mut slots = Vec::with_capacity(header.len());
    let mut label_at = None;
    for (k, cell) in header.iter().enumerate() {
        match header_cell(name, header_line, cell)? {
            Some(c) => {
                slots.push(Some(columns.len()));
                columns.push(c);
            }
            None if label_at.is_some() => {
                return Err(MlaError::Data(format!(
                    "{name} line {header_line}: two `label` columns"
                )));
            }
            None => {
                label_at = Some(k);
                slots.push(None);
            }
        }
    }
    check_columns(name, header_line, &columns)?;
    let rows = records
        .map(|(line, fields)| {
            if fields.len() != header.len() {
                return Err(MlaError::Data(format!(
                    "{name} line {line}: {} cells, but the header has {}",
                    fields.len(),
                    header.len()
                )));
            }
            let mut cells = vec![None; columns.len()];
            for (slot, field) in slots.iter().zip(&fields) {
                if let Some(i) = slot {
                    cells[*i] = nonempty(field);
                }
            }
            row_from(
                name,
                line,
                cells,
                label_at.and_then(|k| nonempty(&fields[k])),
            )
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Manifest {
        name: name.into(),
        columns,
        has_labels: label_at.is_some(),
        rows,
    })
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

    fn cells(m: &Manifest, k: usize) -> Vec<Option<&str>> {
        m.rows[k].cells.iter().map(|c| c.as_deref()).collect()
    }

    #[test]
    fn csv_with_quotes_missing_cells_and_crlf() {
        let m = Manifest::parse(
            "m.csv",
            b"image,text,label\r\na.png,\"a red, round \"\"ball\"\"\",ball\r\n,only text,cat\r\nb.png,,cat\r\n",
        )
        .unwrap();
        assert_eq!(m.rows.len(), 3);
        assert_eq!(
            m.columns.iter().map(Column::header).collect::<Vec<_>>(),
            ["image", "text"]
        );
        assert_eq!(cells(&m, 0), [Some("a.png"), Some("a red, round \"ball\"")]);
        assert_eq!(cells(&m, 1), [None, Some("only text")]);
        assert_eq!(cells(&m, 2), [Some("b.png"), None]);
        assert_eq!(m.rows[2].line, 4);
        assert_eq!(m.rows[2].label.as_deref(), Some("cat"));
    }

    #[test]
    fn typed_columns_any_number_and_order() {
        let m = Manifest::parse(
            "m.csv",
            b"label,voice:audio,Photo:IMAGE,feat:vector,audio,caption:text\n\
              x,a.wav,p.png,\"1, 2.5, -3\",b.wav,hello\n\
              y,,,f.npy,,\n",
        )
        .unwrap();
        let kinds: Vec<_> = m
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                ("voice", ColumnKind::Audio),
                ("Photo", ColumnKind::Image),
                ("feat", ColumnKind::Vector),
                ("audio", ColumnKind::Audio),
                ("caption", ColumnKind::Text),
            ]
        );
        assert_eq!(m.rows[0].cell(&m, "feat"), Some("1, 2.5, -3"));
        assert_eq!(cells(&m, 1), [None, None, Some("f.npy"), None, None]);
        assert!(ColumnKind::Vector.holds_path("f.NPY") && !ColumnKind::Vector.holds_path("1 2"));
    }

    #[test]
    fn csv_written_reads_back_the_same_rows() {
        for text in [
            &b"image,text,label\na.png,\"a, \"\"b\"\"\nc\",x\n,t,\"y,z\"\nb.png,,x\n"[..],
            b"v:vector,snd:audio\n1 2,a.wav\n,b.wav\n",
        ] {
            let m = Manifest::parse("m.csv", text).unwrap();
            let again = Manifest::parse("m.csv", m.to_csv().as_bytes()).unwrap();
            assert_eq!(again, m);
        }
    }

    #[test]
    fn jsonl_rows_typed_keys_vectors_and_numeric_labels() {
        let m = Manifest::parse(
            "m.jsonl",
            b"{\"image\":\"a.png\",\"text\":\"hi\",\"label\":3}\n\n{\"text\":\"yo\",\"label\":\"x\",\"f:vector\":[1,2.5,-3]}\n{\"f:vector\":\"f.npy\"}\n",
        )
        .unwrap();
        assert_eq!(m.rows[0].label.as_deref(), Some("3"));
        assert_eq!(m.rows[1].line, 3);
        assert_eq!(cells(&m, 1), [None, Some("yo"), Some("1 2.5 -3")]);
        assert_eq!(cells(&m, 2), [None, None, Some("f.npy")]);
        assert_eq!(m.rows[2].label, None);
        assert!(m.has_labels);
    }

    #[test]
    fn labels_may_be_left_out() {
        let m = Manifest::parse("m.csv", b"text\nhello\n").unwrap();
        assert!(!m.has_labels && m.rows[0].label.is_none());
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let cases: [(&str, &[u8], &[&str]); 12] = [
            (
                "m.csv",
                b"image,caption,label\na.png,x,y\n",
                &["m.csv line 1", "`caption`", "caption:<type>"],
            ),
            (
                "m.csv",
                b"image,c:picture,label\na.png,x,y\n",
                &["`c:picture`", "unknown type"],
            ),
            (
                "m.csv",
                b"image,image,label\na.png,x,y\n",
                &["two columns are named `image`"],
            ),
            ("m.csv", b"label\nx\n", &["no modality column"]),
            (
                "m.csv",
                b"image,text,label\na.png,x\n",
                &["line 2", "2 cells"],
            ),
            (
                "m.csv",
                b"image,text,label\n,,x\n",
                &["line 2", "every modality cell is empty"],
            ),
            (
                "m.jsonl",
                b"{\"image\":\"a\",\"label\":1}\n{\"img\":1}\n",
                &["line 2", "`img`"],
            ),
            (
                "m.jsonl",
                b"{\"f:vector\":[1,\"a\"],\"label\":1}\n",
                &["line 1", "value 2 is not a number"],
            ),
            (
                "m.jsonl",
                b"{\"f:vector\":\"a.npy\"}\n{\"f:text\":\"x\"}\n",
                &["line 2", "vector column"],
            ),
            ("m.csv", b"image,text,label\n", &["no samples"]),
            (
                "m.csv",
                b"image,text,label\n\"a.png,x,y\n",
                &["never closed"],
            ),
            (
                "m.csv",
                b"text,label,label\nx,y,z\n",
                &["two `label` columns"],
            ),
        ];
        for (name, text, says) in cases {
            let e = Manifest::parse(name, text).unwrap_err().to_string();
            for s in says {
                assert!(e.contains(s), "{s} in {e}");
            }
        }
    }
}
