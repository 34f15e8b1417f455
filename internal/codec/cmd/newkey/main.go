// Command newkey prints a fresh payload encryption key as an
// IMPORTER_CODEC_KEYS entry:
//
//	go run ./internal/codec/cmd/newkey            # IMPORTER_CODEC_KEYS=k1:<key>
//	go run ./internal/codec/cmd/newkey -id k2     # to rotate: append ,k2:<key>
package main

import (
	"flag"
	"fmt"
	"os"

	"importer/internal/codec"
)

func main() {
	id := flag.String("id", "k1", "the key id: letters, digits, '-', '_' or '.'")
	flag.Parse()
	entry := *id + ":" + codec.NewKey()
	// Parse what we print, so a bad -id fails here rather than at the worker.
	if _, err := codec.ParseKeyring(entry, ""); err != nil {
		fmt.Fprintln(os.Stderr, "newkey:", err)
		os.Exit(2)
	}
	fmt.Printf("%s=%s\n", codec.EnvKeys, entry)
	fmt.Fprintf(os.Stderr, "Give the worker and the starter the same %s. To rotate, append \",%s:<key>\" to the\n"+
		"existing list: the last key listed seals new payloads (or name one in %s), older keys keep opening old ones.\n",
		codec.EnvKeys, *id, codec.EnvActiveKey)
}
