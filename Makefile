# The verbs a person types. Everything builds what it needs first, so each
# works on a fresh clone with only the Rust toolchain installed.

SEEDS ?= 200
CARGO ?= cargo

.PHONY: sim test build lint bench play-tombola play-live play-chat clean

## sim: sweep every built-in scenario over $(SEEDS) seeds (release build);
## ends with the total and the failing seeds with their replay commands
sim:
	$(CARGO) run --release -p sim -- sweep all --seeds $(SEEDS)

## test: build everything (the binary tests run the built binaries), then
## run every test (what CI runs). One build of all targets, so dependency
## features are resolved once and nothing is compiled twice. Ends with one
## total over every test target in the plain `N passed, N failed, N skipped`
## form (ignored tests count as skipped), since cargo's own last line is the
## result of whichever target ran last, often one with no tests; exits with
## cargo's status.
test:
	$(CARGO) build --workspace --all-targets
	@log=$$(mktemp); \
	{ $(CARGO) test --workspace --all-targets --no-fail-fast 2>&1; echo $$? > $$log.status; } | tee $$log; \
	status=$$(cat $$log.status); \
	awk -v status=$$status '/^test result:/ { passed += $$4; failed += $$6; ignored += $$8; targets += 1 } \
	  END { printf "\nmake test: %s over %d test targets\ntotal: %d passed, %d failed, %d skipped\n", \
	        (status == 0 && failed == 0 ? "PASS" : "FAIL"), targets, passed, failed, ignored }' $$log; \
	rm -f $$log $$log.status; \
	exit $$status

## build: debug and release builds of everything
build:
	$(CARGO) build --workspace --bins
	$(CARGO) build --release --workspace --bins

## lint: formatting and clippy, warnings are errors
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## bench: games per second of the standard scenarios on every backend
bench:
	$(CARGO) run --release -p sim -- bench

## play-tombola: a lock-step server on 127.0.0.1:8000 for two players
play-tombola:
	$(CARGO) run --release -p games --bin tombola-server -- --addr 127.0.0.1:8000 --players 2 --verbose

## play-live: a live tombola server (numbers 127.0.0.1:2004, claims 127.0.0.1:2005)
play-live:
	$(CARGO) run --release -p games --bin tombola-live-server -- --interval-ms 1000 --pause-ms 20000 --verbose

## play-chat: a chat room on 127.0.0.1:2004
play-chat:
	$(CARGO) run --release -p games --bin chat-server -- --log

clean:
	$(CARGO) clean
