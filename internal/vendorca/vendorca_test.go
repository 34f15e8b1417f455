package vendorca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// privateCA is a CA of our own and a TLS server on 127.0.0.1 whose
// certificate it signed: a vendor sandbox behind a private CA.
type privateCA struct {
	pem string
	srv *httptest.Server
}

func newPrivateCA(t *testing.T, h http.Handler) privateCA {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test sandbox CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER}, PrivateKey: leafKey}}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return privateCA{pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})), srv: srv}
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func serverCA(srv *httptest.Server) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
}

func get(pool *tls.Config, url string) error {
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: pool}}
	resp, err := hc.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

func TestBundleMakesAPrivateCAsServerTrusted(t *testing.T) {
	ca := newPrivateCA(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }))
	// httptest's own certificate is another CA: having it in the bundle
	// must not make the sandbox trusted.
	other := httptest.NewTLSServer(http.NotFoundHandler())
	defer other.Close()
	otherPool, _, err := Load(writeFile(t, serverCA(other)))
	if err != nil {
		t.Fatal(err)
	}
	system, err := x509.SystemCertPool()
	if err != nil {
		t.Fatal(err)
	}
	for name, pool := range map[string]*x509.CertPool{"system roots": system, "another CA": otherPool} {
		err := get(&tls.Config{RootCAs: pool}, ca.srv.URL)
		var verr *tls.CertificateVerificationError
		if !errors.As(err, &verr) {
			t.Fatalf("with %s only: want a certificate verification error, got %v", name, err)
		}
	}

	// Comments around blocks, as distribution bundles carry, are fine.
	pool, n, err := Load(writeFile(t, "# sandbox CA\n"+ca.pem+"\n# and httptest's\n"+serverCA(other)))
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("added %d certificates, want 2", n)
	}
	if err := get(&tls.Config{RootCAs: pool}, ca.srv.URL); err != nil {
		t.Fatalf("with the sandbox's CA: %v", err)
	}
	if err := get(&tls.Config{RootCAs: pool}, other.URL); err != nil {
		t.Fatalf("with httptest's CA: %v", err)
	}
}

func TestBadBundlesFailClearly(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	good := serverCA(srv)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	keyB64 := base64.StdEncoding.EncodeToString(der)[:40]
	cases := []struct {
		name, body, want string
	}{
		{"empty", "", "holds no PEM certificate"},
		{"not PEM", "this is not a certificate\n", "holds no PEM certificate"},
		{"a private key", good + keyPEM, "PEM block 2 is a PRIVATE KEY, not a CERTIFICATE"},
		{"garbage certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "PEM block 1:"},
		{"truncated", good + "-----BEGIN CERTIFICATE-----\nMIIB\n", "broken PEM block after certificate 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, tc.body)
			_, _, err := Load(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("want an error naming %s and saying %q, got %v", path, tc.want, err)
			}
			if strings.Contains(err.Error(), keyB64) {
				t.Fatalf("the error echoes the file: %v", err)
			}
		})
	}
	if _, _, err := Load(filepath.Join(t.TempDir(), "missing.pem")); err == nil || !strings.Contains(err.Error(), "missing.pem") {
		t.Fatalf("missing file: %v", err)
	}
	if _, _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("directory: %v", err)
	}
}
