"""Plot the latency distributions: ours (same and cross worker) against the floor, and against polling.

Reads the JSON that click_to_resume.py and polling.py write with `--out` (raw samples included) and draws
`tests/benchmarks/latency.png`:

* left: click -> agent resumed, cumulative distribution, ours (same worker, cross worker, whole `request_approval`
  path) and the floor (same process, other process);
* right: decision -> agent learns of it, log scale: ours against a 3 s and a 5 s poller (same run, same decisions).

    python tests/benchmarks/plot.py --click artifacts/bench/click.json --polling artifacts/bench/polling.json \
        [--out tests/benchmarks/latency.png]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

STYLE = {
    "ours_same": ("ours, same worker", "tab:blue", "-"),
    "ours_cross": ("ours, cross worker", "tab:green", "-"),
    "ours_input_func": ("ours, whole request_approval", "tab:purple", ":"),
    "floor_same": ("floor (SET NX + PUBLISH), same process", "tab:gray", "--"),
    "floor_cross": ("floor, other process", "black", "--"),
    "ours": ("ours (pub/sub)", "tab:blue", "-"),
    "poll_3s": ("poll every 3 s (HumanLayer)", "tab:orange", "-"),
    "poll_5s": ("poll every 5 s (AG2 Slack tool, tutorials)", "tab:red", "-"),
}


def cdf(values: list[float]) -> tuple[list[float], list[float]]:
    ordered = sorted(values)
    n = len(ordered)
    return ordered, [(i + 1) / n for i in range(n)]


def plot(click: dict[str, Any], polling: dict[str, Any] | None, out: Path, *, note: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 2 if polling else 1
    fig, axes = plt.subplots(1, panels, figsize=(7 * panels, 4.8), squeeze=False)
    left = axes[0][0]
    upper = 0.0
    for name, samples in click["samples_ms"].items():
        label, color, style = STYLE.get(name, (name, None, "-"))
        xs, ys = cdf(samples)
        p50 = xs[len(xs) // 2]
        p99 = xs[min(len(xs) - 1, int(0.99 * len(xs)))]
        upper = max(upper, p99)
        left.plot(xs, ys, style, color=color, label=f"{label}: p50 {p50:.2f}, p99 {p99:.2f} ms")
    left.axvline(10, color="tab:red", linewidth=0.8, alpha=0.5)
    left.text(9.8, 0.5, "p99 goal: 10 ms", color="tab:red", fontsize=8, rotation=90, va="center", ha="right")
    left.set_xlim(0, max(upper * 1.3, 11))
    left.set_xlabel("click -> agent resumed (ms)")
    left.set_ylabel("fraction of decisions")
    left.set_title(f"Click to resume, {click['decisions']} decisions per series")
    left.grid(alpha=0.3)
    left.legend(fontsize=7, loc="lower right")
    if polling:
        right = axes[0][1]
        for name, samples in polling["samples_ms"].items():
            label, color, style = STYLE.get(name, (name, None, "-"))
            values = [max(x, 0.01) for x in samples]
            xs, ys = cdf(values)
            mean = sum(samples) / len(samples)
            right.step(xs, ys, where="post", color=color, linestyle=style, label=f"{label}: mean {mean:,.1f} ms")
        right.set_xscale("log")
        right.set_xlabel("decision committed -> agent learns of it (ms, log scale)")
        right.set_title(f"Ours vs polling, {polling['decisions']} decisions at random times")
        right.grid(alpha=0.3, which="both")
        right.legend(fontsize=7, loc="upper left")
    machine = click.get("machine", {})
    fig.suptitle(
        f"{machine.get('cpu', '')}, {machine.get('nproc', '?')} cores, Python {machine.get('python', '')}, "
        f"{machine.get('redis_server', '').split(' sha')[0]}, {machine.get('date_utc', '')} UTC"
        + (f"\n{note}" if note else ""),
        fontsize=8,
    )
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--click", type=Path, required=True, help="JSON written by click_to_resume.py --out")
    parser.add_argument("--polling", type=Path, default=None, help="JSON written by polling.py --out")
    parser.add_argument("--out", type=Path, default=HERE / "latency.png")
    parser.add_argument("--note", default="", help="a second title line")
    args = parser.parse_args()
    click = json.loads(args.click.read_text())
    polling = json.loads(args.polling.read_text()) if args.polling and args.polling.exists() else None
    plot(click, polling, args.out, note=args.note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
