"""Clips per second read from the mini world for each source, and peak memory.

Goal (issue 3): reading is never the bottleneck of STKit construction, at least 50 clips/s per core for nuScenes and
Argoverse 2 excluding image decoding. Each measurement runs in a fresh process (one core), so the devkit's load time and
the peak resident memory belong to that source alone. Baselines in the same run: the devkits' own per-keyframe calls
(nuScenes `get_sample_data`, which builds boxes in the camera frame; AV2 `get_city_SE3_ego` +
`get_labels_at_lidar_timestamp`, which read the feather tables per call) over the same keyframes.

    .venv/bin/python benchmarks/sources.py [--n-scenes 130] [--root data/mini_world_bench] [--workers 2]
"""
from __future__ import annotations
import argparse, json, multiprocessing as mp, resource, time
from pathlib import Path

from st_vlm_repro.core import load_settings


def _read(args):
    source, root, split, check_images = args
    from st_vlm_repro.clips import load_clips
    t0 = time.perf_counter()
    stream = load_clips(source, root, split, verbose=False, check_images=check_images)
    t1 = time.perf_counter()                    # loader construction is lazy: devkit load happens on first next()
    n = 0; first = None
    for c in stream:
        n += 1
        if first is None: first = time.perf_counter()
    t2 = time.perf_counter()
    return dict(clips=n, skipped=stream.report.n_skipped, total_s=t2 - t0, after_first_s=t2 - (first or t2),
                maxrss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _baseline(args):
    source, root, split = args
    t0 = time.perf_counter(); n = 0
    if source == "nuscenes":
        from nuscenes.nuscenes import NuScenes
        from nuscenes.utils.geometry_utils import BoxVisibility
        from nuscenes.utils.splits import create_splits_scenes
        nusc = NuScenes("v1.0-trainval", dataroot=str(root), verbose=False); names = set(create_splits_scenes()[split])
        for sc in nusc.scene:
            if sc["name"] not in names: continue
            tok = sc["first_sample_token"]; n += 1
            while tok:
                s = nusc.get("sample", tok)
                nusc.get_sample_data(s["data"]["CAM_FRONT"], box_vis_level=BoxVisibility.ANY); tok = s["next"]
    else:
        import numpy as np
        from av2.datasets.sensor.av2_sensor_dataloader import AV2SensorDataLoader
        from av2.utils.io import read_feather
        d = Path(root) / split; ld = AV2SensorDataLoader(d, d)
        for log in ld.get_log_ids():
            sweeps = np.unique(read_feather(d / log / "annotations.feather").timestamp_ns.to_numpy())
            n += 1
            for ts in sweeps[::5]:
                ld.get_city_SE3_ego(log, int(ts)); ld.get_labels_at_lidar_timestamp(log, int(ts))
                ld.get_closest_img_fpath(log, "ring_front_center", int(ts))
    return dict(scenes=n, total_s=time.perf_counter() - t0)


def run1(fn, args):
    with mp.get_context("spawn").Pool(1) as p: return p.apply(fn, (args,))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-scenes", type=int, default=130, help="driving scenes (25 s on average → ≈1.6 clips each)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--root", default=None, help="default: <data_dir>/mini_world_bench")
    ap.add_argument("--workers", type=int, default=2, help="processes rendering the world (reading is single-core)")
    a = ap.parse_args()
    cfg = load_settings("mini")
    root = Path(a.root) if a.root else cfg.path("data_dir") / "mini_world_bench"
    gt = root / "ground_truth.json"
    want = dict(seed=a.seed, n=a.n_scenes)
    if not gt.is_file() or json.loads((root / "bench.json").read_text() if (root / "bench.json").is_file() else "{}") != want:
        from st_vlm_repro.mini_world import make_mini_world
        t = time.perf_counter()
        make_mini_world(root, a.n_scenes, a.seed, formats=["nuscenes", "argoverse2"], n_sports=0, n_workers=a.workers)
        (root / "bench.json").write_text(json.dumps(want))
        print(f"wrote the mini world ({a.n_scenes} driving scenes) in {time.perf_counter() - t:.1f} s with {a.workers} workers")
    print(f"root: {root}\n")
    print(f"{'source':<11} {'images':<7} {'clips':>6} {'total s':>8} {'clips/s':>8} {'clips/s*':>9} {'peak RSS MB':>12}")
    res = {}
    for source in ("nuscenes", "argoverse2"):
        for mode in ("none", "header"):
            r = [run1(_read, (source, root / source, sp, mode)) for sp in ("train", "val")]
            n = sum(x["clips"] for x in r); tot = sum(x["total_s"] for x in r); aft = sum(x["after_first_s"] for x in r)
            rate, rate2 = n / tot, n / max(aft, 1e-9)
            res[(source, mode)] = rate
            print(f"{source:<11} {mode:<7} {n:>6} {tot:>8.2f} {rate:>8.1f} {rate2:>9.1f} {max(x['maxrss_mb'] for x in r):>12.0f}")
        b = [run1(_baseline, (source, root / source, sp)) for sp in ("train", "val")]
        bt = sum(x["total_s"] for x in b); bs = sum(x["scenes"] for x in b)
        print(f"{'':<11} devkit baseline (per-keyframe calls, no clips built): {bt:.2f} s for {bs} scenes/logs")
    print("\nclips/s: all clips over total time incl. devkit load; clips/s*: after the first clip (devkit already loaded).")
    print("images 'none' = no image check (reading excludes image decoding); 'header' = header + JPEG end-marker check.")
    ok = all(res[(s, "none")] >= 50 for s in ("nuscenes", "argoverse2"))
    print(f"goal ≥ 50 clips/s per core (nuScenes, AV2, excluding image decoding): {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
