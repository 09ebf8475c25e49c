// Package starter is the typed Go client that merchant backends, the HTTP API
// and the CLI use to start returns and command them. It speaks only the names
// and payloads of workflows/contract.go, and turns Temporal errors into the
// few errors a caller acts on: not found, refused (conflict or invalid), and
// validation problems.
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
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/workflows"
)

// ErrNotFound means no return has that ID.
var ErrNotFound = errors.New("return not found")

// RefusedError is a command the workflow refused: Kind is
// workflows.ErrInvalidTransition, ErrInvalidInput or ErrIdempotencyConflict.
type RefusedError struct {
	Kind    string
	Message string
}

func (e *RefusedError) Error() string { return e.Message }

// Client starts and commands returns.
type Client struct {
	c      client.Client
	policy domain.Policy
	now    func() time.Time
}

// New builds a Client. policy is snapshotted into every return started.
func New(c client.Client, policy domain.Policy) *Client {
	return &Client{c: c, policy: policy, now: time.Now}
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

// Create validates and starts a return in one round trip (Update-with-Start).
// The same idempotency key with the same body returns the same return; with a
// different body it is refused with ErrIdempotencyConflict. An empty key
// always starts a new return.
func (s *Client) Create(ctx context.Context, key string, req domain.Request, actor string) (Created, error) {
	req = req.Normalize()
	if err := req.Validate(s.now()); err != nil {
		return Created{}, err
	}
	id := newRMAID()
	if key != "" {
		id = RMAIDForKey(key)
	}
	hash := RequestHash(req)
	in := workflows.StartInput{RMAID: id, Request: req, Policy: s.policy, RequestedAt: s.now().UTC(), Actor: actor, RequestHash: hash}
	startOp := s.c.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID:                       workflows.WorkflowID(id),
		TaskQueue:                workflows.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		TypedSearchAttributes:    workflows.StartSearchAttributes(req),
		Memo:                     map[string]any{"request_hash": hash},
		StaticSummary:            fmt.Sprintf("%s %s for %s: %d line(s), %s", req.Kind, req.OrderID, req.Customer.ID, len(req.Lines), req.Total()),
	}, workflows.WorkflowType, in)
	h, err := s.c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: startOp,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateName: workflows.UpdateCreated, Args: []any{workflows.CreatedInput{RequestHash: hash}},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	if err != nil {
		var started *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &started) {
			return s.createdEarlier(ctx, id, hash)
		}
		return Created{}, mapErr(err)
	}
	var res workflows.CreatedResult
	if err := h.Get(ctx, &res); err != nil {
		return Created{}, mapErr(err)
	}
	return Created{New: res.Created, Return: res.Return}, nil
}

// createdEarlier answers a repeated create for a return that has closed.
func (s *Client) createdEarlier(ctx context.Context, id, hash string) (Created, error) {
	d, err := s.c.DescribeWorkflowExecution(ctx, workflows.WorkflowID(id), "")
	if err != nil {
		return Created{}, mapErr(err)
	}
	var prev string
	if p, ok := d.WorkflowExecutionInfo.GetMemo().GetFields()["request_hash"]; ok {
		_ = converter.GetDefaultDataConverter().FromPayload(p, &prev)
	}
	if prev != hash {
		return Created{}, &RefusedError{Kind: workflows.ErrIdempotencyConflict, Message: "idempotency key already used for a different request (return " + id + ")"}
	}
	r, err := s.Get(ctx, id)
	return Created{Return: r}, err
}

// Get returns the live state of a return.
func (s *Client) Get(ctx context.Context, id string) (domain.Return, error) {
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

// Update sends a command and returns the return as it stands afterwards.
// updateID deduplicates retries of the same command; empty means a new one.
func (s *Client) Update(ctx context.Context, id, name, updateID string, arg any) (domain.Return, error) {
	h, err := s.c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: workflows.WorkflowID(id), UpdateName: name, UpdateID: updateID,
		Args: []any{arg}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return domain.Return{}, mapErr(err)
	}
	if err := h.Get(ctx, nil); err != nil {
		return domain.Return{}, mapErr(err)
	}
	return s.Get(ctx, id)
}

// CarrierEvent delivers a tracking event to the return that owns the parcel.
func (s *Client) CarrierEvent(ctx context.Context, ev workflows.CarrierEvent) (string, error) {
	id, err := s.FindByTracking(ctx, ev.TrackingNumber)
	if err != nil {
		return "", err
	}
	if err := s.c.SignalWorkflow(ctx, workflows.WorkflowID(id), "", workflows.SignalCarrierEvent, ev); err != nil {
		return "", mapErr(err)
	}
	return id, nil
}

// FindByTracking finds the return a tracking number belongs to.
func (s *Client) FindByTracking(ctx context.Context, tracking string) (string, error) {
	page, err := s.List(ctx, Filter{Tracking: tracking}, 1, nil)
	if err != nil {
		return "", err
	}
	if len(page.Items) == 0 {
		return "", fmt.Errorf("tracking number %s: %w", tracking, ErrNotFound)
	}
	return page.Items[0].ID, nil
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

func quote(v string) string { return "'" + strings.ReplaceAll(v, "'", "") + "'" }

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
	page := Page{NextPageToken: resp.NextPageToken}
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
		page.Items = append(page.Items, sum)
	}
	return page, nil
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
		case workflows.ErrInvalidTransition, workflows.ErrInvalidInput, workflows.ErrIdempotencyConflict:
			return &RefusedError{Kind: app.Type(), Message: app.Message()}
		}
	}
	return err
}

// Policy is the policy new returns snapshot.
func (s *Client) Policy() domain.Policy { return s.policy }

// EnsureAnomalySchedule creates (or updates) the Temporal Schedule that runs
// the batch anomaly check every policy.anomaly.check_every: a Schedule, not
// cron, so it is visible, pausable and backfillable in the Temporal UI.
func (s *Client) EnsureAnomalySchedule(ctx context.Context) error {
	every := s.policy.Anomaly.CheckEvery.D()
	spec := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: every}}}
	action := &client.ScheduleWorkflowAction{ID: workflows.AnomalyScheduleID, Workflow: workflows.AnomalyWorkflowType,
		TaskQueue: workflows.TaskQueue, Args: []any{workflows.AnomalyInput{Rule: s.policy.Anomaly}},
		StaticSummary: "batch return-rate check every " + s.policy.Anomaly.CheckEvery.String()}
	_, err := s.c.ScheduleClient().Create(ctx, client.ScheduleOptions{ID: workflows.AnomalyScheduleID, Spec: spec, Action: action,
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
