"""The pinned dependency set imports together (BLAST-Lite needs numpy<2, pyarrow must accept it)."""

import importlib


def test_pinned_stack_imports_together():
    numpy = importlib.import_module("numpy")
    pyarrow = importlib.import_module("pyarrow")
    importlib.import_module("blast.models")
    importlib.import_module("fastsim")
    assert int(numpy.__version__.split(".")[0]) < 2
    # pyarrow really works under this numpy (a bad pin fails here, not at install time).
    table = pyarrow.table({"x": numpy.arange(3)})
    assert table.column("x").to_pylist() == [0, 1, 2]
