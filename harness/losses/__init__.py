"""Reusable loss terms: PLCA cycle association, Lovasz-softmax, adaptive label smoothing,
entropy and VAT (clustering)."""
