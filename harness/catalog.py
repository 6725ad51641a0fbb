"""Names (and declared traits) of methods and backbones read from the source files,
without importing them.

``harness list`` and ``harness --help`` must start fast, so they cannot import
torch or mmseg; registered names are read from the ``register_module(name=...)``
decorators, and a method's declared contract (``tasks``, ``source_free``, ...)
from the literal class attributes of its class and its bases. Tests check both
agree with the live registries and classes.
"""

import ast
from pathlib import Path

from harness import PROJECT_ROOT

#: The declared class attributes of ``UDAMethod`` that ``harness list methods`` shows.
TRAITS = ("tasks", "uses_target_labels", "needs_source_model", "source_free")


def _classes(files) -> list[ast.ClassDef]:
    """Every class defined in the files."""
    found = []
    for path in files:
        tree = ast.parse(Path(path).read_text(), filename=str(path))
        found += [node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]
    return found


def _names(node: ast.ClassDef, registry: str) -> list[str]:
    """The names the class's ``registry.register_module`` decorator gives it (none if absent)."""
    for deco in node.decorator_list:
        if (
            isinstance(deco, ast.Call)
            and isinstance(deco.func, ast.Attribute)
            and deco.func.attr == "register_module"
            and isinstance(deco.func.value, ast.Name)
            and deco.func.value.id == registry
        ):
            name = {k.arg: k.value for k in deco.keywords}.get("name")
            if isinstance(name, ast.Constant):
                return [name.value]
            if isinstance(name, ast.List | ast.Tuple):
                return [e.value for e in name.elts]
            return [node.name]
    return []


def _registered(files, registry: str) -> list[str]:
    return sorted(n for node in _classes(files) for n in _names(node, registry))


def _method_files() -> list[Path]:
    return sorted((PROJECT_ROOT / "methods").glob("*.py"))


def method_names() -> list[str]:
    return _registered(_method_files(), "METHODS")


def method_traits() -> dict[str, dict]:
    """Registered method name -> its declared ``TRAITS``, inherited as Python would."""
    classes = _classes([PROJECT_ROOT / "harness" / "method.py", *_method_files()])
    by_name = {node.name: node for node in classes}

    def own(node: ast.ClassDef) -> dict:
        values = {}
        for stmt in node.body:
            target = (stmt.target if isinstance(stmt, ast.AnnAssign) else
                      stmt.targets[0] if isinstance(stmt, ast.Assign) else None)
            if isinstance(target, ast.Name) and target.id in TRAITS and stmt.value is not None:
                values[target.id] = ast.literal_eval(stmt.value)
        return values

    def resolved(node: ast.ClassDef) -> dict:
        values = {}
        for base in reversed(node.bases):  # the first base wins, as in the MRO
            name = base.id if isinstance(base, ast.Name) else getattr(base, "attr", None)
            if name in by_name:
                values.update(resolved(by_name[name]))
        return {**values, **own(node)}

    return {n: resolved(node) for node in classes for n in _names(node, "METHODS")}


def describe_traits(traits: dict) -> str:
    """One line for ``harness list methods``: tasks, then what the method reads."""
    words = ["/".join(traits["tasks"])]
    if traits["source_free"]:
        words.append("source-free (source model weights, no source data)")
    elif traits["needs_source_model"]:
        words.append("starts from the source model")
    if traits["uses_target_labels"]:
        words.append("uses target labels")
    return "; ".join(words)


def backbone_names() -> list[str]:
    return _registered(sorted((PROJECT_ROOT / "harness" / "models").glob("*.py")), "MODELS")
