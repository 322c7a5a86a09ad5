package invokeapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
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
