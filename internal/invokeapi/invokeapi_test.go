package invokeapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/google/go-cmp/cmp"
)

type NamedError struct{ msg string }

func (e *NamedError) Error() string { return e.msg }

func report(err error) (string, string) {
	var ne *NamedError
	if errors.As(err, &ne) {
		return "NamedError", err.Error()
	}
	return "errorString", err.Error()
}

func TestServeHTTP(t *testing.T) {
	echo := lambda.NewHandler(func(ctx context.Context, in map[string]string) (map[string]string, error) {
		switch in["fail"] {
		case "named":
			return nil, &NamedError{msg: "it failed"}
		case "panic":
			panic("boom")
		}
		return map[string]string{"echo": in["say"]}, nil
	})
	srv, err := Start([]Function{{Name: "echo", Handler: echo}}, report)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	type answer struct {
		Status        int
		FunctionError string
		Body          string
	}
	tests := []struct {
		name     string
		function string
		payload  string
		want     answer
	}{
		{"by name", "echo", `{"say":"hi"}`, answer{200, "", `{"echo":"hi"}`}},
		{"by ARN", "arn:aws:lambda:us-east-1:123456789012:function:echo", `{"say":"arn"}`, answer{200, "", `{"echo":"arn"}`}},
		{"by qualified ARN", "arn:aws:lambda:us-east-1:123456789012:function:echo:$LATEST", `{"say":"q"}`, answer{200, "", `{"echo":"q"}`}},
		{"handler error", "echo", `{"fail":"named"}`,
			answer{200, "Unhandled", `{"errorType":"NamedError","errorMessage":"it failed"}`}},
		{"handler panic", "echo", `{"fail":"panic"}`,
			answer{200, "Unhandled", `{"errorType":"string","errorMessage":"boom"}`}},
		{"bad payload", "echo", `[1]`, answer{200, "Unhandled", ""}},
		{"unknown function", "nope", `{}`, answer{404, "", ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Post(srv.URL+"/2015-03-31/functions/"+url.PathEscape(tc.function)+"/invocations",
				"application/json", strings.NewReader(tc.payload))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			got := answer{resp.StatusCode, resp.Header.Get("X-Amz-Function-Error"), string(body)}
			if tc.want.Body == "" { // only status and header matter
				got.Body = ""
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
		})
	}
	if got := srv.Calls("echo"); got != 6 {
		t.Errorf("Calls(echo) = %d, want 6", got)
	}
}

func TestFunctionName(t *testing.T) {
	for in, want := range map[string]string{
		"copy-file":                       "copy-file",
		"copy-file:live":                  "copy-file",
		"123456789012:function:copy-file": "copy-file",
		"arn:aws:lambda:us-east-1:123456789012:function:copy-file":   "copy-file",
		"arn:aws:lambda:us-east-1:123456789012:function:copy-file:7": "copy-file",
	} {
		if got := FunctionName(in); got != want {
			t.Errorf("FunctionName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestInvocationDeadline(t *testing.T) {
	deadline := lambda.NewHandler(func(ctx context.Context) (map[string]any, error) {
		d, ok := ctx.Deadline()
		return map[string]any{"has_deadline": ok, "within": ok && time.Until(d) <= 30*time.Second && time.Until(d) > 25*time.Second}, nil
	})
	srv, err := Start([]Function{
		{Name: "timed", Handler: deadline, Timeout: 30 * time.Second},
		{Name: "untimed", Handler: deadline},
	}, report)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for name, want := range map[string]string{
		"timed":   `{"has_deadline":true,"within":true}`,
		"untimed": `{"has_deadline":false,"within":false}`,
	} {
		resp, err := http.Post(srv.URL+"/2015-03-31/functions/"+name+"/invocations", "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != want {
			t.Errorf("%s: %s, want %s", name, body, want)
		}
	}
}

func TestThrottleFirst(t *testing.T) {
	// GIVEN a function whose first 2 invocations are throttled
	ran := 0
	counter := lambda.NewHandler(func(ctx context.Context) (map[string]int, error) {
		ran++
		return map[string]int{"ran": ran}, nil
	})
	srv, err := Start([]Function{{Name: "busy", Handler: counter, ThrottleFirst: 2}}, report)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	// WHEN it is invoked 3 times
	type answer struct {
		Status    int
		ErrorType string
		Body      string
	}
	var got []answer
	for range 3 {
		resp, err := http.Post(srv.URL+"/2015-03-31/functions/busy/invocations", "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got = append(got, answer{resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), string(body)})
	}

	// THEN the first two are Lambda's 429 TooManyRequestsException and the
	// handler runs only for the third
	throttled := answer{429, "TooManyRequestsException",
		`{"Reason":"ReservedFunctionConcurrentInvocationLimitExceeded","Type":"User","message":"Rate Exceeded.","retryAfterSeconds":"1"}`}
	want := []answer{throttled, throttled, {200, "", `{"ran":1}`}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
	if srv.Throttled("busy") != 2 || srv.Calls("busy") != 1 {
		t.Errorf("Throttled = %d, Calls = %d; want 2 and 1", srv.Throttled("busy"), srv.Calls("busy"))
	}
}

// closableHandler counts the invocations its environment serves at once.
type closableHandler struct {
	release <-chan struct{}
	busy    *int32
	overlap *int32
	closed  *int32
}

func (h *closableHandler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	if atomic.AddInt32(h.busy, 1) > 1 {
		atomic.AddInt32(h.overlap, 1)
	}
	defer atomic.AddInt32(h.busy, -1)
	<-h.release
	return []byte(`{}`), nil
}

func (h *closableHandler) Close() { atomic.AddInt32(h.closed, 1) }

// invokeAsync invokes function and sends the answer's status and
// X-Amzn-ErrorType / Reason on the channel.
func invokeAsync(t *testing.T, srv *Server, function string, out chan<- string) {
	go func() {
		resp, err := http.Post(srv.URL+"/2015-03-31/functions/"+function+"/invocations", "application/json", strings.NewReader(`{}`))
		if err != nil {
			out <- err.Error()
			return
		}
		defer resp.Body.Close()
		var body struct{ Reason string }
		_ = json.NewDecoder(resp.Body).Decode(&body)
		out <- fmt.Sprintf("%d %s %s", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), body.Reason)
	}()
}

// waitInFlight waits until n invocations are running.
func waitInFlight(t *testing.T, srv *Server, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(srv.InFlight()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d invocations in flight, want %d", len(srv.InFlight()), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAccountConcurrencyAndEnvironments(t *testing.T) {
	release := make(chan struct{})
	var overlap, closed, built int32
	newEnv := func(context.Context) (lambda.Handler, error) {
		atomic.AddInt32(&built, 1)
		return &closableHandler{release: release, busy: new(int32), overlap: &overlap, closed: &closed}, nil
	}
	srv, err := StartAccount(Account{Concurrency: 3}, []Function{
		{Name: "copy", NewEnvironment: newEnv},
		{Name: "status", NewEnvironment: newEnv, ReservedConcurrency: 1, ColdStart: 30 * time.Millisecond},
	}, report)
	if err != nil {
		t.Fatal(err)
	}
	answers := make(chan string, 10)
	// The unreserved share is 3 - 1 = 2: two copies run, the third is refused.
	invokeAsync(t, srv, "copy", answers)
	invokeAsync(t, srv, "copy", answers)
	waitInFlight(t, srv, 2)
	invokeAsync(t, srv, "copy", answers)
	if got, want := <-answers, "429 TooManyRequestsException ConcurrentInvocationLimitExceeded"; got != want {
		t.Errorf("third copy: %q, want %q", got, want)
	}
	// The reserved function draws on its own share: one runs, the next is refused.
	invokeAsync(t, srv, "status", answers)
	waitInFlight(t, srv, 3)
	invokeAsync(t, srv, "status", answers)
	if got, want := <-answers, "429 TooManyRequestsException ReservedFunctionConcurrentInvocationLimitExceeded"; got != want {
		t.Errorf("second status: %q, want %q", got, want)
	}
	close(release) // everything in flight finishes
	for i := 0; i < 3; i++ {
		if got := <-answers; got != "200  " {
			t.Errorf("admitted invocation: %q, want 200", got)
		}
	}
	// Environments are reused: two more copies one after the other need no new one.
	for i := 0; i < 2; i++ {
		invokeAsync(t, srv, "copy", answers)
		if got := <-answers; got != "200  " {
			t.Errorf("later copy: %q, want 200", got)
		}
	}
	if billed := srv.Stats("status").Billed; billed < 30*time.Millisecond {
		t.Errorf("status billed %s, want at least its 30 ms cold start", billed)
	}
	got := map[string]Stats{"copy": srv.Stats("copy"), "status": srv.Stats("status")}
	for name := range got {
		s := got[name]
		s.Billed = 0
		got[name] = s
	}
	want := map[string]Stats{
		"copy":   {Calls: 4, Throttled: 1, Environments: 2, PeakInFlight: 2},
		"status": {Calls: 1, Throttled: 1, Environments: 1, PeakInFlight: 1},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
	if n := atomic.LoadInt32(&built); n != 3 {
		t.Errorf("%d environments built, want 3", n)
	}
	if srv.PeakInFlight() != 3 {
		t.Errorf("peak in flight %d, want 3", srv.PeakInFlight())
	}
	if n := atomic.LoadInt32(&overlap); n != 0 {
		t.Errorf("an environment served %d invocations while busy, want one at a time", n)
	}
	srv.Close()
	if n := atomic.LoadInt32(&closed); n != 3 {
		t.Errorf("%d environments closed with the server, want 3", n)
	}
}

func TestReservedBeyondAccountRefused(t *testing.T) {
	h := lambda.NewHandler(func() error { return nil })
	_, err := StartAccount(Account{Concurrency: 2}, []Function{{Name: "a", Handler: h, ReservedConcurrency: 2}}, report)
	if err == nil || !strings.Contains(err.Error(), "leaves 0 of the account's 2") {
		t.Errorf("err = %v, want the unreserved share named", err)
	}
}

// A reserved concurrency caps its function even when the account has no
// limit (Account.Concurrency 0).
func TestReservedWithoutAccountLimit(t *testing.T) {
	release := make(chan struct{})
	h := &closableHandler{release: release, busy: new(int32), overlap: new(int32), closed: new(int32)}
	srv, err := StartAccount(Account{}, []Function{{Name: "status", Handler: h, ReservedConcurrency: 1}}, report)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	answers := make(chan string, 2)
	invokeAsync(t, srv, "status", answers)
	waitInFlight(t, srv, 1)
	invokeAsync(t, srv, "status", answers)
	if got, want := <-answers, "429 TooManyRequestsException ReservedFunctionConcurrentInvocationLimitExceeded"; got != want {
		t.Errorf("second invocation: %q, want %q", got, want)
	}
	close(release)
	if got := <-answers; got != "200  " {
		t.Errorf("first invocation: %q, want 200", got)
	}
}

// A handler still running at the function's timeout is answered as Lambda
// answers it: Unhandled, errorType Sandbox.Timedout, "Task timed out after
// N.NN seconds"; so is one that returns only after the deadline (Lambda
// would have stopped it), whatever it returned. One that returns in time
// is answered with its result.
func TestFunctionTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	handler := lambda.NewHandler(func(ctx context.Context, in map[string]string) (map[string]string, error) {
		switch in["do"] {
		case "hang": // ignores its deadline
			<-release
		case "late": // notices the deadline, returns just after it
			<-ctx.Done()
			time.Sleep(10 * time.Millisecond)
			return map[string]string{"late": "yes"}, nil
		}
		return map[string]string{"ok": "yes"}, nil
	})
	srv, err := Start([]Function{{Name: "slow", Handler: handler, Timeout: 200 * time.Millisecond}}, report)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	type answer struct {
		FunctionError string
		ErrorType     string
		Message       string
	}
	timedOut := answer{"Unhandled", TimeoutErrorType, "Error: Task timed out after 0.20 seconds"}
	for do, want := range map[string]answer{"hang": timedOut, "late": timedOut, "quick": {"", "", ""}} {
		t.Run(do, func(t *testing.T) {
			resp, err := http.Post(srv.URL+"/2015-03-31/functions/slow/invocations", "application/json", strings.NewReader(`{"do":"`+do+`"}`))
			if err != nil {
				t.Fatal(err)
			}
			var body struct {
				ErrorType    string `json:"errorType"`
				ErrorMessage string `json:"errorMessage"`
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err := json.Unmarshal(raw, &body); err != nil {
				t.Fatalf("body %s: %v", raw, err)
			}
			// "RequestId: local-N Error: ...": the id varies.
			_, msg, _ := strings.Cut(body.ErrorMessage, " Error: ")
			if msg != "" {
				msg = "Error: " + msg
			}
			got := answer{resp.Header.Get("X-Amz-Function-Error"), body.ErrorType, msg}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("answer (-want +got):\n%s\nbody %s", diff, raw)
			}
			if want.ErrorType != "" && !strings.HasPrefix(body.ErrorMessage, "RequestId: local-") {
				t.Errorf("errorMessage %q does not start with the request id", body.ErrorMessage)
			}
		})
	}
}

// Two functions that run the same code (two deployments of copy-file) are
// counted together by MaxInFlightOfCode, each alone by MaxInFlight; a
// function without Code is counted under its name.
func TestMaxInFlightOfCode(t *testing.T) {
	release := make(chan struct{})
	var overlap, closed int32
	newEnv := func(context.Context) (lambda.Handler, error) {
		return &closableHandler{release: release, busy: new(int32), overlap: &overlap, closed: &closed}, nil
	}
	srv, err := Start([]Function{
		{Name: "copy", Code: "copy", NewEnvironment: newEnv},
		{Name: "copy-express", Code: "copy", NewEnvironment: newEnv},
		{Name: "status", NewEnvironment: newEnv},
	}, report)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	answers := make(chan string, 10)
	for _, name := range []string{"copy", "copy-express", "copy-express", "status"} {
		invokeAsync(t, srv, name, answers)
	}
	waitInFlight(t, srv, 4)
	codes := map[string]bool{}
	for _, inv := range srv.InFlight() {
		codes[inv.Function+" runs "+inv.Code] = true
	}
	close(release)
	for i := 0; i < 4; i++ {
		<-answers
	}
	got := map[string]int{
		"copy": srv.MaxInFlight("copy"), "copy-express": srv.MaxInFlight("copy-express"),
		"code copy": srv.MaxInFlightOfCode("copy"), "code status": srv.MaxInFlightOfCode("status"),
	}
	want := map[string]int{"copy": 1, "copy-express": 2, "code copy": 3, "code status": 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("peaks in flight (-want +got):\n%s", diff)
	}
	wantCodes := map[string]bool{"copy runs copy": true, "copy-express runs copy": true, "status runs status": true}
	if diff := cmp.Diff(wantCodes, codes); diff != "" {
		t.Errorf("invocations in flight (-want +got):\n%s", diff)
	}
}
