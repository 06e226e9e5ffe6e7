"""Lesson 08's helpers: treating a COCO folder as someone else's dataset.

- ``make_broken_copy`` copies a COCO dataset folder and plants the common faults in it, so the
  validator's messages can be seen on a file that is known to be wrong;
- ``fault_table`` pairs each planted fault with what the validator said about it;
- ``starting_model`` and ``train_on_coco`` fine-tune lesson 06's Mask R-CNN on such a dataset
  (or train one from scratch when lesson 06's checkpoint is missing);
- ``try_pretrained_maskrcnn`` asks the package's builder for torchvision's COCO weights without
  ever hanging on the network;
- ``export_results`` turns a model's outputs into a COCO results JSON;
- ``simulate_out_of_memory`` shows the message the training loop gives on a CUDA OOM.
"""

from __future__ import annotations

import json
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .data.validate import Fault

PLANTABLE = ("degenerate-box", "background-category", "unknown-category", "missing-image-record",
             "box-outside-image", "mask-outside-image", "bad-segmentation", "empty-mask", "duplicate-id",
             "missing-image-file", "image-size-mismatch")
"""The faults ``make_broken_copy`` plants by default (one of each), named as the validator names them."""


@dataclass(frozen=True)
class Breakage:
    """One fault planted on purpose in a copy of a dataset."""

    kind: str  # the validator's name for it, e.g. "degenerate-box"
    what: str  # what was changed, in words
    annotation_id: int | None = None  # the annotation changed, if any
    image_id: int | None = None  # the image changed (or the changed annotation's image)


def make_broken_copy(src: str | Path, dst: str | Path | None = None,
                     faults: tuple[str, ...] = PLANTABLE) -> tuple[Path, list[Breakage]]:
    """Copy a COCO dataset folder and plant common faults in the copy (the original is untouched).

    Args:
        src: dataset folder holding ``annotations.json`` and ``images/``.
        dst: where to put the copy (a new temporary folder when None).
        faults: which faults to plant, from ``PLANTABLE``; "malformed-json" instead truncates the
            JSON file (then nothing else can be read, so plant it alone).

    Returns:
        (the copy's folder, one ``Breakage`` per planted fault).
    """
    src = Path(src)
    ann_file = src / "annotations.json"
    if not ann_file.is_file():
        raise FileNotFoundError(f"{src} has no annotations.json; pass the folder of one split, e.g. data/train")
    unknown = sorted(set(faults) - set(PLANTABLE) - {"malformed-json"})
    if unknown:
        raise ValueError(f"cannot plant {unknown}; choose from {PLANTABLE + ('malformed-json',)}")
    dst = Path(tempfile.mkdtemp(prefix="broken_coco_")) if dst is None else Path(dst)
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    text = ann_file.read_text(encoding="utf-8")
    if "malformed-json" in faults:
        cut = text.rfind("},", 0, len(text) // 2)
        (dst / "annotations.json").write_text(text[:cut] + "}\n  {", encoding="utf-8")
        return dst, [Breakage("malformed-json", "cut the JSON file off in the middle of the annotation list")]

    data = json.loads(text)
    images, anns = data["images"], data["annotations"]
    if len(images) < 4 or len(anns) < 2 * len(PLANTABLE):
        raise ValueError(f"{src} is too small to plant every fault in (needs >= 4 images, >= 22 annotations)")
    img_by_id = {img["id"]: img for img in images}
    # image faults on the first two images; annotation faults on annotations of other images only
    lost_img, resized_img = images[0], images[1]
    spare = [a for a in anns if a["image_id"] not in (lost_img["id"], resized_img["id"])]
    pick = iter(spare[::2])  # every other annotation: spread over the file
    out: list[Breakage] = []

    def plant(kind: str, what: str, ann: dict | None = None, img: dict | None = None) -> None:
        out.append(Breakage(kind, what, ann["id"] if ann else None,
                            ann["image_id"] if ann else (img["id"] if img else None)))

    for kind in faults:
        if kind == "missing-image-file":
            (dst / "images" / lost_img["file_name"]).unlink()
            plant(kind, f"deleted the image file {lost_img['file_name']}", img=lost_img)
        elif kind == "image-size-mismatch":
            resized_img["width"] *= 2
            plant(kind, f"doubled the width of {resized_img['file_name']} in the JSON", img=resized_img)
            continue
        else:
            a = next(pick)
            w, h = img_by_id[a["image_id"]]["width"], img_by_id[a["image_id"]]["height"]
            if kind == "degenerate-box":
                a["bbox"][2] = 0.0
                plant(kind, "set a box's width to 0", a)
            elif kind == "background-category":
                a["category_id"] = 0
                plant(kind, "set a category_id to 0 (background)", a)
            elif kind == "unknown-category":
                a["category_id"] = 42
                plant(kind, "set a category_id to 42, which is not declared", a)
            elif kind == "missing-image-record":
                a["image_id"] = 99999
                plant(kind, "pointed an annotation at image_id 99999, which does not exist", a)
                out[-1] = Breakage(kind, out[-1].what, a["id"], 99999)
            elif kind == "box-outside-image":
                a["bbox"] = [float(w - 5), a["bbox"][1], 20.0, a["bbox"][3]]
                plant(kind, "moved a box so it pokes 15 px out of the image", a)
            elif kind == "mask-outside-image":
                a["segmentation"]["size"] = [h // 2, w // 2]
                plant(kind, "gave an RLE mask half the image's size", a)
            elif kind == "bad-segmentation":
                a["segmentation"]["counts"] = "not an RLE!"
                plant(kind, "replaced an RLE string by text that is not RLE", a)
            elif kind == "empty-mask":
                a["segmentation"] = []
                plant(kind, "emptied a segmentation (no polygon at all)", a)
            elif kind == "duplicate-id":
                other = next(pick)
                a["id"] = other["id"]
                plant(kind, f"gave two annotations the same id {other['id']}", a)
    (dst / "annotations.json").write_text(json.dumps(data, indent=1), encoding="utf-8")
    return dst, out


def fault_table(planted: list[Breakage], found: list[Fault]) -> str:
    """A text table: each planted fault, and the validator's message about it (or that it was missed).

    Args:
        planted: from ``make_broken_copy``.
        found: from ``validate_coco`` on the broken copy.

    Returns:
        the table, one block per planted fault, then any further faults the validator reported.
    """
    used: set[int] = set()
    blocks = []
    for b in planted:
        hits = [i for i, f in enumerate(found) if f.kind == b.kind
                and (b.annotation_id is None or f.annotation_id in (None, b.annotation_id))
                and (b.image_id is None or f.image_id in (None, b.image_id))]
        used.update(hits)
        said = "\n".join(f"    validator: {found[i]}" for i in hits) or "    validator: (MISSED: not reported)"
        blocks.append(f"{b.kind}: we {b.what}\n{said}")
    rest = [f for i, f in enumerate(found) if i not in used]
    if rest:
        blocks.append("and as a consequence:\n" + "\n".join(f"    validator: {f}" for f in rest))
    return "\n".join(blocks)


@dataclass(frozen=True)
class OwnDataConfig:
    """How lesson 08 trains Mask R-CNN on a small COCO dataset. Override with ``dataclasses.replace``."""

    batch_size: int = 8  # images per training step; lower it if a GPU runs out of memory
    fine_tune_epochs: int = 5  # passes over the data when starting from lesson 06's trained model
    fine_tune_lr: float = 2e-4  # peak learning rate when fine-tuning: small, so the model keeps what it knows
    scratch_epochs: int = 60  # passes over the data when starting from random weights
    scratch_lr: float = 2e-3  # peak learning rate from random weights (lesson 06's)
    weight_decay: float = 1e-4  # AdamW weight decay
    flip: bool = True  # random left-right / top-bottom flips: more variety from few images
    max_minutes: float | None = 3.0  # stop training after this long, whatever the epochs
    seed: int = 0  # seeds the batch order and the flips


class CocoBatches:
    """Shuffled, randomly flipped batches ``(images, targets)`` of a detection dataset, loaded into memory once.

    Args:
        dataset: yields (image (3, H, W), target) pairs in torchvision's format (e.g. ``CocoInstanceDataset``).
        batch_size: images per batch.
        flip: random left-right and top-bottom flips.
        seed: seed of the order and the flips.
    """

    def __init__(self, dataset, batch_size: int = 8, flip: bool = True, seed: int = 0):
        items = [dataset[i] for i in range(len(dataset))]
        self.images = [img for img, _ in items]  # (3, H, W) each
        self.targets = [{k: t[k] for k in ("boxes", "labels", "masks")} for _, t in items]
        self.batch_size, self.flip = int(batch_size), flip
        self.gen = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return -(-len(self.images) // self.batch_size)

    def __iter__(self):
        from .models.maskrcnn_train import flip_scene

        order = torch.randperm(len(self.images), generator=self.gen).tolist()
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            flips = (torch.rand(len(idx), 2, generator=self.gen) < 0.5) & self.flip  # (B, 2)
            pairs = [flip_scene(self.images[i], self.targets[i], bool(fx), bool(fy)) for i, (fx, fy) in zip(idx, flips)]
            yield [p[0] for p in pairs], [p[1] for p in pairs]


def set_num_classes(model: nn.Module, num_classes: int) -> nn.Module:
    """Give a torchvision Mask R-CNN new class-specific heads when its class count differs.

    The backbone, RPN and head bodies keep their weights; only the final box and mask
    predictors are replaced (randomly initialised) for ``num_classes`` (background included).

    Returns:
        the same model, changed in place.
    """
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor
    from torchvision.models.detection.mask_rcnn import MaskRCNNPredictor

    heads = model.roi_heads
    if heads.box_predictor.cls_score.out_features == num_classes:
        return model
    heads.box_predictor = FastRCNNPredictor(heads.box_predictor.cls_score.in_features, num_classes)
    mask_in = heads.mask_predictor.conv5_mask.in_channels
    heads.mask_predictor = MaskRCNNPredictor(mask_in, heads.mask_predictor.conv5_mask.out_channels, num_classes)
    return model


def starting_model(num_classes: int = 7, device: torch.device | str | None = None) -> tuple[nn.Module, bool]:
    """Lesson 06's trained Mask R-CNN when its checkpoint exists (to fine-tune), else a fresh one.

    Args:
        num_classes: classes of the new dataset, background included (``dataset.num_classes``).
        device: where to put the model (default ``engine.get_device()``).

    Returns:
        (the model, True when it starts from lesson 06's weights). Prints one sentence saying which.
    """
    from .engine import checkpoint_path, get_device
    from .models.maskrcnn import MaskRCNNConfig, build_maskrcnn
    from .models.maskrcnn_train import load_maskrcnn

    device = torch.device(device) if device is not None else get_device()
    if checkpoint_path("maskrcnn").exists():
        model = set_num_classes(load_maskrcnn("maskrcnn", device=device), num_classes).to(device)
        print(f"Starting from lesson 06's Mask R-CNN ({checkpoint_path('maskrcnn')}): fine-tuning.")
        return model, True
    print("Lesson 06's checkpoint is missing, so the model starts from random weights and is trained from scratch "
          "on this small dataset (expect a clearly lower AP than fine-tuning would give).")
    return build_maskrcnn(MaskRCNNConfig(num_classes=num_classes)).to(device), False


def train_on_coco(model: nn.Module, dataset, cfg: OwnDataConfig | None = None, fine_tuning: bool = True,
                  device: torch.device | str | None = None, live_plot: bool = True, progress: bool = True):
    """Train (or fine-tune) a Mask R-CNN on a COCO dataset with the course's training loop ``engine.fit``.

    Args:
        model: a torchvision-style Mask R-CNN with ``dataset.num_classes`` classes.
        dataset: a ``CocoInstanceDataset`` (any (image, target) dataset in detection format works).
        cfg: epochs, learning rates, batch size (``OwnDataConfig()`` when None).
        fine_tuning: use the fine-tuning epochs and learning rate, else the from-scratch ones.
        device: where to train (default ``engine.get_device()``); mixed precision on CUDA.
        live_plot: redraw the loss curves while training (notebooks).
        progress: show a progress bar.

    Returns:
        the ``History`` of ``engine.fit``; the model ends in eval mode.
    """
    from .engine import fit, seed_everything

    cfg = cfg or OwnDataConfig()
    seed_everything(cfg.seed)
    batches = CocoBatches(dataset, cfg.batch_size, cfg.flip, cfg.seed)
    epochs, lr = (cfg.fine_tune_epochs, cfg.fine_tune_lr) if fine_tuning else (cfg.scratch_epochs, cfg.scratch_lr)
    return fit(model, batches, num_epochs=epochs, lr=lr, device=device, weight_decay=cfg.weight_decay,
               max_minutes=cfg.max_minutes, live_plot=live_plot, progress=progress, log_every=2,
               title="Mask R-CNN on your data: " + ("fine-tuning" if fine_tuning else "from scratch"))


def export_results(predictions: list[dict], dataset, path: str | Path, score_threshold: float = 0.05,
                   mask_threshold: float = 0.5) -> list[dict]:
    """Write predictions as a COCO results JSON (the file ``COCO.loadRes`` and the COCO servers read).

    Model labels are turned back into the dataset's category ids (``dataset.label_to_category``),
    and each prediction gets the COCO id of its image (``dataset.ids``).

    Args:
        predictions: from ``metrics.coco_eval.predict_dataset``, in the dataset's order.
        dataset: the ``CocoInstanceDataset`` the predictions were made on.
        path: the JSON file to write.
        score_threshold: leave out detections below this score.
        mask_threshold: mask probability above which a pixel is in the mask.

    Returns:
        the list written: ``{"image_id", "category_id", "segmentation" (RLE), "bbox" (xywh), "score"}``.
    """
    from .metrics.coco_eval import predictions_to_coco

    if len(predictions) != len(dataset):
        raise ValueError(f"{len(predictions)} predictions for {len(dataset)} images: predict the whole dataset")
    kept = []
    for p in predictions:
        keep = p["scores"] >= score_threshold
        kept.append({k: v[keep] for k, v in p.items()})
    results = predictions_to_coco(kept, dataset.ids, mask_threshold)
    for r in results:
        r["category_id"] = int(dataset.label_to_category[r["category_id"]])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results), encoding="utf-8")
    return results


def try_pretrained_maskrcnn(timeout_s: float = 10.0) -> tuple[nn.Module | None, str]:
    """Build torchvision's ResNet-50 FPN Mask R-CNN with COCO weights, never waiting long for the network.

    Uses the package's builder (``backbone="resnet50", pretrained=True``), which loads the weights
    from torch's cache when they are there and otherwise downloads them; every socket gets a
    ``timeout_s`` limit meanwhile, and any failure is caught.

    Args:
        timeout_s: seconds a network read may stall before the download is given up.

    Returns:
        (the model, or None when building failed altogether; one sentence saying what happened).
    """
    from torchvision.models.detection import MaskRCNN_ResNet50_FPN_Weights

    from .models.maskrcnn import MaskRCNNConfig, build_maskrcnn

    url = MaskRCNN_ResNet50_FPN_Weights.COCO_V1.url
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name
    where = f"found in the cache at {cached}" if cached.is_file() else "not cached, so they must be downloaded"
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout_s)
    start = time.perf_counter()
    try:
        model = build_maskrcnn(MaskRCNNConfig(backbone="resnet50", pretrained=True))
    except Exception as err:  # noqa: BLE001 - whatever went wrong, the lesson goes on
        return None, f"The COCO weights ({where}) could not be used ({type(err).__name__}: {err})."
    finally:
        socket.setdefaulttimeout(old)
    seconds = time.perf_counter() - start
    if cached.is_file():
        return model, f"COCO-pretrained ResNet-50 Mask R-CNN ready in {seconds:.1f} s (weights {where})."
    return model, (f"No COCO weights: none were cached and the download failed after {seconds:.1f} s, so this "
                   "model is randomly initialised (the fallback).")


class _OutOfMemoryModel(nn.Module):
    """A stand-in model whose forward pass fails the way a too-large batch fails on a GPU."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 7.79 GiB total "
                                     "capacity; 6.90 GiB already allocated)")


def simulate_out_of_memory(batch_size: int = 64, device: torch.device | str | None = None) -> str:
    """Run ``engine.fit`` on a model that raises a CUDA out-of-memory error, and return the message it gives.

    Args:
        batch_size: the batch size the message will mention.
        device: where ``fit`` runs (default ``engine.get_device()``); the message names its type.

    Returns:
        the ``TrainingError`` message of the course's training loop.
    """
    from .engine import fit
    from .training import TrainingError

    batch = (torch.zeros(batch_size, 3, 8, 8), torch.zeros(batch_size, 8, 8, dtype=torch.int64))
    try:
        fit(_OutOfMemoryModel(), [batch], num_epochs=1, lr=1e-3, device=device, live_plot=False, progress=False)
    except TrainingError as err:
        return str(err)
    return "the training loop did not report the out-of-memory error"
