import json
import os
import subprocess
import sys

import pytest

from pipeline.core.errors import PipelineError
from pipeline.core.paths import ROOT
from pipeline.training import cpu

ZEN3 = ["fpu", "sse", "sse2", "ssse3", "sse4_1", "sse4_2", "avx", "f16c", "fma", "bmi2", "avx2", "sha_ni"]
ZEN4 = [*ZEN3, "avx512f", "avx512dq", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16"]
SKYLAKE_SERVER = [*ZEN3, "avx512f", "avx512dq", "avx512bw", "avx512vl"]
SAPPHIRE_RAPIDS = [*ZEN4, "avx512_fp16", "amx_bf16", "amx_tile", "amx_int8"]


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (ZEN3, "avx2"),
        (SKYLAKE_SERVER, "avx512"),
        (ZEN4, "avx512_bf16"),
        (SAPPHIRE_RAPIDS, "amx"),
        (["sse2"], "baseline"),
    ],
    ids=["zen3", "skylake-server", "zen4", "sapphire-rapids", "old"],
)
def test_the_class_is_the_best_one_whose_flags_are_all_there(flags, expected):
    assert cpu.hardware_class(set(flags), "x86_64") == expected


def test_arm_cpus_train_in_float32():
    assert cpu.hardware_class({"fp", "asimd", "bf16"}, "aarch64") == "baseline"
    assert cpu.hardware_class(set(), "arm64") == "baseline"
    assert cpu.resolve_precision("auto", "baseline") == "float32"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"ONEDNN_MAX_CPU_ISA": "AVX2"}, "avx2"),
        ({"ONEDNN_MAX_CPU_ISA": "avx512_core"}, "avx512"),
        ({"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"}, "avx512_bf16"),
        ({"DNNL_MAX_CPU_ISA": "AVX2"}, "avx2"),
        ({"ONEDNN_MAX_CPU_ISA": "ALL"}, "amx"),
        ({"TF_ENABLE_ONEDNN_OPTS": "0"}, "avx512"),
        ({}, "amx"),
    ],
)
def test_onednn_caps_lower_the_class(environ, expected):
    assert cpu.capped_class("amx", environ) == expected


def test_a_cap_above_the_hardware_changes_nothing():
    assert cpu.capped_class("avx2", {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_AMX"}) == "avx2"


@pytest.mark.parametrize(
    ("isa", "expected"),
    [("avx2", "float32"), ("avx512", "float32"), ("avx512_bf16", "float32"), ("amx", "mixed_bfloat16")],
)
def test_auto_trains_in_bfloat16_only_where_it_is_faster_than_float32(isa, expected):
    assert cpu.resolve_precision("auto", isa) == expected


@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
def test_a_named_precision_is_taken_as_it_is(precision):
    assert cpu.resolve_precision(precision, "avx2", hardware="avx2") == precision
    assert cpu.resolve_precision(precision, "amx", hardware="amx") == precision


def test_forced_bfloat16_under_a_cap_below_bfloat16_is_an_error_not_an_abort():
    with pytest.raises(PipelineError, match="mixed_bfloat16 cannot run with oneDNN capped.*unset the cap"):
        cpu.resolve_precision("mixed_bfloat16", "avx2", hardware="amx")
    assert cpu.resolve_precision("auto", "avx2", hardware="amx") == "float32"
    assert cpu.resolve_precision("float32", "avx2", hardware="avx512_bf16") == "float32"


def test_this_machine_is_described():
    described = cpu.description()
    assert described["cpu_isa"] in cpu.ISA_CLASSES and described["cpu_model"]


# What oneDNN itself prints at its first primitive (ONEDNN_VERBOSE=1), as our class.
PROBE = """
import sys
from pipeline.core import config
from pipeline.training import cpu
import tensorflow as tf
tf.matmul(tf.ones((64, 64)), tf.ones((64, 64)))
sys.stdout.flush()
print("ours:" + cpu.isa_class())
"""


def onednn_class(isa_line: str) -> str:
    if "AMX" in isa_line:
        return "amx"
    if "bfloat16" in isa_line:
        return "avx512_bf16"
    if "AVX-512" in isa_line:
        return "avx512"
    return "avx2" if "AVX2" in isa_line else "baseline"


@pytest.mark.slow  # a TensorFlow process per cap
@pytest.mark.parametrize("cap", [None, "AVX2", "AVX512_CORE", "AVX512_CORE_BF16"])
def test_the_class_is_the_one_onednn_detects(cap):
    """Our reading of the CPU flags and caps agrees with oneDNN's own, on whatever CPU this runs."""
    environ = {k: v for k, v in os.environ.items() if k not in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")}
    environ |= {"ONEDNN_VERBOSE": "1", "TF_CPP_MIN_LOG_LEVEL": "3", **({"ONEDNN_MAX_CPU_ISA": cap} if cap else {})}
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    isa_line = next(line for line in result.stdout.splitlines() if ",info,cpu,isa:" in line)
    ours = next(line for line in result.stdout.splitlines() if line.startswith("ours:"))
    assert ours.removeprefix("ours:") == onednn_class(isa_line), json.dumps(isa_line)
