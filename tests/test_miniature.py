"""The Table 6 miniature (st_vlm_repro.miniature): a fast smoke test of every stage on a few clips, and a slow run of
the whole driver at toy sizes writing its table and figure. CPU only."""
import numpy as np
import pytest

from st_vlm_repro.miniature import (GRID, MINI_FRAMES, N_COLOURS, READ_OUT, VIDEO_TOKENS, MiniatureRunner,
                                    build_split, colour_cover, decode_tracks, hour_prior, make_miniature_model,
                                    make_items, pretrain_vision, probe_perception, read_out_accuracy, run_miniature,
                                    score_runner, target_tracks, task_weights, tune, video_features, write_miniature)
from st_vlm_repro.stkit import TASK_ABBREV, TASKS
from st_vlm_repro.tiny_model import tokenizer_corpus
from st_vlm_repro.visual_prompts import COLOURS


def test_miniature_stages_smoke():
    sp = build_split(0, "train", 3)
    v = sp["videos"]
    assert v.shape[1:] == (MINI_FRAMES, 96, 96, 3) and sp["records"] and sp["general"]
    palette = np.array(list(COLOURS.values()), np.uint8)
    assert (v[..., None, :] == palette).all(-1).any(-1).sum() > 100      # the prompts are drawn, in palette colours
    assert colour_cover(v).shape == (*v.shape[:2], 6, 6, N_COLOURS)
    tok, model = make_miniature_model(tokenizer_corpus(n=20))
    frames, targets = v.reshape(-1, 96, 96, 3)[:8], sp["targets"].reshape(-1, GRID, GRID, N_COLOURS, 5)[:8]
    heads, hist = pretrain_vision(model, frames, targets, steps=2, batch=4, verbose=False)
    assert len(hist) == 2 and np.isfinite(hist[-1]["box"])
    assert 0 <= probe_perception(heads, model, frames, targets)["presence_f1"] <= 1
    feats = video_features(model, v)
    assert tuple(feats.shape[:2]) == (len(v), VIDEO_TOKENS)
    vision = [p.detach().clone() for p in model.model.vision_tower.parameters()]
    assert decode_tracks(heads, model, v).shape == (len(v), MINI_FRAMES, N_COLOURS, 2)
    items, groups = make_items(tok, sp["records"][:4]), [r["task"] for r in sp["records"][:4]]
    tune(model, items, feats, steps=2, batch=2, verbose=False, weights=task_weights(groups))
    assert all((a == b).all() for a, b in zip(vision, model.model.vision_tower.parameters()))   # b, c: vision frozen
    summ, scores = score_runner(MiniatureRunner(model, tok, feats, "smoke"), sp["records"][:5])
    assert len(scores) == 5 and "average" in summ.index


def test_read_out_of_true_boxes_answers_the_bench_tasks():
    sp = build_split(0, "train", 30)
    acc = read_out_accuracy(target_tracks(sp["targets"]), sp["records"])
    assert set(acc) == set(TASKS) and min(acc.values()) > 80      # exact kinematics on the true boxes: the ceiling


def test_task_weights_balance_tasks():
    w = task_weights(["TD"] * 9 + ["MDC"])
    assert np.isclose(w.sum(), 1) and np.isclose(w[:9].sum(), w[9])


@pytest.mark.slow
def test_run_miniature_writes_table(tmp_path):
    res = run_miniature(train_clips=10, val_clips=40, pseudo_clips=5, bench_per_task=3, vision_steps=3, general_steps=3,
                        kinematic_steps=3, eval_every=3, batch=4, verbose=False)
    tab = res["table"]
    assert len(tab) == 7 and READ_OUT in set(tab["model"])
    assert tab[[f"{TASK_ABBREV[t]}_lo" for t in TASKS]].notna().all().all()
    md = write_miniature(res, tmp_path / "tables", tmp_path / "figures").read_text()
    assert "| blind prior |" in md and "| + labelled and pseudo-labelled STKit |" in md
    assert (tmp_path / "figures" / "miniature_learning_curves.png").is_file()


def test_run_miniature_names_its_runs():
    with pytest.raises(ValueError, match="labelled"):
        run_miniature(runs=("text",))
    with pytest.raises(ValueError, match="labelled"):
        run_miniature(runs=("labelled", "tracks"))


def test_hour_prior_reads_the_asked_hour():
    sp = build_split(0, "train", 30)
    dt = [r for r in sp["records"] if r["task"] == "direction_timestamp"]
    assert dt and hour_prior(dt, dt) > 0          # the training records' own spans: the asked hour's mode hits some
    assert np.isnan(hour_prior(dt, [r for r in sp["records"] if r["task"] != "direction_timestamp"]))
