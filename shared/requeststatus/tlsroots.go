package requeststatus

import (
	"crypto/x509"
	_ "embed"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"sync"
)

// rdsGlobalBundle is AWS's RDS global certificate bundle, byte for byte as
// AWS publishes it: the authorities that sign RDS and Aurora server
// certificates. rdsProxyRoots are the Amazon Trust Services roots that sign
// RDS Proxy's certificates, which AWS's file does not hold. See
// certs/README.md for their source, edition and SHA-256.
var (
	//go:embed certs/rds-global-bundle.pem
	rdsGlobalBundle []byte
	//go:embed certs/amazon-trust-services-roots.pem
	rdsProxyRoots []byte
)

// rdsCABundle is the two files as one PEM bundle: the authorities the
// function trusts by default. AWS's file ends without a newline, hence the
// one between them.
var rdsCABundle = slices.Concat(rdsGlobalBundle, []byte("\n"), rdsProxyRoots)

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

// RDSBundleRegions lists the AWS regions the embedded bundle holds an RDS
// certificate authority for, sorted: those named in a certificate's common
// name ("Amazon RDS il-central-1 Root CA RSA2048 G1", "Amazon RDS us-east-1
// 2019 CA"; the Beta and Preview authorities not counted). A verify-full
// connection to an RDS database of another region fails: its server
// certificate chains to a root the function does not ship.
var RDSBundleRegions = sync.OnceValue(func() []string {
	seen := map[string]bool{}
	for rest := rdsCABundle; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			continue // RDSRootCAs reports it
		}
		if m := rdsCARegion.FindStringSubmatch(cert.Subject.CommonName); m != nil {
			seen[m[1]] = true
		}
	}
	return slices.Sorted(maps.Keys(seen))
})

// rdsCARegion finds the region in an RDS authority's common name.
var rdsCARegion = regexp.MustCompile(`^Amazon RDS ([a-z]{2}(?:-gov)?-[a-z]+-\d+) `)

// RDSBundleCovers reports whether the embedded bundle can verify an RDS
// database in region.
func RDSBundleCovers(region string) bool {
	_, found := slices.BinarySearch(RDSBundleRegions(), region)
	return found
}

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
