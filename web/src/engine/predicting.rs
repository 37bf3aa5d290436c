//! The worker's predictions and samples taken from the loaded data.

use super::*;

pub(super) async fn predict(id: u32, inputs: SampleInputs) -> Result<(), String> {
    let (header, model) = ready_model("no model yet: train one above or import one below")?;
    let inputs = sample_inputs(&header, inputs).map_err(|e| e.to_string())?;
    let p = predict_sample(&model, &header, &inputs, &device()?)
        .await
        .map_err(|e| e.to_string())?;
    reply(id, Reply::Prediction(p));
    Ok(())
}

/// A random row of the loaded data, exactly as its files are.
pub(super) fn take_sample(id: u32) -> Result<(), String> {
    let (reply_body, bytes) = ENGINE.with_borrow(|e| {
        let u = &e
            .data
            .as_ref()
            .ok_or("load data first to take a sample from it")?
            .upload;
        let n = u.manifest.rows.len();
        let i = (Math::random() * n as f64) as usize;
        let row = u
            .manifest
            .rows
            .get(i.min(n.saturating_sub(1)))
            .ok_or("the data has no rows")?;
        // The page shows an image and a text: the row's first of each.
        let first = |kind: ColumnKind| {
            let m = &u.manifest;
            m.columns
                .iter()
                .zip(&row.cells)
                .find(|(c, _)| c.kind == kind)
                .and_then(|(_, cell)| cell.clone())
        };
        let image = first(ColumnKind::Image);
        let bytes = match &image {
            Some(p) => Some(u.read(p)?.to_vec()),
            None => None,
        };
        let body = Reply::Sample {
            image,
            text: first(ColumnKind::Text).unwrap_or_default(),
            label: row.label.clone().unwrap_or_default(),
        };
        Ok::<_, String>((body, bytes))
    })?;
    post(Message::new(id, reply_body).with_bytes(bytes));
    Ok(())
}
