"""The YAML-to-dataclass builder on its own, with a small schema of its own (test_config checks params.yaml's)."""

from dataclasses import dataclass

import pytest

from pipeline.core.errors import PipelineError
from pipeline.core.schema import build, did_you_mean, read_yaml, required_keys


@dataclass(frozen=True)
class Inner:
    size: int = 1


@dataclass(frozen=True)
class Outer:
    name: str
    sizes: tuple[int, ...] = ()
    inner: Inner = Inner()
    ratio: float | None = None


def _error(mapping) -> str:
    with pytest.raises(PipelineError) as caught:
        build(Outer, mapping, "")
    return str(caught.value)


def test_lists_become_tuples_mappings_dataclasses_and_ints_floats():
    built = build(Outer, {"name": "a", "sizes": [1, 2], "inner": {"size": 3}, "ratio": 1}, "")
    assert built == Outer("a", (1, 2), Inner(3), 1.0) and isinstance(built.ratio, float)
    assert build(Outer, {"name": "b", "ratio": None}, "") == Outer("b")


def test_unknown_missing_and_mistyped_keys_are_named_by_their_path():
    assert _error({"name": "a", "inner": {"sise": 2}}) == (
        "params.yaml: inner.sise: unknown key; did you mean 'size'? (known: size)"
    )
    assert _error({"sizes": []}) == "params.yaml: name: missing"
    assert _error({"name": "a", "sizes": [1, "two"]}) == "params.yaml: sizes[1]: expected int, got 'two'"
    note = "expected a number, got '1e-3' (YAML reads it as text; write 0.001)"
    assert _error({"name": "a", "ratio": "1e-3"}) == f"params.yaml: ratio: {note}"
    assert required_keys(Outer) == ["name"]


def test_did_you_mean_only_suggests_a_close_choice():
    assert did_you_mean("cnnn", ["mlp", "cnn"]) == "; did you mean 'cnn'?"
    assert did_you_mean("transformer", ["mlp", "cnn"]) == ""


def test_an_unreadable_or_invalid_yaml_file_is_one_line(tmp_path):
    with pytest.raises(PipelineError, match=r"cannot read .*absent.yaml: No such file or directory"):
        read_yaml(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [1,\nb: 2\n")
    invalid = r"^broken.yaml is not valid YAML: expected ',' or '\]'.* at line 3"
    with pytest.raises(PipelineError, match=invalid) as caught:
        read_yaml(broken)
    assert "\n" not in str(caught.value)
    (tmp_path / "good.yaml").write_text("a: [1, 2]\n")
    assert read_yaml(tmp_path / "good.yaml") == {"a": [1, 2]}
