package devserver

import "testing"

func TestPostgresFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	pg, err := PostgresFromEnv(env(nil))
	if err != nil || pg.Addr() != "127.0.0.1:5432" || pg.User != "postgres" || !pg.Setup {
		t.Fatalf("defaults: %+v, %v", pg, err)
	}
	pg, err = PostgresFromEnv(env(map[string]string{"PGHOST": "db.internal", "PGPORT": "6543", "PGUSER": "ci", "PGPASSWORD": "pw"}))
	if err != nil || pg.Addr() != "db.internal:6543" || pg.User != "ci" || pg.Password != "pw" {
		t.Fatalf("from the environment: %+v, %v", pg, err)
	}
	// A socket directory is not an address the server can use: TCP on
	// loopback stays.
	if pg, _ = PostgresFromEnv(env(map[string]string{"PGHOST": "/var/run/postgresql"})); pg.Host != "127.0.0.1" {
		t.Fatalf("PGHOST socket directory: host %q", pg.Host)
	}
	for _, bad := range []string{"x", "0", "70000"} {
		if _, err := PostgresFromEnv(env(map[string]string{"PGPORT": bad})); err == nil {
			t.Errorf("PGPORT=%q accepted", bad)
		}
	}
	a, _ := pg.WithFreshDatabases("t_")
	b, _ := pg.WithFreshDatabases("t_")
	if a.Database == b.Database || a.VisibilityDatabase != a.Database+"_visibility" {
		t.Fatalf("fresh databases: %q and %q", a.Database, b.Database)
	}
}
