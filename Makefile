# The two commands of the README:
#   make demo   - install, build the targets, and run sigdbg on a bundled target
#   make test   - install, build the targets, lint, type-check and run the test suite
.PHONY: demo test test-arm bootstrap lint bench

bootstrap:
	./scripts/bootstrap

demo: bootstrap
	.venv/bin/sigdbg report -- targets/build/hello
	.venv/bin/sigdbg trace --step-sigreturn -- targets/build/sig_basic raise

lint: bootstrap
	.venv/bin/ruff check .
	.venv/bin/mypy --strict sigdbg/abi sigdbg/decode sigdbg/names sigdbg/engine sigdbg/backends

# The tracing tests run a second time on the ctypes path the ptrace backend
# takes when its C module is not built (SIGDBG_NO_NATIVE).
# tests/arm boots a QEMU guest: run by test-arm, not (yet) by test.
test: lint
	.venv/bin/python -m pytest -q -n 2 tests --ignore=tests/arm
	SIGDBG_NO_NATIVE=1 .venv/bin/python -m pytest -q -n 2 tests/integration/test_trace.py \
	    tests/integration/test_sigreturn.py tests/integration/test_sigframe.py \
	    tests/integration/test_stops.py tests/integration/test_cli_errors.py tests/unit/test_native.py

# The ARM/AArch64 tests on a real arm64 kernel under qemu-system-aarch64
# (issue 14): host tools from scripts/bootstrap-arm, guest image cached in
# ~/.cache/sigdbg-arm (SIGDBG_ARM_CACHE), one boot per session, no xdist.
test-arm: bootstrap
	./scripts/bootstrap-arm
	$(MAKE) -s -C targets arm
	.venv/bin/python -m pytest -q -p no:xdist tests/arm

bench: bootstrap
	.venv/bin/python bench/bench.py
