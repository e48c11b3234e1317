# preauth.oauth2 — the two commands:
#   make demo   the whole story against the embedded Exact Online simulator
#   make test   every quality gate, on ansible-core 2.21 (newest Python), 2.20 (units, sanity) and 2.19 (Python 3.11)
# Quick loops (README, Development): make units, make lint, make integration TARGET=name
SHELL := /bin/bash
.DEFAULT_GOAL := help

NEW := .venv
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/build/collections
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH := false

.PHONY: help demo test units lint integration system-deps bootstrap clean bench

help:
	@echo "make demo                      run the story against the local simulator"
	@echo "make test                      every gate, on ansible-core 2.21, 2.20 and 2.19"
	@echo "make units                     unit tests on the newest line (file and PostgreSQL store)"
	@echo "make lint                      ansible-lint, ruff, mypy, antsibull-docs, docs site, changelog, ansible-doc"
	@echo "make integration TARGET=name   one integration target (comma-separated names; none: all) on the newest line"

system-deps:
	@tools/system-deps.sh test

bootstrap:
	@tools/bootstrap.sh new
	@tools/bootstrap.sh mid
	@tools/bootstrap.sh old
	@tools/bootstrap.sh lint
	@tools/bootstrap.sh importer

demo:
	@tools/system-deps.sh demo
	@tools/bootstrap.sh new
	@$(NEW)/bin/python tools/demo.py

test: system-deps bootstrap
	@tools/test.sh all

units: system-deps
	@tools/bootstrap.sh new
	@PREAUTH_TEST_LINES=new tools/test.sh units

lint: system-deps
	@tools/bootstrap.sh new
	@tools/bootstrap.sh lint
	@PREAUTH_TEST_LINES=new tools/test.sh lint

integration: system-deps
	@tools/bootstrap.sh new
	@PREAUTH_TEST_LINES=new TARGET="$(TARGET)" tools/test.sh integration

# Not part of make test: refresh N = 10, 100, 1000 chains three ways; writes bench/results.md.
bench: ; @tools/bootstrap.sh new && $(NEW)/bin/python bench/run.py

clean:
	rm -rf build .pytest_cache preauth-oauth2-*.tar.gz
