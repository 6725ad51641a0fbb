"""The seeded reservoir and the seeded pixel sample."""

import torch

from harness.evaluation.validators import Reservoir, sample_pixels


def test_reservoir_is_uniform():
    # Every one of 1000 rows is kept with probability capacity / 1000: over 200
    # seeds, each block of 100 consecutive rows is kept ~0.1 of the time (sd 0.002).
    kept = torch.zeros(1000)
    for seed in range(200):
        reservoir = Reservoir(100, seed)
        for batch in torch.arange(1000.0).split(250):
            reservoir.add(batch[:, None])
        kept[reservoir.rows[:, 0].long()] += 1
    assert (kept == 0).sum() < 10  # not the first 100 rows only
    assert torch.allclose(kept.view(10, 100).mean(1) / 200, torch.tensor(0.1), atol=0.01)


def _coordinates(batch, height, width):
    """[B, 2, H, W] maps whose channels are each pixel's row and column."""
    rows, cols = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    return torch.stack([rows, cols]).float().expand(batch, 2, height, width)


def test_sample_pixels_reads_the_same_positions_from_every_map():
    b, h, w = 3, 2, 5
    features = _coordinates(b, h, w)
    probs = _coordinates(b, 4 * h, 4 * w)  # the logits, upsampled 4x
    labels = torch.arange(b * 8 * h * 8 * w).view(b, 8 * h, 8 * w)  # the labels, 8x
    out = sample_pixels(probs, features, 4, torch.Generator().manual_seed(0), labels=labels,
                        domain="source")
    assert sorted(out) == ["source_features", "source_labels", "source_probs"]
    assert out["source_probs"].shape == (b * 4, 2) and out["source_labels"].shape == (b * 4,)
    row, col = out["source_features"].long().T
    # Feature cell (r, c) is read at the pixel nearest its centre: 4x -> 4r + 2, 8x -> 8r + 4.
    assert torch.equal(out["source_probs"].long(), torch.stack([4 * row + 2, 4 * col + 2], 1))
    image = torch.arange(b).repeat_interleave(4)
    assert torch.equal(out["source_labels"], labels[image, 8 * row + 4, 8 * col + 4])
    for i in range(b):  # without replacement within an image
        assert len({(int(r), int(c)) for r, c in zip(row[image == i], col[image == i])}) == 4


def test_sample_pixels_is_seeded_and_capped():
    probs = _coordinates(2, 3, 3)
    first = sample_pixels(probs, None, 4, torch.Generator().manual_seed(1))
    again = sample_pixels(probs, None, 4, torch.Generator().manual_seed(1))
    assert sorted(first) == ["target_probs"]
    assert torch.equal(first["target_probs"], again["target_probs"])
    assert not torch.equal(first["target_probs"][:4], first["target_probs"][4:])  # per image
    every = sample_pixels(probs, None, 100, torch.Generator().manual_seed(1))["target_probs"]
    assert len(every) == 2 * 9 and len({tuple(p.tolist()) for p in every[:9]}) == 9
