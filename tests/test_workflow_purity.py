"""`bizportal.workflow` stays pure: no Flask, SQLAlchemy, Redis or RQ, and nothing else of bizportal.

The CLI, the admin console, the worker and the benchmarks all load the permit
language and the engine; if the package pulled in the web stack, each of them
would pay for it, and the engine could start depending on a request or a session.
Two checks: a fresh interpreter imports every module of the package and looks at
`sys.modules`, and an AST scan catches imports that only run on some code path.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import bizportal.workflow

WORKFLOW_DIR = Path(bizportal.workflow.__file__).resolve().parent
REPOSITORY = WORKFLOW_DIR.parent.parent
FORBIDDEN = ("flask", "sqlalchemy", "redis", "rq")

IMPORT_EVERYTHING = """
import importlib, json, pkgutil, sys
import bizportal.workflow as package
modules = sorted(info.name for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."))
for name in modules:
    importlib.import_module(name)
print(json.dumps({"modules": modules, "loaded": sorted(sys.modules)}))
"""


def is_forbidden(module: str) -> bool:
    """True for flask, flask_*, sqlalchemy, redis, rq, and for bizportal outside bizportal.workflow."""
    top = module.split(".")[0]
    if top in FORBIDDEN or top.startswith("flask_"):
        return True
    return top == "bizportal" and module not in {"bizportal", "bizportal.workflow"} \
        and not module.startswith("bizportal.workflow.")


def imported_modules(source: str) -> set[str]:
    """Every absolute module a file imports, including `importlib.import_module("…")` with a constant."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                found.add(node.module)
            elif node.level >= 2:
                # `from .. import x` leaves the package: name what it reaches.
                found.add("bizportal." + (node.module or "<parent>"))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            function = node.func
            name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
            if name in {"import_module", "__import__"}:
                found.add(node.args[0].value)
    return found


def test_importing_every_workflow_module_loads_no_web_or_queue_stack() -> None:
    completed = subprocess.run([sys.executable, "-c", IMPORT_EVERYTHING], cwd=REPOSITORY, capture_output=True,
                               text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)

    assert {"bizportal.workflow.spec", "bizportal.workflow.validation"} <= set(report["modules"])
    assert sorted(name for name in report["loaded"] if is_forbidden(name)) == []


def test_no_workflow_module_imports_the_web_or_queue_stack() -> None:
    files = sorted(WORKFLOW_DIR.glob("*.py"))
    imports = {file.name: imported_modules(file.read_text(encoding="utf-8")) for file in files}

    assert "validation.py" in imports and "yaml" in imports["yamlsource.py"]  # the scan sees real imports
    offending = {name: sorted(filter(is_forbidden, found)) for name, found in imports.items()}
    assert {name: found for name, found in offending.items() if found} == {}


def test_the_scan_recognises_every_way_of_importing() -> None:
    source = (
        "import flask\n"
        "import flask_login as login\n"
        "from sqlalchemy.orm import Session\n"
        "import redis.client\n"
        "from rq import Queue\n"
        "from bizportal.database import unit_of_work\n"
        "from .. import extensions\n"
        "importlib.import_module('flask_babel')\n"
        "def later():\n"
        "    import rq.job\n"
        "import pydantic, yaml\n"
        "from . import spec\n"
        "from bizportal.workflow.spec import Stage\n"
    )

    found = imported_modules(source)

    assert sorted(filter(is_forbidden, found)) == [
        "bizportal.<parent>", "bizportal.database", "flask", "flask_babel", "flask_login", "redis.client",
        "rq", "rq.job", "sqlalchemy.orm",
    ]
    assert {"pydantic", "yaml", "bizportal.workflow.spec"} <= found
