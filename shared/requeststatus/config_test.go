package requeststatus

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/google/go-cmp/cmp"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/envtest"
)

func TestConfigFromEnv(t *testing.T) {
	defaults := Config{
		Port: 5432, Name: "disaster_recovery", User: "druser",
		HostParameter: "drdb-host", PasswordParameter: "drdb-user-pass",
		SSLMode: "verify-full", MaxConns: 1,
	}
	tests := []struct {
		name     string
		env      map[string]string
		want     Config
		wantErrs []string // fragments the error must contain
	}{
		{
			name: "defaults",
			env:  map[string]string{"DATABASE_NAME": "disaster_recovery", "DATABASE_USER": "druser"},
			want: defaults,
		},
		{
			name: "everything set",
			env: map[string]string{
				"DATABASE_NAME": "dr", "DATABASE_USER": "app", "DATABASE_PORT": "6432",
				"DATABASE_HOST_PARAMETER": "/dr/host", "DATABASE_PASSWORD_PARAMETER": "/dr/pass",
				"DATABASE_SSLMODE": "verify-full", "DATABASE_MAX_CONNS": "5",
			},
			want: Config{Port: 6432, Name: "dr", User: "app", HostParameter: "/dr/host",
				PasswordParameter: "/dr/pass", SSLMode: "verify-full", MaxConns: 5},
		},
		{
			name: "DATABASE_URL needs nothing else",
			env:  map[string]string{"DATABASE_URL": " postgres://postgres@127.0.0.1:5432/test "},
			want: Config{DatabaseURL: "postgres://postgres@127.0.0.1:5432/test", Port: 5432,
				HostParameter: "drdb-host", PasswordParameter: "drdb-user-pass", SSLMode: "verify-full", MaxConns: 1},
		},
		{
			name: "require with a root certificate file",
			env: map[string]string{"DATABASE_NAME": "dr", "DATABASE_USER": "app",
				"DATABASE_SSLMODE": "require", "DATABASE_SSLROOTCERT": "certs/rds-global-bundle.pem"},
			want: Config{Port: 5432, Name: "dr", User: "app", HostParameter: "drdb-host", PasswordParameter: "drdb-user-pass",
				SSLMode: "require", SSLRootCert: "certs/rds-global-bundle.pem", MaxConns: 1},
		},
		{
			name:     "root certificate file missing",
			env:      map[string]string{"DATABASE_NAME": "dr", "DATABASE_USER": "app", "DATABASE_SSLROOTCERT": "/nonexistent/ca.pem"},
			wantErrs: []string{`DATABASE_SSLROOTCERT="/nonexistent/ca.pem"`, "no such file"},
		},
		{
			name:     "root certificate file without a certificate",
			env:      map[string]string{"DATABASE_NAME": "dr", "DATABASE_USER": "app", "DATABASE_SSLROOTCERT": "certs/README.md"},
			wantErrs: []string{`DATABASE_SSLROOTCERT="certs/README.md": the file holds no PEM certificate`},
		},
		{
			name:     "missing name and user",
			env:      map[string]string{},
			wantErrs: []string{"DATABASE_NAME is not set", "DATABASE_USER is not set"},
		},
		{
			name:     "bad port",
			env:      map[string]string{"DATABASE_NAME": "n", "DATABASE_USER": "u", "DATABASE_PORT": "54x32"},
			wantErrs: []string{`DATABASE_PORT="54x32"`},
		},
		{
			name:     "port out of range",
			env:      map[string]string{"DATABASE_NAME": "n", "DATABASE_USER": "u", "DATABASE_PORT": "70000"},
			wantErrs: []string{`DATABASE_PORT="70000"`},
		},
		{
			name:     "bad sslmode and pool size together",
			env:      map[string]string{"DATABASE_NAME": "n", "DATABASE_USER": "u", "DATABASE_SSLMODE": "on", "DATABASE_MAX_CONNS": "0"},
			wantErrs: []string{`DATABASE_SSLMODE="on"`, `DATABASE_MAX_CONNS="0"`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ConfigFromEnv(func(k string) string { return tc.env[k] })
			if len(tc.wantErrs) > 0 {
				if err == nil {
					t.Fatalf("ConfigFromEnv = %+v, want an error", got)
				}
				for _, frag := range tc.wantErrs {
					if !strings.Contains(err.Error(), frag) {
						t.Errorf("error %q does not name %q", err, frag)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ConfigFromEnv (-want +got):\n%s", diff)
			}
		})
	}
}

// fakeParameters is an SSM Parameter Store holding fixed values.
type fakeParameters struct {
	values    map[string]string
	err       error
	requested []string
}

var _ ParameterReader = (*fakeParameters)(nil)

func (f *fakeParameters) GetParameter(_ context.Context, in *ssm.GetParameterInput, _ ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	name := aws.ToString(in.Name)
	f.requested = append(f.requested, name)
	if !aws.ToBool(in.WithDecryption) {
		return nil, errors.New("fake: parameter read without decryption")
	}
	if f.err != nil {
		return nil, f.err
	}
	v, ok := f.values[name]
	if !ok {
		return nil, &ssmtypes.ParameterNotFound{Message: aws.String("not found")}
	}
	return &ssm.GetParameterOutput{Parameter: &ssmtypes.Parameter{Name: in.Name, Value: aws.String(v)}}, nil
}

func TestPoolConfigFromSSM(t *testing.T) {
	const password = `p@ss w'rd\ =x`
	params := &fakeParameters{values: map[string]string{
		"/dr/host": " db.example.internal\n",
		"/dr/pass": password,
	}}
	c := Config{Port: 6432, Name: "dis aster's", User: "dr user", HostParameter: "/dr/host",
		PasswordParameter: "/dr/pass", SSLMode: "require", MaxConns: 3}

	cfg, err := c.PoolConfig(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	cc := cfg.ConnConfig
	type summary struct {
		Host, Database, User, Password, AppName string
		Port                                    uint16
		TLS, InsecureSkipVerify                 bool
		MaxConns                                int32
		ConnectTimeout, MaxConnIdleTime         time.Duration
	}
	got := summary{Host: cc.Host, Database: cc.Database, User: cc.User, Password: cc.Password,
		AppName: cc.RuntimeParams["application_name"], Port: cc.Port, TLS: cc.TLSConfig != nil,
		InsecureSkipVerify: cc.TLSConfig != nil && cc.TLSConfig.InsecureSkipVerify,
		MaxConns:           cfg.MaxConns, ConnectTimeout: cc.ConnectTimeout, MaxConnIdleTime: cfg.MaxConnIdleTime}
	want := summary{Host: "db.example.internal", Database: "dis aster's", User: "dr user", Password: password,
		AppName: "copy-files-to-archive", Port: 6432, TLS: true, InsecureSkipVerify: true,
		MaxConns: 3, ConnectTimeout: 5 * time.Second, MaxConnIdleTime: 60 * time.Second}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pool config (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"/dr/host", "/dr/pass"}, params.requested); diff != "" {
		t.Errorf("SSM parameters read (-want +got):\n%s", diff)
	}
	if d := Describe(cfg); strings.Contains(d, "p@ss") || !strings.Contains(d, "host=db.example.internal") {
		t.Errorf("Describe = %q: want the host and never the password", d)
	}
	if len(cc.Fallbacks) != 0 {
		t.Errorf("sslmode=require must not fall back to plaintext: %d fallbacks", len(cc.Fallbacks))
	}
}

func TestPoolConfigSSLModes(t *testing.T) {
	params := &fakeParameters{values: map[string]string{"drdb-host": "db", "drdb-user-pass": "pw"}}
	tests := []struct {
		mode             string
		wantTLS, wantVer bool // TLS on; server certificate verified
	}{
		{mode: "disable"},
		{mode: "require", wantTLS: true},
		{mode: "verify-full", wantTLS: true, wantVer: true},
	}
	for _, tc := range tests {
		t.Run(tc.mode, func(t *testing.T) {
			c := Config{Port: 5432, Name: "n", User: "u", HostParameter: "drdb-host",
				PasswordParameter: "drdb-user-pass", SSLMode: tc.mode, MaxConns: 2}
			cfg, err := c.PoolConfig(context.Background(), params)
			if err != nil {
				t.Fatal(err)
			}
			tlsCfg := cfg.ConnConfig.TLSConfig
			if gotTLS := tlsCfg != nil; gotTLS != tc.wantTLS {
				t.Fatalf("TLS = %t, want %t", gotTLS, tc.wantTLS)
			}
			if tlsCfg != nil && tlsCfg.InsecureSkipVerify == tc.wantVer {
				t.Errorf("InsecureSkipVerify = %t, want %t", tlsCfg.InsecureSkipVerify, !tc.wantVer)
			}
			if tc.wantVer && tlsCfg.ServerName != "db" {
				t.Errorf("TLS ServerName = %q, want the host from SSM", tlsCfg.ServerName)
			}
		})
	}
}

func TestPoolConfigErrors(t *testing.T) {
	base := Config{Port: 5432, Name: "n", User: "u", HostParameter: "drdb-host",
		PasswordParameter: "drdb-user-pass", SSLMode: "require", MaxConns: 2}
	tests := []struct {
		name    string
		config  Config
		params  ParameterReader
		wantErr []string
		notIn   string // must not appear in the error
	}{
		{name: "host parameter missing", config: base,
			params:  &fakeParameters{values: map[string]string{"drdb-user-pass": "pw"}},
			wantErr: []string{`SSM parameter "drdb-host"`, "DATABASE_HOST_PARAMETER", "does not exist"}},
		{name: "password parameter missing", config: base,
			params:  &fakeParameters{values: map[string]string{"drdb-host": "db"}},
			wantErr: []string{`SSM parameter "drdb-user-pass"`, "DATABASE_PASSWORD_PARAMETER"}},
		{name: "password parameter empty", config: base,
			params:  &fakeParameters{values: map[string]string{"drdb-host": "db", "drdb-user-pass": ""}},
			wantErr: []string{`"drdb-user-pass"`, "is empty"}},
		{name: "SSM failure", config: base,
			params:  &fakeParameters{err: errors.New("ThrottlingException: rate exceeded")},
			wantErr: []string{`read SSM parameter "drdb-host"`, "ThrottlingException"}},
		{name: "no SSM client", config: base, params: nil, wantErr: []string{"SSM client"}},
		{name: "bad DATABASE_URL hides its password", config: Config{DatabaseURL: "postgres://u:hunter2@db:notaport/x", MaxConns: 2},
			wantErr: []string{"DATABASE_URL is not a valid connection string"}, notIn: "hunter2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.config.PoolConfig(context.Background(), tc.params)
			if err == nil {
				t.Fatal("PoolConfig succeeded, want an error")
			}
			for _, frag := range tc.wantErr {
				if !strings.Contains(err.Error(), frag) {
					t.Errorf("error %q does not contain %q", err, frag)
				}
			}
			if tc.notIn != "" && strings.Contains(err.Error(), tc.notIn) {
				t.Errorf("error %q reveals %q", err, tc.notIn)
			}
		})
	}
}

func TestPoolConfigFromURL(t *testing.T) {
	cfg, err := Config{DatabaseURL: "postgres://app:pw@10.0.0.7:6543/dr?sslmode=disable&connect_timeout=9&application_name=mine", MaxConns: 4}.
		PoolConfig(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	cc := cfg.ConnConfig
	got := []any{cc.Host, cc.Port, cc.Database, cc.User, cc.Password, cc.TLSConfig == nil, cc.ConnectTimeout, cc.RuntimeParams["application_name"], cfg.MaxConns}
	want := []any{"10.0.0.7", uint16(6543), "dr", "app", "pw", true, 9 * time.Second, "mine", int32(4)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pool config from DATABASE_URL (-want +got):\n%s", diff)
	}
}

// Idle connections are closed after DefaultMaxConnIdleTime unless
// DATABASE_URL sets pool_max_conn_idle_time.
func TestPoolConfigMaxConnIdleTime(t *testing.T) {
	tests := []struct {
		name string
		url  string
		want time.Duration
	}{
		{name: "URL without the setting", url: "postgres://app@db/dr?sslmode=disable", want: 60 * time.Second},
		{name: "URL sets it", url: "postgres://app@db/dr?sslmode=disable&pool_max_conn_idle_time=5m", want: 5 * time.Minute},
		{name: "URL sets pgx's default", url: "postgres://app@db/dr?pool_max_conn_idle_time=30m", want: 30 * time.Minute},
		{name: "keyword/value string sets it", url: "host=db dbname=dr pool_max_conn_idle_time=7s", want: 7 * time.Second},
		{name: "password contains the name", url: "postgres://app:pool_max_conn_idle_time@db/dr", want: 60 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Config{DatabaseURL: tc.url, MaxConns: 2}.PoolConfig(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.MaxConnIdleTime != tc.want {
				t.Errorf("MaxConnIdleTime = %v, want %v", cfg.MaxConnIdleTime, tc.want)
			}
		})
	}
}

// TestConfigEnvRoundTrip: a Config rendered by Env reads back as itself, so
// the CDK app (which deploys cfg.Env()) and the Lambda agree on every setting.
func TestConfigEnvRoundTrip(t *testing.T) {
	all := Config{
		DatabaseURL:       "postgres://u@db.example:5433/x?sslmode=require",
		Port:              6543,
		Name:              "archive db",
		User:              "copier",
		HostParameter:     "/dr/host",
		PasswordParameter: "/dr/password",
		SSLMode:           "verify-ca",
		SSLRootCert:       "certs/rds-global-bundle.pem",
		MaxConns:          7,
	}
	// A field added to Config without a variable in Env fails here once it
	// is set in all.
	envtest.EveryFieldSet(t, "empty", Config{}, all)
	deployed := Config{
		Port: DefaultPort, Name: "disaster_recovery", User: "druser",
		HostParameter: DefaultHostParameter, PasswordParameter: DefaultPasswordParameter,
		SSLMode: DefaultSSLMode, MaxConns: 1,
	}
	envtest.RoundTrip(t, Config.Env, ConfigFromEnv, []envtest.Case[Config]{
		{Name: "as the CDK app deploys it", Cfg: deployed},
		{Name: "every setting", Cfg: all},
	})
}
