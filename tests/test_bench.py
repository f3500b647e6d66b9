"STKit-Bench on the mini world: balanced so that the blind prior and a text-only model score near chance per task."
import json, math

import pytest

from st_vlm_repro.bench import (MAX_CLASS_SHARE, TWO_CHOICE_TASKS, _partner, balance_key, bias_check, build_bench,
                                class_cap, write_bench)
from st_vlm_repro.clips import load_clips
from st_vlm_repro.stkit import BENCH_ONLY_SOURCES, LABELLED_SOURCES, TASK_ABBREV, build_stkit, read_stkit

# The conftest world holds one validation driving scene, so a task keeps a few label classes and under 20 questions:
# "near chance" is within MARGIN points of chance's accuracy plus two standard errors of a rate measured on n questions.
MARGIN = 15.0


def _allowed(row)->float:
    c = row["chance"] / 100
    return MARGIN + 200 * math.sqrt(c * (1 - c) / row["n"])


@pytest.fixture(scope="module")
def records(mini_world, tmp_path_factory):
    out = tmp_path_factory.mktemp("stkit")
    for src in LABELLED_SOURCES:
        for split in ("train", "val"):
            if src in BENCH_ONLY_SOURCES and split == "train":
                continue
            clips = load_clips(src, mini_world/src, split, verbose=False)
            build_stkit(clips, out, f"{src}-{split}", render=False, n_workers=1, progress=False)
    return read_stkit(out)


def test_prior_and_text_only_near_chance_per_task(records):
    train = [r for r in records if r["split"] == "train"]
    bench = build_bench(records, 200, train_records=train)
    bias = bias_check(bench, train)
    assert set(bias.columns) >= {"n", "classes", "prior", "text_only", "chance", "top_class_share"}
    checked = 0
    for t, abbrev in TASK_ABBREV.items():
        keys = {balance_key(r) for r in bench if r["task"] == t}
        if t in TWO_CHOICE_TASKS and not any(_partner(k) in keys for k in keys):
            assert not keys   # no answer with its partner: the task keeps no questions (one answer would be right)
        if abbrev not in bias.index:
            continue
        row = bias.loc[abbrev]
        assert row["top_class_share"] <= 100 * MAX_CLASS_SHARE / row["classes"] + 0.1, (t, row.to_dict())
        if t in TWO_CHOICE_TASKS:
            assert row["prior"] == 50.0, (t, row.to_dict())   # every class alike: the majority slot is right half
        assert row["prior"] - row["chance"] <= _allowed(row), (t, row.to_dict())
        assert row["text_only"] - row["chance"] <= _allowed(row), (t, row.to_dict())
        checked += 1
    assert checked >= 4, bias   # the four single-object tasks at least


def test_summary_reports_classes_caps_and_bias(records, tmp_path):
    s = write_bench(records, tmp_path, 200, figures_dir=tmp_path, tables_dir=tmp_path/"tables", note="conftest world")
    assert (tmp_path/"fig5_bench_balance.png").is_file()
    for folder in (tmp_path, tmp_path/"tables"):   # the bias check beside the bench and with the tables
        md = (folder/"stkit_bench_bias_check.md").read_text()
        assert md.startswith("STKit-Bench bias check (measured, conftest world; beyond the paper)") and "| MD " in md
        assert "prior" in (folder/"stkit_bench_bias_check.csv").read_text().splitlines()[0]
    assert json.loads((tmp_path/"stkit_bench.summary.json").read_text()) == json.loads(json.dumps(s, default=float))
    for t in TASK_ABBREV:
        row = s[t]
        assert {"pool", "questions", "class_cap", "pool_classes", "possible_classes"} <= set(row), row
        if row["questions"]:
            assert {"prior", "text_only", "chance", "classes"} <= set(row) and row["classes"] <= row["pool_classes"]
            assert row["class_cap"] <= class_cap(t, 200)   # the small pool's cap is at most the fair share of 200


def _md(i, hour):
    return dict(id=f"{i:05d}", task="movement_direction", label=hour, source="nuplan", split="val", scene_id="s",
                objects=[dict(track_id="a", category="car", colour="red")], info={})


def test_cap_binds_on_a_small_skewed_pool():
    "Eight hours, one with 40 questions and seven with 3: the fair share ⌈200/12⌉ = 17 would leave 12 o'clock 45 %."
    pool = [_md(i, 12) for i in range(40)] + [_md(100 + i, 1 + i % 7) for i in range(21)]
    b = build_bench(pool, 200)
    counts = {h: sum(r["label"] == h for r in b) for h in {r["label"] for r in b}}
    assert len(counts) == 8 and max(counts.values()) * len(counts) <= MAX_CLASS_SHARE * len(b), counts
    assert class_cap("movement_direction", 200, pool) == 4 and counts[12] == 4
