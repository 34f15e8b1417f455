// Command fakevendors serves the fake vendor APIs on their own, so a worker
// started separately (or any HTTP client) can be pointed at them.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	dynamicfake "importer/activities/dynamic/fake"
	"importer/internal/sandbox"
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
	fmt.Printf("  export IMPORTER_NEBULY_BASE_URL=%s/nebuly IMPORTER_NEBULY_API_KEY=%s\n", sb.URL, sandbox.Key)
	fmt.Printf("  export IMPORTER_BITLABS_BASE_URL=%s/bitlabs IMPORTER_BITLABS_S2S_TOKEN=%s\n", sb.URL, sandbox.Key)
	fmt.Printf("  export IMPORTER_USERPILOT_BASE_URL=%s/userpilot IMPORTER_USERPILOT_API_KEY=%s\n", sb.URL, sandbox.Key)
	fmt.Printf("  export IMPORTER_DYNAMIC_BASE_URL=%s/dynamic IMPORTER_DYNAMIC_API_TOKEN=%s IMPORTER_DYNAMIC_ENVIRONMENT_ID=%s\n", sb.URL, sandbox.Key, dynamicfake.DefaultEnvironmentID)
	fmt.Printf("  export IMPORTER_FYND_BASE_URL=%s/fynd IMPORTER_FYND_CLIENT_ID=%s IMPORTER_FYND_CLIENT_SECRET=%s IMPORTER_FYND_COMPANY_ID=%s IMPORTER_FYND_APPLICATION_ID=%s\n\n",
		sb.URL, sandbox.FyndClientID, sandbox.Key, sandbox.FyndCompanyID, sandbox.FyndApplicationID)
	fmt.Println("Ctrl-C to stop.")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
}
