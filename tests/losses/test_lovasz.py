"""Lovasz-softmax against the Lovasz extension computed from its definition."""

import pytest
import torch

from harness.losses.lovasz import lovasz_jaccard_grad, lovasz_softmax

IGNORE = 255


def jaccard_set_loss(mistakes, fg):
    """Delta(M) = |M| / |fg U M| for boolean masks (Berman et al., Eq. 7)."""
    union = (fg | mistakes).sum()
    return mistakes.sum() / union if union > 0 else torch.zeros((), dtype=torch.float64)


def lovasz_extension_by_integral(errors, fg):
    """Choquet integral: int_0^inf Delta({m >= t}) dt, summed over the level sets of m."""
    levels = errors.detach().unique().flip(0)  # distinct error values, decreasing
    # Differentiable copies of the level values (one pixel per level), then 0.
    values = [errors[(errors.detach() == v).nonzero()[0, 0]] for v in levels] + [
        errors.new_zeros(())
    ]
    total = errors.new_zeros(())
    for k, level in enumerate(levels):
        total = total + (values[k] - values[k + 1]) * jaccard_set_loss(errors.detach() >= level, fg)
    return total


def reference(probs, labels):
    """Mean over present classes of the extension at errors |1[y = c] - p_c|, pooled over the batch."""
    flat = probs.movedim(1, -1).reshape(-1, probs.shape[1])
    y = labels.reshape(-1)
    keep = y != IGNORE
    flat, y = flat[keep], y[keep]
    losses = [
        lovasz_extension_by_integral(((y == c).double() - flat[:, c]).abs(), y == c)
        for c in y.unique().tolist()
    ]
    return torch.stack(losses).mean()


def make_inputs(seed, n=2, c=4, h=3, w=3):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, c, h, w, generator=g, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(0, c - 1, (n, h, w), generator=g)  # class c-1 absent: 'present' skips it
    labels[0, 0] = IGNORE
    return logits, labels


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_extension_from_definition_value_and_gradient(seed):
    logits, labels = make_inputs(seed)
    ours = lovasz_softmax(logits.softmax(1), labels)
    ref = reference(logits.softmax(1), labels)
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-5)
    (g_ours,) = torch.autograd.grad(ours, logits)
    (g_ref,) = torch.autograd.grad(ref, logits)
    torch.testing.assert_close(g_ours, g_ref, rtol=0, atol=1e-5)


def test_hard_predictions_give_mean_jaccard_loss():
    # labels 0 0 1 1 2 | predictions 0 1 1 1 0:
    # IoU_0 = 1/3, IoU_1 = 2/3, IoU_2 = 0 -> loss = mean(2/3, 1/3, 1) = 2/3.
    labels = torch.tensor([[[0, 0, 1, 1, 2]]])
    preds = torch.tensor([[[0, 1, 1, 1, 0]]])
    probs = torch.nn.functional.one_hot(preds, 3).permute(0, 3, 1, 2).double()
    assert abs(lovasz_softmax(probs, labels).item() - 2 / 3) < 1e-12


def test_jaccard_grad_increments_sum_to_the_full_set_loss():
    fg = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0], dtype=torch.float64)
    # All 5 pixels mistaken: |M| / |fg U M| = 5 / 5.
    assert abs(lovasz_jaccard_grad(fg).sum().item() - 1.0) < 1e-12
    # First prefix {pixel 0, a foreground}: 1 / 3.
    assert abs(lovasz_jaccard_grad(fg)[0].item() - 1 / 3) < 1e-12


def test_ignored_pixels_do_not_count():
    logits, labels = make_inputs(5)
    probs = logits.detach().softmax(1)
    changed = probs.clone()
    changed[0, :, 0] = torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=torch.float64)[:, None]
    assert lovasz_softmax(probs, labels).item() == lovasz_softmax(changed, labels).item()
    assert lovasz_softmax(probs, torch.full_like(labels, IGNORE)).item() == 0.0


def test_out_of_range_label_raises():
    logits, labels = make_inputs(0)
    labels[1, 0, 0] = 7
    with pytest.raises(ValueError, match="ignore_index=255"):
        lovasz_softmax(logits.softmax(1), labels)
