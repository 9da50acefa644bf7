"""What this CPU runs natively, and so which precision `precision: auto` trains in.

TensorFlow trains on the CPU through oneDNN, whose fastest kernels depend on the instruction
set: bfloat16 arithmetic is native with AVX512-BF16 or AMX and emulated, several times slower than
float32, everywhere else (AVX2-only CPUs: most laptops and hosted CI runners). Native is not yet fast:
AMX's tiles trained the CNNs about twice as fast in bfloat16 as in float32, but with AVX512-BF16 alone
(Intel Xeons whose hypervisor hides AMX, AMD Zen 4 and 5) the casts and reorders around these small
convolutions cost more than bfloat16 saves: `cnn_dropout` trained at 2,509 images/s in bfloat16
against 5,029 in float32 on an Intel Xeon (family 6 model 207, AVX512-BF16, native; chunks of 12,800
images alternated in one process, bench/train_precision.py). So `auto` picks bfloat16 on AMX only.
TensorFlow exposes no Python check for the class (its C++ `IsBF16SupportedByOneDNNOnThisCPU` is not
wrapped), so it is read from the CPU's flags,
capped as oneDNN caps itself: by `ONEDNN_MAX_CPU_ISA`, and not at all with `TF_ENABLE_ONEDNN_OPTS=0`
(no oneDNN, so no fast bfloat16). `tests/test_cpu.py` checks it against what oneDNN prints.
"""

import os
import platform
from functools import cache
from pathlib import Path

from pipeline.core.errors import PipelineError

CPUINFO = Path("/proc/cpuinfo")
# Instruction-set classes, slowest first; the two last run bfloat16 natively, the last one faster than float32.
ISA_CLASSES = ("baseline", "avx2", "avx512", "avx512_bf16", "amx")
NATIVE_BFLOAT16 = ("avx512_bf16", "amx")
FAST_BFLOAT16 = ("amx",)
# The flags each class needs on Linux x86 (/proc/cpuinfo names).
_REQUIRED_FLAGS = {
    "avx2": {"avx2", "fma"},
    "avx512": {"avx512f", "avx512bw", "avx512vl", "avx512dq"},
    "avx512_bf16": {"avx512_bf16"},
    "amx": {"amx_bf16", "amx_tile"},
}
# ONEDNN_MAX_CPU_ISA values (oneDNN's names, old and new), as the class they allow at most.
_ONEDNN_CAPS = {
    "sse41": "baseline",
    "avx": "baseline",
    "avx2": "avx2",
    "avx2_vnni": "avx2",
    "avx2_vnni_2": "avx2",
    "avx512_core": "avx512",
    "avx512_core_vnni": "avx512",
    "avx512_core_bf16": "avx512_bf16",
    "avx512_core_fp16": "avx512_bf16",
    "avx10_1_512": "avx512_bf16",
    "avx512_core_amx": "amx",
    "avx10_1_512_amx": "amx",
    "avx512_core_amx_fp16": "amx",
    "avx10_1_512_amx_fp16": "amx",
}


def cpuinfo_field(name: str) -> str | None:
    """The first value of a /proc/cpuinfo field, or None off Linux."""
    try:
        lines = CPUINFO.read_text().splitlines()
    except OSError:
        return None
    return next((line.split(":", 1)[1].strip() for line in lines if line.split(":")[0].strip() == name), None)


@cache
def model() -> str:
    """The CPU's model name, e.g. `AMD EPYC 7763 64-Core Processor`."""
    return cpuinfo_field("model name") or platform.processor() or platform.machine() or "unknown"


def hardware_class(flags: set[str], machine: str) -> str:
    """The best class whose flags are all present (x86 only; other CPUs are `baseline`)."""
    if machine.lower() not in ("x86_64", "amd64"):
        return "baseline"
    best = "baseline"
    for isa in ISA_CLASSES[1:]:
        if not _REQUIRED_FLAGS[isa] <= flags:
            break
        best = isa
    return best


def capped_class(isa: str, environ: dict[str, str]) -> str:
    """`isa` as oneDNN will use it: lowered to ONEDNN_MAX_CPU_ISA (or the older DNNL_MAX_CPU_ISA)."""
    if environ.get("TF_ENABLE_ONEDNN_OPTS", "1").strip().lower() in ("0", "false"):
        return min(isa, "avx512", key=ISA_CLASSES.index)  # no oneDNN: no fast bfloat16
    cap = (environ.get("ONEDNN_MAX_CPU_ISA") or environ.get("DNNL_MAX_CPU_ISA") or "").strip().lower()
    if cap in ("", "all", "default") or cap not in _ONEDNN_CAPS:
        return isa
    return min(isa, _ONEDNN_CAPS[cap], key=ISA_CLASSES.index)


@cache
def hardware_isa_class() -> str:
    """This CPU's class, whatever oneDNN is capped to: one of ISA_CLASSES."""
    return hardware_class(set((cpuinfo_field("flags") or "").split()), platform.machine())


@cache
def isa_class() -> str:
    """This process's class, as oneDNN will use it: one of ISA_CLASSES."""
    return capped_class(hardware_isa_class(), dict(os.environ))


def bfloat16_capped(isa: str | None = None, hardware: str | None = None) -> bool:
    """A bfloat16 CPU run with oneDNN capped below bfloat16 (e.g. ONEDNN_MAX_CPU_ISA=AVX2): TensorFlow
    still sends bfloat16 ops to oneDNN there, which aborts the process."""
    return (hardware or hardware_isa_class()) in NATIVE_BFLOAT16 and (isa or isa_class()) not in NATIVE_BFLOAT16


def resolve_precision(requested: str, isa: str | None = None, hardware: str | None = None) -> str:
    """The precision a variant trains in: `auto` is `mixed_bfloat16` where bfloat16 is faster than float32
    (AMX), `float32` elsewhere; `float32` and `mixed_bfloat16` are taken as they are, except
    `mixed_bfloat16` where `bfloat16_capped`, which is an error rather than an abort."""
    if requested == "auto":
        return "mixed_bfloat16" if (isa or isa_class()) in FAST_BFLOAT16 else "float32"
    if requested == "mixed_bfloat16" and bfloat16_capped(isa, hardware):
        raise PipelineError(
            "precision: mixed_bfloat16 cannot run with oneDNN capped below bfloat16 on this bfloat16 CPU "
            "(ONEDNN_MAX_CPU_ISA/DNNL_MAX_CPU_ISA): TensorFlow would abort; use precision: auto or float32, "
            "or unset the cap"
        )
    return requested


def description() -> dict[str, str]:
    """What training.json, MLflow and the comparison record about the machine."""
    return {"cpu_model": model(), "cpu_isa": isa_class()}
