package requeststatus

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
)

func TestClassify(t *testing.T) {
	pg := func(code string) error { return &pgconn.PgError{Severity: "FATAL", Code: code, Message: "m"} }
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	tests := []struct {
		name      string
		err       error
		transient bool
	}{
		{"too many connections", pg("53300"), true},
		{"out of memory", pg("53200"), true},
		{"admin shutdown", pg("57P01"), true},
		{"crash shutdown", pg("57P02"), true},
		{"starting up", pg("57P03"), true},
		{"statement timeout", pg("57014"), true},
		{"lock timeout", pg("55P03"), true},
		{"serialization failure", pg("40001"), true},
		{"deadlock", pg("40P01"), true},
		{"connection failure", pg("08006"), true},
		{"server error wrapped", fmt.Errorf("query: %w", pg("57P01")), true},
		{"connection refused", refused, true},
		{"connection refused wrapped", fmt.Errorf("dial: %w", refused), true},
		{"bare ECONNRESET", syscall.ECONNRESET, true},
		{"DNS failure", &net.DNSError{Err: "no such host", Name: "db", IsNotFound: true}, true},
		{"deadline", context.DeadlineExceeded, true},
		{"connection dropped", io.ErrUnexpectedEOF, true},
		{"connect error without server answer", &pgconn.ConnectError{}, true},
		{"bad password", pg("28P01"), false},
		{"no such database", pg("3D000"), false},
		{"no such table", pg("42P01"), false},
		{"permission denied", pg("42501"), false},
		{"check violation", pg("23514"), false},
		{"untrusted certificate", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, false},
		{"canceled", context.Canceled, false},
		{"anything else", errors.New("scan: cannot convert"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := classify("find open job", tc.err)
			var unavailable *DatabaseUnavailableError
			var dbErr *DatabaseError
			switch {
			case tc.transient && !errors.As(err, &unavailable):
				t.Errorf("classify(%v) = %T, want *DatabaseUnavailableError", tc.err, err)
			case !tc.transient && !errors.As(err, &dbErr):
				t.Errorf("classify(%v) = %T, want *DatabaseError", tc.err, err)
			case !errors.Is(err, tc.err):
				t.Errorf("classify(%v) does not wrap its cause", tc.err)
			}
		})
	}
}

func TestErrorMessages(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&NoOpenJobError{Key: "a b.txt"}, `no open job in request_status for key "a b.txt"`},
		{&NoOpenJobError{Key: "k", Reason: "its job r has no archive_bucket_dest"},
			`no open job in request_status for key "k": its job r has no archive_bucket_dest`},
		{&DatabaseUnavailableError{Op: `find open job for key "k"`, Err: errors.New("dial tcp: connection refused")},
			`database unavailable: find open job for key "k": dial tcp: connection refused`},
		{&StatusUpdateError{RequestID: "r", Key: "k", Reason: "no row in request_status has this request_id"},
			`could not record the copy outcome for request "r" (key "k"): no row in request_status has this request_id`},
		{&DatabaseError{Op: "find", Err: errors.New("relation does not exist")}, "database error: find: relation does not exist"},
		{&InvalidStatusRequestError{Reason: "operation is missing"}, "invalid request-status input: operation is missing"},
	}
	for _, tc := range tests {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("%T.Error() = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// routable returns the outermost routed error, unwrapped, whatever wraps
// it; an error of no routed type is a DatabaseError.
func TestRoutable(t *testing.T) {
	noJob := &NoOpenJobError{Key: "k"}
	inner := &DatabaseError{Op: "query", Err: errors.New("28P01")}
	outer := &DatabaseUnavailableError{Op: "password rotated?", Err: inner}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"wrapped", fmt.Errorf("find: %w", noJob), "NoOpenJobError"},
		{"routed inside routed: the outermost", fmt.Errorf("x: %w", outer), "DatabaseUnavailableError"},
		{"not routed", errors.New("boom"), "DatabaseError"},
	} {
		got := routable(tc.err)
		if name := contract.ErrorType(got); name != tc.want {
			t.Errorf("%s: routable(%v) is a %s, want %s", tc.name, tc.err, name, tc.want)
		}
		if !errors.Is(got, tc.err) && !errors.Is(tc.err, got) {
			t.Errorf("%s: routable(%v) = %v lost the error", tc.name, tc.err, got)
		}
	}
	if routable(nil) != nil {
		t.Error("routable(nil) is not nil")
	}
}
