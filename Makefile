# The two commands of the README:
#   make demo   - install, build the targets, and run sigdbg on a bundled target
#   make test   - install, build the targets, lint, type-check and run the test suite
.PHONY: demo test bootstrap lint bench

bootstrap:
	./scripts/bootstrap

demo: bootstrap
	.venv/bin/sigdbg report -- targets/build/hello
	.venv/bin/sigdbg trace --step-sigreturn -- targets/build/sig_basic raise

lint: bootstrap
	.venv/bin/ruff check .
	.venv/bin/mypy --strict sigdbg/abi sigdbg/decode sigdbg/names sigdbg/engine sigdbg/backends

test: lint
	.venv/bin/python -m pytest -q -n 2 tests

bench: bootstrap
	.venv/bin/python bench/bench.py
