#!/usr/bin/env python3
"""VADER's own lexicon scores as a sentiment baseline on the test split (.cache/data/sentiment/
test_vader.tsv from tools/prepare_sentiment.sh, which ran VADER 3.3.2 on every test sentence): a
sentence is called positive when VADER's compound score is > 0, otherwise negative (VADER's 0 means
it found no sentiment words). Prints one JSON line: accuracy, macro-F1, examples. Standard library only.
    python3 tools/vader_baseline.py .cache/data/sentiment/test_vader.tsv"""
import csv
import json
import sys


def f1(tp, fp, fn):
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def main():
    rows = list(csv.DictReader(open(sys.argv[1], encoding="utf-8"), delimiter="\t", quoting=csv.QUOTE_NONE))
    truth = [r["label"] for r in rows]
    pred = ["positive" if float(r["vader_compound"]) > 0 else "negative" for r in rows]
    right = sum(t == p for t, p in zip(truth, pred))
    scores = []
    for label in ("negative", "positive"):
        tp = sum(t == label and p == label for t, p in zip(truth, pred))
        fp = sum(t != label and p == label for t, p in zip(truth, pred))
        fn = sum(t == label and p != label for t, p in zip(truth, pred))
        scores.append(f1(tp, fp, fn))
    print(json.dumps({"baseline": "VADER 3.3.2 compound > 0", "accuracy": right / len(rows),
                      "macro_f1": sum(scores) / 2, "examples": len(rows)}))


if __name__ == "__main__":
    main()
