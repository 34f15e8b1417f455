package deploy

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"importer/internal/artifacts"
)

// Workers that share nothing: any number of worker replicas, none with state
// of its own beyond scratch files, all of them reading and writing the
// importer database and the object store.

func TestComposeWorkerRunsReplicas(t *testing.T) {
	p := loadProject(t, repoRoot(t), composeEnv)
	w := p.Services[findRoles(t, p).worker]
	if n := w.GetScale(); n < 2 {
		t.Errorf("worker runs %d replica(s); want deploy.replicas of 2 or more, so that the topology shows (and tests) that workers share nothing", n)
	}
	if w.ContainerName != "" {
		t.Errorf("worker has container_name %q: compose cannot run two containers under one name", w.ContainerName)
	}
	for _, port := range w.Ports {
		if port.Published != "" && !strings.Contains(port.Published, "-") {
			t.Errorf("worker publishes host port %s: a second replica cannot bind it (publish a range, one port per replica)", port.Published)
		}
	}
}

func TestComposeWorkerMountsNoVolume(t *testing.T) {
	root := repoRoot(t)
	p := loadProject(t, root, composeEnv)
	w := p.Services[findRoles(t, p).worker]
	for _, v := range w.Volumes {
		switch {
		case v.Type == types.VolumeTypeTmpfs:
			// Each container's own memory.
		case v.Type == types.VolumeTypeBind && v.ReadOnly && inRepository(root, v.Source):
			// Configuration and certificates from the repository, read-only.
		default:
			t.Errorf("worker mounts %s %s at %s (read-only: %v): replicas would share it, or each would keep state of its own; "+
				"state belongs in IMPORTER_STORE and files in the object store", v.Type, v.Source, v.Target, v.ReadOnly)
		}
	}
	if len(w.VolumesFrom) > 0 {
		t.Errorf("worker has volumes_from %v: it would share another container's volumes", w.VolumesFrom)
	}
}

// temporalDatabases are the databases the importer's store must not be.
var temporalDatabases = []string{"temporal", "temporal_visibility", "postgres", "template0", "template1"}

func TestComposeWorkerStoreIsTheImporterDatabase(t *testing.T) {
	p := loadProject(t, repoRoot(t), composeEnv)
	r := findRoles(t, p)
	w := serviceEnv(p.Services[r.worker])
	raw := w["IMPORTER_STORE"]
	if raw == "" {
		t.Fatal("worker has no IMPORTER_STORE: each replica would keep its state in a SQLite file of its own")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("worker IMPORTER_STORE=%q is not a postgres:// URL (%v)", raw, err)
	}
	if u.Hostname() != r.postgres || (u.Port() != "" && u.Port() != "5432") {
		t.Errorf("IMPORTER_STORE points at %s, want the PostgreSQL service %s:5432", u.Host, r.postgres)
	}
	db := strings.TrimPrefix(u.Path, "/")
	server := serviceEnv(p.Services[r.server])
	if db == "" || slices.Contains(temporalDatabases, db) || db == server["DBNAME"] || db == server["VISIBILITY_DBNAME"] {
		t.Errorf("IMPORTER_STORE uses database %q; the importer needs a database of its own, not Temporal's (%s, %s) or a system one",
			db, server["DBNAME"], server["VISIBILITY_DBNAME"])
	}
	user := u.User.Username()
	password, _ := u.User.Password()
	if admin := serviceEnv(p.Services[r.postgres])["POSTGRES_USER"]; user == "" || user == admin {
		t.Errorf("IMPORTER_STORE logs in as %q; want a role of its own, not the administrator %q that Temporal uses", user, admin)
	}
	if password != composeEnv["IMPORTER_DB_PASSWORD"] {
		t.Errorf("IMPORTER_STORE has password %q, want IMPORTER_DB_PASSWORD from .env (%q)", password, composeEnv["IMPORTER_DB_PASSWORD"])
	}

	// The job creates exactly the role, password and database the URL names.
	job := serviceEnv(p.Services[r.importerDB])
	for _, c := range []struct{ name, got, want string }{
		{"IMPORTER_DB_NAME", job["IMPORTER_DB_NAME"], db},
		{"IMPORTER_DB_USER", job["IMPORTER_DB_USER"], user},
		{"IMPORTER_DB_PASSWORD", job["IMPORTER_DB_PASSWORD"], password},
	} {
		if c.got != c.want {
			t.Errorf("job %s creates %s=%q, but the worker's IMPORTER_STORE uses %q", r.importerDB, c.name, c.got, c.want)
		}
	}
	if job["PGHOST"] != u.Hostname() {
		t.Errorf("job %s creates the database on %q, the worker looks for it on %q", r.importerDB, job["PGHOST"], u.Hostname())
	}
}

// fakePsql stands in for psql: it records its arguments and the connection
// and IMPORTER_DB_* variables it was given (one line, \x1f-separated), checks
// that the file it is told to run exists, and fails when FAKE_FAIL is set.
const fakePsql = `#!/bin/sh
{ for a in "$@"; do printf '%s\037' "$a"; done
  printf 'env=%s,%s,%s,%s,%s\037' "$PGHOST" "$PGPORT" "$PGUSER" "$PGPASSWORD" "$PGDATABASE"
  printf 'db=%s,%s,%s\n' "$IMPORTER_DB_NAME" "$IMPORTER_DB_USER" "$IMPORTER_DB_PASSWORD"; } >> "$FAKE_DIR/calls"
prev=
for a in "$@"; do
	if [ "$prev" = -f ] && [ ! -f "$a" ]; then echo "psql: $a: No such file or directory" >&2; exit 1; fi
	prev=$a
done
if [ -n "${FAKE_FAIL:-}" ]; then echo "psql: error: connection refused" >&2; exit 2; fi
`

func TestImporterDatabaseJob(t *testing.T) {
	root := repoRoot(t)
	p := loadProject(t, root, composeEnv)
	r := findRoles(t, p)
	job := p.Services[r.importerDB]
	pg := serviceEnv(p.Services[r.postgres])
	vars := serviceEnv(job)

	run := runJob(t, root, job, "psql", fakePsql, nil)
	if run.err != nil {
		t.Fatalf("job failed: %v\n%s", run.err, run.output)
	}
	if len(run.calls) != 1 {
		t.Fatalf("psql ran %d times, want once: %v", len(run.calls), run.calls)
	}
	call := run.calls[0]
	args, recorded := call[:len(call)-2], call[len(call)-2:]
	// As the administrator, on the PostgreSQL service.
	if want := "env=" + r.postgres + ",5432," + pg["POSTGRES_USER"] + "," + pg["POSTGRES_PASSWORD"] + ",postgres"; recorded[0] != want {
		t.Errorf("psql connected with %s, want %s", recorded[0], want)
	}
	if want := "db=" + vars["IMPORTER_DB_NAME"] + "," + vars["IMPORTER_DB_USER"] + "," + vars["IMPORTER_DB_PASSWORD"]; recorded[1] != want {
		t.Errorf("psql got %s, want %s", recorded[1], want)
	}
	if !slices.Contains(args, "ON_ERROR_STOP=1") {
		t.Errorf("psql %v: without -v ON_ERROR_STOP=1 a failed statement would not fail the job", args)
	}
	files := flagValues(args, "-f")
	if len(files) != 1 {
		t.Fatalf("psql %v: want one -f <sql file>", args)
	}
	for _, a := range args {
		if strings.Contains(a, vars["IMPORTER_DB_PASSWORD"]) {
			t.Errorf("psql argument %q holds the password: it would show in the process list", a)
		}
	}

	// The SQL reads exactly the variables the script hands over, and creates
	// the role and the database only when they are missing.
	sql := readFile(t, files[0])
	getenv := regexp.MustCompile(`(?m)^\\getenv\s+\w+\s+(\w+)\s*$`)
	var read []string
	for _, m := range getenv.FindAllStringSubmatch(sql, -1) {
		read = append(read, m[1])
	}
	slices.Sort(read)
	if want := []string{"IMPORTER_DB_NAME", "IMPORTER_DB_PASSWORD", "IMPORTER_DB_USER"}; !slices.Equal(read, want) {
		t.Errorf("%s reads %v with \\getenv, want %v", files[0], read, want)
	}
	for _, want := range []string{"CREATE ROLE", "CREATE DATABASE"} {
		guarded := regexp.MustCompile(`(?s)'` + want + ` [^;]*WHERE NOT EXISTS[^;]*\\gexec`)
		if !guarded.MatchString(sql) {
			t.Errorf("%s: %s is not guarded by WHERE NOT EXISTS ... \\gexec; a second run would fail", files[0], want)
		}
	}

	t.Run("psql fails", func(t *testing.T) {
		run := runJob(t, root, job, "psql", fakePsql, map[string]string{"FAKE_FAIL": "1"})
		if run.err == nil {
			t.Fatal("the job succeeded although psql failed; the worker would start without its database")
		}
	})
	t.Run("no password", func(t *testing.T) {
		run := runJob(t, root, job, "psql", fakePsql, map[string]string{"IMPORTER_DB_PASSWORD": ""})
		if run.err == nil || len(run.calls) > 0 {
			t.Fatalf("without IMPORTER_DB_PASSWORD the job ran psql %v (err %v)", run.calls, run.err)
		}
		if !strings.Contains(run.output, "IMPORTER_DB_PASSWORD") {
			t.Errorf("output does not say what is missing:\n%s", run.output)
		}
	})
}

func TestComposeWorkerArtifactsInTheObjectStore(t *testing.T) {
	root := repoRoot(t)
	p := loadProject(t, root, composeEnv)
	r := findRoles(t, p)
	w := serviceEnv(p.Services[r.worker])
	store := p.Services[r.objectStore]
	storeEnv := serviceEnv(store)

	if w["IMPORTER_ARTIFACTS"] != artifacts.KindS3 {
		t.Fatalf("worker IMPORTER_ARTIFACTS=%q, want s3: a local store keeps the files on one replica", w["IMPORTER_ARTIFACTS"])
	}
	// The settings as the worker reads them.
	cfg, err := artifacts.ConfigFromEnv(func(k string) string { return w[k] }, w["IMPORTER_DATA_DIR"])
	if err != nil {
		t.Fatalf("the worker would refuse its artifact settings: %v", err)
	}
	u, err := url.Parse(cfg.S3.Endpoint)
	if err != nil || u.Hostname() != r.objectStore || u.Port() == "" {
		t.Fatalf("IMPORTER_S3_ENDPOINT=%q, want http://%s:<port>, the object store service", cfg.S3.Endpoint, r.objectStore)
	}
	if !cfg.S3.PathStyle {
		t.Error("IMPORTER_S3_PATH_STYLE is not true: virtual-host URLs (<bucket>." + r.objectStore + ") do not resolve")
	}
	if cfg.S3.Region == "" {
		t.Error("IMPORTER_S3_REGION is empty: the SDK needs a region to sign with")
	}
	if cfg.S3.Bucket != storeEnv["S3_BUCKET"] {
		t.Errorf("worker uses bucket %q, the object store creates %q", cfg.S3.Bucket, storeEnv["S3_BUCKET"])
	}
	// The worker signs with the store's credentials, both from .env.
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		if w[k] == "" || w[k] != storeEnv[k] || w[k] != composeEnv[k] {
			t.Errorf("%s: worker %q, object store %q, .env %q; want the same value from .env", k, w[k], storeEnv[k], composeEnv[k])
		}
	}
	// Healthy means the S3 port answers and the bucket exists.
	check := strings.Join(store.HealthCheck.Test, " ")
	if !strings.Contains(check, ":"+u.Port()+"/") || !strings.Contains(check, "$S3_BUCKET") {
		t.Errorf("object store healthcheck %q should ask the S3 port %s and for the bucket ($S3_BUCKET)", check, u.Port())
	}

	// In production the vendor must reach the endpoint: .env can name another
	// store and bucket, and the worker uses them.
	prod := loadProject(t, root, withEnv("IMPORTER_S3_ENDPOINT", "https://s3.eu-west-1.amazonaws.com",
		"IMPORTER_S3_BUCKET", "acme-artifacts", "IMPORTER_S3_REGION", "eu-west-1"))
	pw := serviceEnv(prod.Services[r.worker])
	if pw["IMPORTER_S3_ENDPOINT"] != "https://s3.eu-west-1.amazonaws.com" || pw["IMPORTER_S3_BUCKET"] != "acme-artifacts" ||
		pw["IMPORTER_S3_REGION"] != "eu-west-1" {
		t.Errorf("IMPORTER_S3_* in .env should override the bundled store's; the worker got %v", pw)
	}
}

// The object store keeps its files on a named volume of its own, which no
// worker mounts.
func TestComposeObjectStoreKeepsItsOwnVolume(t *testing.T) {
	p := loadProject(t, repoRoot(t), composeEnv)
	r := findRoles(t, p)
	var named []string
	for _, v := range p.Services[r.objectStore].Volumes {
		if v.Type == types.VolumeTypeVolume {
			named = append(named, v.Source)
		}
	}
	if len(named) == 0 {
		t.Fatalf("object store %s has no named volume: the files would go with the container", r.objectStore)
	}
	for name, s := range p.Services {
		if name == r.objectStore {
			continue
		}
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeVolume && slices.Contains(named, v.Source) {
				t.Errorf("service %s mounts the object store's volume %s", name, v.Source)
			}
		}
	}
}
