package requeststatus

// The SSM configuration against moto's SSM Parameter Store through the real
// SDK client (aws-sdk-go-v2's ssm.Client, as the Lambda builds it), instead
// of the fakes: GetParameter WithDecryption of a SecureString,
// ParameterNotFound, and a SecureString rotated with PutParameter
// Overwrite. moto stores a SecureString encrypted in form
// ("kms:<key>:<value>") and answers GetParameter without decryption with that
// form, so a read that forgot WithDecryption would connect with the wrong
// password and fail these tests.

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/motoserver"
)

var (
	motoOnce sync.Once
	motoSrv  *motoserver.Server
)

// motoSSM returns a real SSM client on a moto server shared by this
// package's tests (one process, stopped with the test binary: childproc
// gives it a parent-death signal; each test uses its own parameter names).
func motoSSM(t *testing.T) *ssm.Client {
	t.Helper()
	motoserver.Require(t)
	motoOnce.Do(func() {
		s, err := motoserver.Start(context.Background(), nil)
		if err != nil {
			t.Fatalf("moto server: %v", err)
		}
		motoSrv = s
	})
	if motoSrv == nil {
		t.Fatal("moto server did not start")
	}
	return ssm.NewFromConfig(aws.Config{
		Region:      motoSrv.Region,
		Credentials: credentials.NewStaticCredentialsProvider(motoSrv.AccessKey, motoSrv.SecretKey, ""),
	}, func(o *ssm.Options) { o.BaseEndpoint = aws.String(motoSrv.Endpoint) })
}

func putParameter(t *testing.T, c *ssm.Client, name, value string, typ ssmtypes.ParameterType, overwrite bool) int64 {
	t.Helper()
	out, err := c.PutParameter(context.Background(), &ssm.PutParameterInput{
		Name: aws.String(name), Value: aws.String(value), Type: typ, Overwrite: aws.Bool(overwrite),
	})
	if err != nil {
		t.Fatalf("put parameter %s: %v", name, err)
	}
	return out.Version
}

func uniqueName(t *testing.T, base string) string {
	return "/" + strings.NewReplacer(" ", "-", "/", "-").Replace(t.Name()) + "/" + base
}

func TestPoolConfigFromMotoSSM(t *testing.T) {
	c := motoSSM(t)
	const password = `p@ss w'rd\ =x`
	host, pass := uniqueName(t, "drdb-host"), uniqueName(t, "drdb-user-pass")
	putParameter(t, c, host, "db.example.internal", ssmtypes.ParameterTypeString, false)
	putParameter(t, c, pass, password, ssmtypes.ParameterTypeSecureString, false)

	// The peer really encrypts: without decryption the value is not the password.
	raw, err := c.GetParameter(context.Background(), &ssm.GetParameterInput{Name: aws.String(pass)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(raw.Parameter.Value) == password {
		t.Fatal("moto returned the SecureString in clear without WithDecryption: this test would prove nothing")
	}

	cfg, err := Config{Port: 6432, Name: "dr", User: "druser", HostParameter: host, PasswordParameter: pass,
		SSLMode: "require", MaxConns: 2}.PoolConfig(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.ConnConfig.Host; got != "db.example.internal" {
		t.Errorf("host %q, want db.example.internal", got)
	}
	if cfg.ConnConfig.Password != password {
		t.Errorf("password is not the decrypted SecureString")
	}
}

func TestPoolConfigMotoSSMParameterNotFound(t *testing.T) {
	c := motoSSM(t)
	host, pass := uniqueName(t, "drdb-host"), uniqueName(t, "missing")
	putParameter(t, c, host, "db.example.internal", ssmtypes.ParameterTypeString, false)

	_, err := Config{Port: 5432, Name: "dr", User: "druser", HostParameter: host, PasswordParameter: pass,
		SSLMode: "require", MaxConns: 2}.PoolConfig(context.Background(), c)

	var dbErr *DatabaseError
	if !errors.As(err, &dbErr) {
		t.Fatalf("error %T %v, want *DatabaseError (permanent: retrying will not create the parameter)", err, err)
	}
	var unavailable *DatabaseUnavailableError
	if errors.As(err, &unavailable) {
		t.Errorf("error %v is DatabaseUnavailableError, want permanent", err)
	}
	var notFound *ssmtypes.ParameterNotFound
	if !errors.As(err, &notFound) {
		t.Errorf("error %v does not wrap the SDK's ParameterNotFound", err)
	}
	for _, want := range []string{pass, EnvPasswordParameter, "does not exist"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// The password is rotated: the database takes the new one and the
// SecureString is overwritten (a new version). The container's pool, built
// with the old one, is refused once (DatabaseUnavailableError, retried by
// the workflow); the retry reads SSM again, gets the new version decrypted,
// and connects.
func TestLazyPoolRotatedSecureStringOnMotoSSM(t *testing.T) {
	c := motoSSM(t)
	ctx := context.Background()
	host, pass := uniqueName(t, "drdb-host"), uniqueName(t, "drdb-user-pass")
	putParameter(t, c, host, "127.0.0.1", ssmtypes.ParameterTypeString, false)
	putParameter(t, c, pass, "password-A", ssmtypes.ParameterTypeSecureString, false)
	server := startPasswordServer(t, "password-A", "")
	cfg := lazyConfig()
	cfg.HostParameter, cfg.PasswordParameter = host, pass
	cfg.Port, cfg.SSLMode = server.port(), "disable"
	lp := NewLazyPool(cfg, c, slog.New(slog.DiscardHandler))
	t.Cleanup(lp.Close)

	if _, err := lp.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatalf("before the rotation: %v", err)
	}
	before, err := lp.Pool(ctx)
	if err != nil {
		t.Fatal(err)
	}

	server.setPassword("password-B")
	if v := putParameter(t, c, pass, "password-B", ssmtypes.ParameterTypeSecureString, true); v != 2 {
		t.Errorf("rotated parameter is version %d, want 2", v)
	}
	before.Reset()

	_, err = lp.Exec(ctx, "SELECT 1")
	if _, ok := err.(*DatabaseUnavailableError); !ok {
		t.Fatalf("after the rotation: error %T %v, want *DatabaseUnavailableError unwrapped", err, err)
	}
	if strings.Contains(err.Error(), "password-A") || strings.Contains(err.Error(), "password-B") {
		t.Errorf("error %q reveals a password", err)
	}
	if _, err := lp.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatalf("the retry: %v", err)
	}
	after, err := lp.Pool(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after == before || after.Config().ConnConfig.Password != "password-B" {
		t.Error("the retry does not use a new pool with the rotated password")
	}
}
