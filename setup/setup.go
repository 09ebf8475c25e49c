// Package setup prepares a Temporal namespace for rma, once per namespace
// and idempotently (`rma setup`): the namespace must exist (on a
// self-hosted cluster it may be created), and rma's search attributes must
// be registered with their types. Running it again changes nothing.
package setup

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Options of a setup run.
type Options struct {
	Namespace string
	// Create registers the namespace when it is missing (self-hosted
	// clusters; Temporal Cloud namespaces are made in the Cloud).
	Create bool
	// Retention is how long closed returns' histories are kept, for a
	// namespace Create makes.
	Retention time.Duration
	// SearchAttributes are the attributes rma needs, with their types.
	SearchAttributes map[string]enumspb.IndexedValueType
}

// Report is what a run found and did.
type Report struct {
	CreatedNamespace bool
	Retention        time.Duration
	Added, Present   []string
}

// Run checks the namespace and registers the missing search attributes.
// An attribute already registered with another type is an error: rma's
// queries would fail on it, and changing a type is not Temporal's to do.
func Run(ctx context.Context, c client.Client, o Options) (Report, error) {
	var rep Report
	desc, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: o.Namespace})
	var nf *serviceerror.NamespaceNotFound
	switch {
	case errors.As(err, &nf) && o.Create:
		if _, err := c.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
			Namespace: o.Namespace, Description: "rma returns",
			WorkflowExecutionRetentionPeriod: durationpb.New(o.Retention)}); err != nil {
			var exists *serviceerror.NamespaceAlreadyExists
			if !errors.As(err, &exists) {
				return rep, fmt.Errorf("create namespace %s: %w", o.Namespace, err)
			}
		} else {
			rep.CreatedNamespace = true
		}
		rep.Retention = o.Retention
		if err := waitNamespace(ctx, c, o.Namespace); err != nil {
			return rep, err
		}
	case errors.As(err, &nf):
		return rep, fmt.Errorf("namespace %s does not exist: create it (temporal operator namespace create, or in Temporal Cloud), or run rma setup --create-namespace on a self-hosted cluster", o.Namespace)
	case err != nil:
		return rep, fmt.Errorf("describe namespace %s: %w", o.Namespace, err)
	default:
		rep.Retention = desc.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration()
	}

	have, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: o.Namespace})
	if err != nil {
		return rep, fmt.Errorf("list search attributes of %s: %w", o.Namespace, err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	names := make([]string, 0, len(o.SearchAttributes))
	for n := range o.SearchAttributes {
		names = append(names, n)
	}
	sort.Strings(names)
	var conflicts []string
	for _, n := range names {
		want := o.SearchAttributes[n]
		got, ok := have.GetCustomAttributes()[n]
		switch {
		case !ok:
			missing[n] = want
			rep.Added = append(rep.Added, n)
		case got != want:
			conflicts = append(conflicts, fmt.Sprintf("%s is %s, rma needs %s", n, got, want))
		default:
			rep.Present = append(rep.Present, n)
		}
	}
	if len(conflicts) > 0 {
		return rep, fmt.Errorf("search attributes of namespace %s registered with other types: %s", o.Namespace, strings.Join(conflicts, "; "))
	}
	if len(missing) == 0 {
		return rep, nil
	}
	if _, err := c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace: o.Namespace, SearchAttributes: missing}); err != nil {
		var denied *serviceerror.PermissionDenied
		var unimpl *serviceerror.Unimplemented
		var exists *serviceerror.AlreadyExists
		if errors.As(err, &exists) {
			// Another setup added them a moment ago: check their types.
			return Run(ctx, c, Options{Namespace: o.Namespace, SearchAttributes: o.SearchAttributes})
		}
		if errors.As(err, &denied) || errors.As(err, &unimpl) {
			return rep, fmt.Errorf("this connection may not add search attributes (%w); on Temporal Cloud add them with tcld or in the Cloud UI: %s", err, describe(missing))
		}
		return rep, fmt.Errorf("add search attributes %s: %w", describe(missing), err)
	}
	return rep, nil
}

func describe(m map[string]enumspb.IndexedValueType) string {
	out := make([]string, 0, len(m))
	for n, t := range m {
		out = append(out, n+"="+strings.TrimPrefix(t.String(), "INDEXED_VALUE_TYPE_"))
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// waitNamespace waits until a new namespace answers: frontends learn of
// it at their next namespace cache refresh.
func waitNamespace(ctx context.Context, c client.Client, ns string) error {
	deadline := time.Now().Add(time.Minute)
	for {
		// Visibility goes through the frontend's namespace cache, as the
		// search attribute calls do.
		_, err := c.WorkflowService().CountWorkflowExecutions(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: ns})
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("namespace %s was created but does not answer after a minute: %w", ns, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
