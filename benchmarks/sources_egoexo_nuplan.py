"""Clips per second read from the mini world for Ego-Exo4D and nuPlan, and peak memory.

Same columns as benchmarks/sources.py (nuScenes, AV2); each measurement runs in a fresh process (one core) so the peak
resident memory belongs to that source alone. Ego-Exo4D is measured twice: with a cold frame cache (the grid frames
are decoded from the take videos, undistorted from the Aria fisheye to a pinhole and written as JPEGs) and warm
(frames already extracted). The world is written with
cheap media (nuPlan images at 2 Hz, Aria video at 2 fps: both still put a frame on every 0.5 s grid time) so that a
≥ 200-clip world is made in a couple of minutes; reading does not depend on those rates.

    .venv/bin/python benchmarks/sources_egoexo_nuplan.py [--n-driving 70] [--n-sports 50] \
        [--root data/mini_world_bench_ee_np]
"""
from __future__ import annotations
import argparse, json, multiprocessing as mp, resource, shutil, time
from pathlib import Path

from st_vlm_repro.core import load_settings


def _read(args):
    source, root, split, opts = args
    from st_vlm_repro.clips import load_clips
    t0 = time.perf_counter()
    stream = load_clips(source, root, split, verbose=False, **opts)
    n = 0
    for _ in stream:
        n += 1
    return dict(clips=n, skipped=stream.report.n_skipped, total_s=time.perf_counter() - t0,
                maxrss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def run1(args):
    with mp.get_context("spawn").Pool(1) as p:
        return p.apply(_read, (args,))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-driving", type=int, default=70, help="driving scenes (≈3 clips each with stride 8)")
    ap.add_argument("--n-sports", type=int, default=54, help="sports takes (≈3.8 clips each with stride 4)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--root", default=None, help="default: <data_dir>/mini_world_bench_ee_np")
    ap.add_argument("--workers", type=int, default=2, help="processes writing the world (reading is single-core)")
    a = ap.parse_args()
    root = Path(a.root) if a.root else load_settings("mini").data_dir / "mini_world_bench_ee_np"
    want = dict(seed=a.seed, d=a.n_driving, s=a.n_sports)
    if not (root / "bench.json").is_file() or json.loads((root / "bench.json").read_text()) != want:
        from st_vlm_repro.mini_world import make_mini_world
        t = time.perf_counter()
        make_mini_world(
            root,
            a.n_driving,
            a.seed,
            formats=["egoexo4d", "nuplan"],
            n_sports=a.n_sports,
            n_workers=a.workers,
            image_hz=2.0,
            video_fps=2.0,
        )
        (root / "bench.json").write_text(json.dumps(want))
        print(f"wrote the world ({a.n_driving} driving, {a.n_sports} sports scenes) in {time.perf_counter() - t:.1f} s")
    print(f"root: {root}\n")
    frames = root / "frames_cache"
    shutil.rmtree(frames, ignore_errors=True)
    runs = [
        ("nuplan", "header", dict(stride=8, check_images="header")),
        ("nuplan", "none", dict(stride=8, check_images="none")),
        ("egoexo4d", "cold", dict(stride=4, frames_dir=frames)),
        ("egoexo4d", "warm", dict(stride=4, frames_dir=frames)),
    ]
    print(f"{'source':<9} {'mode':<7} {'clips':>6} {'skipped':>8} {'total s':>8} {'clips/s':>8} {'peak RSS MB':>12}")
    for source, mode, opts in runs:
        r = [run1((source, root / source, sp, opts)) for sp in ("train", "val")]
        n = sum(x["clips"] for x in r)
        tot = sum(x["total_s"] for x in r)
        print(f"{source:<9} {mode:<7} {n:>6} {sum(x['skipped'] for x in r):>8} {tot:>8.2f} {n / tot:>8.1f} "
              f"{max(x['maxrss_mb'] for x in r):>12.0f}")
    print(
        "\nnuplan header/none: with/without the JPEG header check; "
        "egoexo4d cold/warm: grid frames decoded from the videos "
        "into the cache / already there."
    )


if __name__ == "__main__":
    main()
