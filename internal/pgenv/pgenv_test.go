package pgenv

import "testing"

func TestFromEnvDefaultsAndOverrides(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	s, err := FromEnv(env(nil))
	if err != nil || s.URL("db") != "postgres://postgres@127.0.0.1:5432/db?sslmode=disable" {
		t.Fatalf("defaults: %+v %v %s", s, err, s.URL("db"))
	}
	s, err = FromEnv(env(map[string]string{"PGHOST": "db.internal", "PGPORT": "6543", "PGUSER": "ci", "PGPASSWORD": "p@ss"}))
	if err != nil || s.URL("x") != "postgres://ci:p%40ss@db.internal:6543/x?sslmode=disable" {
		t.Fatalf("overrides: %s %v", s.URL("x"), err)
	}
	if s, _ := FromEnv(env(map[string]string{"PGHOST": "/var/run/postgresql"})); s.Host != "127.0.0.1" {
		t.Fatalf("a socket directory was taken for a host: %s", s.Host)
	}
	if _, err := FromEnv(env(map[string]string{"PGPORT": "five"})); err == nil {
		t.Fatal("a bad PGPORT was accepted")
	}
}
