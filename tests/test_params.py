"""Typed parameters: ``parse``/``coerce``/``describe`` and the key paths their errors name."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal, Optional, Union

import pytest
from unlearn_bench.errors import ConfigError, did_you_mean
from unlearn_bench.params import NoParams, Where, coerce, describe, parse, to_dict

# ------------------------------------------------------------------------------ schemas (module level for hints)


@dataclasses.dataclass(frozen=True)
class Optim:
    name: Literal["sgd", "adam"] = "adam"
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)

    def __post_init__(self):
        if self.lr <= 0:
            raise ValueError("lr must be positive")


@dataclasses.dataclass(frozen=True)
class Ascent:
    iterations: int = dataclasses.field(default=20, metadata={"help": "K, the number of ascent steps"})
    optimizer: Optim = dataclasses.field(default_factory=Optim)
    threshold: float | None = None
    patience: Optional[int] = None  # noqa: UP045 - typing.Optional is a different union type at runtime


@dataclasses.dataclass(frozen=True)
class MethodParams:
    ascent: Ascent = dataclasses.field(default_factory=Ascent)


@dataclasses.dataclass(frozen=True)
class Item:
    name: str
    params: MethodParams = dataclasses.field(default_factory=MethodParams)


@dataclasses.dataclass(frozen=True)
class Doc:
    methods: list[Item]
    sizes: tuple[int, ...] = ()
    tags: dict[str, int] = dataclasses.field(default_factory=dict)
    flag: bool = False
    extra: Any = None
    mode: Union[int, str] = 0  # noqa: UP007 - a union without None


@dataclasses.dataclass(frozen=True)
class WithHidden:
    visible: int = 1
    hidden: int = dataclasses.field(default=2, init=False)


FILE = "suite.yaml"


def root() -> Where:
    return Where((), lambda path: FILE)


def error_of(cls: type, values: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse(cls, values, root())
    return info.value


def two_methods(ascent: dict) -> dict:
    return {"methods": [{"name": "a"}, {"name": "b", "params": {"ascent": ascent}}]}


# --------------------------------------------------------------------------------------------- valid values


def test_nested_values_become_dataclasses_with_defaults_filled_in():
    doc = parse(Doc, two_methods({"iterations": 5, "optimizer": {"name": "sgd", "lr": 0.1}}), root())
    assert isinstance(doc.methods, list) and [m.name for m in doc.methods] == ["a", "b"]
    assert doc.methods[0].params == MethodParams()  # absent → default_factory
    ascent = doc.methods[1].params.ascent
    assert isinstance(ascent, Ascent) and isinstance(ascent.optimizer, Optim)
    assert (ascent.iterations, ascent.optimizer.name, ascent.optimizer.lr) == (5, "sgd", 0.1)
    assert ascent.optimizer.betas == (0.9, 0.999) and ascent.threshold is None


def test_lists_become_tuples_for_tuple_fields_only():
    doc = parse(Doc, {"methods": [{"name": "a"}], "sizes": [1, 2, 3]}, root())
    assert doc.sizes == (1, 2, 3) and isinstance(doc.sizes, tuple)
    assert isinstance(doc.methods, list)
    optim = parse(Optim, {"betas": [0.5, 1]}, root())
    assert optim.betas == (0.5, 1.0) and isinstance(optim.betas, tuple)
    assert all(isinstance(b, float) for b in optim.betas)


def test_fixed_length_tuple_checks_its_length():
    err = error_of(Optim, {"betas": [0.5]})
    assert err.key == "betas" and "expected a list of 2 items, got 1" in err.message


def test_tuple_items_are_checked_with_their_index():
    err = error_of(Doc, {"methods": [], "sizes": [1, "two"]})
    assert err.key == "sizes[1]" and "expected an integer, got 'two'" in err.message


def test_a_scalar_is_not_a_list():
    err = error_of(Doc, {"methods": {"name": "a"}})
    assert err.key == "methods" and err.message.startswith("expected a list of")


@pytest.mark.parametrize(("text", "number"), [("1e-3", 1e-3), ("2E5", 2e5), ("3", 3.0), ("0.5", 0.5)])
def test_number_strings_are_accepted_as_floats(text, number):
    # YAML 1.1 reads 1e-3 (no dot) as a string; it is still obviously a number.
    lr = parse(Optim, {"lr": text}, root()).lr
    assert lr == number and type(lr) is float


def test_ints_are_accepted_as_floats_and_converted():
    lr = parse(Optim, {"lr": 2}, root()).lr
    assert lr == 2.0 and type(lr) is float


@pytest.mark.parametrize("value", ["fast", "", True, [1.0], None])
def test_non_numbers_are_not_floats(value):
    err = error_of(Optim, {"lr": value})
    assert err.key == "lr" and err.message == f"expected a number, got {value!r}"


@pytest.mark.parametrize("value", [True, False])
def test_bools_are_not_ints(value):
    err = error_of(Doc, two_methods({"iterations": value}))
    assert err.key == "methods[1].params.ascent.iterations"
    assert err.message == f"expected an integer, got {value!r}"


@pytest.mark.parametrize("value", [1, 0, "yes", "true", None])
def test_only_true_and_false_are_bools(value):
    err = error_of(Doc, {"methods": [], "flag": value})
    assert err.key == "flag" and err.message == f"expected true or false, got {value!r}"


def test_floats_and_numeric_strings_are_not_ints():
    assert error_of(Doc, two_methods({"iterations": 2.5})).message == "expected an integer, got 2.5"
    assert error_of(Doc, two_methods({"iterations": "3"})).message == "expected an integer, got '3'"


def test_strings_are_not_coerced_from_numbers():
    err = error_of(Doc, {"methods": [{"name": 7}]})
    assert err.key == "methods[0].name" and err.message == "expected a string, got 7"


def test_any_passes_values_through_unchanged():
    value = {"nested": [1, "x", None]}
    assert parse(Doc, {"methods": [], "extra": value}, root()).extra is value


# ---------------------------------------------------------------------------------------- error key paths


def test_wrong_type_names_the_full_key_path_and_file():
    err = error_of(Doc, two_methods({"iterations": "many"}))
    assert err.key == "methods[1].params.ascent.iterations"
    assert err.file == FILE
    assert err.message == "expected an integer, got 'many'"
    assert str(err) == "suite.yaml: key 'methods[1].params.ascent.iterations': expected an integer, got 'many'"


def test_file_of_receives_the_key_path_as_a_tuple():
    seen = []

    def file_of(path):
        seen.append(path)
        return "from-include.yaml" if path[:2] == ("methods", 1) else "top.yaml"

    with pytest.raises(ConfigError) as info:
        parse(Doc, two_methods({"optimizer": {"lr": "x"}}), Where((), file_of))
    assert info.value.file == "from-include.yaml"
    assert seen[-1] == ("methods", 1, "params", "ascent", "optimizer", "lr")


def test_unknown_key_suggests_the_closest_field():
    err = error_of(Doc, two_methods({"iteratoins": 3}))
    assert err.key == "methods[1].params.ascent.iteratoins"
    assert err.message == "unknown key 'iteratoins'; did you mean 'iterations'?"


def test_unknown_key_without_a_close_match_lists_the_fields():
    err = error_of(Optim, {"zzzzzz": 1})
    assert err.key == "zzzzzz"
    assert err.message == "unknown key 'zzzzzz'; available: betas, lr, name"


def test_init_false_fields_are_not_settable():
    assert parse(WithHidden, {"visible": 3}, root()).hidden == 2
    assert "unknown key 'hidden'" in error_of(WithHidden, {"hidden": 3}).message


def test_missing_required_key_names_it_and_its_type():
    err = error_of(Doc, {})
    assert err.key == "methods" and err.message == "required key is missing (expected a list of a mapping)"
    err = error_of(Doc, {"methods": [{"name": "a"}, {"params": {}}]})
    assert err.key == "methods[1].name" and err.message == "required key is missing (expected a string)"


def test_nested_dataclass_needs_a_mapping():
    err = error_of(Doc, {"methods": [{"name": "a", "params": {"ascent": 5}}]})
    assert err.key == "methods[0].params.ascent" and err.message == "expected a mapping, got 5"


def test_none_for_a_dataclass_means_all_defaults():
    assert parse(Optim, None, root()) == Optim()
    assert parse(MethodParams, {"ascent": None}, root()) == MethodParams()


def test_top_level_non_mapping_has_no_key():
    with pytest.raises(ConfigError) as info:
        parse(Optim, ["sgd"], root())
    assert info.value.key is None and info.value.file == FILE
    assert str(info.value) == "suite.yaml: expected a mapping, got ['sgd']"


# ------------------------------------------------------------------------------------------------- Literal


def test_literal_accepts_its_choices():
    assert parse(Optim, {"name": "sgd"}, root()).name == "sgd"


def test_literal_rejects_others_with_a_suggestion():
    err = error_of(Doc, two_methods({"optimizer": {"name": "sdg"}}))
    assert err.key == "methods[1].params.ascent.optimizer.name"
    assert err.message == "expected 'sgd' or 'adam', got 'sdg'; did you mean 'sgd'?"


def test_literal_without_close_match_lists_choices():
    err = error_of(Optim, {"name": "rmsprop"})
    assert err.message.startswith("expected 'sgd' or 'adam', got 'rmsprop'")
    assert "available: adam, sgd" in err.message


def test_literal_non_string_value_has_no_suggestion():
    err = error_of(Optim, {"name": 3})
    assert err.message == "expected 'sgd' or 'adam', got 3"


# -------------------------------------------------------------------------------------------------- unions


@pytest.mark.parametrize("field", ["threshold", "patience"])
def test_optional_accepts_null(field):
    ascent = parse(Ascent, {field: None}, root())
    assert getattr(ascent, field) is None


def test_optional_checks_the_inner_type():
    assert parse(Ascent, {"threshold": 0.5, "patience": 3}, root()) == Ascent(threshold=0.5, patience=3)
    assert parse(Ascent, {"threshold": "1e-2"}, root()).threshold == 0.01
    err = error_of(Ascent, {"threshold": "far"})
    assert err.key == "threshold" and err.message == "expected a number, got 'far'"
    err = error_of(Ascent, {"patience": True})  # typing.Optional: bools are still not ints
    assert err.key == "patience" and err.message == "expected an integer, got True"


def test_union_of_several_types_names_them_all():
    assert parse(Doc, {"methods": [], "mode": "fast"}, root()).mode == "fast"
    assert parse(Doc, {"methods": [], "mode": 4}, root()).mode == 4
    err = error_of(Doc, {"methods": [], "mode": 1.5})
    assert err.key == "mode" and err.message == "expected an integer or a string, got 1.5"
    err = error_of(Doc, {"methods": [], "mode": None})
    assert err.message == "expected an integer or a string, got None"


# --------------------------------------------------------------------------------------------------- dicts


def test_dict_values_are_checked_under_their_key():
    assert parse(Doc, {"methods": [], "tags": {"a": 1}}, root()).tags == {"a": 1}
    err = error_of(Doc, {"methods": [], "tags": {"a": 1, "b": "x"}})
    assert err.key == "tags.b" and err.message == "expected an integer, got 'x'"
    err = error_of(Doc, {"methods": [], "tags": [1]})
    assert err.key == "tags" and err.message == "expected a mapping, got [1]"


def test_dict_keys_are_checked():
    err = error_of(Doc, {"methods": [], "tags": {1: 1}})
    assert err.key == "tags" and err.message == "expected a string, got 1"


# ------------------------------------------------------------------------------------------- __post_init__


def test_post_init_value_error_becomes_a_config_error_at_the_value_it_names():
    err = error_of(Doc, two_methods({"optimizer": {"lr": -1}}))
    assert isinstance(err, ConfigError)
    assert err.key == "methods[1].params.ascent.optimizer.lr"
    assert err.file == FILE
    assert err.message == "lr must be positive (got lr = -1)"
    assert err.__cause__ is None and err.__suppress_context__  # raised `from None`: no chained traceback


def test_post_init_other_exceptions_are_not_hidden():
    @dataclasses.dataclass(frozen=True)
    class Broken:
        def __post_init__(self):
            raise RuntimeError("a bug, not a config problem")

    with pytest.raises(RuntimeError):
        parse(Broken, {}, root())


# ------------------------------------------------------------------------------------------ coerce directly


def test_coerce_directly():
    where = Where(("a", 0))
    assert coerce([1, 2], tuple[int, ...], where) == (1, 2)
    assert coerce([1, 2], list[float], where) == [1.0, 2.0]
    assert coerce(None, int | None, where) is None
    assert coerce({"x": [1]}, dict[str, list[int]], where) == {"x": [1]}
    with pytest.raises(ConfigError) as info:
        coerce([1, "b"], list[int], where)
    assert info.value.key == "a[0][1]" and info.value.file is None


def test_unsupported_annotation_is_a_programming_error():
    with pytest.raises(TypeError, match="unsupported parameter type"):
        coerce({1}, set[int], Where(("x",)))


def test_where_key_formatting():
    assert Where().key == ""
    assert Where(("methods", 1, "params", "ascent")).key == "methods[1].params.ascent"
    assert (Where() / "tables" / 0 / "where" / "method").key == "tables[0].where.method"
    assert Where().error("boom").key is None


# ------------------------------------------------------------------------------------- describe / to_dict


def test_describe_lists_name_type_default_and_help():
    rows = {name: (tp, default, help) for name, tp, default, help in describe(Ascent)}
    # Nested dataclasses are listed field by field, under dotted names, with their own defaults.
    assert list(rows) == ["iterations", "optimizer.name", "optimizer.lr", "optimizer.betas", "threshold", "patience"]
    assert rows["iterations"] == ("an integer", 20, "K, the number of ascent steps")
    assert rows["optimizer.name"] == ("'sgd' or 'adam'", "adam", "")
    assert rows["optimizer.betas"][1] == [0.9, 0.999]
    assert rows["threshold"] == ("a number or null", None, "")
    assert rows["patience"] == ("an integer or null", None, "")


def test_describe_marks_required_fields_and_names_literal_choices():
    rows = {name: (tp, default) for name, tp, default, _ in describe(Item)}
    assert rows["name"] == ("a string", "(required)")
    assert describe(Optim)[0][:3] == ("name", "'sgd' or 'adam'", "adam")
    assert describe(NoParams) == []


def test_to_dict_round_trips_through_parse():
    doc = parse(Doc, {"methods": [{"name": "a", "params": {"ascent": {"threshold": 0.25}}}], "sizes": [4]}, root())
    plain = to_dict(doc)
    assert plain["sizes"] == [4] and plain["methods"][0]["params"]["ascent"]["optimizer"]["betas"] == [0.9, 0.999]
    assert parse(Doc, plain, root()) == doc


def test_did_you_mean_variants():
    assert did_you_mean("retrian", ["retrain", "no-unlearning"]) == "; did you mean 'retrain'?"
    assert did_you_mean("zzz", ["b", "a"]) == "; available: a, b"
    assert did_you_mean("zzz", []) == "; none are registered"
