//! The training settings form and how it maps onto the core's configuration.

use leptos::prelude::*;
use mla::data::{ManifestConfig, MissingConfig};
use mla::{Fusion, MlaError, TrainConfig};

use crate::protocol::{EncoderInfo, RunSettings};

/// What the page lets a user set; everything else is the core's default.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub alpha: f64,
    pub hgm: bool,
    pub fusion: Fusion,
    pub image_size: usize,
    pub seed: u64,
    /// The pretrained encoders for images and texts (MobileNetV2 at `image_size`, MiniLM).
    pub pretrained: bool,
    /// Each modality of each sample masked with this probability, in every split.
    pub missing: f64,
}

impl Default for Settings {
    fn default() -> Self {
        // Small enough that the built-in sample trains in about a minute on a laptop's
        // CPU in the page, large enough that it learns (image ~70%, text ~85%, fused ~90%).
        Self {
            epochs: 15,
            batch_size: 32,
            lr: 0.02,
            alpha: TrainConfig::default().hgm.alpha,
            hgm: true,
            fusion: Fusion::Entropy,
            image_size: 16,
            seed: 0,
            pretrained: false,
            missing: 0.0,
        }
    }
}

impl Settings {
    /// The core's training configuration, checked.
    pub fn train_config(&self) -> Result<TrainConfig, MlaError> {
        let mut c = TrainConfig {
            epochs: self.epochs,
            batch_size: self.batch_size,
            fusion: self.fusion,
            seed: self.seed,
            ..TrainConfig::default()
        };
        c.optimizer.lr = self.lr;
        c.hgm.alpha = self.alpha;
        c.hgm.enabled = self.hgm;
        c.validate()?;
        Ok(c)
    }

    /// The image size of the pretrained encoders when they are on, checked.
    pub fn pretrained(&self) -> Result<Option<usize>, MlaError> {
        if self.pretrained && !(PRETRAINED_SIZES.0..=PRETRAINED_SIZES.1).contains(&self.image_size)
        {
            return Err(MlaError::config(
                "image size",
                format!(
                    "the pretrained image encoder takes {} to {} px",
                    PRETRAINED_SIZES.0, PRETRAINED_SIZES.1
                ),
            ));
        }
        Ok(self.pretrained.then_some(self.image_size))
    }

    /// The missing-modality masks (the same rate in every split, as the paper's Table
    /// 2), checked.
    pub fn missing_config(&self) -> Result<MissingConfig, MlaError> {
        let c = MissingConfig::everywhere(self.missing);
        // The rule is the same for any number of modalities; 2 checks the rate.
        c.validate(2)
            .map_err(|_| MlaError::config("missing rate", "must be a number in [0, 1]"))?;
        Ok(c)
    }

    /// Everything a run takes from the settings, checked.
    pub fn run_settings(&self) -> Result<RunSettings, MlaError> {
        Ok(RunSettings {
            train: self.train_config()?,
            data: self.data_config()?,
            pretrained: self.pretrained()?,
            missing: self.missing_config()?,
        })
    }

    /// How raw data becomes model inputs, checked.
    pub fn data_config(&self) -> Result<ManifestConfig, MlaError> {
        let c = ManifestConfig {
            image_size: self.image_size,
            seed: self.seed,
            ..ManifestConfig::default()
        };
        c.validate()?;
        Ok(c)
    }
}

/// The image sizes MobileNetV2 takes here, and the size the page suggests for it: small
/// enough that a CPU in a page computes a few images a second.
const PRETRAINED_SIZES: (usize, usize) = (32, 512);
const PRETRAINED_SIZE: usize = 96;

/// One numeric setting: parsed on change; a bad value is named and not applied.
#[component]
fn NumberField<T>(
    label: &'static str,
    name: &'static str,
    settings: RwSignal<Settings>,
    get: fn(&Settings) -> T,
    set: fn(&mut Settings, T),
    #[prop(default = "1")] step: &'static str,
    disabled: Signal<bool>,
) -> impl IntoView
where
    T: std::str::FromStr + ToString + Send + Sync + 'static,
{
    let error = RwSignal::new(None::<String>);
    view! {
        <label class="field">
            <span>{label}</span>
            <input
                type="number"
                name=name
                step=step
                prop:value=move || settings.with(|s| get(s).to_string())
                disabled=move || disabled.get()
                on:change=move |ev| {
                    let text = event_target_value(&ev);
                    match text.trim().parse::<T>() {
                        Ok(v) => {
                            settings.update(|s| set(s, v));
                            error.set(None);
                        }
                        Err(_) => error.set(Some(format!("`{text}` is not a valid {label}"))),
                    }
                }
            />
            <small class="error">{move || error.get()}</small>
        </label>
    }
}

/// The pretrained encoders' checkbox: their download size, or why the page has none.
#[component]
fn PretrainedField(
    settings: RwSignal<Settings>,
    disabled: Signal<bool>,
    encoders: Signal<Option<Result<Vec<EncoderInfo>, String>>>,
) -> impl IntoView {
    let offered = move || encoders.with(|e| matches!(e, Some(Ok(list)) if !list.is_empty()));
    let note = move || match encoders.get() {
        None => "looking for them…".to_string(),
        Some(Ok(list)) if !list.is_empty() => {
            let names: Vec<String> = list.iter().map(|e| e.name.clone()).collect();
            let mb = list.iter().map(|e| e.size).sum::<u64>() as f64 / 1e6;
            format!(
                "{}: {mb:.0} MB to download once; images at the image size (32-512 px)",
                names.join(" + ")
            )
        }
        Some(Ok(_)) => "none are served with this page".to_string(),
        Some(Err(why)) => why,
    };
    view! {
        <label class="field wide">
            <span>"pretrained encoders"</span>
            <input
                type="checkbox"
                name="pretrained"
                prop:checked=move || settings.with(|s| s.pretrained)
                disabled=move || disabled.get() || !offered()
                on:change=move |ev| {
                    let on = event_target_checked(&ev);
                    settings.update(|s| {
                        s.pretrained = on;
                        // Each choice starts from a size that suits it.
                        s.image_size = if on { PRETRAINED_SIZE } else { Settings::default().image_size };
                    });
                }
            />
            <small data-testid="pretrained-note">{note}</small>
        </label>
    }
}

/// The settings form.
#[component]
pub fn SettingsForm(
    settings: RwSignal<Settings>,
    disabled: Signal<bool>,
    encoders: Signal<Option<Result<Vec<EncoderInfo>, String>>>,
) -> impl IntoView {
    view! {
        <fieldset class="settings">
            <legend>"Settings"</legend>
            <NumberField label="epochs" name="epochs" settings disabled
                get=|s| s.epochs set=|s, v| s.epochs = v />
            <NumberField label="batch size" name="batch_size" settings disabled
                get=|s| s.batch_size set=|s, v| s.batch_size = v />
            <NumberField label="learning rate" name="lr" settings disabled step="any"
                get=|s| s.lr set=|s, v| s.lr = v />
            <NumberField label="alpha (HGM)" name="alpha" settings disabled step="any"
                get=|s| s.alpha set=|s, v| s.alpha = v />
            <NumberField label="image size (px)" name="image_size" settings disabled
                get=|s| s.image_size set=|s, v| s.image_size = v />
            <NumberField label="seed" name="seed" settings disabled
                get=|s| s.seed set=|s, v| s.seed = v />
            <NumberField label="missing rate (0-1)" name="missing" settings disabled step="any"
                get=|s| s.missing set=|s, v| s.missing = v />
            <label class="field">
                <span>"head gradient modification"</span>
                <input
                    type="checkbox"
                    name="hgm"
                    prop:checked=move || settings.with(|s| s.hgm)
                    disabled=move || disabled.get()
                    on:change=move |ev| settings.update(|s| s.hgm = event_target_checked(&ev))
                />
            </label>
            <label class="field">
                <span>"fusion"</span>
                <select
                    name="fusion"
                    disabled=move || disabled.get()
                    on:change=move |ev| {
                        let f = match event_target_value(&ev).as_str() {
                            "mean" => Fusion::Mean,
                            _ => Fusion::Entropy,
                        };
                        settings.update(|s| s.fusion = f);
                    }
                >
                    <option value="entropy" selected=move || settings.with(|s| s.fusion == Fusion::Entropy)>
                        "entropy (per sample)"
                    </option>
                    <option value="mean" selected=move || settings.with(|s| s.fusion == Fusion::Mean)>
                        "mean"
                    </option>
                </select>
            </label>
            <PretrainedField settings disabled encoders />
        </fieldset>
    }
}
