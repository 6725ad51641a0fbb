"""Datasets; importing this package registers every dataset class and loading transform.

Every module of the package is imported, so a new dataset file registers by existing.
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
