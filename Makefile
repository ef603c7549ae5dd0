# The two commands of the README. Each installs what it needs first (scripts/bootstrap.sh).
.PHONY: dev test fuzz bench
dev:  ## build and run Aura locally (wrangler dev on 127.0.0.1, demo page)
	@scripts/dev.sh
test: ## every check and test
	@scripts/test.sh
fuzz: ## not part of `make test`: 60 s of libFuzzer on the protocol parsers (installs cargo-fuzz)
	@command -v cargo-fuzz >/dev/null || cargo install --quiet cargo-fuzz
	@cd protocol/fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run parse -- -max_total_time=$${FUZZ_SECONDS:-60}
bench: ## not part of `make test`: every benchmark, one JSON line each
	@scripts/bench.sh
