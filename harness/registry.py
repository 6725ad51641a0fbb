"""mmengine registries of the harness, children of mmseg's (and so mmengine's).

Configs compiled by :mod:`harness.config` use ``default_scope = "harness"``:
mmengine then resolves an unscoped ``type`` here first, then in mmseg, then in
mmengine. Every mmseg registry gets a ``harness`` child (as mmseg does for
mmengine's), so mmengine finds the scope in each registry tree it searches.
Methods live in their own child registry (scope ``methods``) so that
``type="methods.plca"`` names a method and nothing else; each registry imports
its ``locations`` on first lookup, so ``methods/`` is auto-imported.

mmseg and mmcv are unmaintained: they are touched only here and in
``harness/models`` so they can be replaced without changing any method.
"""

from harness import mmcv_compat

mmcv_compat.install()

import mmseg.registry as _mmseg  # noqa: E402
from mmengine.registry import Registry  # noqa: E402

from harness.mmengine_private import registry_locations  # noqa: E402

SCOPE = "harness"

_LOCATIONS = {
    "MODELS": ["harness.models"],
    "DATASETS": ["harness.data"],
    "TRANSFORMS": ["harness.transforms", "harness.data"],
    "METRICS": ["harness.evaluation"],
    "LOOPS": ["harness.loops"],
    "HOOKS": ["harness.hooks"],
    "OPTIM_WRAPPERS": ["harness.guards"],
}


def _child(attr: str) -> Registry:
    parent = getattr(_mmseg, attr)
    # A lookup that falls through to the parent does not import the parent's
    # modules, so the child imports them itself (e.g. mmseg's RandomCrop).
    locations = _LOCATIONS.get(attr, []) + registry_locations(parent)
    return Registry(parent.name, parent=parent, scope=SCOPE, locations=locations)


_CHILDREN = {
    attr: _child(attr)
    for attr in dir(_mmseg)
    if isinstance(getattr(_mmseg, attr), Registry)
}

MODELS = _CHILDREN["MODELS"]
DATASETS = _CHILDREN["DATASETS"]
TRANSFORMS = _CHILDREN["TRANSFORMS"]
METRICS = _CHILDREN["METRICS"]
LOOPS = _CHILDREN["LOOPS"]
HOOKS = _CHILDREN["HOOKS"]
DATA_SAMPLERS = _CHILDREN["DATA_SAMPLERS"]
OPTIM_WRAPPERS = _CHILDREN["OPTIM_WRAPPERS"]
METHODS = Registry("method", parent=MODELS, scope="methods", locations=["methods"])
