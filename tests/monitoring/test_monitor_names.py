"""Log folder and state file names: one per model name, and a safe name is used as it is."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from monitoring.state import ModelState, StateStore
from serving.inference_log import folder_name

ONE_COMPONENT = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")


def test_names_that_differ_only_in_unsafe_characters_get_different_folders_and_state_files(tmp_path):
    names = ["sec test a", "sec_test_a", "sec/test/a", "sec:test:a", "sec_test_a-" + folder_name("sec test a")[-8:]]
    folders = [folder_name(n) for n in names]
    assert len(set(folders)) == len(names), folders
    assert folders[1] == "sec_test_a" and re.fullmatch(r"sec_test_a-[0-9a-f]{8}", folders[0])
    store = StateStore(tmp_path / "state")
    for i, folder in enumerate(folders):
        store.save(ModelState(folder, window_index=i))
    assert len(list((tmp_path / "state").glob("*.state.json"))) == len(names)
    assert [store.load(f).window_index for f in folders] == list(range(len(names)))


def test_a_safe_name_keeps_its_folder():
    for name in ("mes-lightgbm", "sec_test_a", "MES.v2_final", "0123456789abcdef0123456789abcdef", "m"):
        assert folder_name(name) == name
        assert StateStore("s").path(folder_name(name)).name == f"{name}.state.json"
    # Altered names: what is kept readable, and a suffix.
    assert re.fullmatch(r"mes_light_gbm-[0-9a-f]{8}", folder_name("mes/light gbm"))
    assert re.fullmatch(r"model-[0-9a-f]{8}", folder_name(".."))
    assert folder_name("") != folder_name("..") and folder_name(".a") != folder_name("a")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=12), st.text("ab _-.", max_size=6)), min_size=2, max_size=40,
                unique=True))
def test_random_names_never_share_a_folder(names):
    folders = [folder_name(n) for n in names]
    assert len(set(folders)) == len(names)
    assert all(ONE_COMPONENT.match(f) and f not in (".", "..") for f in folders)
