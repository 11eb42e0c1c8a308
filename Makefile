# Two entry points: `make demo` and `make test`. Both create .venv and install what they need.
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
TORCH  := torch==2.13.0
# Debian packages: FluidSynth + a General MIDI soundfont (MIDI rendering), Chromium (report browser
# test, driven by Playwright).
APT_PACKAGES := fluidsynth fluid-soundfont-gm chromium
DEMO_OUT ?= runs/demo
# The oldest transformers the model backends are tested with (pyproject's floor), installed
# beside the venv's own and run on the backend tests.
FLOOR       := .floor
FLOOR_PKGS  := transformers==4.56.2 tokenizers==0.22.2 huggingface-hub==0.36.2
FLOOR_TESTS := tests/test_backends.py tests/test_yue.py tests/test_yue_codec.py tests/test_scoring.py \
               tests/test_shared_prefix.py tests/test_demo_sample.py

.PHONY: demo test system clean

system:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

$(VENV)/.installed: pyproject.toml | system
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# Pin the CPU wheel first so that nothing pulls CUDA wheels; extras then reuse it.
	$(PIP) install -q $(TORCH)
	$(PIP) install -q -e ".[all]"
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install -q -e ".[test]"
	touch $@

$(FLOOR)/.installed: | $(VENV)/.installed
	$(PIP) install -q --target $(FLOOR) --no-deps $(FLOOR_PKGS)
	touch $@

demo: system $(VENV)/.installed
	$(VENV)/bin/noiseloss run paper-noise --out $(DEMO_OUT)

# The wheel as a new user installs it: a fresh venv outside the repository, no extras then [all].
WHEEL_CHECK := /tmp/noiseloss-wheel-check

test: system $(VENV)/.installed-test $(FLOOR)/.installed
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/python -m pytest -q
	PYTHONPATH=$(FLOOR) $(VENV)/bin/python -m pytest -q -p no:cacheprovider $(FLOOR_TESTS)
	bash tests/wheel_check.sh $(WHEEL_CHECK) $(TORCH)

clean:
	rm -rf $(VENV) $(FLOOR) runs .pytest_cache .ruff_cache $(WHEEL_CHECK)
