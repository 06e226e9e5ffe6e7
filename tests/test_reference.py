"""The reference checkpoints: which checkpoint a later lesson finds, and the shipped files themselves."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from course_utils.models.fcn import build_fcn
from course_utils.paths import REFERENCE_DIR, is_checkpoint_name, reference_path, resolve_checkpoint
from course_utils.tools import reference
from course_utils.train import save_checkpoint
from course_utils.train.checkpoints import find_checkpoint, is_reference, load_checkpoint
from course_utils.train.fcn import FCNTrainConfig, load_fcn
from course_utils.train.maskrcnn import MaskRCNNTrainConfig
from course_utils.train.reuse import origin_message, semantic_fcn


@pytest.mark.parametrize("given, is_name", [("fcn8s", True), ("maskrcnn_fast", True), ("fcn8s.pt", False),
                                            ("out/fcn8s", False), ("/tmp/x/fcn8s.pt", False)])
def test_a_checkpoint_name_is_told_from_a_path(folders, given: str, is_name: bool) -> None:
    """Names are looked up in the learner's folder (and as references); paths are used as they are."""
    assert is_checkpoint_name(given) is is_name
    resolved = resolve_checkpoint(given)
    assert (resolved == Path(given)) is (not is_name), resolved
    assert is_reference(given) is False  # a name, or a path that is not in the reference folder


def test_the_learners_checkpoint_comes_first_then_the_reference_then_the_next_name(folders) -> None:
    mine, ref = folders
    assert find_checkpoint(("fcn8s", "fcn8s_fast")) is None
    save_checkpoint(build_fcn(), "fcn8s_fast")
    assert find_checkpoint(("fcn8s", "fcn8s_fast")) == "fcn8s_fast"
    save_checkpoint(build_fcn(), ref / "fcn8s.pt")
    found = find_checkpoint(("fcn8s", "fcn8s_fast"))
    assert found == str(ref / "fcn8s.pt") and is_reference(found)  # the reference beats an old stand-in
    save_checkpoint(build_fcn(), "fcn8s")
    assert find_checkpoint(("fcn8s", "fcn8s_fast")) == "fcn8s" and not is_reference("fcn8s")  # the learner's own


def test_references_can_be_switched_off_and_paths_are_never_looked_up_as_references(
        folders, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _, ref = folders
    save_checkpoint(build_fcn(), ref / "fcn8s.pt")
    assert find_checkpoint(str(tmp_path / "elsewhere" / "fcn8s.pt")) is None
    monkeypatch.setenv("COURSE_REFERENCE", "")
    assert reference_path("fcn8s") is None and find_checkpoint("fcn8s") is None and not is_reference(ref / "fcn8s.pt")


def test_a_lesson_says_when_it_uses_the_reference_and_what_it_reached(folders, capsys) -> None:
    _, ref = folders
    save_checkpoint(build_fcn(), ref / "fcn8s.pt", metrics={"val_miou": 0.9123, "val_scenes": 128})
    model, message = semantic_fcn("cpu")
    assert "reference FCN-8s" in message and "make checkpoints" in message and "val mIoU 0.912" in message
    assert not model.training
    assert origin_message("07", "Mask R-CNN", "maskrcnn", "maskrcnn", "maskrcnn_fast", "x").startswith(
        "Loaded lesson 07's Mask R-CNN")


def test_half_precision_halves_the_weights_and_loads_back_as_float32(folders) -> None:
    mine, _ = folders
    model = build_fcn()
    path = save_checkpoint(model, "fcn8s")
    half = reference.half_precision(load_checkpoint("fcn8s"))
    assert all(v.dtype == torch.float16 for v in half["model"].values() if v.is_floating_point())
    assert any(not v.is_floating_point() for v in half["model"].values())  # BatchNorm's counters kept as they are
    torch.save(half, path)
    loaded = load_fcn("fcn8s")
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    for p, q in zip(loaded.parameters(), model.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-3, atol=1e-3)


def test_the_command_names_what_it_can_make(capsys) -> None:
    assert reference.main(["--only", "unet"]) == 2
    assert "no reference recipe for unet" in capsys.readouterr().err
    with pytest.raises(ValueError, match="no reference recipe"):
        reference.make_reference("unet")


@pytest.mark.parametrize("name", reference.NAMES)
def test_the_shipped_reference_checkpoints_hold_what_they_say(name: str) -> None:
    """Each file loads, is half precision, says how it was made, and scores what it records."""
    path = REFERENCE_DIR / f"{name}.pt"
    assert path.is_file(), f"{path} is missing: run make checkpoints"
    payload = torch.load(path, map_location="cpu", weights_only=True)
    assert {"command", "date", "cpu", "torch", "train_s"} <= set(payload["made_by"])
    assert all(v.dtype == torch.float16 for v in payload["model"].values() if v.is_floating_point())
    recorded = payload["metrics"]
    rescored = reference._score(name, path, torch.device("cpu"))
    for key, value in rescored.items():
        assert recorded[key] == pytest.approx(value, abs=0.01), key  # the recorded metric is the file's own


@pytest.mark.parametrize("name", reference.NAMES)
def test_the_shipped_reference_checkpoints_were_trained_with_todays_recipe(name: str) -> None:
    """A recipe change that is not followed by ``make checkpoints`` fails here, not in a learner's lesson."""
    payload = torch.load(REFERENCE_DIR / f"{name}.pt", map_location="cpu", weights_only=True)
    recipe = FCNTrainConfig() if name == "fcn8s" else MaskRCNNTrainConfig()
    today = json.loads(json.dumps(asdict(recipe)))  # tuples as lists, as the checkpoint stores them
    saved = payload["train_config"]
    changed = sorted(k for k in today.keys() | saved.keys() if today.get(k) != saved.get(k))
    assert not changed, f"{name}.pt was trained with another recipe ({', '.join(changed)} differ): run make checkpoints"
