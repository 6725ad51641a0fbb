"""Clustering regularisers on unlabeled images: prediction entropy and VAT.

3C-GAN's l_cluReg (seed 001, "Model Adaptation" slides: E_t[-C(x_t) log C(x_t)] +
KL(C(x_t) || C(x_t + r~))) and Label2Image-DA's L_reg use both. Logits may be per
image (N, C) or dense (N, C, H, W): classes are on dim 1, the rest is averaged.
"""

import torch
import torch.nn.functional as F


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Mean prediction entropy ``E_x[-sum_k p_k log p_k]`` (the first term of l_cluReg)."""
    log_p = F.log_softmax(logits, dim=1)
    return -(log_p.exp() * log_p).sum(1).mean()


def kl_from(p: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Mean ``KL(p || softmax(logits))`` over the batch, ``p`` given as probabilities."""
    return (p * (torch.log(p.clamp_min(1e-12)) - F.log_softmax(logits, dim=1))).sum(1).mean()


def _unit(d: torch.Tensor) -> torch.Tensor:
    """Each sample's perturbation scaled to L2 norm 1 (over channels and pixels)."""
    norm = d.flatten(1).norm(dim=1).clamp_min(1e-12)
    return d / norm.view(-1, *([1] * (d.dim() - 1)))


def vat_loss(f, x: torch.Tensor, eps: float, xi: float) -> torch.Tensor:
    """``KL(C(x) || C(x + r~))`` with ``r~`` the adversarial direction of norm ``eps``.

    One power iteration from a random direction (VAT, Miyato et al. 2018, Alg. 1):
    the gradient of the KL at ``xi * d`` points along the dominant eigenvector of its
    Hessian. ``C(x)`` is the fixed target of the KL, as in VAT.
    """
    with torch.no_grad():
        p = F.softmax(f(x), dim=1)
    d = (xi * _unit(torch.randn_like(x))).requires_grad_()
    (grad,) = torch.autograd.grad(kl_from(p, f(x + d)), d)
    return kl_from(p, f(x + eps * _unit(grad.detach())))
