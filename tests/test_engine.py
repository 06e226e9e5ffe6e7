"""The training loop: both loss styles, overfitting, checkpoints, NaN and OOM handling, time budget."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from course_utils import engine
from course_utils.train import TrainingError


class TinySegmenter(nn.Module):
    """A 2-layer conv net returning logits (B, C, H, W)."""

    def __init__(self, num_classes: int = 3):
        super().__init__()
        self.config = {"num_classes": num_classes}
        self.net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, num_classes, 1))

    def forward(self, images):
        return self.net(images)


class DummyDetector(nn.Module):
    """Detection-style model: in train mode ``model(images, targets)`` returns a dict of losses."""

    def __init__(self):
        super().__init__()
        self.box = nn.Linear(4, 4)
        self.cls = nn.Parameter(torch.zeros(3))

    def forward(self, images, targets=None):
        assert isinstance(images, (list, tuple)), "images must stay a sequence"
        if not self.training:
            return [{"boxes": self.box(t["boxes"])} for t in targets]
        box_loss = sum(((self.box(t["boxes"]) - t["boxes"]) ** 2).mean() for t in targets)
        cls_loss = sum(nn.functional.cross_entropy(self.cls.expand(len(t["labels"]), 3), t["labels"])
                       for t in targets)
        return {"loss_box": box_loss, "loss_classifier": cls_loss}


def one_batch(n=4, size=12, num_classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 3, size, size, generator=g)
    targets = (images[:, 0] * num_classes).long().clamp(max=num_classes - 1)  # learnable from colour
    return images, targets


def test_logits_model_overfits_one_batch():
    torch.manual_seed(0)
    model = TinySegmenter()
    batch = one_batch()
    loader = [batch] * 10
    hist = engine.fit(model, loader, num_epochs=20, lr=3e-2, device="cpu", live_plot=False, progress=False,
                      log_every=5)
    first, last = hist.steps[0]["loss"], hist.steps[-1]["loss"]
    assert last < 0.3 * first
    pred = engine.predict(model, batch[0])
    assert pred.shape == batch[1].shape
    assert (pred == batch[1]).float().mean() > 0.9
    assert hist.total_steps == 200 and len(hist.epochs) == 20
    assert hist.steps_per_s > 0


def test_val_fn_and_evaluate_semantic():
    torch.manual_seed(0)
    model = TinySegmenter()
    batch = one_batch()
    hist = engine.fit(model, [batch] * 5, num_epochs=3, lr=1e-2, device="cpu", live_plot=False, progress=False,
                      val_fn=lambda m: engine.evaluate_semantic(m, [batch], 3))
    assert "miou" in hist.epochs[-1] and "pixel_acc" in hist.epochs[-1]
    assert hist.last("miou") == pytest.approx(engine.evaluate_semantic(model, [batch], 3)["miou"])
    scores = engine.evaluate_semantic(model, [batch], 3, boundary_width=1, return_confusion=True)
    assert scores["confusion"].sum() == batch[1].numel()
    assert "boundary_miou" in scores


def test_detection_loss_dict_path():
    torch.manual_seed(0)
    model = DummyDetector()
    images = (torch.rand(3, 10, 12), torch.rand(3, 8, 8))
    targets = ({"boxes": torch.tensor([[1.0, 2.0, 5.0, 6.0]]), "labels": torch.tensor([1])},
               {"boxes": torch.tensor([[0.0, 0.0, 3.0, 3.0], [2.0, 2.0, 7.0, 8.0]]), "labels": torch.tensor([2, 2])})
    hist = engine.fit(model, [(images, targets)] * 6, num_epochs=5, lr=5e-2, device="cpu", live_plot=False,
                      progress=False, log_every=3)
    row = hist.steps[-1]
    assert {"loss", "loss_box", "loss_classifier"} <= set(row)
    assert row["loss"] == pytest.approx(row["loss_box"] + row["loss_classifier"], rel=1e-5)
    assert hist.steps[-1]["loss"] < hist.steps[0]["loss"]


def test_loss_weights_scale_the_total_not_the_recorded_terms():
    from course_utils.train import compute_loss

    torch.manual_seed(0)
    model = DummyDetector()
    images = (torch.rand(3, 8, 8),)
    targets = ({"boxes": torch.tensor([[1.0, 2.0, 5.0, 6.0]]), "labels": torch.tensor([1])},)
    plain, terms = compute_loss(model, images, targets)
    weighted, same_terms = compute_loss(model, images, targets, loss_weights={"loss_classifier": 3.0})
    assert weighted.item() == pytest.approx(terms["loss_box"].item() + 3 * terms["loss_classifier"].item(), rel=1e-5)
    assert weighted.item() > plain.item()
    assert same_terms["loss_classifier"].item() == pytest.approx(terms["loss_classifier"].item())
    with pytest.raises(ValueError, match="loss_clasifier"):  # a misspelt name is reported, not ignored
        compute_loss(model, images, targets, loss_weights={"loss_clasifier": 2.0})


def test_checkpoint_roundtrip_gives_identical_predictions(tmp_path):
    torch.manual_seed(0)
    model = TinySegmenter()
    batch = one_batch()
    path = tmp_path / "tiny.pt"
    engine.fit(model, [batch] * 3, num_epochs=1, lr=1e-2, device="cpu", live_plot=False, progress=False,
               checkpoint=path)
    payload = engine.load_checkpoint(path)
    assert payload["config"] == {"num_classes": 3}
    assert payload["history"]["total_steps"] == 3
    fresh = TinySegmenter()
    engine.load_checkpoint(path, fresh)
    fresh.eval()
    torch.testing.assert_close(engine.predict(fresh, batch[0]), engine.predict(model, batch[0]), rtol=0, atol=0)
    with torch.no_grad():
        torch.testing.assert_close(fresh(batch[0]), model(batch[0]), rtol=0, atol=0)


def test_checkpoint_name_uses_checkpoint_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CHECKPOINTS", str(tmp_path))
    path = engine.save_checkpoint(TinySegmenter(), "tiny_named")
    assert path == tmp_path / "tiny_named.pt" and path.exists()
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        engine.load_checkpoint("never_trained")


def test_nan_loss_stops_with_message():
    model = TinySegmenter()
    batch = one_batch()

    def nan_loss(logits, targets):
        return nn.functional.cross_entropy(logits, targets) * float("nan")

    with pytest.raises(TrainingError, match="learning rate.*degenerate boxes.*bad labels") as info:
        engine.fit(model, [batch] * 4, num_epochs=2, lr=1e-2, device="cpu", loss_fn=nan_loss, live_plot=False,
                   progress=False)
    assert "step 1" in str(info.value)
    assert str(info.value).count(".") == 1 or str(info.value).endswith(").")


def test_huge_learning_rate_diverges_with_message():
    torch.manual_seed(0)
    model = TinySegmenter()
    batch = one_batch()
    with pytest.raises(TrainingError, match="learning rate"):
        engine.fit(model, [batch] * 20, num_epochs=5, lr=1e12, device="cpu", scheduler=None, live_plot=False,
                   progress=False)


def test_out_of_memory_is_explained(monkeypatch):
    class Exploding(TinySegmenter):
        def forward(self, images):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    with pytest.raises(TrainingError, match="lower the batch size") as info:
        engine.fit(Exploding(), [one_batch()], num_epochs=1, lr=1e-3, device="cpu", live_plot=False,
                   progress=False)
    assert "batch size 4" in str(info.value)


def test_max_minutes_stops_early():
    model = TinySegmenter()
    batch = one_batch()
    hist = engine.fit(model, [batch] * 50, num_epochs=3, lr=1e-3, device="cpu", max_minutes=1e-9,
                      live_plot=False, progress=False)
    assert hist.total_steps == 1
    assert hist.stopped_early and "max_minutes" in hist.stopped_early


def test_a_run_stopped_by_its_budget_says_so_calmly_and_its_bar_ends_complete(capsys, monkeypatch):
    """One sentence with where it stopped and the last validation; the bar's total becomes the steps taken."""
    from tqdm.auto import tqdm

    from course_utils.train import loop

    bars = []

    class Bar(tqdm):
        def __init__(self, *a, **k):
            super().__init__(*a, **{**k, "disable": False})
            bars.append(self)

    monkeypatch.setattr("tqdm.auto.tqdm", Bar)
    batch = one_batch()
    hist = engine.fit(TinySegmenter(), [batch] * 50, num_epochs=3, lr=1e-3, device="cpu", max_minutes=1e-9,
                      live_plot=False, val_fn=lambda m: engine.evaluate_semantic(m, [batch], 3))
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("Training stopped at its time budget: max_minutes=")
    assert f"the last validation gave miou {hist.epochs[-1]['miou']:.3f}" in out[0]
    assert "after 1 of 150 steps" in out[0]
    assert bars and bars[0].total == bars[0].n == 1  # not 1 of 150: a notebook bar would end red
    assert loop.stop_sentence(hist) == out[0]


def test_bad_arguments_are_explained():
    with pytest.raises(ValueError, match="nothing to train"):
        engine.fit(TinySegmenter(), [], num_epochs=1, lr=1e-3, device="cpu", progress=False)
    with pytest.raises(ValueError, match="scheduler"):
        engine.fit(TinySegmenter(), [one_batch()], num_epochs=1, lr=1e-3, device="cpu", scheduler="cosine",
                   progress=False)


def test_live_plot_is_quiet_outside_notebook(capsys):
    model = TinySegmenter()
    hist = engine.fit(model, [one_batch()] * 2, num_epochs=1, lr=1e-3, device="cpu", live_plot=True,
                      progress=False)
    assert capsys.readouterr().out == ""
    assert not math.isnan(hist.epochs[0]["train_loss"])


def test_to_device_moves_nested_tensors():
    batch = ((torch.zeros(1),), [{"boxes": torch.zeros(2, 4), "image_id": 3}])
    moved = engine.to_device(batch, torch.device("cpu"))
    assert moved[1][0]["image_id"] == 3 and isinstance(moved[0], tuple)


def test_live_plot_updates_one_display_in_place_and_closes(monkeypatch):
    import IPython.display
    import matplotlib.pyplot as plt

    from course_utils.train import curves as viz_training

    calls = {"display": 0, "update": 0}

    class Handle:
        def update(self, fig):
            calls["update"] += 1

    def fake_display(obj, display_id=None):
        assert display_id is True
        calls["display"] += 1
        return Handle()

    monkeypatch.setattr(viz_training, "in_notebook", lambda: True)
    monkeypatch.setattr(IPython.display, "display", fake_display)
    plt.close("all")
    batch = one_batch()
    engine.fit(TinySegmenter(), [batch] * 3, num_epochs=3, lr=1e-3, device="cpu", progress=False, log_every=1,
               val_fn=lambda m: engine.evaluate_semantic(m, [batch], 3))
    assert calls["display"] == 1 and calls["update"] >= 2
    assert plt.get_fignums() == []


def test_one_cycle_lr_matches_torch_schedule():
    from course_utils.train import one_cycle_lr

    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    total = 2001
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=total, pct_start=0.25,
                                                anneal_strategy="cos", cycle_momentum=False)
    lrs = []
    for _ in range(total):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step() if len(lrs) < total else None
    for i in (0, 100, 500, 1000, 1800, 2000):
        assert one_cycle_lr(i / (total - 1), 0.1) == pytest.approx(lrs[i], rel=1e-2, abs=1e-7)


def test_time_budget_squeezes_the_schedule(monkeypatch):
    """With max_minutes, the learning rate follows the clock: it has annealed when time runs out."""
    from course_utils.train import loop as training

    clock = {"t": 0.0}
    monkeypatch.setattr(training.time, "perf_counter", lambda: clock["t"])
    model = TinySegmenter()
    batch = one_batch()
    seen = []

    def loss_fn(logits, targets):
        clock["t"] += 6.0  # every step "takes" 6 s: a 1-minute budget allows 10 steps
        return nn.functional.cross_entropy(logits, targets)

    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    orig_step = opt.step

    def step(*a, **k):
        seen.append(opt.param_groups[0]["lr"])
        return orig_step(*a, **k)

    monkeypatch.setattr(opt, "step", step)
    hist = engine.fit(model, [batch] * 100, num_epochs=5, lr=1e-2, optimizer=opt, device="cpu", max_minutes=1,
                      loss_fn=loss_fn,
                      live_plot=False, progress=False)
    assert 10 <= hist.total_steps <= 11  # the step that crosses the budget still finishes
    assert "max_minutes=1" in hist.stopped_early
    assert max(seen) > 5e-3 and seen[-1] < 1e-3  # warmed up, then annealed within the budget


def test_fit_flushes_denormals_only_while_it_trains():
    """fit flushes tiny floats to zero on a CPU (they are slow) and switches that global setting back off."""
    tiny = torch.tensor([1e-41])  # a denormal float32
    seen = []

    class Probe(TinySegmenter):
        def forward(self, x):
            seen.append(float((tiny * 1.0)[0]))  # 0 while denormals are flushed
            return super().forward(x)

    engine.fit(Probe(), [one_batch()], num_epochs=1, lr=1e-3, device="cpu", live_plot=False, progress=False)
    if torch.set_flush_denormal(False):  # the CPU supports flushing at all (x86 with SSE3)
        assert seen == [0.0]
    assert float((tiny * 1.0)[0]) > 0  # back to IEEE behaviour after training
