"""The COCO evaluation gauntlet: each planted fault shows its symptom, measured on data/val."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from course_utils.data.coco import export_coco
from course_utils.metrics.pitfalls import gauntlet_table, row_major_rle, run_gauntlet

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # pycocotools


@pytest.fixture(scope="module")
def gauntlet():
    return {r.name[:3]: r for r in run_gauntlet()}


def test_a_ground_truth_scored_against_itself_is_perfect(gauntlet):
    assert gauntlet["(a)"].values == {"segm_AP": 1.0, "bbox_AP": 1.0}


def test_b_c_order_rle_is_refused_or_transposes_the_masks(gauntlet):
    v = gauntlet["(b)"].values
    assert "Fortran" in v["encode_error"]
    assert v["segm_AP"] < 0.05
    mask = np.zeros((6, 6), np.uint8)
    mask[1, 1:5] = 1  # a horizontal bar comes back vertical
    assert (mask_utils.decode(row_major_rle(mask)) == mask.T).all()


def test_c_xyxy_boxes_ruin_bbox_ap(gauntlet):
    v = gauntlet["(c)"].values
    assert v["bbox_AP"] < 0.5 and v["bbox_AP50"] < 0.5


def test_d_a_wrong_area_moves_objects_between_buckets(gauntlet):
    v = gauntlet["(d)"].values
    assert sum(v["buckets_before"].values()) == sum(v["buckets_after"].values())
    assert v["buckets_after"]["medium"] > v["buckets_before"]["medium"]  # small objects now counted as medium
    assert v["AP_medium"] != v["AP_medium"][::-1] or v["AP_small"] != v["AP_small"][::-1]  # a per-size AP moved
    assert v["AP"][0] == v["AP"][1]  # ... while the overall AP does not show it
    assert v["area_mismatch_reported"] == sum(v["buckets_after"].values())  # the validator names every one


def test_e_crowd_regions_are_ignored_not_scored(gauntlet):
    v = gauntlet["(e)"].values
    crowd = v["gt_total"] - v["gt_counted"]
    assert crowd > 0 and v["dt_ignored"] == crowd
    assert v["AP_crowd"] == 1.0 and v["AP_deleted"] < 0.95


def test_f_category_zero_is_background_to_torchvision(gauntlet):
    v = gauntlet["(f)"].values
    assert v["segm_AP"] == 1.0  # pycocotools does not mind
    assert v["torchvision_background"] == v["objects_id0"] == v["validator"]["background-category"] > 0
    assert v["validator"]["bad-id"] == 1  # the category record with id 0
    assert v["loader_label"] == 1  # contiguous labels: the course's ids no longer hold


def test_g_ap_is_on_a_0_1_scale_and_minus_1_is_not_a_score(gauntlet):
    v = gauntlet["(g)"].values
    assert 0.2 < v["AP"] < 1.0 and v["AP_percent"] == pytest.approx(100 * v["AP"])
    assert v["AP_large"] == -1.0 and v["naive_mean"] < v["mean"]


def test_the_table_shows_every_pitfall(gauntlet):
    table = gauntlet_table(list(gauntlet.values()))
    lines = table.splitlines()
    assert len(lines) == 2 + 7 and all(line.startswith("| (") for line in lines[2:])
    assert f"{100 * gauntlet['(g)'].values['AP']:.1f}" in table and "Fortran" in table


def test_the_gauntlet_runs_on_a_generated_dataset(tmp_path):
    ann = export_coco(tmp_path / "ds", split=11, length=6)
    results = run_gauntlet(ann)
    assert [r.name[:3] for r in results] == ["(a)", "(b)", "(c)", "(d)", "(e)", "(f)", "(g)"]
    assert results[0].values == {"segm_AP": 1.0, "bbox_AP": 1.0}
    data = json.loads(ann.read_text())
    data["annotations"] = data["annotations"][:3]
    ann.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="has 3 objects; the gauntlet needs 4"):
        run_gauntlet(ann)
