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
	.venv/bin/mypy --strict sigdbg

# The tracing tests run a second time on the ctypes path the ptrace backend
# takes when its C module is not built (SIGDBG_NO_NATIVE), and with the
# restorer breakpoint of --step-sigreturn in a debug register, as where
# perf_event_open is refused (SIGDBG_NO_PERF_BREAKPOINT).  Then the ARM and
# AArch64 tests on a real arm64 kernel (test-arm).
test: lint
	.venv/bin/python -m pytest -q -n 2 tests --ignore=tests/arm
	SIGDBG_NO_NATIVE=1 SIGDBG_NO_PERF_BREAKPOINT=1 .venv/bin/python -m pytest -q -n 2 \
	    tests/integration/test_trace.py \
	    tests/integration/test_sigreturn.py tests/integration/test_sigframe.py \
	    tests/integration/test_stops.py tests/integration/test_cli_errors.py tests/unit/test_native.py \
	    tests/integration/test_mixed_mode.py \
	    tests/integration/test_leave.py tests/integration/test_jobctl.py \
	    tests/integration/test_program_traps.py tests/integration/test_unwind.py \
	    tests/integration/test_srop.py tests/integration/test_storms.py \
	    tests/integration/test_shell_runctl.py
	$(MAKE) test-arm

# The ARM/AArch64 tests on a real arm64 kernel under qemu-system-aarch64
# (issue 14): host tools from scripts/bootstrap-arm, guest image cached in
# ~/.cache/sigdbg-arm (SIGDBG_ARM_CACHE), one boot per session, no xdist.
test-arm: bootstrap
	./scripts/bootstrap-arm
	$(MAKE) -s -C targets arm
	.venv/bin/python -m pytest -q -p no:xdist tests/arm

bench: bootstrap
	.venv/bin/python bench/bench.py
