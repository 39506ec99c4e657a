"""Running a small k6 script of a test's own with the real k6 (the one djbench finds)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from djbench.measure.k6 import find_k6


def run_js(source: str, tmp_path: Path, env: dict[str, str]) -> Any:
    """What a k6 script's ``handleSummary`` prints to stdout, as JSON."""
    script = tmp_path / "probe.js"
    script.write_text(source)
    done = subprocess.run(
        [str(find_k6()), "run", "--quiet", "--no-usage-report", "--iterations", "1", str(script)],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
