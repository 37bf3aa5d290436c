//! The worker's data: uploads accepted, data sets built, pretrained encoders fetched
//! and their features computed.

use super::*;
use mla::data::Preprocessor;

/// The engine's encoder files with those of `nets` downloaded (once per page).
pub(super) async fn encoder_files(
    id: u32,
    nets: &[pretrained::Net],
) -> Result<EncoderFiles, String> {
    let mut files = ENGINE.with_borrow(|e| e.encoders.clone());
    if nets.iter().any(|&n| !files.has(n)) {
        let names: Vec<_> = nets.iter().map(|n| n.name()).collect();
        reply(
            id,
            Reply::Busy(format!(
                "downloading the pretrained encoders ({})…",
                names.join(", ")
            )),
        );
        let base = files.location.clone();
        files
            .fetch(nets, |file| {
                let url = format!("{base}/{file}");
                async move { fetch_bytes(&url).await }
            })
            .await
            .map_err(|e| e.to_string())?;
        ENGINE.with_borrow_mut(|e| e.encoders = files.clone());
    }
    Ok(files)
}

/// `model` with the frozen pretrained networks its file leaves out, downloaded (once
/// per page) from where the page serves them.
pub(super) async fn with_frozen_networks(
    id: u32,
    header: &ModelHeader,
    model: MultimodalModel,
    device: &Device,
) -> Result<MultimodalModel, String> {
    let nets = header.spec.frozen_networks();
    let files = encoder_files(id, &nets).await?;
    model
        .load_networks(&header.spec, &files, Networks::Frozen, device)
        .map_err(|e| e.to_string())
}

pub(super) fn summarize(name: String, data: &ManifestData) -> DataSummary {
    let s = &data.splits;
    let all = [&s.train, &s.valid, &s.test];
    let missing = |m: usize| {
        all.iter()
            .map(|d| d.modalities[m].present.iter().filter(|p| !**p).count())
            .sum()
    };
    DataSummary {
        name,
        samples: all.iter().map(|d| d.len()).sum(),
        classes: data.preprocess.classes.clone(),
        counts: [
            s.train.class_counts(),
            s.valid.class_counts(),
            s.test.class_counts(),
        ],
        missing: (0..s.train.modalities.len())
            .map(|m| (s.train.modalities[m].name.clone(), missing(m)))
            .collect(),
    }
}

/// Builds the data set now (every file checked before anyone trains) and keeps it.
/// An `uploaded` one is what captured samples may join later.
pub(super) fn accept(
    id: u32,
    name: String,
    upload: Rc<Upload>,
    config: ManifestConfig,
    uploaded: bool,
) -> Result<(), String> {
    let data = upload.build(&config).map_err(|e| e.to_string())?;
    let summary = summarize(name, &data);
    ENGINE.with_borrow_mut(|e| {
        if uploaded {
            e.uploaded = Some(Rc::clone(&upload));
        }
        e.data = Some(Loaded {
            upload,
            built: Some((config, data)),
        })
    });
    reply(id, Reply::Data(summary));
    Ok(())
}

/// The loaded data set for `config`: the one built at load time when the settings
/// that shape it are unchanged, else built again.
pub(super) fn built(config: &ManifestConfig) -> Result<ManifestData, String> {
    ENGINE.with_borrow_mut(|e| {
        let loaded = e
            .data
            .as_mut()
            .ok_or("load data first (the built-in sample or an upload)")?;
        match &loaded.built {
            Some((c, data)) if c == config => Ok(data.clone()),
            _ => {
                let data = loaded.upload.build(config).map_err(|e| e.to_string())?;
                loaded.built = Some((config.clone(), data.clone()));
                Ok(data)
            }
        }
    })
}

/// The model the page trains on `upload`'s columns: the manifest default, with the
/// pretrained encoders for image and text columns (images at `image_size`) when asked,
/// listed per column, so that a configuration file says exactly this model.
fn page_model(upload: &Upload, pretrained: Option<usize>) -> Result<ModelConfig, String> {
    let mut model = ModelConfig::for_manifest();
    if let Some(image_size) = pretrained {
        model.pretrained = true;
        let kinds: Vec<ColumnKind> = upload.manifest.columns.iter().map(|c| c.kind).collect();
        model.encoders = model.for_columns(&kinds).map_err(|e| e.to_string())?;
        for e in &mut model.encoders {
            if let EncoderConfig::MobilenetV2(c) = e {
                c.image_size = image_size;
            }
        }
    }
    Ok(model)
}

/// The loaded data as a zip ([`Upload::to_zip`]) with `config.json`, the run `run`
/// makes on it, which `mla-native train --config config.json` repeats in the unpacked
/// folder.
pub(super) fn export_data(run: RunSettings) -> Result<Vec<u8>, String> {
    let upload = ENGINE
        .with_borrow(|e| e.data.as_ref().map(|d| Rc::clone(&d.upload)))
        .ok_or("load data first (the built-in sample or an upload)")?;
    let model = page_model(&upload, run.pretrained)?;
    let config = mla::RunConfig::for_manifest(
        upload.archive_manifest(),
        run.data,
        model,
        run.train,
        run.missing,
    );
    let json = serde_json::to_vec_pretty(&config).map_err(|e| e.to_string())?;
    upload
        .to_zip(&[("config.json".into(), json)])
        .map_err(|e| e.to_string())
}

/// The data and model configuration for training with the pretrained encoders (images
/// at `image_size`): their files downloaded, the data built for them and each frozen
/// encoder's features computed, with progress.
pub(super) async fn pretrained_data(
    id: u32,
    data: &ManifestConfig,
    image_size: usize,
    device: &Device,
) -> Result<(ManifestData, ModelConfig, EncoderFiles), String> {
    let upload = ENGINE
        .with_borrow(|e| e.data.as_ref().map(|d| Rc::clone(&d.upload)))
        .ok_or("load data first (the built-in sample or an upload)")?;
    let mut model = page_model(&upload, Some(image_size))?;
    let encoders = std::mem::take(&mut model.encoders);
    let files = encoder_files(id, &pretrained::networks(&encoders)).await?;
    // Said before anything is decoded: a run that cannot fit the engine's memory.
    let before = |fixed: &[Option<Preprocessor>], frozen: &[Option<usize>]| {
        let fits = upload.check_memory(data, fixed, frozen);
        async move {
            fits?;
            reply(
                id,
                Reply::Busy("decoding the data for the pretrained encoders…".into()),
            );
            browser::yield_now().await;
            Ok(())
        }
    };
    // The rate of the current stretch of one modality's work: from its first report
    // (the core reports where each stretch starts), the samples done since over the
    // time since.
    let mut stretch = (String::new(), 0.0, 0);
    let mut report = |p: &ExtractProgress| {
        if stretch.0 != p.modality || p.done < stretch.2 {
            stretch = (p.modality.clone(), browser::now_ms(), p.done);
        }
        let seconds = ((browser::now_ms() - stretch.1) / 1000.0).max(1e-3);
        reply(
            id,
            Reply::Extracting {
                modality: p.modality.clone(),
                done: p.done,
                total: p.total,
                per_second: (p.done - stretch.2) as f64 / seconds,
            },
        );
    };
    // Images are decoded and turned into features a chunk at a time: the engine holds
    // the features, never every decoded image.
    let (built, encoders) = pretrained::manifest_for_encoders(
        &upload.manifest,
        |p: &str| upload.read(p).map(<[u8]>::to_vec),
        data,
        encoders,
        before,
        pretrained::Extraction {
            files: &files,
            device,
            cache: &mut NoCache,
            progress: &mut report,
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    model.encoders = encoders;
    Ok((built, model, files))
}
