"""Visual-prompt rendering vs the bare codec cost, same frames, same run.

Rendering a visual prompt = decode the clip's JPEG frames, draw the boxes, encode H.264 (or write JPEGs). The physical
limit of that stage is the codec work alone: decoding the same source JPEGs and encoding the same number of frames with
the same encoder settings, nothing else. Goal: rendering within 1.5x of that bare codec cost (one process, one core).

Run: `python benchmarks/stkit_codec.py [--clips 6 --frames 40 --size 640x360 --repeat 3]`.
`codec_benchmark(...)` returns the numbers as a dict, for `benchmarks/stkit.py`.
"""
import argparse, fractions, os, shutil, tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
import av
import cv2
import numpy as np

from _timing import best_of
from st_vlm_repro.visual_prompts import COLOUR_NAMES, frame_name, make_test_clip, render_visual_prompt


def bare_mp4(frames, times, out, size, crf=23, preset="veryfast", threads=1):
    "Decode each source JPEG and encode it to H.264 with the renderer's settings: nothing else."
    with av.open(str(out), "w", format="mp4") as c:
        s = c.add_stream("libx264", rate=2)
        s.width, s.height = size
        s.pix_fmt = "yuv420p"
        s.time_base = s.codec_context.time_base = fractions.Fraction(1, 1000)
        s.options = {"preset": preset, "crf": str(crf)}
        s.codec_context.thread_count = threads
        for p, t in zip(frames, times):
            img = cv2.imdecode(np.fromfile(p, np.uint8), cv2.IMREAD_COLOR)
            f = av.VideoFrame.from_ndarray(img, format="bgr24")
            f.pts = int(round(t * 1000))
            for pk in s.encode(f):
                c.mux(pk)
        for pk in s.encode():
            c.mux(pk)


def bare_frames(frames, times, out, quality=90):
    "Decode each source JPEG and encode it to a JPEG file: nothing else."
    out.mkdir(parents=True, exist_ok=True)
    for p, t in zip(frames, times):
        img = cv2.imdecode(np.fromfile(p, np.uint8), cv2.IMREAD_COLOR)
        cv2.imwrite(str(out / frame_name(t)), img, [cv2.IMWRITE_JPEG_QUALITY, quality])


def codec_benchmark(n_clips=6, n_frames=40, size=(640, 360), n_objects=3, repeat=3, preset="veryfast",
                    workdir=None, verbose=True, clips=None):
    "Frames/s of rendering (mp4 and frame folder) and of the bare codec on the same frames; ratios bare/render."
    cv2.setNumThreads(1)
    root = Path(workdir or tempfile.mkdtemp(prefix="stkit_codec_"))
    try:
        if clips is None:
            clips = [make_test_clip(root / "src", n_frames=n_frames, size=size, n_objects=n_objects, seed=s,
                                    clip_id=f"synthetic/bench{s}/0") for s in range(n_clips)]
        else:   # given clips (e.g. the mini world's), cycled to n_clips; each gets its own output name
            clips = [c.model_copy(update=dict(scene_id=f"{c.scene_id}_{i}"))
                     for i, c in zip(range(n_clips), __import__("itertools").cycle(clips))]
            size = clips[0].image_size
            n_frames = len(clips[0].frames)
        n = sum(len(c.frames) for c in clips)
        objs = [list(zip([t.track_id for t in c.tracks][:n_objects], COLOUR_NAMES)) for c in clips]
        out = root / "out"
        out.mkdir()

        def render_mp4():
            for c, o in zip(clips, objs):
                render_visual_prompt(c, o, out / f"{c.scene_id}.mp4", preset=preset)

        def render_frames():
            for c, o in zip(clips, objs):
                render_visual_prompt(c, o, out / f"{c.scene_id}_f", fmt="frames")

        def codec_mp4():
            for c in clips:
                bare_mp4(c.frames, c.frame_times, out / f"{c.scene_id}_bare.mp4", size, preset=preset)

        def codec_frames():
            for c in clips:
                d = out / f"{c.scene_id}_bare_f"
                shutil.rmtree(d, ignore_errors=True)
                bare_frames(c.frames, c.frame_times, d)

        def decode_only():
            for c in clips:
                for p in c.frames:
                    cv2.imdecode(np.fromfile(p, np.uint8), cv2.IMREAD_COLOR)

        render_mp4()
        codec_mp4()       # warm-up: page cache, codec init
        res = dict(frames=n, size=f"{size[0]}x{size[1]}", preset=preset)
        # interleave the measurements so a change of machine load hits both sides alike
        t = {k: [] for k in ("render_mp4", "codec_mp4", "render_frames", "codec_frames", "decode")}
        for _ in range(repeat):
            t["codec_mp4"].append(best_of(codec_mp4, 1))
            t["render_mp4"].append(best_of(render_mp4, 1))
            t["codec_frames"].append(best_of(codec_frames, 1))
            t["render_frames"].append(best_of(render_frames, 1))
            t["decode"].append(best_of(decode_only, 1))
        for k, v in t.items():
            res[f"{k}_fps"] = n / min(v)
        res["ratio_mp4"] = res["codec_mp4_fps"] / res["render_mp4_fps"]
        res["ratio_frames"] = res["codec_frames_fps"] / res["render_frames_fps"]
        if verbose:
            print(
                f"{n} frames ({len(clips)} clips x {n_frames}) at {res['size']}, "
                f"{n_objects} boxes per clip, 1 process, "
                f"x264 preset {preset}, best of {repeat}"
            )
            print(f"  JPEG decode only              : {res['decode_fps']:8.0f} frames/s")
            print(f"  bare codec  (decode + H.264)  : {res['codec_mp4_fps']:8.0f} frames/s")
            print(f"  render mp4  visual prompt     : {res['render_mp4_fps']:8.0f} frames/s   "
                  f"cost ratio {res['ratio_mp4']:.2f}x   goal <= 1.5x: {'OK' if res['ratio_mp4'] <= 1.5 else 'MISSED'}")
            print(f"  bare codec  (decode + JPEG)   : {res['codec_frames_fps']:8.0f} frames/s")
            print(
                f"  render frame folder           : {res['render_frames_fps']:8.0f} frames/s   "
                f"cost ratio {res['ratio_frames']:.2f}x   "
                f"goal <= 1.5x: {'OK' if res['ratio_frames'] <= 1.5 else 'MISSED'}"
            )
        return res
    finally:
        if workdir is None:
            shutil.rmtree(root, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=6)
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--size", default="640x360")
    ap.add_argument("--objects", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--preset", default="veryfast")
    ap.add_argument(
        "--nuscenes-root",
        default=None,
        help="render the clips of this nuScenes root (e.g. the mini world's) instead of synthetic test clips",
    )
    a = ap.parse_args()
    w, h = map(int, a.size.lower().split("x"))
    clips = None
    if a.nuscenes_root:
        from st_vlm_repro.clips import load_clips
        clips = [c for c in load_clips("nuscenes", a.nuscenes_root, "train", verbose=False) if c.tracks]
        if not clips:
            raise SystemExit(f"no clips with tracks under {a.nuscenes_root}")
    codec_benchmark(a.clips, a.frames, (w, h), a.objects, a.repeat, a.preset, clips=clips)


if __name__ == "__main__":
    main()
