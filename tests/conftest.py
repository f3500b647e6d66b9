"""Fixtures shared by the test files."""
import pytest

from st_vlm_repro.mini_world import make_mini_world

# One mini world for the whole session, in every format the tests read: driving scenes in nuScenes, Argoverse 2 and
# nuPlan, sports scenes in Ego-Exo4D (its Aria video at 10 fps keeps the files small). It is shared: a test that
# changes a file works on a copy (`shutil.copytree`), and output goes to the test's own `tmp_path`.
MINI_WORLD = dict(n_scenes=5, seed=7, formats=["nuscenes", "argoverse2", "egoexo4d", "nuplan"], n_sports=2,
                  video_fps=10)


@pytest.fixture(scope="session")
def mini_world(tmp_path_factory):
    "The session's mini world: its root (`ground_truth/`, and one folder per format)."
    root = tmp_path_factory.mktemp("mini_world")
    make_mini_world(root, **MINI_WORLD)
    return root
