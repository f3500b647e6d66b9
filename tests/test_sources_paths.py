"""Paths named by data files stay under their base folder: `safe_join`, bench records' `video` in exports and eval."""
import json

import pytest

from st_vlm_repro.core import UnsafePathError, safe_join, write_jsonl
from st_vlm_repro.evaluate import export_lmms_eval_task
from st_vlm_repro.exports import RECORD_FIELDS, read_llava_video, record_to_sample

HOSTILE = ["../../../etc/passwd", "/etc/passwd", "a/../../b.mp4", "..\\..\\x.mp4"]


@pytest.mark.parametrize("name", HOSTILE)
def test_safe_join_refuses(tmp_path, name):
    with pytest.raises(UnsafePathError, match="refused"):
        safe_join(tmp_path, name)


def test_safe_join_symlink_out(tmp_path):
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "out").symlink_to(tmp_path)
    assert safe_join(tmp_path / "base", "a", "b.mp4") == tmp_path / "base" / "a" / "b.mp4"
    with pytest.raises(UnsafePathError, match="resolves outside"):
        safe_join(tmp_path / "base", "out", "x")


@pytest.mark.parametrize("name", HOSTILE)
def test_record_and_llava_video_refused(tmp_path, name):
    with pytest.raises(UnsafePathError):
        record_to_sample(dict({f: "x" for f in RECORD_FIELDS}, video=name), video_root=tmp_path, validate=False)
    ann = tmp_path / "ann.json"
    talk = [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]
    ann.write_text(json.dumps([{"video": name, "conversations": talk}]))
    with pytest.raises(UnsafePathError):
        read_llava_video(ann, video_root=tmp_path)


def test_lmms_export_writes_nothing_outside(tmp_path):
    videos = tmp_path / "stkit"
    (videos / "v").mkdir(parents=True)
    (videos / "v" / "a.mp4").write_bytes(b"x")
    (tmp_path / "secret.mp4").write_bytes(b"secret")
    bench = tmp_path / "bench.jsonl"
    write_jsonl(bench, [{"id": "q1", "video": "../secret.mp4"}])
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with pytest.raises(UnsafePathError):
        export_lmms_eval_task(bench, videos, tmp_path / "task" / "deep")
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if "task" not in p.parts)
    assert after == [p for p in before if "task" not in p.parts]
    assert not (tmp_path / "task" / "secret.mp4").exists() and not list((tmp_path / "task").rglob("*.mp4"))


@pytest.mark.parametrize("name", HOSTILE)
def test_bench_record_video_refused_before_any_model(tmp_path, name):
    from st_vlm_repro.evaluate import read_bench
    from st_vlm_repro.stkit import clip_records
    from st_vlm_repro.visual_prompts import make_test_clip
    recs, _ = clip_records(make_test_clip(tmp_path / "frames", n_frames=40, seed=0), seed=0)
    good, bad = recs[0].model_dump(mode="json"), recs[1].model_dump(mode="json")
    write_jsonl(tmp_path / "bench.jsonl", [good, bad | {"video": name}])
    with pytest.raises(ValueError, match=r"bench.jsonl:2.*video"):
        read_bench(tmp_path / "bench.jsonl")
