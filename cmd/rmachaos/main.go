// Command rmachaos is the bounded chaos run of `make chaos`: it starts rma
// as separate processes, injects partner faults, kills workers and the
// Temporal server, drives returns down every path and audits the result
// (docs/reliability.md). Its last line is the summary; it exits 1 when any
// promise was broken.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/rma-dev/rma/chaos"
)

func main() {
	returns := 1000
	if v := os.Getenv("CHAOS_RETURNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			fmt.Fprintln(os.Stderr, "rmachaos: CHAOS_RETURNS must be a positive number, not", v)
			os.Exit(2)
		}
		returns = n
	}
	cfg := chaos.Config{Returns: returns, Out: os.Stdout}
	flag.StringVar(&cfg.Binary, "rma", "", "the rma binary the processes run (required)")
	flag.StringVar(&cfg.Dir, "dir", "", "where the run keeps its data and every process's log (default: a new temporary directory)")
	flag.IntVar(&cfg.Concurrency, "concurrency", 40, "returns driven at once")
	flag.Float64Var(&cfg.FaultRate, "faults", 0.2, "share of partner calls that fail")
	flag.DurationVar(&cfg.KillEvery, "kill-every", 10*time.Second, "how often a worker gets SIGKILL")
	flag.DurationVar(&cfg.Timeout, "timeout", 0, "bound for the whole run (default: 10 min + 1 s per return)")
	flag.Parse()
	if cfg.Binary == "" {
		fmt.Fprintln(os.Stderr, "rmachaos: -rma is required (make chaos builds it)")
		os.Exit(2)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10*time.Minute + time.Duration(returns)*time.Second
	}
	if cfg.Dir == "" {
		d, err := os.MkdirTemp("", "rma-chaos-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "rmachaos:", err)
			os.Exit(1)
		}
		cfg.Dir = d
	}
	abs, err := filepath.Abs(cfg.Binary)
	if err == nil {
		cfg.Binary = abs
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := chaos.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rmachaos:", err)
		fmt.Fprintln(os.Stderr, "process logs are in", cfg.Dir)
		os.Exit(1)
	}
	chaos.Report(os.Stdout, res)
	fmt.Println(res.Line())
	if !res.OK() {
		fmt.Fprintln(os.Stderr, "process logs are in", cfg.Dir)
		os.Exit(1)
	}
	_ = os.RemoveAll(cfg.Dir)
}
