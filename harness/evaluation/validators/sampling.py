"""Bounded samples: a seeded reservoir of rows, and seeded pixels of segmentation maps."""

import torch


class Reservoir:
    """A uniform random sample of at most ``capacity`` rows of a stream.

    Algorithm R (Vitter 1985), seeded: the first ``capacity`` rows are kept in
    order, row ``t`` after them replaces a uniformly drawn slot with
    probability ``capacity / (t + 1)``. One draw per row, so the sample does not
    depend on how the stream is cut into batches. Rows are kept on the CPU in
    float64: memory is ``capacity * width * 8`` bytes. Written here because no
    maintained library offers a seeded, batch-invariant reservoir of tensors.
    """

    def __init__(self, capacity: int, seed: int = 0):
        if capacity < 1:
            raise ValueError(f"reservoir capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.seed = seed
        self.seen = 0
        self.rows: torch.Tensor | None = None
        self._generator = torch.Generator().manual_seed(seed)

    def add(self, rows: torch.Tensor) -> None:
        rows = rows.detach().to("cpu", torch.float64)
        if self.rows is None:
            self.rows = rows.new_empty(0, rows.shape[1])
        t = torch.arange(self.seen, self.seen + len(rows))
        slot = (torch.rand(len(rows), generator=self._generator, dtype=torch.float64)
                * (t + 1)).long()
        fill = t < self.capacity
        self.rows = torch.cat([self.rows, rows[fill]])
        later = torch.nonzero(~fill & (slot < self.capacity)).squeeze(1)
        if len(later):
            # Several rows of one batch may draw the same slot: the last one wins,
            # as in the row-by-row algorithm.
            last = torch.full((self.capacity,), -1).scatter_reduce(0, slot[later], later, "amax")
            hit = last >= 0
            self.rows[hit] = rows[last[hit]]
        self.seen += len(rows)

    def all_gather(self) -> None:
        """Merge every process's sample into one of at most ``capacity`` rows.

        Under the capacity the samples are concatenated in rank order; over it,
        each process contributes in proportion to the rows it saw (largest
        remainder), drawn with the same seed on every process so that all end
        with the same rows. A no-op on one process.
        """
        from mmengine import dist

        if dist.get_world_size() == 1:
            return
        rows = self.rows if self.rows is not None else torch.zeros(0, 0, dtype=torch.float64)
        shape = torch.tensor([self.seen, *rows.shape])
        shapes = torch.stack(dist.all_gather(shape)).tolist()
        longest, width = max(s[1] for s in shapes), max(s[2] for s in shapes)
        padded = torch.zeros(longest, width, dtype=torch.float64)
        padded[: len(rows), : rows.shape[1]] = rows
        parts = [p[:n] for p, (_, n, _) in zip(dist.all_gather(padded), shapes)]
        seen = [s[0] for s in shapes]
        if sum(len(p) for p in parts) > self.capacity:
            share = torch.tensor(seen, dtype=torch.float64) * self.capacity / sum(seen)
            quota = share.floor().long()
            extra = torch.argsort(share - quota, descending=True, stable=True)
            quota[extra[: self.capacity - int(quota.sum())]] += 1
            generator = torch.Generator().manual_seed(self.seed)
            parts = [p[torch.randperm(len(p), generator=generator)[:q]]
                     for p, q in zip(parts, quota.tolist())]
        self.rows, self.seen = torch.cat(parts), sum(seen)


def sample_pixels(
    probs: torch.Tensor,
    features: torch.Tensor | None,
    n_per_image: int,
    generator: torch.Generator,
    labels: torch.Tensor | None = None,
    domain: str = "target",
) -> dict[str, torch.Tensor]:
    """The same seeded pixel positions from the probability, feature and label maps.

    ``probs`` is ``[B, C, H, W]``, ``features`` ``[B, D, h, w]`` (or None),
    ``labels`` ``[B, H', W']`` (or None). Positions are drawn without
    replacement on the feature grid (the head's resolution; the probability
    grid when there are no features), ``min(n_per_image, h * w)`` per image,
    from ``generator`` (a CPU generator). A larger map is read at the pixel
    nearest to the centre of each grid cell. Returns ``{domain}_probs``
    ``[B * n, C]``, and ``{domain}_features`` / ``{domain}_labels`` when given:
    the batch keys of :data:`~harness.evaluation.validators.base.KEYS`.
    """
    if domain not in ("target", "source"):
        raise ValueError(f"domain must be 'target' or 'source', got {domain!r}")
    grid = features if features is not None else probs
    batch, (h, w) = len(probs), grid.shape[-2:]
    n = min(n_per_image, h * w)
    picks = torch.stack([torch.randperm(h * w, generator=generator)[:n] for _ in range(batch)])
    rows, cols = picks // w, picks % w

    def at(maps: torch.Tensor) -> torch.Tensor:
        height, width = maps.shape[-2:]
        r = ((2 * rows + 1) * height // (2 * h)).to(maps.device)
        c = ((2 * cols + 1) * width // (2 * w)).to(maps.device)
        b = torch.arange(batch, device=maps.device)[:, None].expand_as(r)
        if maps.dim() == 3:
            return maps[b, r, c].reshape(-1)
        return maps[b, :, r, c].reshape(batch * n, -1)  # advanced indices first: [B, n, K]

    out = {f"{domain}_probs": at(probs)}
    if features is not None:
        out[f"{domain}_features"] = at(features)
    if labels is not None:
        out[f"{domain}_labels"] = at(labels)
    return out
