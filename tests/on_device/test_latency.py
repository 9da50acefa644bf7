import pytest

from pipeline.on_device.latency import latency_ms, latency_summary


def test_the_summary_is_the_median_and_p95_in_milliseconds_to_4_decimals():
    seconds = [0.001] * 10 + [0.00212345]
    assert latency_summary(seconds) == {"latency_ms_median": 1.0, "latency_ms_p95": 1.5617}


def test_no_timed_calls_cannot_be_summarized():
    with pytest.raises(ValueError, match="no timed calls to summarize"):
        latency_summary([])


def test_latency_is_the_median_and_p95_of_timed_calls_after_the_warmup():
    calls = []
    timed = latency_ms(calls.append, list(range(40)), warmup=5)
    assert calls[:5] == [0, 1, 2, 3, 4] and len(calls) == 45
    assert 0 <= timed["latency_ms_median"] <= timed["latency_ms_p95"]
