"""Runners and evaluation (nbs/05b_runners.ipynb, nbs/05d_eval.ipynb, nbs/07_results.ipynb): the OpenAI runner
through the
real `openai` client against an OpenAI-compatible HTTP server on 127.0.0.1 (images checked as data URLs, answers that
depend on the question, 429/500/timeouts, cache), and an end-to-end run: STKit records from a rendered clip ->
STKit-Bench -> evaluate (oracle, chance, prior, OpenAI) -> Tables 3-5."""
import base64, hashlib, json, threading, time
from pathlib import Path

import cv2
import numpy as np
import pytest
from transformers import AutoConfig
from typer.testing import CliRunner

from openai_server import ChatHandler, serve

from st_vlm_repro.bench import build_bench, paraphrase_record
from st_vlm_repro.core import read_jsonl, write_jsonl
from st_vlm_repro.evaluate import eval_app, evaluate, load_run
from st_vlm_repro.results import runs_to_tables
from st_vlm_repro.runners import ChanceRunner, OpenAIRunner, OracleRunner, PriorRunner, clip_geometric_context
from st_vlm_repro.scoring import TASKS, extract_answer
from st_vlm_repro.stkit import clip_records
from st_vlm_repro.visual_prompts import make_test_clip, render_visual_prompt

# ----------------------------------------------------------------------------------------------------------- the server
EXPECTED = {
    "traveled_distance": 12.0,
    "traveling_speed": 30.0,
    "movement_direction": 2,
    "direction_timestamp": (1.0, 3.0),
    "distance_comparison": "blue",
    "speed_comparison": "blue",
    "direction_comparison": True,
}

def answer_for(question: str) -> str:
    "What the fake model says: a fixed answer per kind of question, so that the test can tell questions apart."
    q = question.rsplit("in the video.", 1)[-1].lower()
    if "same direction" in q or "same way" in q:
        return "Yes, they are moving in the same direction."
    if "o'clock" in q:
        return "It moves that way from 1.0 to 3.0 seconds."
    if "direction" in q or "clock" in q or "heading" in q:
        return "At the end it is moving toward 2 o'clock."
    if "which" in q:
        return "The blue object."
    if "speed" in q or "fast" in q or "pace" in q or "velocity" in q:
        return "Its average speed is about 30 km/h."
    return "It traveled about 12 meters."


class _Chat(ChatHandler):
    """A small OpenAI-compatible chat-completions endpoint that checks what a vision request must carry."""
    calls: list = []
    attempts: dict = {}
    lock = threading.Lock()

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path != "/v1/chat/completions":
            return self._send(404, {"error": {"message": f"no route {self.path}"}})
        if self.headers.get("Authorization") != "Bearer test-key":
            return self._send(401, {"error": {"message": "bad key"}})
        turns = [m for m in body["messages"] if m["role"] == "user"]
        n_images = []
        for m in turns:
            if not isinstance(m["content"], list):
                return self._send(400, {"error": {"message": "user content must be parts"}})
            imgs = [p for p in m["content"] if p["type"] == "image_url"]
            for p in imgs:
                url = p["image_url"]["url"]
                if not url.startswith(("data:image/jpeg;base64,", "data:image/png;base64,")):
                    return self._send(400, {"error": {"message": f"image is not a data URL: {url[:40]}"}})
                img = cv2.imdecode(
                    np.frombuffer(base64.b64decode(url.split(",", 1)[1]), np.uint8), cv2.IMREAD_UNCHANGED
                )
                if img is None:
                    return self._send(400, {"error": {"message": "image does not decode"}})
            n_images.append(len(imgs))
        question = next(p["text"] for p in turns[-1]["content"] if p["type"] == "text")
        with self.lock:
            type(self).calls.append(
                dict(model=body["model"], n_images=n_images, n_turns=len(body["messages"]), question=question)
            )
            k = (body["model"], question)
            type(self).attempts[k] = type(self).attempts.get(k, 0) + 1
            attempt = type(self).attempts[k]
        if body["model"] == "flaky" and attempt <= 2:
            return self._send(429, {"error": {"message": "slow down", "type": "rate_limit"}})
        if body["model"] == "broken":
            return self._send(500, {"error": {"message": "boom"}})
        if body["model"] == "bad-request":
            return self._send(400, {"error": {"message": "invalid"}})
        if body["model"] == "slow" and attempt == 1:
            time.sleep(1.5)
        self._reply(body["model"], answer_for(question))


@pytest.fixture(scope="module")
def server():
    with serve(_Chat) as url:
        yield url


# ----------------------------------------------------------------------------------------------------------- the data
@pytest.fixture(scope="module")
def stkit(tmp_path_factory):
    """STKit records of three rendered test clips (all seven tasks), their visual prompts on disk, and the clips."""
    root = tmp_path_factory.mktemp("stkit")
    records, clips = [], {}
    for s in range(3):
        clip = make_test_clip(root / f"frames{s}", n_frames=40, seed=s, clip_id=f"synthetic/t{s}/0")
        recs, vids = clip_records(clip, seed=0)
        for name, objs in vids:
            render_visual_prompt(clip, [(o.track_id, o.colour) for o in objs], root / name, size=160)
        records += [r.model_dump(mode="json") for r in recs]
        clips[clip.clip_id] = clip
    assert {r["task"] for r in records} == set(TASKS)
    return root, records, clips


def _runner(url, root, tmp_path, model="gpt-4o", **kw):
    kw = dict(n_frames=4, cache_path=tmp_path / "cache.jsonl", backoff=0.01, timeout=10) | kw
    return OpenAIRunner(model, root, base_url=url, api_key="test-key", **kw)


# ------------------------------------------------------------------------------------------------------------- tests
def test_openai_runner_answers_every_task_over_http(server, stkit, tmp_path):
    root, records, _ = stkit
    _Chat.calls.clear()
    answers = _runner(server, root, tmp_path).respond(records, progress=False)
    assert len(answers) == len(records) == len(_Chat.calls)
    for r, a in zip(records, answers):
        assert extract_answer(r["task"], a, r["question"]) == EXPECTED[r["task"]], (r["task"], r["task_question"], a)
    assert all(c["n_images"] == [4] for c in _Chat.calls)                     # 4 frames, as data URLs, one user turn
    assert all("4 frames are uniformly sampled" in c["question"] for c in _Chat.calls)


def test_cache_prevents_requery_and_keys_on_settings(server, stkit, tmp_path):
    root, records, _ = stkit
    recs = records[:5]
    _Chat.calls.clear()
    first = _runner(server, root, tmp_path).respond(recs, progress=False)
    assert len(_Chat.calls) == 5
    again = _runner(server, root, tmp_path).respond(recs, progress=False)   # a new runner, the same cache file
    assert again == first and len(_Chat.calls) == 5
    _runner(server, root, tmp_path, n_workers=1).respond(recs[:1], progress=False)   # not a setting of the answer
    assert len(_Chat.calls) == 5
    r8 = OpenAIRunner(
        "gpt-4o", root, base_url=server, api_key="test-key", n_frames=8, cache_path=tmp_path / "cache.jsonl"
    )
    r8.respond(recs[:2], progress=False)                                        # other frame count: asked again
    assert len(_Chat.calls) == 7 and _Chat.calls[-1]["n_images"] == [8]
    para = [paraphrase_record(r) for r in recs[:1]]                             # same id, other question: asked again
    _runner(server, root, tmp_path).respond(para, progress=False)
    assert len(_Chat.calls) == 8


def test_retries_on_429_and_timeout_then_fails_cleanly(server, stkit, tmp_path):
    root, records, _ = stkit
    _Chat.attempts.clear()
    out = _runner(server, root, tmp_path, model="flaky").respond(records[:2], progress=False)
    assert all(out) and all(_Chat.attempts[("flaky", q)] == 3 for (m, q) in _Chat.attempts if m == "flaky")
    out = _runner(server, root, tmp_path, model="slow", timeout=0.5).respond(records[:1], progress=False)
    assert out[0] and max(v for (m, _), v in _Chat.attempts.items() if m == "slow") == 2
    with pytest.raises(RuntimeError, match=r"broken on record .* failed after 3 attempt\(s\): InternalServerError"):
        _runner(server, root, tmp_path, model="broken", max_attempts=3).respond(records[:1], progress=False)
    with pytest.raises(RuntimeError, match=r"failed after 1 attempt\(s\): BadRequestError"):   # not transient: no retry
        _runner(server, root, tmp_path, model="bad-request").respond(records[:1], progress=False)


def test_n_shot_and_geometric_context_over_http(server, stkit, tmp_path):
    root, records, clips = stkit
    _Chat.calls.clear()
    ctx = clip_geometric_context(clips, n_frames=4, depth=lambda clip, i: np.full((45, 80), 4.0 + i))
    run = _runner(server, root, tmp_path, n_shots=2, shot_records=records, geometric_context=True, context=ctx)
    target = [r for r in records if r["task"] == "traveled_distance"][:1]
    assert run.respond(target, progress=False) == ["It traveled about 12 meters."]
    call = _Chat.calls[-1]
    assert call["n_turns"] == 5 and call["n_images"] == [8, 8, 8]              # 2 shots + question; frames + depth maps
    assert "Camera extrinsics" in call["question"] and "depth maps" in call["question"]
    with pytest.raises(NotImplementedError, match="no depth source"):
        clip_geometric_context(clips)


def first_per_task(records:list[dict], n:int)->list[dict]:
    "The first `n` records of each task: a bench to score, not balanced (the clip's comparisons have one answer each)."
    return [r for t in TASKS for r in [x for x in records if x["task"] == t][:n]]


def test_end_to_end_bench_evaluate_tables(server, stkit, tmp_path):
    root, records, _ = stkit
    assert {r["task"] for r in build_bench(records, 4, splits=("train",))} < set(TASKS)   # one-answer comparisons: out
    bench = first_per_task(records, 4)
    assert {r["task"] for r in bench} == set(TASKS)
    runs = {}
    for runner in (OracleRunner(), ChanceRunner(0), PriorRunner(records),
                   _runner(server, root, tmp_path, name="fake-gpt")):
        runs[runner.name] = evaluate(runner, bench, tmp_path / "eval" / runner.name, progress=False)
    assert runs["oracle"].loc["average", "accuracy"] == 100.0
    assert runs["oracle"].loc["average", "n_unextracted"] == 0
    assert runs["chance"].loc["average", "n_unextracted"] == 0 and runs["prior"].loc["average", "n_unextracted"] == 0
    # the fake model always says "blue" and "same direction": its comparison accuracy is the share of such labels
    blue = np.mean([r["label"] == "blue" for r in bench if r["task"] == "speed_comparison"]) * 100
    assert runs["fake-gpt"].loc["speed_comparison", "accuracy"] == pytest.approx(blue)
    tables = runs_to_tables([tmp_path / "eval" / n for n in runs], tmp_path / "tables", "mini", tmp_path / "figs")
    t3 = tables["table3"]
    assert list(t3.model[-4:]) == ["oracle", "chance", "prior", "fake-gpt"]
    assert t3.set_index("model").loc["oracle", "avg"].startswith("100.0 [")
    assert (tmp_path / "tables" / "table3.tex").exists() and (
        tmp_path / "figs" / "table3_average_accuracy.png"
    ).exists()
    assert "synthetic mini world" in (tmp_path / "tables" / "table4.md").read_text()


def test_eval_cli_openai_and_paraphrased(server, stkit, tmp_path, monkeypatch):
    root, records, _ = stkit
    bench = first_per_task(records, 2)
    write_jsonl(tmp_path / "bench.jsonl", bench)
    write_jsonl(tmp_path / "para.jsonl", [paraphrase_record(r) for r in bench])
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    for b, out in (("bench.jsonl", "gpt"), ("para.jsonl", "gpt-para")):
        r = CliRunner().invoke(
            eval_app,
            [
                "--model",
                "openai:gpt-4o",
                "--bench",
                str(tmp_path / b),
                "--videos",
                str(root),
                "--out",
                str(tmp_path / out),
                "--base-url",
                server,
                "--n-frames",
                "2",
            ],
        )
        assert r.exit_code == 0, (r.output, r.exception)
    df, meta = load_run(tmp_path / "gpt-para")
    assert meta["paraphrased"] and meta["model"] == "gpt-4o" and meta["settings"]["n_frames"] == 2
    assert (tmp_path / "gpt" / "api_cache.jsonl").exists()
    tables = runs_to_tables([tmp_path / "gpt", tmp_path / "gpt-para"], tmp_path / "t", "mini", tmp_path / "f")
    assert tables["table5"].model.iloc[-1] == "gpt-4o" and tables["table4"].iloc[-1][["n_shots", "geo"]].tolist() == [
        "0",
        "no",
    ]


def test_eval_cli_tiny_hf_model(stkit, tmp_path):
    from st_vlm_repro.tiny_model import make_tiny_llava_onevision
    root, records, _ = stkit
    write_jsonl(tmp_path / "bench.jsonl", records[:3])
    tiny = make_tiny_llava_onevision(tmp_path / "tiny")
    r = CliRunner().invoke(
        eval_app,
        [
            "--model",
            f"hf:{tiny}",
            "--bench",
            str(tmp_path / "bench.jsonl"),
            "--videos",
            str(root),
            "--out",
            str(tmp_path / "hf"),
            "--n-frames",
            "4",
        ],
    )
    assert r.exit_code == 0, (r.output, r.exception)
    assert len(read_jsonl(tmp_path / "hf" / "scores.jsonl")) == 3


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen3_vl", "internvl", "smolvlm2", "llava_video"])
def test_eval_cli_tiny_model_families(stkit, tmp_path, family):
    """Each open family, tiny and random-init from its real classes, answers the mini bench through `eval`."""
    from st_vlm_repro.tiny_model import make_tiny_vlm
    root, records, _ = stkit
    write_jsonl(tmp_path / "bench.jsonl", records[:2])
    tiny = make_tiny_vlm(tmp_path / family, family)
    args = ["--model", f"hf:{tiny}", "--bench", str(tmp_path / "bench.jsonl"), "--videos", str(root),
            "--out", str(tmp_path / "run")]
    by_fps = family == "qwen3_vl"
    r = CliRunner().invoke(eval_app, args + (["--fps", "1"] if by_fps else ["--n-frames", "4", "--max-pixels", "4096"]))
    assert r.exit_code == 0, (r.output, r.exception)
    assert len(read_jsonl(tmp_path / "run" / "scores.jsonl")) == 2
    _, meta = load_run(tmp_path / "run")
    assert meta["settings"]["family"] == AutoConfig.from_pretrained(tiny).model_type
    assert meta["settings"]["sampling"] == ("1.0 fps" if by_fps else "4 frames")
    assert meta["settings"]["max_pixels"] == (None if by_fps else 4096)


class _Reasoner(ChatHandler):
    """A reasoning-model endpoint: refuses `max_tokens` and `temperature` (400), answers slowly, counts requests in
    flight."""
    lock = threading.Lock()
    in_flight = 0
    peak = 0
    requests = 0

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        cls = type(self)
        with cls.lock:
            cls.requests += 1
        for p in ("max_tokens", "temperature"):
            if p in body and body["model"].startswith("o"):
                msg = f"Unsupported parameter: '{p}' is not supported with this model."
                return self._send(400, {"error": {"message": msg, "type": "invalid_request_error", "param": p}})
        with cls.lock:
            cls.in_flight += 1
            cls.peak = max(cls.peak, cls.in_flight)
        time.sleep(0.1)
        with cls.lock:
            cls.in_flight -= 1
        q = next(p["text"] for p in body["messages"][-1]["content"] if p["type"] == "text")
        self._reply(body["model"], f"{answer_for(q)} [{hashlib.sha256(q.encode()).hexdigest()[:8]}]")


@pytest.fixture(scope="module")
def reasoner():
    with serve(_Reasoner) as url:
        yield url


def test_concurrent_answers_equal_sequential(reasoner, stkit, tmp_path):
    root, records, _ = stkit
    recs = records[:12]
    _Reasoner.peak = 0
    seq = _runner(reasoner, root, tmp_path, model="gpt-4o", n_workers=1, cache_path=None).respond(recs, progress=False)
    assert _Reasoner.peak == 1
    par = _runner(reasoner, root, tmp_path, model="gpt-4o", n_workers=6, cache_path=None).respond(recs, progress=False)
    assert _Reasoner.peak > 1            # several requests were in flight at once
    assert par == seq and len(set(par)) > 1


def test_reasoning_model_options_and_400_reported_once(reasoner, stkit, tmp_path):
    root, records, _ = stkit
    _Reasoner.requests = 0
    with pytest.raises(RuntimeError, match="failed after 1 attempt.*'max_tokens' is not supported") as e:
        run = _runner(reasoner, root, tmp_path, model="o4-mini", n_workers=2, cache_path=None)
        run.respond(records[:10], progress=False)
    assert "BadRequestError" in str(e.value) and _Reasoner.requests <= 2   # only the requests in flight, no retries
    ok = _runner(reasoner, root, tmp_path, model="o4-mini", max_tokens_param="max_completion_tokens", temperature=None,
                 cache_path=None).respond(records[:3], progress=False)
    assert all(a.startswith(("It ", "Its ", "At ", "The ", "Yes")) for a in ok)


def test_eval_cli_reasoning_model(reasoner, stkit, tmp_path, monkeypatch):
    root, records, _ = stkit
    write_jsonl(tmp_path / "bench.jsonl", records[:4])
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    args = ["--model", "openai:o4-mini", "--bench", str(tmp_path / "bench.jsonl"), "--videos", str(root),
            "--base-url", reasoner, "--n-frames", "2", "--workers", "3"]
    bad = CliRunner().invoke(eval_app, args + ["--out", str(tmp_path / "bad")])
    assert bad.exit_code != 0 and "not supported with this model" in str(bad.exception)
    r = CliRunner().invoke(eval_app, args + ["--out", str(tmp_path / "ok"), "--reasoning-model"])
    assert r.exit_code == 0, (r.output, r.exception)
    assert load_run(tmp_path / "ok")[1]["settings"]["max_tokens_param"] == "max_completion_tokens"


def test_lmms_eval_task_from_a_moved_folder(stkit, tmp_path):
    """lmms-eval's own TaskManager loads the exported task after the folder is moved; gold answers score 100 %."""
    pytest.importorskip("lmms_eval")
    import shutil
    from lmms_eval.tasks import TaskManager
    from st_vlm_repro.evaluate import export_lmms_eval_task
    root, records, _ = stkit
    one_per_task = list({r["task"]: r for r in records}.values())
    write_jsonl(tmp_path / "bench.jsonl", one_per_task)
    export_lmms_eval_task(tmp_path / "bench.jsonl", root, tmp_path / "made")
    shutil.move(tmp_path / "made", tmp_path / "moved")
    tm = TaskManager(include_path=str(tmp_path / "moved"), include_defaults=False)
    task = tm.load_task_or_group(["stkit_bench"])["stkit_bench"]
    docs = list(task.test_docs())
    assert len(docs) == 7 and all(Path(task.doc_to_visual(d)[0]).is_file() for d in docs)
    paths = [task.doc_to_visual(d)[0] for d in docs]
    assert all(str(tmp_path / "moved") in p and "videos/videos" not in p for p in paths)
    items = [task.process_results(d, [task.doc_to_target(d)]) for d in docs]
    agg = task.aggregation()
    assert agg["average_acc"]([i["average_acc"] for i in items]) == 100.0


def test_results_pipeline_steps_on_mini_world(mini_world, tmp_path):
    """The results notebook's run: baselines and the random-init model on a mini-world bench and its paraphrases."""
    from st_vlm_repro.bench import write_bench
    from st_vlm_repro.clips import load_clips
    from st_vlm_repro.results import evaluate_baselines, evaluate_random_init
    from st_vlm_repro.stkit import build_stkit, read_stkit
    from st_vlm_repro.tiny_model import make_tiny_llava_onevision
    data = tmp_path / "data"
    for split in ("train", "val"):
        clips = load_clips("nuscenes", mini_world / "nuscenes", split, verbose=False)
        build_stkit(clips, data / "stkit", f"nuscenes-{split}", n_workers=1, progress=False)
    write_bench(read_stkit(data / "stkit"), data / "bench", n_per_task=1)
    n = len(read_jsonl(data / "bench" / "stkit_bench.jsonl"))
    runs = evaluate_baselines(data, progress=False)
    assert [r.name for r in runs] == ["chance", "prior", "oracle", "chance-para", "prior-para", "oracle-para"]
    assert all(len(read_jsonl(r / "scores.jsonl")) == n for r in runs)
    assert all(s["extracted"] for s in read_jsonl(data / "eval" / "oracle" / "scores.jsonl"))
    tiny = make_tiny_llava_onevision(tmp_path / "tiny")
    more = evaluate_random_init(data, tiny, "tiny", progress=False)
    assert [r.name for r in more] == ["tiny_llava_ov", "tiny_llava_ov-para"]
    _, meta = load_run(more[0])
    assert meta["model"] == "tiny-llava-ov (random init)" and meta["paraphrased"] is False
    assert load_run(more[1])[1]["paraphrased"] is True and len(read_jsonl(more[1] / "responses.jsonl")) == n


def test_blind_openai_runner_sends_the_question_without_frames(server, stkit, tmp_path):
    "--blind: the sighted prompt (the same sampled frame times) with no image; cached apart from the sighted answers."
    root, records, _ = stkit
    recs = records[:3]
    _Chat.calls.clear()
    sighted = _runner(server, root, tmp_path).respond(recs, progress=False)
    blind = _runner(server, root, tmp_path, blind=True)
    assert blind.name == "gpt-4o-blind" and blind.respond(recs, progress=False) == sighted   # the fake answers by text
    assert len(_Chat.calls) == 6 and [c["n_images"] for c in _Chat.calls] == [[4]] * 3 + [[0]] * 3
    assert sorted(c["question"] for c in _Chat.calls[3:]) == sorted(c["question"] for c in _Chat.calls[:3])
    assert _runner(server, None, tmp_path, blind=True, cache_path=None).respond(recs[:1], progress=False) == sighted[:1]
    with pytest.raises(ValueError, match="needed unless blind"):
        _runner(server, None, tmp_path)
    r = CliRunner().invoke(eval_app, ["--model", "chance", "--blind", "--bench", str(tmp_path / "none.jsonl"),
                                      "--out", str(tmp_path / "x")])
    assert r.exit_code != 0


@pytest.mark.parametrize("family", ["llava_video", "qwen2_5_vl"])
def test_blind_hf_model_asks_the_sighted_prompt_without_the_video(stkit, tmp_path, family):
    """--blind with hf:<path>: the sighted prompt's text in a text-only turn, no video read (the folder holds none),
    a run whose settings say blind, and a sighted run refused in its folder."""
    from st_vlm_repro.hf_runner import HFVideoRunner
    from st_vlm_repro.tiny_model import make_tiny_vlm
    root, records, _ = stkit
    recs = records[:2]
    write_jsonl(tmp_path / "bench.jsonl", recs)
    tiny = make_tiny_vlm(tmp_path / family, family)   # llava_video: make_tiny_llava_onevision
    empty = tmp_path / "no_videos"
    empty.mkdir()
    sighted = HFVideoRunner(tiny, root, n_frames=4, max_new_tokens=4)
    blind = HFVideoRunner(tiny, empty, n_frames=4, max_new_tokens=4, blind=True)
    for r in recs:
        t_seen, t_blind = sighted._sample(r)[1], blind._sample(r)[1]
        assert t_blind.tolist() == pytest.approx(t_seen.tolist(), abs=1e-3)
        seen_text = [c["text"] for c in sighted.messages(r, t_seen)[0]["content"] if c["type"] == "text"]
        assert blind.messages(r, t_blind)[0]["content"] == [{"type": "text", "text": t} for t in seen_text]
        enc = blind._inputs([r])
        assert set(enc) <= {"input_ids", "attention_mask", "mm_token_type_ids"}   # no pixels, no video grid
        text = blind.proc.tokenizer.decode(enc["input_ids"][0])
        assert seen_text[0] in text and blind.proc.video_token not in text and blind.proc.image_token not in text
    test_none = HFVideoRunner(tiny, None, n_frames=4, max_new_tokens=4, blind=True)
    assert test_none.messages(recs[0], t_blind) == blind.messages(recs[0], t_blind)
    with pytest.raises(ValueError, match="needed unless blind"):
        HFVideoRunner(tiny, None, n_frames=4)
    with pytest.raises(FileNotFoundError):   # a sighted runner on that folder would have to read the video
        HFVideoRunner(tiny, empty, n_frames=4).respond(recs[:1], progress=False)
    args = ["--model", f"hf:{tiny}", "--bench", str(tmp_path / "bench.jsonl"), "--out", str(tmp_path / "run"),
            "--n-frames", "4"]
    r = CliRunner().invoke(eval_app, args + ["--blind"])   # no --videos: a blind run reads none
    assert r.exit_code == 0, (r.output, r.exception)
    assert len(read_jsonl(tmp_path / "run" / "scores.jsonl")) == 2
    _, meta = load_run(tmp_path / "run")
    assert meta["model"] == f"{family}-blind" and meta["settings"]["blind"] is True
    assert meta["settings"]["family"] == AutoConfig.from_pretrained(tiny).model_type
    r = CliRunner().invoke(eval_app, args + ["--videos", str(root)])   # a sighted run never resumes the blind one
    assert r.exit_code != 0 and "holds responses of" in str(r.exception)
