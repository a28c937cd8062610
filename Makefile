# mqcheck — see README.md. Every target works on a fresh machine with Go.
GO       ?= go
BIN      := bin/mqcheck
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
SCENARIO ?= quickstart

.PHONY: build run test bench bench-doc lint fuzz screenshot clean nats-server

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/mqcheck

## run: the default scenario on an embedded broker, no setup needed
run: build
	./$(BIN) run $(SCENARIO)

## test: every test, with the race detector (integration and broker tests
## included; MQCHECK_SKIP_BROKERS=rabbitmq skips those of a broker this
## machine lacks)
## The longest packages are named first: go test starts packages in the
## order given (two at a time on two cores), and the longest first packs
## them best (cmd/mqcheck alone takes most of the time). The timeout
## catches a hang, not a slow run: cmd/mqcheck took 590 s alone on a calm
## machine and 742 to 903 s in full CI runs on a loaded host, where 16m
## (960 s) was too close; so it has 20m.
SLOW_PKGS := ./cmd/mqcheck/ ./runner/ ./broker/rabbitmq/ ./cmd/mqcheck/containertest/ ./broker/mqtt/
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m $(SLOW_PKGS) ./...

## bench: throughput and memory figures (ratios are printed, not asserted)
bench:
	$(GO) test -run '^$$' -bench 'Ingest|Finalize|MergeWorkers' -benchtime=1x -benchmem ./checker/
	$(GO) test -run '^$$' -bench . -benchmem ./message/
	$(GO) test -run '^$$' -bench PublishConsume -benchmem ./broker/memory/
	$(GO) test -run '^$$' -bench 'PacedScale|ClosedLoopRSS' -benchtime=1x ./swarm/
	$(GO) test -run '^$$' -bench Processing -benchtime=1x ./processing/
	$(GO) test -run '^$$' -bench 'SwarmVsBare|OutOfProcess' -benchtime=1x ./broker/kafka/
	$(GO) test -run '^$$' -bench Relay -benchtime=1x ./broker/kafka/
	$(GO) test -run '^$$' -bench SwarmVsBare -benchtime=1x ./broker/rabbitmq/
	$(GO) test -run '^$$' -bench SwarmVsBare -benchtime=1x ./broker/sqs/
	$(GO) test -run '^$$' -bench SwarmVsBare -benchtime=1x ./broker/nats/
	$(GO) test -run '^$$' -bench SwarmVsBare -benchtime=1x ./broker/redis/
	$(GO) test -run '^$$' -bench SwarmVsBare -benchtime=1x ./broker/mqtt/
	$(GO) test -run '^$$' -bench Fleet -benchtime=1x -timeout 30m ./broker/mqtt/

## bench-doc: BENCHMARKS.md again, from the swarm's and the codec's benchmarks
## (about two minutes) and the drivers' ratios against their bare clients
## (20-30 minutes more; BENCH_DOC_BROKERS=0 skips them), on this machine
bench-doc:
	scripts/bench-doc.sh

## nats-server: the nats-server of go.mod (the one embedded), built from
## the module cache into the user cache dir, where the nats exec target
## looks first (Debian's 2.9.10 has no sync_interval)
NATS_VERSION = $(patsubst v%,%,$(shell $(GO) list -m -f '{{.Version}}' github.com/nats-io/nats-server/v2))
NATS_SERVER  = $${XDG_CACHE_HOME:-$$HOME/.cache}/mqcheck/nats-server-$(NATS_VERSION)
nats-server:
	$(GO) build -o $(NATS_SERVER) github.com/nats-io/nats-server/v2
	$(NATS_SERVER) --version

## lint: gofmt, go vet, staticcheck, and the command builds for macOS
lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
	GOOS=darwin GOARCH=arm64 $(GO) build -o /dev/null ./cmd/mqcheck

## fuzz: run each fuzz target for a while (FUZZTIME=30s)
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./message/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeText$$' -fuzztime $(FUZZTIME) ./message/
	$(GO) test -run '^$$' -fuzz '^FuzzSeqSet$$' -fuzztime $(FUZZTIME) ./checker/
	$(GO) test -run '^$$' -fuzz '^FuzzSeqSetUnmarshal$$' -fuzztime $(FUZZTIME) ./checker/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./scenarios/
	$(GO) test -run '^$$' -fuzz '^FuzzParseDuration$$' -fuzztime $(FUZZTIME) ./units/
	$(GO) test -run '^$$' -fuzz '^FuzzParseSize$$' -fuzztime $(FUZZTIME) ./units/
	$(GO) test -run '^$$' -fuzz '^FuzzParseRate$$' -fuzztime $(FUZZTIME) ./units/
	$(GO) test -run '^$$' -fuzz '^FuzzParseThreshold$$' -fuzztime $(FUZZTIME) ./report/threshold/
	$(GO) test -run '^$$' -fuzz '^FuzzRequestFrames$$' -fuzztime $(FUZZTIME) ./broker/kafka/
	$(GO) test -run '^$$' -fuzz '^FuzzPosition$$' -fuzztime $(FUZZTIME) ./broker/redis/
	$(GO) test -run '^$$' -fuzz '^FuzzCheckURL$$' -fuzztime $(FUZZTIME) ./broker/redis/
	$(GO) test -run '^$$' -fuzz '^FuzzCheckSave$$' -fuzztime $(FUZZTIME) ./broker/redis/
	$(GO) test -run '^$$' -fuzz '^FuzzRedactServers$$' -fuzztime $(FUZZTIME) ./broker/nats/
	$(GO) test -run '^$$' -fuzz '^FuzzWorkerFlag$$' -fuzztime $(FUZZTIME) ./cmd/mqcheck/
	$(GO) test -run '^$$' -fuzz '^FuzzParseEffect$$' -fuzztime $(FUZZTIME) ./processing/

## screenshot: docs/report.png from a real run of the quickstart (needs chromium)
screenshot:
	scripts/screenshot.sh

clean:
	rm -rf bin runs
