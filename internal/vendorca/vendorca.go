// Package vendorca builds the certificate pool the worker verifies vendor
// HTTPS and http(s) sources against: the system's roots plus an operator's
// PEM bundle, for vendor sandboxes and proxies signed by a private CA.
// Verification itself is never turned off.
package vendorca

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// maxBundle bounds what Load reads; CA bundles are tens of KiB.
const maxBundle = 8 << 20

// Load returns the system roots with every certificate of the PEM file at
// path added, and how many it added. A file that cannot be read, holds
// something other than certificates, or holds none is an error, so a wrong
// path fails at startup rather than as certificate errors on every call.
func Load(path string) (*x509.CertPool, int, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, 0, fmt.Errorf("vendor CA bundle: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("vendor CA bundle %s is not a regular file", path)
	}
	if fi.Size() > maxBundle {
		return nil, 0, fmt.Errorf("vendor CA bundle %s is larger than %d bytes; is it the right file?", path, maxBundle)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, fmt.Errorf("vendor CA bundle: %w", err)
	}
	certs, err := parse(data)
	if err != nil {
		return nil, 0, fmt.Errorf("vendor CA bundle %s: %w", path, err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		return nil, 0, fmt.Errorf("vendor CA bundle: read the system's roots: %w", err)
	}
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, len(certs), nil
}

// parse reads every PEM block of data as a certificate. Unlike
// CertPool.AppendCertsFromPEM it does not skip what it cannot use: a bundle
// that is half garbage is a mistake worth stopping for.
func parse(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := data
	for n := 1; ; n++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			// The type only: a private key pasted here must not be echoed.
			return nil, fmt.Errorf("PEM block %d is a %s, not a CERTIFICATE", n, block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", n, err)
		}
		certs = append(certs, c)
	}
	if bytes.Contains(rest, []byte("-----BEGIN")) {
		// Text around blocks is allowed (bundles carry comments); a block
		// that did not decode is not.
		return nil, fmt.Errorf("has a broken PEM block after certificate %d", len(certs))
	}
	if len(certs) == 0 {
		return nil, errors.New("holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
	}
	return certs, nil
}
