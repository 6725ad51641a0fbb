"""Label maps against tables transcribed from the official sources."""

from types import MappingProxyType

import numpy as np
import pytest

from harness.data.classes import get_classes
from harness.data.labelmaps import LabelMap, get_labelmap, label_maps
from harness.names import UnknownNameError

# (labelId, trainId) of every row of cityscapesscripts/helpers/labels.py (ids 0..33).
# fmt: off
CITYSCAPES_LABELS_PY = [
    (0, 255), (1, 255), (2, 255), (3, 255), (4, 255), (5, 255), (6, 255), (7, 0), (8, 1),
    (9, 255), (10, 255), (11, 2), (12, 3), (13, 4), (14, 255), (15, 255), (16, 255), (17, 5),
    (18, 255), (19, 6), (20, 7), (21, 8), (22, 9), (23, 10), (24, 11), (25, 12), (26, 13),
    (27, 14), (28, 15), (29, 255), (30, 255), (31, 16), (32, 17), (33, 18),
]
# SYNTHIA README id -> trainId, one row per README class (datasets.md 5.4 table).
SYNTHIA_README = [
    (0, 255), (1, 10), (2, 2), (3, 0), (4, 1), (5, 4), (6, 8), (7, 5), (8, 13), (9, 7),
    (10, 11), (11, 18), (12, 17), (13, 255), (14, 255), (15, 6), (16, 9), (17, 12), (18, 14),
    (19, 15), (20, 16), (21, 3), (22, 255),
]
# fmt: on


def per_class_reference(raw, pairs):
    """Plain per-class loop reading from the raw array (no chaining), unmapped -> 255."""
    out = np.full(raw.shape, 255, dtype=np.uint8)
    for raw_id, train_id in pairs:
        out[raw == raw_id] = train_id
    return out


def test_cityscapes_lut_equals_labels_py():
    lut = get_labelmap("cityscapes").lut
    assert [(i, int(lut[i])) for i in range(34)] == CITYSCAPES_LABELS_PY
    assert (lut[34:] == 255).all()


def test_gta5_uses_cityscapes_ids_and_ignores_license_plate():
    gta = get_labelmap("gta5")
    assert (gta.lut == get_labelmap("cityscapes").lut).all()
    assert gta.valid[34] and not gta.valid[35]


def test_synthia_lut_equals_readme_table_with_16bit_channel():
    synthia = get_labelmap("synthia")
    assert synthia.lut.shape == (65536,) and synthia.bit_depth == 16
    assert synthia.channel == 2  # R of the file = index 2 of OpenCV's BGR array
    assert [(i, int(synthia.lut[i])) for i in range(23)] == SYNTHIA_README
    assert (synthia.lut[23:] == 255).all()


def test_nthu_keeps_only_the_13_evaluated_classes():
    lut = get_labelmap("nthu").lut
    mapped = sorted({int(v) for v in lut} - {255})
    assert mapped == list(get_classes("nthu13").train_ids)
    # Cityscapes ids the full table would map, but NTHU does not evaluate.
    assert [int(lut[i]) for i in (12, 13, 17, 22, 27, 31)] == [255] * 6


def test_trainid_maps_are_identity_on_trainids():
    for name in ("bdd100k", "cityscapes_trainids"):
        m = get_labelmap(name)
        assert [int(m.lut[i]) for i in range(19)] == list(range(19))
        assert set(np.flatnonzero(m.valid)) == set(range(19)) | {255}


@pytest.mark.parametrize("name", ["cityscapes", "gta5", "synthia", "nthu", "bdd100k"])
def test_lut_remap_equals_per_class_reference(name):
    m = get_labelmap(name)
    valid = np.flatnonzero(m.valid)
    raw = np.random.default_rng(0).choice(valid, size=(37, 53)).astype(m.dtype)
    pairs = [(int(k), int(m.lut[k])) for k in valid]
    assert (m.remap(raw) == per_class_reference(raw, pairs)).all()


def test_in_place_chained_loop_differs_from_lut_on_synthia():
    # T1: remapping in place in dict order re-maps already mapped pixels.
    from harness.data.labelmaps import SYNTHIA_ID_TO_TRAINID

    raw = np.arange(23, dtype=np.uint16).reshape(1, -1)
    chained = raw.copy()
    for k, v in SYNTHIA_ID_TO_TRAINID.items():
        chained[chained == k] = v
    lut_result = get_labelmap("synthia").remap(raw)
    assert lut_result[0, 1] == 10  # sky
    assert chained[0, 1] != 10


def test_remap_rejects_invalid_ids_naming_file_and_ids():
    raw = np.array([[7, 40], [200, 8]], dtype=np.uint8)
    with pytest.raises(ValueError, match=r"labels/00007\.png: ids 40, 200 are not valid gta5"):
        get_labelmap("gta5").remap(raw, "labels/00007.png")


def test_remap_rejects_wrong_bit_depth():
    with pytest.raises(ValueError, match="expects 16-bit"):
        get_labelmap("synthia").remap(np.zeros((2, 2), np.uint8), "GT/LABELS/0000000.png")
    with pytest.raises(ValueError, match="expects 8-bit"):
        get_labelmap("cityscapes").remap(np.zeros((2, 2), np.uint16))


def test_fingerprints_are_stable_distinct_and_content_sensitive():
    prints = {get_labelmap(n).fingerprint for n in label_maps()}
    assert len(prints) == len(label_maps())
    gta = get_labelmap("gta5")
    assert len(gta.fingerprint) == 64 and gta.fingerprint == get_labelmap("gta5").fingerprint
    changed = LabelMap(
        "gta5",
        gta.version,
        MappingProxyType({**gta.mapping, 9: 9}),
        gta.valid_ids,
        8,
        None,
        gta.source,
    )
    assert changed.fingerprint != gta.fingerprint


def test_lut_is_read_only():
    with pytest.raises(ValueError):
        get_labelmap("gta5").lut[7] = 3


def test_unknown_label_map_lists_the_closest_names():
    with pytest.raises(UnknownNameError, match="label map 'synthai'. Did you mean 'synthia'"):
        get_labelmap("synthai")
