"""Clips per second read from the mini world for each source, and peak memory.

Goal: reading is never the bottleneck of STKit construction, at least 50 clips/s per core for nuScenes and
Argoverse 2 excluding image decoding. Each measurement runs in a fresh process (one core), so the devkit's load time and
the peak resident memory belong to that source alone; times are the process's CPU time, so other load on a shared
machine does not count. Baselines in the same run: the devkits' own per-keyframe calls
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
    w0, c0 = time.perf_counter(), time.process_time()
    from st_vlm_repro.clips import load_clips, get_reader
    get_reader(source)                          # imports the reader module and its devkit
    w1, c1 = time.perf_counter(), time.process_time()
    stream = iter(load_clips(source, root, split, verbose=False, check_images=check_images))
    n, first = 0, None
    for c in stream:
        n += 1
        if first is None:
            first = (time.perf_counter(), time.process_time())   # devkit load + first clip
    w2, c2 = time.perf_counter(), time.process_time()
    first = first or (w2, c2)
    return dict(clips=n, import_s=c1 - c0, first_cpu_s=first[1] - c1, rest_cpu_s=c2 - first[1], total_cpu_s=c2 - c1,
                total_wall_s=w2 - w1, maxrss_mb=_peak_rss_mb())


def _peak_rss_mb():
    "This process's peak resident memory (VmHWM; unlike ru_maxrss it is not inherited from the parent across exec)."
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _baseline(args):
    source, root, split, max_scenes = args
    t0 = time.process_time()
    n = 0
    if source == "nuscenes":
        from nuscenes.nuscenes import NuScenes
        from nuscenes.utils.geometry_utils import BoxVisibility
        from nuscenes.utils.splits import create_splits_scenes
        nusc = NuScenes("v1.0-trainval", dataroot=str(root), verbose=False)
        names = set(create_splits_scenes()[split])
        t_load = time.process_time()
        for sc in nusc.scene:
            if sc["name"] not in names or n >= max_scenes:
                continue
            tok = sc["first_sample_token"]
            n += 1
            while tok:
                s = nusc.get("sample", tok)
                nusc.get_sample_data(s["data"]["CAM_FRONT"], box_vis_level=BoxVisibility.ANY)
                tok = s["next"]
    else:
        import numpy as np
        from av2.datasets.sensor.av2_sensor_dataloader import AV2SensorDataLoader
        from av2.utils.io import read_feather
        d = Path(root) / split
        ld = AV2SensorDataLoader(d, d)
        t_load = time.process_time()
        for log in ld.get_log_ids()[:max_scenes]:
            sweeps = np.unique(read_feather(d / log / "annotations.feather").timestamp_ns.to_numpy())
            n += 1
            for ts in sweeps[::5]:
                ld.get_city_SE3_ego(log, int(ts))
                ld.get_labels_at_lidar_timestamp(log, int(ts))
                ld.get_closest_img_fpath(log, "ring_front_center", int(ts))
    return dict(scenes=n, load_s=t_load - t0, after_s=time.process_time() - t_load)


def run1(fn, args):
    with mp.get_context("spawn").Pool(1) as p:
        return p.apply(fn, (args,))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-scenes", type=int, default=130, help="driving scenes (25 s on average → ≈1.6 clips each)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--root", default=None, help="default: <data_dir>/mini_world_bench")
    ap.add_argument("--workers", type=int, default=2, help="processes rendering the world (reading is single-core)")
    a = ap.parse_args()
    cfg = load_settings("mini")
    root = Path(a.root) if a.root else cfg.data_dir / "mini_world_bench"
    gt = root / "ground_truth.json"
    from st_vlm_repro.mini_world import make_world, token
    # rebuild if it changed
    want = dict(seed=a.seed, n=a.n_scenes, generator=token(make_world(1, a.seed, n_sports=0)[0].to_json()))
    if (
        not gt.is_file()
        or json.loads((root / "bench.json").read_text() if (root / "bench.json").is_file() else "{}") != want
    ):
        from st_vlm_repro.mini_world import make_mini_world
        t = time.perf_counter()
        make_mini_world(root, a.n_scenes, a.seed, formats=["nuscenes", "argoverse2"], n_sports=0, n_workers=a.workers)
        (root / "bench.json").write_text(json.dumps(want))
        print(
            f"wrote the mini world ({a.n_scenes} driving scenes) in {time.perf_counter() - t:.1f} s "
            f"with {a.workers} workers"
        )
    print(f"root: {root}\n")
    print(
        f"{'source':<11} {'images':<7} {'clips':>6} {'load+1st':>9} {'rest':>7} {'clips/s':>8} "
        f"{'clips/s*':>9} {'wall s':>7} {'peak RSS MB':>12}"
    )
    res = {}
    for source in ("nuscenes", "argoverse2"):
        for mode in ("none", "header"):
            r = [run1(_read, (source, root / source, sp, mode)) for sp in ("train", "val")]
            n = sum(x["clips"] for x in r)
            tot = sum(x["total_cpu_s"] for x in r)
            rest = sum(x["rest_cpu_s"] for x in r)
            res[(source, mode)] = (n / tot, (n - len(r)) / max(rest, 1e-9))
            if mode == "none":
                rest_none = rest
            print(
                f"{source:<11} {mode:<7} {n:>6} {sum(x['first_cpu_s'] for x in r):>9.2f} {rest:>7.2f} {n / tot:>8.1f} "
                f"{(n - len(r)) / max(rest, 1e-9):>9.1f} {sum(x['total_wall_s'] for x in r):>7.1f} "
                f"{max(x['maxrss_mb'] for x in r):>12.0f}"
            )
        b = [run1(_baseline, (source, root / source, sp, 15)) for sp in ("train", "val")]
        bt = sum(x["after_s"] for x in b)
        bs = sum(x["scenes"] for x in b)
        ns = len(list((root / "ground_truth").glob("*.json")))
        print(
            f"{'':<11} devkit baseline (its own per-keyframe calls on {bs} scenes/logs, no clips built), "
            "after the devkit load: "
            f"{bt / bs * 1e3:.0f} ms CPU per scene; ours (whole clips): {rest_none / ns * 1e3:.0f} ms per scene "
            f"→ {bt / bs / (rest_none / ns):.1f}x faster"
        )
    print("\nTimes are CPU seconds of the reading process (one core; robust to other load on the machine).")
    print("load+1st: devkit load (NuScenes tables / AV2 SynchronizationDB) and the first clip; rest: all other clips.")
    print("clips/s: all clips over all CPU time; clips/s*: clips after the first over their CPU time (devkit loaded).")
    print(
        "images 'none' = no image check (reading excludes image decoding); 'header' = header + JPEG end-marker check."
    )
    ok = all(res[(s, "none")][1] >= 50 for s in ("nuscenes", "argoverse2"))
    print(
        f"goal ≥ 50 clips/s per core after the devkit's load (nuScenes, AV2, excluding image decoding): "
        f"{'met' if ok else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
