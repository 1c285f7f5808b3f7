# The two first commands of the README: `make demo` and `make test`.
# Each creates .venv/ when missing and installs what it needs; nothing is installed by hand.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo serve test bench mutate bytecode sysdeps-build sysdeps-run sysdeps-test sysdeps-bench clean

# Debian libraries and tools the scanner itself uses: libarchive (7z, RAR, CAB, cpio, XAR, LHA, ISO 9660 through
# libarchive-c) and 7-Zip (7z archives: damaged ones, Deflate64, multi-volume sets; libarchive reads them without it).
RUN_TOOLS := 7z:p7zip-full

# Debian tools the tests use to build disk images at test time (no root, nothing mounted), and exiftool, the
# reference the media metadata readers are checked against (tests/leads).
TEST_TOOLS := mformat:mtools mkfs.fat:dosfstools mkfs.ext4:e2fsprogs debugfs:e2fsprogs mkntfs:ntfs-3g \
              ntfscp:ntfs-3g sfdisk:fdisk ewfacquire:ewf-tools genisoimage:genisoimage fls:sleuthkit \
              icat:sleuthkit mmls:sleuthkit mkfs.exfat:exfatprogs qemu-img:qemu-utils cryptsetup:cryptsetup-bin \
              7z:p7zip-full hashdeep:hashdeep chromium:chromium strace:strace curl:curl wrk:wrk \
              exiftool:libimage-exiftool-perl unbound:unbound squid:squid node:nodejs
# Debian headers the compiled extensions are built against (setup.py): OpenSSL's libcrypto for the URL checker's
# SHA-256 (src/hashwarden/urls/_urlc.c), the library Python's hashlib already loads.
BUILD_HEADERS := /usr/include/openssl/sha.h:libssl-dev
# The store tests also run on a private PostgreSQL cluster that tests/pg.py starts (initdb in a temporary folder, a
# free local port); Debian keeps its server binaries off PATH, in /usr/lib/postgresql/<version>/bin.
PG_INITDB := /usr/lib/postgresql/*/bin/initdb

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The editable install compiles the C extensions in place: a change of setup.py or of a C source installs again
# (an existing checkout would otherwise keep testing the old compiled code).
BUILT_FROM := pyproject.toml setup.py $(wildcard src/hashwarden/*/*.c)

$(VENV)/.installed: $(BUILT_FROM) | $(BIN)/python sysdeps-build
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(BUILT_FROM) | $(BIN)/python sysdeps-build
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

$(VENV)/.installed-mutate: $(BUILT_FROM) | $(BIN)/python sysdeps-build
	$(BIN)/python -m pip install --quiet -e '.[test,mutate]'
	touch $@

$(VENV)/.installed-bench: $(BUILT_FROM) | $(BIN)/python sysdeps-build
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $@

# hashwarden's own modules compiled to bytecode, as a pip install (not editable) leaves them: where the environment
# sets PYTHONDONTWRITEBYTECODE (CI containers often do), every process compiled every module it imported, each time
# (the CLI, and each scan worker it spawns). compileall writes only what is missing or older than its source; a
# source changed later is still compiled again in memory when imported, so nothing stale is ever run.
bytecode: | $(BIN)/python
	@$(BIN)/python -m compileall -q src >/dev/null

demo: $(VENV)/.installed sysdeps-run bytecode
	$(BIN)/hashwarden demo --out demo-output

# The service on the demo's hash database (`make demo` first when it is absent), on 127.0.0.1:8080. The database
# has no users: the lines printed first create one.
DEMO_DB := demo-output/hashwarden.db
serve: $(VENV)/.installed bytecode
	@test -f $(DEMO_DB) || $(MAKE) demo
	@echo "In another shell, create a user and keep the key it prints (once):"
	@echo "  $(BIN)/hashwarden --db $(DEMO_DB) agency create Demo"
	@echo "  $(BIN)/hashwarden --db $(DEMO_DB) user create demo-examiner --agency Demo --role examiner"
	$(BIN)/hashwarden serve --db $(DEMO_DB)

# The layering contracts (pyproject.toml, [tool.importlinter]) first: a forbidden import fails in seconds. Then the
# suite on every core (pytest-xdist; worksteal evens out the few long tests), in a new random order each run
# (pytest-randomly; `-p randomly -p "randomly_seed=N"` replays one).
test: $(VENV)/.installed-test sysdeps-run sysdeps-test bytecode
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n auto --dist worksteal

sysdeps-build:
	@missing=""; for pair in $(BUILD_HEADERS); do header=$${pair%%:*}; pkg=$${pair##*:}; \
		test -f $$header || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then echo "installing Debian packages:$$missing"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) >/dev/null; fi

sysdeps-run:
	@missing=""; for pair in $(RUN_TOOLS); do tool=$${pair%%:*}; pkg=$${pair##*:}; \
		command -v $$tool >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	ldconfig -p 2>/dev/null | grep -q 'libarchive.so.13' || missing="$$missing libarchive13"; \
	if [ -n "$$missing" ]; then echo "installing Debian packages:$$missing"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) >/dev/null; fi

sysdeps-test:
	@missing=""; for pair in $(TEST_TOOLS); do tool=$${pair%%:*}; pkg=$${pair##*:}; \
		PATH="$$PATH:/usr/sbin:/sbin" command -v $$tool >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	ls $(PG_INITDB) >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then echo "installing Debian packages:$$missing"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) >/dev/null; fi

# Benchmarks compare against hashdeep (Debian package) and python-threatexchange (PyPI); bench/service.py drives the
# service with wrk (Debian package; also a test tool: tests/test_bench_service.py runs the bench small).
sysdeps-bench: sysdeps-test
	@command -v hashdeep >/dev/null 2>&1 || { \
		echo "installing hashdeep (Debian package)"; \
		(apt-get update -qq && apt-get install -y -qq hashdeep) >/dev/null; }
	@command -v sqlite3 >/dev/null 2>&1 || { \
		echo "installing the sqlite3 shell (Debian package)"; \
		(apt-get update -qq && apt-get install -y -qq sqlite3) >/dev/null; }
	@command -v wrk >/dev/null 2>&1 || { \
		echo "installing wrk (Debian package)"; \
		(apt-get update -qq && apt-get install -y -qq wrk) >/dev/null; }

bench: $(VENV)/.installed-bench sysdeps-bench bytecode
	$(BIN)/python bench/pdq_baseline.py
	$(BIN)/python bench/pdq_engine.py
	$(BIN)/python bench/scan_crypto.py
	$(BIN)/python bench/scan_full.py
	$(BIN)/python bench/scan_disk.py
	$(BIN)/python bench/archive_members.py
	$(BIN)/python bench/import.py
	$(BIN)/python bench/known_filter.py
	$(BIN)/python bench/pdq_index.py
	$(BIN)/python bench/case_leads.py
	$(BIN)/python bench/distribution.py
	$(BIN)/python bench/vpdq.py
	$(BIN)/python bench/vpdq_trim.py
	$(BIN)/python bench/service.py
	$(BIN)/python bench/selfhash.py
	$(BIN)/python bench/urls.py
	$(BIN)/python bench/squid_helper.py

# Mutation testing of the verdict code (tools/mutate.py; not part of `make test`: it re-runs tests per mutant, ~25 min
# on 2 busy cores). mutmut copies src/ into mutants/ and the tests import that copy, so the compiled extensions must be
# in src/: the editable install builds them there (again here if they were removed since).
EXTENSIONS := src/hashwarden/signals/_pdqcore src/hashwarden/evidence/_sigscan src/hashwarden/index/_mih \
              src/hashwarden/urls/_urlc
mutate: $(VENV)/.installed-mutate sysdeps-run sysdeps-test
	@for ext in $(EXTENSIONS); do ls $$ext.*.so >/dev/null 2>&1 || missing=1; done; \
		if [ -n "$$missing" ]; then $(BIN)/python -m pip install --quiet --no-deps -e .; fi
	$(BIN)/python tools/mutate.py --max-children 2

clean:
	rm -rf $(VENV) demo-output mutants
