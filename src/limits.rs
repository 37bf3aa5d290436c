//! Upper bounds on every size read from a file or an option, so that a small input can
//! never ask for unbounded work or memory (a 389 KB PNG that decodes to 1.6 GB, a model
//! header naming a vocabulary of 10^10 words). Each bound is far above any real use;
//! an input over one is an error naming the field and the limit.

/// One file read whole (a manifest, a cell's file, a model, a checkpoint, an encoder).
pub const MAX_FILE_BYTES: u64 = 2 << 30;
/// Either side of an image file, in pixels.
pub const MAX_IMAGE_SIDE: u32 = 16_384;
/// Pixels of an image file (67 million: a 48-megapixel photo is below). Decoding
/// and resizing cost time per pixel: a 30 KB WebP of 8192 x 8192 pixels takes ~3 s,
/// and the fuzzer found a 165-byte file at twice that taking 14 s.
pub const MAX_IMAGE_PIXELS: u64 = 1 << 26;
/// What decoding one image file may allocate.
pub const MAX_IMAGE_ALLOC: u64 = 512 << 20;
/// The side of the square images a model takes (`image_size`).
pub const MAX_INPUT_SIDE: usize = 1024;
/// A WAV file's sample rate (Hz).
pub const MAX_SAMPLE_RATE: u32 = 384_000;
/// Tokens per text (`max_tokens`).
pub const MAX_TOKENS: usize = 4096;
/// Words in a vocabulary (`max_vocab`, a stored tokenizer, WordPiece).
pub const MAX_VOCAB: usize = 1_000_000;
/// Mel filters of a filterbank (`mel_bins`).
pub const MAX_MEL_BINS: usize = 1024;
/// Filterbank frames a clip is padded or cut to (`frames`, `audio_frames`).
pub const MAX_FRAMES: usize = 16_384;
/// Values of one vector input (a `.npy` file, inline numbers, a feature size).
pub const MAX_VECTOR_LEN: usize = 1 << 24;
/// Channels of an image-like input (CREMA-D stacks frames on channels).
pub const MAX_CHANNELS: usize = 256;
/// Classes of a data set or a model.
pub const MAX_CLASSES: usize = 100_000;
/// Width of a layer (`feature_dim`, hidden sizes).
pub const MAX_WIDTH: usize = 65_536;
/// Parameters of a whole model (about 1 GiB of weights): the product of sizes that
/// are each within bounds can still be too large.
pub const MAX_PARAMS: usize = 1 << 28;
/// The JSON header of a model file (it holds the tokenizers' vocabularies).
pub const MAX_HEADER_BYTES: usize = 256 << 20;

/// `Err` naming `field` when `value` is above `max`: "`field` is 20000, above the limit
/// of 16384".
pub fn within<T: PartialOrd + std::fmt::Display>(
    field: &str,
    value: T,
    max: T,
) -> std::result::Result<(), String> {
    if value > max {
        return Err(format!("`{field}` is {value}, above the limit of {max}"));
    }
    Ok(())
}
