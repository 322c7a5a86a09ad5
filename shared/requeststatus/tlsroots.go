package requeststatus

import (
	"crypto/x509"
	_ "embed"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sync"
)

// rdsCABundle is AWS's RDS certificate bundle (and the roots of RDS Proxy):
// the authorities that sign RDS and Aurora server certificates. See
// certs/README.md for its source and licence.
//
//go:embed certs/aws-rds-ca-bundle.pem
var rdsCABundle []byte

// RDSRootCAs returns the pool of AWS's RDS certificate authorities the
// function ships with: the roots a verify-full (or verify-ca) connection
// trusts unless DATABASE_SSLROOTCERT names others.
var RDSRootCAs = sync.OnceValues(func() (*x509.CertPool, error) {
	pool, n, err := parseRoots(rdsCABundle)
	if err != nil {
		return nil, fmt.Errorf("the embedded RDS certificate bundle: %w", err)
	}
	if n == 0 {
		return nil, errors.New("the embedded RDS certificate bundle holds no certificate")
	}
	return pool, nil
})

// parseRoots parses every certificate of a PEM file into a pool. A block
// that is not a certificate, or a certificate that does not parse, is an
// error: a bundle that is silently half read would make verify-full refuse
// servers for a reason nobody can see.
func parseRoots(pemData []byte) (*x509.CertPool, int, error) {
	pool := x509.NewCertPool()
	n := 0
	for rest := pemData; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, n, fmt.Errorf("PEM block %d is a %q, not a CERTIFICATE", n+1, block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, n, fmt.Errorf("certificate %d: %w", n+1, err)
		}
		pool.AddCert(cert)
		n++
	}
	return pool, n, nil
}

// checkRootCertFile reads a CA file named by DATABASE_SSLROOTCERT as pgx will,
// so that a missing or unreadable file stops the cold start with a message
// naming the variable instead of failing every connection.
func checkRootCertFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%s=%q: %w", EnvSSLRootCert, path, err)
	}
	_, n, err := parseRoots(data)
	if err != nil {
		return fmt.Errorf("%s=%q: %w", EnvSSLRootCert, path, err)
	}
	if n == 0 {
		return fmt.Errorf("%s=%q: the file holds no PEM certificate", EnvSSLRootCert, path)
	}
	return nil
}
