# Every target sets itself up from nothing: a venv in .venv, the package and its
# dev dependencies, and (for bench, when root) the Debian packages it compares against.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEMO   ?= captures/go-leak.pcap captures/go-drain.pcap

.PHONY: demo test bench lint clean setup apt-bench apt-live apt-chromium apt-tshark fuzz notebook

setup: $(STAMP)

# The core is compiled with mypyc when installed (setup.py, analyzer/_compiled.py): an edit
# to a compiled module re-runs the install, so the extensions never fall behind the source.
COMPILED_SRC := setup.py analyzer/_compiled.py $(wildcard analyzer/core/*.py analyzer/core/*.c analyzer/core/*.pyi) analyzer/capture/files.py analyzer/capture/pcapwalk.py

$(STAMP): pyproject.toml $(COMPILED_SRC)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); \
	  else echo "python3 -m venv failed: install python3-venv" >&2; exit 1; fi; }
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@# byte code for the interpreted modules, written once: a start then reads it, even
	@# where PYTHONDONTWRITEBYTECODE keeps Python from writing it (this sandbox sets it:
	@# each start re-parsed ~30 modules, +44% of a 100-packet analysis' instructions)
	$(PY) -m compileall -q analyzer >/dev/null
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/keepalive analyze $(DEMO)

test: $(STAMP) apt-live apt-chromium apt-tshark
	$(PY) -m pytest

# The pyshark backend runs tshark (tests/test_backends.py cross-checks it in CI).
apt-tshark:
	@if ! command -v tshark >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tshark; \
	  else echo "pyshark backend: tshark missing; sudo apt-get install tshark" >&2; fi; fi

# Live capture compiles BPF filters with libpcap (scapy loads it with ctypes).
apt-live:
	@if ! ldconfig -p 2>/dev/null | grep -q 'libpcap\.so'; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libpcap0.8; \
	  else echo "live capture: libpcap missing; sudo apt-get install libpcap0.8" >&2; fi; fi

# The HTML report is tested in a real headless browser (tests/test_report.py).
apt-chromium:
	@if ! command -v chromium >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "report test: chromium missing; sudo apt-get install chromium" >&2; fi; fi

# Coverage-guided fuzzing (atheris) from the seeds, FUZZ_SECONDS for each target: the capture
# reader (corpus bench/out/fuzz-corpus), the TLS reader (bench/out/fuzz-tls-corpus), the
# HTTP/2 reader (bench/out/fuzz-http2-corpus) and the C header scan against its Python twin
# (bench/out/fuzz-headscan-corpus); crashes go to bench/out/ (keep the capture
# reader's in tests/fuzz/regressions). The TLS seeds are real conversations made by
# tests/tlsgen.py (with and without their key log); the HTTP/2 target writes its own.
FUZZ_SECONDS ?= 300
fuzz: $(STAMP)
	mkdir -p bench/out/fuzz-corpus bench/out/fuzz-tls-corpus bench/out/fuzz-http2-corpus
	cp -n tests/fuzz/corpus/* bench/out/fuzz-corpus/
	$(PY) tests/fuzz/fuzz_capture.py bench/out/fuzz-corpus tests/fuzz/regressions \
	  -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -timeout=10 -artifact_prefix=bench/out/
	PYTHONPATH=. $(PY) -c 'import sys; sys.path.insert(0, "tests/fuzz"); import fuzz_tls; \
	  from tests import tlsgen as g; \
	  convs = [g.tls_conversation("1.3"), g.tls_conversation("1.2"), g.tls_conversation("1.3", fail=True)]; \
	  [open(f"bench/out/fuzz-tls-corpus/seed-{i}{k}", "wb").write(fuzz_tls.encode(c.segments, c.keylog if k else None)) \
	   for i, c in enumerate(convs) for k in ("", "-keys")]'
	PYTHONPATH=. $(PY) tests/fuzz/fuzz_tls.py bench/out/fuzz-tls-corpus \
	  -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -timeout=10 -artifact_prefix=bench/out/tls-
	PYTHONPATH=. $(PY) tests/fuzz/fuzz_http2.py --write-seeds bench/out/fuzz-http2-corpus
	PYTHONPATH=. $(PY) tests/fuzz/fuzz_http2.py bench/out/fuzz-http2-corpus \
	  -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -timeout=10 -artifact_prefix=bench/out/http2-
	$(PY) tests/fuzz/fuzz_headscan.py --write-seeds bench/out/fuzz-headscan-corpus
	$(PY) tests/fuzz/fuzz_headscan.py bench/out/fuzz-headscan-corpus \
	  -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -timeout=10 -artifact_prefix=bench/out/headscan-
	$(PY) tests/fuzz/fuzz_lines.py --write-seeds bench/out/fuzz-lines-corpus
	$(PY) tests/fuzz/fuzz_lines.py bench/out/fuzz-lines-corpus \
	  -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -timeout=10 -artifact_prefix=bench/out/lines-

# The walkthrough, notebooks/explore.ipynb, in JupyterLab with the venv's kernel. JupyterLab
# is a tool for this target, not a dependency of the package: installed into the venv the
# first time (from PyPI). The notebook finds captures/ from the package, so it runs from any
# directory. NOTEBOOK_ARGS: more options, e.g. NOTEBOOK_ARGS='--no-browser --port 8899'.
NOTEBOOK_ARGS ?=
notebook: $(STAMP)
	@$(PY) -c 'import jupyterlab' 2>/dev/null || $(PY) -m pip install -q jupyterlab
	$(VENV)/bin/jupyter lab $$([ "$$(id -u)" = 0 ] && echo --allow-root) $(NOTEBOOK_ARGS) \
	  notebooks/explore.ipynb

lint: $(STAMP)
	$(VENV)/bin/ruff check analyzer tests bench
	$(VENV)/bin/mypy analyzer

# Benchmarks need tshark and tcptrace (offline), nginx and wrk (live); installed when root.
apt-bench:
	@if ! command -v tshark >/dev/null || ! command -v tcptrace >/dev/null \
	    || ! command -v nginx >/dev/null || ! command -v wrk >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      tshark tcptrace nginx-light wrk; \
	  else echo "bench: missing tools; sudo apt-get install tshark tcptrace nginx-light wrk" >&2; fi; fi

# BENCH_ARGS: bench/run.py options, e.g. --skip-10m (the 10M capture takes ~15 minutes).
BENCH_ARGS ?=
bench: $(STAMP) apt-bench apt-live
	$(PY) bench/run.py $(BENCH_ARGS)
	$(PY) bench/backends.py
	$(PY) bench/live.py   # root only; LIVE_SOAK=600 for the 10-minute soak

clean:
	rm -rf $(VENV) bench/out .pytest_cache
