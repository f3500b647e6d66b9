"The reproduction driver end to end: papermill runs notebooks in order, stops at a failure, resumes with --from."
import json, os, subprocess, sys
from pathlib import Path

import nbformat

from st_vlm_repro.reproduce import run_notebooks

ROOT = Path(__file__).resolve().parents[1]


def _nb(path, *sources, params=True):
    cells = [nbformat.v4.new_code_cell('profile = "mini"', metadata={"tags": ["parameters"]})] if params else []
    cells += [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)


def test_run_stops_at_failure_and_resumes(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    nbs, out = tmp_path/"nbs", tmp_path/"run"
    nbs.mkdir()
    marker = tmp_path/"ran.txt"
    _nb(nbs/"00_first.ipynb", f"open({str(marker)!r}, 'a').write(profile + '\\n')")
    _nb(nbs/"00a_figure.ipynb", "from st_vlm_repro.core import load_settings",
        "d = load_settings(profile).figures_dir\nd.mkdir(parents=True, exist_ok=True)",
        "(d/'fig.png').write_bytes(b'png')")
    _nb(
        nbs / "01_broken.ipynb",
        "x = 1",
        "import os\nif not os.path.exists(%r): raise RuntimeError('not fixed yet')" % str(tmp_path / "fixed"),
    )
    _nb(nbs/"02_last.ipynb", f"open({str(marker)!r}, 'a').write('last\\n')")
    _nb(nbs/"90_tooling.ipynb", "raise SystemExit('tooling notebooks are not run')")
    s = run_notebooks("mini", nbs_dir=nbs, run_dir=out)
    assert s["failed"] == "01_broken"
    st = {r["notebook"]: r for r in s["notebooks"]}
    assert st["00_first"]["status"] == "ok" and st["01_broken"]["status"] == "failed"
    assert (out/"figures/fig.png").read_bytes() == b"png" and not (ROOT/"figures/fig.png").exists()  # not published
    assert not (ROOT/"runs/latest/figures/fig.png").exists()   # nor where a notebook run by hand writes
    assert "not fixed yet" in st["01_broken"]["error"] and st["01_broken"]["source"] == "import os"
    assert "02_last" not in st and marker.read_text() == "mini\n"
    assert (out/"00_first.ipynb").exists() and "01_broken" in (out/"index.md").read_text()
    # executed copy carries the injected parameters; the source notebook does not
    assert "injected-parameters" in (out/"00_first.ipynb").read_text()
    assert "injected-parameters" not in (nbs/"00_first.ipynb").read_text()

    (tmp_path/"fixed").touch()
    s = run_notebooks("mini", nbs_dir=nbs, run_dir=out, start="01")
    st = {r["notebook"]: r["status"] for r in s["notebooks"]}
    assert st == {"00_first": "ok", "00a_figure": "ok", "01_broken": "ok", "02_last": "ok"} and "failed" not in s
    assert marker.read_text() == "mini\nlast\n"   # 00 was not rerun
    assert json.loads((out/"summary.json").read_text())["notebooks"][3]["notebook"] == "02_last"


def test_publish_copies_a_completed_run(tmp_path, monkeypatch):
    "Only `publish=True` after a run without failure writes the profile's published tables and figures folders."
    monkeypatch.chdir(ROOT)
    pub = tmp_path/"published"
    monkeypatch.setenv("ST_VLM_PUBLISHED_FIGURES_DIR", str(pub/"figures"))
    monkeypatch.setenv("ST_VLM_PUBLISHED_TABLES_DIR", str(pub/"tables"))
    monkeypatch.setenv("ST_VLM_FIGURES_DIR", str(tmp_path/"by_hand"))
    nbs = tmp_path/"nbs"
    nbs.mkdir()
    _nb(nbs/"00_table.ipynb", "from st_vlm_repro.core import load_settings",
        "d = load_settings(profile).tables_dir\nd.mkdir(parents=True, exist_ok=True)",
        "(d/'t.md').write_text('| a |')")
    s = run_notebooks("mini", nbs_dir=nbs, run_dir=tmp_path/"run")
    assert (tmp_path/"run/tables/t.md").exists() and not pub.exists() and "published" not in s
    assert "tables/t.md" in (tmp_path/"run/index.md").read_text()
    s = run_notebooks("mini", nbs_dir=nbs, run_dir=tmp_path/"run", publish=True)
    assert (pub/"tables/t.md").read_text() == "| a |" and s["published"] == [str(pub/"tables/t.md")]
    assert os.environ["ST_VLM_FIGURES_DIR"] == str(tmp_path/"by_hand")  # the run's redirection is undone


def test_cli_console_script():
    "The installed console script answers --help and prints resolved settings."
    exe = Path(sys.executable).parent/"st-vlm-repro"
    r = subprocess.run([str(exe), "--help"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and "reproduce" in r.stdout
    env = {k: v for k, v in os.environ.items() if not k.startswith("ST_VLM_")}
    r = subprocess.run(
        [str(exe), "--profile", "mini", "--set", "n_scenes=2", "settings"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["profile"] == "mini" and s["n_scenes"] == 2 and Path(s["published_figures_dir"]) == ROOT/"figures"
    assert Path(s["figures_dir"]) == ROOT/"runs/latest/figures"   # a notebook run by hand: not the committed folder
    r = subprocess.run([str(exe), "--set", "oops", "settings"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode != 0 and "key=value" in r.stderr


def test_cli_errors_are_one_line(tmp_path):
    "Expected errors: one line on stderr naming file, key and what was expected, exit 1; --debug shows the traceback."
    exe = Path(sys.executable).parent/"st-vlm-repro"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ST_VLM_")}
    run = lambda *a, cwd=ROOT: subprocess.run([str(exe), *a], capture_output=True, text=True, cwd=cwd, env=env)
    for args, expect in [(["--set", "nuscenes_rot=/x"], "did you mean 'nuscenes_root'"),
                         (["--set", "n_scenes=abc"], "'n_scenes' must be an integer, not 'abc'"),
                         (["--profile", "nope"], "profiles there: ['mini', 'miniature', 'small_gpu', 'full']")]:
        r = run(*args, "settings")
        assert r.returncode == 1 and r.stdout == "", r
        assert len(r.stderr.strip().splitlines()) == 1 and expect in r.stderr and "settings.ini" in r.stderr, r.stderr
    r = run("--profile", "nope", "settings", cwd=tmp_path)   # outside a clone: no settings, no profile
    assert r.returncode == 1 and "no settings.ini" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run("--debug", "--profile", "nope", "settings")
    assert r.returncode == 1 and "Traceback" in r.stderr and len(r.stderr.splitlines()) > 5


def test_full_profile_preflight_names_every_missing_path(tmp_path):
    "reproduce --profile full without the datasets stops before the first notebook, naming each missing path's key."
    exe = Path(sys.executable).parent/"st-vlm-repro"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ST_VLM_")}
    keys = ("nuscenes_root", "argoverse2_root", "egoexo4d_root", "model_path", "pseudo_videos")
    sets = [a for k in keys for a in ("--set", f"{k}=/no/{k}")]
    r = subprocess.run([str(exe), "--profile", "full", *sets, "--set", "nuplan_root=", "reproduce",
                        "--run-dir", str(tmp_path/"run")], capture_output=True, text=True, cwd=ROOT, env=env)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    for key in ("nuscenes_root = /no/nuscenes_root (read by 04_stkit)", *keys[1:]):
        assert key in r.stderr, (key, r.stderr)
    assert "nuplan_root" not in r.stderr and not (tmp_path/"run").exists()   # empty root: left out; nothing ran
