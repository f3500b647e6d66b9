"Core tools on their real back ends: Ray (a local instance), process pools, atomic writes under a killed writer."
import signal, subprocess, sys, textwrap

import pytest

from st_vlm_repro.core import Failed, load_settings, parallel_map, read_jsonl, write_jsonl


def _collatz_steps(n):
    k = 0
    while n != 1:
        n, k = (n // 2 if n % 2 == 0 else 3*n + 1), k + 1
    return k


def test_parallel_map_on_local_ray():
    "Ray path: same results, same order as the local path; failures come back as Failed."
    # Ray workers import functions by module, as they would import a user's st_vlm_repro stage: use library functions
    items = [str(i) for i in range(40)]
    assert parallel_map(int, items, ray_address="local", progress=False) == list(range(40))
    res = parallel_map(int, ["0", "1", "seven", "3"], ray_address="local", errors="return", progress=False)
    assert isinstance(res[2], Failed) and "seven" in res[2].error
    assert [r for i, r in enumerate(res) if i != 2] == [0, 1, 3]


def test_parallel_map_processes_keep_order():
    items = list(range(1, 200))
    assert parallel_map(_collatz_steps, items, n_workers=2, progress=False) == [_collatz_steps(i) for i in items]


def test_atomic_write_survives_a_killed_writer(tmp_path):
    "A writer killed mid-write leaves the previous file intact and no partial file under the final name."
    dest = tmp_path/"out.jsonl"
    write_jsonl(dest, [{"i": 0}])
    code = textwrap.dedent(f"""
        import os, time
        from st_vlm_repro.core import write_jsonl
        def slow():
            for i in range(10**9):
                if i == 1000: open({str(tmp_path/'started')!r}, 'w').close()
                if i > 1000: time.sleep(0.001)
                yield {{"i": i}}
        write_jsonl({str(dest)!r}, slow())
    """)
    p = subprocess.Popen([sys.executable, "-c", code])
    for _ in range(600):
        if (tmp_path/"started").exists():
            break
        import time
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert read_jsonl(dest) == [{"i": 0}]


def test_settings_file_from_env(tmp_path, monkeypatch):
    (tmp_path/"s.ini").write_text("[DEFAULT]\ndata_dir = d\n[mine]\nn_scenes = 3\n")
    monkeypatch.setenv("ST_VLM_SETTINGS", str(tmp_path/"s.ini"))
    cfg = load_settings("mine")
    assert cfg.n_scenes == 3 and cfg.data_dir == str(tmp_path/"d") and cfg.step == 0.5
    monkeypatch.setenv("ST_VLM_SETTINGS", str(tmp_path/"missing.ini"))
    with pytest.raises(FileNotFoundError, match="missing.ini"):
        load_settings("mine")
