# voepy: the two commands of the README, and their parts.
#   make up      install what is missing, build, run the whole platform on this machine
#   make down    stop it (data is kept under $(VOEPY_DATA_DIR), default .voepy/)
#   make check   install, build (plain and ASan+UBSan), run every test
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD ?= build
ASAN_BUILD ?= build-asan

.PHONY: all deps build build-asan up down check unit integration format format-check clean

all: build

deps:
	@deploy/local/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

build-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DVOEPY_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j$(JOBS)

up: build
	@deploy/local/up.sh

down:
	@deploy/local/down.sh

check:
	@tests/check.sh

unit: build
	@tests/with-services.sh ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS)

integration: build
	@VOEPY_BUILD_DIR=$(BUILD) tests/integration/run.sh

# GET /v1/calls/{id} on a Release gateway against nginx, in one run (tests/bench/api).
.PHONY: bench-api
bench-api: deps
	@tests/bench/api/run.sh

# Signed webhook deliveries/s into nginx vs nginx's wrk ceiling, in one run (tests/bench/webhooks).
.PHONY: bench-webhooks
bench-webhooks: deps
	@tests/bench/webhooks/run.sh

# Rated calls/s into the ledger by voepy-rating vs pgbench (rating_apply per call), in one run (tests/bench/rating).
.PHONY: bench-rating
bench-rating: deps
	@tests/bench/rating/run.sh

# Call setup rate through a voepy relay number vs Kamailio vs SIPp direct, in one run (tests/bench/sip).
.PHONY: bench-sip
bench-sip: deps
	@tests/bench/sip/run.sh

# Bridged G.711 calls through media-fork vs rtpengine in userspace, in one run (tests/bench/media).
.PHONY: bench-media
bench-media: deps
	@tests/bench/media/run.sh

format:
	@git ls-files '*.c' '*.h' | xargs clang-format -i

format-check:
	@git ls-files '*.c' '*.h' | xargs clang-format --dry-run -Werror

clean:
	@rm -rf $(BUILD) $(ASAN_BUILD)
