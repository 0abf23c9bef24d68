# weightwarden — every set-up step a fresh machine needs lives here.
#   make demo   install, fetch the real sample models, scan them and a set of booby-trapped files
#   make test   install, fetch the sample models, lint and run the whole test suite
#   make fuzz   every reader fuzzed at 10^4 examples under a canary and an audit hook (long; not in `make test`)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CORE_STAMP := $(VENV)/.core-stamp
STAMP  := $(VENV)/.installed-stamp

.PHONY: install install-core models demo test lint bench fuzz clean

# Two steps, so that a newcomer sees scan / sign / lineage results before the long part: the evals extra
# builds llama-cpp-python from source (most of a fresh `make demo`'s time).
$(CORE_STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,sign,lineage]'
	touch $(CORE_STAMP)

$(STAMP): $(CORE_STAMP)
	# llama-cpp-python builds from its sdist; the native build crashes on CPUs that report AMX (DESIGN.md §5).
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/pip install -q -e '.[dev,sign,lineage,evals,report,registry,indicators,inspect,parquet]'
	# PSI for `weightwarden indicators psi`: without its protobuf==6.30.2 pin, which would downgrade onnx.
	$(BIN)/pip install -q --no-deps 'openmined-psi>=2.0.6'
	touch $(STAMP)

install-core: $(CORE_STAMP)

install: $(STAMP)

models: install-core
	$(BIN)/python scripts/sample_models.py

demo: models
	$(BIN)/python scripts/demo.py --part core
	@echo "scan / sign / lineage done; now installing the evals extra (builds llama-cpp-python) ..."
	$(MAKE) install
	$(BIN)/python scripts/demo.py --part eval

lint: install-core
	$(BIN)/ruff check weightwarden tests benchmarks scripts

test: install models lint
	$(BIN)/python -m pytest -n 2 -q

bench: install models
	$(BIN)/python benchmarks/peers.py install
	$(BIN)/python benchmarks/scan_peers.py
	$(BIN)/python benchmarks/scan_scaling.py
	$(BIN)/python benchmarks/sign_peers.py
	$(BIN)/python benchmarks/lineage_speed.py
	$(BIN)/python benchmarks/lineage_calibration.py
	$(BIN)/python benchmarks/judge_agreement.py
	$(BIN)/python benchmarks/eval_overhead.py
	$(BIN)/python benchmarks/judge_loso.py
	$(BIN)/python benchmarks/risk_capability.py
	$(BIN)/python benchmarks/audit_speed.py
	$(BIN)/python benchmarks/indicator_matching.py
	$(BIN)/python benchmarks/psi_cardinality.py
	$(BIN)/python benchmarks/registry_tlog.py
	$(BIN)/python benchmarks/registry_incidents.py
	$(BIN)/python benchmarks/registry_load.py
	$(BIN)/python benchmarks/sign_reuse.py
	# Long (a fresh clone, an empty pip cache, the whole demo): run on its own.
	# $(BIN)/python benchmarks/newcomer_time.py

# Long (about an hour on 2 cores): one property per reader, dispatch, Keras config, templates and picklevm, each
# at FUZZ_EXAMPLES examples in a child with the audit hook armed; writes benchmarks/results/fuzz_readers.json.
# `make test` runs the same properties at 60 examples (and once at 15 under the hook).
FUZZ_EXAMPLES ?= 10000
fuzz: install-core
	$(BIN)/python benchmarks/fuzz_readers.py --examples $(FUZZ_EXAMPLES)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
