#!/usr/bin/env python3
"""Writes the main job's fine-tuning data from Debian's `fortunes` package (installed by
scripts/setup.sh): quotes from the literature, humorists, love and songs-poems collections, shuffled
with a fixed seed, 90% train / 10% validation. Usage: prepare_fortunes.py OUT_DIR"""
import os
import random
import sys

SOURCE = "/usr/share/games/fortunes"
FILES = ["literature", "humorists", "love", "songs-poems"]


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    quotes = []
    for name in FILES:
        path = os.path.join(SOURCE, name)
        if not os.path.exists(path):
            sys.exit(f"prepare_fortunes: {path}: missing (run scripts/setup.sh to install `fortunes`)")
        with open(path, encoding="utf-8", errors="replace") as f:
            quotes += [q.strip() for q in f.read().split("\n%\n") if q.strip()]
    random.Random(0).shuffle(quotes)
    cut = int(len(quotes) * 0.9)
    for split, part in (("train", quotes[:cut]), ("valid", quotes[cut:])):
        with open(os.path.join(out, f"literature_{split}.txt"), "w", encoding="utf-8") as f:
            f.write("\n\n".join(part) + "\n")
    print(f"prepare_fortunes: {len(quotes)} quotes -> {out}/literature_{{train,valid}}.txt ({cut} train)")


if __name__ == "__main__":
    main()
