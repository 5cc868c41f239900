# supcon: supervised contrastive learning for Cassava leaf disease, in Go (GoMLX).
# `make test` is what CI runs (.ci/run); longer checks live behind `make test-long`.

GO ?= go
PKGS := ./...

.PHONY: test test-long lint bench

test: lint
	$(GO) test -short -count=1 -timeout 14m $(PKGS)

# Slower checks (bigger models, more gradient probes): not part of CI's default run.
test-long:
	$(GO) test -count=1 -timeout 60m $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 3x -timeout 60m $(PKGS)
