"""The CLI on bad input: exit code 2, one paragraph on stderr naming file and key, no traceback, nothing written."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from unlearn_bench.cli import main
from unlearn_bench.plugins import ALLOW_ENV, BLOCK_ENV, reset_plugins

BUILTIN_PLUGINS = (
    "fashion-mnist",
    "center-inpaint",
    "conv-autoencoder",
    "no-unlearning",
    "retrain",
    "realistic-i2i",
    "pixel-metrics",
)


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Built-in plugins only, a scratch working directory and cache; the global plugin manager is reset."""
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    monkeypatch.delenv(BLOCK_ENV, raising=False)
    monkeypatch.delenv("FASHION_MNIST_ROOT", raising=False)
    monkeypatch.setenv("UNLEARN_BENCH_CACHE", str(tmp_path / "env-cache"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    reset_plugins()
    yield
    reset_plugins()


def good_doc(root: Path) -> dict:
    return {
        "version": 1,
        "name": "cli-test",
        "datasets": [
            {"name": "fashion-mnist", "id": "fmnist", "params": {"root": str(root)}, "split": {"forget_classes": [0]}}
        ],
        "tasks": [{"name": "center-inpaint"}],
        "models": [{"name": "conv-autoencoder", "params": {"width": 4}, "train": {"epochs": 1}}],
        "methods": [{"name": "retrain"}, {"name": "realistic-i2i", "params": {"ascent": {"iterations": 2}}}],
        "metrics": [{"name": "psnr"}, {"name": "mse"}],
    }


@pytest.fixture
def doc(data_root) -> dict:
    return good_doc(data_root)


def write(path: Path, content: dict | str) -> Path:
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False))
    return path


def cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_user_error(err: str, command: str, *fragments: str) -> None:
    assert err.startswith(f"unlearn-bench {command}: error: "), err
    assert err.endswith("\n") and "\n\n" not in err.strip(), "expected one paragraph"
    assert err.count("error:") == 1
    assert "Traceback" not in err and 'File "' not in err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


def run_args(tmp_path: Path, suite: Path, *extra) -> list:
    return [
        "run",
        suite,
        "--results",
        tmp_path / "res",
        "--leaderboard",
        tmp_path / "lb",
        "--cache",
        tmp_path / "cache",
        "--device",
        "cpu",
        "--quiet",
        *extra,
    ]


def assert_nothing_written(tmp_path: Path) -> None:
    for name in ("res", "lb", "cache", "env-cache"):
        assert not (tmp_path / name).exists(), f"{name} was written"
    assert list((tmp_path / "work").iterdir()) == [], "files were written in the working directory"


# ----------------------------------------------------------------------------------------- the bad suites


def malformed(tmp_path, doc):
    path = write(tmp_path / "broken.yaml", "version: 1\nname: x\nmethods:\n  - {name: retrain\n  - name: y\n")
    return path, [], ["broken.yaml", "not valid YAML at line"]


def unknown_plugin(tmp_path, doc):
    doc["methods"][1]["name"] = "realistic-i2j"
    path = write(tmp_path / "unknown.yaml", doc)
    return path, [], ["unknown.yaml", "key 'methods[1].name'", "unknown method 'realistic-i2j'", "realistic-i2i"]


def wrong_type(tmp_path, doc):
    doc["methods"][1]["params"]["ascent"]["iterations"] = "lots"
    path = write(tmp_path / "wrongtype.yaml", doc)
    return path, [], ["wrongtype.yaml", "key 'methods[1].params.ascent.iterations'", "expected an integer"]


def wrong_type_in_include(tmp_path, doc):
    doc["models"][0]["params"]["width"] = "wide"
    write(tmp_path / "base.yaml", doc)
    path = write(tmp_path / "top.yaml", "include: base.yaml\nname: top\n")
    return path, [], ["base.yaml", "key 'models[0].params.width'", "expected an integer"]


def missing_data(tmp_path, doc):
    doc["datasets"][0]["params"]["root"] = str(tmp_path / "no-data-here")
    path = write(tmp_path / "nodata.yaml", doc)
    return path, [], ["nodata.yaml", "key 'datasets[0].params'", "Fashion-MNIST not found", "no-data-here"]


def missing_checkpoint(tmp_path, doc):
    doc["models"][0]["checkpoint"] = str(tmp_path / "model.pt")
    path = write(tmp_path / "ckpt.yaml", doc)
    return path, [], ["ckpt.yaml", "key 'models[0].checkpoint'", "no checkpoint file at", "model.pt"]


def bad_override(tmp_path, doc):
    path = write(tmp_path / "good.yaml", doc)
    return (
        path,
        ["--set", "methods.realistic-i2i.params.retain.epochs=two"],
        [
            "--set: key 'methods[1].params.retain.epochs'",
            "expected an integer",
        ],
    )


def unset_variable(tmp_path, doc):
    doc["datasets"][0]["params"]["root"] = "${UNLEARN_BENCH_TEST_NOT_SET}"
    path = write(tmp_path / "env.yaml", doc)
    return path, [], ["env.yaml", "key 'datasets[0].params.root'", "UNLEARN_BENCH_TEST_NOT_SET is not set"]


def absent_file(tmp_path, doc):
    return tmp_path / "absent.yaml", [], ["absent.yaml", "file not found"]


def latin1_text(tmp_path, doc):
    text = yaml.safe_dump({**doc, "description": "Café"}, sort_keys=False, allow_unicode=True)
    path = tmp_path / "latin1.yaml"
    path.write_bytes(text.encode("latin-1"))
    return path, [], ["latin1.yaml", "not UTF-8: byte 0xe9 at line", "save the file as UTF-8"]


def truncated_character(tmp_path, doc):
    data = yaml.safe_dump({**doc, "description": "naïve"}, sort_keys=False, allow_unicode=True).encode()
    path = tmp_path / "cut.yaml"
    path.write_bytes(data[: data.index("ï".encode()) + 1])  # the file ends inside a two-byte character
    return path, [], ["cut.yaml", "not UTF-8: byte 0xc3"]


def utf16_file(tmp_path, doc):
    path = tmp_path / "utf16.yaml"
    path.write_bytes(yaml.safe_dump(doc, sort_keys=False).encode("utf-16"))
    return path, [], ["utf16.yaml", "encoded as UTF-16; save it as UTF-8"]


def deep_nesting(tmp_path, doc):
    path = write(tmp_path / "deep.yaml", "version: 1\nname: x\ndescription: " + "[" * 100_000 + "]" * 100_000 + "\n")
    return path, [], ["deep.yaml", "nested more than 64 levels deep"]


def alias_bomb(tmp_path, doc):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]  # 10^10 values, 600 bytes
    path = write(tmp_path / "bomb.yaml", "\n".join(["version: 1", "name: x", *lines]) + "\n")
    return path, [], ["bomb.yaml", "expands to more than 100000 values"]


def device_file(tmp_path, doc):
    return Path("/dev/zero"), [], ["/dev/zero", "not a regular file"]


def device_include(tmp_path, doc):
    path = write(tmp_path / "inc.yaml", "include: /dev/zero\nname: x\n")
    return path, [], ["/dev/zero", "not a regular file"]


def duplicate_key(tmp_path, doc):
    text = yaml.safe_dump(doc, sort_keys=False) + "name: again\n"
    return write(tmp_path / "dup.yaml", text), [], ["dup.yaml", "at line", "duplicate key 'name' (first set at line 2)"]


def duplicate_nested_key(tmp_path, doc):
    text = yaml.safe_dump(doc, sort_keys=False).replace("- name: retrain\n", "- name: retrain\n  name: retrain\n")
    return write(tmp_path / "dup2.yaml", text), [], ["dup2.yaml", "duplicate key 'name'"]


def nan_learning_rate(tmp_path, doc):
    text = yaml.safe_dump(doc, sort_keys=False).replace("iterations: 2", "iterations: 2\n      optimizer: {lr: .nan}")
    return write(tmp_path / "nan.yaml", text), [], ["nan.yaml", "ascent.optimizer.lr'", "expected a finite number"]


def zero_width(tmp_path, doc):
    doc["models"][0]["params"]["width"] = 0
    path = write(tmp_path / "w0.yaml", doc)
    return path, [], ["w0.yaml", "key 'models[0].params.width'", "must be at least 1, got 0"]


def astronomical_epochs(tmp_path, doc):
    doc["models"][0]["train"]["epochs"] = 10**23
    path = write(tmp_path / "e.yaml", doc)
    return path, [], ["e.yaml", "key 'models[0].train.epochs'", "magnitude at most 2**31 - 1"]


def class_out_of_range(tmp_path, doc):
    doc["datasets"][0]["split"]["forget_classes"] = [10]
    path = write(tmp_path / "c.yaml", doc)
    return path, [], ["c.yaml", "split.forget_classes'", "class 10 does not exist: fashion-mnist has classes 0 to 9"]


def negative_seed(tmp_path, doc):
    path = write(tmp_path / "seed.yaml", {**doc, "seeds": [0, -1]})
    return path, [], ["seed.yaml", "key 'seeds'", "distinct integers ≥ 0 (got seeds = [0, -1])"]


def random_bytes_checkpoint(tmp_path, doc):
    (tmp_path / "model.pt").write_bytes(bytes(range(256)) * 8)
    doc["models"][0]["checkpoint"] = str(tmp_path / "model.pt")
    path = write(tmp_path / "ck.yaml", doc)
    return path, [], ["ck.yaml", "key 'models[0].checkpoint'", "not a tensor checkpoint", "weights_only=True"]


def cross_field_check_set_on_the_command_line(tmp_path, doc):
    path = write(tmp_path / "good.yaml", doc)
    lr = ["--set", "methods.realistic-i2i.params.ascent.optimizer.lr=-1"]
    return path, lr, ["--set: key 'methods[1].params.ascent.optimizer.lr'", "lr must be positive (got lr = -1)"]


BAD = [
    nan_learning_rate,
    zero_width,
    astronomical_epochs,
    class_out_of_range,
    negative_seed,
    random_bytes_checkpoint,
    cross_field_check_set_on_the_command_line,
    latin1_text,
    truncated_character,
    utf16_file,
    deep_nesting,
    alias_bomb,
    device_file,
    device_include,
    duplicate_key,
    duplicate_nested_key,
    malformed,
    unknown_plugin,
    wrong_type,
    wrong_type_in_include,
    missing_data,
    missing_checkpoint,
    bad_override,
    unset_variable,
    absent_file,
]


@pytest.mark.parametrize("case", BAD, ids=lambda case: case.__name__)
def test_validate_reports_bad_suites(tmp_path, doc, capsys, monkeypatch, case):
    monkeypatch.delenv("UNLEARN_BENCH_TEST_NOT_SET", raising=False)
    path, extra, fragments = case(tmp_path, doc)
    code, out, err = cli(capsys, "validate", path, *extra)
    assert code == 2
    assert out == ""
    assert_user_error(err, "validate", *fragments)


@pytest.mark.parametrize("case", BAD, ids=lambda case: case.__name__)
def test_run_reports_bad_suites_and_writes_nothing(tmp_path, doc, capsys, monkeypatch, case):
    monkeypatch.delenv("UNLEARN_BENCH_TEST_NOT_SET", raising=False)
    path, extra, fragments = case(tmp_path, doc)
    code, out, err = cli(capsys, *run_args(tmp_path, path, *extra))
    assert code == 2
    assert out == ""
    assert_user_error(err, "run", *fragments)
    assert_nothing_written(tmp_path)


def test_run_with_an_unknown_device(tmp_path, doc, capsys):
    code, _, err = cli(capsys, *run_args(tmp_path, write(tmp_path / "s.yaml", doc))[:-3], "--device", "nonsense")
    assert code == 2
    assert_user_error(err, "run", "nonsense")
    assert_nothing_written(tmp_path)


def test_run_with_default_paths_writes_nothing_on_error(tmp_path, doc, capsys):
    doc["methods"][0]["name"] = "retrian"
    code, _, err = cli(capsys, "run", write(tmp_path / "s.yaml", doc), "--quiet")
    assert code == 2
    assert_user_error(err, "run", "did you mean 'retrain'")
    assert_nothing_written(tmp_path)  # neither ./results, ./leaderboard nor $UNLEARN_BENCH_CACHE


@pytest.mark.parametrize("option", ["--results", "--leaderboard", "--cache", "UNLEARN_BENCH_CACHE"])
def test_run_refuses_an_output_folder_that_is_a_file_before_any_work(tmp_path, doc, capsys, monkeypatch, option):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    args = run_args(tmp_path, write(tmp_path / "s.yaml", doc))
    if option.startswith("--"):
        args[args.index(option) + 1] = blocker / "inside" if option == "--cache" else blocker
    else:
        args.remove("--cache"), args.remove(tmp_path / "cache")
        monkeypatch.setenv(option, str(blocker))
    code, out, err = cli(capsys, *args)
    assert code == 2 and out == ""
    assert_user_error(err, "run", str(blocker), "a file, not a folder")
    assert blocker.read_text() == "a file where a folder should be"
    assert_nothing_written(tmp_path)


def test_leaderboard_of_a_missing_result_store(tmp_path, capsys):
    for extra in ([], ["--check"]):
        code, out, err = cli(capsys, "leaderboard", "--results", tmp_path / "nowhere", "--out", tmp_path / "lb", *extra)
        assert code == 2 and out == ""
        assert_user_error(err, "leaderboard", "--results", "nowhere: no such folder")
    assert_nothing_written(tmp_path)


def test_suite_naming_a_plugin_that_is_not_loaded(tmp_path, doc, capsys, monkeypatch):
    monkeypatch.setenv(ALLOW_ENV, "retrain")  # the suite then names plugins that are not loaded
    code, _, err = cli(capsys, "validate", write(tmp_path / "s.yaml", doc))
    assert code == 2
    assert_user_error(err, "validate", "s.yaml", "key 'datasets[0].name'", "unknown dataset 'fashion-mnist'")


def test_plugin_that_fails_to_import_is_a_user_error(tmp_path, doc, capsys, monkeypatch):
    info = tmp_path / "site" / "broken_dist-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-dist\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[unlearn_bench]\nbroken = cli_broken_plugin_module\n")
    (tmp_path / "site" / "cli_broken_plugin_module.py").write_text("import no_such_module_anywhere\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    path = write(tmp_path / "good.yaml", doc)
    for args in (["plugins"], ["validate", path], run_args(tmp_path, path)):
        code, out, err = cli(capsys, *args)
        assert code == 2 and out == ""
        assert_user_error(
            err, args[0], "entry point 'broken'", "broken-dist", "ModuleNotFoundError", f"{BLOCK_ENV}=broken"
        )
    assert_nothing_written(tmp_path)
    monkeypatch.setenv(BLOCK_ENV, "broken")
    assert cli(capsys, "validate", path)[0] == 0


# --------------------------------------------------------------------------------------------- good input


def test_validate_good_suite(tmp_path, doc, capsys):
    path = write(tmp_path / "good.yaml", doc)
    code, out, err = cli(capsys, "validate", path)
    assert code == 0 and err == ""
    first = out.splitlines()[0]
    assert first.startswith(f"{path}: valid suite 'cli-test'")
    assert "1 dataset × 1 task × 1 model × 2 methods × 1 seed = 2 cells" in first
    assert "metrics: psnr (vs ground-truth), mse (vs ground-truth)" in out
    assert_nothing_written(tmp_path)


def test_validate_verbose_lists_cells_and_applies_overrides(tmp_path, doc, capsys):
    path = write(tmp_path / "good.yaml", doc)
    code, out, err = cli(capsys, "validate", path, "-v", "--set", "seeds=[0, 1]")
    assert code == 0 and err == ""
    assert "× 2 seeds = 4 cells" in out
    cells = [line.split()[0] for line in out.splitlines() if line.startswith("  ")]
    assert cells == [
        f"fmnist__center-inpaint__conv-autoencoder__{method}__seed{seed}"
        for seed in (0, 1)
        for method in ("retrain", "realistic-i2i")
    ]


def test_plugins_lists_the_builtins(capsys):
    code, out, err = cli(capsys, "plugins")
    assert code == 0 and err == ""
    version = importlib.metadata.version("unlearn-bench")
    rows = {line.split()[0]: line for line in out.splitlines()[2:]}
    assert set(BUILTIN_PLUGINS) <= set(rows)
    for name in BUILTIN_PLUGINS:
        assert rows[name].split()[1:3] == ["unlearn-bench", version]
    assert "register_metrics" in rows["pixel-metrics"] and "metric mse, metric psnr" in rows["pixel-metrics"]
    assert "method realistic-i2i" in rows["realistic-i2i"]


def test_plugins_respects_the_block_variable(capsys, monkeypatch):
    monkeypatch.setenv(BLOCK_ENV, "retrain")
    code, out, _ = cli(capsys, "plugins")
    assert code == 0
    assert "retrain" not in {line.split()[0] for line in out.splitlines()[2:]}


def test_plugins_describes_one_name(capsys):
    code, out, err = cli(capsys, "plugins", "realistic-i2i")
    assert code == 0 and err == ""
    lines = out.splitlines()
    version = importlib.metadata.version("unlearn-bench")
    assert lines[0] == f"method 'realistic-i2i' from plugin 'realistic-i2i' (unlearn-bench {version})"
    assert lines[1].strip().startswith("Gradient ascent on the forget set")
    assert lines[2].split() == ["parameter", "type", "default", "help"]
    params = {line.split()[0]: line for line in lines[4:]}
    assert {"ascent.iterations", "ascent.optimizer.lr", "retain.epochs", "retain.optimizer.name"} <= set(params)
    assert (
        params["ascent.iterations"].split()[3] == "20"
        and "K, the number of ascent steps" in params["ascent.iterations"]
    )
    assert (
        params["ascent.optimizer.name"].split()[-1] == "sgd" and params["retain.optimizer.name"].split()[-1] == "adam"
    )


def test_plugins_describes_help_and_defaults(capsys):
    code, out, _ = cli(capsys, "plugins", "fashion-mnist")
    assert code == 0
    assert out.startswith("dataset 'fashion-mnist' from plugin 'fashion-mnist'")
    row = next(line for line in out.splitlines() if line.startswith("root"))
    assert "a string" in row and "/usr/share/datasets/fashion-mnist" in row and "folder with the IDX files" in row


def test_plugins_unknown_name(capsys):
    code, out, err = cli(capsys, "plugins", "realistic-i2j")
    assert code == 2 and out == ""
    assert_user_error(err, "plugins", "nothing is registered as 'realistic-i2j'", "did you mean 'realistic-i2i'")


def test_a_closed_pipe_stops_the_output_quietly():
    # As in `unlearn-bench plugins | head -1` once head has left: no traceback, the shell's SIGPIPE status.
    read, write = os.pipe()
    os.close(read)
    cli = subprocess.run(
        [sys.executable, "-m", "unlearn_bench.cli", "plugins"], stdout=write, stderr=subprocess.PIPE, timeout=120
    )
    os.close(write)
    assert cli.returncode == 141 and b"Traceback" not in cli.stderr, cli.stderr.decode()


def test_validate_writes_nothing_to_an_empty_cache(tmp_path, monkeypatch, capsys):
    """The quickstart names the FID Inception, whose weights a run converts into the weights cache on first use:
    validate only says where they will come from."""
    cache = tmp_path / "fresh-cache"
    monkeypatch.setenv("UNLEARN_BENCH_CACHE", str(cache))
    code, out, _ = cli(capsys, "validate", str(Path(__file__).resolve().parents[1] / "suites" / "quickstart.yaml"))
    assert code == 0 and "extractor inception-v3-tf: weights" in out
    assert not cache.exists() or not any(cache.rglob("*"))
