"STKit end to end on the mini world: build through the real readers, render, resume after a kill, Ray, CLI."
import json, os, signal, subprocess, sys, time
from pathlib import Path

import numpy as np
import pytest

from st_vlm_repro.clips import load_clips
from st_vlm_repro.core import iter_jsonl
from st_vlm_repro.mini_world import make_mini_world
from st_vlm_repro.stkit import TASKS, DIRECTION_TASKS, QARecord, build_stkit, check_split_separation
from st_vlm_repro.visual_prompts import read_video_frames

CLI = str(Path(sys.executable).parent/"st-vlm-repro")


@pytest.fixture(scope="module")
def world(mini_world):
    return mini_world


def _cli_build(world, out, *extra):
    return [CLI, "stkit", "build", "--source", "nuscenes", "--root", str(world/"nuscenes"), "--split", "train",
            "--out", str(out), "--shard-size", "1", "--workers", "1", *extra]


def test_build_renders_valid_records(world, tmp_path):
    s = build_stkit(load_clips("nuscenes", world/"nuscenes", "train", verbose=False), tmp_path, "nuscenes-train",
                    n_workers=1, progress=False)
    recs = [QARecord(**r) for r in iter_jsonl(tmp_path/"nuscenes-train.jsonl")]
    assert s["records"] == len(recs) > 0 and set(s["skipped"]) <= {"no askable object"}
    assert {r.task for r in recs} >= {"traveled_distance", "traveling_speed", "movement_direction"}
    for v in {r.video for r in recs}:
        frames, times = read_video_frames(tmp_path/v)
        r = next(r for r in recs if r.video == v)
        assert len(frames) == len(r.frame_times)
        np.testing.assert_allclose(times, r.frame_times, atol=0.02)
    for r in recs:  # the question carries the paper's common prompt for this video's frames and colours
        assert r.question.startswith(
            f"The video lasts for {r.frame_times[-1] - r.frame_times[0]:.1f} seconds, and {len(r.frame_times)} frames"
        )
        assert all(o.colour in r.question for o in r.objects)


def test_interrupted_build_resumes_byte_identical(world, tmp_path):
    ref, out = tmp_path/"ref", tmp_path/"killed"
    subprocess.run(_cli_build(world, ref), check=True, capture_output=True)
    n_shards = len(list((ref/"shards"/"nuscenes-train").glob("*.jsonl")))
    assert n_shards >= 2, "the world must give several shards for this test"
    p = subprocess.Popen(_cli_build(world, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shards = out/"shards"/"nuscenes-train"
    for _ in range(6000):
        if p.poll() is not None or (shards.exists() and any(shards.glob("*.jsonl"))):
            break
        time.sleep(0.01)
    p.send_signal(signal.SIGKILL)
    p.wait()
    done_at_kill = len(list(shards.glob("*.jsonl")))
    if done_at_kill < n_shards:
        assert not (out/"nuscenes-train.jsonl").exists()   # killed mid-way: no final file
    r = subprocess.run(_cli_build(world, out), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (out/"nuscenes-train.jsonl").read_bytes() == (ref/"nuscenes-train.jsonl").read_bytes()
    assert json.loads(r.stdout)["records"] > 0
    assert not list(out.rglob("*.tmp"))   # no temporary file survives


def test_ray_build_equals_local(world, tmp_path):
    clips = list(load_clips("nuscenes", world/"nuscenes", "train", verbose=False))
    build_stkit(clips, tmp_path/"a", "p", render=False, n_workers=1, shard_size=1, progress=False)
    build_stkit(clips, tmp_path/"b", "p", render=False, ray_address="local", shard_size=1, progress=False)
    assert (tmp_path/"a"/"p.jsonl").read_bytes() == (tmp_path/"b"/"p.jsonl").read_bytes()


def test_split_separation_and_sports_have_no_direction_tasks(world, tmp_path):
    for split in ("train", "val"):
        build_stkit(load_clips("nuscenes", world/"nuscenes", split, verbose=False), tmp_path, f"nuscenes-{split}",
                    render=False, n_workers=1, progress=False)
    per_split = check_split_separation(tmp_path)
    assert set(per_split) == {"train", "val"}
    clips = list(load_clips("nuscenes", world/"nuscenes", "train", verbose=False))
    sports = [c.model_copy(update=dict(domain="sports", clip_id=c.clip_id + "-s")) for c in clips]
    build_stkit(sports, tmp_path/"sports", "x", render=False, n_workers=1, progress=False)
    tasks = {r["task"] for r in iter_jsonl(tmp_path/"sports"/"x.jsonl")}
    assert tasks and not tasks & set(DIRECTION_TASKS)


def test_rerun_with_other_settings_refuses_or_equals_fresh(world, tmp_path):
    "The build manifest: another shard size or seed is refused naming the difference; --overwrite equals a fresh build."
    out, fresh = tmp_path/"out", tmp_path/"fresh"
    subprocess.run(_cli_build(world, out), check=True, capture_output=True)
    ref = (out/"nuscenes-train.jsonl").read_bytes()
    for extra, differs in [(["--shard-size", "2"], "shard_size: 1 -> 2"), (["--seed", "1"], "seed: 0 -> 1")]:
        r = subprocess.run(_cli_build(world, out, *extra), capture_output=True, text=True)   # a later --shard-size wins
        assert r.returncode == 1 and differs in r.stderr and "--overwrite" in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and (out/"nuscenes-train.jsonl").read_bytes() == ref
    r = subprocess.run(_cli_build(world, out, "--seed", "1", "--overwrite"), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    subprocess.run(_cli_build(world, fresh, "--seed", "1"), check=True, capture_output=True)
    assert (out/"nuscenes-train.jsonl").read_bytes() == (fresh/"nuscenes-train.jsonl").read_bytes() != ref


def test_bad_numbers_and_formats_rejected_up_front(world, tmp_path):
    "--shard-size 0 and --video-fmt mp5 stop before anything is written; a later mp4 build of the folder works."
    out = tmp_path/"out"
    for extra, says in [(["--video-fmt", "mp5"], "--video-fmt"), (["--workers", "-1"], "--workers")]:
        r = subprocess.run(_cli_build(world, out, *extra), capture_output=True, text=True)
        assert r.returncode == 2 and says in r.stderr and not out.exists(), r.stderr
    cmd = _cli_build(world, out)
    cmd[cmd.index("--shard-size") + 1] = "0"
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 2 and "--shard-size" in r.stderr and not out.exists(), r.stderr
    r = subprocess.run(_cli_build(world, out), capture_output=True, text=True)
    assert r.returncode == 0 and json.loads(r.stdout)["records"] > 0, r.stderr


def test_deleted_video_is_rendered_again_and_lock_stops_a_second_build(world, tmp_path):
    from st_vlm_repro.stkit import build_lock
    out = tmp_path/"out"
    subprocess.run(_cli_build(world, out), check=True, capture_output=True)
    vid = out/next(iter_jsonl(out/"nuscenes-train.jsonl"))["video"]
    size = vid.stat().st_size
    vid.unlink()
    r = subprocess.run(_cli_build(world, out), capture_output=True, text=True)
    assert r.returncode == 0 and vid.stat().st_size == size, r.stderr
    with build_lock(out/"shards"/"nuscenes-train"):
        r = subprocess.run(_cli_build(world, out), capture_output=True, text=True)
    assert r.returncode == 1 and "another build is writing" in r.stderr and str(os.getpid()) in r.stderr, r.stderr


def test_profile_pipelines_rebuild_when_settings_change(tmp_path):
    "The profile's pseudo-labelled STKit follows its settings: another n_pseudo_videos or corruption is made again."
    from st_vlm_repro.core import load_settings, read_jsonl
    from st_vlm_repro.pseudo_backends import build_profile_pseudo_stkit
    cfg = load_settings("mini", data_dir=str(tmp_path), n_pseudo_videos=1, n_workers=1)
    one = build_profile_pseudo_stkit(cfg, render=False)
    cfg2 = load_settings("mini", data_dir=str(tmp_path), n_pseudo_videos=2, n_workers=1)
    two = build_profile_pseudo_stkit(cfg2, render=False)
    assert (one["videos"], two["videos"]) == (1, 2) and two["clips"] > one["clips"]
    mild = build_profile_pseudo_stkit(load_settings("mini", data_dir=str(tmp_path), n_pseudo_videos=2, n_workers=1,
                                                    pseudo_corruption="ideal"), render=False)
    recs = read_jsonl(tmp_path/"pseudo"/"stkit"/"pseudo-train.jsonl")
    assert mild["records"] == len(recs) and len({r["scene_id"] for r in recs}) == 2
    assert json.loads((tmp_path/"pseudo"/"out"/"manifest.json").read_text())["spec"]["corruption"] == "ideal"


def test_nuplan_is_bench_only(tmp_path):
    "nuPlan, the paper's unseen dataset (Sec. 4): the profile build makes its val split only; the CLI refuses train."
    from st_vlm_repro.core import load_settings
    from st_vlm_repro.stkit import build_profile_stkit, table2
    root = tmp_path/"data"/"mini_world"
    make_mini_world(root, 2, seed=3, formats=["nuscenes", "nuplan"], n_sports=0)
    cfg = load_settings("mini", data_dir=str(tmp_path/"data"), n_workers=1, argoverse2_root=str(tmp_path/"none"),
                        egoexo4d_root=str(tmp_path/"none"))
    names = {s["name"] for s in build_profile_stkit(cfg, render=False)}
    assert names == {"nuscenes-train", "nuscenes-val", "nuplan-val"}, names
    recs = [r for p in (tmp_path/"data"/"stkit").glob("*.jsonl") for r in iter_jsonl(p)]
    assert {r["source"] for r in recs if r["split"] == "train"} == {"nuscenes"}
    assert "nuplan" in {r["source"] for r in recs}
    assert "NuPlan" not in set(table2(recs)["Dataset"])
    from st_vlm_repro.bench import write_bench
    # the bench: nuPlan's val split in it
    summary = write_bench(recs, tmp_path/"bench", 200, figures_dir=tmp_path/"fig")
    bench = list(iter_jsonl(tmp_path/"bench"/"stkit_bench.jsonl"))
    assert "nuplan" in {r["source"] for r in bench} and (tmp_path/"fig"/"fig5_bench_balance.png").exists()
    on_disk = json.loads((tmp_path/"bench"/"stkit_bench.summary.json").read_text())
    asked = [t for t in TASKS if on_disk[t]["questions"]]
    # the bias check, per task
    assert asked and all({"prior", "chance", "class_cap"} <= set(on_disk[t]) for t in asked)
    assert all(on_disk[t]["questions"] <= on_disk[t]["pool"] for t in TASKS) and summary["average"]
    r = subprocess.run([CLI, "stkit", "build", "--source", "nuplan", "--root", str(root/"nuplan"), "--split", "train",
                        "--out", str(tmp_path/"cli"), "--workers", "1"], capture_output=True, text=True)
    assert r.returncode != 0 and "unseen dataset" in (r.stdout + r.stderr)


def test_write_table2_on_mini_world(world, tmp_path):
    import matplotlib.pyplot as plt
    from st_vlm_repro.stkit import write_table2
    for split in ("train", "val"):
        build_stkit(load_clips("nuscenes", world/"nuscenes", split, verbose=False), tmp_path/"stkit",
                    f"nuscenes-{split}", n_workers=1, progress=False, render=False)
    recs = [r for p in sorted((tmp_path/"stkit").glob("*.jsonl")) for r in iter_jsonl(p)]
    t2 = write_table2(recs, tmp_path/"tables", tmp_path, "mini", mini_world=True)
    plt.close("all")
    assert t2["# QA pairs"].sum() == sum(r["split"] == "train" for r in recs) > 0
    md = (tmp_path/"tables"/"table2_stkit_composition.md").read_text()
    assert md.startswith("Table 2 (measured, synthetic mini world, profile mini: not the paper's data)")
    assert "Table 2 (paper)" in md and (tmp_path/"tables"/"table2_stkit_composition.csv").exists()
    assert (tmp_path/"stkit_label_distributions.png").stat().st_size > 1000
