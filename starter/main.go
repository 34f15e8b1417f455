// Command starter is the importer's command-line client: it starts imports,
// follows their progress, shows their status and cancels them. `starter
// demo` runs a whole import on this machine with nothing else installed.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"importer/starter/cli"
	"importer/starter/demo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.NewRoot(os.Stdout, os.Stderr, demo.NewCommand).ExecuteContext(ctx)
	stop()
	var ee cli.ExitError
	switch {
	case errors.As(err, &ee):
		os.Exit(ee.Code)
	case err != nil:
		fmt.Fprintln(os.Stderr, "starter:", err)
		os.Exit(1)
	}
}
