"""Lesson 04's same-time bar (``train.compare.same_time_verdict``) and where the FCN-8s's seconds come from."""

from __future__ import annotations

from course_utils.models.fcn import build_fcn
from course_utils.train import save_checkpoint
from course_utils.train.compare import same_time_verdict
from course_utils.train.history import History
from course_utils.train.reuse import semantic_fcn_for_comparison

HISTORY = {"steps": [], "epochs": [{"epoch": 1, "time_s": 8.0, "elapsed_s": 8.0, "miou": 0.57},
                                   {"epoch": 2, "time_s": 7.0, "elapsed_s": 15.0, "miou": 0.53},
                                   {"epoch": 3, "time_s": 7.0, "elapsed_s": 22.0, "miou": 0.81}]}


def test_the_fcn_value_is_its_last_validation_within_the_time() -> None:
    ok, line = same_time_verdict("U-Net", 0.80, 16.0, HISTORY, 0.85, "timed in lesson 03's run")
    assert ok and line == ("U-Net: mIoU 0.800 after 16 s of training; FCN-8s after the same time: 0.530 (its "
                           "validation after 15 s, timed in lesson 03's run) -> at least as good")
    ok, line = same_time_verdict("DeepLab", 0.80, 30.0, HISTORY, 0.85)
    assert ok is False and "0.850 (its final mIoU: its whole run took 22 s) -> WORSE" in line


def test_a_model_done_before_the_first_validation_gets_no_verdict() -> None:
    ok, line = same_time_verdict("U-Net", 0.40, 5.0, HISTORY, 0.85, "timed on the machine that made the reference")
    assert ok is None
    assert "FCN-8s after the same time: none (its first validation came after 8 s" in line
    assert line.endswith("-> no verdict: no FCN-8s value that early") and "at least as good" not in line
    ok, line = same_time_verdict("U-Net", 0.40, 5.0, {"steps": [], "epochs": []}, 0.85)
    assert ok is None and "no training history" in line


def test_the_reference_says_its_seconds_come_from_the_machine_that_made_it(folders) -> None:
    _, ref = folders
    history = History(epochs=HISTORY["epochs"])
    made_by = {"cpu": "AMD EPYC", "device": "cpu", "threads": 2, "date": "2026-12-03 13:45 UTC", "train_s": 95.8}
    save_checkpoint(build_fcn(), ref / "fcn8s.pt", history=history, metrics={"val_miou": 0.9, "val_scenes": 128},
                    made_by=made_by)
    _, message, hist, timed = semantic_fcn_for_comparison("cpu")
    assert "reference FCN-8s" in message
    assert "measured on the machine that made it (AMD EPYC, cpu, 2 threads, 2026-12-03 13:45 UTC), not on this one" \
        in message
    assert timed == "timed on the machine that made the reference, not this one" and len(hist["epochs"]) == 3
    save_checkpoint(build_fcn(), "fcn8s", history=history)
    _, message, _, timed = semantic_fcn_for_comparison("cpu")
    assert message.startswith("Loaded lesson 03's FCN-8s") and "machine" not in message
    assert timed == "timed in lesson 03's run"
