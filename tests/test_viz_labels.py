"""Box labels never cover each other; predictions take the colour of the true object they match."""

from __future__ import annotations

import itertools

import torch

from course_utils.viz.labels import _overlap, place_labels


def test_labels_of_nearby_boxes_do_not_overlap() -> None:
    # three boxes starting a few pixels apart: torchvision would put all three labels on one spot
    boxes = [(10, 10, 40, 40), (12, 13, 42, 43), (14, 9, 44, 39)]
    rects = place_labels(boxes, [(30, 10)] * 3, width=100, height=100)
    for a, b in itertools.combinations(rects, 2):
        assert _overlap(a, b) == 0, (a, b)
    assert rects[0] == (10, 0, 40, 10), "the first label keeps the usual spot above its box"


def test_labels_stay_inside_the_image() -> None:
    rects = place_labels([(0, 0, 20, 20), (90, 90, 100, 100)], [(30, 12), (30, 12)], width=100, height=100)
    for x1, y1, x2, y2 in rects:
        assert 0 <= x1 and 0 <= y1 and x2 <= 100 and y2 <= 100


def test_crowded_labels_take_the_least_covered_spot() -> None:
    boxes = [(20, 20, 30, 30)] * 12  # more labels than spots: overlaps cannot all be avoided
    rects = place_labels(boxes, [(10, 10)] * 12, width=60, height=60)
    assert len(rects) == 12
    assert sum(_overlap(a, b) for a, b in itertools.combinations(rects[:8], 2)) < 8 * 100


def test_draw_instances_writes_every_label() -> None:
    from course_utils.viz import draw_instances

    masks = torch.zeros(2, 32, 32, dtype=torch.bool)
    masks[0, 8:20, 8:20] = masks[1, 9:21, 10:22] = True
    boxes = torch.tensor([[8.0, 8, 20, 20], [10, 9, 22, 21]])
    pic = draw_instances(torch.zeros(3, 32, 32), masks, boxes, torch.tensor([4, 5]), torch.tensor([0.9, 0.8]),
                         scale=4)
    assert pic.shape == (3, 128, 128) and pic.dtype == torch.uint8


def test_matched_predictions_take_the_true_objects_colour() -> None:
    from course_utils.viz.colours import UNMATCHED_COLOUR
    from course_utils.viz.instances import colour_ids, masks_to_ids, matched_ids

    truth = torch.zeros(3, 20, 20, dtype=torch.bool)
    truth[0, :5, :5] = truth[1, 10:, 10:] = truth[2, :5, 15:] = True  # objects 0 and 2 of equal size
    pred = torch.stack([truth[1], truth[0] | truth[2]])  # object 1 found; objects 0 and 2 merged into one blob
    ids = matched_ids(pred, truth)
    assert (ids[truth[1].numpy()] == 2).all(), "a match gets its true object's id"
    assert set(ids[pred[1].numpy()].tolist()) == {-1}, "an unmatched blob gets the unmatched id"
    true_pic, pred_pic = colour_ids(masks_to_ids(truth)), colour_ids(ids)
    assert (true_pic[15, 15] == pred_pic[15, 15]).all()
    assert tuple(pred_pic[2, 2].tolist()) == UNMATCHED_COLOUR, "and the unmatched colour, no true object's"


def test_unmatched_detections_never_wear_a_true_objects_colour_and_overlaps_stay_coloured() -> None:
    """Nine true objects (the palette repeats) and two false alarms: the alarms are dark grey, and where two
    predicted masks overlap the pixels keep a mask colour (torchvision blackens them within one call)."""
    from course_utils.viz import draw_instances
    from course_utils.viz.colours import UNMATCHED_COLOUR
    from course_utils.viz.instances import matched_numbers

    truth = torch.zeros(9, 30, 30, dtype=torch.bool)
    for k in range(9):
        truth[k, 3 * k:3 * k + 3, :3] = True
    alarms = torch.zeros(2, 30, 30, dtype=torch.bool)
    alarms[0, 10:20, 10:20] = alarms[1, 15:25, 15:25] = True  # overlapping false alarms
    pred = torch.cat([truth, alarms])
    numbers = matched_numbers(pred, truth)
    assert numbers == [*range(9), -1, -1]
    pic = draw_instances(torch.zeros(3, 30, 30), pred, colour_ids=numbers, alpha=1.0)
    assert tuple(pic[:, 17, 17].tolist()) == UNMATCHED_COLOUR, "overlap of two masks: coloured, not black"
    assert tuple(pic[:, 12, 12].tolist()) == UNMATCHED_COLOUR


def test_detections_match_as_coco_counts_them_the_confident_right_class_one_wins() -> None:
    """With classes and scores, a right-class detection takes its object's colour before a wrong-class one
    with the same mask, and before a less confident duplicate; the others are unmatched (-1)."""
    from course_utils.viz.instances import matched_numbers, matched_segment_ids

    truth = torch.zeros(2, 20, 20, dtype=torch.bool)
    truth[0, :8, :8] = truth[1, 10:18, 10:18] = True
    pred = torch.stack([truth[0], truth[0], truth[1]])  # object 0 twice (wrong class, right class), object 1
    assert matched_numbers(pred, truth) in ([0, -1, 1], [-1, 0, 1])  # class-blind: either copy of object 0
    numbers = matched_numbers(pred, truth, labels=[5, 4, 6], true_labels=[4, 6], scores=[0.9, 0.6, 0.8])
    assert numbers == [-1, 0, 1], "the wrong-class copy must not take the object, however confident"
    numbers = matched_numbers(pred, truth, labels=[4, 4, 6], true_labels=[4, 6], scores=[0.5, 0.9, 0.8])
    assert numbers == [-1, 0, 1], "the more confident of two right-class copies takes the object"
    assert matched_numbers(pred[:0], truth, labels=[], true_labels=[4, 6], scores=[]) == []
    panoptic = torch.zeros(20, 20, dtype=torch.long)
    panoptic[:8, :8], panoptic[10:18, 10:18] = 5 * 1000 + 1, 6 * 1000 + 2  # a square where a circle is
    assert matched_segment_ids(panoptic, truth, true_labels=[4, 6]) == [-1, 6002]
    assert matched_segment_ids(panoptic, truth) == [5001, 6002]  # without classes: by overlap only
