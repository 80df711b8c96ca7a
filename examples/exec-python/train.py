#!/usr/bin/env python3
"""SGD on a noisy quadratic: a stand-in for a training script run by `ludus run-instances`.

It reads its parameters from the command line (ludus fills the placeholders of the spec's
`command`), logs one metrics row per epoch with `ludus.log` (the `ludus` Python module that
`pip install ludus` brings; without it, the same CSV rows are appended to $LUDUS_METRICS by
hand), and checkpoints to $LUDUS_RUN_DIR after every epoch, so when it is killed and run again
it resumes from its last checkpoint instead of starting over. Run by hand, it writes
metrics.csv and checkpoint.json in the current folder.
"""
import argparse
import json
import math
import os
import random
import sys
import time

try:
    import ludus
except ImportError:  # the module is optional: this script then writes the rows itself
    ludus = None

p = argparse.ArgumentParser()
p.add_argument("--lr", type=float, required=True)
p.add_argument("--batch", type=int, default=32)
p.add_argument("--epochs", type=int, default=20)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--dim", type=int, default=10)
p.add_argument("--epoch-seconds", type=float, default=0.0, help="sleep per epoch (for demos)")
args = p.parse_args()

run_dir = os.environ.get("LUDUS_RUN_DIR", ".")
metrics = os.environ.setdefault("LUDUS_METRICS", "metrics.csv")
ckpt = os.path.join(run_dir, "checkpoint.json")


def log(epoch, loss, grad_norm):
    if ludus is not None:
        ludus.log(epoch=epoch, loss=loss, grad_norm=grad_norm)  # writes the header first
        return
    new = not os.path.exists(metrics) or os.path.getsize(metrics) == 0
    with open(metrics, "a") as f:
        if new:
            f.write("epoch,loss,grad_norm\n")
        f.write(f"{epoch},{loss:.6g},{grad_norm:.6g}\n")


# The problem: f(w) = 0.5 * sum_i a_i (w_i - 1)^2, gradients observed with noise / sqrt(batch).
curv = [0.1 + 2.0 * i / max(1, args.dim - 1) for i in range(args.dim)]


def loss(w):
    return 0.5 * sum(a * (x - 1.0) ** 2 for a, x in zip(curv, w))


start_epoch = 0
rng = random.Random(args.seed)
w = [0.0] * args.dim
if os.path.exists(ckpt):
    with open(ckpt) as f:
        state = json.load(f)
    start_epoch, w = state["epoch"], state["w"]
    rng.setstate((state["rng"][0], tuple(state["rng"][1]), state["rng"][2]))
    # Keep only the rows the checkpoint covers: rows written after it are written again.
    with open(metrics) as f:
        lines = f.readlines()
    keep = lines[:1] + [l for l in lines[1:] if l.strip() and int(l.split(",")[0]) <= start_epoch]
    with open(metrics, "w") as f:
        f.writelines(keep)
    print(f"resumed from epoch {start_epoch}", flush=True)
else:
    # Rows of an attempt killed before its first checkpoint are written again.
    if os.path.exists(metrics):
        os.remove(metrics)
    print("starting from scratch", flush=True)
print("metrics via the ludus module" if ludus else "metrics written by hand", flush=True)

for epoch in range(start_epoch + 1, args.epochs + 1):
    gnorm = 0.0
    for _ in range(10):
        g = [a * (x - 1.0) + rng.gauss(0.0, 1.0) / math.sqrt(args.batch) for a, x in zip(curv, w)]
        w = [x - args.lr * gi for x, gi in zip(w, g)]
        gnorm = math.sqrt(sum(gi * gi for gi in g))
    value = loss(w)
    if not math.isfinite(value) or value > 1e12:
        print(f"diverged at epoch {epoch} (lr {args.lr})", file=sys.stderr)
        sys.exit(3)
    log(epoch, value, gnorm)
    tmp = ckpt + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"epoch": epoch, "w": w, "rng": rng.getstate()}, f)
    os.replace(tmp, ckpt)
    if args.epoch_seconds > 0:
        time.sleep(args.epoch_seconds)

print(f"final loss {loss(w):.6g}")
