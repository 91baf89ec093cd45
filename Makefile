# ima2 — `make test` installs what the tests need into .venv and runs the whole suite twice:
# with the optional extras (Pillow, certifi) and with them switched off (IMA2_NO_PIL=1
# IMA2_NO_CERTIFI=1), plus the Python 3.9 floor check (vermin) and the linter (ruff, pinned in
# tests/requirements.txt, rules in pyproject.toml; any finding fails).
PYTHON ?= python3
VENV ?= .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?= -q -x -p no:cacheprovider
# tests wait on I/O (servers, subprocesses, Chromium) far more than they compute: four
# workers halve the wall time even on 2 cores (`make test XDIST=` runs them in one process)
XDIST ?= -n 4

.PHONY: test test-full test-nodeps py39 lint bench run doctor clean browser

test: py39 lint test-full test-nodeps

$(STAMP): tests/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --disable-pip-version-check -r tests/requirements.txt
	touch $(STAMP)

py39: $(STAMP)
	$(VENV)/bin/vermin -q -t=3.9- --no-tips --violations --eval-annotations ima2.py ima2_lib

# Debian's Chromium for the studio's browser tests (tests skip cleanly when it is absent).
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      chromium chromium-driver || echo "chromium not installed: browser tests will skip"; \
	  else echo "no /usr/bin/chromium: browser tests will skip (apt-get install chromium)"; fi; \
	fi

test-full: $(STAMP) browser
	$(VPY) -m pytest $(PYTEST_ARGS) $(XDIST) tests

test-nodeps: $(STAMP)
	IMA2_NO_PIL=1 IMA2_NO_CERTIFI=1 $(VPY) -m pytest $(PYTEST_ARGS) $(XDIST) -m "not browser" tests

lint: $(STAMP)
	$(VENV)/bin/ruff check ima2.py ima2_lib tests

bench: $(STAMP)
	@for f in tests/bench/bench_*.py; do echo "== $$f"; $(VPY) $$f || exit 1; done

run:
	$(PYTHON) ima2.py serve

doctor:
	$(PYTHON) ima2.py doctor

clean:
	rm -rf $(VENV) .pytest_cache
