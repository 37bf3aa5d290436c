//! Web site exports: the widget's files served with the page (found when the engine
//! starts), fetched with the model's encoder files and zipped by the core
//! (`mla::site`).

use super::*;
use crate::protocol::WidgetFile;
use mla::model::pretrained::sha256_hex;

/// Where the widget's files are served and which they are.
#[derive(Clone, Debug)]
pub(super) struct WidgetFiles {
    base: String,
    files: Vec<WidgetFile>,
}

impl WidgetFiles {
    /// The widget as `base/index.json` (written by `web/widget.sh` when the page was
    /// built) lists it, or why there is none.
    pub(super) async fn find(base: &str) -> Result<Self, String> {
        let base = base.trim_end_matches('/').to_string();
        let index = format!("{base}/index.json");
        let bytes = fetch_bytes(&index).await.map_err(|e| {
            format!(
                "this page was built without the widget ({index}: {e}); `trunk build` \
                 builds it (web/widget.sh)"
            )
        })?;
        let files: Vec<WidgetFile> =
            serde_json::from_slice(&bytes).map_err(|e| format!("{index}: {e}"))?;
        Ok(Self { base, files })
    }

    /// Bytes of all the files.
    pub(super) fn size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// Every file, each checked against the index (a page cached across a rebuild
    /// would otherwise mix two builds).
    async fn fetch(&self) -> Result<Vec<(String, Vec<u8>)>, String> {
        let mut out = Vec::with_capacity(self.files.len());
        for f in &self.files {
            let url = format!("{}/{}", self.base, f.file);
            let bytes = fetch_bytes(&url).await.map_err(|e| format!("{url}: {e}"))?;
            if sha256_hex(&bytes) != f.sha256 {
                return Err(format!(
                    "{url} is not the file the page was built with (its SHA-256 differs): \
                     reload the page"
                ));
            }
            out.push((f.file.clone(), bytes));
        }
        Ok(out)
    }
}

/// The engine's model as a web site (a zip): the widget, the model file, the encoder
/// files of its frozen networks and an example page.
pub(super) async fn export_site(id: u32) -> Result<Vec<u8>, String> {
    let (header, model) = ready_model("no model yet: train one or import one")?;
    let widget = ENGINE
        .with_borrow(|e| e.widget.clone())
        .ok_or("this page was built without the widget: `trunk build` builds it")?;
    let bytes = save_model(&header, &model)
        .await
        .map_err(|e| e.to_string())?;
    reply(id, Reply::Busy("gathering the widget's files…".into()));
    let widget = widget.fetch().await?;
    let nets = header.spec.frozen_networks();
    let location = ENGINE.with_borrow(|e| e.encoders.location.clone());
    let mut encoders = Vec::with_capacity(nets.len());
    for net in nets {
        reply(
            id,
            Reply::Busy(format!("gathering the encoder file {}…", net.file_name())),
        );
        let url = format!("{}/{}", location.trim_end_matches('/'), net.file_name());
        let file = fetch_bytes(&url).await.map_err(|e| format!("{url}: {e}"))?;
        encoders.push((net, file));
    }
    mla::site::site_zip(&bytes, &widget, &encoders).map_err(|e| e.to_string())
}
