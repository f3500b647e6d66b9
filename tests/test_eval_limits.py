"eval against a hanging OpenAI-compatible server on 127.0.0.1: --timeout and --max-attempts bound what it costs."
import json, threading, time

from typer.testing import CliRunner

from openai_server import ChatHandler, serve

from st_vlm_repro.core import write_jsonl
from st_vlm_repro.evaluate import eval_app
from st_vlm_repro.stkit import clip_records
from st_vlm_repro.visual_prompts import make_test_clip, render_visual_prompt


class Counted(ChatHandler):
    "Counts the chat requests of its class; each is answered `answer` after `delay` seconds."
    delay, model, answer = 0.0, "m", ""

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        cls.calls, cls.lock = 0, threading.Lock()

    def do_POST(self):
        with self.lock:
            type(self).calls += 1
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        time.sleep(self.delay)
        self._reply(self.model, self.answer)


class Hanging(Counted):
    "Answers every chat request only after 3 s."
    delay, answer = 3.0, "The red object traveled 10 meters."


def test_timeout_and_max_attempts_bound_a_hanging_server(tmp_path):
    clip = make_test_clip(tmp_path/"frames", n_frames=40, seed=0)
    recs, videos = clip_records(clip, seed=0)
    for name, objs in videos:
        render_visual_prompt(clip, [(o.track_id, o.colour) for o in objs], tmp_path/"stkit"/name, size=96)
    write_jsonl(tmp_path/"bench.jsonl", [recs[0].model_dump(mode="json")])
    with serve(Hanging) as url:
        r = CliRunner().invoke(eval_app, ["--model", "openai:m", "--base-url", url, "--videos", str(tmp_path/"stkit"),
                                          "--bench", str(tmp_path/"bench.jsonl"), "--out", str(tmp_path/"out"),
                                          "--timeout", "0.5", "--max-attempts", "2", "--n-frames", "2"])
    assert r.exit_code != 0 and "failed after 2 attempt(s)" in str(r.exception), (r.output, r.exception)
    assert "Timeout" in str(r.exception) and Hanging.calls == 2   # two tries of 0.5 s each, not 5 of 120 s


class Counting(Counted):
    "A judge that answers every request with an unreadable reply."
    model, answer = "judge", "not sure"


def test_judge_on_disagreement_asks_only_where_the_rules_are_unsure(tmp_path):
    clip = make_test_clip(tmp_path/"frames", n_frames=40, seed=0)
    recs, videos = clip_records(clip, seed=0)
    write_jsonl(tmp_path/"bench.jsonl", [r.model_dump(mode="json") for r in recs[:6]])
    args = ["--model", "oracle", "--videos", str(tmp_path), "--bench", str(tmp_path/"bench.jsonl")]
    with serve(Counting) as url:
        judge = ["--judge", "judge", "--judge-base-url", url, "--max-attempts", "1"]
        sure = CliRunner().invoke(eval_app, args + judge + ["--judge-on-disagreement", "--out", str(tmp_path/"a")])
        assert sure.exit_code == 0, (sure.output, sure.exception)
        assert Counting.calls == 0   # the oracle's answers read with confidence: no judge call
        every = CliRunner().invoke(eval_app, args + judge + ["--out", str(tmp_path/"b")])
        assert every.exit_code == 0, (every.output, every.exception)
    assert Counting.calls == 6   # plain --judge asks about every answer
    assert json.loads((tmp_path/"a"/"meta.json").read_text())["extraction"] == "rules+judge:judge"
    assert json.loads((tmp_path/"b"/"meta.json").read_text())["extraction"] == "judge:judge"
