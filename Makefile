# The verbs a person types. Everything builds what it needs first, so each
# works on a fresh clone with only the Rust toolchain installed.

SEEDS ?= 200
CARGO ?= cargo

.PHONY: sim test build lint bench play-tombola clean

## sim: sweep every built-in scenario over $(SEEDS) seeds (release build)
sim:
	$(CARGO) run --release -p sim -- sweep all --seeds $(SEEDS)

## test: build the binaries, then run every test (what CI runs)
test:
	$(CARGO) build --workspace --bins
	$(CARGO) test --workspace --all-targets --no-fail-fast

## build: debug and release builds of everything
build:
	$(CARGO) build --workspace --bins
	$(CARGO) build --release --workspace --bins

## lint: formatting and clippy, warnings are errors
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## bench: games per second of the standard scenarios
bench:
	$(CARGO) run --release -p sim -- sweep tombola-four-players-latency --seeds 400

## play-tombola: a lock-step server on 127.0.0.1:8000 for two players
play-tombola:
	$(CARGO) run --release -p games --bin tombola-server -- --addr 127.0.0.1:8000 --players 2 --verbose

clean:
	$(CARGO) clean
