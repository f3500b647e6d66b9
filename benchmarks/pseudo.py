"""Seconds per 40-frame video for the pseudo-labelling geometry core on CPU at 512×288 with 5 objects (goal < 1 s;
the oracle's ray casting, standing in for the neural models, is excluded)."""

import time
from st_vlm_repro.pseudo import pseudo_tracks, PseudoParams
from st_vlm_repro.pseudo_oracle import OracleBackend, highway_scene, NOISE_LEVELS

def main(repeats:int=3):
    hw = highway_scene(duration=12.0)
    o = OracleBackend(hw, "front", 0.8, NOISE_LEVELS["moderate"])          # 640×360 × 0.8 = 512×288
    v = o.video(3.9, 10.0)                                                 # 40 frames at 10 Hz
    geo = o.geometry(v)
    met = o.metric_depth(v, geo.K)
    seg = o.segment(v)
    n_obj = len(seg.labels)
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        res = pseudo_tracks(v, geo, met, seg, PseudoParams())
        ts.append(time.perf_counter() - t)
    best = min(ts)
    print(f"geometry core: {best:.3f} s per 40-frame video at {v.size[0]}×{v.size[1]}, {n_obj} objects "
          f"(goal < 1 s, ratio to goal {best / 1.0:.2f}); runs {[round(x, 3) for x in ts]}")

if __name__ == "__main__":
    main()
