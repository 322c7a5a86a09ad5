package lambdafn_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/aggregate"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/copyfile"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/lambdafn"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/parseevent"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/reconcile"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/requeststatus"
)

// Each function's constructor builds its aws-lambda-go handler once, and
// every invocation reuses it (lambda.Start builds its handler once per
// process; Invoke used to build one by reflection per invocation). Two
// checks: the builds Invoker counts, and the allocations of an invocation,
// which a handler built anew at each one (by any means) raises by the
// allocations of a build.
func TestEveryFunctionBuildsItsLambdaHandlerOnce(t *testing.T) {
	s3Event := `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectRestore:Completed","s3":{"bucket":{"name":"restore"},"object":{"key":"a+b.txt","size":3}}}]}`
	for _, tc := range []struct {
		name   string
		new    lambdafn.Constructor[lambda.Handler]
		handle func(lambda.Handler) any // the handler's Handle
		env    map[string]string
		// payload is invoked three times; want is in each answer, or in
		// the error when the payload is refused.
		payload, want string
	}{
		{"parse-event", lambdafn.Any(parseevent.NewHandlerFromEnv),
			func(h lambda.Handler) any { return h.(*parseevent.ParseHandler).Handle }, nil, s3Event, `"a b.txt"`},
		{"copy-file", lambdafn.Any(copyfile.NewHandlerFromEnv),
			func(h lambda.Handler) any { return h.(*copyfile.CopyHandler).Handle }, nil, `{"source_bucket":"","source_key":"k","target_bucket":"archive"}`, "source_bucket is empty"},
		{"aggregate", lambdafn.Any(aggregate.NewHandlerFromEnv),
			func(h lambda.Handler) any { return h.(*aggregate.AggregateHandler).Handle }, nil, `{"iterations":[]}`, `[]`},
		{"request-status", lambdafn.Any(requeststatus.NewHandlerFromEnv),
			func(h lambda.Handler) any { return h.(*requeststatus.StatusHandler).Handle },
			map[string]string{requeststatus.EnvDatabaseURL: "postgres://u@127.0.0.1:1/db"}, `{`, "unexpected EOF"},
		{"reconcile", lambdafn.Any(reconcile.NewHandlerFromEnv),
			func(h lambda.Handler) any { return h.(*reconcile.Handler).Handle },
			map[string]string{requeststatus.EnvDatabaseURL: "postgres://u@127.0.0.1:1/db", reconcile.EnvStateMachineARN: "arn:aws:states:us-east-1:123456789012:stateMachine:copy"},
			`{`, "unexpected EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			built := lambdafn.CountHandlerBuilds(t)
			getenv := func(k string) string { return tc.env[k] }
			h, _, err := lambdafn.Build(context.Background(), tc.new, getenv, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if c, ok := h.(interface{ Close() }); ok {
				t.Cleanup(c.Close)
			}
			if n := built.Load(); n != 1 {
				t.Fatalf("the constructor built %d aws-lambda-go handlers, want 1", n)
			}
			for i := range 3 {
				out, err := h.Invoke(context.Background(), []byte(tc.payload))
				got := string(out)
				if err != nil {
					got = err.Error()
				}
				if !strings.Contains(got, tc.want) {
					t.Fatalf("invocation %d answered %q (error %v), want %q in it", i+1, out, err, tc.want)
				}
			}
			if n := built.Load(); n != 1 {
				t.Errorf("after three invocations %d aws-lambda-go handlers were built, want 1", n)
			}

			ctx, payload := context.Background(), []byte(tc.payload)
			prebuilt := lambda.NewHandler(tc.handle(h))
			build := testing.AllocsPerRun(50, func() { lambda.NewHandler(tc.handle(h)) })
			reused := testing.AllocsPerRun(50, func() { _, _ = prebuilt.Invoke(ctx, payload) })
			invoke := testing.AllocsPerRun(50, func() { _, _ = h.Invoke(ctx, payload) })
			if invoke-reused >= build {
				t.Errorf("an invocation allocates %.0f times, a prebuilt aws-lambda-go handler's %.0f: %.0f more, "+
					"as many as building one (%.0f); is the handler built per invocation?", invoke, reused, invoke-reused, build)
			}
		})
	}
}

// A handler built without its constructor (a struct literal) builds its
// aws-lambda-go handler at the first invocation, once.
func TestInvokerBuildsAtFirstInvocation(t *testing.T) {
	built := lambdafn.CountHandlerBuilds(t)
	h := &parseevent.ParseHandler{}
	for range 3 {
		if _, err := h.Invoke(context.Background(), []byte(`{"Records":[]}`)); err == nil {
			t.Fatal("an event without records was accepted")
		}
	}
	if n := built.Load(); n != 1 {
		t.Errorf("%d aws-lambda-go handlers built for three invocations, want 1", n)
	}
}

// An answer stays what it was when the next invocation is served:
// aws-lambda-go writes each answer into a pooled buffer, which a reused
// handler hands to its next invocation.
func TestInvokerAnswersAreTheCallersOwn(t *testing.T) {
	var inv lambdafn.Invoker
	echo := func(_ context.Context, in map[string]string) (map[string]string, error) { return in, nil }
	first, err := inv.Invoke(context.Background(), echo, []byte(`{"a":"first"}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inv.Invoke(context.Background(), echo, []byte(`{"b":"second"}`)); err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := json.Unmarshal(first, &got); err != nil || got["a"] != "first" {
		t.Errorf("the first answer became %q after the second invocation", first)
	}
}

// Invocations served at once by one handler (the local Invoke API does
// this) each get their own answer. At most one aws-lambda-go handler is
// built per invocation in flight, not one per invocation.
func TestInvokerServesConcurrentInvocations(t *testing.T) {
	built := lambdafn.CountHandlerBuilds(t)
	var inv lambdafn.Invoker
	echo := func(_ context.Context, in map[string]int) (map[string]int, error) { return in, nil }
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				out, err := inv.Invoke(context.Background(), echo, []byte(fmt.Sprintf(`{"g":%d,"i":%d}`, g, i)))
				if err != nil {
					errs <- err
					return
				}
				runtime.Gosched() // let another invocation reuse the buffer
				var got map[string]int
				if err := json.Unmarshal(out, &got); err != nil || got["g"] != g || got["i"] != i {
					errs <- fmt.Errorf("invocation %d of goroutine %d answered %q", i, g, out)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := built.Load(); n < 1 || n > 8 {
		t.Errorf("%d aws-lambda-go handlers built for 400 invocations, 8 at a time; want 1 to 8", n)
	}
}
