// Command rmatopology is `make topology`: the production topology on this
// machine, as real processes on loopback, for a person to use. A private
// PostgreSQL holds the read model and Temporal's own databases; the
// Temporal server (go.temporal.io/server, built by make cluster-tools)
// runs on it, with the Temporal UI, `rma setup`, the partner simulators,
// one `rma api` and two `rma worker`s. It prints every process with its
// ports and runs until Ctrl-C.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/rma-dev/rma/topology"
	"github.com/rma-dev/rma/webhook"
)

func main() {
	var o topology.Options
	flag.StringVar(&o.Binary, "rma", "", "the rma binary the processes run (required; make topology builds it)")
	flag.StringVar(&o.Tools, "tools", ".bin", "where make cluster-tools installed the Temporal server, its SQL tool and the UI")
	flag.StringVar(&o.Dir, "dir", ".topology", "data and process logs (emptied at start: every run begins with a new cluster)")
	flag.IntVar(&o.Workers, "workers", 2, "rma worker processes")
	flag.IntVar(&o.Ports.Temporal, "temporal-port", 7233, "Temporal frontend (gRPC)")
	flag.IntVar(&o.Ports.UI, "ui-port", 8233, "Temporal UI")
	flag.IntVar(&o.Ports.API, "api-port", 8080, "rma api")
	flag.IntVar(&o.Ports.SimBase, "sim-base-port", 9100, "the simulators listen on base+1..base+4")
	flag.Parse()
	if o.Binary == "" {
		fmt.Fprintln(os.Stderr, "rmatopology: -rma is required (make topology builds it)")
		os.Exit(2)
	}
	for _, p := range []*string{&o.Binary, &o.Tools, &o.Dir} {
		if abs, err := filepath.Abs(*p); err == nil {
			*p = abs
		}
	}
	_ = os.RemoveAll(o.Dir)
	o.Token = "rma_" + webhook.RandomSecret(22)
	o.WebhookSecret = webhook.RandomSecret(24)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Println("starting the topology (the first start sets up Temporal's schema; logs in", o.Dir+")")
	sys, err := topology.Start(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rmatopology:", err)
		fmt.Fprintln(os.Stderr, "process logs are in", o.Dir)
		os.Exit(1)
	}
	defer sys.Close()
	fmt.Println("\nrunning:")
	sys.Describe(os.Stdout)
	fmt.Printf(`
  Temporal UI   %s  (payloads decode through %s/codec with a support token)
  rma API       %s  (admin token: %s)
  read model    %s

Try it:
  export RMA_API=%s RMA_TOKEN=%s
  curl -s -H "Authorization: Bearer $RMA_TOKEN" $RMA_API/v1/returns
  TEMPORAL_ADDRESS=%s RMA_PAYLOAD_KEYS_FILE=%s %s return list --database-url '%s'

Ctrl-C stops everything.
`, sys.UIURL, sys.APIURL, sys.APIURL, o.Token, sys.DBURL, sys.APIURL, o.Token, sys.HostPort, filepath.Join(o.Dir, "payload-keys"), o.Binary, sys.DBURL)
	<-ctx.Done()
	fmt.Println("stopping")
}
