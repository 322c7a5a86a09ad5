package requeststatus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/pgtest"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/testenv"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
)

// passwordServer speaks the Postgres protocol and checks a cleartext
// password, answering a wrong one as Postgres does (FATAL, SQLSTATE 28P01
// invalid_password). After a good password it either answers simple queries
// itself (upstream empty) or hands the session to the Postgres at upstream,
// which the tests reach with trust authentication: the test server trusts
// every local connection, so it cannot refuse a password itself.
type passwordServer struct {
	ln       net.Listener
	upstream string

	mu       sync.Mutex
	password string
	refused  int
	conns    map[net.Conn]struct{}
}

func startPasswordServer(t *testing.T, password, upstream string) *passwordServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &passwordServer{ln: ln, upstream: upstream, password: password, conns: map[net.Conn]struct{}{}}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[conn] = struct{}{}
			s.mu.Unlock()
			wg.Go(func() {
				defer func() {
					s.mu.Lock()
					delete(s.conns, conn)
					s.mu.Unlock()
					conn.Close()
				}()
				s.serve(conn)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for conn := range s.conns {
			conn.Close()
		}
		s.mu.Unlock()
		wg.Wait()
	})
	return s
}

func (s *passwordServer) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// setPassword changes the password new sessions need; sessions already
// authenticated go on, as in Postgres after ALTER ROLE ... PASSWORD.
func (s *passwordServer) setPassword(password string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.password = password
}

func (s *passwordServer) refusedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

func (s *passwordServer) serve(conn net.Conn) {
	be := pgproto3.NewBackend(conn, conn)
	msg, err := be.ReceiveStartupMessage()
	if err != nil {
		return
	}
	if _, ok := msg.(*pgproto3.SSLRequest); ok {
		if _, err := conn.Write([]byte("N")); err != nil {
			return
		}
		if msg, err = be.ReceiveStartupMessage(); err != nil {
			return
		}
	}
	startup, ok := msg.(*pgproto3.StartupMessage)
	if !ok {
		return
	}
	be.Send(&pgproto3.AuthenticationCleartextPassword{})
	if err := be.Flush(); err != nil {
		return
	}
	if err := be.SetAuthType(pgproto3.AuthTypeCleartextPassword); err != nil {
		return
	}
	msg, err = be.Receive()
	if err != nil {
		return
	}
	pw, ok := msg.(*pgproto3.PasswordMessage)
	s.mu.Lock()
	good := ok && pw.Password == s.password
	if !good {
		s.refused++
	}
	s.mu.Unlock()
	if !good {
		be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "28P01",
			Message: fmt.Sprintf("password authentication failed for user %q", startup.Parameters["user"])})
		_ = be.Flush()
		return
	}

	if s.upstream != "" {
		// The client now waits for the rest of the authentication, which
		// the upstream server (trust) sends as the answer to the same
		// startup message.
		up, err := net.Dial("tcp", s.upstream)
		if err != nil {
			return
		}
		defer up.Close()
		fe := pgproto3.NewFrontend(up, up)
		fe.Send(&pgproto3.StartupMessage{ProtocolVersion: startup.ProtocolVersion, Parameters: startup.Parameters})
		if err := fe.Flush(); err != nil {
			return
		}
		go func() {
			_, _ = io.Copy(up, conn)
			up.Close()
		}()
		_, _ = io.Copy(conn, up)
		return
	}

	be.Send(&pgproto3.AuthenticationOk{})
	be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
	for {
		if err := be.Flush(); err != nil {
			return
		}
		msg, err := be.Receive()
		if err != nil {
			return
		}
		if _, ok := msg.(*pgproto3.Query); !ok {
			return // Terminate, or a protocol this fake does not speak
		}
		be.Send(&pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")})
		be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
	}
}

// set changes the value of parameter name.
func (f *scriptedParameters) set(name, value string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.values[name] = value
}

// A password rotated while a container holds a pool built with the old one:
// the next new connection is refused (28P01); the call fails with
// DatabaseUnavailableError (retried by the state machine) and drops the
// pool, and the following call reads SSM again and connects.
func TestLazyPoolRotatedPassword(t *testing.T) {
	tests := []struct {
		name string
		// ssmUpdated: SSM holds the new password by the retry. When it does
		// not yet (the database was changed first), the retry fails the same
		// way, and so on until SSM is updated.
		ssmUpdated bool
		// query runs one operation on lp the way the Lambda does.
		query func(ctx context.Context, lp *LazyPool) error
	}{
		{name: "Exec", ssmUpdated: true, query: func(ctx context.Context, lp *LazyPool) error {
			_, err := lp.Exec(ctx, "SELECT 1")
			return err
		}},
		{name: "QueryRow through the handler", ssmUpdated: true, query: func(ctx context.Context, lp *LazyPool) error {
			h := &StatusHandler{Store: NewStore(lp), Logger: slog.New(slog.DiscardHandler)}
			_, err := h.Handle(ctx, contract.StatusRequest{Operation: contract.OperationFindOpenJob, SourceKey: "a.txt"})
			return err
		}},
		{name: "SSM not updated yet", ssmUpdated: false, query: func(ctx context.Context, lp *LazyPool) error {
			_, err := lp.Exec(ctx, "SELECT 1")
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			server := startPasswordServer(t, "password-A", "")
			params := &scriptedParameters{values: map[string]string{"drdb-host": "127.0.0.1", "drdb-user-pass": "password-A"}}
			cfg := lazyConfig()
			cfg.Port, cfg.SSLMode = server.port(), "disable"
			lp := NewLazyPool(cfg, params, slog.New(slog.DiscardHandler))
			t.Cleanup(lp.Close)

			if _, err := lp.Exec(ctx, "SELECT 1"); err != nil {
				t.Fatalf("before the rotation: %v", err)
			}
			before, err := lp.Pool(ctx)
			if err != nil {
				t.Fatal(err)
			}

			// The rotation, and the container's connections ending (idle
			// timeout, failover): the next query opens a new connection
			// with the password read at the first call.
			server.setPassword("password-B")
			if tc.ssmUpdated {
				params.set("drdb-user-pass", "password-B")
			}
			before.Reset()

			err = tc.query(ctx, lp)
			unavailable, ok := err.(*DatabaseUnavailableError)
			if !ok {
				t.Fatalf("after the rotation: error %T %v, want *DatabaseUnavailableError unwrapped", err, err)
			}
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != "28P01" {
				t.Errorf("error %v does not wrap the server's 28P01", err)
			}
			for _, frag := range []string{`SSM parameter "drdb-user-pass"`, "DATABASE_PASSWORD_PARAMETER", `user "druser"`, "rotated"} {
				if !strings.Contains(unavailable.Error(), frag) {
					t.Errorf("error %q does not contain %q", unavailable, frag)
				}
			}
			if msg := unavailable.Error(); strings.Contains(msg, "password-A") || strings.Contains(msg, "password-B") {
				t.Errorf("error %q reveals a password", msg)
			}
			if got := server.refusedCount(); got != 1 {
				t.Errorf("server refused %d connections, want 1", got)
			}

			// The retry reads SSM again.
			retryErr := tc.query(ctx, lp)
			after, err := lp.Pool(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if after == before {
				t.Errorf("the pool built with the refused password is still in use")
			}
			if tc.ssmUpdated {
				if tc.name == "Exec" && retryErr != nil {
					t.Errorf("retry: %v", retryErr)
				}
				if got := after.Config().ConnConfig.Password; got != "password-B" {
					t.Errorf("the new pool does not use the password now in SSM")
				}
				if _, err := lp.Exec(ctx, "SELECT 1"); err != nil {
					t.Errorf("after the retry: %v", err)
				}
			} else {
				if _, ok := retryErr.(*DatabaseUnavailableError); !ok {
					t.Errorf("retry with SSM not updated: error %T %v, want *DatabaseUnavailableError", retryErr, retryErr)
				}
			}
			if got := params.callCounts()["drdb-user-pass"]; got != 2 && tc.ssmUpdated {
				t.Errorf("password read from SSM %d times, want 2 (first call, retry)", got)
			}
		})
	}
}

// With DATABASE_URL nothing can be read again: a refused password stays a
// permanent DatabaseError and the pool is kept.
func TestLazyPoolRefusedStaticPassword(t *testing.T) {
	ctx := context.Background()
	server := startPasswordServer(t, "right", "")
	lp := NewLazyPool(Config{DatabaseURL: fmt.Sprintf("postgres://druser:wrong@127.0.0.1:%d/dr?sslmode=disable", server.port()),
		MaxConns: 2}, nil, slog.New(slog.DiscardHandler))
	t.Cleanup(lp.Close)
	pool, err := lp.Pool(ctx)
	if err != nil {
		t.Fatal(err)
	}

	h := &StatusHandler{Store: NewStore(lp), Logger: slog.New(slog.DiscardHandler)}
	_, err = h.Handle(ctx, contract.StatusRequest{Operation: contract.OperationFindOpenJob, SourceKey: "a.txt"})
	dbErr, ok := err.(*DatabaseError)
	if !ok {
		t.Fatalf("error %T %v, want *DatabaseError unwrapped", err, err)
	}
	var pgErr *pgconn.PgError
	if !errors.As(dbErr, &pgErr) || pgErr.Code != "28P01" {
		t.Errorf("error %v does not wrap the server's 28P01", err)
	}
	if again, err := lp.Pool(ctx); err != nil || again != pool {
		t.Errorf("pool after the refusal: %p, error %v; want the same pool %p", again, err, pool)
	}
}

// On a real Postgres, behind passwordServer (the test server trusts local
// connections, so only the proxy can refuse a password): the Lambda finds
// the job, the password is rotated, the next invocation fails with
// DatabaseUnavailableError and the one after reads SSM again and finds the
// job.
func TestLazyPoolRotatedPasswordOnPostgres(t *testing.T) {
	url := pgtest.URL(t)
	pool := testPool(t)
	job := mustInsert(t, pool, Row{ObjectKey: "a.txt", ArchiveBucketDest: "archive"})
	schema := pool.Config().ConnConfig.RuntimeParams["search_path"]
	cc, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	if cc.TLSConfig != nil {
		testenv.Unavailable(t, "this test proxies plaintext connections; TEST_DATABASE_URL needs sslmode=disable")
	}
	server := startPasswordServer(t, "password-A", net.JoinHostPort(cc.Host, strconv.Itoa(int(cc.Port))))

	params := &scriptedParameters{values: map[string]string{"drdb-host": "127.0.0.1", "drdb-user-pass": "password-A"}}
	lp := NewLazyPool(Config{Port: server.port(), Name: cc.Database, User: cc.User, HostParameter: "drdb-host",
		PasswordParameter: "drdb-user-pass", SSLMode: "disable", MaxConns: 2}, params, slog.New(slog.DiscardHandler))
	lp.configure = func(c *pgxpool.Config) { c.ConnConfig.RuntimeParams["search_path"] = schema }
	t.Cleanup(lp.Close)
	invoke := lambda.NewHandler((&StatusHandler{Store: NewStore(lp), Logger: slog.New(slog.DiscardHandler)}).Handle).Invoke
	event := []byte(`{"operation":"find_open_job","source_key":"a.txt"}`)
	want := fmt.Sprintf(`{"request_id":%q,"target_bucket":"archive"}`, job.RequestID)

	out, err := invoke(context.Background(), event)
	if err != nil {
		t.Fatalf("before the rotation: %v", err)
	}
	if diff := cmp.Diff(want, string(out)); diff != "" {
		t.Errorf("before the rotation (-want +got):\n%s", diff)
	}

	server.setPassword("password-B")
	params.set("drdb-user-pass", "password-B")
	old, err := lp.Pool(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	old.Reset() // the container's connections have ended

	if out, err := invoke(context.Background(), event); contract.ErrorType(err) != "DatabaseUnavailableError" {
		t.Fatalf("after the rotation: %s, error %T %v; want DatabaseUnavailableError", out, err, err)
	}
	out, err = invoke(context.Background(), event)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if diff := cmp.Diff(want, string(out)); diff != "" {
		t.Errorf("retry (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{"drdb-host": 2, "drdb-user-pass": 2}, params.callCounts()); diff != "" {
		t.Errorf("SSM reads (-want +got):\n%s", diff)
	}
}
