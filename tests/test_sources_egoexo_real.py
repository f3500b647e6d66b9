"""The Ego-Exo4D reader on a real Aria MPS excerpt laid out as a real release take (fisheye calibration at 2880 px,
1408 px or 448 px video turned 90°, ego camera `aria02` by `is_ego`, trimmed trajectory, QR segment before the task)."""
import json, shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from projectaria_tools.core import mps

from st_vlm_repro.clips import MetadataError, STEP, load_clips

SAMPLE = Path(__file__).parent / "data" / "aria_mps_sample"
TAKE, CAPTURE, UID = "iiith_soccer_011_6", "iiith_soccer_011", "0f2c6e43-5bd5-4cd4-a1e4-3d4c1b7a9e11"
FPS, TASK_START, TASK_END = 10.0, 1.0, 5.5


def _poses():
    "Device times (s) and T_world_device of the sample, read with projectaria-tools' own reader."
    traj = mps.read_closed_loop_trajectory(str(SAMPLE / "closed_loop_trajectory.csv"))
    assert len(traj) > 1000                                                 # the reader returns [] on a bad file
    t = np.array([p.tracking_timestamp.total_seconds() for p in traj])
    return t, np.stack([p.transform_world_device.to_matrix() for p in traj])


def _marker_world(t, T, t0, rgb):
    "A world point 2 m in front of the RGB camera at device time `t0`, a little off its axis."
    T_wc = T[np.argmin(np.abs(t - t0))] @ rgb.get_transform_device_camera().to_matrix()
    return T_wc[:3, :3] @ np.array([0.25, 0.1, 2.0]) + T_wc[:3, 3]


def make_take(root:Path, size:int=1408, trimmed:bool=True)->dict:
    "Lay the sample out as a real take; each frame shows a white disc where projectaria-tools projects a fixed point."
    t, T = _poses()
    frame_t = np.arange(150.02, 155.95, 1 / FPS)                            # device seconds of the take's frames
    tdir = root / "takes" / TAKE
    traj_dir = tdir / "trajectory" if trimmed else root / "captures" / CAPTURE / "trajectory"
    traj_dir.mkdir(parents=True)
    for f in ("closed_loop_trajectory.csv", "online_calibration.jsonl"):
        shutil.copy(SAMPLE / f, traj_dir / f)
    cals = mps.read_online_calibration(str(SAMPLE / "online_calibration.jsonl"))
    cal = cals[int(np.argmin([abs(c.tracking_timestamp.total_seconds() - (frame_t[0] + TASK_START)) for c in cals]))]
    sensor = cal.get_camera_calib("camera-rgb")
    rgb = sensor.rescale(np.array([1408, 1408]), 0.5, np.array([32.0, 32.0]))
    if size != 1408:
        rgb = rgb.rescale(np.array([size, size]), size / 1408)
    P = _marker_world(t, T, frame_t[0] + TASK_START, rgb)
    (tdir / "frame_aligned_videos").mkdir(parents=True)
    vw = cv2.VideoWriter(str(tdir / "frame_aligned_videos" / "aria02_214-1.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), FPS,
                         (size, size))
    T_dc = rgb.get_transform_device_camera().to_matrix()
    for ft in frame_t:
        im = np.zeros((size, size, 3), np.uint8)
        T_wc = T[np.argmin(np.abs(t - ft))] @ T_dc
        uv = rgb.project(np.linalg.inv(T_wc)[:3, :3] @ P + np.linalg.inv(T_wc)[:3, 3])   # sensor orientation
        if uv is not None:
            ur, vr = uv
            centre = (int(round(size - 1 - vr)), int(round(ur)))                  # the sensor pixel turned 90° cw
            cv2.circle(im, centre, max(3, size // 100), (255, 255, 255), -1)
        vw.write(im)
    vw.release()
    (root / "captures" / CAPTURE).mkdir(parents=True, exist_ok=True)
    start, pad = 3, 2
    rows = np.arange(start + 1 + len(frame_t) + pad)
    ns = np.full(len(rows), np.nan)
    ns[start + 1:start + 1 + len(frame_t)] = np.round(frame_t * 1e9)
    import pandas as pd
    pd.DataFrame({"cam01_0_frame_number": rows, "aria02_214-1_capture_timestamp_ns": ns,
                  "aria02_214-1_frame_number": rows}).to_csv(root / "captures" / CAPTURE / "timesync.csv", index=False)
    take = {"take_uid": UID, "take_name": TAKE, "root_dir": f"takes/{TAKE}", "parent_task_name": "Soccer",
            "task_name": "Soccer Drills", "capture": {"capture_name": CAPTURE, "cameras": [
                {"cam_id": "aria01", "is_ego": False}, {"cam_id": "aria02", "is_ego": True},
                {"cam_id": "cam01", "is_ego": False}]},
            "timesync_start_idx": start, "timesync_end_idx": start + 1 + len(frame_t),
            "duration_sec": len(frame_t) / FPS,
            "task_start_sec": TASK_START, "task_end_sec": TASK_END, "validated": True,
            "frame_aligned_videos": {"aria02": {"rgb": {"relative_path": "frame_aligned_videos/aria02_214-1.mp4",
                                                        "readable_stream_id": "214-1", "stream_id": "214-1"}},
                                     "cam01": {"0": {"relative_path": "frame_aligned_videos/cam01.mp4"}}},
            "has_trimmed_trajectory": trimmed,
            "trimmed_trajectory_relative_path": "trajectory/closed_loop_trajectory.csv" if trimmed else None}
    (root / "takes.json").write_text(json.dumps([take]))
    (root / "annotations").mkdir()
    (root / "annotations" / "splits.json").write_text(json.dumps({"take_uid_to_split": {UID: "val"}}))
    return dict(P=P, t=t, T=T, frame_t=frame_t)


@pytest.mark.parametrize("size", [1408, 448])
def test_real_take(tmp_path, size):
    truth = make_take(tmp_path / "ee", size)
    cs = load_clips("egoexo4d", tmp_path / "ee", "val", frames_dir=tmp_path / "cache", verbose=False)
    clips = list(cs)
    assert cs.report.n_skipped == 0 and len(clips) == 1, cs.report
    c = clips[0]
    t, T, P, ft = truth["t"], truth["T"], truth["P"], truth["frame_t"]
    # time span: the task segment (the QR code before task_start_sec is left out), 0.5 s steps
    assert c.start_time == pytest.approx(ft[int(TASK_START * FPS)], abs=1e-6)
    assert c.start_time + c.frame_times[-1] <= ft[0] + TASK_END + 1e-6
    assert len(c.frame_times) == int((TASK_END - TASK_START) / STEP) + 1
    assert c.camera == "aria02_214-1" and c.meta["ego_camera"] == "aria02" and c.image_size == (size, size)
    # the wearer's path is the device trajectory (within 5 cm)
    w = c.track("wearer")
    dev = np.stack([np.interp(c.start_time + w.times, t, T[:, k, 3]) for k in range(3)], 1)
    assert np.linalg.norm(w.centers - dev, axis=1).max() < 0.05
    # the intrinsics: projectaria-tools' rescale of the 2880 px fisheye, principal point inside the frame
    K = c.intrinsics[0]
    assert K[0, 0] == pytest.approx(1220.019 * 0.5 * size / 1408, rel=1e-3)
    assert 0 < K[0, 2] < size and 0 < K[1, 2] < size
    # upright frames: the image's down axis (camera y) points along gravity in every frame
    assert (c.world_from_camera[:, :3, 1] @ np.array([0, 0, -1.0])).min() > 0.8
    # the disc drawn where projectaria-tools projects P into the released fisheye frame lies where the clip's pinhole
    # camera projects P in the undistorted frame
    n = 0
    for k in range(len(c.frames)):
        Tcw = np.linalg.inv(c.world_from_camera[k])
        p = Tcw[:3, :3] @ P + Tcw[:3, 3]
        if p[2] < 0.5:
            continue
        u, v = (K @ p)[:2] / p[2]
        if not (0.1 * size < u < 0.9 * size and 0.1 * size < v < 0.9 * size):
            continue
        im = cv2.imread(c.frames[k], cv2.IMREAD_GRAYSCALE)
        ys, xs = np.nonzero(im > 128)
        assert len(xs) > 0, f"frame {k}: no disc"
        assert np.hypot(xs.mean() - u, ys.mean() - v) < 2.0, (k, xs.mean(), ys.mean(), u, v)
        n += 1
    assert n >= 1


def test_capture_trajectory_fallback(tmp_path):
    make_take(tmp_path / "ee", 448, trimmed=False)
    cs = load_clips("egoexo4d", tmp_path / "ee", "val", frames_dir=tmp_path / "cache", verbose=False)
    assert len(list(cs)) == 1 and cs.report.n_skipped == 0
    # a trimmed trajectory in the take whose online calibration exists only at the capture level
    root = tmp_path / "ee2"
    make_take(root, 448)
    cal = root / "takes" / TAKE / "trajectory" / "online_calibration.jsonl"
    (root / "captures" / CAPTURE / "trajectory").mkdir(parents=True)
    cal.rename(root / "captures" / CAPTURE / "trajectory" / "online_calibration.jsonl")
    cs = load_clips("egoexo4d", root, "val", frames_dir=tmp_path / "cache", verbose=False)
    assert len(list(cs)) == 1 and cs.report.n_skipped == 0


def test_hostile_and_malformed_takes(tmp_path):
    root = tmp_path / "ee"
    make_take(root, 448)
    cache = tmp_path / "cache" / "frames"
    takes = json.loads((root / "takes.json").read_text())
    splits = {"take_uid_to_split": {"../../..": "val", UID: "val"}}
    evil = dict(takes[0], take_uid="../../..")
    (root / "annotations" / "splits.json").write_text(json.dumps(splits))
    bad_capture = dict(takes[0], capture=dict(takes[0]["capture"], capture_name="../x"))
    (root / "takes.json").write_text(
        json.dumps([evil, {"take_name": "no uid"}, dict(takes[0], root_dir="/etc"), bad_capture])
    )
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    cs = load_clips("egoexo4d", root, "val", frames_dir=cache, verbose=False)
    assert list(cs) == []
    assert cs.report.skipped == {"unsafe path": 3, "bad metadata": 1}, cs.report
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before      # nothing written anywhere
    (root / "takes.json").write_text(json.dumps([dict(takes[0], frame_aligned_videos={})]))
    cs = load_clips("egoexo4d", root, "val", frames_dir=cache, verbose=False)
    assert list(cs) == [] and set(cs.report.skipped) == {"bad metadata"}
    (root / "takes.json").write_text('[{"take_uid": ')
    with pytest.raises(MetadataError, match=r"takes.json: not valid JSON"):
        list(load_clips("egoexo4d", root, "val", frames_dir=cache))
    (root / "takes.json").write_text(json.dumps(takes))
    (root / "annotations" / "splits.json").write_text(json.dumps({"split_to_take_uids": {}}))
    with pytest.raises(MetadataError, match=r"splits.json: field 'take_uid_to_split'"):
        list(load_clips("egoexo4d", root, "val", frames_dir=cache))


def test_exo_view_sees_the_wearer(tmp_path):
    "view='exo': the GoPro's pose and KB3 calibration from gopro_calibs.csv (projectaria-tools' format); boxed wearer."
    from st_vlm_repro.mini_world import load_ground_truth, make_mini_world
    from st_vlm_repro.sources.egoexo4d import WEARER_SIZE, wearer_box_centers
    make_mini_world(tmp_path / "mw", n_scenes=0, seed=2, formats=["egoexo4d"], n_sports=1, video_fps=10, exo_view=True)
    sc = next(iter(load_ground_truth(tmp_path / "mw")[1].values()))
    root = tmp_path / "mw" / "egoexo4d"
    take = json.loads((root / "takes.json").read_text())[0]
    cal = mps.read_static_camera_calibrations(str(root / take["root_dir"] / "trajectory" / "gopro_calibs.csv"))
    assert [c.camera_uid for c in cal] == ["cam01"] and (cal[0].width, cal[0].height) == (3840, 2160)
    ego = list(load_clips("egoexo4d", root, sc.split, frames_dir=tmp_path / "f", verbose=False))
    exo = list(load_clips("egoexo4d", root, sc.split, frames_dir=tmp_path / "f", view="exo", verbose=False))
    assert len(exo) == len(ego) >= 1
    for c in exo:
        T_wc = cal[0].transform_world_cam.to_matrix()
        np.testing.assert_allclose(c.world_from_camera, np.repeat(T_wc[None], len(c.frames), 0))
        assert c.image_size == (512, 288) and c.camera == "cam01"
        for tr in c.tracks:
            ticks = np.round((c.start_time + tr.times - c.meta["take_start_time"]) * sc.rate_hz).astype(int)
            np.testing.assert_allclose(tr.centers, wearer_box_centers(sc.ego.centers[ticks]), atol=1e-4)
            np.testing.assert_allclose(tr.size, np.tile(WEARER_SIZE, (len(ticks), 1)))
    assert sum(len(t.boxes_2d) for c in exo for t in c.tracks) >= 5
    with pytest.raises(ValueError, match="view must be"):
        list(load_clips("egoexo4d", root, sc.split, view="top"))
