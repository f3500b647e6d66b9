"""Training (st_vlm_repro.train): CLI smoke run, resume equality, LoRA round trip, label masking, train/generate prompt
equality, and a real 2-process (torchrun, gloo) run against the 1-process losses. CPU only, tiny model."""
import json, os, subprocess, sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from st_vlm_repro.hf_runner import HFVideoRunner
from st_vlm_repro.tiny_model import CHAT_TEMPLATE, load_vlm, make_tiny_llava_onevision
from st_vlm_repro.train import (
    STKitTrainDataset,
    TrainConfig,
    collate,
    make_toy_stkit,
    read_log,
    read_stkit_records,
    train,
    train_app,
    training_items,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("train")
    return dict(d=d, stkit=make_toy_stkit(d / "stkit", n_clips=1), tiny=make_tiny_llava_onevision(d / "tiny"))


def _cfg(world, out, **kw):
    base = dict(model_path=str(world["tiny"]), stkit_dirs=[str(world["stkit"])], blend_counts=[None, 0, 0], n_frames=4,
                global_batch_size=4, micro_batch_size=2, learning_rate=1e-3, warmup_ratio=0.2, seed=0,
                cache_dir=str(world["d"] / "cache"), output_dir=str(world["d"] / out))
    return TrainConfig(**{**base, **kw})


def test_cli_smoke(world):
    cfg = _cfg(world, "cli", max_steps=2)
    path = world["d"] / "cli.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    r = CliRunner().invoke(train_app, ["--config", str(path), "--no-progress", "--set", "max_steps=3"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output[r.output.index("{"):])
    assert out["step"] == 3 and np.isfinite(out["loss"]) and out["samples_per_s"] > 0 and out["tokens_per_s"] > 0
    log = read_log(world["d"] / "cli")
    assert [x["step"] for x in log] == [1, 2, 3]
    assert {"loss", "lr", "grad_norm", "samples_per_s", "tokens_per_s", "peak_mem_gb"} <= set(log[0])
    proc, model = load_vlm(out["final_model"])                      # the final folder is a loadable model
    assert type(model).__name__ == "LlavaOnevisionForConditionalGeneration"
    bad = world["d"] / "bad.yaml"
    bad.write_text("model_path: x\noutput_dir: y\nlr: 1\n")
    r = CliRunner().invoke(train_app, ["--config", str(bad)])
    assert r.exit_code != 0 and "lr" in str(r.exception)


def test_resume_same_losses(world):
    full = train(_cfg(world, "r6", max_steps=6), progress=False)
    l6 = [x["loss"] for x in read_log(world["d"] / "r6")]
    assert len(l6) == 6 and l6[-1] < l6[0]
    part = train(_cfg(world, "r33", max_steps=6, stop_after_steps=3), progress=False)
    assert part["final_model"] is None and part["step"] == 3
    train(_cfg(world, "r33", max_steps=6), resume_from="latest", progress=False)
    l33 = [x["loss"] for x in read_log(world["d"] / "r33")]
    assert len(l33) == 6
    np.testing.assert_allclose(l33, l6, atol=1e-5, rtol=0)
    # same final weights too
    a = load_vlm(full["final_model"])[1].state_dict()
    b = load_vlm(world["d"] / "r33" / "final")[1].state_dict()
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-5
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train(_cfg(world, "nothing_here", max_steps=2), resume_from="latest", progress=False)


def test_lora_round_trip(world):
    from peft import PeftModel
    s = train(_cfg(world, "lora", max_steps=2, lora=True, lora_r=4, lora_alpha=8, lora_dropout=0.0,
                   tunable_parts="mm_mlp_adapter,mm_language_model"), progress=False)
    final = Path(s["final_model"])
    assert (final / "adapter" / "adapter_config.json").exists()
    cfgj = json.loads((final / "adapter" / "adapter_config.json").read_text())
    assert "language_model" in cfgj["target_modules"] and cfgj["modules_to_save"] == ["multi_modal_projector"]
    proc, _ = load_vlm(world["tiny"])
    items, _ = training_items(_cfg(world, "lora"))
    ds = STKitTrainDataset(items[:2], proc, 4, world["d"] / "cache")
    batch = {k: v for k, v in collate([ds[0], ds[1]], proc.tokenizer.pad_token_id).items() if k != "labels"}
    with torch.no_grad():
        merged = load_vlm(final)[1](**batch).logits
        adapter = PeftModel.from_pretrained(load_vlm(world["tiny"])[1], final / "adapter").eval()(**batch).logits
        base = load_vlm(world["tiny"])[1](**batch).logits
    torch.testing.assert_close(merged, adapter, atol=1e-5, rtol=1e-5)
    assert float((merged - base).abs().max()) > 1e-3
    # only LoRA and the projector were trained: SigLIP is untouched in the merged model
    m0, m1 = load_vlm(world["tiny"])[1].state_dict(), load_vlm(final)[1].state_dict()
    assert all(torch.equal(m0[k], m1[k]) for k in m0 if "vision_tower" in k)
    assert any(not torch.equal(m0[k], m1[k]) for k in m0 if "multi_modal_projector" in k)


def test_label_mask_assistant_and_stop_token_only(world):
    proc, _ = load_vlm(world["tiny"])
    recs = read_stkit_records([world["stkit"]])
    items = [{"kind": "stkit", "record": r} for r in recs]
    ds = STKitTrainDataset(items, proc, 4, world["d"] / "cache_mask")
    for i, r in enumerate(recs):
        s = ds[i]
        trained = s["labels"] != -100
        assert proc.tokenizer.decode(s["input_ids"][trained]) == r["answer"] + "<|im_end|>"
        idx = trained.nonzero().flatten()
        # one span at the end
        assert bool((idx == torch.arange(idx[0], idx[-1] + 1)).all()) and idx[-1] == len(s["input_ids"]) - 1
        assert torch.equal(s["labels"][trained], s["input_ids"][trained])
    # a template that leaves the stop token outside {% generation %} (the stock llava-hf layout) is refused
    stock = CHAT_TEMPLATE.replace("<|im_end|>{% endgeneration %}", "{% endgeneration %}<|im_end|>")
    assert stock != CHAT_TEMPLATE
    proc.chat_template = stock
    with pytest.raises(ValueError, match="stop token"):
        STKitTrainDataset(items[:1], proc, 4, world["d"] / "cache_stock")[0]
    proc.chat_template = CHAT_TEMPLATE.replace("{% generation %}", "").replace("{% endgeneration %}", "")
    with pytest.raises(ValueError, match="marks no assistant tokens"):
        STKitTrainDataset(items[:1], proc, 4, world["d"] / "cache_nogen")[0]


def test_train_prefix_equals_generation_prompt(world):
    "The tokens the model is trained on before its answer are exactly the runner's generation input for a record."
    proc, _ = load_vlm(world["tiny"])
    recs = read_stkit_records([world["stkit"]])
    ds = STKitTrainDataset([{"kind": "stkit", "record": r} for r in recs], proc, 4, world["d"] / "cache_prefix")
    runner = HFVideoRunner(world["tiny"], world["stkit"], n_frames=4)
    for i, r in enumerate(recs[:4]):
        s = ds[i]
        first = int((s["labels"] != -100).nonzero()[0])
        gen = runner._inputs([{k: v for k, v in r.items() if k != "_root"}])
        assert s["input_ids"][:first].tolist() == gen["input_ids"][0].tolist()
        assert torch.equal(s["pixel_values_videos"], gen["pixel_values_videos"])


def test_torchrun_two_processes_match_one(world, tmp_path):
    "2 CPU processes (gloo, DDP, vision tower tuned) give the 1-process losses: same order, exact token-mean loss."
    one = train(
        _cfg(world, "one", max_steps=2, tunable_parts="mm_vision_tower,mm_mlp_adapter,mm_language_model"),
        progress=False,
    )
    cfg = _cfg(world, "two", max_steps=2, micro_batch_size=1,
               tunable_parts="mm_vision_tower,mm_mlp_adapter,mm_language_model")
    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    torchrun = Path(sys.executable).parent / "torchrun"
    r = subprocess.run([str(torchrun), "--nproc_per_node", "2", "--master_port", "29531", "-m", "st_vlm_repro.train",
                        "--config", str(path), "--no-progress"], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    l1 = [x["loss"] for x in read_log(world["d"] / "one")]
    l2 = [x["loss"] for x in read_log(world["d"] / "two")]
    np.testing.assert_allclose(l2, l1, atol=1e-4, rtol=0)
    s2 = json.loads((world["d"] / "two" / "train_summary.json").read_text())
    assert s2["world"] == 2


@pytest.mark.parametrize("name", ["train_mini", "train_small_gpu", "train_full"])
def test_shipped_configs_load(name):
    root = Path(__file__).resolve().parents[1]
    cfg = TrainConfig.load(root / "configs" / f"{name}.yaml", base_dir=root)
    assert Path(cfg.model_path).is_absolute() and cfg.answer_logits_only
    if name == "train_full":   # the paper's recipe (Sec. 5.1)
        assert (cfg.global_batch_size, cfg.learning_rate, cfg.lr_scheduler, cfg.epochs) == (128, 1e-5, "cosine", 1.0)
    if name == "train_mini":
        assert cfg.make_model == "tiny"


def test_broken_video_is_skipped_and_the_run_goes_on(world, tmp_path):
    stkit = make_toy_stkit(tmp_path / "stkit", n_clips=2)
    recs = read_stkit_records([stkit])
    assert len({r["video"] for r in recs}) == 2
    # break the video with fewer records
    recs = sorted(recs, key=lambda r: sum(x["video"] == r["video"] for x in recs))
    victim = Path(recs[0]["_root"], recs[0]["video"])
    victim.write_bytes(victim.read_bytes()[:2000])  # truncated mid-download
    cfg = _cfg(
        world,
        "broken",
        stkit_dirs=[str(stkit)],
        cache_dir=str(tmp_path / "cache"),
        output_dir=str(tmp_path / "run"),
        max_steps=3,
    )
    with pytest.warns(UserWarning, match="skipped"):
        s = train(cfg, progress=False)
    assert s["step"] == 3 and s["final_model"] and np.isfinite(s["loss"])
    # the ones drawn in 3 steps
    assert 1 <= s["skipped_items"] <= sum(1 for r in recs if r["video"] == recs[0]["video"])
    logged = [json.loads(l) for l in (tmp_path / "run" / "skipped_items.rank0.jsonl").read_text().splitlines()]
    assert {r["id"] for r in logged} <= {r["id"] for r in recs if r["video"] == recs[0]["video"]}
    assert all("cannot be decoded" in r["error"] or "Error" in r["error"] for r in logged)
