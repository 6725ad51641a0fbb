"""Syn.Signs: the label list, and DIRT-T's seeded permutation split."""

import numpy as np
import pytest

from harness.data.fixtures import write_fixtures
from harness.data.image_lists import ImageSetError
from harness.data.synsigns import SynSigns, split_indices


def test_split_is_the_tail_of_a_seed_0_permutation_disjoint_and_complete():
    train, test = (split_indices(100, s, 0, 5) for s in ("train", "test"))
    assert len(test) == 5 and len(train) == 95
    assert set(train) | set(test) == set(range(100)) and not set(train) & set(test)
    # np.random.seed(0); np.random.permutation(n), as DIRT-T's FixedSeed(0) block
    np.random.seed(0)
    assert sorted(np.random.permutation(100)[95:]) == list(test)


def test_reads_the_label_list_and_names_bad_lines(tmp_path):
    root = write_fixtures("synsigns", tmp_path, n_per_split=1)
    data = SynSigns(str(root), "test", test_count=3, subset=43, size=16)
    assert len(data) == 3 and data[0]["inputs"].shape == (3, 16, 16)
    listing = root / "synthetic_data" / "train_labelling.txt"
    listing.write_text(listing.read_text() + "train/99999.png 12 0\ntrain/00001.png x 0\n")
    with pytest.raises(ImageSetError) as err:
        SynSigns(str(root), "test", test_count=3, subset=43)
    found = sorted(p.problem for p in err.value.problems)
    assert found[0].startswith("'train/00001.png x 0' is not") and "missing" in found[1]
