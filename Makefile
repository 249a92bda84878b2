# kdumpkit build and test entry points. See README.md.

GO          ?= go
BIN         := bin
CMDS        := vmcore makedumpfile
STATICCHECK := $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
# Where downloads and the real-kernel corpus are cached (outside the tree).
export KDUMPKIT_CACHE ?= /var/cache/kdumpkit
FUZZTIME    ?= 10m

.PHONY: all build test unit lint corpus interop fuzz bench e2e demo clean

all: build

build:
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o $(BIN)/ $(addprefix ./cmd/,$(CMDS))

# test: everything CI runs: static checks, unit tests under the race
# detector, then the tests on the real-kernel corpus and the interop tests
# against the C makedumpfile and libkdumpfile (they build the corpus if it
# is missing).
test: lint unit interop

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

unit:
	$(GO) test -race -short ./...

corpus:
	$(GO) run ./internal/cmd/mkcorpus

interop: corpus
	$(GO) test -count=1 -run 'Corpus|Interop' ./...

# fuzz: run every fuzz target for FUZZTIME each (default 10m).
fuzz:
	scripts/fuzz-all.sh $(FUZZTIME)

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

e2e:
	@echo "make e2e: the QEMU panic-capture harness is not built yet (issue 8)"; exit 1

# demo: the main job on a built-in default. Until the capture demo exists
# it builds the real-kernel corpus and inspects and verifies its dumps.
demo: build corpus
	scripts/demo.sh

clean:
	rm -rf $(BIN)
