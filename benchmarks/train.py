"""Training throughput: st_vlm_repro.train's loop vs a plain Hugging Face `Trainer` (default settings) at equal batch.

    python benchmarks/train.py --model <model folder> --frames 8 --batch 8 --steps 10
    python benchmarks/train.py --make-model tiny            # a tiny random-init LLaVA-OneVision (CPU)
    python benchmarks/train.py --make-model small           # CPU-sized layers with Qwen2's 151,936-row vocabulary
    python benchmarks/train.py --make-model mid --frames 32  # Qwen2-0.5B-sized text + SigLIP-400M-sized vision,
                                                             # random init (GPU)

Each side runs in its own process on the same data (a toy STKit rendered from test clips, frames cached first), the same
micro batches in the same order, no gradient accumulation; the first `--warmup` steps are not timed. `--plain` turns off
the loop's own optimisations (logits only at answer positions, fused AdamW) to show what each side's defaults are worth.
Prints samples/s, tokens/s, peak
memory (GPU: max allocated; CPU: peak RSS of the process) and, on a GPU, MFU ≈ 6 · parameters · tokens/s / peak bf16
FLOP/s (an estimate: it counts every token through every parameter). Speed on a shared machine swings: compare the two
numbers of one run, not numbers across runs.
"""
import argparse, json, math, resource, subprocess, sys, tempfile, time
from pathlib import Path

PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "A6000": 154.8e12, "L40S": 362e12}


def count_params(model_dir) -> int:
    "Parameters of a saved model, from its safetensors headers (no second copy of the weights in memory)."
    from safetensors import safe_open
    n = 0
    for f in Path(model_dir).glob("*.safetensors"):
        with safe_open(str(f), "pt") as fh:
            n += sum(math.prod(fh.get_slice(k).get_shape()) for k in fh.keys())
    return n


def peak_mem_gb():
    import torch
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def run_side(a):
    "One side in this process; prints a JSON line."
    import torch
    from st_vlm_repro.train import (
        STKitTrainDataset,
        StepSampler,
        TrainConfig,
        collate,
        load_for_training,
        read_log,
        train,
        training_items,
    )

    cfg = TrainConfig(
        model_path=a.model,
        output_dir=str(Path(a.work) / a.side),
        stkit_dirs=[a.stkit],
        blend_counts=[None, 0, 0],
        n_frames=a.frames,
        global_batch_size=a.batch,
        micro_batch_size=a.batch,
        max_steps=a.steps + a.warmup,
        learning_rate=1e-5,
        cache_dir=str(Path(a.work) / "cache"),
        activation_checkpointing=a.ckpt,
        mixed_precision="bf16" if torch.cuda.is_available() else "no",
        answer_logits_only=not a.plain,
        fused_adamw=not a.plain,
    )
    items, _ = training_items(cfg)
    n_params = None
    if a.side == "ours":
        train(cfg, progress=False)
        log = read_log(cfg.output_dir)
        t = log[-1]["elapsed_s"] - log[a.warmup - 1]["elapsed_s"]
        steps = log[a.warmup:]
        samples = a.batch * len(steps)
        tokens = (
            sum(r["tokens_per_s"] * r["elapsed_s"] for r in log[-1:])
            - log[a.warmup - 1]["tokens_per_s"] * log[a.warmup - 1]["elapsed_s"]
        )
        n_params = count_params(cfg.model_path)
    else:
        from transformers import Trainer, TrainingArguments, TrainerCallback
        proc, model = load_for_training(cfg.model_copy(update=dict(activation_checkpointing=False)))
        n_params = count_params(cfg.model_path)
        ds = STKitTrainDataset(items, proc, cfg.n_frames, cfg.cache_dir)
        order = [
            i for b in StepSampler(len(ds), a.batch, a.batch, seed=cfg.seed, max_steps=a.steps + a.warmup) for i in b
        ]
        ds = torch.utils.data.Subset(ds, order)   # the loop's sample order, read in sequence below
        times, toks = [], []

        class Clock(TrainerCallback):
            def on_step_end(self, args, state, control, **kw): times.append(time.perf_counter())

        def coll(b):
            out = collate(b, proc.tokenizer.pad_token_id)
            toks.append(int(out["attention_mask"].sum()))
            return out
        args = TrainingArguments(
            output_dir=str(Path(a.work) / "hf"),
            per_device_train_batch_size=a.batch,
            max_steps=a.steps + a.warmup,
            learning_rate=1e-5,
            lr_scheduler_type="cosine",
            remove_unused_columns=False,
            report_to=[],
            save_strategy="no",
            logging_strategy="no",
            bf16=torch.cuda.is_available(),
            activation_checkpointing=a.ckpt,
            dataloader_num_workers=0,
            seed=0,
        )
        # only the order differs from a default Trainer: the loop's, so both sides see the same batches
        class InOrder(Trainer):
            def _get_train_sampler(self, *args, **kw): return torch.utils.data.SequentialSampler(self.train_dataset)
        InOrder(model=model, args=args, train_dataset=ds, data_collator=coll, callbacks=[Clock()]).train()
        t = times[-1] - times[a.warmup - 1]
        samples = a.batch * (len(times) - a.warmup)
        tokens = sum(toks[a.warmup:len(times)])
    res = dict(
        side=a.side, samples_per_s=samples / t, tokens_per_s=tokens / t, peak_mem_gb=peak_mem_gb(), params=n_params
    )
    if torch.cuda.is_available():
        name = torch.cuda.get_device_name()
        peak = next((v for k, v in PEAK_BF16.items() if k in name), None)
        if peak:
            res["mfu"] = 6 * n_params * res["tokens_per_s"] / peak
        res["device"] = name
    print("RESULT " + json.dumps(res), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="model folder (LLaVA-OneVision layout)")
    p.add_argument(
        "--make-model", choices=["tiny", "small", "mid"], help="build a random-init model instead of --model"
    )
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--ckpt", action="store_true", help="activation checkpointing on both sides")
    p.add_argument(
        "--plain", action="store_true", help="the loop without its optimisations (answer-only logits, fused AdamW)"
    )
    p.add_argument("--work", default=None)
    p.add_argument("--side", choices=["ours", "hf"], help=argparse.SUPPRESS)
    p.add_argument("--stkit", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.side:
        return run_side(a)
    work = Path(a.work or tempfile.mkdtemp(prefix="bench_train_"))
    from st_vlm_repro.train import make_toy_stkit
    if a.make_model:
        from st_vlm_repro.tiny_model import make_llava_onevision
        a.model = str(make_llava_onevision(work / a.make_model, a.make_model))
    if not a.model:
        p.error("give --model or --make-model")
    stkit = make_toy_stkit(work / "stkit", n_clips=3, n_frames=max(16, a.frames))
    # fill the frame and token caches first, so neither side pays for decoding or tokenising in its timed steps
    from st_vlm_repro.train import STKitTrainDataset, TrainConfig, training_items
    from st_vlm_repro.tiny_model import load_vlm

    wc = TrainConfig(
        model_path=a.model, output_dir=str(work), stkit_dirs=[str(stkit)], blend_counts=[None, 0, 0], n_frames=a.frames
    )
    ds = STKitTrainDataset(training_items(wc)[0], load_vlm(a.model)[0], a.frames, work / "cache")
    for i in range(len(ds)):
        ds[i]
    out = {}
    for side in ("ours", "hf"):
        cmd = (
            [
                sys.executable,
                __file__,
                "--side",
                side,
                "--model",
                a.model,
                "--stkit",
                str(stkit),
                "--work",
                str(work),
                "--frames",
                str(a.frames),
                "--batch",
                str(a.batch),
                "--steps",
                str(a.steps),
                "--warmup",
                str(a.warmup),
            ]
            + (["--ckpt"] if a.ckpt else [])
            + (["--plain"] if a.plain and side == "ours" else [])
        )
        r = subprocess.run(cmd, capture_output=True, text=True)
        line = next((l for l in r.stdout.splitlines() if l.startswith("RESULT ")), None)
        if line is None:
            sys.exit(f"{side} failed:\n{r.stderr[-3000:]}")
        out[side] = json.loads(line[7:])
    print(f"model {a.model}  frames {a.frames}  batch {a.batch}  timed steps {a.steps}")
    for s, v in out.items():
        print(
            f"{s:5s} samples/s {v['samples_per_s']:8.2f}  tokens/s {v['tokens_per_s']:10.1f}  "
            f"peak mem {v['peak_mem_gb']:6.2f} GB"
            + (f"  MFU {100 * v['mfu']:.1f}%" if "mfu" in v else "")
        )
    print(f"ratio ours/HF Trainer samples/s: {out['ours']['samples_per_s'] / out['hf']['samples_per_s']:.2f}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
