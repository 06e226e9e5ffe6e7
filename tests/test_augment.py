"""Joint augmentation (``data.augment``): masks, boxes and labels stay one object each after every transform."""

from __future__ import annotations

import matplotlib
import pytest
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from course_utils.data.augment import AugmentedDataset, TightBoxes, augment_sample, default_augmentation, mask_boxes
from course_utils.data.coco import CocoInstanceDataset, sample_dir
from course_utils.data.own_world import make_own_scene

matplotlib.use("Agg")
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # tensors in matplotlib

SANITIZE = v2.SanitizeBoundingBoxes(min_size=1, labels_getter=lambda inputs: (inputs[1]["labels"], inputs[1]["kept"]))


def sample(index: int = 1) -> tuple[torch.Tensor, dict]:
    s = make_own_scene(100, index)
    return s["image"], {"boxes": s["boxes"], "labels": s["labels"], "masks": s["masks"].to(torch.uint8),
                        "iscrowd": torch.zeros(len(s["labels"]), dtype=torch.int64), "image_id": index}


def tight(masks: torch.Tensor) -> torch.Tensor:
    """Tight boxes the slow way, one mask at a time (x2, y2 one past the last pixel)."""
    out = []
    for m in masks.bool():
        ys, xs = m.nonzero(as_tuple=True)
        out.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    return torch.tensor(out, dtype=torch.float32).reshape(-1, 4)


def consistent(image: torch.Tensor, target: dict, original: dict) -> None:
    """One mask, box, label and kept index per object; boxes tight; labels those of the kept originals."""
    n = len(target["labels"])
    assert target["boxes"].shape == (n, 4) and len(target["kept"]) == n
    assert target["masks"].shape == (n, *image.shape[-2:])
    assert target["boxes"].dtype == torch.float32 and target["masks"].dtype == torch.uint8
    assert torch.equal(target["boxes"], tight(target["masks"])), "boxes are the tight boxes of the masks"
    assert torch.equal(target["labels"], original["labels"][target["kept"]])
    assert torch.equal(target["iscrowd"], original["iscrowd"][target["kept"]])
    assert torch.equal(target["area"], target["masks"].flatten(1).sum(1).float())
    assert bool((target["masks"].flatten(1).sum(1) >= 6).all()), "objects with almost nothing left are dropped"
    assert 0 <= float(image.min()) and float(image.max()) <= 1


def test_mask_boxes_are_tight_and_empty_masks_get_zeros() -> None:
    _, t = sample()
    assert torch.equal(mask_boxes(t["masks"]), tight(t["masks"]))
    assert torch.equal(mask_boxes(t["masks"]), t["boxes"])
    assert mask_boxes(torch.zeros(2, 5, 5)).tolist() == [[0, 0, 0, 0]] * 2


@pytest.mark.parametrize("transform", [v2.RandomHorizontalFlip(1.0), v2.RandomVerticalFlip(1.0), v2.Resize(96),
                                       v2.Resize(200), v2.ScaleJitter((128, 128), scale_range=(0.6, 1.6))],
                         ids=["hflip", "vflip", "shrink", "enlarge", "scale-jitter"])
def test_v2_moves_boxes_with_masks_to_within_a_pixel(transform) -> None:
    """Before any refit, torchvision's own boxes agree with the transformed masks (flips exactly)."""
    image, t = sample()
    torch.manual_seed(0)
    box = tv_tensors.BoundingBoxes(t["boxes"], format="XYXY", canvas_size=tuple(image.shape[-2:]))
    out_image, out = transform(tv_tensors.Image(image), {"boxes": box, "masks": tv_tensors.Mask(t["masks"])})
    assert out["masks"].shape[-2:] == out_image.shape[-2:] == tuple(out["boxes"].canvas_size)
    diff = (out["boxes"].as_subclass(torch.Tensor) - tight(out["masks"])).abs().max()
    # flips are exact; a resize scales box edges exactly but samples mask pixels at the nearest centre
    assert float(diff) <= (0 if "Flip" in type(transform).__name__ else 1.5)


@pytest.mark.parametrize("transform", [v2.RandomHorizontalFlip(1.0), v2.Resize(96), v2.CenterCrop(56),
                                       v2.RandomResizedCrop(128, scale=(0.1, 0.3)), v2.ColorJitter(0.5, 0.5, 0.5, 0.1),
                                       default_augmentation()],
                         ids=["flip", "resize", "centre-crop", "resized-crop", "colour", "default"])
def test_every_transform_keeps_objects_consistent(transform) -> None:
    for index in range(6):
        image, t = sample(index)
        torch.manual_seed(index)
        pipeline = transform if isinstance(transform, v2.Compose) and len(transform.transforms) > 3 else \
            v2.Compose([transform, TightBoxes(), SANITIZE])
        out_image, out = augment_sample(image, t, pipeline)
        consistent(out_image, out, t)
        assert out["image_id"] == t["image_id"]


def test_a_crop_drops_objects_with_their_masks_and_labels() -> None:
    def cut_of(index: int) -> torch.Tensor:
        return sample(index)[1]["masks"][:, 36:92, 36:92]  # what the centre crop of 56 keeps of each mask

    def kept(cut: torch.Tensor) -> list[int]:
        return [k for k in range(len(cut)) if int(cut[k].sum()) >= 6]

    def cuts_one(index: int) -> bool:
        whole = sample(index)[1]["masks"].flatten(1).sum(1)
        return any(int(cut_of(index)[k].sum()) < int(whole[k]) for k in kept(cut_of(index)))

    index = next(i for i in range(48) if 0 < len(kept(cut_of(i))) < len(cut_of(i)) and cuts_one(i))
    image, t = sample(index)  # the crop drops some objects, keeps others and cuts through one
    cut, expect = cut_of(index), kept(cut_of(index))
    out_image, out = augment_sample(image, t, v2.Compose([v2.CenterCrop(56), TightBoxes(), SANITIZE]))
    assert out["kept"].tolist() == expect
    assert torch.equal(out["masks"], cut[expect]) and torch.equal(out_image, image[:, 36:92, 36:92])
    consistent(out_image, out, t)


class FixedCrop:
    """Crop image, boxes and masks to rows top..top+height, columns left..left+width (torchvision's ``crop``)."""

    def __init__(self, top: int, left: int, height: int, width: int):
        self.args = (top, left, height, width)

    def __call__(self, image, target):
        return F.crop(image, *self.args), {**target, "boxes": F.crop(target["boxes"], *self.args),
                                           "masks": F.crop(target["masks"], *self.args)}


def test_a_crop_through_an_object_refits_its_box() -> None:
    """A triangle's clipped box is looser than what is left of it; the refit box is tight."""
    masks = torch.zeros(1, 20, 20, dtype=torch.uint8)
    for y in range(4, 16):
        masks[0, y, 4:y + 1] = 1  # a right triangle below the diagonal from (4, 4) to (15, 15)
    target = {"boxes": tight(masks), "labels": torch.tensor([3]), "masks": masks}
    crop = FixedCrop(4, 8, 9, 8)  # rows 4-12, columns 8-15: the triangle's empty corner is in it
    _, loose = augment_sample(torch.rand(3, 20, 20), target, crop)
    assert loose["boxes"].tolist() == [[0, 0, 8, 9]] and tight(loose["masks"]).tolist() == [[0, 4, 5, 9]]
    _, refit = augment_sample(torch.rand(3, 20, 20), target, v2.Compose([crop, TightBoxes(), SANITIZE]))
    assert refit["boxes"].tolist() == [[0, 4, 5, 9]]


def test_bad_targets_get_one_sentence() -> None:
    image, t = sample()
    with pytest.raises(KeyError, match="needs boxes, labels and masks"):
        augment_sample(image, {"boxes": t["boxes"]}, default_augmentation())
    with pytest.raises(ValueError, match="one of each per object"):
        augment_sample(image, {**t, "labels": t["labels"][:1]}, default_augmentation())
    with pytest.raises(ValueError, match="scale_range"):
        default_augmentation(scale_range=(1.5, 0.5))


def test_augmented_dataset_is_deterministic_per_seed_epoch_and_index() -> None:
    ds = AugmentedDataset(CocoInstanceDataset(sample_dir() / "val"), seed=3)
    assert len(ds) == 24 and ds.num_classes == 5 and ds.class_names[-1] == "star"
    state = torch.random.get_rng_state()
    first = ds[4]
    ds[7]
    again = ds[4]
    assert torch.equal(torch.random.get_rng_state(), state), "torch's global random state is left alone"
    assert torch.equal(first[0], again[0]) and torch.equal(first[1]["masks"], again[1]["masks"])
    ds.set_epoch(1)
    assert not torch.equal(ds[4][0], first[0]), "a new epoch, a new variant"
    other = AugmentedDataset(CocoInstanceDataset(sample_dir() / "val"), seed=4)
    assert not torch.equal(other[4][0], first[0])
    base = CocoInstanceDataset(sample_dir() / "val")
    for i in range(len(ds)):
        consistent(*ds[i], base[i][1])


def test_coco_batches_draw_new_variants_every_epoch() -> None:
    from course_utils.train.loaders import CocoBatches

    ds = AugmentedDataset(CocoInstanceDataset(sample_dir() / "val"), seed=0)
    batches = CocoBatches(ds, batch_size=24, flip=False, seed=0)
    epochs = [next(iter(batches)) for _ in range(3)]
    assert ds.epoch == 2, "CocoBatches set the epoch before each pass"
    sums = [sorted(float(img.sum()) for img in images) for images, _ in epochs]
    assert sums[0] != sums[1] != sums[2]
    for _, targets in epochs:
        for t in targets:
            assert torch.equal(t["boxes"], tight(t["masks"])) and len(t["labels"]) == len(t["masks"])


def test_show_augmentations_draws_the_sample_and_its_variants() -> None:
    import matplotlib.pyplot as plt

    from course_utils.viz.augmentations import augmented_variants, show_augmentations

    image, t = sample(1)
    fig = show_augmentations(image, t, n=8, seed=0, class_names=["background", "circle", "square", "triangle", "star"])
    shown = [a for a in fig.axes if a.images]
    assert len(shown) == 9 and shown[0].get_title().startswith("original")
    assert shown[0].images[0].get_array().shape == (384, 384, 3)
    plt.close(fig)
    a, b = augmented_variants(image, t, 3, seed=5), augmented_variants(image, t, 3, seed=5)
    assert all(torch.equal(x[0], y[0]) for x, y in zip(a, b))
    with pytest.raises(ValueError, match="at least 1"):
        show_augmentations(image, t, n=0)
