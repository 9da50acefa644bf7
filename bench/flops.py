"""How much arithmetic training does, and how much the CPU could do: for GFLOP/s against the peak.

A training step costs about three forward passes for each layer (forward, gradient of the input,
gradient of the weights) and two for the first, whose input needs no gradient. Only the
convolutions and dense layers are counted, as multiply-adds (2 FLOPs); pooling, activations and
the optimizer are left out, so the figure is a lower bound on the work done.

The nominal float32 peak is cores × clock × FLOPs per cycle: two FMA units of 8 float32 lanes
(AVX2) or 16 (AVX-512 on Intel) × 2 FLOPs each. AMD's Zen 4 runs AVX-512 as two 256-bit halves,
so it counts as AVX2's width. The clock is the CPU's maximum where Linux tells it, else the
clock /proc/cpuinfo reports (a VM's base clock), so turbo clocks can put a figure above 100%.
"""

import math
from pathlib import Path

from pipeline.training import cpu

MAX_FREQ = Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")  # kHz


def forward_macs(model) -> list[int]:
    """Multiply-adds per image of each Conv2D and Dense layer, in order."""
    macs = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "Conv2D":
            kernel = layer.kernel.shape  # (kh, kw, in, out)
            out_h, out_w = layer.output.shape[1:3]
            macs.append(out_h * out_w * math.prod(kernel))
        elif kind == "Dense":
            macs.append(math.prod(layer.kernel.shape))
    return macs


def training_flops_per_image(model) -> int:
    """FLOPs of one training step per image: 3 passes per counted layer, 2 for the first."""
    macs = forward_macs(model)
    return sum(2 * count * (2 if index == 0 else 3) for index, count in enumerate(macs))


def clock_ghz() -> float:
    try:
        return int(MAX_FREQ.read_text()) / 1e6
    except (OSError, ValueError):
        mhz = cpu.cpuinfo_field("cpu MHz")
        return float(mhz) / 1000 if mhz else float("nan")


def float32_flops_per_cycle(isa: str) -> int:
    """Per core: 2 FMA units × float32 lanes × 2."""
    amd = "AMD" in cpu.model()
    if isa in ("avx512", "avx512_bf16", "amx") and not amd:
        return 2 * 16 * 2
    return 2 * 8 * 2 if isa != "baseline" else 2 * 4 * 2


def nominal_peak_gflops(isa: str, cores: int) -> float:
    return cores * clock_ghz() * float32_flops_per_cycle(isa)
