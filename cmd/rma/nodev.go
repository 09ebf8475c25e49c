//go:build nodev

package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// The production image (deploy/Dockerfile) is built with -tags nodev: it
// leaves out the embedded Temporal server, its UI and the private
// PostgreSQL of rma dev and rma temporal, which are most of the binary.

func newDevCmd() *cobra.Command { return notInThisBuild("dev") }

func newTemporalCmd() *cobra.Command { return notInThisBuild("temporal") }

func notInThisBuild(name string) *cobra.Command {
	return &cobra.Command{
		Use:    name,
		Short:  "Not in this build (the production image leaves out the embedded Temporal server)",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("rma " + name + " is not in this build: the production image is built with -tags nodev; run go run ./cmd/rma " + name + " from a checkout")
		},
	}
}
