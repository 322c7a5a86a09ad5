# The two commands a new machine needs: `make demo` runs the workflow locally
# on embedded S3 and Postgres; `make test` runs every check CI runs.
# Needs Go, Node >= 20 with npm, and (for the tests) a Postgres server and
# Python 3 with moto 5.2.1 and cfn-lint (tests needing them skip without them,
# and fail under CI=true).

export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

# Database tests use their own schema in this database; they skip (fail under
# CI=true) when it is unset.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test?sslmode=disable
export TEST_DATABASE_URL

# The fuzz targets run a count of inputs, not a time: with a time, Go 1.26's
# fuzz coordinator can fail a clean run with a bare "context deadline
# exceeded" when a loaded machine's worker misses the deadline
# (https://go.dev/issue/75804, fixed in Go 1.27; no crasher is written).
# 200,000 inputs is about the 20 s this ran before on 2 cores.
FUZZTIME ?= 200000x
GO_TEST_FLAGS ?= -count=1 -timeout 40m

.PHONY: demo test race check bench bench-load bench-figure lambdas synth clean

## demo: run the sample restore event through the real workflow, locally.
demo: node_modules
	go run ./cmd/local demo

## test: formatting, vet, every test (unit, Postgres, S3, engine, CDK, cfn-lint), the
## concurrent code's unit tests again under the race detector, the end-to-end
## scenarios again on the moto engine, the copy integration tests again on moto's
## S3, then a short fuzz run.
test: check node_modules
	go test $(GO_TEST_FLAGS) ./...
	$(MAKE) --no-print-directory race
	LOCAL_E2E_ENGINE=moto go test $(GO_TEST_FLAGS) -run '^TestScenario' ./internal/localrun
	S3_TEST_BACKEND=moto go test $(GO_TEST_FLAGS) ./shared/copyfile
	go test -run '^$$' -fuzz '^FuzzParseEvent$$' -fuzztime $(FUZZTIME) ./shared/parseevent
	go test -run '^$$' -fuzz '^FuzzEncodeKey$$' -fuzztime $(FUZZTIME) ./shared/parseevent
	go test -run '^$$' -fuzz '^FuzzNotificationEventRoundTrip$$' -fuzztime $(FUZZTIME) ./shared/parseevent

## race: the unit tests of the code that runs goroutines (copyfile's window and
## part copies on the in-memory S3, requeststatus's lazy pool, childproc,
## invokeapi, lambdafn's Invoker) under the race detector; about half a minute once the race build is
## cached.
RACE_COPYFILE_TESTS = ^(TestWindowAIMD|TestPartSlowDownRetriedByTheCopier|TestMultipartBacksOffUnderSlowDown|TestCopyMultipart|TestCopyMultipartFailureAborts|TestCopyPausesThenResumes|TestCopyKeepsTimeToFinish|TestMultipartCopyLogsProgress)$$
race:
	go test -count=1 -race -run '$(RACE_COPYFILE_TESTS)' ./shared/copyfile
	go test -count=1 -race -run '^TestLazyPool' -skip 'OnPostgres|OnMoto' ./shared/requeststatus
	go test -count=1 -race ./internal/childproc ./internal/invokeapi
	go test -count=1 -race -run '^TestInvoker' ./shared/lambdafn

## check: gofmt and go vet.
check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	go vet ./...

## bench: the benchmarks (parsing, one file's copy path, multipart throughput on the
## local server and on the model of S3 against boto3; about 25 minutes).
bench: node_modules
	go test -run '^$$' -bench . -benchmem -timeout 60m ./shared/...

## bench-load: the mass-recovery scenarios sized up five times (1,000-event burst,
## 200 saturating copies, an outage in a 500-event burst; about 5 minutes on 2 cores, the saturation alone 3).
bench-load: node_modules
	LOAD_SCALE=5 go test -count=1 -v -timeout 30m -run '^TestLoad(Burst|Saturation|DatabaseOutage)$$' ./internal/localrun

## bench-figure: issue 24's cost figure: 10,000 one-file events of small objects at 20 a
## second on the S3 model through the intake (queue, Pipe, one execution per batch);
## $ per million files with its items, transitions and StartExecution per file (about 10 minutes).
bench-figure: node_modules
	LOAD_FIGURE=1 go test -count=1 -v -timeout 40m -run '^TestLoadFigure$$' ./internal/localrun

## lambdas: build the Lambda binaries as deployed (linux/arm64, stripped) into bin/.
lambdas:
	@for f in functions/*/; do \
		n=$$(basename $$f); \
		GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc -trimpath -ldflags '-s -w' -o bin/$$n/bootstrap ./$$f || exit 1; \
		printf '%-16s %s bytes\n' $$n $$(stat -c %s bin/$$n/bootstrap); \
	done

## synth: synthesize the CloudFormation template offline (no AWS account needed).
RESTORE_BUCKETS ?= my-dr-fake-glacier-bucket
ARCHIVE_BUCKETS ?= my-dr-archive-bucket
synth: node_modules
	npx cdk synth -c restoreBuckets=$(RESTORE_BUCKETS) -c archiveBuckets=$(ARCHIVE_BUCKETS) > /dev/null
	@echo "synthesized into cdk.out/ (restore buckets: $(RESTORE_BUCKETS); archive buckets: $(ARCHIVE_BUCKETS))"

node_modules: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch node_modules

clean:
	rm -rf bin cdk.out .local
