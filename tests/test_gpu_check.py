"""The GPU proof script runs end to end on the CPU (--dry-run), so a lent GPU's minutes go to measuring."""

import json
import subprocess
import sys

from conftest import ROOT


def test_gpu_check_dry_run(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--out", str(tmp_path),
                           "--dry-run"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    results = json.loads((tmp_path / "gpu_check.json").read_text())
    assert results["dry_run"] and set(results) >= {"cuda_tests", "shakespeare_char", "gpt2_124m", "sampling"}
    tests = results["cuda_tests"]
    assert tests["tests"] >= 10 and tests["tests"] == tests["skipped"]  # every CUDA test collected, skipped here
    assert results["shakespeare_char"]["steps"] == 20 and results["sampling"]["same_tokens"]
    assert "| 1. CUDA tests |" in (tmp_path / "report.md").read_text()
