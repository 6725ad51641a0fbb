"""Networks that belong to one method (not backbones: no registry, no contract)."""
