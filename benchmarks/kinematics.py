"""Batched kinematics vs a plain per-track Python loop, same run.

Goal: distance, speed and all step clocks for 100,000 tracks × 40 samples in under 1 s on one core with the batched
API, and at least 20× faster than looping the per-track API. Run: `python benchmarks/kinematics.py [--n 100000]`.
The loop is timed on a subset and scaled, so the script finishes in seconds; both numbers are printed.
"""
import argparse, os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as the goal says
import numpy as np

from _timing import best_of
from st_vlm_repro.kinematics import (batch_clock_directions, batch_traveled_distance, batch_traveling_speed,
                                     clock_directions, traveled_distance, traveling_speed)


def random_tracks(n, steps=40, seed=0):
    "Random-walk tracks on the 0.5 s grid with a smooth heading, like vehicles (B, N, 3)."
    r = np.random.default_rng(seed)
    heading = np.cumsum(r.normal(0, 0.2, (n, steps)), 1)
    speed = np.abs(r.normal(5, 3, (n, steps)))
    d = np.stack([np.cos(heading), np.sin(heading), np.zeros_like(heading)], -1) * speed[..., None] * 0.5
    return np.concatenate([np.zeros((n, 1, 3)), np.cumsum(d, 1)], 1)[:, :steps]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--loop-n", type=int, default=5_000)
    a = ap.parse_args()
    P = random_tracks(a.n)
    t = 0.5*np.arange(P.shape[1])

    def batched():
        batch_traveled_distance(P)
        batch_traveling_speed(P, t)
        batch_clock_directions(P)

    def loop(m=a.loop_n):
        for p in P[:m]:
            traveled_distance(p, t)
            traveling_speed(p, t)
            clock_directions(p)

    # same answers first
    m = 200
    assert np.allclose(batch_traveled_distance(P[:m]), [traveled_distance(p, t) for p in P[:m]])
    assert (batch_clock_directions(P[:m]) == np.stack([clock_directions(p) for p in P[:m]])).all()

    tb = best_of(batched)
    tl = best_of(loop, repeat=1) * a.n / a.loop_n
    print(f"tracks: {a.n:,} x {P.shape[1]} samples")
    print(f"batched API (distance + speed + step clocks): {tb:.3f} s   goal < 1 s: {'OK' if tb < 1 else 'MISSED'}")
    print(f"per-track Python loop (timed on {a.loop_n:,}, scaled): {tl:.2f} s")
    print(f"speed-up: {tl/tb:.0f}x   goal >= 20x: {'OK' if tl/tb >= 20 else 'MISSED'}")


if __name__ == "__main__":
    main()
