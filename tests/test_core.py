"Core tools on their real back ends: Ray (a local instance), process pools, atomic writes under a killed writer."
import os, signal, subprocess, sys, textwrap
from pathlib import Path

import pytest

from st_vlm_repro.core import Failed, Settings, SettingsError, load_settings, parallel_map, read_jsonl, write_jsonl

ROOT = Path(__file__).resolve().parents[1]


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
    assert cfg.n_scenes == 3 and cfg.data_dir == tmp_path/"d" and cfg.step == 0.5
    monkeypatch.setenv("ST_VLM_SETTINGS", str(tmp_path/"missing.ini"))
    with pytest.raises(FileNotFoundError, match="missing.ini"):
        load_settings("mine")


@pytest.fixture
def no_env(monkeypatch):
    "The project's settings.ini alone, without this run's ST_VLM_* overrides."
    monkeypatch.chdir(ROOT)
    for k in [k for k in os.environ if k.startswith("ST_VLM_")]:
        monkeypatch.delenv(k)


def test_settings_are_typed(no_env):
    cfg = load_settings("mini")
    assert isinstance(cfg, Settings) and (cfg.seed, cfg.n_scenes, cfg.step, cfg.mini_world) == (0, 10, 0.5, True)
    assert type(cfg.n_scenes) is int and type(cfg.mini_world) is bool and cfg.data_dir == ROOT/"data"
    assert cfg.model_path == ROOT/"data/tiny_llava_ov" and cfg.train_config == ROOT/"configs/train_mini.yaml"
    assert cfg.figures_dir == ROOT/"runs/latest/figures" and cfg.published_tables_dir == ROOT/"tables"
    assert cfg["seed"] == cfg.seed == 0 and cfg.get("bench_per_task", 200) == 200   # the dict-era reads
    full = load_settings("full")
    assert full.nuscenes_root == Path("/datasets/nuscenes") and full.model_size is None and full.pseudo_monst3r is None


def test_env_overrides_a_path_and_an_int(no_env, monkeypatch):
    monkeypatch.setenv("ST_VLM_DATA_DIR", "/mnt/d")
    monkeypatch.setenv("ST_VLM_N_SCENES", "9")
    cfg = load_settings("mini")
    assert cfg.data_dir == Path("/mnt/d") and cfg.n_scenes == 9
    assert cfg.nuscenes_root == Path("/mnt/d/mini_world/nuscenes") and cfg.model_path == Path("/mnt/d/tiny_llava_ov")
    assert load_settings("mini", data_dir="rel").pseudo_dir == ROOT/"rel/pseudo"   # relative: from the file's folder


@pytest.mark.parametrize("kw, env, expect", [
    (dict(nuscenes_rot="/x"), {}, "unknown setting 'nuscenes_rot' (did you mean 'nuscenes_root'?)"),
    ({}, dict(ST_VLM_NSCENES="3"), "unknown setting 'nscenes' (environment variable ST_VLM_NSCENES) (did you mean"),
    (dict(n_scenes="abc"), {}, "settings.ini: setting 'n_scenes' must be an integer, not 'abc'"),
    ({}, dict(ST_VLM_STEP="x"), "setting 'step' (environment variable ST_VLM_STEP) must be a number, not 'x'"),
    (dict(mini_world="maybe"), {}, "setting 'mini_world' must be true or false, not 'maybe'"),
])
def test_settings_errors_are_one_line(no_env, monkeypatch, kw, env, expect):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(SettingsError) as e:
        load_settings("mini", **kw)
    assert expect in str(e.value) and "\n" not in str(e.value)


def test_file_errors_name_the_section(tmp_path, no_env):
    (tmp_path/"s.ini").write_text("[DEFAULT]\n[p]\nmax_gap = long\n")
    with pytest.raises(SettingsError, match=r"s.ini \[p\]: setting 'max_gap' must be a number, not 'long'"):
        load_settings("p", tmp_path/"s.ini")


@pytest.mark.parametrize("profile", ["mini", "miniature", "small_gpu", "full"])
def test_every_profile_loads(profile, no_env, recwarn):
    cfg = load_settings(profile)
    assert cfg.profile == profile and cfg.description and cfg.device in ("cpu", "cuda")
    assert not recwarn.list, [str(w.message) for w in recwarn]   # every key of settings.ini is a field of Settings
