"""Methods, one file each; importing this package registers all of them.

Modules and packages whose name starts with ``_`` (``_nets``, a method's own networks)
are not methods: they are imported by the methods that use them.
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")
