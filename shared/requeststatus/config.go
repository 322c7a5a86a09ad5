package requeststatus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The environment variables Config reads.
const (
	EnvDatabaseURL       = "DATABASE_URL"
	EnvDatabasePort      = "DATABASE_PORT"
	EnvDatabaseName      = "DATABASE_NAME"
	EnvDatabaseUser      = "DATABASE_USER"
	EnvHostParameter     = "DATABASE_HOST_PARAMETER"
	EnvPasswordParameter = "DATABASE_PASSWORD_PARAMETER"
	EnvSSLMode           = "DATABASE_SSLMODE"
	EnvSSLRootCert       = "DATABASE_SSLROOTCERT"
	EnvMaxConns          = "DATABASE_MAX_CONNS"
)

// Defaults, as in the original Lambda where it had them.
const (
	DefaultPort              = 5432
	DefaultHostParameter     = "drdb-host"
	DefaultPasswordParameter = "drdb-user-pass"
	// DefaultSSLMode verifies the server: its certificate must chain to
	// AWS's RDS certificate authorities (RDSRootCAs; or to those of
	// DATABASE_SSLROOTCERT) and name the host the SSM parameter gives.
	// "require" encrypts without checking who answers.
	DefaultSSLMode = "verify-full"
	// DefaultMaxConns is one connection per Lambda execution environment:
	// an environment serves one invocation at a time and an invocation
	// runs one query at a time, so a second connection would only hold a
	// slot of the database's limit idle.
	DefaultMaxConns = 1
	// DefaultConnectTimeout bounds one connection attempt when DATABASE_URL
	// does not set connect_timeout.
	DefaultConnectTimeout = 5 * time.Second
	// DefaultMaxConnIdleTime is how long a pooled connection may stay idle
	// before the pool closes it, unless DATABASE_URL sets
	// pool_max_conn_idle_time (pgx's own default is 30 minutes). A short
	// time keeps idle Lambda containers from holding Postgres connections
	// long after their last invocation. pgx enforces it in its background
	// health check (every minute), which runs only while the container runs:
	// Lambda freezes a container between invocations, and a frozen
	// container's connections stay open until it is thawed (the next
	// invocation then closes the stale ones) or recycled.
	DefaultMaxConnIdleTime = 60 * time.Second
	// ApplicationName is reported to Postgres (pg_stat_activity) unless
	// DATABASE_URL sets application_name.
	ApplicationName = "copy-files-to-archive"
)

// SSLModes are the DATABASE_SSLMODE values (libpq's sslmode) request-status
// accepts; the CDK app checks its databaseSslMode context against the same
// list (ValidSSLMode).
var SSLModes = []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}

// ValidSSLMode returns an error listing the accepted values unless mode is
// one of SSLModes; the caller names the setting.
func ValidSSLMode(mode string) error {
	if slices.Contains(SSLModes, mode) {
		return nil
	}
	return fmt.Errorf("want one of %s", strings.Join(SSLModes, ", "))
}

// Config says how to reach the database. DatabaseURL, when set, replaces
// every connection setting (for local use); otherwise host and password come
// from SSM Parameter Store and the rest from the environment. MaxConns
// applies either way.
type Config struct {
	DatabaseURL       string // DATABASE_URL
	Port              int    // DATABASE_PORT
	Name              string // DATABASE_NAME
	User              string // DATABASE_USER
	HostParameter     string // DATABASE_HOST_PARAMETER: SSM parameter holding the host
	PasswordParameter string // DATABASE_PASSWORD_PARAMETER: SSM SecureString holding the password
	SSLMode           string // DATABASE_SSLMODE
	// SSLRootCert (DATABASE_SSLROOTCERT) is a PEM file of the certificate
	// authorities to trust instead of AWS's RDS ones (a database outside
	// RDS); with it, "require" verifies the chain too, as in libpq.
	SSLRootCert string
	MaxConns    int32 // DATABASE_MAX_CONNS: pool size per Lambda container
}

// ConfigFromEnv reads Config from the environment through getenv (os.Getenv
// in main, a map in tests). Every invalid or missing value is reported, each
// naming its variable and the value it got.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		DatabaseURL:       strings.TrimSpace(getenv(EnvDatabaseURL)),
		Port:              DefaultPort,
		Name:              getenv(EnvDatabaseName),
		User:              getenv(EnvDatabaseUser),
		HostParameter:     orDefault(getenv(EnvHostParameter), DefaultHostParameter),
		PasswordParameter: orDefault(getenv(EnvPasswordParameter), DefaultPasswordParameter),
		SSLMode:           orDefault(getenv(EnvSSLMode), DefaultSSLMode),
		SSLRootCert:       strings.TrimSpace(getenv(EnvSSLRootCert)),
		MaxConns:          DefaultMaxConns,
	}
	var errs []error
	if v := getenv(EnvDatabasePort); v != "" {
		port, err := strconv.Atoi(v)
		if err != nil || port < 1 || port > 65535 {
			errs = append(errs, fmt.Errorf("%s=%q: want a port number from 1 to 65535", EnvDatabasePort, v))
		}
		c.Port = port
	}
	if v := getenv(EnvMaxConns); v != "" {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 1 || n > 100 {
			errs = append(errs, fmt.Errorf("%s=%q: want a whole number from 1 to 100", EnvMaxConns, v))
		}
		c.MaxConns = int32(n)
	}
	if err := ValidSSLMode(c.SSLMode); err != nil {
		errs = append(errs, fmt.Errorf("%s=%q: %w", EnvSSLMode, c.SSLMode, err))
	}
	if c.SSLRootCert != "" {
		if err := checkRootCertFile(c.SSLRootCert); err != nil {
			errs = append(errs, err)
		}
	}
	if c.DatabaseURL == "" {
		if c.Name == "" {
			errs = append(errs, fmt.Errorf("%s is not set (needed unless %s is set)", EnvDatabaseName, EnvDatabaseURL))
		}
		if c.User == "" {
			errs = append(errs, fmt.Errorf("%s is not set (needed unless %s is set)", EnvDatabaseUser, EnvDatabaseURL))
		}
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("database configuration: %w", errors.Join(errs...))
	}
	return c, nil
}

// Env renders c as the environment ConfigFromEnv reads, so that
// ConfigFromEnv(c.Env()) gives c back (the CDK app deploys request-status
// with it). An empty DatabaseURL or SSLRootCert is left out.
func (c Config) Env() map[string]string {
	env := map[string]string{
		EnvDatabasePort:      strconv.Itoa(c.Port),
		EnvDatabaseName:      c.Name,
		EnvDatabaseUser:      c.User,
		EnvHostParameter:     c.HostParameter,
		EnvPasswordParameter: c.PasswordParameter,
		EnvSSLMode:           c.SSLMode,
		EnvMaxConns:          strconv.FormatInt(int64(c.MaxConns), 10),
	}
	if c.DatabaseURL != "" {
		env[EnvDatabaseURL] = c.DatabaseURL
	}
	if c.SSLRootCert != "" {
		env[EnvSSLRootCert] = c.SSLRootCert
	}
	return env
}

// UsesSSM reports whether PoolConfig will read SSM Parameter Store.
func (c Config) UsesSSM() bool { return c.DatabaseURL == "" }

// ParameterReader is the part of the SSM client PoolConfig uses; *ssm.Client
// satisfies it.
type ParameterReader interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// PoolConfig builds the pgx pool configuration. Without DATABASE_URL it reads
// the host and the password from SSM (decrypted); params may be nil when
// DATABASE_URL is set. The password is set as a field, never written into a
// connection string. SSM failures are *DatabaseUnavailableError (transient)
// or *DatabaseError (permanent), each naming the parameter; see
// readParameter.
func (c Config) PoolConfig(ctx context.Context, params ParameterReader) (*pgxpool.Config, error) {
	var (
		cfg *pgxpool.Config
		err error
	)
	if c.DatabaseURL != "" {
		// pgx redacts the password in its parse errors.
		cfg, err = pgxpool.ParseConfig(c.DatabaseURL)
		if err != nil {
			return nil, fmt.Errorf("%s is not a valid connection string: %w", EnvDatabaseURL, err)
		}
	} else {
		if params == nil {
			return nil, errors.New("database configuration: an SSM client is needed to read the host and password")
		}
		host, err := readParameter(ctx, params, c.HostParameter, EnvHostParameter)
		if err != nil {
			return nil, err
		}
		password, err := readParameter(ctx, params, c.PasswordParameter, EnvPasswordParameter)
		if err != nil {
			return nil, err
		}
		dsn := fmt.Sprintf("host=%s port=%d dbname=%s user=%s sslmode=%s",
			quoteDSNValue(strings.TrimSpace(host)), c.Port, quoteDSNValue(c.Name), quoteDSNValue(c.User), c.SSLMode)
		if c.SSLRootCert != "" {
			dsn += " sslrootcert=" + quoteDSNValue(c.SSLRootCert)
		}
		cfg, err = pgxpool.ParseConfig(dsn)
		if err != nil {
			return nil, &DatabaseError{Op: fmt.Sprintf("database configuration (host from SSM parameter %q)", c.HostParameter), Err: err}
		}
		if c.SSLRootCert == "" && (c.SSLMode == "verify-full" || c.SSLMode == "verify-ca") {
			// pgx would verify against the system's roots, which do not
			// include AWS's RDS authorities. Its verify-ca check reads
			// RootCAs when it runs, so setting it here serves both modes.
			roots, err := RDSRootCAs()
			if err != nil {
				return nil, err
			}
			cfg.ConnConfig.TLSConfig.RootCAs = roots
			for _, fb := range cfg.ConnConfig.Fallbacks {
				if fb.TLSConfig != nil {
					fb.TLSConfig.RootCAs = roots
				}
			}
		}
		// Fallback configs (sslmode=prefer, several hosts) share this field.
		cfg.ConnConfig.Password = password
	}
	cfg.MaxConns = c.MaxConns
	if !setsPoolParam(c.DatabaseURL, "pool_max_conn_idle_time") {
		cfg.MaxConnIdleTime = DefaultMaxConnIdleTime
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = ApplicationName
	}
	return cfg, nil
}

// setsPoolParam reports whether the connection string databaseURL (empty:
// none) sets the pgxpool setting name. pgxpool.ParseConfig removes its
// settings from the parsed configuration, so the string is parsed again
// (pgconn keeps settings it does not know as runtime parameters).
func setsPoolParam(databaseURL, name string) bool {
	if databaseURL == "" {
		return false
	}
	cc, err := pgconn.ParseConfig(databaseURL)
	if err != nil {
		return false
	}
	_, ok := cc.RuntimeParams[name]
	return ok
}

// Describe summarizes a pool configuration for logs: host, port, database,
// user, TLS (off, unverified, or verified) and pool size; never the password.
func Describe(cfg *pgxpool.Config) string {
	cc := cfg.ConnConfig
	tlsMode := "off"
	switch t := cc.TLSConfig; {
	case t == nil:
	case !t.InsecureSkipVerify:
		tlsMode = "verify-full"
	case t.VerifyPeerCertificate != nil:
		tlsMode = "verify-ca"
	default:
		tlsMode = "unverified"
	}
	return fmt.Sprintf("host=%s port=%d database=%s user=%s tls=%s max_conns=%d",
		cc.Host, cc.Port, cc.Database, cc.User, tlsMode, cfg.MaxConns)
}

// readParameter reads one SSM parameter, decrypted. Its errors name the
// parameter and the variable that named it, never the value:
// *DatabaseUnavailableError when SSM could not answer now (throttling, a 5xx,
// a network failure or timeout: see ssmTransient), *DatabaseError when
// retrying will not help (the parameter does not exist or is empty, access to
// it or its KMS key is denied, ...).
func readParameter(ctx context.Context, params ParameterReader, name, envName string) (string, error) {
	op := fmt.Sprintf("read SSM parameter %q (named by %s)", name, envName)
	out, err := params.GetParameter(ctx, &ssm.GetParameterInput{
		Name:           aws.String(name),
		WithDecryption: aws.Bool(true),
	})
	var notFound *ssmtypes.ParameterNotFound
	switch {
	case errors.As(err, &notFound):
		return "", &DatabaseError{Op: op, Err: fmt.Errorf("the parameter does not exist: %w", err)}
	case err != nil && ssmTransient(err):
		return "", &DatabaseUnavailableError{Op: op, Err: err}
	case err != nil:
		return "", &DatabaseError{Op: op, Err: err}
	case out == nil || out.Parameter == nil || aws.ToString(out.Parameter.Value) == "":
		return "", &DatabaseError{Op: op, Err: errors.New("the parameter is empty")}
	}
	return aws.ToString(out.Parameter.Value), nil
}

// ssmTransient reports whether an SSM error may go away when retried: what
// the SDK's own retryer retries (throttling codes, HTTP 500/502/503/504,
// connection errors, request timeouts), any other 5xx answer, and what
// isTransient counts for the database (deadline exceeded, network errors).
// The SDK has already retried it by the time it reaches us; the state
// machine's retry waits longer. Everything else (ParameterNotFound,
// AccessDeniedException, a KMS key that cannot be used, validation errors,
// context.Canceled) is permanent.
func ssmTransient(err error) bool {
	if retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary {
		return true
	}
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) && status.HTTPStatusCode() >= 500 {
		return true
	}
	return isTransient(err)
}

// quoteDSNValue quotes a value for a keyword/value connection string.
func quoteDSNValue(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
