// Command rmabench is `make bench`: it runs the bench package against a
// private topology (PostgreSQL, the Temporal server and the worker as
// processes, the simulators and the API in this one), prints the figures and
// the summary line, and writes them as JSON. BENCH_QUICK=1 shrinks every
// count for a run under two minutes.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"

	"github.com/rma-dev/rma/bench"
	"github.com/rma-dev/rma/worker"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := zap.NewNop()
	if os.Getenv("RMA_BENCH_LOG") != "" {
		log, _ = zap.NewDevelopment()
	}
	if role, err := bench.RunRole(ctx, log); role {
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	out := flag.String("json", "", "also write the report as JSON to this file")
	cache := flag.Int("workflow-cache", worker.DefaultOptions().WorkflowCache, "the worker's workflow cache (open returns kept in memory)")
	clients := flag.Int("clients", 0, "API latency clients (default 20; the calls are shared among them)")
	open := flag.Int("open", 0, "returns left waiting in the scale phase (default 10,000; 1,000 with BENCH_QUICK=1)")
	flag.Parse()
	dir, err := os.MkdirTemp("", "rma-bench")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	rep, err := bench.Run(ctx, bench.Config{Dir: dir, Quick: os.Getenv("BENCH_QUICK") == "1", WorkflowCache: *cache, Clients: *clients, Open: *open, Log: log, Progress: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	bench.Print(os.Stdout, rep)
	if *out != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(*out, b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	fmt.Println(rep.Summary())
}
