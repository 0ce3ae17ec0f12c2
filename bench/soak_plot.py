"""Plots soak samples (bench/results/soak-*.csv) to a PNG: the server's
RSS, open fds and CPU, and the client's open connections, over time.

Usage: python soak_plot.py SAMPLES.csv OUT.png [TITLE]
(bench/soak.sh runs it in a venv of its own with matplotlib.)
"""

import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    src, out = sys.argv[1], sys.argv[2]
    title = sys.argv[3] if len(sys.argv) > 3 else src
    rows = list(csv.DictReader(open(src)))
    t = [float(r["t_s"]) for r in rows]
    rss = [int(r["rss_kib"]) / 1024 for r in rows]
    fds = [int(r["fds"]) for r in rows]
    cpu = [float(r["cpu_pct"]) for r in rows]
    conns = [int(r["client_conns"]) for r in rows]
    errors = [int(r["errors"]) for r in rows]

    fig, axes = plt.subplots(3, 1, figsize=(9, 8), sharex=True)
    axes[0].plot(t, rss, color="tab:blue")
    axes[0].set_ylabel("server RSS (MiB)")
    axes[0].set_ylim(0, max(rss) * 1.2 if rss else 1)
    axes[1].plot(t, fds, color="tab:green", label="server open fds")
    axes[1].plot(t, conns, color="tab:gray", linestyle="--", label="client connections")
    axes[1].set_ylabel("count")
    axes[1].set_ylim(0, max(fds + conns) * 1.2 if fds else 1)
    axes[1].legend(loc="lower right")
    axes[2].plot(t, cpu, color="tab:red")
    axes[2].set_ylabel("server CPU (% of a core)")
    axes[2].set_ylim(0, max(100, max(cpu) * 1.1) if cpu else 100)
    axes[2].set_xlabel("seconds since the load started")
    for ax in axes:
        ax.axvline(60, color="black", linewidth=0.5, linestyle=":")
        ax.grid(alpha=0.3)
    errs = errors[-1] if errors else 0
    fig.suptitle(f"{title} (errors: {errs}; dotted line: end of the first minute)")
    fig.tight_layout()
    fig.savefig(out, dpi=90)


if __name__ == "__main__":
    main()
