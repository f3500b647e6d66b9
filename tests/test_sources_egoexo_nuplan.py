"""Round trips and bad input for the Ego-Exo4D and nuPlan readers on the mini world."""
import json, shutil, sqlite3

import numpy as np
import pandas as pd
import pytest

from st_vlm_repro.clips import DatasetRootError, STEP, box_corners, load_clips, map_category, project_boxes
from st_vlm_repro.mini_world import interp_agent, load_ground_truth, token
from projectaria_tools.core import calibration, mps
from st_vlm_repro.sources.egoexo4d import EGO_FROM_DEVICE, pinhole_K, rgb_video_calibration, upright_pinhole
from st_vlm_repro.sources.nuplan import NUPLAN_CATEGORY


@pytest.fixture(scope="module")
def world(mini_world):
    return mini_world, load_ground_truth(mini_world)


def _frames(tmp_path): return dict(frames_dir=tmp_path / "frames")


# ---------------------------------------------------------------- Ego-Exo4D
def test_egoexo4d_round_trip(world, tmp_path):
    root, (index, scenes) = world
    ids = {d["ids"]["egoexo4d"]: d["scene_id"] for d in index["scenes"] if "egoexo4d" in d["ids"]}
    n = 0
    for split in ("train", "val"):
        for c in load_clips("egoexo4d", root / "egoexo4d", split, stride=8, verbose=False, **_frames(tmp_path)):
            sc = scenes[ids[c.scene_id]]
            assert sc.split == split
            st = c.start_time + c.frame_times - c.meta["take_start_time"]
            ticks = np.round(st * sc.rate_hz).astype(int)
            np.testing.assert_allclose(st, sc.times[ticks], atol=1e-6)                  # timestamps
            w = c.track("wearer")
            assert (w.category, w.label_source, c.domain, w.boxes_2d) == ("pedestrian", "slam", "sports", {})
            np.testing.assert_allclose(w.times, c.frame_times)
            np.testing.assert_allclose(w.centers, sc.ego.centers[ticks], atol=1e-4)     # world-frame centres
            np.testing.assert_allclose(c.world_from_camera, sc.world_from_camera("head", ticks), atol=1e-6)
            np.testing.assert_allclose(c.intrinsics, np.repeat(sc.cameras["head"].K[None], len(ticks), 0))
            assert all(len(open(f, "rb").read()) > 1000 for f in c.frames)
            n += 1
    assert n >= 4


def test_egoexo4d_official_readers(world):
    "The files parse with projectaria_tools' own MPS readers; its calibration objects give the mini world's camera."
    root, (index, scenes) = world
    take = json.loads((root / "egoexo4d" / "takes.json").read_text())[0]
    sc = scenes[take["mini_world_scene_id"]]
    d = root / "egoexo4d" / take["root_dir"] / "trajectory"
    traj = mps.read_closed_loop_trajectory(str(d / "closed_loop_trajectory.csv"))
    # 1 kHz; the reader returns [] on a bad file
    assert len(traj) == round(sc.duration * 1000) + 1
    p = traj[500]
    assert p.tracking_timestamp.total_seconds() == pytest.approx(
        traj[0].tracking_timestamp.total_seconds() + 0.5, abs=1e-9
    )
    np.testing.assert_allclose(p.transform_world_device.to_matrix(), sc.world_from_ego[10] @ EGO_FROM_DEVICE, atol=1e-6)
    cal = mps.read_online_calibration(str(d / "online_calibration.jsonl"))
    cam = cal[0].get_camera_calib("camera-rgb")                                  # the fisheye at the sensor's 2880 px
    assert cam.get_model_name() == calibration.CameraModelType.FISHEYE624 and list(cam.get_image_size()) == [2880, 2880]
    raw, up = upright_pinhole(rgb_video_calibration(cam, sc.cameras["head"].width))
    np.testing.assert_allclose(p.transform_world_device.to_matrix() @ up.get_transform_device_camera().to_matrix(),
                               sc.world_from_camera("head", 10), atol=1e-6)
    np.testing.assert_allclose(pinhole_K(up), sc.cameras["head"].K, atol=1e-6)


def test_egoexo4d_bad_input(world, tmp_path):
    root, (index, scenes) = world
    bad = tmp_path / "ee"
    shutil.copytree(root / "egoexo4d", bad)
    takes = json.loads((bad / "takes.json").read_text())
    val = [
        t
        for t in takes
        if json.loads((bad / "annotations/splits.json").read_text())["take_uid_to_split"][t["take_uid"]] == "val"
    ][0]
    good = list(load_clips("egoexo4d", root / "egoexo4d", "val", stride=8, verbose=False, **_frames(tmp_path)))
    csv = bad / val["root_dir"] / "trajectory" / "closed_loop_trajectory.csv"
    df = pd.read_csv(csv)
    df = df[
        (df.tracking_timestamp_us - df.tracking_timestamp_us[0] < 4_000_000)
        | (df.tracking_timestamp_us - df.tracking_timestamp_us[0] > 6_000_000)
    ]
    # 2 s without poses → pose missing
    df.to_csv(csv, index=False)
    cs = load_clips("egoexo4d", bad, "val", stride=8, verbose=False, **_frames(tmp_path))
    got = list(cs)
    assert cs.report.skipped.get("pose missing", 0) >= 1
    assert "within 0.005 s" in cs.report.examples["pose missing"][0]
    assert len(got) + cs.report.n_skipped == len(good)
    csv.unlink()                                                                        # missing file
    cs = load_clips("egoexo4d", bad, "val", stride=8, verbose=False, **_frames(tmp_path))
    assert list(cs) == []
    assert (
        cs.report.skipped == {"missing file": len(good)}
        and "closed_loop_trajectory.csv" in cs.report.examples["missing file"][0]
    )
    # a corrupt video skips its take, the train take still loads
    tr = [t for t in takes if t not in [val]][0]
    (bad / tr["root_dir"] / "frame_aligned_videos" / "aria01_214-1.mp4").write_bytes(b"\x00" * 1000)
    cs = load_clips("egoexo4d", bad, "train", verbose=False, **_frames(tmp_path))
    assert list(cs) == []
    assert set(cs.report.skipped) == {"corrupt video"}
    with pytest.raises(DatasetRootError, match="takes.json"):
        load_clips("egoexo4d", tmp_path / "nowhere", "train")
    (bad / "takes.json").unlink()
    with pytest.raises(DatasetRootError, match=r"takes.json does not exist(.|\n)*timesync.csv"):
        load_clips("egoexo4d", bad, "train")


# ---------------------------------------------------------------- nuPlan
def test_nuplan_round_trip(world):
    root, (index, scenes) = world
    n_boxes = n = 0
    by_log = {d["ids"]["nuplan"]: scenes[d["scene_id"]] for d in index["scenes"] if "nuplan" in d["ids"]}
    for split in ("train", "val"):
        for c in load_clips("nuplan", root / "nuplan", split, stride=8, verbose=False):
            sc = by_log[c.scene_id]
            assert sc.split == split and sc.domain == "driving"
            st = c.start_time + c.frame_times - sc.t0_us * 1e-6
            ticks = np.round(st * sc.rate_hz).astype(int)
            np.testing.assert_allclose(st, sc.times[ticks], atol=1e-6)
            assert c.meta["timestamps_us"] == [int(sc.t0_us + round(sc.times[k] * 1e6)) for k in ticks]
            np.testing.assert_allclose(c.world_from_camera, sc.world_from_camera("front", ticks), atol=1e-6)
            by_tok = {token(sc.scene_id, "track", a.agent_id)[:16]: a for a in sc.agents}
            for tr in c.tracks:
                ag = by_tok[tr.track_id]
                k = np.round(tr.times / STEP).astype(int)
                ctr, yaw = interp_agent(ag, st[k])
                np.testing.assert_allclose(tr.centers, ctr, atol=1e-4)
                np.testing.assert_allclose(tr.size, np.tile(ag.size, (len(k), 1)), atol=1e-9)
                assert (
                    tr.category == map_category("nuplan", NUPLAN_CATEGORY[ag.category]) and tr.label_source == "lidar"
                )
                bx = project_boxes(
                    box_corners(ctr, np.tile(ag.size, (len(k), 1)), yaw),
                    sc.world_from_camera("front", ticks[k]),
                    np.repeat(sc.cameras["front"].K[None], len(k), 0),
                    c.image_size,
                )
                for fi, b in tr.boxes_2d.items():
                    np.testing.assert_allclose(b, bx[list(k).index(fi)], atol=0.5)
                    n_boxes += 1
            n += 1
    assert n >= 4 and n_boxes > 20


def _db(root, split): return sorted((root / "nuplan-v1.1" / "splits" / split).glob("*.db"))[0]


def test_nuplan_bad_input(world, tmp_path):
    root, (index, scenes) = world
    bad = tmp_path / "np"
    shutil.copytree(root / "nuplan", bad)
    n_good = len(list(load_clips("nuplan", root / "nuplan", "train", stride=8, verbose=False)))
    con = sqlite3.connect(_db(bad, "train"))
    ts = [r[0] for r in con.execute("SELECT timestamp FROM image ORDER BY timestamp")]
    # a pose missing at one image timestamp (t0 + 1 s): only the clips containing that frame are skipped
    tok, = con.execute("SELECT ego_pose_token FROM image WHERE timestamp = ?", (ts[10],)).fetchone()
    con.execute("DELETE FROM ego_pose WHERE token = ?", (tok,))
    # a track with a 3 s gap inside the log, and one with a NULL (NaN) centre
    tracks = [
        r[0]
        for r in con.execute("SELECT track_token, COUNT(*) AS n FROM lidar_box GROUP BY track_token ORDER BY n DESC")
    ]
    con.execute(
        "DELETE FROM lidar_box WHERE track_token = ? AND lidar_pc_token IN "
        "(SELECT token FROM lidar_pc WHERE timestamp BETWEEN ? AND ?)",
        (tracks[0], ts[0] + 21_000_000, ts[0] + 24_000_000),
    )
    con.commit()
    con.close()
    cs = load_clips("nuplan", bad, "train", stride=8, verbose=False)
    got = list(cs)
    assert cs.report.skipped.get("pose missing", 0) >= 1, cs.report
    assert "not in table ego_pose" in cs.report.examples["pose missing"][0]
    assert len(got) >= 1 and len(got) + cs.report.n_skipped == n_good
    # NaN centre
    con = sqlite3.connect(_db(bad, "val"))
    tr, = con.execute("SELECT track_token FROM lidar_box GROUP BY track_token ORDER BY COUNT(*) DESC").fetchone()
    con.execute(
        "UPDATE lidar_box SET x = NULL WHERE token = "
        "(SELECT token FROM lidar_box WHERE track_token = ? LIMIT 1 OFFSET 30)",
        (tr,),
    )
    con.commit()
    con.close()
    vgood = len(list(load_clips("nuplan", root / "nuplan", "val", stride=8, verbose=False)))
    cs = load_clips("nuplan", bad, "val", stride=8, verbose=False)
    got = list(cs)
    assert set(cs.report.skipped) <= {"NaN in track"} and len(got) + cs.report.n_skipped == vgood
    # missing table and a file that is not a database
    con = sqlite3.connect(_db(bad, "val"))
    con.execute("DROP TABLE ego_pose")
    con.commit()
    con.close()
    cs = load_clips("nuplan", bad, "val", verbose=False)
    assert list(cs) == [] and cs.report.skipped == {"missing table": 1}
    _db(bad, "val").write_bytes(b"garbage" * 100)
    cs = load_clips("nuplan", bad, "val", verbose=False)
    assert list(cs) == [] and cs.report.skipped == {"corrupt log": 1}
    with pytest.raises(DatasetRootError, match=r"nowhere does not exist(.|\n)*sensor_blobs"):
        load_clips("nuplan", tmp_path / "nowhere", "val")


def test_nuplan_track_gap(world, tmp_path):
    root, (index, scenes) = world
    bad = tmp_path / "gap"
    shutil.copytree(root / "nuplan", bad)
    con = sqlite3.connect(_db(bad, "train"))
    ts = [r[0] for r in con.execute("SELECT timestamp FROM lidar_pc ORDER BY timestamp")]
    c0 = next(iter(load_clips("nuplan", root / "nuplan", "train", verbose=False)))
    tr = bytes.fromhex(max(c0.tracks, key=lambda t: len(t.times)).track_id)
    t_mid = int(round((c0.start_time + c0.track(tr.hex()).times[len(c0.track(tr.hex()).times) // 2]) * 1e6))
    con.execute(
        "DELETE FROM lidar_box WHERE track_token = ? AND lidar_pc_token IN "
        "(SELECT token FROM lidar_pc WHERE timestamp BETWEEN ? AND ?)",
        (tr, t_mid - 1_000_000, t_mid + 1_000_000),
    )
    con.commit()
    con.close()
    cs = load_clips("nuplan", bad, "train", verbose=False)
    list(cs)
    assert cs.report.skipped.get("track gap", 0) >= 1, cs.report


class _RunsCode:
    "A pickle that would run a shell command when loaded with plain `pickle.loads`."
    def __init__(self, target): self.target = target
    def __reduce__(self):
        import os
        return (os.system, (f"touch {self.target}",))


def test_nuplan_hostile_blob_and_path(world, tmp_path):
    import pickle
    from st_vlm_repro.sources.nuplan import unpickle_blob, nuplan_pickle
    root, _ = world
    target = tmp_path / "pwned"
    with pytest.raises(pickle.UnpicklingError, match="refused class"):
        unpickle_blob(pickle.dumps(_RunsCode(target)))
    assert unpickle_blob(nuplan_pickle("Rotation", [1, 0, 0, 0])) == [1, 0, 0, 0]
    assert unpickle_blob(pickle.dumps([0.0] * 5)) == [0.0] * 5                         # the plain distortion list
    bad = tmp_path / "np"
    shutil.copytree(root / "nuplan", bad)
    for other in sorted((bad / "nuplan-v1.1" / "splits" / "train").glob("*.db"))[1:]:
        other.unlink()   # one train log, whose every clip the hostile camera row must stop
    for col in ("translation", "rotation", "intrinsic"):
        con = sqlite3.connect(_db(bad, "train"))
        con.execute(f"UPDATE camera SET {col} = ?", (pickle.dumps(_RunsCode(target)),))
        con.commit()
        con.close()
        cs = load_clips("nuplan", bad, "train", verbose=False)
        assert list(cs) == [] and cs.report.skipped == {"unsafe pickle": 1} and not target.exists()
    con = sqlite3.connect(_db(bad, "val"))
    con.execute("UPDATE image SET filename_jpg = '/etc/hostname'")
    con.commit()
    con.close()
    cs = load_clips("nuplan", bad, "val", verbose=False)
    assert list(cs) == [] and set(cs.report.skipped) == {"unsafe path"}
    assert "refused" in next(iter(cs.report.examples["unsafe path"]))
