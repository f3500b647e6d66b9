"""Pseudo-labelling (Sec. 3.3): error bounds against the mini world's truth, MonST3R folder round trip, the CLI on a
mini-world video."""

import json
import numpy as np
import pytest
from typer.testing import CliRunner

from st_vlm_repro.pseudo import PseudoParams, straight_track_errors
from st_vlm_repro.pseudo_oracle import validate, highway_scene, Corruption
from st_vlm_repro.pseudo_backends import pseudo_app, write_scene_video, load_pseudo_clips


def test_ideal_inputs_exact():
    run = validate(highway_scene(), Corruption(unknown_scale=7.3), duration=12.0)
    rel = [r["rel_err"] for r in run["rows"] if np.isfinite(r["rel_err"])]
    assert len(rel) >= 3 and max(map(abs, rel)) < 0.01
    assert all(r["clock_acc"] == 1.0 for r in run["rows"] if np.isfinite(r["clock_acc"]))
    assert run["retention"] == 1.0


@pytest.mark.parametrize("cat,v", [("pedestrian", 1.0), ("pedestrian", 2.0), ("car", 10.0)])
def test_position_noise_bias(cat, v):
    r = straight_track_errors(v, 0.3, cat, n_trials=20)
    assert abs(r["bias"]) < 0.05 and r["raw_bias"] > r["bias"]


def test_per_frame_scale_fails_where_global_passes():
    wob = Corruption(unknown_scale=7.3, wobble=0.10)
    def passes(run):
        rel = [r["rel_err"] for r in run["rows"] if np.isfinite(r["rel_err"])]
        return bool(rel) and max(map(abs, rel)) < 0.05
    assert passes(validate(highway_scene(), wob, PseudoParams(), duration=12.0))
    assert not passes(validate(highway_scene(), wob, PseudoParams(scale_mode="per_frame"), duration=12.0))


def test_cli_mini_world(tmp_path):
    from st_vlm_repro.mini_world import make_mini_world, make_world
    make_mini_world(tmp_path / "mw", 2, seed=0, formats=[], n_sports=0)
    (tmp_path / "videos").mkdir()
    for sc in make_world(2, seed=0, n_sports=0):
        write_scene_video(sc, tmp_path / "videos" / f"{sc.scene_id}.mp4", duration=10.0, scale=0.8)
    args = ["pseudo-label", "--videos", str(tmp_path / "videos"), "--out", str(tmp_path / "out"), "--backend", "oracle",
            "--ground-truth", str(tmp_path / "mw"), "--corruption", "mild", "--workers", "1", "--no-render",
            "--collection", "bdd100k"]
    r = CliRunner().invoke(pseudo_app, args)
    assert r.exit_code == 0, r.output
    clips = load_pseudo_clips(tmp_path / "out")
    assert clips and all(c.source == "pseudo" and c.meta["collection"] == "bdd100k" for c in clips)
    recs = [json.loads(x) for x in (tmp_path / "out" / "stkit" / "pseudo-train.jsonl").read_text().splitlines()]
    assert recs and {r["source"] for r in recs} == {"bdd100k"}               # Table 2: a row per collection
    assert {r["info"]["label_source"] for r in recs} == {"pseudo"}
    rep = json.loads((tmp_path / "out" / "reports" / "mw0-0000.json").read_text())
    assert "scale_consistent" in rep and "tracks_dropped" in rep
    r2 = CliRunner().invoke(pseudo_app, args)
    assert r2.exit_code == 0          # resumes


def test_domain_sets_depth_range(tmp_path):
    from st_vlm_repro.pseudo import domain_params, DOMAIN_DEPTH_RANGES
    assert domain_params("sports").depth_range == DOMAIN_DEPTH_RANGES["sports"] != PseudoParams().depth_range
    (tmp_path / "v").mkdir()
    r = CliRunner().invoke(pseudo_app, ["pseudo-label", "--videos", str(tmp_path / "v"), "--out", str(tmp_path / "o"),
                                        "--domain", "underwater"])
    assert r.exit_code != 0 and "expected one of driving" in r.output


def test_cli_bad_backend(tmp_path):
    (tmp_path / "v").mkdir()
    r = CliRunner().invoke(pseudo_app, ["pseudo-label", "--videos", str(tmp_path / "v"), "--out", str(tmp_path / "o")])
    assert r.exit_code != 0


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    import torch
    from st_vlm_repro.pseudo_backends import make_tiny_models
    torch.set_num_threads(1)             # tiny models on a shared 2-core machine: more threads only contend
    return make_tiny_models(tmp_path_factory.mktemp("tiny"))


@pytest.mark.parametrize("depth", ["depth_anything", "depth_pro"])
def test_transformers_backends_label_video(tmp_path, tiny_models, depth):
    "Tiny random Grounding DINO + Sam2Video + metric depth via real from_pretrained and `label_video` (structure only)."
    from st_vlm_repro.mini_world import make_world
    from st_vlm_repro.pseudo_backends import BackendSpec, label_video, read_video
    sc = make_world(1, seed=0, n_sports=0)[0]
    vid = write_scene_video(sc, tmp_path / f"{sc.scene_id}.mp4", duration=2.0, scale=0.25)
    spec = BackendSpec(
        "transformers", depth_model=tiny_models[depth], detector=tiny_models["detector"], sam2=tiny_models["sam2"]
    )
    b = spec.build(vid)
    b.seg.box_threshold = b.seg.text_threshold = b.seg.min_box_frac = 0.0
    b.seg.max_objects = 3   # random weights: force detections
    v = read_video(vid, 10.0, 160)
    seg = b.seg.segment(v, PseudoParams().classes)
    assert seg.ids.shape == (len(v.times), v.size[1], v.size[0]) and 0 < len(seg.labels) <= 3
    assert set(np.unique(seg.ids)) <= {0, *seg.labels}
    rep = label_video(vid, tmp_path / "out", b, long_side=160)
    for k in ("scale", "scale_consistent", "tracks_kept", "tracks_dropped", "clips"):
        assert k in rep, k
    assert (tmp_path / "out" / "reports" / f"{sc.scene_id}.json").exists()
    assert (tmp_path / "out" / "clips" / f"{sc.scene_id}.jsonl").exists()
    assert all(t.label_source == "pseudo" for c in load_pseudo_clips(tmp_path / "out") for t in c.tracks)


def test_profile_pseudo_stkit_builds_and_resumes(tmp_path):
    from st_vlm_repro.core import load_settings, read_jsonl
    from st_vlm_repro.pseudo_backends import build_profile_pseudo_stkit
    cfg = load_settings("mini", data_dir=str(tmp_path), n_pseudo_videos=1, n_workers=1)
    s = build_profile_pseudo_stkit(cfg)
    assert (s["videos"], s["failed"]) == (1, 0) and s["clips"] >= 1 and s["records"] > 0
    recs = read_jsonl(tmp_path / "pseudo" / "stkit" / "pseudo-train.jsonl")
    assert {r["source"] for r in recs} == {"pseudo"} and {r["split"] for r in recs} == {"train"}
    assert all(r["scene_id"].startswith("mw1000-") for r in recs)          # its own seed: no labelled or bench scene
    assert build_profile_pseudo_stkit(cfg) == s                            # a rerun resumes to the same result


def test_highway_noise_figure_one_level(tmp_path):
    "The reproduction's highway sweep, one level and one pipeline on a 4 s video: its table and its figure."
    from st_vlm_repro.pseudo_oracle import highway_noise_figure
    tab = highway_noise_figure(tmp_path, levels=("ideal",), ablations=("full", "no smoothing"), duration=4.0)
    assert list(zip(tab.level, tab.pipeline)) == [("ideal", "full"), ("ideal", "no smoothing")]
    assert tab.med_abs_rel_err.iloc[0] < 0.01 and tab.retention.iloc[0] == 1.0
    assert (tmp_path / "pseudo_error_vs_noise.png").stat().st_size > 0


def test_mini_world_sweep_one_scene():
    "The mini-world sweep on one scene of roaming objects, ideal depth and poses."
    from st_vlm_repro.pseudo_oracle import mini_world_sweep
    tab = mini_world_sweep(n_scenes=1, levels=("ideal",), ablations=("full",), duration=10.0)
    assert len(tab) == 1 and tab.tracks.iloc[0] > 0 and 0 < tab.retention.iloc[0] <= 1
    # even ideal labels track the visible-surface centre, which moves over a turning object: its distance is off by a
    # few per cent (this scene's two roaming tracks: 12 %; the 4-scene sweep of notebook 03a: 4 % median)
    assert tab.med_abs_rel_err.iloc[0] < 0.2 and abs(tab.mean_rel_err.iloc[0]) < 0.2


def test_label_one_scene(tmp_path):
    "The notebook's end-to-end run on a 10 s video: pseudo-labelled clips, their STKit records, a resumed rerun."
    from st_vlm_repro.pseudo_backends import label_one_scene
    one = label_one_scene(tmp_path, duration=10.0, corruption="mild")
    assert one["clips"] and all(t.label_source == "pseudo" for c in one["clips"] for t in c.tracks)
    assert one["stkit"]["records"] > 0 and one["resumed"]
    assert {"scale", "scale_consistent", "tracks_kept"} <= set(one["report"])


def test_oracle_on_a_video_narrower_than_the_working_size(tmp_path):
    "read_video enlarges a 320 px video to 512: the oracle's truth is rendered at that size, not the file's."
    from st_vlm_repro.pseudo_backends import label_one_scene
    one = label_one_scene(tmp_path, duration=10.0, scale=0.5, corruption="ideal")
    assert "error" not in one["report"] and one["clips"]


def test_depth_pro_depth_is_linear_in_the_given_focal(tiny_models):
    "The notebook's backend check: metric depth at the working size; Depth Pro rescaled by the focal it is given."
    from st_vlm_repro.pseudo_backends import HFMetricDepth
    from st_vlm_repro.pseudo_oracle import OracleBackend
    v = OracleBackend(highway_scene(), "front", 0.2, Corruption()).video(1.1, 10.0, frames=True)
    T, (W, H) = len(v.times), v.size
    for k in ("depth_anything", "depth_pro"):
        md = HFMetricDepth(tiny_models[k])
        dm = md.metric_depth(v)
        assert dm.shape == (T, H, W) and np.isfinite(dm).all() and (dm > 0).all()
    assert md.last_focal > 0                                                   # Depth Pro's own field of view
    K2 = np.tile(np.diag([2 * md.last_focal, 2 * md.last_focal, 1.0]), (T, 1, 1))
    np.testing.assert_allclose(md.metric_depth(v, K2), 2 * dm, atol=1e-3 * float(dm.max()))
