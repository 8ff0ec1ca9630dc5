# edgecache — build, test and measure. `make test` is the one test command
# (the README's and CI's); it installs what it needs.

GO          ?= go
GOBIN       := $(shell $(GO) env GOPATH)/bin
STATICCHECK := $(GOBIN)/staticcheck
FUZZTIME    ?= 10s
IMAGE       ?= edgecache:dev

.PHONY: build test check unit fuzz bench image clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o edgecache .

# Everything CI checks: formatting, vet, staticcheck, the race-enabled
# suite, and a short run of every fuzz target.
test: check unit fuzz

check: $(STATICCHECK)
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

unit:
	$(GO) test -race -count=1 ./...

# Each fuzz target briefly (FUZZTIME each); run longer by hand, e.g.
# `make fuzz FUZZTIME=5m`. Crashers land in <pkg>/testdata/fuzz and are
# then replayed by every `go test`.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | cut -c6-); do \
	    echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg >/dev/null || \
	      { $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; exit 1; }; \
	  done; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchtime 1s ./...

image:
	docker build -t $(IMAGE) .

$(STATICCHECK):
	$(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2

clean:
	rm -f edgecache
