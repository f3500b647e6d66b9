"""Sec. 6 readers (Charades-STA, TVQA+) on small files in each dataset's real annotation format, the metrics, and
Fig. 6's chain end to end on a mini world."""

import csv, json

import numpy as np
import pytest

from st_vlm_repro.analysis import (
    read_charades_sta, read_charades_lengths, read_tvqa_plus, grounding_record,
    grounding_metrics, mc_question, mc_record, extract_choice, mc_accuracy, ItemChanceRunner, ItemPriorRunner, MC_TASK,
    write_charades_sta_from_stkit, write_tvqa_plus_from_stkit, region_mc_question, render_region_prompt, resolve_video,
    multistep_questions, score_multistep, TVQA_FPS, CHARADES_CSV_COLUMNS)
from st_vlm_repro.runners import OracleRunner
from st_vlm_repro.visual_prompts import read_video_frames, COLOURS


# ---- Charades-STA: `charades_sta_test.txt` lines and the `Charades_v1_test.csv` lengths ----
def test_charades_sta_and_lengths(tmp_path):
    (tmp_path/"charades_sta_test.txt").write_text(
        "3MSZA 24.3 30.4##person turn a light on.\n3MSZA 24.3 30.4##person flipped the light switch near the door.\n"
        "AO8RW 0.0 6.9##a person is putting a book on a shelf.\n\n")
    with open(tmp_path/"Charades_v1_test.csv", "w", newline="") as f:
        w = csv.DictWriter(f, CHARADES_CSV_COLUMNS)
        w.writeheader()
        w.writerow(
            {
                **{c: "" for c in CHARADES_CSV_COLUMNS},
                "id": "3MSZA",
                "subject": "HR43",
                "scene": "Bedroom",
                "quality": "6",
                "script": "A person turns on the light.",
                "actions": "c059 24.30 30.40",
                "length": "31.17",
            }
        )
        w.writerow({**{c: "" for c in CHARADES_CSV_COLUMNS}, "id": "AO8RW", "length": "32.83"})
    lens = read_charades_lengths(tmp_path/"Charades_v1_test.csv")
    assert lens == {"3MSZA": 31.17, "AO8RW": 32.83}
    items = read_charades_sta(tmp_path/"charades_sta_test.txt", lens)
    assert [(i["video"], i["gold"], i["duration"]) for i in items] == [("3MSZA.mp4", [24.3, 30.4], 31.17)] * 2 + [
        ("AO8RW.mp4", [0.0, 6.9], 32.83)
    ]
    assert items[2]["query"] == "a person is putting a book on a shelf"
    assert len({i["id"] for i in items}) == 3                     # same video and span twice: still two items
    (tmp_path/"bad.csv").write_text("vid,len\nx,3\n")
    with pytest.raises(ValueError, match="bad.csv: needs columns 'id' and 'length'"):
        read_charades_lengths(tmp_path/"bad.csv")


# ---- TVQA+: `tvqa_plus_val.json` ----
TVQA_Q = {
    "answer_idx": "2",
    "qid": 7,
    "ts": "9.36-13.6",
    "q": "What is Sheldon holding when he talks to Leonard?",
    "vid_name": "s01e02_seg02_clip_10",
    "a0": "A cup",
    "a1": "A book",
    "a2": "A laptop",
    "a3": "A phone",
    "a4": "Nothing",
    "show_name": "The Big Bang Theory",
    "bbox": {
        "31": [
            {"img_id": 31, "top": 40, "left": 100, "width": 50, "height": 80, "label": "Sheldon"},
            {"img_id": 31, "top": 90, "left": 120, "width": 20, "height": 15, "label": "laptop"},
        ],
        "28": [{"img_id": 28, "top": 42, "left": 98, "width": 50, "height": 80, "label": "Sheldon"}],
    },
}

def test_tvqa_plus(tmp_path):
    (tmp_path/"tvqa_plus_val.json").write_text(json.dumps([TVQA_Q]))
    it = read_tvqa_plus(tmp_path/"tvqa_plus_val.json")[0]
    assert (it["answer_idx"], it["ts"], it["region_label"], it["video"]) == (
        2,
        [9.36, 13.6],
        "Sheldon",
        "s01e02_seg02_clip_10",
    )
    # boxes of the first label only
    assert it["region"] == {28 / TVQA_FPS: (98, 42, 148, 122), 31 / TVQA_FPS: (100, 40, 150, 120)}
    assert mc_question(it).startswith("Focus on the Sheldon in the red box. What is Sheldon holding")
    assert "(C) A laptop" in mc_question(it)
    assert [
        extract_choice(r, it["choices"]) for r in ("C", "(c)", "The answer is C.", "He holds a laptop.", "no idea")
    ] == [2, 2, 2, 2, None]
    bad = dict(TVQA_Q)
    del bad["a3"]
    (tmp_path/"bad.json").write_text(json.dumps([bad]))
    with pytest.raises(ValueError, match="question #0 \\(qid 7\\).*'a3'"):
        read_tvqa_plus(tmp_path/"bad.json")


# ---- metrics ----
def test_grounding_metrics_by_definition():
    items = [dict(gold=[0.0, 10.0]), dict(gold=[2.0, 4.0]), dict(gold=[0.0, 4.0]), dict(gold=[5.0, 6.0])]
    resp = ["From 5 to 10 seconds.", "between 2.0 and 4.0 seconds", "It happens from 0 to 1 seconds.", "no idea"]
    m = grounding_metrics(items, resp)   # IoUs 0.5, 1.0, 0.25 and one unread: out of the mean, a miss for R@k
    assert m == {"n": 4, "mIoU": 58.3, "R@0.3": 50.0, "R@0.5": 50.0, "R@0.7": 25.0, "unread": 1}
    ms = multistep_questions(
        [
            dict(
                id="r",
                task="traveling_speed",
                label=45.0,
                video="v",
                frame_times=[0, 0.5],
                objects=[],
                info={"object": "red"},
            )
        ]
    )
    assert [m["label"] for m in ms] == [20.0, 13.333, 0.938]
    assert score_multistep(ms, ["20 times", "about 16 minutes", "2 hours"]) == dict(
        n=3, accuracy=66.7, median_rel_error=0.2, unread=0
    )  # errors 0, 0.2, 1.13


# ---- Fig. 6 chain on a mini world: STKit val → Charades-STA / TVQA+ files → real readers → runners → metrics ----
@pytest.fixture(scope="module")
def stkit(mini_world, tmp_path_factory):
    from st_vlm_repro.clips import load_clips
    from st_vlm_repro.stkit import build_stkit, read_stkit
    root = mini_world
    out = tmp_path_factory.mktemp("stkit")
    clips = {}
    for split in ("train", "val"):
        cl = list(load_clips("nuscenes", root/"nuscenes", split, verbose=False))
        build_stkit(cl, out, f"nuscenes-{split}", n_workers=1, progress=False, render=(split == "val"))
        if split == "val":
            clips = {c.clip_id: c for c in cl}
    recs = read_stkit(out)
    return out, clips, [r for r in recs if r["split"] == "val"], [r for r in recs if r["split"] == "train"]


def test_fig6_chain_on_mini_world(stkit, tmp_path):
    out, clips, val, train = stkit
    assert val and train
    # temporal grounding through the Charades-STA format
    txt, lens = write_charades_sta_from_stkit(val, tmp_path/"ch")
    items = read_charades_sta(txt, read_charades_lengths(lens))
    dts = [r for r in val if r["task"] == "direction_timestamp"]
    assert len(items) == len(dts) > 0
    recs = [grounding_record(i, frame_times=list(np.arange(0, i["duration"] - 1e-6, 0.5))) for i in items]
    for r in recs:
        assert (out/r["video"]).exists()                        # the video is the record's visual prompt
    assert grounding_metrics(items, OracleRunner().respond(recs))["mIoU"] == 100.0
    ch = grounding_metrics(items, ItemChanceRunner(0).respond(recs))
    assert ch["unread"] == 0 and ch["mIoU"] < 100
    # region-aware QA through the TVQA+ format
    tv_path, counts = write_tvqa_plus_from_stkit(val, clips, tmp_path/"tv")
    tv_items = read_tvqa_plus(tv_path)
    assert counts["questions"] == len(tv_items) > 0 and counts["skipped_no_clip"] == 0
    raw_q = {q["qid"]: q for q in json.loads(tv_path.read_text())}
    mc_recs = []
    for it in tv_items:
        q = raw_q[int(it["id"].split("/")[1])]
        src = next(r for r in val if r["id"] == q["stkit_id"])
        clip = clips[src["clip_id"]]
        tr = clip.track(next(o["track_id"] for o in src["objects"] if o["colour"] == src["info"]["object"]))
        # boxes are the track's own, at 3-fps frame numbers
        for t, box in it["region"].items():
            k = int(np.argmin(np.abs(np.asarray(clip.frame_times) - t)))
            np.testing.assert_allclose(box, tr.boxes_2d[k], atol=0.11)   # left, top, width, height each to 0.1 px
            assert it["ts"][0] - 1 / 6 - 1e-6 <= t <= it["ts"][1] + 1 / 6 + 1e-6  # 3-fps frame numbers are within 1/6 s
        rp = render_region_prompt(
            resolve_video(tv_path.parent / "videos", it["video"]), it["region"], tmp_path / "rp" / str(q["qid"])
        )
        frames, times = read_video_frames(rp)
        raw, _ = read_video_frames(resolve_video(tv_path.parent/"videos", it["video"]))
        t0 = min(it["region"])
        k = int(np.argmin(np.abs(times - t0)))
        x0, y0, x1, y1 = it["region"][t0]
        edge = frames[k][int((y0 + y1) / 2), int(np.clip(round(x0), 0, frames.shape[2] - 1))].astype(int)
        assert np.abs(edge - COLOURS["red"]).max() < 70, edge               # the region is drawn in red on its frame
        mc_recs.append(mc_record(it, str(rp.relative_to(tmp_path)), list(times)))
    assert mc_accuracy(tv_items, OracleRunner().respond(mc_recs))["accuracy"] == 100.0
    tv_train = [
        dict(task=MC_TASK, choices=q["choices"], label=q["answer_idx"]) for r in train if (q := region_mc_question(r))
    ]
    pr = mc_accuracy(tv_items, ItemPriorRunner(tv_train).respond(mc_recs))
    assert pr["unread"] == 0 and 0 <= pr["accuracy"] <= 100
    assert mc_accuracy(tv_items, ItemChanceRunner(0).respond(mc_recs))["unread"] == 0


# ---- the analysis notebook's run, step by step, on the mini world's nuScenes STKit ----
def test_run_steps_on_mini_world(mini_world, stkit, tmp_path, capsys):
    from st_vlm_repro.analysis import (synthetic_note, load_val_clips, generalisation_sets, generalisation_runners,
                                       generalisation_answers, write_generalisation, write_multistep_examples,
                                       write_fig2, robustness_runs, write_robustness)
    from st_vlm_repro.core import write_jsonl
    from st_vlm_repro.evaluate import evaluate
    from st_vlm_repro.runners import ChanceRunner
    out, clips, val, train = stkit
    ana, tables, figs = tmp_path/"analysis", tmp_path/"tables", tmp_path/"figs"
    tables.mkdir()
    figs.mkdir()
    assert "(first 4 items of each set)" in synthetic_note("mini", True, 4)
    assert set(load_val_clips(val, {"nuscenes_root": mini_world/"nuscenes"})) == set(clips)
    assert load_val_clips(val, {}) == {} and "nuscenes: val clips not loaded" in capsys.readouterr().out
    sets = generalisation_sets(val, train, clips, ana, seed=0, max_items=4)
    assert 0 < len(sets["charades"]) == len(sets["charades_recs"]) <= 4
    assert 0 < len(sets["tvqa"]) == len(sets["tvqa_recs"]) <= 4
    assert sets["tvqa_counts"]["questions"] >= len(sets["tvqa"])
    assert len(sets["multistep"]) <= 4 and sets["prior_train"]
    runners = generalisation_runners(sets, 0, tmp_path/"no_model", out)
    names = [r.name for r in runners]
    assert names == ["chance", "prior", "oracle"] and "model rows skipped" in capsys.readouterr().out
    answers = generalisation_answers(runners, sets, out, ana)
    assert answers == generalisation_answers(runners, sets, out, ana)          # the rerun reads the kept responses
    assert (ana/"responses"/"charades_sta"/"oracle.jsonl").exists()
    res = write_generalisation(sets, answers, names, tables, figs, synthetic_note("mini", True, 4))
    assert res.loc["oracle", "Charades-STA* mIoU"] == 100.0 and res.loc["oracle", "TVQA+* accuracy"] == 100.0
    assert (figs/"fig6_generalisation.png").stat().st_size > 1000 and (tables/"fig6_generalisation.csv").exists()
    assert "first 4 items" in (tables/"fig6_generalisation.md").read_text()
    md = write_multistep_examples(tables, sets, answers, res, names).read_text()
    assert md.count("\n| chance |") == 1 and "| question | ground truth | chance | prior | oracle |" in md
    # Fig. 2 and robustness from STKit-Bench runs under data/eval (here: val records as the bench)
    data = tmp_path/"data"
    assert write_fig2(data, out, figs) is None and not (figs/"fig2_task_examples.png").exists()
    write_jsonl(data/"bench"/"stkit_bench.jsonl", val)
    evaluate(ChanceRunner(0), val, data/"eval"/"chance", progress=False)
    evaluate(OracleRunner(), val, data/"eval"/"oracle", progress=False)
    assert write_fig2(data, out, figs) == ["chance"] and (figs/"fig2_task_examples.png").stat().st_size > 1000
    assert robustness_runs(tmp_path/"no_model", out, val, tmp_path/"rob") == []
    rt = write_robustness([data/"eval"/"chance", data/"eval"/"oracle"], val, tables, figs)
    assert rt[(rt.model == "oracle") & (rt.group == "all")].accuracy.item() == 100.0
    assert (figs/"robustness.png").exists() and (tables/"robustness.md").read_text().startswith("Seven-task average")
