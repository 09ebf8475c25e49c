package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// newProbeCmd is a container health check for images without curl (the
// distroless image): it GETs a URL and fails unless it answers 2xx.
func newProbeCmd() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "probe URL",
		Short: "Health-check an rma endpoint: exit 0 on a 2xx answer (for container health checks)",
		Long: `rma probe GETs URL (an API's or worker's /readyz or /healthz) and exits 0
when it answers 2xx, 1 otherwise, printing the answer. The rma image has no
shell or curl; compose health checks run "/rma probe http://127.0.0.1:8080/readyz".`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			hc := &http.Client{Timeout: timeout}
			resp, err := hc.Get(args[0])
			if err != nil {
				return fmt.Errorf("probe %s: %w", args[0], err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			if resp.StatusCode/100 != 2 {
				return fmt.Errorf("probe %s: %s %s", args[0], resp.Status, strings.TrimSpace(string(body)))
			}
			fmt.Fprintln(cmd.OutOrStdout(), strings.TrimSpace(string(body)))
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "how long to wait for the answer")
	return cmd
}
