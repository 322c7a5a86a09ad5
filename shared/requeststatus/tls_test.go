package requeststatus

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/pgtest"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/testenv"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // its certificate as a PEM file
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), name+".pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, file: file}
}

// serverCert issues a server certificate for the DNS names.
func (ca *testCA) serverCert(t *testing.T, dnsNames ...string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: dnsNames[0]},
		DNSNames:     dnsNames,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// tlsPostgres is a Postgres server that speaks TLS: it answers the
// protocol's SSLRequest with 'S', completes the TLS handshake with its
// certificate, and relays the decrypted connection to the test's real
// Postgres (which trusts local connections). Everything after the handshake
// (startup, authentication, queries) is the real server's.
type tlsPostgres struct {
	ln         net.Listener
	handshakes atomic.Int32 // completed TLS handshakes
	wg         sync.WaitGroup
}

// sslRequestCode is the protocol's SSLRequest code (1234 << 16 | 5679).
const sslRequestCode = 80877103

func startTLSPostgres(t *testing.T, cert tls.Certificate, target string) *tlsPostgres {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &tlsPostgres{ln: ln}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(conn, cfg, target)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
	return s
}

func (s *tlsPostgres) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *tlsPostgres) serve(conn net.Conn, cfg *tls.Config, target string) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	var req [8]byte
	if _, err := io.ReadFull(conn, req[:]); err != nil {
		return
	}
	if binary.BigEndian.Uint32(req[0:4]) != 8 || binary.BigEndian.Uint32(req[4:8]) != sslRequestCode {
		return // this server only speaks TLS
	}
	if _, err := conn.Write([]byte{'S'}); err != nil {
		return
	}
	tlsConn := tls.Server(conn, cfg)
	if err := tlsConn.Handshake(); err != nil {
		return // the client refused the certificate
	}
	s.handshakes.Add(1)
	backend, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer backend.Close()
	done := make(chan struct{}, 2)
	go func() { io.Copy(backend, tlsConn); done <- struct{}{} }()
	go func() { io.Copy(tlsConn, backend); done <- struct{}{} }()
	<-done
}

// TestVerifyFullAcceptsOnlyTheTrustedServer: with verify-full the function
// connects to a server whose certificate chains to the trusted authority and
// names the host, and refuses any other, with a permanent DatabaseError
// naming the certificate problem. By default the trusted authorities are
// AWS's RDS ones, which did not sign the test server's certificate.
func TestVerifyFullAcceptsOnlyTheTrustedServer(t *testing.T) {
	url := pgtest.URL(t)
	cc, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	if cc.TLSConfig != nil {
		testenv.Unavailable(t, "this test relays plaintext connections; TEST_DATABASE_URL needs sslmode=disable")
	}
	target := net.JoinHostPort(cc.Host, strconv.Itoa(int(cc.Port)))
	serverCA := newTestCA(t, "server-ca")
	otherCA := newTestCA(t, "other-ca")
	// GIVEN a TLS-speaking Postgres whose certificate, from serverCA,
	// names "localhost" only
	server := startTLSPostgres(t, serverCA.serverCert(t, "localhost"), target)

	tests := []struct {
		name     string
		host     string // what the SSM host parameter says
		mode     string
		rootCert string // DATABASE_SSLROOTCERT
		wantErr  string // "" when the connection must work
	}{
		{name: "verify-full with the server's CA", host: "localhost", mode: "verify-full", rootCert: serverCA.file},
		{name: "verify-full with another CA", host: "localhost", mode: "verify-full", rootCert: otherCA.file,
			wantErr: "certificate signed by unknown authority"},
		{name: "verify-full by default trusts only AWS's RDS CAs", host: "localhost", mode: DefaultSSLMode,
			wantErr: "certificate signed by unknown authority"},
		{name: "verify-full with a host the certificate does not name", host: "127.0.0.1", mode: "verify-full", rootCert: serverCA.file,
			wantErr: "cannot validate certificate for 127.0.0.1"},
		{name: "verify-ca does not check the host", host: "127.0.0.1", mode: "verify-ca", rootCert: serverCA.file},
		{name: "require encrypts without verifying", host: "localhost", mode: "require"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			params := &fakeParameters{values: map[string]string{"drdb-host": tc.host, "drdb-user-pass": "unused (trust)"}}
			c := Config{Port: server.port(), Name: cc.Database, User: cc.User, HostParameter: "drdb-host",
				PasswordParameter: "drdb-user-pass", SSLMode: tc.mode, SSLRootCert: tc.rootCert, MaxConns: 1}
			before := server.handshakes.Load()
			// WHEN the function's pool configuration connects and queries
			err := query(t, c, params)
			// THEN
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("connection refused: %v", err)
				}
				if server.handshakes.Load() == before {
					t.Error("the query did not go through a TLS handshake")
				}
				return
			}
			var dbErr *DatabaseError
			if !errors.As(err, &dbErr) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %T %v, want a DatabaseError (permanent) containing %q", err, err, tc.wantErr)
			}
			if server.handshakes.Load() != before {
				t.Error("a handshake completed with a server that should have been refused")
			}
		})
	}
}

// query connects the way the function does (PoolConfig from SSM) and runs
// one query, returning the error as the store would classify it.
func query(t *testing.T, c Config, params ParameterReader) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg, err := c.PoolConfig(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var one int
	if err := pool.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return classify("test query", err)
	}
	return nil
}

// TestRDSRootCAs: the embedded bundle parses whole (every PEM block a
// certificate that parses: AWS's 102 and the 5 Amazon Trust Services roots),
// holds AWS's 2024 RDS root CAs and the roots of RDS Proxy, and AWS's file is
// the edition certs/README.md names.
func TestRDSRootCAs(t *testing.T) {
	pool, err := RDSRootCAs()
	if err != nil {
		t.Fatal(err)
	}
	if pool == nil {
		t.Fatal("nil pool")
	}
	_, n, err := parseRoots(rdsCABundle)
	if err != nil || n != 107 {
		t.Fatalf("%d certificates, error %v; want the 102 + 5 of certs/README.md", n, err)
	}
	if sum := fmt.Sprintf("%x", sha256.Sum256(rdsGlobalBundle)); sum != rdsGlobalBundleSHA256 {
		t.Errorf("certs/rds-global-bundle.pem has SHA-256 %s, certs/README.md gives %s: record the new edition there", sum, rdsGlobalBundleSHA256)
	}
	subjects := map[string]bool{}
	for i, rest := 0, rdsCABundle; ; i++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatalf("certificate %d: %v", i+1, err)
		}
		subjects[cert.Subject.String()] = true
	}
	for _, want := range []string{
		"CN=Amazon RDS us-east-1 Root CA RSA2048 G1,OU=Amazon RDS,O=Amazon Web Services\\, Inc.,L=Seattle,ST=WA,C=US",
		"CN=Amazon RDS eu-west-1 Root CA ECC384 G1,OU=Amazon RDS,O=Amazon Web Services\\, Inc.,L=Seattle,ST=WA,C=US",
		// RDS Proxy (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy.howitworks.html#rds-proxy-security.tls).
		"CN=Amazon Root CA 1,O=Amazon,C=US",
		"CN=Amazon Root CA 2,O=Amazon,C=US",
		"CN=Amazon Root CA 3,O=Amazon,C=US",
		"CN=Amazon Root CA 4,O=Amazon,C=US",
		"CN=Starfield Services Root Certificate Authority - G2,O=Starfield Technologies\\, Inc.,L=Scottsdale,ST=Arizona,C=US",
	} {
		if !subjects[want] {
			t.Errorf("the bundle lacks %q", want)
		}
	}
}

// rdsGlobalBundleSHA256 is the SHA-256 of AWS's file that certs/README.md
// records (January 2025 edition).
const rdsGlobalBundleSHA256 = "f295717be93d406212b17ecf8fecf71454762f465feb160cee61056635a2dcfc"

// commercialRegions are the regions of AWS's commercial partition ("aws"),
// as AWS lists them (https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-regions.html;
// the same 36 as the "aws" partition of aws-sdk-go-v2 v1.41's
// internal/endpoints/awsrulesfn/partitions.json). GovCloud (us-gov-*) and
// China (cn-*) are other partitions with bundles of their own
// (certs/README.md).
var commercialRegions = []string{
	"af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
	"ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4",
	"ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ca-central-1", "ca-west-1", "eu-central-1",
	"eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3",
	"il-central-1", "me-central-1", "me-south-1", "me-west-1", "mx-central-1", "sa-east-1", "sa-west-1",
	"us-east-1", "us-east-2", "us-west-1", "us-west-2",
}

// notInTheBundle are the commercial regions the embedded bundle (AWS's
// global-bundle.pem, January 2025 edition) has no root for: regions newer
// than that edition (certs/README.md says how to refresh the file, and
// docs/database-tls.md what to do meanwhile: databaseSslRootCert). infra
// refuses verify-full with the embedded bundle in these regions.
var notInTheBundle = []string{"ap-east-2", "ap-southeast-6", "me-west-1", "sa-west-1"}

// Every commercial region has a root in the bundle, except exactly the
// regions of notInTheBundle: a refreshed bundle that covers one of them
// fails this test until it leaves the list, and a region that loses its
// root, or a new region AWS lists, fails it too.
func TestRDSBundleCoversTheCommercialRegions(t *testing.T) {
	var missing []string
	for _, region := range commercialRegions {
		if !RDSBundleCovers(region) {
			missing = append(missing, region)
		}
	}
	if diff := cmp.Diff(notInTheBundle, missing); diff != "" {
		t.Errorf("commercial regions without an RDS root in certs/rds-global-bundle.pem (-known gap +got):\n%s", diff)
	}
	// Each covered region has the three 2024 roots (RSA2048, RSA4096,
	// ECC384 G1): RDS databases use one of them by default.
	subjects := map[string]bool{}
	for rest := rdsCABundle; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		cert, _ := x509.ParseCertificate(block.Bytes)
		subjects[cert.Subject.CommonName] = true
	}
	for _, region := range commercialRegions {
		if slices.Contains(notInTheBundle, region) {
			continue
		}
		for _, ca := range []string{"RSA2048 G1", "RSA4096 G1", "ECC384 G1"} {
			if cn := "Amazon RDS " + region + " Root CA " + ca; !subjects[cn] {
				t.Errorf("the bundle lacks %q", cn)
			}
		}
	}
	for _, region := range RDSBundleRegions() {
		if strings.HasPrefix(region, "us-gov-") || strings.HasPrefix(region, "cn-") {
			t.Errorf("the commercial bundle names %s", region)
		}
	}
}
