# kdumpkit build and test entry points. See README.md.

GO          ?= go
BIN         := bin
CMDS        := vmcore makedumpfile kdumpctl capture-init
STATICCHECK := $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
# Where downloads and the real-kernel corpus are cached (outside the tree).
export KDUMPKIT_CACHE ?= /var/cache/kdumpkit
FUZZTIME    ?= 10m

.PHONY: install all build test unit lint corpus interop fuzz bench e2e e2e-min-crashkernel demo clean

all: build

build:
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o $(BIN)/ $(addprefix ./cmd/,$(CMDS))

# test: everything CI runs: static checks, unit tests under the race
# detector, the tests on the real-kernel corpus and the interop tests
# against the C makedumpfile and libkdumpfile (they build the corpus if it
# is missing), then the end-to-end panics in QEMU.
test: lint unit interop e2e

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

# bench: the Go benchmarks, then scripts/bench.sh: our makedumpfile
# against the C tool on the 4 GiB corpus (markdown tables; BENCH_QUICK=1
# skips -d 0 -c, BENCH_RUNS sets the runs per tool).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
	scripts/bench.sh

# e2e: real panics in QEMU captured by capture-init and read back by crash,
# drgn and makedumpfile (test/e2e, docs/e2e.md). E2E_* narrow the matrix.
E2E_KERNELS ?= 6.1,6.12
E2E_TARGETS ?= local,ssh,nfs
E2E_MEM     ?= 1024,2048
e2e:
	KDUMPKIT_E2E=1 KDUMPKIT_E2E_KERNELS=$(E2E_KERNELS) KDUMPKIT_E2E_TARGETS=$(E2E_TARGETS) KDUMPKIT_E2E_MEM=$(E2E_MEM) \
		$(GO) test -count=1 -timeout 120m -v -run 'TestQEMU' ./test/e2e/

# e2e-min-crashkernel: bisect the smallest working crashkernel= (2 GiB guest).
e2e-min-crashkernel:
	$(GO) run ./test/e2e/e2erun -min-crashkernel -kernel $(E2E_KERNELS) -target $(E2E_TARGETS) -mem 2048

# demo: the main job on a built-in default: a real kernel panics in QEMU,
# kdumpctl-loaded capture-init saves the dump, crash reads it back
# (scripts/demo.sh, docs/e2e.md).
demo: build
	scripts/demo.sh

# install: the host side (kdumpctl, the service files, a default
# /etc/kdump.conf if there is none) and the static capture-init that
# kdumpctl puts into the capture initramfs.
PREFIX      ?= /usr
install: build
	install -D -m 0755 $(BIN)/kdumpctl $(DESTDIR)$(PREFIX)/sbin/kdumpctl
	install -D -m 0755 $(BIN)/capture-init $(DESTDIR)$(PREFIX)/lib/kdumpkit/capture-init
	install -D -m 0755 $(BIN)/makedumpfile $(DESTDIR)$(PREFIX)/bin/makedumpfile
	install -D -m 0755 $(BIN)/vmcore $(DESTDIR)$(PREFIX)/bin/vmcore
	install -D -m 0644 dist/kdump.service $(DESTDIR)$(PREFIX)/lib/systemd/system/kdump.service
	install -D -m 0755 dist/kdump.openrc $(DESTDIR)/etc/init.d/kdump
	install -D -m 0644 docs/kdumpctl.md $(DESTDIR)$(PREFIX)/share/doc/kdumpkit/kdumpctl.md
	test -e $(DESTDIR)/etc/kdump.conf || install -D -m 0644 kdump.conf.example $(DESTDIR)/etc/kdump.conf
	install -d -m 0755 $(DESTDIR)/var/lib/kdump

clean:
	rm -rf $(BIN)
