"""The first page a person sees is drawn before PyTorch has loaded, and torch then loads behind it.

Importing torch takes seconds; Home, the sidebar and the run list must not wait for it. Checked
in a fresh interpreter, since this test process has imported torch long ago.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import APP

SCRIPT = r"""
import json, sys
from streamlit.testing.v1 import AppTest
import ui.warmup as warmup

real_start, warmup.start = warmup.start, lambda: None  # hold the background import back
at = AppTest.from_file(sys.argv[1], default_timeout=60).run()
first = {
    "torch_loaded": "torch" in sys.modules,
    "errors": [e.value for e in at.exception],
    "markdown": " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption),
    "buttons": [b.label for b in at.button],
}
real_start()
warmup._thread.join(120)
at = AppTest.from_file(sys.argv[1], default_timeout=60).run()  # a new session: AppTest drops the sidebar on reruns
after = {"ready": warmup.ready(), "captions": " ".join(c.value for c in at.sidebar.caption)}
print(json.dumps({"first": first, "after": after}))
"""


def test_home_renders_without_torch_then_torch_loads_in_the_background(tmp_path):
    env = {**os.environ, "CNN_STUDIO_CHECKPOINTS": str(tmp_path / "ck"), "CNN_STUDIO_DATA": str(tmp_path / "data")}
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(APP)], cwd=Path(APP).parent, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    first, after = result["first"], result["after"]
    assert first["errors"] == []
    assert not first["torch_loaded"], "Home imported torch before drawing"
    assert "Train now" in first["buttons"]
    assert "loading PyTorch" in first["markdown"]
    assert after["ready"]
    assert "Devices: **cpu" in after["captions"]
