import pytest
from helpers.distill_runs import CONTEXT, TINY, distill


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """The tiny chain in one process, stopped after the teacher's outputs, then resumed to the end
    (shared by the `distill run` tests and the two-process comparison)."""
    pytest.importorskip("torch")
    if not CONTEXT.is_file():
        pytest.skip("needs ../shared/data")
    base = tmp_path_factory.mktemp("tiny-run")
    work, out = base / "run", base / "bundle"
    overrides = ["--set", f"work={work}", "--set", f"out={out}"]
    first = distill("run", str(TINY), *overrides, "--stop-after", "teacher_outputs")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "stopped after teacher_outputs" in first.stdout
    teacher_marker = (work / "teacher.done.json").read_bytes()
    assert not (work / "student.done.json").exists()
    second = distill("run", str(TINY), *overrides)
    assert second.returncode == 0, second.stderr[-3000:]
    return {"work": work, "out": out, "base": base, "teacher_marker": teacher_marker, "first": first, "second": second}
