"""Exports against a real (tiny, offline) LlavaOnevisionProcessor: STKit chat messages with a rendered visual prompt,
and an OpenSpatialDataset image sample, go through `apply_chat_template(..., tokenize=True)`."""
import json

import cv2
import numpy as np
import pytest

from st_vlm_repro.exports import read_open_spatial, to_chat_messages, to_llava_json
from st_vlm_repro.visual_prompts import make_test_clip, read_video_frames, render_visual_prompt

TEMPLATE = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n'}}"
            "{% for c in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}{% endfor %}"
            "{% for c in message['content'] | selectattr('type', 'equalto', 'video') %}{{ '<video>\n' }}{% endfor %}"
            "{% for c in message['content'] | selectattr('type', 'equalto', 'text') %}{{ c['text'] }}{% endfor %}"
            "{{'<|im_end|>\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


@pytest.fixture(scope="module")
def processor(tmp_path_factory):
    "A tiny LlavaOnevisionProcessor (BPE tokenizer trained on the spot, 64 px image/video processors), saved, reloaded."
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (AutoProcessor, LlavaOnevisionImageProcessor, LlavaOnevisionProcessor,
                              LlavaOnevisionVideoProcessor, Qwen2TokenizerFast)
    d = tmp_path_factory.mktemp("proc")
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(
        [
            "The video lasts for 3.5 seconds, and 8 frames are uniformly sampled. How far did the car "
            "in the red box travel? It traveled 12.3 meters. Is Region [0] left of Region [1]? Yes."
        ]
        * 5,
        trainers.BpeTrainer(
            vocab_size=300, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    tok.save(str(d / "tokenizer.json"))
    qt = Qwen2TokenizerFast(tokenizer_file=str(d / "tokenizer.json"), eos_token="<|im_end|>", pad_token="<|endoftext|>",
                            extra_special_tokens={"image_token": "<image>", "video_token": "<video>"})
    proc = LlavaOnevisionProcessor(
        image_processor=LlavaOnevisionImageProcessor(size={"height": 64, "width": 64}, image_grid_pinpoints=[[64, 64]]),
        video_processor=LlavaOnevisionVideoProcessor(size={"height": 64, "width": 64}), tokenizer=qt,
        chat_template=TEMPLATE, num_image_tokens=16, vision_feature_select_strategy="full")  # 64 px / patch 16 = 4x4
    proc.save_pretrained(d / "p")
    return AutoProcessor.from_pretrained(d / "p")


def _record(video):
    return dict(
        id="r1",
        task="traveled_distance",
        clip_id="synthetic/test/0",
        source="synthetic",
        split="train",
        scene_id="test",
        domain="driving",
        video=video,
        frame_times=[0.5 * i for i in range(8)],
        objects=[dict(track_id="obj-0", category="car", colour="red")],
        question="The video lasts for 3.5 seconds, and 8 frames are uniformly sampled. "
        "How far did the car in the red box travel?",
        task_question="How far did the car in the red box travel?",
        answer="It traveled 12.3 meters.",
        label=12.3,
        template_id="tpl:TD0",
        info={},
    )


def test_stkit_record_through_processor(tmp_path, processor):
    clip = make_test_clip(tmp_path / "src", n_frames=8, size=(160, 90))
    render_visual_prompt(clip, [("obj-0", "red")], tmp_path / "videos" / "v.mp4")
    rec = _record("videos/v.mp4")
    msgs = to_chat_messages(rec, video_root=tmp_path, frames=4)
    assert msgs[0]["content"][0]["video"].shape == (4, 90, 160, 3)
    text = processor.apply_chat_template(msgs, tokenize=False)
    assert text.count("<video>") == 1 and rec["question"] in text and rec["answer"] in text
    out = processor.apply_chat_template(msgs, tokenize=True, return_dict=True, return_tensors="pt")
    assert tuple(out["pixel_values_videos"].shape) == (1, 4, 3, 64, 64)
    n_video_tokens = int((out["input_ids"][0] == processor.tokenizer.convert_tokens_to_ids("<video>")).sum())
    assert n_video_tokens == 4 * 4 + 1           # 4 frames x ceil(4/2)^2 pooled tokens + 1 newline
    # the frames the processor saw are the visual prompt's frames
    fr, ts = read_video_frames(tmp_path / "videos" / "v.mp4", n=4)
    assert np.array_equal(fr, msgs[0]["content"][0]["video"]) and list(ts) == [0.0, 1.0, 2.0, 3.5]
    # the same record in the LLaVA-NeXT JSON points at the same file
    e = json.loads(to_llava_json([rec], tmp_path / "l.json", video_root=tmp_path).read_text())[0]
    assert e["video"] == str(tmp_path / "videos" / "v.mp4")


def test_open_spatial_image_through_processor(tmp_path, processor):
    cv2.imwrite(str(tmp_path / "abc.jpg"), np.full((48, 80, 3), 120, np.uint8))
    (tmp_path / "osd.json").write_text(json.dumps([{"filename": "abc", "bbox": [[1, 1, 20, 20], [30, 5, 60, 40]],
        "conversations": [{"from": "human", "value": "<image>\nIs <mask> <depth> left of <mask> <depth>?"},
                          {"from": "gpt", "value": "Yes."}]}]))
    s = read_open_spatial(tmp_path / "osd.json", image_root=tmp_path)[0]
    out = processor.apply_chat_template(to_chat_messages(s), tokenize=True, return_dict=True, return_tensors="pt")
    assert out["pixel_values"].shape[0] == 1 and int(out["batch_num_images"][0]) == 1
    assert "Is Region [0] left of Region [1]?" in processor.tokenizer.decode(out["input_ids"][0])


def test_llava_next_sampling_of_a_rendered_visual_prompt(tmp_path):
    """On a real 2 fps visual prompt (frame count and rate read from the mp4 as decord reads them), only the flags the
    export names make LLaVA-NeXT's loader pick the frames whose times the STKit prompt lists."""
    import av
    from st_vlm_repro.exports import LLAVA_NEXT_FLAGS, llava_next_frame_indices
    from st_vlm_repro.stkit import clip_records
    clip = make_test_clip(tmp_path / "frames", n_frames=40, seed=0)
    recs, vids = clip_records(clip, seed=0)
    name, objs = vids[0]
    render_visual_prompt(clip, [(o.track_id, o.colour) for o in objs], tmp_path / name, size=96)
    with av.open(str(tmp_path / name)) as c:
        s = c.streams.video[0]
        fps, n = float(s.average_rate), sum(1 for _ in c.decode(video=0))
    _, times = read_video_frames(tmp_path / name)
    rec = next(r.model_dump(mode="json") for r in recs if r.video == name)
    listed = [float(t) for t in rec["frame_times"]]
    assert "These frames are located at" in rec["question"] and len(listed) == n == 40
    pick = lambda **flags: [float(times[i]) for i in llava_next_frame_indices(n, fps, **flags)]
    assert LLAVA_NEXT_FLAGS == "--video_fps 2 --frames_upbound 0"
    assert pick(video_fps=2, frames_upbound=0) == listed
    assert pick() != listed                                                    # LLaVA-NeXT's default
    assert pick(video_fps=2, frames_upbound=32, force_sample=True) != listed   # the LLaVA-Video recipe
    with pytest.raises(ValueError, match="other frames than the prompt lists for 1 of 1"):
        to_llava_json([rec], tmp_path / "l.json", video_fps=1)
