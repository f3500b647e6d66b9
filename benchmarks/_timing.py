"Timing helpers shared by the benchmark scripts (run as `python benchmarks/<name>.py`, so this folder is on sys.path)."
import time


def best_of(fn, repeat=3):
    "The shortest wall time (s) of `repeat` calls of `fn`: the least disturbed run on a shared machine."
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return min(ts)
