package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/rma-dev/rma/domain"
)

// version is the release this source tree describes.
const version = "0.1.0"

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "rma",
		Short: "Durable returns, exchanges and refunds on Temporal",
		Long: `rma runs every e-commerce return, exchange and refund as a durable Temporal
workflow: deadlines are real timers, money moves exactly once, and every step
is readable in the Temporal UI.

Start here:
  rma dev                    run everything locally: Temporal + UI, simulators, worker, API
  rma return list            see the returns (rma return --help for the rest)
  rma policy show            print the effective policy (every SLA and threshold)
  rma policy apply -f FILE   store a new policy version (history, diff, whatif)

Production runs "rma worker" and "rma api" against any Temporal cluster,
self-hosted or Temporal Cloud; "rma setup" prepares its namespace once. The
connection comes from flags, the TEMPORAL_* variables or a profile of
Temporal's client config file (TOML), as the temporal CLI reads them:
` + wrapWords(temporalEnv(), 76, "  ") + `
README "Running in production" and deploy/README.md show the whole setup.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newVersionCmd(), newPolicyCmd(), newDevCmd(), newWorkerCmd(), newAPICmd(), newSimCmd(), newReturnCmd(), newMigrateCmd(), newReportCmd(), newTemporalCmd(), newTokenCmd(), newKeyCmd(), newCodecServerCmd(), newSetupCmd(), newProbeCmd(), newOpsCmd(), newWebhookCmd())
	return root
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the rma version and build",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rev := buildRevision()
			if rev == "" {
				rev = "unknown"
			}
			if bi, ok := debug.ReadBuildInfo(); ok {
				fmt.Fprintf(cmd.OutOrStdout(), "rma %s (%s, %s)\n", version, rev, bi.GoVersion)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rma %s\n", version)
			return nil
		},
	}
}

// loadPolicy reads a policy file over the defaults; no file means defaults.
func loadPolicy(file string) (domain.Policy, error) {
	if file == "" {
		return domain.Defaults(), nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return domain.Policy{}, fmt.Errorf("read policy file: %w", err)
	}
	p, err := domain.LoadPolicy(data)
	if err != nil {
		return domain.Policy{}, fmt.Errorf("policy file %s: %w", file, err)
	}
	return p, nil
}

func printPolicy(w io.Writer, p domain.Policy, output string) error {
	switch output {
	case "yaml", "":
		b, err := p.YAML()
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	case "json":
		// Go through the YAML form so JSON has the same snake_case keys and
		// duration strings as the file format.
		b, err := p.YAML()
		if err != nil {
			return err
		}
		var m map[string]any
		if err := yaml.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("convert policy: %w", err)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(m)
	default:
		return fmt.Errorf("unknown output %q: use yaml or json", output)
	}
}

// wrapWords lays words out in lines of at most width, each indented.
func wrapWords(words []string, width int, indent string) string {
	var lines []string
	line := indent
	for _, w := range words {
		if len(line) > len(indent) && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = indent
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += w
	}
	return strings.Join(append(lines, line), "\n")
}

// buildRevision is the git commit the binary was built from ("" when the
// build carries none, as under go run outside a checkout).
func buildRevision() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			return s.Value
		}
	}
	return ""
}
