// Package starter is the typed Go client that merchant backends, the HTTP API
// and the CLI use to start returns and command them. It speaks only the names
// and payloads of workflows/contract.go, and turns Temporal errors into the
// few errors a caller acts on: not found, refused (conflict or invalid), and
// validation problems. A create writes the return's opening and idempotency
// key to PostgreSQL before it starts the workflow, and reads come from there.
package starter

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/temporalio/sqlparser"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/store"
	"github.com/rma-dev/rma/workflows"
)

// ErrNotFound means no return has that ID.
var ErrNotFound = errors.New("return not found")

// ErrIdempotencyConflict is the refusal kind of a create whose key was used
// for a different request.
const ErrIdempotencyConflict = "idempotency_conflict"

// RefusedError is a command the workflow refused: Kind is
// workflows.ErrInvalidTransition, workflows.ErrInvalidInput,
// workflows.ErrForbidden or
// ErrIdempotencyConflict.
type RefusedError struct {
	Kind    string
	Message string
	// Status is the return's status when a command was refused because the
	// return had ended.
	Status domain.Status
}

func (e *RefusedError) Error() string { return e.Message }

// Registry is the PostgreSQL side a create needs: customer history for the
// abuse rules, idempotency keys, and the opening written before the start
// (store.Store implements it).
type Registry interface {
	CustomerHistory(ctx context.Context, customerID, excludeRMA string, since time.Time) (domain.CustomerHistory, error)
	LookupKey(ctx context.Context, key string) (*store.Existing, error)
	Open(ctx context.Context, o store.Opening) error
	MarkStarted(ctx context.Context, rmaID string) error
	Get(ctx context.Context, id string) (domain.Return, error)
	// Unstarted is the opening of a return whose workflow has not started
	// (nil when it has, or there is no such return).
	Unstarted(ctx context.Context, id string) (*store.Existing, error)
}

// Client starts and commands returns.
type Client struct {
	c      client.Client
	policy domain.Policy
	// policies, when set, is where the current policy version is read:
	// every new return runs under the version current at its start.
	policies PolicySource
	reg      Registry
	now      func() time.Time
	// Deferred leaves the workflow's start to a Launcher: Create answers
	// once the opening is in PostgreSQL (and so survives anything), and a
	// launcher starts its workflow within milliseconds. The API runs
	// launchers; a one-shot caller (the CLI) starts at once.
	Deferred bool
}

// New builds a Client. policy is snapshotted into every return started;
// reg may be nil for a client that only commands and lists returns.
func New(c client.Client, policy domain.Policy, reg Registry) *Client {
	return &Client{c: c, policy: policy, reg: reg, now: time.Now}
}

// PolicySource serves the current stored policy and its version
// (store.Policies).
type PolicySource interface {
	Current(ctx context.Context) (domain.Policy, int, error)
}

// WithPolicies makes new returns run under the source's current version
// instead of the fixed policy New was given.
func (s *Client) WithPolicies(p PolicySource) *Client {
	s.policies = p
	return s
}

// CurrentPolicy is the policy (and its stored version, 0 for a fixed one)
// a return started now runs under.
func (s *Client) CurrentPolicy(ctx context.Context) (domain.Policy, int, error) {
	if s.policies == nil {
		return s.policy, 0, nil
	}
	p, v, err := s.policies.Current(ctx)
	if err != nil {
		return domain.Policy{}, 0, fmt.Errorf("current policy: %w", err)
	}
	return p, v, nil
}

// Temporal exposes the underlying client (for the worker and health checks).
func (s *Client) Temporal() client.Client { return s.c }

// Created is the answer to Create.
type Created struct {
	// New is true when this call started the return, false when the key
	// had already started it.
	New    bool
	Return domain.Return
}

// RMAIDForKey derives the RMA ID from an idempotency key, so the same key
// always addresses the same workflow.
func RMAIDForKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "RMA-" + strings.ToUpper(hex.EncodeToString(sum[:6]))
}

func newRMAID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "RMA-" + strings.ToUpper(hex.EncodeToString(b))
}

// RequestHash is a stable hash of a normalized request.
func RequestHash(req domain.Request) string {
	b, _ := json.Marshal(req.Normalize())
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// ErrNoRegistry: creating a return needs the PostgreSQL registry.
var ErrNoRegistry = errors.New("creating a return needs the read model: configure a database")

// Create validates a request and writes its opening (the decision policy
// makes at once, with its idempotency key) to PostgreSQL; the workflow is
// then started with the same input, here or (Deferred) by a Launcher. The
// same key with the same body returns the same return; with a different body
// it is refused with ErrIdempotencyConflict, for as long as the return is
// kept, whatever Temporal's retention. An empty key always starts a new
// return.
func (s *Client) Create(ctx context.Context, key string, req domain.Request, actor string) (Created, error) {
	if s.reg == nil {
		return Created{}, ErrNoRegistry
	}
	req = req.Normalize()
	if err := req.Validate(s.now()); err != nil {
		return Created{}, err
	}
	hash := RequestHash(req)
	if key != "" {
		ex, err := s.reg.LookupKey(ctx, key)
		if err != nil {
			return Created{}, err
		}
		if ex != nil {
			return s.resume(ctx, ex, hash)
		}
	}
	id := newRMAID()
	if key != "" {
		id = RMAIDForKey(key)
	}
	now := s.now().UTC()
	policy, version, err := s.CurrentPolicy(ctx)
	if err != nil {
		return Created{}, err
	}
	if err := policy.CheckRefundMethod(req); err != nil {
		return Created{}, err
	}
	hist, err := s.reg.CustomerHistory(ctx, req.Customer.ID, id, now.Add(-policy.Abuse.Period.D()))
	if err != nil {
		return Created{}, err
	}
	in := workflows.StartInput{RMAID: id, Request: req, Policy: policy, PolicyVersion: version, RequestedAt: now, Actor: actor, History: hist, OpeningPublished: true, Features: workflows.FeaturesCurrent}
	pub := workflows.OpeningPublication(in)
	raw, err := json.Marshal(in)
	if err != nil {
		return Created{}, fmt.Errorf("encode start input: %w", err)
	}
	err = s.reg.Open(ctx, store.Opening{Key: key, RequestHash: hash, StartInput: raw, Publication: pub})
	if errors.Is(err, store.ErrKeyExists) && key != "" {
		// A concurrent create with the same key won.
		ex, lerr := s.reg.LookupKey(ctx, key)
		if lerr != nil {
			return Created{}, fmt.Errorf("idempotency key %q after a concurrent create: %w", key, lerr)
		}
		if ex == nil {
			return Created{}, fmt.Errorf("idempotency key %q maps to return %s, opened under another key: %w", key, id, err)
		}
		return s.resume(ctx, ex, hash)
	}
	if err != nil {
		return Created{}, err
	}
	if !s.Deferred {
		if err := s.launch(ctx, in, pub.Return); err != nil {
			return Created{}, err
		}
	}
	return Created{New: true, Return: pub.Return}, nil
}

// launch starts an opened return's workflow and marks it started.
func (s *Client) launch(ctx context.Context, in workflows.StartInput, v domain.Return) error {
	if err := s.start(ctx, in, v); err != nil {
		return err
	}
	return s.reg.MarkStarted(ctx, in.RMAID)
}

// launchStored starts the workflow of an opening from its stored input.
func (s *Client) launchStored(ctx context.Context, rmaID string, raw []byte) error {
	var in workflows.StartInput
	if err := json.Unmarshal(raw, &in); err != nil {
		return fmt.Errorf("decode start input of %s: %w", rmaID, err)
	}
	if in.RMAID != rmaID {
		return fmt.Errorf("start input of %s is for %q: the opening is damaged", rmaID, in.RMAID)
	}
	return s.launch(ctx, in, workflows.OpeningPublication(in).Return)
}

// resume answers a repeated create: the same body gets the same return (its
// workflow started now if the first call could not), another body a refusal.
func (s *Client) resume(ctx context.Context, ex *store.Existing, hash string) (Created, error) {
	if ex.RequestHash != hash {
		return Created{}, &RefusedError{Kind: ErrIdempotencyConflict, Message: "idempotency key already used for a different request (return " + ex.RMAID + ")"}
	}
	if !ex.Started && !s.Deferred {
		if err := s.launchStored(ctx, ex.RMAID, ex.StartInput); err != nil {
			return Created{}, err
		}
	}
	r, err := s.reg.Get(ctx, ex.RMAID)
	if errors.Is(err, store.ErrNotFound) {
		err = ErrNotFound
	}
	return Created{Return: r}, err
}

// start starts the workflow, or finds it already started (a retried
// create). The search attributes set here are free.
func (s *Client) start(ctx context.Context, in workflows.StartInput, v domain.Return) error {
	req := in.Request
	_, err := s.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       workflows.WorkflowID(in.RMAID),
		TaskQueue:                workflows.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		TypedSearchAttributes:    workflows.StartSearchAttributes(req, v),
		StaticSummary:            fmt.Sprintf("%s %s for %s: %d line(s), %s", req.Kind, req.OrderID, req.Customer.ID, len(req.Lines), req.Total()),
	}, workflows.WorkflowType, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if err != nil && !errors.As(err, &started) {
		return fmt.Errorf("start workflow for %s: %w", in.RMAID, mapErr(err))
	}
	return nil
}

// Get returns a return from the read model: it shows every answered
// command's effect, and costs no Temporal action.
func (s *Client) Get(ctx context.Context, id string) (domain.Return, error) {
	if s.reg == nil {
		return s.Query(ctx, id)
	}
	r, err := s.reg.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return r, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return r, err
}

// Query asks the running workflow for its state (billed as an action; ops
// use it from the CLI when no read model is at hand).
func (s *Client) Query(ctx context.Context, id string) (domain.Return, error) {
	v, err := s.c.QueryWorkflow(ctx, workflows.WorkflowID(id), "", workflows.QueryStatus)
	if err != nil {
		return domain.Return{}, mapErr(err)
	}
	var r domain.Return
	if err := v.Get(&r); err != nil {
		return domain.Return{}, fmt.Errorf("decode return %s: %w", id, err)
	}
	return r, nil
}

// Update sends a command and waits for the workflow's answer: the status and
// the read model's seq that shows the command's effect. updateID
// deduplicates retries of the same command; empty means a new one. A return
// whose workflow has ended refuses every command with invalid_transition.
func (s *Client) Update(ctx context.Context, id, name, updateID string, arg any) (workflows.CommandResult, error) {
	return s.update(ctx, id, name, updateID, arg, true)
}

func (s *Client) update(ctx context.Context, id, name, updateID string, arg any, again bool) (workflows.CommandResult, error) {
	h, err := s.c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: workflows.WorkflowID(id), UpdateName: name, UpdateID: updateID,
		Args: []any{arg}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	var res workflows.CommandResult
	if err == nil {
		err = h.Get(ctx, &res)
	}
	if err == nil {
		return res, nil
	}
	err = mapErr(err)
	if errors.Is(err, ErrNotFound) && s.reg != nil {
		// Not started yet (a command right after the create), ended, or
		// dropped by Temporal's retention: PostgreSQL knows which.
		ex, lerr := s.reg.Unstarted(ctx, id)
		if lerr != nil {
			return res, lerr
		}
		if ex != nil {
			if err := s.launchStored(ctx, id, ex.StartInput); err != nil {
				return res, err
			}
			return s.update(ctx, id, name, updateID, arg, false)
		}
		r, gerr := s.reg.Get(ctx, id)
		if gerr != nil && !errors.Is(gerr, store.ErrNotFound) {
			return res, gerr
		}
		if gerr == nil {
			if again && !r.Status.Final() {
				// A launcher started it between our two looks.
				return s.update(ctx, id, name, updateID, arg, false)
			}
			return res, &RefusedError{Kind: workflows.ErrInvalidTransition, Status: r.Status,
				Message: fmt.Sprintf("cannot %s: return %s is %s", name, id, r.Status)}
		}
	}
	return res, err
}

// Signal delivers a carrier event to a return's workflow.
func (s *Client) Signal(ctx context.Context, id string, ev workflows.CarrierEvent) error {
	if err := s.c.SignalWorkflow(ctx, workflows.WorkflowID(id), "", workflows.SignalCarrierEvent, ev); err != nil {
		return mapErr(err)
	}
	return nil
}

// SignalRestock tells a return waiting for a backordered SKU that it is
// back in stock.
func (s *Client) SignalRestock(ctx context.Context, id string, ev workflows.RestockEvent) error {
	if err := s.c.SignalWorkflow(ctx, workflows.WorkflowID(id), "", workflows.SignalRestock, ev); err != nil {
		return mapErr(err)
	}
	return nil
}

// Filter selects returns; empty fields match anything.
type Filter struct {
	Status     string
	OrderID    string
	CustomerID string
	SKU        string
	Kind       string
	Tracking   string
}

// Summary is one listed return, read from search attributes.
type Summary struct {
	ID         string     `json:"id"`
	Status     string     `json:"status"`
	OrderID    string     `json:"order_id"`
	CustomerID string     `json:"customer_id"`
	Kind       string     `json:"kind"`
	SKUs       []string   `json:"skus"`
	Deadline   *time.Time `json:"deadline"`
	CreatedAt  time.Time  `json:"created_at"`
	Running    bool       `json:"running"`
}

// Page is one page of a list.
type Page struct {
	Items         []Summary `json:"items"`
	NextPageToken []byte    `json:"next_page_token,omitempty"`
}

// quote makes v a string literal of Temporal's visibility query language,
// escaped by the server's own SQL tokenizer rules: a quote, backslash or
// keyword in a filter stays a value and cannot end the literal.
func quote(v string) string { return sqlparser.String(sqlparser.NewStrVal([]byte(v))) }

// Query builds the visibility query for a filter.
func (f Filter) Query() string {
	q := []string{"WorkflowType = " + quote(workflows.WorkflowType)}
	add := func(key, v string) {
		if v != "" {
			q = append(q, key+" = "+quote(v))
		}
	}
	add(workflows.SAStatus.GetName(), f.Status)
	add(workflows.SAOrder.GetName(), f.OrderID)
	add(workflows.SACustomer.GetName(), f.CustomerID)
	add(workflows.SASKUs.GetName(), f.SKU)
	add(workflows.SAKind.GetName(), f.Kind)
	add(workflows.SATracking.GetName(), f.Tracking)
	return strings.Join(q, " AND ")
}

// List lists returns through Temporal visibility, newest first.
func (s *Client) List(ctx context.Context, f Filter, pageSize int, token []byte) (Page, error) {
	if pageSize <= 0 || pageSize > 200 {
		pageSize = 50
	}
	resp, err := s.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: f.Query(), PageSize: int32(pageSize), NextPageToken: token})
	if err != nil {
		return Page{}, mapErr(err)
	}
	return Page{NextPageToken: resp.NextPageToken, Items: summaries(resp)}, nil
}

// summaries reads a visibility list's returns from their search
// attributes.
func summaries(resp *workflowservice.ListWorkflowExecutionsResponse) []Summary {
	var items []Summary
	dc := converter.GetDefaultDataConverter()
	for _, e := range resp.Executions {
		sum := Summary{
			ID: strings.TrimPrefix(e.Execution.WorkflowId, workflows.WorkflowID("")), CreatedAt: e.StartTime.AsTime(),
			Running: e.Status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING,
		}
		fields := e.GetSearchAttributes().GetIndexedFields()
		get := func(name string, into any) {
			if p, ok := fields[name]; ok {
				_ = dc.FromPayload(p, into)
			}
		}
		get(workflows.SAStatus.GetName(), &sum.Status)
		get(workflows.SAOrder.GetName(), &sum.OrderID)
		get(workflows.SACustomer.GetName(), &sum.CustomerID)
		get(workflows.SAKind.GetName(), &sum.Kind)
		get(workflows.SASKUs.GetName(), &sum.SKUs)
		var dl time.Time
		get(workflows.SADeadline.GetName(), &dl)
		if !dl.IsZero() {
			sum.Deadline = &dl
		}
		items = append(items, sum)
	}
	return items
}

// Matching lists the running returns a visibility query selects (for
// example RmaStatus="awaiting_shipment" AND RmaDeadline < "..."), at most
// limit, reading page after page.
func (s *Client) Matching(ctx context.Context, query string, limit int) ([]Summary, error) {
	q := fmt.Sprintf(`WorkflowType = %q AND ExecutionStatus = "Running"`, workflows.WorkflowType)
	if strings.TrimSpace(query) != "" {
		q += " AND (" + query + ")"
	}
	var out []Summary
	var token []byte
	for {
		resp, err := s.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: q, PageSize: 200, NextPageToken: token})
		if err != nil {
			var inv *serviceerror.InvalidArgument
			if errors.As(err, &inv) {
				return nil, &RefusedError{Kind: workflows.ErrInvalidInput, Message: "query: " + inv.Message}
			}
			return nil, mapErr(err)
		}
		// The user's query is wrapped in parentheses, but a query that
		// closes them could reach other workflows: keep running returns.
		running := resp.Executions[:0:0]
		for _, e := range resp.Executions {
			if e.GetType().GetName() == workflows.WorkflowType && e.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				running = append(running, e)
			}
		}
		out = append(out, summaries(&workflowservice.ListWorkflowExecutionsResponse{Executions: running})...)
		if len(out) >= limit {
			return out[:limit], nil
		}
		if token = resp.NextPageToken; len(token) == 0 {
			return out, nil
		}
	}
}

// ExtendItem is one return of a bulk extension.
type ExtendItem struct {
	ID           string     `json:"id"`
	Status       string     `json:"status"`
	DeadlineKind string     `json:"deadline_kind,omitempty"`
	Deadline     *time.Time `json:"deadline,omitempty"`
	NewDeadline  *time.Time `json:"new_deadline,omitempty"`
	Error        string     `json:"error,omitempty"`
}

// ExtendReport is what a bulk extension did (or, dry, would do).
type ExtendReport struct {
	DryRun   bool         `json:"dry_run"`
	Query    string       `json:"query"`
	By       string       `json:"by"`
	Matched  int          `json:"matched"`
	Extended int          `json:"extended"`
	Items    []ExtendItem `json:"items"`
}

// ExtendMatching moves the deadline of every running return the query
// selects (at most limit): in batches of ten concurrent updates, each with
// an update ID from key and the return, so a bulk run sent again extends
// nothing twice. Dry, it only lists each return's deadline and where it
// would move, from get (the read model).
func (s *Client) ExtendMatching(ctx context.Context, query string, in workflows.ExtendInput, key string, dryRun bool, limit int,
	get func(ctx context.Context, id string) (domain.Return, error)) (ExtendReport, error) {
	rep := ExtendReport{DryRun: dryRun, Query: query, By: in.By}
	if err := in.Validate(); err != nil {
		return rep, err
	}
	matched, err := s.Matching(ctx, query, limit)
	if err != nil {
		return rep, err
	}
	rep.Matched = len(matched)
	rep.Items = make([]ExtendItem, len(matched))
	by := in.Duration()
	const batch = 10
	for start := 0; start < len(matched); start += batch {
		var wg sync.WaitGroup
		for i := start; i < min(start+batch, len(matched)); i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				it := ExtendItem{ID: matched[i].ID, Status: matched[i].Status}
				if r, err := get(ctx, it.ID); err == nil && r.Deadline != nil {
					at, next := r.Deadline.At, r.Deadline.At.Add(by)
					it.DeadlineKind, it.Deadline, it.NewDeadline = r.Deadline.Kind, &at, &next
				}
				if !dryRun {
					arg := in
					if _, err := s.Update(ctx, it.ID, workflows.UpdateExtend, key+"/"+it.ID, &arg); err != nil {
						it.Error = err.Error()
						it.NewDeadline = nil
					}
				}
				rep.Items[i] = it
			}(i)
		}
		wg.Wait()
	}
	for _, it := range rep.Items {
		if !dryRun && it.Error == "" {
			rep.Extended++
		}
	}
	return rep, nil
}

// mapErr turns Temporal errors into the starter's.
func mapErr(err error) error {
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return fmt.Errorf("%w: %s", ErrNotFound, nf.Message)
	}
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		switch app.Type() {
		case workflows.ErrInvalidTransition, workflows.ErrInvalidInput, workflows.ErrForbidden:
			return &RefusedError{Kind: app.Type(), Message: app.Message()}
		}
	}
	return err
}

// EnsureAnomalySchedule creates (or updates) the Temporal Schedule that runs
// the batch anomaly check every policy.anomaly.check_every: a Schedule, not
// cron, so it is visible, pausable and backfillable in the Temporal UI.
func (s *Client) EnsureAnomalySchedule(ctx context.Context) error {
	policy, _, err := s.CurrentPolicy(ctx)
	if err != nil {
		return err
	}
	every := policy.Anomaly.CheckEvery.D()
	spec := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: every}}}
	action := &client.ScheduleWorkflowAction{ID: workflows.AnomalyScheduleID, Workflow: workflows.AnomalyWorkflowType,
		TaskQueue: workflows.TaskQueue, Args: []any{workflows.AnomalyInput{Rule: policy.Anomaly}},
		StaticSummary: "batch return-rate check every " + policy.Anomaly.CheckEvery.String()}
	_, err = s.c.ScheduleClient().Create(ctx, client.ScheduleOptions{ID: workflows.AnomalyScheduleID, Spec: spec, Action: action,
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, Note: "rma: tell the quality team about batches whose return rate jumped"})
	if err == nil {
		return nil
	}
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return fmt.Errorf("create anomaly schedule: %w", err)
	}
	h := s.c.ScheduleClient().GetHandle(ctx, workflows.AnomalyScheduleID)
	if err := h.Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
		in.Description.Schedule.Spec = &spec
		in.Description.Schedule.Action = action
		return &client.ScheduleUpdate{Schedule: &in.Description.Schedule}, nil
	}}); err != nil {
		return fmt.Errorf("update anomaly schedule: %w", err)
	}
	return nil
}
