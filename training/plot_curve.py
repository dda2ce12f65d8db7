"""Plot a run's log.csv (train loss and validation NLL against tokens seen) to a PNG.

    python -m training.plot_curve runs/dyn/log.csv [--out runs/dyn/curve.png]
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402


def read_log(path: Path) -> dict[str, list[tuple[float, float]]]:
    """(tokens, value) series of train_loss and val_nll."""
    series: dict[str, list[tuple[float, float]]] = {"train_loss": [], "val_nll": []}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            for key, points in series.items():
                if row.get(key):
                    points.append((float(row["tokens"]), float(row[key])))
    return series


def plot_curve(log_csv: Path, out_png: Path, title: str | None = None) -> Path:
    series = read_log(log_csv)
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
    for key, label, style in (("train_loss", "train loss", "-"), ("val_nll", "validation NLL", "o-")):
        if series[key]:
            tokens, values = zip(*series[key], strict=True)
            ax.plot(tokens, values, style, label=label, markersize=3)
    ax.set_xlabel("tokens seen")
    ax.set_ylabel("nats per event")
    ax.set_title(title or log_csv.parent.name)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_png)
    plt.close(fig)
    return out_png


def main(argv: Sequence[str] | None = None) -> Path:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("log_csv", type=Path)
    p.add_argument("--out", type=Path, default=None, help="default: curve.png next to the log")
    p.add_argument("--title", default=None)
    args = p.parse_args(argv)
    out = plot_curve(args.log_csv, args.out or args.log_csv.with_name("curve.png"), args.title)
    print(out)
    return out


if __name__ == "__main__":
    main()
