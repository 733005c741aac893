# The README's two commands are `make run` and `make test`; both install what is missing first.
SHELL := /bin/bash

.PHONY: run test faults bootstrap build compose-check clean proof-of-load bench

run: bootstrap
	scripts/run.sh

# compose-check first: CI runs `make test` only, and the compose file must stay valid.
test: bootstrap compose-check
	scripts/test.sh

faults: bootstrap
	scripts/faults.sh

bootstrap:
	scripts/bootstrap.sh

build: bootstrap
	swift build

compose-check: bootstrap
	docker-compose -f docker-compose.yml config -q

clean:
	rm -rf .build .data

proof-of-load: bootstrap
	scripts/proof-of-load.sh

bench:
	scripts/bootstrap.sh --bench
	scripts/bench.sh
