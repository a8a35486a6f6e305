"""Import edges: serving, the watcher and the dashboard never load the twin or training.

Those pull in FASTSim and BLAST-Lite (slow to import, large, and not needed to serve), so a
stray import would slow every worker's start and tie the services to the simulation's
dependencies. Each check runs in a fresh interpreter: this test session has loaded them.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

FORBIDDEN = ("evpm.twin", "evpm.training", "fastsim", "blast_lite", "blast")


def loaded_modules(module: str) -> list[str]:
    """Every module a fresh interpreter holds after `import module`."""
    code = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=120, check=True)
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.parametrize("module", ["evpm.api.app", "evpm.pipeline", "evpm.dashboard.fleet"])
def test_services_load_neither_twin_nor_training(module):
    found = [name for name in loaded_modules(module)
             if any(name == root or name.startswith(root + ".") for root in FORBIDDEN)]
    assert found == [], f"importing {module} loads {found}"
