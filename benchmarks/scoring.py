"""Rule-based answer extraction and summarize() speed, against a naive first-number baseline in the same run.

Goals on one core: extract_answer at >= 20,000 responses/s on a generated mix of VLM-style responses over the seven
tasks; summarize() of 1,400 scored items (200 per task, the size of STKit-Bench), bootstrap included, in < 0.2 s.
The mix has known answers, so the script also prints how often the rules (and the naive baseline: the first number in
the text, or the first colour / a leading "yes") read the right value, and the same on the labelled answers written in
real VLMs' styles (tests/data/vlm_style_answers.jsonl, dev and held-out parts). Run:
`python benchmarks/scoring.py [--n 20000]`.
"""
import argparse, json, os, random, re
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as the goal says

from _timing import best_of
from st_vlm_repro.scoring import TASKS, extract_answer, summarize, score, same_answer

LABELLED = Path(__file__).resolve().parents[1] / "tests" / "data" / "vlm_style_answers.jsonl"

Q = {
    "traveled_distance": "The car is annotated with a red bounding box. "
    "How far did it travel between {a} and {b} seconds?",
    "traveling_speed": "The car is annotated with a red bounding box. How fast is it moving from {a} to {b} seconds?",
    "movement_direction": "The car is annotated with a red bounding box. "
    "At {a} seconds, in which clock direction is it moving?",
    "direction_timestamp": "The car is annotated with a blue bounding box. "
    "When does it move toward the {h} o'clock direction?",
    "distance_comparison": "There are 2 objects annotated with {c1} and {c2} bounding boxes. "
    "Which object travels {cmp}?",
    "speed_comparison": "There are 2 objects annotated with {c1} and {c2} bounding boxes. Which object is {cmp}?",
    "direction_comparison": "There are 2 objects annotated with {c1} and {c2} bounding boxes. "
    "Are they moving in the same direction?",
}
DIST_UNITS = [
    ("m", 1.0),
    ("meters", 1.0),
    ("metres", 1.0),
    ("km", 1000.0),
    ("feet", 0.3048),
    ("ft", 0.3048),
    ("yards", 0.9144),
]
SPEED_UNITS = [
    ("km/h", 1.0),
    ("kph", 1.0),
    ("km per hour", 1.0),
    ("m/s", 3.6),
    ("mph", 1.609344),
    ("miles per hour", 1.609344),
]
WORDS = "zero one two three four five six seven eight nine ten eleven twelve".split()
NUM_T = [
    "{v} {u}",
    "The car traveled approximately {v} {u}.",
    "Between {a} and {b} seconds, the object travels about {v} {u}.",
    "Based on the video, I estimate roughly {v} {u} in total.",
    "**Answer:** {v} {u}",
    "It moves a bit every frame, so the total comes to about {v} {u}.",
    "Around {v}{u}, give or take.",
]
CLOCK_T = [
    "{h} o'clock",
    "The car is moving toward the {h} o'clock direction.",
    "It turns from 12 o'clock to {h} o'clock.",
    "{w} o'clock.",
    "Clock direction {h}.",
    "At {a} seconds the car heads in the {h}:00 direction.",
]
TIME_T = [
    "{a}-{b} s",
    "From {a} to {b} seconds.",
    "[{a}, {b}]",
    "Between {a}s and {b}s, the car moves toward {h} o'clock.",
    "It starts at {a} s and ends at {b} s.",
]
CMP_T = [
    "The {x} object is {more} than the {y} one, so the {y} one is {less}.",
    "{X}.",
    "The {x}-boxed car is {ans_word}.",
    "The {y} car is {other_word} than the {x} car.",
    "Comparing both, the answer is {x}.",
]
DIR_T = [
    ("Yes, both head the same way.", True),
    ("No, they are not moving in the same direction.", False),
    ("They are moving in opposite directions.", False),
    ("Yes.", True),
    ("They move in different directions.", False),
    ("Both objects are moving in a similar direction.", True),
]
REFUSALS = ["I cannot determine this from the video.", "It is impossible to tell from these frames."]


def make_mix(n, seed=0):
    "n (task, question, response, expected) tuples, round-robin over the tasks; 5 % refusals (expected None)."
    r = random.Random(seed)
    out = []
    cols = ["red", "blue", "green", "yellow", "orange", "purple"]
    for i in range(n):
        task = TASKS[i % 7]
        a = round(r.uniform(0, 8), 1)
        b = round(a + r.uniform(1, 10), 1)
        h = r.randint(1, 12)
        c1, c2 = r.sample(cols, 2)
        q = Q[task].format(a=a, b=b, h=h, c1=c1, c2=c2, cmp="")
        if r.random() < 0.05:
            out.append((task, q, r.choice(REFUSALS), None))
            continue
        if task in ("traveled_distance", "traveling_speed"):
            u, f = r.choice(DIST_UNITS if task == "traveled_distance" else SPEED_UNITS)
            v = round(r.uniform(0.5, 120), 1)
            out.append((task, q, r.choice(NUM_T).format(v=v, u=u, a=a, b=b), v * f))
        elif task == "movement_direction":
            out.append((task, q, r.choice(CLOCK_T).format(h=h, w=WORDS[h], a=a), h))
        elif task == "direction_timestamp":
            out.append((task, q, r.choice(TIME_T).format(a=a, b=b, h=h), (a, b)))
        elif task == "direction_comparison":
            resp, v = r.choice(DIR_T)
            out.append((task, q, resp, v))
        else:
            more, less = ("faster", "slower") if task == "speed_comparison" else ("farther", "shorter")
            asks_more = r.random() < 0.5
            q = Q[task].format(c1=c1, c2=c2, cmp=(more if asks_more else less) if task == "speed_comparison"
                               else ("farther" if asks_more else "less"))
            x, y = r.sample([c1, c2], 2)          # x is the answer to the question
            # "more"/"less" in the template describe x relative to y when x is the answer to a "more" question
            m, l = (more, less) if asks_more else (less, more)
            resp = r.choice(CMP_T).format(x=x, y=y, X=x.capitalize(), more=m, less=l, ans_word=m, other_word=l)
            out.append((task, q, resp, x))
    return out


_FIRST_NUM = re.compile(r"\d+(?:\.\d+)?")
_COL = re.compile(r"\b(red|blue|green|yellow|orange|purple)\b")


def naive_extract(task, response, question=None):
    "Baseline: the first number (first two for intervals), the first colour, a leading 'yes' for direction comparison."
    t = response.lower()
    if task == "direction_comparison":
        return t.startswith("yes")
    if task in ("distance_comparison", "speed_comparison"):
        m = _COL.search(t)
        return m.group(1) if m else None
    nums = [float(x) for x in _FIRST_NUM.findall(t)]
    if task == "direction_timestamp":
        return tuple(nums[:2]) if len(nums) >= 2 else None
    if not nums:
        return None
    return (
        int(nums[0])
        if task == "movement_direction" and 1 <= nums[0] <= 12
        else (nums[0] if task != "movement_direction" else None)
    )


def agree(got, want):
    if want is None or got is None:
        return got is None and want is None
    if isinstance(want, float):
        return abs(got - want) <= 1e-6 * max(1.0, abs(want))
    if isinstance(want, tuple):
        return tuple(map(float, got)) == want
    return got == want


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000)
    a = ap.parse_args()
    mix = make_mix(a.n)
    rule = [extract_answer(t, resp, q) for t, q, resp, _ in mix]
    naive = [naive_extract(t, resp, q) for t, q, resp, _ in mix]
    t_rule = best_of(lambda: [extract_answer(t, resp, q) for t, q, resp, _ in mix])
    t_naive = best_of(lambda: [naive_extract(t, resp, q) for t, q, resp, _ in mix])
    ok_rule = sum(agree(g, w) for g, (*_, w) in zip(rule, mix)) / len(mix)
    ok_naive = sum(agree(g, w) for g, (*_, w) in zip(naive, mix)) / len(mix)
    rate = len(mix) / t_rule
    t_explain = best_of(lambda: [extract_answer(t, resp, q, explain=True) for t, q, resp, _ in mix])
    print(f"responses: {len(mix):,} (7 tasks, VLM-style templates, 5 % refusals)")
    print(f"extract_answer (rules): {rate:,.0f} responses/s   goal >= 20,000/s: {'OK' if rate >= 20_000 else 'MISSED'}"
          f"   reads the right value: {100*ok_rule:.1f} %")
    print(f"extract_answer(explain=True), with the deciding cue: {len(mix) / t_explain:,.0f} responses/s")
    print(
        f"naive first-number baseline: {len(mix) / t_naive:,.0f} responses/s   "
        f"reads the right value: {100 * ok_naive:.1f} %"
        f"   (rules cost {t_rule / t_naive:.1f}x the baseline)"
    )
    if LABELLED.exists():
        rows = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines()]
        for split in ("dev", "heldout"):
            part = [r for r in rows if r["split"] == split]
            ok = sum(same_answer(extract_answer(r["task"], r["response"], r["question"]), r["expected"]) for r in part)
            ok_n = sum(same_answer(naive_extract(r["task"], r["response"], r["question"]), r["expected"]) for r in part)
            print(
                f"VLM-style labelled answers, {split}: rules {100 * ok / len(part):.1f} %, "
                f"naive {100 * ok_n / len(part):.1f} %"
                f" of {len(part)}"
            )
    # summarize of a benchmark-sized result: 200 items per task, raw gold/pred records (scoring included)
    recs = []
    for task in TASKS:
        items = [(m, p) for m, p in zip(mix, rule) if m[0] == task and m[3] is not None][:200]
        recs += [dict(task=task, gold=m[3], pred=p) for m, p in items]
    assert len(recs) == 1400, len(recs)
    t_sum = best_of(lambda: summarize(recs), repeat=5)
    scored = [score(r["task"], r["gold"], r["pred"]) for r in recs]
    t_pre = best_of(lambda: summarize(scored), repeat=5)
    print(f"summarize 1,400 items (score + 2,000-replicate bootstrap per task): {t_sum*1000:.1f} ms   goal < 200 ms: "
          f"{'OK' if t_sum < 0.2 else 'MISSED'}   (precomputed scores: {t_pre*1000:.1f} ms)")


if __name__ == "__main__":
    main()
