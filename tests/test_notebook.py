"""notebooks/explore.ipynb runs from top to bottom, and is stored without outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ROOT

NOTEBOOK = ROOT / "notebooks" / "explore.ipynb"


def test_notebook_is_stored_without_outputs() -> None:
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


def test_notebook_uses_only_the_public_api() -> None:
    import re

    import analyzer

    text = NOTEBOOK.read_text()
    # no submodule is imported: everything comes through `import analyzer`
    assert re.findall(r"(?:from|import) analyzer[.\w]*", text) == ["import analyzer"]
    used = set(re.findall(r"analyzer\.(\w+)", text))
    assert used and used <= set(analyzer.__all__), used - set(analyzer.__all__)


def test_notebook_executes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # Far from the checkout: neither this process nor the kernel starts where a relative
    # "captures/" or "../captures" would be found; the notebook must find them itself.
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    client = nbclient.NotebookClient(
        nb, timeout=120, kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = str(outputs)
    assert "not-reused" in text and "fixed: leak → reused" in text
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 2  # the plots
    assert list(tmp_path.iterdir()) == []  # and it wrote nothing where it ran


def test_notebook_paths_do_not_depend_on_the_working_directory() -> None:
    text = NOTEBOOK.read_text()
    assert 'Path(\\"captures\\")' not in text and "../captures" not in text
    assert "find_captures()" in text
