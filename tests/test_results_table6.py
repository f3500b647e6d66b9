"""Table 6 on a profile (st_vlm_repro.results): the reproduction's glue on a toy profile — its train config, each row
trained one step (or reported not run), scored on a four-question benchmark, the loss figure and the caption line."""
import json
from pathlib import Path

import yaml

from st_vlm_repro.core import load_settings, write_jsonl
from st_vlm_repro.results import plot_table6_losses, profile_table6, table6_note, write_table6
from st_vlm_repro.train import make_toy_stkit, profile_train_config


def test_profile_table6_on_a_toy_profile(tmp_path):
    data = tmp_path / "data"
    stkit = make_toy_stkit(data / "stkit", n_clips=1)
    toy = stkit / "synthetic-train.jsonl"
    recs = [json.loads(x) for x in toy.read_text().splitlines()]
    # the toy clip as a labelled source, so that the "+ labelled" row has data
    write_jsonl(stkit / "nuscenes-train.jsonl", [dict(r, source="nuscenes") for r in recs])
    toy.unlink()
    write_jsonl(data / "bench" / "stkit_bench.jsonl", recs[:4])
    conf = tmp_path / "train_toy.yaml"
    conf.write_text(yaml.safe_dump(dict(model_path="unused", output_dir="unused", make_model="tiny",
                                        blend_counts=[None, 0, 0], n_frames=4, global_batch_size=2, micro_batch_size=1,
                                        learning_rate=1e-3, mixed_precision="no", save_total_limit=1)))
    cfg = load_settings("mini", data_dir=str(data), train_config=str(conf), train_max_steps=1)
    config = profile_train_config(cfg)
    assert (config.max_steps, config.stkit_dirs, config.make_model) == (1, [str(stkit)], "tiny")
    t6 = profile_table6(cfg)
    assert list(t6.source) == ["paper"] * 3 + ["measured"] * 4
    assert list(t6.note[3:6]) == ["", "", "not run: no pseudo-labelled STKit"]   # base and + labelled are run
    assert (data / "train" / "table6" / "label" / "final" / "config.json").exists()
    assert t6.iloc[-1]["label"] == "blind prior"
    again = profile_table6(cfg)                              # a trained row is read back, not retrained
    assert again.drop(columns="note").equals(t6.drop(columns="note"))
    fig = plot_table6_losses(cfg)
    assert [line.get_label() for line in fig.axes[0].lines][:1] == ["+ labelled"]
    note = table6_note(cfg, config)
    assert note.startswith("profile mini: tiny model trained from scratch (random init) on the synthetic mini world")
    md = write_table6(t6, tmp_path / "tables", note=note).read_text()
    assert note in md and Path(tmp_path / "tables" / "table6_data_composition.csv").exists()
