// Command fakevendors serves the fake vendor APIs on their own, so a worker
// started separately (or any HTTP client) can be pointed at them. It serves
// every vendor of the registry, as `worker --sandbox` does.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"importer/activities/vendors"
	"importer/activities/vendors/sandbox"
	"importer/internal/connections"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8089", "address to listen on")
	latency := flag.Duration("latency", 0, "delay added to every call, to look like a real vendor")
	flag.Parse()
	sb, err := sandbox.Start(sandbox.Options{Addr: *addr, Latency: *latency})
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakevendors:", err)
		os.Exit(1)
	}
	defer sb.Close()
	fmt.Printf("Fake vendors at %s. Point a worker at them with:\n\n", sb.URL)
	for _, e := range vendors.All() {
		fmt.Printf("  export %s\n", exports(e.Spec.Name, e.Spec.Credentials, sb.Settings(e.Spec.Name)))
	}
	fmt.Println()
	fmt.Println("Ctrl-C to stop.")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
}

// exports lists a vendor's settings as the worker's variables: the base
// URL, the credentials in the order the vendor lists them, then the rest.
func exports(vendor string, credentials []string, settings map[string]string) string {
	order := append([]string{"BASE_URL"}, credentials...)
	var rest []string
	for k := range settings {
		if !slices.Contains(order, k) {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	var vars []string
	for _, k := range append(order, rest...) {
		if v, ok := settings[k]; ok {
			vars = append(vars, connections.EnvName(vendor, k)+"="+v)
		}
	}
	return strings.Join(vars, " ")
}
