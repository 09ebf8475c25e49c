// Command rma runs and operates the rma returns service: the all-in-one dev
// server, the production worker and API, simulators, and the operator CLI.
// Commands only wire packages together; the logic lives in those packages.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "rma:", err)
		os.Exit(1)
	}
}
