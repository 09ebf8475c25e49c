//go:build !nodev

package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/rma-dev/rma/devtemporal"
	"github.com/rma-dev/rma/workflows"
)

func newTemporalCmd() *cobra.Command {
	var dataDir string
	var port, uiPort int
	cmd := &cobra.Command{
		Use:   "temporal",
		Short: "Run only the embedded Temporal dev server and Web UI (what rma dev embeds)",
		Long: `rma temporal runs the Temporal server that rma dev embeds, alone: one
SQLite file in --data-dir (open returns and their timers survive a restart,
even a kill), the default namespace with rma's search attributes, and the
Web UI. Use it to run "rma worker" and "rma api" as separate processes on
one machine, as make chaos does; production uses a real Temporal cluster.

Example:
  rma temporal --data-dir .rma-temporal --port 7233 --ui-port 8233`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := filepath.Abs(dataDir)
			if err != nil {
				return fmt.Errorf("data dir: %w", err)
			}
			log := newLogger(true)
			defer func() { _ = log.Sync() }()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			srv, err := devtemporal.Start(ctx, devtemporal.Options{DataDir: dir, FrontendPort: port, UIPort: uiPort,
				SearchAttributes: workflows.SearchAttributeTypes(), Logger: log})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "temporal is running: frontend %s, namespace %s, UI http://%s (data in %s)\n",
				srv.FrontendAddress(), srv.Namespace(), srv.UIAddress(), dir)
			<-ctx.Done()
			srv.Stop()
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data-dir", envOr("RMA_DATA_DIR", ".rma-dev"), "where Temporal's SQLite file lives (env RMA_DATA_DIR)")
	f.IntVar(&port, "port", 7233, "frontend (gRPC) port")
	f.IntVar(&uiPort, "ui-port", 8233, "Web UI port; 0 runs no UI")
	return cmd
}
