"""Loading suites: includes, interpolation, ``--set`` overrides and the checks that name file and key."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
import yaml
from test_families import TINY
from test_paper_suites import PAPER_SUITES
from unlearn_bench.errors import ConfigError
from unlearn_bench.plan import expand, references
from unlearn_bench.plugins import ALLOW_ENV, BLOCK_ENV, reset_plugins
from unlearn_bench.suite import floored, load_suite
from unlearn_bench_plugins.fashion_mnist import FILES as FMNIST_FILES

REPO = Path(__file__).resolve().parents[1]
SYSTEM_FMNIST = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(autouse=True)
def builtin_plugins(monkeypatch):
    """Only the built-in plugins, loaded afresh; the global manager is forgotten afterwards."""
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    monkeypatch.delenv(BLOCK_ENV, raising=False)
    monkeypatch.delenv("FASHION_MNIST_ROOT", raising=False)
    reset_plugins()
    yield
    reset_plugins()


def base_doc(root: Path) -> dict:
    return {
        "version": 1,
        "name": "small",
        "description": "a small valid suite",
        "seeds": [0],
        "datasets": [
            {
                "name": "fashion-mnist",
                "id": "fmnist",
                "params": {"root": str(root)},
                "split": {"forget_classes": [0], "train_per_class": 10, "test_per_class": 5},
            }
        ],
        "tasks": [{"name": "center-inpaint", "id": "hole", "params": {"hole": 0.5}}],
        "models": [
            {
                "name": "conv-autoencoder",
                "id": "ae",
                "params": {"width": 4},
                "train": {"epochs": 1, "batch_size": 16, "optimizer": {"name": "adam", "lr": 0.01}},
            }
        ],
        "methods": [
            {"name": "retrain"},
            {
                "name": "realistic-i2i",
                "label": "Realistic-I2I",
                "params": {"ascent": {"iterations": 3, "optimizer": {"name": "sgd", "lr": 0.05}}},
            },
        ],
        "metrics": [{"name": "psnr"}, {"name": "mse"}],
    }


def write(path: Path, content: dict | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False))
    return path


@pytest.fixture
def doc(data_root) -> dict:
    return base_doc(data_root)


@pytest.fixture
def suite_file(tmp_path, doc) -> Path:
    return write(tmp_path / "suite.yaml", doc)


def config_error(path: Path, overrides: list[str] = ()) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_suite(path, list(overrides))
    return info.value


def resolved(path: Path) -> str:
    return str(path.resolve())


# ------------------------------------------------------------------------------------------- a valid suite


def test_valid_suite_resolves_components(suite_file, data_root):
    suite = load_suite(suite_file)
    assert suite.name == "small" and suite.doc.seeds == [0]
    assert [c.id for c in suite.datasets] == ["fmnist"]
    assert [c.id for c in suite.methods] == ["retrain", "realistic-i2i"]  # id defaults to the name
    assert [c.label for c in suite.methods] == ["retrain", "Realistic-I2I"]  # label defaults to the id
    assert [c.id for c in suite.metrics] == ["psnr", "mse"]
    assert suite.attack is None
    i2i = suite.methods[1]
    assert i2i.cls.name == "realistic-i2i" and i2i.kind == "method"
    assert i2i.params.ascent.iterations == 3 and i2i.params.ascent.optimizer.lr == 0.05
    assert i2i.params.retain.epochs == 1  # defaults fill what the suite leaves out
    assert suite.datasets[0].params.root == str(data_root)
    assert suite.models[0].entry.train.batch_size == 16
    assert suite.metrics[0].entry.reference == "ground-truth"


def test_hash_is_stable_and_follows_content(suite_file, doc, tmp_path):
    first = load_suite(suite_file).hash
    assert load_suite(suite_file).hash == first
    assert load_suite(suite_file, ["seeds=[0, 1]"]).hash != first
    # Where cells run is not what the suite is.
    assert load_suite(suite_file, ["models.ae.resources.gpus=1"]).hash == first
    # key order in the file does not matter
    reordered = write(tmp_path / "reordered.yaml", dict(reversed(list(doc.items()))))
    assert load_suite(reordered).hash == first


@pytest.mark.skipif(
    not all(any((SYSTEM_FMNIST / f"{name}{gz}").is_file() for gz in ("", ".gz")) for name in FMNIST_FILES),
    reason=f"the Fashion-MNIST IDX files are not in {SYSTEM_FMNIST} (apt-get install dataset-fashion-mnist)",
)
def test_quickstart_suite_validates():
    suite = load_suite(REPO / "suites" / "quickstart.yaml")
    assert suite.name == "quickstart"
    # The quickstart runs every built-in method.
    from unlearn_bench.plugins import get_plugins

    builtin = {c.name for c in get_plugins().registry("method") if c.provenance.distribution == "unlearn-bench"}
    assert {m.name for m in suite.methods} == builtin
    assert [m.id for m in suite.metrics] == [
        "psnr",
        "mse",
        "psnr-vs-retrained",
        "fid",
        "kid",
        "fid-vs-retrained",
        "kid-vs-retrained",
        "is-effnet",
        "cosine-effnet",
    ]
    assert suite.doc.evaluate.feature_images == 50
    # what comes from defaults/fashion-mnist.yaml
    assert suite.datasets[0].id == "fmnist" and suite.datasets[0].params.root == str(SYSTEM_FMNIST)
    assert suite.models[0].entry.train.epochs == 4 and suite.doc.evaluate.batch_size == 500


@pytest.mark.skipif(
    not (SYSTEM_FMNIST / "train-images-idx3-ubyte.gz").is_file(), reason="needs Debian's dataset-fashion-mnist"
)
@pytest.mark.parametrize(
    "path",
    # The paper-scale suites need data nobody has here: test_paper_suites runs them on fixture trees.
    sorted(p for p in (REPO / "suites").glob("*.yaml") if p.stem not in PAPER_SUITES),
    ids=lambda p: p.name,
)
def test_every_suite_validates(path):
    suite = load_suite(path)
    assert suite.name == path.stem


# ---------------------------------------------------------------------------------------------- includes


def test_include_is_merged_underneath(tmp_path, doc):
    base = copy.deepcopy(doc)
    base["evaluate"] = {"batch_size": 8}
    base["seeds"] = [0, 1, 2]
    write(tmp_path / "defaults" / "base.yaml", base)
    top = write(
        tmp_path / "top.yaml",
        """\
        include: defaults/base.yaml
        name: on-top
        seeds: [7]
        evaluate: {}
        methods:
          - {name: retrain, id: only}
        """.replace("        ", ""),
    )
    suite = load_suite(top)
    assert suite.name == "on-top"  # the including file wins
    assert suite.doc.description == "a small valid suite"  # keys it does not set come from the include
    assert suite.doc.seeds == [7]  # lists are replaced, not concatenated
    assert [m.id for m in suite.methods] == ["only"]
    assert suite.doc.evaluate.batch_size == 8  # mappings are merged key by key
    assert "include" not in suite.data


def test_several_includes_apply_in_order_and_nest(tmp_path, doc):
    write(tmp_path / "a.yaml", {**doc, "description": "from a", "name": "from-a"})
    write(tmp_path / "sub" / "c.yaml", {"description": "from c", "seeds": [3]})
    write(tmp_path / "sub" / "b.yaml", "include: c.yaml\ndescription: from b\n")  # relative to sub/
    top = write(tmp_path / "top.yaml", "include: [a.yaml, sub/b.yaml]\nname: top\n")
    suite = load_suite(top)
    assert suite.doc.description == "from b"  # b (including c) lies on top of a
    assert suite.doc.seeds == [3]
    assert suite.name == "top"


def test_include_cycle_is_an_error(tmp_path, doc):
    write(tmp_path / "a.yaml", {"include": "b.yaml", **doc})
    write(tmp_path / "b.yaml", {"include": ["a.yaml"]})
    err = config_error(tmp_path / "a.yaml")
    assert err.key == "include" and err.file == resolved(tmp_path / "b.yaml")
    assert "include cycle" in err.message and err.message.count("a.yaml") == 2


def test_self_include_is_a_cycle(tmp_path):
    path = write(tmp_path / "self.yaml", "include: self.yaml\nname: x\n")
    assert "include cycle" in config_error(path).message


def test_same_file_included_twice_is_not_a_cycle(tmp_path, doc):
    write(tmp_path / "shared.yaml", {"description": "shared"})
    write(tmp_path / "one.yaml", {"include": "shared.yaml"})
    write(tmp_path / "two.yaml", {"include": "shared.yaml"})
    del doc["description"]
    top = write(tmp_path / "top.yaml", {"include": ["one.yaml", "two.yaml"], **doc})
    assert load_suite(top).doc.description == "shared"


def test_missing_include_names_the_missing_file(tmp_path, doc):
    top = write(tmp_path / "top.yaml", {"include": "nope.yaml", **doc})
    err = config_error(top)
    assert err.file == resolved(tmp_path / "nope.yaml") and err.message == "file not found"


def test_include_must_be_file_names(tmp_path, doc):
    err = config_error(write(tmp_path / "top.yaml", {"include": [1], **doc}))
    assert err.key == "include" and err.file == resolved(tmp_path / "top.yaml")


PAPER = {
    "source": "Some paper, Table 9",
    "note": "read D_R first",
    "columns": ["FID D_R", "FID D_F"],
    "rows": {"Ours": [1.5, 2.5], "Theirs": [3.0, 4.0]},
}


def with_paper(doc: dict, paper) -> dict:
    return {**doc, "leaderboard": {"tables": [{"id": "main", "paper": paper}]}}


def test_paper_numbers_can_come_from_another_suites_table(tmp_path, doc):
    write(tmp_path / "big" / "paper-scale.yaml", {"leaderboard": {"tables": [{"id": "t9", "paper": PAPER}]}})
    top = write(tmp_path / "small.yaml", with_paper(doc, {"from": "big/paper-scale.yaml", "table": "t9"}))
    paper = load_suite(top).doc.leaderboard.tables[0].paper
    assert (paper.source, paper.columns, paper.rows, paper.note) == (
        PAPER["source"],
        PAPER["columns"],
        PAPER["rows"],
        PAPER["note"],
    )
    # Keys beside 'from' and 'table' override the referenced ones; the reference resolves relative to the file
    # that wrote it, also when that file is included from elsewhere.
    write(tmp_path / "big" / "mid.yaml", with_paper(doc, {"from": "paper-scale.yaml", "table": "t9", "note": "mine"}))
    top = write(tmp_path / "top.yaml", "include: big/mid.yaml\nname: top\n")
    paper = load_suite(top).doc.leaderboard.tables[0].paper
    assert paper.note == "mine" and paper.rows == PAPER["rows"]


@pytest.mark.parametrize(
    "reference, message",
    [
        ({"from": "other.yaml", "table": "nope"}, "other.yaml has no table 'nope' with paper numbers"),
        ({"from": "other.yaml"}, "expected 'from: <suite file>' and 'table: <table id>'"),
        ({"from": "missing.yaml", "table": "t9"}, "file not found"),
    ],
)
def test_bad_paper_reference_names_file_and_key(tmp_path, doc, reference, message):
    write(tmp_path / "other.yaml", {"leaderboard": {"tables": [{"id": "t9", "paper": PAPER}]}})
    err = config_error(write(tmp_path / "top.yaml", with_paper(doc, reference)))
    assert err.message == message
    if message != "file not found":
        assert err.file == resolved(tmp_path / "top.yaml") and err.key == "leaderboard.tables.0.paper"


def test_error_from_an_included_file_names_that_file(tmp_path, doc):
    base = copy.deepcopy(doc)
    base["models"][0]["params"] = {"widht": 4}
    write(tmp_path / "base.yaml", base)
    top = write(tmp_path / "top.yaml", "include: base.yaml\nname: top\n")
    err = config_error(top)
    assert err.file == resolved(tmp_path / "base.yaml")
    assert err.key == "models[0].params.widht"
    assert "did you mean 'width'" in err.message


def test_error_in_the_including_file_names_that_file(tmp_path, doc):
    write(tmp_path / "base.yaml", doc)
    top = write(tmp_path / "top.yaml", "include: base.yaml\nevaluate: {batch_size: lots}\n")
    err = config_error(top)
    assert err.file == resolved(tmp_path / "top.yaml") and err.key == "evaluate.batch_size"


def test_value_overridden_by_the_including_file_is_blamed_on_it(tmp_path, doc):
    write(tmp_path / "base.yaml", doc)
    top = write(
        tmp_path / "top.yaml", "include: base.yaml\nmodels:\n  - {name: conv-autoencoder, params: {width: x}}\n"
    )
    err = config_error(top)
    assert err.file == resolved(tmp_path / "top.yaml") and err.key == "models[0].params.width"


def test_missing_key_in_a_replaced_list_is_blamed_on_the_including_file(tmp_path, doc, data_root):
    write(tmp_path / "base.yaml", doc)
    top = write(
        tmp_path / "top.yaml",
        f"include: base.yaml\ndatasets:\n  - {{name: fashion-mnist, params: {{root: {data_root}}}}}\n",
    )
    err = config_error(top)
    assert err.key == "datasets[0].split" and "required key is missing" in err.message
    assert err.file == resolved(tmp_path / "top.yaml")


def test_malformed_included_file_is_named(tmp_path, doc):
    write(tmp_path / "base.yaml", "version: 1\nname: [unclosed\n")
    err = config_error(write(tmp_path / "top.yaml", {"include": "base.yaml", **doc}))
    assert err.file == resolved(tmp_path / "base.yaml") and "not valid YAML" in err.message


# ----------------------------------------------------------------------------------------- interpolation


def test_environment_variables_are_substituted(tmp_path, doc, data_root, monkeypatch):
    doc["datasets"][0]["params"]["root"] = "${UB_TEST_DATA}"
    doc["description"] = "${UB_TEST_A}/${UB_TEST_B:-b-default}/${UB_TEST_C:-}|"
    monkeypatch.setenv("UB_TEST_DATA", str(data_root))
    monkeypatch.setenv("UB_TEST_A", "a-value")
    monkeypatch.delenv("UB_TEST_B", raising=False)
    monkeypatch.delenv("UB_TEST_C", raising=False)
    suite = load_suite(write(tmp_path / "s.yaml", doc))
    assert suite.datasets[0].params.root == str(data_root)
    assert suite.doc.description == "a-value/b-default/|"
    assert suite.data["description"] == "a-value/b-default/|"  # the validated data (and the hash) are substituted


def test_set_variable_wins_over_its_default(tmp_path, doc, monkeypatch):
    doc["description"] = "${UB_TEST_B:-b-default}"
    monkeypatch.setenv("UB_TEST_B", "")  # set, even if empty
    assert load_suite(write(tmp_path / "s.yaml", doc)).doc.description == ""


def test_default_in_an_included_file(tmp_path, doc, data_root, monkeypatch):
    doc["datasets"][0]["params"]["root"] = f"${{UB_TEST_UNSET:-{data_root}}}"
    monkeypatch.delenv("UB_TEST_UNSET", raising=False)
    write(tmp_path / "base.yaml", doc)
    suite = load_suite(write(tmp_path / "top.yaml", "include: base.yaml\n"))
    assert suite.datasets[0].params.root == str(data_root)


def test_unset_variable_is_an_error_naming_it(tmp_path, doc, monkeypatch):
    monkeypatch.delenv("UB_TEST_UNSET", raising=False)
    doc["datasets"][0]["params"]["root"] = "${UB_TEST_UNSET}/fmnist"
    write(tmp_path / "base.yaml", doc)
    err = config_error(write(tmp_path / "top.yaml", "include: base.yaml\n"))
    assert err.file == resolved(tmp_path / "base.yaml")
    assert err.key == "datasets[0].params.root"
    assert "UB_TEST_UNSET is not set" in err.message and "${UB_TEST_UNSET:-default}" in err.message


# ------------------------------------------------------------------------------------------------- --set


def test_set_selects_list_items_by_id(suite_file):
    suite = load_suite(suite_file, ["methods.realistic-i2i.params.retain.epochs=2"])
    i2i = suite.methods[1].params
    assert i2i.retain.epochs == 2
    assert i2i.ascent.iterations == 3  # siblings from the file are kept
    assert suite.data["methods"][1]["params"]["retain"] == {"epochs": 2}


def test_set_selects_by_explicit_id_and_by_index(suite_file):
    suite = load_suite(
        suite_file,
        ["models.ae.params.width=8", "methods.1.params.ascent.iterations=5", "datasets.0.split.forget_classes=[1, 2]"],
    )
    assert suite.models[0].params.width == 8
    assert suite.methods[1].params.ascent.iterations == 5
    assert suite.datasets[0].entry.split.forget_classes == [1, 2]  # values are read as YAML


def test_set_later_overrides_win_and_create_missing_mappings(suite_file):
    suite = load_suite(suite_file, ["evaluate.batch_size=3", "evaluate.batch_size=4", "name=renamed"])
    assert suite.doc.evaluate.batch_size == 4 and suite.name == "renamed"


def test_set_wrong_type_is_blamed_on_set(suite_file):
    err = config_error(suite_file, ["methods.realistic-i2i.params.ascent.iterations=many"])
    assert err.file == "--set" and err.key == "methods[1].params.ascent.iterations"
    assert err.message == "expected an integer, got 'many'"


def test_set_unknown_key_is_blamed_on_set(suite_file):
    err = config_error(suite_file, ["methods.retrain.parms=1"])
    assert err.file == "--set" and err.key == "methods[0].parms" and "did you mean 'params'" in err.message


def test_set_unknown_intermediate_key_is_blamed_on_set(suite_file):
    err = config_error(suite_file, ["methods.retrain.parms.x=1"])
    assert err.key == "methods[0].parms" and "did you mean 'params'" in err.message
    assert err.file == "--set"


@pytest.mark.parametrize("selector", ["nope", "5", "-1"])
def test_set_unknown_item(suite_file, selector):
    err = config_error(suite_file, [f"methods.{selector}.params.x=1"])
    assert err.file == "--set" and err.key == f"methods.{selector}.params.x"
    assert f"'{selector}' is neither an index nor the id of exactly one item" in err.message


@pytest.mark.parametrize("assignment", ["no-equals-sign", "=3"])
def test_set_needs_key_and_value(suite_file, assignment):
    err = config_error(suite_file, [assignment])
    assert err.file == "--set" and err.key is None and "expected KEY=VALUE" in err.message


def test_set_inside_a_scalar(suite_file):
    err = config_error(suite_file, ["name.first=x"])
    assert err.file == "--set" and err.key == "name.first" and "inside a scalar" in err.message


def test_errors_are_blamed_on_set_only_for_values_it_set(suite_file, tmp_path):
    err = config_error(suite_file, ["methods.retrain.label=fine", "models.ae.train.epochs=zero"])
    assert err.file == "--set" and err.key == "models[0].train.epochs"
    err = config_error(suite_file, ["methods.retrain.label=fine", "version=2"])
    assert err.file == "--set" and err.key == "version"
    text = suite_file.read_text().replace("version: 1", "version: 3")
    err = config_error(write(tmp_path / "v3.yaml", text), ["methods.retrain.label=fine"])
    assert err.file == resolved(tmp_path / "v3.yaml")


def test_set_selects_by_id_even_when_another_item_has_that_name(suite_file):
    suite = load_suite(
        suite_file,
        ["metrics=[{name: psnr}, {name: psnr, id: psnr-vs-retrained}]", "metrics.psnr.reference=original"],
    )
    assert [m.entry.reference for m in suite.metrics] == ["original", "ground-truth"]


# ---------------------------------------------------------------------------------------- malformed files


def test_malformed_yaml_reports_the_line(tmp_path):
    path = write(tmp_path / "broken.yaml", "version: 1\nname: x\nmethods:\n  - name: retrain\n    label: [oops\n")
    err = config_error(path)
    assert err.file == resolved(path)
    assert err.message.startswith("not valid YAML at line ")
    line = int(err.message.split("line ")[1].split(",")[0])
    assert 5 <= line <= 6  # the unclosed bracket (PyYAML reports where it noticed)


def test_bad_indentation_reports_its_line(tmp_path):
    path = write(tmp_path / "broken.yaml", "version: 1\nname: x\n  seeds: [0]\n")
    err = config_error(path)
    assert "not valid YAML at line 3" in err.message


def test_top_level_must_be_a_mapping(tmp_path):
    err = config_error(write(tmp_path / "list.yaml", "- version: 1\n"))
    assert err.message == "expected a mapping at the top level, got list"


def test_yaml_cannot_construct_objects(tmp_path, doc):
    text = yaml.safe_dump(doc) + "description: !!python/object/apply:os.system ['echo hacked']\n"
    text = text.replace("description: a small valid suite\n", "")
    assert "not valid YAML" in config_error(write(tmp_path / "evil.yaml", text)).message


def test_missing_file(tmp_path):
    err = config_error(tmp_path / "absent.yaml")
    assert err.file == resolved(tmp_path / "absent.yaml") and err.message == "file not found"


def test_empty_file_reports_missing_keys(tmp_path):
    err = config_error(write(tmp_path / "empty.yaml", ""))
    assert err.key in {"version", "name", "datasets", "tasks", "models", "methods", "metrics"}
    assert "required key is missing" in err.message


# -------------------------------------------------------------------------------------------- validation


def test_unknown_top_level_key(tmp_path, doc):
    doc["metrcs"] = doc.pop("metrics")
    err = config_error(write(tmp_path / "s.yaml", doc))
    assert err.key == "metrcs" and "did you mean 'metrics'" in err.message


@pytest.mark.parametrize(
    ("axis", "index", "bad", "suggestion"),
    [
        ("methods", 1, "realistic-i2", "realistic-i2i"),
        ("metrics", 0, "pnsr", "psnr"),
        ("datasets", 0, "fashion-mnsit", "fashion-mnist"),
        ("models", 0, "conv-autoencoderr", "conv-autoencoder"),
        ("tasks", 0, "centre-inpaint", "center-inpaint"),
    ],
)
def test_unknown_plugin_name_suggests_the_closest(tmp_path, doc, axis, index, bad, suggestion):
    doc[axis][index]["name"] = bad
    path = write(tmp_path / "s.yaml", doc)
    err = config_error(path)
    assert err.file == resolved(path) and err.key == f"{axis}[{index}].name"
    assert f"'{bad}'" in err.message and f"did you mean '{suggestion}'?" in err.message


def test_unknown_attack_lists_the_registered_ones(tmp_path, doc):
    doc["attack"] = {"name": "poison"}
    err = config_error(write(tmp_path / "s.yaml", doc))
    assert err.key == "attack.name"
    assert (
        err.message
        == "unknown attack 'poison'; available: backdoor, forget-score, lira, membership-inference, quantize, relearn"
    )


def test_audits_are_checked_like_the_attack(tmp_path, doc):
    doc["audits"] = [{"name": "membership-inference"}, {"name": "membersihp-inference"}]
    err = config_error(write(tmp_path / "s.yaml", doc))
    assert err.key == "audits[1].name" and "did you mean 'membership-inference'" in err.message
    doc["audits"] = [{"name": "membership-inference"}, {"name": "membership-inference"}]
    err = config_error(write(tmp_path / "s.yaml", doc))
    assert err.key == "audits[1]" and "audit id 'membership-inference' is used twice" in err.message
    doc["audits"] = [{"name": "membership-inference", "id": "mia"}]
    doc["leaderboard"] = {"tables": [{"id": "t", "metrics": ["mia/auc-loss", "mia/auc"]}]}
    err = config_error(write(tmp_path / "s.yaml", doc))
    assert err.key == "leaderboard.tables[0].metrics[1]" and "did you mean 'mia/auc-loss'" in err.message


def test_plugin_params_are_checked_against_the_plugin(tmp_path, doc):
    doc["methods"][1]["params"]["ascent"]["iterations"] = "many"
    err = config_error(write(tmp_path / "s.yaml", doc))
    assert err.key == "methods[1].params.ascent.iterations" and "expected an integer" in err.message
    doc["methods"][1]["params"]["ascent"] = {"iterations": -1}
    err = config_error(write(tmp_path / "s.yaml", doc))
    assert err.key == "methods[1].params.ascent.iterations" and "must be at least 1, got -1" in err.message
    doc["methods"][0]["params"] = {"anything": 1}  # NoParams
    err = config_error(write(tmp_path / "s.yaml", doc))
    assert err.key == "methods[0].params.anything"


def test_duplicate_ids_on_an_axis(tmp_path, doc):
    doc["metrics"].append({"name": "psnr", "reference": "retrained"})
    err = config_error(write(tmp_path / "s.yaml", doc))
    assert err.key == "metrics[2]"
    assert "metric id 'psnr' is used twice (items 0 and 2)" in err.message and "'id'" in err.message
    doc["metrics"][2]["id"] = "psnr-vs-retrained"
    suite = load_suite(write(tmp_path / "s.yaml", doc))
    assert [m.id for m in suite.metrics] == ["psnr", "mse", "psnr-vs-retrained"]


def test_duplicate_explicit_method_ids(tmp_path, doc):
    doc["methods"][1]["id"] = "retrain"
    err = config_error(write(tmp_path / "s.yaml", doc))
    assert err.key == "methods[1]" and "method id 'retrain' is used twice" in err.message


@pytest.mark.parametrize("axis", ["datasets", "tasks", "models", "methods", "metrics"])
def test_every_axis_needs_an_entry(tmp_path, doc, axis):
    doc[axis] = []
    err = config_error(write(tmp_path / "s.yaml", doc))
    assert err.key == axis and err.message.startswith("expected at least one")


def test_reference_attack_needs_an_attack(tmp_path, doc):
    doc["metrics"][1]["reference"] = "attack"
    err = config_error(write(tmp_path / "s.yaml", doc))
    assert err.key == "metrics[1].reference" and "needs an 'attack'" in err.message


def test_reference_must_be_a_known_one(tmp_path, doc):
    doc["metrics"][0]["reference"] = "retrain"
    err = config_error(write(tmp_path / "s.yaml", doc))
    assert err.key == "metrics[0].reference" and "did you mean 'retrained'" in err.message


@pytest.mark.parametrize("reference", ["ground-truth", "original", "retrained"])
def test_references_without_attack_are_fine(tmp_path, doc, reference):
    doc["metrics"][0]["reference"] = reference
    assert load_suite(write(tmp_path / "s.yaml", doc)).metrics[0].entry.reference == reference


def test_noise_floors_apply_to_the_models_the_metrics_compare_with(tmp_path, doc):
    doc["metrics"][0]["reference"] = "original"
    doc["evaluate"] = {"noise_floor": ["original"]}
    suite = load_suite(write(tmp_path / "s.yaml", doc))
    assert suite.doc.evaluate.listed_floors == ("original",) and floored(suite) == ("original",)
    # A model no metric compares with gets no floor (an included file may name it): it changes no cell key.
    keys = [cell.key for cell in expand(suite)]
    doc["evaluate"] = {"noise_floor": ["original", "attack", "original"]}
    suite = load_suite(write(tmp_path / "s.yaml", doc))
    assert floored(suite) == ("original",) and [cell.key for cell in expand(suite)] == keys
    assert {"original-twin"} <= references(suite) and "attack-twin" not in references(suite)
    doc["evaluate"] = {"noise_floor": ["retrain"]}
    assert "did you mean 'retrained'" in config_error(write(tmp_path / "s.yaml", doc)).message


@pytest.mark.parametrize("count", [0, 9, 10_001])
def test_image_bootstrap_needs_a_sensible_number_of_resamples(tmp_path, doc, count):
    doc["evaluate"] = {"image_bootstrap": count}
    err = config_error(write(tmp_path / "s.yaml", doc))
    assert err.key == "evaluate.image_bootstrap" and "between 10 and 10000" in err.message


@pytest.mark.parametrize("sizes", [[], [1, 10], [30, 10], [10, 10]])
def test_image_subsets_must_be_increasing_sizes_of_two_images_or_more(tmp_path, doc, sizes):
    doc["evaluate"] = {"image_subsets": sizes}
    err = config_error(write(tmp_path / "s.yaml", doc))
    assert err.key == "evaluate.image_subsets" and "increasing subset sizes" in err.message


def test_a_noise_floor_against_the_original_model_needs_one_trained_here(tmp_path, doc):
    torch.save({"weight": torch.zeros(2)}, tmp_path / "model.pt")
    doc["models"][0]["checkpoint"] = str(tmp_path / "model.pt")
    doc["metrics"][0]["reference"] = "original"
    doc["evaluate"] = {"noise_floor": ["original"]}
    err = config_error(write(tmp_path / "s.yaml", doc))
    assert err.key == "evaluate.noise_floor" and "starts from a checkpoint" in err.message


def with_table(doc: dict, **table) -> dict:
    doc["leaderboard"] = {"tables": [{"id": "main", **table}]}
    return doc


def test_valid_table(tmp_path, doc):
    suite = load_suite(write(tmp_path / "s.yaml", with_table(doc, where={"method": "retrain"}, metrics=["mse"])))
    table = suite.doc.leaderboard.tables[0]
    assert table.where == {"method": "retrain"} and table.metrics == ["mse"] and table.splits == ["retain", "forget"]


def test_table_where_unknown_id(tmp_path, doc):
    err = config_error(write(tmp_path / "s.yaml", with_table(doc, where={"method": "retrian"})))
    assert err.key == "leaderboard.tables[0].where.method"
    assert "no method has id 'retrian'; did you mean 'retrain'?" in err.message


def test_table_where_unknown_axis(tmp_path, doc):
    err = config_error(write(tmp_path / "s.yaml", with_table(doc, where={"metric": "psnr"})))
    assert err.key == "leaderboard.tables[0].where.metric" and "expected one of the axes" in err.message


def test_table_metrics_unknown_id(tmp_path, doc):
    err = config_error(write(tmp_path / "s.yaml", with_table(doc, metrics=["psnr", "ssim"])))
    assert err.key == "leaderboard.tables[0].metrics[1]" and "no metric or audit measure has id 'ssim'" in err.message


def test_table_ids_are_unique(tmp_path, doc):
    doc["leaderboard"] = {"tables": [{"id": "main"}, {"id": "main"}]}
    err = config_error(write(tmp_path / "s.yaml", doc))
    assert err.key == "leaderboard.tables[1].id" and "used twice" in err.message


def test_unseen_split_needs_unseen_classes(tmp_path, doc):
    err = config_error(write(tmp_path / "s.yaml", with_table(doc, splits=["retain", "unseen"])))
    assert err.key == "leaderboard.tables[0].splits" and "unseen_classes" in err.message
    doc["datasets"][0]["split"]["unseen_classes"] = [9]
    assert load_suite(write(tmp_path / "s.yaml", doc)).doc.leaderboard.tables[0].splits == ["retain", "unseen"]


def test_paper_rows_must_match_columns(tmp_path, doc):
    paper = {"source": "a paper", "columns": ["PSNR D_R", "PSNR D_F"], "rows": {"Retrain": [30.0]}}
    err = config_error(write(tmp_path / "s.yaml", with_table(doc, paper=paper)))
    assert err.key == "leaderboard.tables[0].paper.columns" and "1 values for 2 columns" in err.message


def test_split_config_is_checked(tmp_path, doc):
    doc["datasets"][0]["split"]["forget_fraction"] = 0.5
    err = config_error(write(tmp_path / "s.yaml", doc))
    assert err.key == "datasets[0].split.forget_fraction" and "only meaningful with level 'sample'" in err.message


# ------------------------------------------------------------------------------------------ files on disk


def test_missing_dataset_root_describes_the_expected_layout(tmp_path, doc):
    empty = tmp_path / "empty"
    empty.mkdir()
    doc["datasets"][0]["params"]["root"] = str(empty)
    path = write(tmp_path / "s.yaml", doc)
    err = config_error(path)
    assert err.file == resolved(path) and err.key == "datasets[0].params"
    assert f"Fashion-MNIST not found under {empty}" in err.message
    assert all(name in err.message for name in FMNIST_FILES)
    assert "FashionMNIST/raw" in err.message and "download: true" in err.message


def test_only_the_missing_files_are_listed(tmp_path, doc, data_root):
    (data_root / "t10k-labels-idx1-ubyte").unlink()
    err = config_error(write(tmp_path / "s.yaml", doc))
    assert "(missing t10k-labels-idx1-ubyte)" in err.message


def test_gzipped_and_torchvision_layouts_are_accepted(tmp_path, doc):
    raw = tmp_path / "tv" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for name in FMNIST_FILES:
        (raw / f"{name}.gz").touch()
    doc["datasets"][0]["params"]["root"] = str(tmp_path / "tv")
    assert load_suite(write(tmp_path / "s.yaml", doc)).datasets[0].params.root == str(tmp_path / "tv")


def test_download_skips_the_file_check(tmp_path, doc):
    doc["datasets"][0]["params"] = {"root": str(tmp_path / "nowhere"), "download": True}
    load_suite(write(tmp_path / "s.yaml", doc))
    assert not (tmp_path / "nowhere").exists()  # validation downloads nothing


def test_missing_checkpoint(tmp_path, doc):
    doc["models"][0]["checkpoint"] = str(tmp_path / "missing.pt")
    path = write(tmp_path / "s.yaml", doc)
    err = config_error(path)
    assert err.file == resolved(path) and err.key == "models[0].checkpoint"
    assert f"no checkpoint file at {tmp_path / 'missing.pt'}" in err.message


def test_existing_checkpoint_is_accepted(tmp_path, doc):
    torch.save({"weight": torch.zeros(2)}, tmp_path / "model.pt")  # validation loads it as tensors only
    doc["models"][0]["checkpoint"] = str(tmp_path / "model.pt")
    assert load_suite(write(tmp_path / "s.yaml", doc)).models[0].entry.checkpoint == str(tmp_path / "model.pt")


def test_checkpoint_that_is_a_folder_is_not_a_file(tmp_path, doc):
    doc["models"][0]["checkpoint"] = str(tmp_path)
    assert config_error(write(tmp_path / "s.yaml", doc)).key == "models[0].checkpoint"


# ----------------------------------------------------------------------------------------- version, name, seeds


@pytest.mark.parametrize(("version", "message"), [(2, "expected 1"), (0, "expected 1"), ("1", "expected an integer")])
def test_version_must_be_1(tmp_path, doc, version, message):
    doc["version"] = version
    err = config_error(write(tmp_path / "s.yaml", doc))
    assert err.key == "version" and message in err.message


@pytest.mark.parametrize(
    "name",
    [
        "my suite",
        "../escape",
        "a/b",
        "-leading-dash",
        ".hidden",
        "",
        "quick\n",
    ],
)
def test_bad_suite_names(tmp_path, doc, name):
    doc["name"] = name
    err = config_error(write(tmp_path / "s.yaml", doc))
    assert err.key == "name" and "names folders" in err.message


@pytest.mark.parametrize("name", ["quickstart", "Fashion_MNIST-2.v1", "0"])
def test_good_suite_names(tmp_path, doc, name):
    doc["name"] = name
    assert load_suite(write(tmp_path / "s.yaml", doc)).name == name


@pytest.mark.parametrize("seeds", [[], [1, 1]])
def test_seeds_must_be_distinct_and_present(tmp_path, doc, seeds):
    doc["seeds"] = seeds
    err = config_error(write(tmp_path / "s.yaml", doc))
    assert err.key == "seeds" and "distinct" in err.message


def test_class_lists_take_ranges(tmp_path, doc):
    doc["datasets"][0]["split"] = {"forget_classes": ["0-2"], "proxy_classes": [5, "7-8"]}
    split = load_suite(write(tmp_path / "s.yaml", doc)).datasets[0].entry.split
    assert split.forget_classes == [0, 1, 2] and split.proxy_classes == [5, 7, 8]
    doc["datasets"][0]["split"] = {"forget_classes": ["3-1"]}
    err = config_error(write(tmp_path / "s.yaml", doc))
    assert err.key.startswith("datasets[0].split") and "'3-1' is neither a class index nor a range" in err.message


# ------------------------------------------------------------------------------- labels and pre-training checks


def test_a_label_names_the_starting_model_truthfully(tmp_path, doc):
    doc["methods"].append({"name": "no-unlearning", "label": "No unlearning ({start})"})
    assert load_suite(write(tmp_path / "plain.yaml", doc)).methods[-1].label == "No unlearning (original model)"
    doc["attack"] = {"name": "backdoor"}
    assert load_suite(write(tmp_path / "poisoned.yaml", doc)).methods[-1].label == "No unlearning (attack model)"


def test_every_committed_no_unlearning_row_is_labelled_by_its_start():
    for path in sorted((REPO / "suites").glob("*.yaml")):
        for method in yaml.safe_load(path.read_text()).get("methods") or []:
            if method["name"] == "no-unlearning":
                assert "{start}" in method.get("label", "{start}"), path.name


def test_a_tokenizer_schedule_longer_than_pretraining_is_refused(tmp_path, doc):
    doc["models"] = [
        {
            "name": "vq-transformer",
            "params": {**TINY["vq-transformer"][1], "tokenizer_steps": 10},
            "train": {"epochs": 1, "batch_size": 16},
        }
    ]
    doc["datasets"][0]["split"]["retain_classes"] = list(range(1, 10))
    # 10 images per class, 9 retained classes: 90 images, 6 steps of 16 per epoch.
    error = config_error(write(tmp_path / "vq.yaml", doc))
    assert error.key == "models[0].params.tokenizer_steps" and "takes 6; expected at most 6" in str(error)
    assert load_suite(write(tmp_path / "vq.yaml", doc), ["models.vq-transformer.train.epochs=2"])


def test_a_suite_cannot_set_a_column_direction(tmp_path, doc):
    bad = copy.deepcopy(doc)
    bad["metrics"][0]["higher_is_better"] = True
    err = config_error(write(tmp_path / "s.yaml", bad))
    assert err.key == "metrics[0].higher_is_better"
    assert "comes from the metric's declaration" in err.message and "remove the key" in err.message
