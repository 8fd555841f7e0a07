# The verbs a person types. Everything builds what it needs first, so each
# works on a fresh clone with only the Rust toolchain installed.

SEEDS ?= 200
CARGO ?= cargo
# play-tombola: how long a player may take to answer a draw. Typing answers
# by hand with nc takes a while: `make play-tombola REPLY_TIMEOUT_MS=60000`.
REPLY_TIMEOUT_MS ?= 5000
# play-chat: where the chat room listens. Not the binaries' default 2004,
# so that play-live (2004 and 2005) and play-chat run side by side.
CHAT_ADDR ?= 127.0.0.1:2006

.PHONY: sim test build lint bench play-tombola play-live play-chat clean

## sim: sweep every built-in scenario over $(SEEDS) seeds (release build)
sim:
	$(CARGO) run --release -p sim -- sweep all --seeds $(SEEDS)

## test: build everything (the binary tests run the built binaries), then
## run every test (what CI runs). One build of all targets, so dependency
## features are resolved once and nothing is compiled twice.
test:
	$(CARGO) build --workspace --all-targets
	$(CARGO) test --workspace --all-targets --no-fail-fast

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
