package artifacts

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestConfigFromEnv(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		dataDir string
		want    Config
		wantErr string
	}{
		{
			name:    "defaults",
			dataDir: "/var/lib/importer",
			want: Config{
				Kind:       KindLocal,
				Dir:        "/var/lib/importer/artifacts",
				Listen:     "127.0.0.1:8235",
				PublicURL:  "http://127.0.0.1:8235",
				SecretFile: "/var/lib/importer/artifacts.key",
				URLTTL:     DefaultURLTTL,
			},
		},
		{
			name: "local, everything set",
			env: map[string]string{
				"IMPORTER_ARTIFACTS":             "LOCAL",
				"IMPORTER_ARTIFACTS_DIR":         "/srv/files",
				"IMPORTER_ARTIFACTS_LISTEN":      "0.0.0.0:9000",
				"IMPORTER_ARTIFACTS_PUBLIC_URL":  "https://files.example.com/",
				"IMPORTER_ARTIFACTS_SECRET_FILE": "/etc/importer/url.key",
				"IMPORTER_ARTIFACTS_URL_TTL":     "2h30m",
			},
			want: Config{
				Kind:       KindLocal,
				Dir:        "/srv/files",
				Listen:     "0.0.0.0:9000",
				PublicURL:  "https://files.example.com",
				SecretFile: "/etc/importer/url.key",
				URLTTL:     150 * time.Minute,
			},
		},
		{
			name:    "wildcard listen defaults to a loopback URL",
			env:     map[string]string{"IMPORTER_ARTIFACTS_LISTEN": ":8235"},
			dataDir: "/d",
			want: Config{Kind: KindLocal, Dir: "/d/artifacts", Listen: ":8235",
				PublicURL: "http://127.0.0.1:8235", SecretFile: "/d/artifacts.key", URLTTL: DefaultURLTTL},
		},
		{
			name:    "IPv6 listen",
			env:     map[string]string{"IMPORTER_ARTIFACTS_LISTEN": "[::1]:8235"},
			dataDir: "/d",
			want: Config{Kind: KindLocal, Dir: "/d/artifacts", Listen: "[::1]:8235",
				PublicURL: "http://[::1]:8235", SecretFile: "/d/artifacts.key", URLTTL: DefaultURLTTL},
		},
		{
			name:    "port 0 leaves the public URL to the server",
			env:     map[string]string{"IMPORTER_ARTIFACTS_LISTEN": "127.0.0.1:0"},
			dataDir: "/d",
			want: Config{Kind: KindLocal, Dir: "/d/artifacts", Listen: "127.0.0.1:0",
				SecretFile: "/d/artifacts.key", URLTTL: DefaultURLTTL},
		},
		{
			name: "s3",
			env: map[string]string{
				"IMPORTER_ARTIFACTS":     "s3",
				"IMPORTER_S3_BUCKET":     "acme-artifacts",
				"IMPORTER_S3_PREFIX":     "/importer/prod/",
				"IMPORTER_S3_REGION":     "eu-central-1",
				"IMPORTER_S3_ENDPOINT":   "http://minio:9000",
				"IMPORTER_S3_PATH_STYLE": "true",
				"IMPORTER_ARTIFACTS_DIR": "/ignored",
			},
			want: Config{Kind: KindS3, S3: S3Config{
				Bucket: "acme-artifacts", Prefix: "importer/prod", Region: "eu-central-1",
				Endpoint: "http://minio:9000", PathStyle: true,
			}},
		},
		{
			name: "s3, bucket only",
			env:  map[string]string{"IMPORTER_ARTIFACTS": "s3", "IMPORTER_S3_BUCKET": "b"},
			want: Config{Kind: KindS3, S3: S3Config{Bucket: "b"}},
		},
		{name: "unknown kind", env: map[string]string{"IMPORTER_ARTIFACTS": "gcs"}, dataDir: "/d", wantErr: `"gcs"`},
		{name: "s3 without bucket", env: map[string]string{"IMPORTER_ARTIFACTS": "s3"}, wantErr: "IMPORTER_S3_BUCKET"},
		{
			name:    "public URL not http",
			env:     map[string]string{"IMPORTER_ARTIFACTS_PUBLIC_URL": "ftp://files.example.com"},
			dataDir: "/d", wantErr: "IMPORTER_ARTIFACTS_PUBLIC_URL",
		},
		{
			name:    "public URL without scheme",
			env:     map[string]string{"IMPORTER_ARTIFACTS_PUBLIC_URL": "files.example.com:8235"},
			dataDir: "/d", wantErr: "IMPORTER_ARTIFACTS_PUBLIC_URL",
		},
		{
			name:    "listen without port",
			env:     map[string]string{"IMPORTER_ARTIFACTS_LISTEN": "localhost"},
			dataDir: "/d", wantErr: "IMPORTER_ARTIFACTS_LISTEN",
		},
		{
			name:    "listen port out of range",
			env:     map[string]string{"IMPORTER_ARTIFACTS_LISTEN": "127.0.0.1:70000"},
			dataDir: "/d", wantErr: "IMPORTER_ARTIFACTS_LISTEN",
		},
		{
			name: "bad path style",
			env: map[string]string{"IMPORTER_ARTIFACTS": "s3", "IMPORTER_S3_BUCKET": "b",
				"IMPORTER_S3_PATH_STYLE": "sometimes"},
			wantErr: "IMPORTER_S3_PATH_STYLE",
		},
		{
			name:    "bad endpoint",
			env:     map[string]string{"IMPORTER_ARTIFACTS": "s3", "IMPORTER_S3_BUCKET": "b", "IMPORTER_S3_ENDPOINT": "minio:9000"},
			wantErr: "IMPORTER_S3_ENDPOINT",
		},
		{
			name:    "bad prefix",
			env:     map[string]string{"IMPORTER_ARTIFACTS": "s3", "IMPORTER_S3_BUCKET": "b", "IMPORTER_S3_PREFIX": "a/../b"},
			wantErr: "IMPORTER_S3_PREFIX",
		},
		{name: "local without a data directory", wantErr: "IMPORTER_ARTIFACTS_DIR"},
		{name: "URL lifetime not a duration", env: map[string]string{"IMPORTER_ARTIFACTS_URL_TTL": "a day"}, dataDir: "/d", wantErr: "IMPORTER_ARTIFACTS_URL_TTL"},
		{name: "URL lifetime too short", env: map[string]string{"IMPORTER_ARTIFACTS_URL_TTL": "5s"}, dataDir: "/d", wantErr: "IMPORTER_ARTIFACTS_URL_TTL"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ConfigFromEnv(func(k string) string { return c.env[k] }, c.dataDir)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want one mentioning %s", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("config =\n %+v\nwant\n %+v", got, c.want)
			}
		})
	}
}

func TestOpenLocalServesAndSignsWithPersistentSecret(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	cfg, err := ConfigFromEnv(func(k string) string {
		return map[string]string{"IMPORTER_ARTIFACTS_LISTEN": "127.0.0.1:0"}[k]
	}, data)
	if err != nil {
		t.Fatal(err)
	}
	store, srv, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	if srv == nil {
		t.Fatal("Open(local) returned no server")
	}
	if _, err := os.Stat(filepath.Join(data, "artifacts.key")); err != nil {
		t.Fatalf("secret file not created: %v", err)
	}
	if !strings.Contains(store.Describe(), srv.URL()) {
		t.Fatalf("Describe %q does not name the server %s", store.Describe(), srv.URL())
	}
	put(t, store, "o/list.csv", "user_id\n42\n")
	if _, err := os.Stat(filepath.Join(data, "artifacts", "o", "list.csv")); err != nil {
		t.Fatalf("artifact not under the data directory: %v", err)
	}
	u, err := store.URL(ctx, "o/list.csv", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || string(b) != "user_id\n42\n" {
		t.Fatalf("GET %d %q %v", resp.StatusCode, b, err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(u); err == nil {
		t.Fatal("server still answers after Close")
	}
}

func TestOpenS3HasNoServer(t *testing.T) {
	srv, _ := newFakeS3(t, "bkt")
	store, server, err := Open(context.Background(), Config{Kind: KindS3,
		S3: S3Config{Bucket: "bkt", Prefix: "p", Endpoint: srv.URL, PathStyle: true}})
	if err != nil {
		t.Fatal(err)
	}
	if server != nil {
		t.Fatal("Open(s3) returned a server")
	}
	if store.Describe() != "s3://bkt/p" {
		t.Fatalf("Describe = %q", store.Describe())
	}
	put(t, store, "k.csv", "x\n")
	if got := readAll(t, store, "k.csv"); got != "x\n" {
		t.Fatalf("content = %q", got)
	}
}

func TestOpenRefusesBadConfig(t *testing.T) {
	ctx := context.Background()
	if _, _, err := Open(ctx, Config{Kind: "ftp"}); err == nil {
		t.Error("Open accepted an unknown kind")
	}
	// A world-readable secret stops the local store from starting.
	secret := filepath.Join(t.TempDir(), "k")
	if err := os.WriteFile(secret, []byte(strings.Repeat("ab", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(secret, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open(ctx, Config{Kind: KindLocal, Dir: t.TempDir(), Listen: "127.0.0.1:0", SecretFile: secret}); err == nil {
		t.Error("Open accepted a world-readable secret file")
	}
}

// IMPORTER_ARTIFACTS_URL_TTL reaches the store Open builds: a URL asked
// for longer runs out when the setting says.
func TestOpenLocalCutsURLsToTheConfiguredLifetime(t *testing.T) {
	ctx := context.Background()
	cfg, err := ConfigFromEnv(func(k string) string {
		return map[string]string{"IMPORTER_ARTIFACTS_LISTEN": "127.0.0.1:0", "IMPORTER_ARTIFACTS_URL_TTL": "1h"}[k]
	}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	store, srv, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	put(t, store, "l.csv", "x\n")
	u, err := store.URL(ctx, "l.csv", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	exp, err := strconv.ParseInt(pu.Query().Get("expires"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if left := time.Until(time.Unix(exp, 0)); left > time.Hour+time.Second || left < 59*time.Minute {
		t.Fatalf("a URL asked for 24h is valid for %s; the store allows 1h", left)
	}
}
