#!/usr/bin/env python3
"""A TF-IDF logistic regression on one text column, on the split of an mla run.

The linear bag-of-words baseline that the text encoders are compared with
(BENCHMARKS.md): word unigrams (and, with --bigrams, bigrams) weighted by TF-IDF,
fitted on the run's training split; the inverse regularisation strength C is picked
on its validation split from a small grid; test accuracy is printed.

    pip install scikit-learn
    python3 bench/text_baseline.py --manifest sample-emoji/emoji.csv --column name \
        --run runs/emoji-text/mla-seed0   # a run directory: its split.csv

The split comes from the run's split.csv (manifest line, train/valid/test), so both
models see exactly the same samples.
"""

import argparse
import csv
import json
import os
import sys

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--manifest", required=True, help="the CSV manifest the run trained on")
    p.add_argument("--column", required=True, help="the text column (its name, without :text)")
    p.add_argument("--run", required=True, help="a run directory of `mla-native train` (has split.csv)")
    p.add_argument("--bigrams", action="store_true", help="word unigrams and bigrams")
    a = p.parse_args()

    with open(a.manifest, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, rows = rows[0], rows[1:]
    names = [h.split(":")[0] for h in header]
    text_col, label_col = names.index(a.column), names.index("label")
    # Manifest line numbers count the header as line 1.
    by_line = {i + 2: r for i, r in enumerate(rows)}
    parts = {"train": [], "valid": [], "test": []}
    with open(os.path.join(a.run, "split.csv"), newline="") as f:
        for r in csv.DictReader(f):
            parts[r["split"]].append(by_line[int(r["line"])])

    def xy(part):
        return [r[text_col] for r in part], [r[label_col] for r in part]

    (xt, yt), (xv, yv), (xs, ys) = xy(parts["train"]), xy(parts["valid"]), xy(parts["test"])
    vec = TfidfVectorizer(lowercase=True, ngram_range=(1, 2) if a.bigrams else (1, 1))
    ft = vec.fit_transform(xt)
    best = None
    for c in [0.1, 0.3, 1, 3, 10, 30, 100]:
        clf = LogisticRegression(C=c, max_iter=5000).fit(ft, yt)
        acc = clf.score(vec.transform(xv), yv)
        if best is None or acc > best[0]:
            best = (acc, c, clf)
    valid, c, clf = best
    test = clf.score(vec.transform(xs), ys)
    out = {"valid": valid, "test": test, "C": c, "train": len(xt), "test_samples": len(xs)}
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
