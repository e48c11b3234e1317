# preauth.oauth2 — the two commands:
#   make demo   the whole story against the embedded Exact Online simulator
#   make test   every quality gate, on ansible-core 2.21 (newest Python) and 2.19 (Python 3.11)
SHELL := /bin/bash
.DEFAULT_GOAL := help

NEW := .venv
OLD := .venv-2.19
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/build/collections
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH := false

.PHONY: help demo test test-new test-old system-deps bootstrap clean bench

help:
	@echo "make demo   run the story against the local simulator"
	@echo "make test   all gates on ansible-core 2.21 and 2.19"

system-deps:
	@tools/system-deps.sh test

bootstrap:
	@tools/bootstrap.sh new
	@tools/bootstrap.sh old
	@tools/bootstrap.sh lint

demo:
	@tools/system-deps.sh demo
	@tools/bootstrap.sh new
	@$(NEW)/bin/python tools/demo.py

test: system-deps bootstrap
	@tools/test.sh $(NEW) $(OLD)

# One line at a time, for quick local loops.
test-new: system-deps
	@tools/bootstrap.sh new
	@tools/bootstrap.sh lint
	@tools/test.sh $(NEW)
test-old: system-deps
	@tools/bootstrap.sh old
	@tools/test.sh $(OLD)

# Not part of make test: refresh N = 10, 100, 1000 chains three ways; writes bench/results.md.
bench: ; @tools/bootstrap.sh new && $(NEW)/bin/python bench/run.py

clean:
	rm -rf build .pytest_cache preauth-oauth2-*.tar.gz
