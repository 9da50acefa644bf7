"""Single-call latency: calls timed one by one, summarized as their median and 95th percentile in milliseconds."""

import time
from collections.abc import Callable, Sequence

import numpy as np


def latency_summary(seconds: Sequence[float] | np.ndarray) -> dict[str, float]:
    """`latency_ms_median` and `latency_ms_p95` of per-call `seconds`, in milliseconds to 4 decimals."""
    if len(seconds) == 0:
        raise ValueError("no timed calls to summarize")
    return {
        "latency_ms_median": round(float(np.median(seconds)) * 1000, 4),
        "latency_ms_p95": round(float(np.percentile(seconds, 95)) * 1000, 4),
    }


def latency_ms(call: Callable, inputs: list, warmup: int = 10) -> dict[str, float]:
    """Median and 95th percentile of `call(x)` over `inputs`, in milliseconds, after `warmup` calls."""
    for model_input in inputs[:warmup]:
        call(model_input)
    seconds = []
    for model_input in inputs:
        start = time.perf_counter()
        call(model_input)
        seconds.append(time.perf_counter() - start)
    return latency_summary(seconds)
