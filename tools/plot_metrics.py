#!/usr/bin/env python3
"""Training loss and validation accuracy over steps from temper's metrics JSONL files, as one PNG
(matplotlib; Debian's python3-matplotlib, so run it with /usr/bin/python3 where pyenv shadows it).
    plot_metrics.py OUT.png LABEL=metrics.jsonl [LABEL=metrics.jsonl ...]"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read(path):
    train, val = [], []
    for line in open(path, encoding="utf-8"):
        r = json.loads(line)
        if r.get("type") == "train":
            train.append((r["step"], r["loss"]))
        elif r.get("type") == "eval" and "accuracy" in r:
            val.append((r["step"], r["accuracy"]))
    return train, val


def main():
    out, runs = sys.argv[1], [a.split("=", 1) for a in sys.argv[2:]]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    for label, path in runs:
        train, val = read(path)
        if train:
            ax_loss.plot(*zip(*train), label=label, linewidth=1)
        if val:
            ax_acc.plot(*zip(*val), marker="o", label=label)
    ax_loss.set(title="training loss", xlabel="step", ylabel="cross-entropy")
    ax_acc.set(title="validation accuracy", xlabel="step", ylabel="accuracy", ylim=(0.4, 1.0))
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(out)


if __name__ == "__main__":
    main()
