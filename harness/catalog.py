"""Names of methods and backbones read from the source files, without importing them.

``harness list`` and ``harness --help`` must start fast, so they cannot import
torch or mmseg; registered names are read from the ``register_module(name=...)``
decorators instead. A test checks this agrees with the live registries.
"""

import ast
from pathlib import Path

from harness import PROJECT_ROOT


def _registered(files, registry: str) -> list[str]:
    names = []
    for path in files:
        tree = ast.parse(Path(path).read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            for deco in node.decorator_list:
                if (
                    isinstance(deco, ast.Call)
                    and isinstance(deco.func, ast.Attribute)
                    and deco.func.attr == "register_module"
                    and isinstance(deco.func.value, ast.Name)
                    and deco.func.value.id == registry
                ):
                    kw = {k.arg: k.value for k in deco.keywords}
                    name = kw.get("name")
                    if isinstance(name, ast.Constant):
                        names.append(name.value)
                    elif isinstance(name, ast.List | ast.Tuple):
                        names += [e.value for e in name.elts]
                    else:
                        names.append(node.name)
    return sorted(names)


def method_names() -> list[str]:
    return _registered(sorted((PROJECT_ROOT / "methods").glob("*.py")), "METHODS")


def backbone_names() -> list[str]:
    return _registered(sorted((PROJECT_ROOT / "harness" / "models").glob("*.py")), "MODELS")
