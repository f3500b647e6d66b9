"""Dataset sources on the mini world: round trips through the real devkits, and bad input.

Round trip: the clips read back through each reader carry the generator's true world-frame centres (1e-4 m), the true
timestamps, the true camera poses, and 2D boxes equal to the true boxes projected through the true cameras (0.5 px);
every agent the true projection shows long and large enough is there, and nothing else.
Bad input: a broken clip is skipped with its reason, the rest loads, and the summary counts it; a missing root raises an
error naming the path and the layout.
"""
from __future__ import annotations
import json, shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.feather as pf
import pytest

from st_vlm_repro.clips import (
    Clip,
    DatasetRootError,
    VisibilityFilter,
    box_corners,
    cut_windows,
    load_clips,
    project_boxes,
)
from st_vlm_repro.mini_world import interp_agent, load_ground_truth, make_mini_world, token, uuid_for
from st_vlm_repro.sources import nuscenes as nus
from st_vlm_repro.sources.argoverse2 import AV2_CATEGORY

SOURCES = {"nuscenes": "front", "argoverse2": "front_portrait"}


@pytest.fixture(scope="module")
def world(mini_world):
    return mini_world


def _agent_ids(source, scene):
    "Track id in the source's format → ground-truth agent."
    if source == "nuscenes":
        return {token(scene.scene_id, "instance", a.agent_id): a for a in scene.agents}
    return {uuid_for("av2", scene.scene_id, a.agent_id, AV2_CATEGORY[a.category]): a for a in scene.agents}


def _read(source, root, split, **kw):
    nus._nusc.cache_clear()
    return load_clips(source, root / source, split, verbose=False, **kw)


@pytest.mark.parametrize("source", list(SOURCES))
def test_round_trip(world, source):
    index, scenes = load_ground_truth(world)
    by_ds_id = {d["ids"][source]: scenes[d["scene_id"]] for d in index["scenes"] if source in d["ids"]}
    vis = VisibilityFilter()
    n_clips = n_tracks = n_boxes = 0
    for split in ("train", "val"):
        stream = _read(source, world, split)
        clips = list(stream)
        assert stream.report.n_skipped == 0, stream.report
        want_scenes = [s for s in scenes.values() if s.split == split and s.domain == "driving"]   # the driving ones
        # clip cutting: every scene of the split, cut into 40-frame windows of its 0.5 s grid
        want = sum(len(cut_windows(int(round(s.duration / 0.5)) + 1)) for s in want_scenes)
        assert len(clips) == want and want > 0
        for c in clips:
            assert Clip.model_validate_json(c.model_dump_json()) == c
            sc = by_ds_id[c.scene_id]
            assert sc.split == split
            off = round((c.start_time - sc.t0_us * 1e-6) * sc.rate_hz) / sc.rate_hz       # clip start in scene time
            ticks = np.round((off + c.frame_times) * sc.rate_hz).astype(int)
            # timestamps: the dataset's own clock matches the scene's
            if source == "nuscenes":
                assert c.meta["timestamps_us"] == [int(sc.t0_us + round(sc.times[i] * 1e6)) for i in ticks]
            else:
                assert c.meta["sweep_timestamps_ns"] == [int(sc.t0_us * 1000 + round(sc.times[i] * 1e9)) for i in ticks]
                assert [int(Path(f).stem) for f in c.frames] == c.meta["sweep_timestamps_ns"]
            assert all(Path(f).is_file() for f in c.frames)
            cam = sc.cameras[SOURCES[source]]
            np.testing.assert_allclose(c.world_from_camera, sc.world_from_camera(SOURCES[source], ticks), atol=1e-6)
            np.testing.assert_allclose(c.intrinsics, np.repeat(cam.K[None], len(ticks), 0), atol=1e-9)
            assert c.image_size == (cam.width, cam.height)
            # tracks: exactly the agents the true projection shows long and large enough
            ids = _agent_ids(source, sc)
            expected = set()
            for tid, a in ids.items():
                inside = (off + c.frame_times >= a.times[0] - 1e-9) & (off + c.frame_times <= a.times[-1] + 1e-9)
                if inside.sum() < 2:
                    continue
                k = np.flatnonzero(inside)
                ctr, yaw = interp_agent(a, off + c.frame_times[k])
                b = project_boxes(box_corners(ctr, np.tile(a.size, (len(k), 1)), yaw), c.world_from_camera[k],
                                  c.intrinsics[k], c.image_size)
                if vis.span(b) is not None:
                    expected.add(tid)
            assert {t.track_id for t in c.tracks} == expected
            for tr in c.tracks:
                a = ids[tr.track_id]
                n_tracks += 1
                assert tr.category == a.category and tr.label_source == "lidar"
                ctr, yaw = interp_agent(a, off + tr.times)
                np.testing.assert_allclose(tr.centers, ctr, atol=1e-4)
                np.testing.assert_allclose(tr.size, np.tile(a.size, (len(tr.times), 1)), atol=1e-6)
                assert np.abs(np.angle(np.exp(1j * (tr.yaw - yaw)))).max() < 1e-6
                k = np.array(sorted(tr.boxes_2d))
                assert len(k) >= vis.min_visible_frames
                ctr, yaw = interp_agent(a, off + c.frame_times[k])
                true = project_boxes(box_corners(ctr, np.tile(a.size, (len(k), 1)), yaw),
                                     sc.world_from_camera(SOURCES[source], ticks[k]), np.repeat(cam.K[None], len(k), 0),
                                     (cam.width, cam.height))
                np.testing.assert_allclose(np.array([tr.boxes_2d[i] for i in k]), true, atol=0.5)
                n_boxes += len(k)
            n_clips += 1
    assert n_clips >= 5 and n_tracks >= 10 and n_boxes >= 100, (n_clips, n_tracks, n_boxes)


def test_same_seed_same_bytes(tmp_path):
    for d in ("a", "b"):
        make_mini_world(tmp_path / d, n_scenes=1, seed=3, formats=["nuscenes", "argoverse2"], n_sports=1)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) > 30
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f


# ---------------------------------------------------------------- bad input

@pytest.fixture
def bad(world, tmp_path):
    dst = tmp_path / "w"
    for s in SOURCES:
        shutil.copytree(world / s, dst / s)
    return dst


def _n(world, source, split):
    return len(list(_read(source, world, split)))


def _nusc_tables(root):
    return {p.stem: json.loads(p.read_text()) for p in (root / "nuscenes/v1.0-trainval").glob("*.json")}


def _nusc_write(root, name, recs):
    (root / "nuscenes/v1.0-trainval" / f"{name}.json").write_text(json.dumps(recs))


def _first_scene_samples(T, name=None):
    sc = (
        sorted(T["scene"], key=lambda s: s["name"])[0]
        if name is None
        else next(s for s in T["scene"] if s["name"] == name)
    )
    return sc, [s for s in T["sample"] if s["scene_token"] == sc["token"]]


def _expect_one_skip(world, bad, source, split, reason, contains=""):
    s = _read(source, bad, split)
    clips = list(s)
    assert s.report.skipped == {reason: 1}, s.report
    assert len(clips) == _n(world, source, split) - 1 and s.report.done == len(clips)
    if contains:
        assert contains in s.report.examples[reason][0], s.report.examples
    assert reason in repr(s.report)


def test_nuscenes_corrupt_and_missing_image(world, bad):
    T = _nusc_tables(bad)
    sc, samples = _first_scene_samples(T)
    sds = [d for d in T["sample_data"] if d["sample_token"] in {s["token"] for s in samples}]
    (bad / "nuscenes" / sds[3]["filename"]).write_bytes(b"\xff\xd8\xff garbage")
    _expect_one_skip(world, bad, "nuscenes", "train", "corrupt image", sds[3]["filename"].split("/")[-1])
    (bad / "nuscenes" / sds[3]["filename"]).unlink()
    _expect_one_skip(world, bad, "nuscenes", "train", "missing image", "does not exist")


def test_nuscenes_pose_missing(world, bad):
    T = _nusc_tables(bad)
    sc, samples = _first_scene_samples(T)
    sd = next(d for d in T["sample_data"] if d["sample_token"] == samples[7]["token"])
    _nusc_write(bad, "ego_pose", [e for e in T["ego_pose"] if e["token"] != sd["ego_pose_token"]])
    _expect_one_skip(world, bad, "nuscenes", "train", "pose missing", sd["ego_pose_token"])


def _visible_instance(world, source, split="train"):
    "A track id of the first clip of `split` with its clip, to break on purpose."
    c = next(iter(_read(source, world, split)))
    tr = max(c.tracks, key=lambda t: len(t.boxes_2d))
    return c, tr


def test_nuscenes_nan_and_gap(world, bad):
    c, tr = _visible_instance(world, "nuscenes")
    T = _nusc_tables(bad)
    anns = [a for a in T["sample_annotation"] if a["instance_token"] == tr.track_id]
    mid = anns[len(anns) // 2]["token"]
    recs = [dict(a, translation=[float("nan"), 0, 0]) if a["token"] == mid else a for a in T["sample_annotation"]]
    _nusc_write(bad, "sample_annotation", recs)     # json writes NaN, and the devkit's json.load reads it
    _expect_one_skip(world, bad, "nuscenes", "train", "NaN in track", tr.track_id)
    # a 2 s hole (4 keyframes) in the middle of the visible span
    k0 = len(anns) // 2 - 2
    drop = {a["token"] for a in anns[k0:k0 + 4]}
    _nusc_write(bad, "sample_annotation", [a for a in T["sample_annotation"] if a["token"] not in drop])
    _expect_one_skip(world, bad, "nuscenes", "train", "track gap", tr.track_id)
    s = _read("nuscenes", bad, "train", on_gap="split")
    clips = list(s)
    assert s.report.n_skipped == 0 and any(t.track_id.startswith(tr.track_id + "~") for c in clips for t in c.tracks)


def test_nuscenes_missing_table_and_root(world, bad, tmp_path):
    with pytest.raises(DatasetRootError, match="nope.*does not exist(?s:.*)sample_annotation"):
        load_clips("nuscenes", tmp_path / "nope", "train")
    with pytest.raises(DatasetRootError, match="v1.0-mini"):
        load_clips("nuscenes", bad / "nuscenes", "mini_train")
    (bad / "nuscenes/v1.0-trainval/instance.json").unlink()
    with pytest.raises(DatasetRootError, match="instance.json"):
        list(_read("nuscenes", bad, "train"))
    with pytest.raises(ValueError, match="unknown split"):
        list(_read("nuscenes", world, "trian"))


def _av2_logs(root, split):
    return sorted(p for p in (root / "argoverse2" / split).iterdir() if p.is_dir())


def test_av2_missing_files(world, bad):
    log, log2 = _av2_logs(bad, "train")[:2]
    n_all, n_log = _n(world, "argoverse2", "train"), len(list(_read("argoverse2", world, "train", logs=[log.name])))
    (log / "annotations.feather").unlink()
    s = _read("argoverse2", bad, "train")
    clips = list(s)
    assert s.report.skipped == {"missing file": 1} and len(clips) == n_all - n_log >= 1
    assert log.name not in {c.scene_id for c in clips} and "annotations.feather" in s.report.examples["missing file"][0]
    (log2 / "city_SE3_egovehicle.feather").unlink()
    s = _read("argoverse2", bad, "train")
    clips = list(s)
    n_log2 = len(list(_read("argoverse2", world, "train", logs=[log2.name])))
    assert s.report.skipped == {"missing file": 1 + n_log2} and len(clips) == n_all - n_log - n_log2
    assert any("city_SE3_egovehicle" in e for e in s.report.examples["missing file"])


def test_av2_pose_missing_and_corrupt_image(world, bad):
    log = _av2_logs(bad, "train")[0]
    t = pf.read_table(log / "city_SE3_egovehicle.feather")
    pf.write_feather(pa.concat_tables([t.slice(0, 40), t.slice(41)]), str(log / "city_SE3_egovehicle.feather"))
    n_log = len(list(_read("argoverse2", world, "train", logs=[log.name])))
    s = _read("argoverse2", bad, "train")
    clips = list(s)
    assert s.report.skipped == {"pose missing": 1} and len(clips) == _n(world, "argoverse2", "train") - 1
    assert "city_SE3_egovehicle has no row" in s.report.examples["pose missing"][0] and n_log >= 1
    img = sorted((_av2_logs(bad, "val")[0] / "sensors/cameras/ring_front_center").glob("*.jpg"))[4]
    img.write_bytes(img.read_bytes()[:200])
    _expect_one_skip(world, bad, "argoverse2", "val", "corrupt image", img.name)


def test_av2_nan_annotation_and_missing_root(world, bad, tmp_path):
    c, tr = _visible_instance(world, "argoverse2")
    p = bad / "argoverse2/train" / c.scene_id / "annotations.feather"
    t = pf.read_table(p)
    # a labelled time of the first clip, far from the next clip
    k = int(np.argmin(np.abs(tr.times - 5.0)))
    ts_nan = c.meta["sweep_timestamps_ns"][int(round(tr.times[k] / 0.5))]
    row = np.flatnonzero((np.asarray(t.column("track_uuid").to_pylist()) == tr.track_id) &
                         (t.column("timestamp_ns").to_numpy() == ts_nan))
    assert len(row) == 1
    tx = t.column("tx_m").to_numpy().copy()
    tx[row] = np.nan
    pf.write_feather(t.set_column(t.column_names.index("tx_m"), "tx_m", pa.array(tx)), str(p))
    _expect_one_skip(world, bad, "argoverse2", "train", "NaN in track", tr.track_id)
    with pytest.raises(DatasetRootError, match="(?s)test does not exist.*annotations.feather"):
        load_clips("argoverse2", bad / "argoverse2", "test")


def _drop_keyframe(root, k):
    "Remove keyframe `k` of the first train scene as a log with a dropped sample has it: neighbours linked, data gone."
    T = _nusc_tables(root)
    sc, samples = _first_scene_samples(T)
    gone = samples[k]
    for s in T["sample"]:
        if s["token"] == gone["prev"]:
            s["next"] = gone["next"]
        if s["token"] == gone["next"]:
            s["prev"] = gone["prev"]
    _nusc_write(root, "sample", [s for s in T["sample"] if s["token"] != gone["token"]])
    for t in ("sample_data", "sample_annotation"):
        _nusc_write(root, t, [r for r in T[t] if r["sample_token"] != gone["token"]])
    return sc


def test_nuscenes_missing_keyframe(world, bad):
    sc = _drop_keyframe(bad, 12)
    s = _read("nuscenes", bad, "train")
    clips = list(s)
    assert s.report.skipped == {"keyframe gap": 1}, s.report
    assert "1.000 s between keyframes 11 and 12" in s.report.examples["keyframe gap"][0]
    mine = [c for c in clips if c.scene_id == sc["name"]]
    assert [c.clip_id.rsplit("/", 1)[1] for c in mine][:2] == ["00", "12"]
    for c in clips:                                          # frame times are the real keyframe times, never the gap
        ts = np.array(c.meta["timestamps_us"])
        np.testing.assert_allclose((ts - ts[0]) * 1e-6, c.frame_times, atol=1e-6)
    assert sum(len(c.frame_times) for c in mine) == sum(len(c.frame_times) for c in _read("nuscenes", world, "train")
                                                        if c.scene_id == sc["name"]) - 1


def test_nuscenes_malformed_metadata(world, bad):
    from st_vlm_repro.clips import MetadataError
    T = _nusc_tables(bad)
    sc, samples = _first_scene_samples(T)
    cut = samples[20]["token"]
    _nusc_write(bad, "sample", [dict(s, next="d" * 32) if s["token"] == cut else s for s in T["sample"]])
    s = _read("nuscenes", bad, "train")
    clips = list(s)                # a dangling `next`: the scene ends before it
    assert s.report.skipped == {"dangling token": 1} and "d" * 32 in s.report.examples["dangling token"][0], s.report
    assert sum(len(c.frame_times) for c in clips if c.scene_id == sc["name"]) == 21
    _nusc_write(bad, "sample", T["sample"])
    sd = next(d for d in T["sample_data"] if d["sample_token"] == samples[3]["token"])
    hostile = [dict(d, filename="../../../../etc/hostname") if d is sd else d for d in T["sample_data"]]
    _nusc_write(bad, "sample_data", hostile)
    _expect_one_skip(world, bad, "nuscenes", "train", "unsafe path", "refused")
    (bad / "nuscenes/v1.0-trainval/ego_pose.json").write_text('[{"token": "a", ')
    with pytest.raises(MetadataError, match=r"ego_pose.json: not valid JSON"):
        list(_read("nuscenes", bad, "train"))
    _nusc_write(bad, "ego_pose", [{"timestamp": 0}])
    with pytest.raises(MetadataError, match="KeyError 'token'"):
        list(_read("nuscenes", bad, "train"))


def test_av2_unsafe_log_id(world):
    s = _read("argoverse2", world, "train", logs=["../../../etc"])
    assert list(s) == []
    assert s.report.skipped == {"unsafe path": 1}, s.report
