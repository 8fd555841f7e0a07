# The verbs a person types. Everything builds what it needs first, so each
# works on a fresh clone with only the Rust toolchain installed.

SEEDS ?= 200
# Where `make sim` runs: turmoil (simulated TCP stepped per tick) or fast
# (the event-driven backend, tens of times faster): `make sim BACKEND=fast`.
BACKEND ?= turmoil
CARGO ?= cargo
# Sizes of the load runs in `make bench` (larger: BENCH_PLAYERS=2000 ...)
# and how many times real and reference alternate (the ratio is of medians).
BENCH_PLAYERS ?= 500
BENCH_CLIENTS ?= 1000
BENCH_ROUNDS ?= 1
# Idle connections per server in `make bench-load` (memory per connection).
BENCH_IDLE ?= 5000
# Seconds per fuzz target in `make fuzz`.
FUZZ_SECONDS ?= 10
# Where cargo puts the binaries `make bench` runs.
TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),target)
# play-tombola: how long a player may take to answer a draw. Typing answers
# by hand with nc takes a while: `make play-tombola REPLY_TIMEOUT_MS=60000`.
REPLY_TIMEOUT_MS ?= 5000
# play-chat: where the chat room listens. Not the binaries' default 2004,
# so that play-live (2004 and 2005) and play-chat run side by side.
CHAT_ADDR ?= 127.0.0.1:2006

.PHONY: sim test build lint bench bench-load fuzz play-tombola play-live play-chat clean

## sim: sweep every built-in scenario over $(SEEDS) seeds on $(BACKEND)
## (release build); ends with the total and the failing seeds with their
## replay commands
sim:
	$(CARGO) run --release -p sim -- sweep all --seeds $(SEEDS) --backend $(BACKEND)

## test: build everything (the binary tests run the built binaries), then
## run every test (what CI runs). One build of all targets, so dependency
## features are resolved once and nothing is compiled twice. Ends with one
## total over every test target in the plain `N passed, N failed, N skipped`
## form (ignored tests count as skipped), since cargo's own last line is the
## result of whichever target ran last, often one with no tests; exits with
## cargo's status. The documentation examples run too (`--doc`: cargo's
## `--all-targets` leaves them out), so an example in the docs that no
## longer compiles fails the build.
test:
	$(CARGO) build --workspace --all-targets
	@log=$$(mktemp); \
	{ $(CARGO) test --workspace --all-targets --no-fail-fast 2>&1; echo $$? > $$log.status; } | tee $$log; \
	{ $(CARGO) test --workspace --doc --no-fail-fast 2>&1; echo $$? > $$log.doc; } | tee -a $$log; \
	status=$$(cat $$log.status); \
	if [ "$$status" = 0 ]; then status=$$(cat $$log.doc); fi; \
	awk -v status=$$status '/^test result:/ { passed += $$4; failed += $$6; ignored += $$8; targets += 1 } \
	  END { printf "\nmake test: %s over %d test targets\ntotal: %d passed, %d failed, %d skipped\n", \
	        (status == 0 && failed == 0 ? "PASS" : "FAIL"), targets, passed, failed, ignored }' $$log; \
	rm -f $$log $$log.status $$log.doc; \
	exit $$status

## build: debug and release builds of everything
build:
	$(CARGO) build --workspace --bins
	$(CARGO) build --release --workspace --bins

## lint: formatting and clippy, warnings are errors
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## bench: games per second of the standard scenarios on every backend and
## of the full 1,000-player lock-step room on the fast backend, then the
## real servers under load (bench-load)
bench:
	$(CARGO) run --release -p sim -- bench
	$(CARGO) run --release -p sim -- bench --backend fast --seeds 20 \
		--scenario fixtures/bench/tombola-full-room.toml
	$(MAKE) bench-load

## bench-load: the real servers over TCP with loadgen, each beside the
## least-possible-work reference in the same run, and the ratios: live
## fan-out at $(BENCH_PLAYERS) players, chat routing at $(BENCH_CLIENTS)
## clients; then each server's memory per idle connection over
## $(BENCH_IDLE) connections
bench-load:
	$(CARGO) build --release -p games -p stress --bins
	$(TARGET_DIR)/release/loadgen live --compare --rounds $(BENCH_ROUNDS) \
		--server-bin $(TARGET_DIR)/release/tombola-live-server --players $(BENCH_PLAYERS)
	$(TARGET_DIR)/release/loadgen chat --compare --rounds $(BENCH_ROUNDS) \
		--server-bin $(TARGET_DIR)/release/chat-server --clients $(BENCH_CLIENTS)
	for server in chat-server tombola-server tombola-live-server; do \
		$(TARGET_DIR)/release/loadgen idle --server-bin $(TARGET_DIR)/release/$$server \
			--connections $(BENCH_IDLE) || exit 1; \
	done

## fuzz: every fuzz target for $(FUZZ_SECONDS) s each, with inputs run per
## target (a short run of them is part of `make test`)
fuzz:
	$(CARGO) run --release -p stress --bin fuzz -- --seconds $(FUZZ_SECONDS)

## play-tombola: a lock-step server on 127.0.0.1:8000 for two players
## (REPLY_TIMEOUT_MS=60000 for players typing with nc)
play-tombola:
	$(CARGO) run --release -p games --bin tombola-server -- --addr 127.0.0.1:8000 --players 2 --reply-timeout-ms $(REPLY_TIMEOUT_MS) --verbose

## play-live: a live tombola server (numbers 127.0.0.1:2004, claims 127.0.0.1:2005)
play-live:
	$(CARGO) run --release -p games --bin tombola-live-server -- --interval-ms 1000 --pause-ms 20000 --verbose

## play-chat: a chat room on 127.0.0.1:2006 (CHAT_ADDR), beside play-live
play-chat:
	$(CARGO) run --release -p games --bin chat-server -- --addr $(CHAT_ADDR) --log

clean:
	$(CARGO) clean
