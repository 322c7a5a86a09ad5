package requeststatus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/pgtest"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
)

const lazyTestPassword = "s3cret-pw"

// scriptedParameters is an SSM Parameter Store whose parameters can fail a
// given number of times before answering, and whose calls can be held.
// It is safe for concurrent use.
type scriptedParameters struct {
	values map[string]string
	// failures lists, per parameter, the errors its next calls return, in
	// order; once they are used up the parameter answers from values.
	failures map[string][]error
	// started, when set, receives each parameter name as its call starts;
	// release, when set, holds every call until it is closed.
	started chan string
	release chan struct{}

	mu    sync.Mutex
	calls map[string]int
}

var _ ParameterReader = (*scriptedParameters)(nil)

func (f *scriptedParameters) GetParameter(ctx context.Context, in *ssm.GetParameterInput, _ ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	name := aws.ToString(in.Name)
	if f.started != nil {
		f.started <- name
	}
	if f.release != nil {
		select {
		case <-f.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[name]++
	if !aws.ToBool(in.WithDecryption) {
		return nil, errors.New("fake: parameter read without decryption")
	}
	if errs := f.failures[name]; len(errs) > 0 {
		f.failures[name] = errs[1:]
		return nil, errs[0]
	}
	v, ok := f.values[name]
	if !ok {
		return nil, &smithy.OperationError{ServiceID: "SSM", OperationName: "GetParameter",
			Err: &ssmtypes.ParameterNotFound{Message: aws.String("")}}
	}
	return &ssm.GetParameterOutput{Parameter: &ssmtypes.Parameter{Name: in.Name, Value: aws.String(v)}}, nil
}

func (f *scriptedParameters) callCounts() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return copyCounts(f.calls)
}

func copyCounts(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// ssmError wraps err as the SDK returns it after its own retries.
func ssmError(err error) error {
	return &smithy.OperationError{ServiceID: "SSM", OperationName: "GetParameter",
		Err: &retry.MaxAttemptsError{Attempt: 3, Err: err}}
}

// apiError is an error response of the SSM API with its HTTP status.
func apiError(status int, code, msg string) error {
	return &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
			Err:      &smithy.GenericAPIError{Code: code, Message: msg},
		},
		RequestID: "req-1",
	}
}

func lazyConfig() Config {
	return Config{Port: 5432, Name: "dr", User: "druser", HostParameter: "drdb-host",
		PasswordParameter: "drdb-user-pass", SSLMode: "require", MaxConns: 2}
}

func lazyValues() map[string]string {
	return map[string]string{"drdb-host": "db.example.internal", "drdb-user-pass": lazyTestPassword}
}

// An SSM failure that may pass is DatabaseUnavailableError for that
// invocation only: the next call reads SSM again and builds the pool.
func TestLazyPoolTransientSSMFailure(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	tests := []struct {
		name     string
		failures map[string][]error
		wantMsg  []string
	}{
		{name: "host throttled",
			failures: map[string][]error{"drdb-host": {ssmError(apiError(400, "ThrottlingException", "Rate exceeded"))}},
			wantMsg:  []string{`SSM parameter "drdb-host"`, "DATABASE_HOST_PARAMETER", "ThrottlingException"}},
		{name: "password throttled",
			failures: map[string][]error{"drdb-user-pass": {ssmError(apiError(400, "ThrottlingException", "Rate exceeded"))}},
			wantMsg:  []string{`SSM parameter "drdb-user-pass"`, "DATABASE_PASSWORD_PARAMETER", "ThrottlingException"}},
		{name: "internal server error",
			failures: map[string][]error{"drdb-host": {ssmError(apiError(500, "InternalServerError", "oops"))}},
			wantMsg:  []string{`"drdb-host"`, "InternalServerError"}},
		{name: "service unavailable without a code the SDK knows",
			failures: map[string][]error{"drdb-host": {ssmError(apiError(501, "NotImplementedYet", "later"))}},
			wantMsg:  []string{`"drdb-host"`, "NotImplementedYet"}},
		{name: "endpoint refuses connections",
			failures: map[string][]error{"drdb-host": {ssmError(&smithy.OperationError{ServiceID: "SSM", OperationName: "GetParameter", Err: refused})}},
			wantMsg:  []string{`"drdb-host"`, "connection refused"}},
		{name: "deadline",
			failures: map[string][]error{"drdb-host": {fmt.Errorf("operation error SSM: GetParameter: %w", context.DeadlineExceeded)}},
			wantMsg:  []string{`"drdb-host"`, "deadline exceeded"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			params := &scriptedParameters{values: lazyValues(), failures: tc.failures}
			lp := NewLazyPool(lazyConfig(), params, slog.New(slog.DiscardHandler))
			t.Cleanup(lp.Close)
			handler := &StatusHandler{Store: NewStore(lp), Logger: slog.New(slog.DiscardHandler)}
			req := contract.StatusRequest{Operation: contract.OperationFindOpenJob, SourceKey: "a.txt"}

			_, err := handler.Handle(context.Background(), req)
			unavailable, ok := err.(*DatabaseUnavailableError)
			if !ok {
				t.Fatalf("first call: error %T %v, want *DatabaseUnavailableError unwrapped", err, err)
			}
			for _, frag := range append(tc.wantMsg, `find open job for key "a.txt"`) {
				if !strings.Contains(unavailable.Error(), frag) {
					t.Errorf("error %q does not contain %q", unavailable, frag)
				}
			}
			if strings.Contains(unavailable.Error(), lazyTestPassword) {
				t.Errorf("error %q reveals the password", unavailable)
			}

			pool, err := lp.Pool(context.Background())
			if err != nil || pool == nil {
				t.Fatalf("second call: pool %v, error %v; want the pool", pool, err)
			}
			if got := pool.Config().ConnConfig; got.Host != "db.example.internal" || got.Password != lazyTestPassword {
				t.Errorf("pool built for host %q with the wrong password", got.Host)
			}
			// A built pool is kept: no more SSM reads.
			before := params.callCounts()
			if again, err := lp.Pool(context.Background()); err != nil || again != pool {
				t.Errorf("third call: pool %p, error %v; want the same pool %p", again, err, pool)
			}
			if diff := cmp.Diff(before, params.callCounts()); diff != "" {
				t.Errorf("SSM read again after the pool was built (-before +after):\n%s", diff)
			}
		})
	}
}

// An SSM failure that retrying will not cure is a DatabaseError naming the
// parameter (never the password); it is not remembered either.
func TestLazyPoolPermanentSSMFailure(t *testing.T) {
	kmsDenied := apiError(400, "AccessDeniedException",
		"User: arn:aws:sts::111122223333:assumed-role/request-status is not authorized to perform: kms:Decrypt")
	tests := []struct {
		name     string
		values   map[string]string
		failures map[string][]error
		wantMsg  []string
	}{
		{name: "host parameter not found",
			values:  map[string]string{"drdb-user-pass": lazyTestPassword},
			wantMsg: []string{`SSM parameter "drdb-host"`, "DATABASE_HOST_PARAMETER", "does not exist"}},
		{name: "password parameter not found",
			values:  map[string]string{"drdb-host": "db"},
			wantMsg: []string{`SSM parameter "drdb-user-pass"`, "DATABASE_PASSWORD_PARAMETER", "does not exist"}},
		{name: "access denied",
			values:   lazyValues(),
			failures: map[string][]error{"drdb-user-pass": {ssmError(kmsDenied), ssmError(kmsDenied)}},
			wantMsg:  []string{`SSM parameter "drdb-user-pass"`, "AccessDeniedException", "kms:Decrypt"}},
		{name: "empty password",
			values:  map[string]string{"drdb-host": "db", "drdb-user-pass": ""},
			wantMsg: []string{`SSM parameter "drdb-user-pass"`, "is empty"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			params := &scriptedParameters{values: tc.values, failures: tc.failures}
			lp := NewLazyPool(lazyConfig(), params, slog.New(slog.DiscardHandler))
			handler := &StatusHandler{Store: NewStore(lp), Logger: slog.New(slog.DiscardHandler)}
			req := contract.StatusRequest{Operation: contract.OperationRecordOutcome, SourceKey: "a.txt", RequestID: "r-1"}

			for call := 1; call <= 2; call++ {
				_, err := handler.Handle(context.Background(), req)
				dbErr, ok := err.(*DatabaseError)
				if !ok {
					t.Fatalf("call %d: error %T %v, want *DatabaseError unwrapped", call, err, err)
				}
				for _, frag := range append(tc.wantMsg, `record complete for request "r-1" (key "a.txt")`) {
					if !strings.Contains(dbErr.Error(), frag) {
						t.Errorf("call %d: error %q does not contain %q", call, dbErr, frag)
					}
				}
				if strings.Contains(dbErr.Error(), lazyTestPassword) {
					t.Errorf("call %d: error %q reveals the password", call, dbErr)
				}
			}
			// Each call read SSM again: the failure was not cached.
			calls := params.callCounts()
			if calls["drdb-host"] != 2 {
				t.Errorf("SSM reads %v: want drdb-host read by each of the 2 calls", calls)
			}
		})
	}
}

// Concurrent first calls read SSM once and share one pool. In a synctest
// bubble, synctest.Wait returns once every caller is blocked, so they all
// pile up behind the first SSM read whatever the machine's speed.
func TestLazyPoolConcurrentFirstCalls(t *testing.T) {
	synctest.Test(t, testLazyPoolConcurrentFirstCalls)
}

func testLazyPoolConcurrentFirstCalls(t *testing.T) {
	params := &scriptedParameters{values: lazyValues(), started: make(chan string, 100), release: make(chan struct{})}
	lp := NewLazyPool(lazyConfig(), params, slog.New(slog.DiscardHandler))
	t.Cleanup(lp.Close)

	const callers = 8
	pools := make([]*pgxpool.Pool, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() { pools[i], errs[i] = lp.Pool(context.Background()) })
	}
	<-params.started // one caller is reading SSM
	synctest.Wait()  // every other caller is blocked behind it
	if n := len(params.started); n != 0 {
		t.Errorf("%d more SSM reads started while the first was held, want none", n)
	}
	close(params.release)
	wg.Wait()

	for i := range callers {
		if errs[i] != nil || pools[i] == nil || pools[i] != pools[0] {
			t.Errorf("caller %d: pool %p, error %v; want the shared pool %p", i, pools[i], errs[i], pools[0])
		}
	}
	if diff := cmp.Diff(map[string]int{"drdb-host": 1, "drdb-user-pass": 1}, params.callCounts()); diff != "" {
		t.Errorf("SSM reads (-want +got):\n%s", diff)
	}
}

// A caller waiting for another's SSM read gives up at its own deadline with
// DatabaseUnavailableError, and the read it waited for still succeeds.
func TestLazyPoolWaiterDeadline(t *testing.T) {
	params := &scriptedParameters{values: lazyValues(), started: make(chan string, 10), release: make(chan struct{})}
	lp := NewLazyPool(lazyConfig(), params, slog.New(slog.DiscardHandler))
	t.Cleanup(lp.Close)

	first := make(chan error, 1)
	go func() {
		_, err := lp.Pool(context.Background())
		first <- err
	}()
	<-params.started
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := lp.Pool(ctx)
	var unavailable *DatabaseUnavailableError
	if !errors.As(err, &unavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting caller: error %T %v, want *DatabaseUnavailableError with the deadline", err, err)
	}
	close(params.release)
	if err := <-first; err != nil {
		t.Errorf("first caller: %v", err)
	}
}

func TestSSMTransient(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"throttling", ssmError(apiError(400, "ThrottlingException", "Rate exceeded")), true},
		{"too many updates", apiError(429, "TooManyRequestsException", "slow"), true},
		{"500", apiError(500, "InternalServerError", "oops"), true},
		{"503 unknown code", apiError(503, "Whatever", "later"), true},
		{"deadline", context.DeadlineExceeded, true},
		{"DNS temporary", &net.DNSError{Err: "timeout", Name: "ssm", IsTimeout: true}, true},
		{"not found", &ssmtypes.ParameterNotFound{Message: aws.String("x")}, false},
		{"access denied", apiError(400, "AccessDeniedException", "no"), false},
		{"KMS key unusable", &ssmtypes.InvalidKeyId{Message: aws.String("x")}, false},
		{"validation", apiError(400, "ValidationException", "bad name"), false},
		{"canceled", context.Canceled, false},
		{"no region", errors.New("Invalid region: region was not a valid DNS name."), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ssmTransient(tc.err); got != tc.want {
				t.Errorf("ssmTransient(%v) = %t, want %t", tc.err, got, tc.want)
			}
		})
	}
}

// On a real Postgres: the first invocation fails on a throttled SSM, the
// second reads it, connects and finds the job.
func TestLazyPoolOnPostgres(t *testing.T) {
	url := pgtest.URL(t)
	pool := testPool(t)
	job := mustInsert(t, pool, Row{ObjectKey: "a.txt", ArchiveBucketDest: "archive"})
	schema := pool.Config().ConnConfig.RuntimeParams["search_path"]

	cc, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	password := cc.Password
	if password == "" {
		password = "unused-by-trust-auth" // SSM refuses an empty value
	}
	sslMode := "disable"
	if cc.TLSConfig != nil {
		sslMode = "require"
	}
	params := &scriptedParameters{
		values:   map[string]string{"drdb-host": cc.Host, "drdb-user-pass": password},
		failures: map[string][]error{"drdb-host": {ssmError(apiError(400, "ThrottlingException", "Rate exceeded"))}},
	}
	lp := NewLazyPool(Config{Port: int(cc.Port), Name: cc.Database, User: cc.User, HostParameter: "drdb-host",
		PasswordParameter: "drdb-user-pass", SSLMode: sslMode, MaxConns: 2}, params, slog.New(slog.DiscardHandler))
	lp.configure = func(c *pgxpool.Config) { c.ConnConfig.RuntimeParams["search_path"] = schema }
	t.Cleanup(lp.Close)
	invoke := lambda.NewHandler((&StatusHandler{Store: NewStore(lp), Logger: slog.New(slog.DiscardHandler)}).Handle).Invoke

	event := []byte(`{"operation":"find_open_job","source_key":"a.txt"}`)
	if out, err := invoke(context.Background(), event); contract.ErrorType(err) != "DatabaseUnavailableError" {
		t.Fatalf("first invocation: %s, error %T %v; want DatabaseUnavailableError", out, err, err)
	}
	out, err := invoke(context.Background(), event)
	if err != nil {
		t.Fatalf("second invocation: %v", err)
	}
	if diff := cmp.Diff(fmt.Sprintf(`{"request_id":%q,"target_bucket":"archive"}`, job.RequestID), string(out)); diff != "" {
		t.Errorf("second invocation's output (-want +got):\n%s", diff)
	}
}
