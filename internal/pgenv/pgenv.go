// Package pgenv says where the PostgreSQL of tests, benchmarks and the
// soak is, from the libpq variables PGHOST, PGPORT, PGUSER and PGPASSWORD
// (default 127.0.0.1:5432 as postgres, no password). It connects to
// nothing and links nothing heavy, so light test packages and the
// embedded server's helpers share it.
package pgenv

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Server is a PostgreSQL server and the role to log in as.
type Server struct {
	Host     string
	Port     int
	User     string
	Password string
}

// FromEnv reads the libpq variables through getenv (os.Getenv). A PGHOST
// that names a socket directory is ignored: the callers need TCP.
func FromEnv(getenv func(string) string) (Server, error) {
	s := Server{Host: "127.0.0.1", Port: 5432, User: "postgres", Password: getenv("PGPASSWORD")}
	if h := getenv("PGHOST"); h != "" && !strings.HasPrefix(h, "/") {
		s.Host = h
	}
	if p := getenv("PGPORT"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return s, fmt.Errorf("PGPORT=%q is not a port", p)
		}
		s.Port = n
	}
	if u := getenv("PGUSER"); u != "" {
		s.User = u
	}
	return s, nil
}

// Addr is host:port.
func (s Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// URL is the postgres:// URL of a database on the server, without TLS.
func (s Server) URL(database string) string {
	u := url.URL{Scheme: "postgres", Host: s.Addr(), Path: "/" + database, RawQuery: "sslmode=disable"}
	if s.Password != "" {
		u.User = url.UserPassword(s.User, s.Password)
	} else {
		u.User = url.User(s.User)
	}
	return u.String()
}
