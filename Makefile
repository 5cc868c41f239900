# supcon: supervised contrastive learning for Cassava leaf disease, in Go (GoMLX).
# `make test` is what CI runs (.ci/run): every test, including the full-size B3 torchvision parity
# and the torchvision peer check (about 20 s of tests on 2 cores). `make test-short` skips those two.

GO ?= go
PKGS := ./...

.PHONY: test test-short lint bench

test: lint
	$(GO) test -count=1 -timeout 14m $(PKGS)

test-short:
	$(GO) test -short -count=1 -timeout 14m $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

# Benchmarks: graph ops, losses and a B3 train step on SimpleGo; the input pipeline at 512x512 next to
# torchvision and djpeg (on ../shared/data/cassava-sample when present, else synthetic JPEGs).
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 3x -timeout 60m $(PKGS)
