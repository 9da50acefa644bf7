"""The CPU classes a benchmark runs as, on one machine.

`native` runs as the machine is; `avx2` caps oneDNN at AVX2 (`ONEDNN_MAX_CPU_ISA=AVX2`), which makes
an AVX-512 or AMX machine compute as an AVX2-only CPU (most laptops and hosted CI runners) does.
`onednn_isa` asks oneDNN which instruction set it then uses, so a printout shows the cap took effect.
"""

import os
import subprocess
import sys

CLASS_ENV = {"native": {}, "avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2"}}
CAPS = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")
ISA_PROBE = "import tensorflow as tf; tf.matmul(tf.ones((8, 8)), tf.ones((8, 8)))"


def class_env(isa_class: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """An environment for one CPU class: `base` (this process's) without a cap, then the class's own."""
    environ = {k: v for k, v in (os.environ if base is None else base).items() if k not in CAPS}
    return environ | CLASS_ENV[isa_class]


def onednn_isa(environ: dict[str, str]) -> str:
    """The instruction set oneDNN reports it uses in that environment (ONEDNN_VERBOSE's info line)."""
    result = subprocess.run(
        [sys.executable, "-c", ISA_PROBE],
        env=environ | {"ONEDNN_VERBOSE": "1", "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        check=True,
    )
    return next((line.split("isa:", 1)[1] for line in result.stdout.splitlines() if ",cpu,isa:" in line), "?")
