package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/starter"
	"github.com/rma-dev/rma/store"
	"github.com/rma-dev/rma/workflows"
)

func newSimCarrierCmd() *cobra.Command {
	var url, tracking, detail string
	cmd := &cobra.Command{
		Use:       "carrier <picked_up|in_transit|delivered|exception|claim_settled>",
		Short:     "Make the carrier simulator scan a parcel now (it sends the signed webhook)",
		Example:   "  rma sim carrier picked_up --tracking 1a2bRT000001\n  rma sim carrier exception --tracking 1a2bRT000001 --detail 'box crushed'\n  rma sim carrier claim_settled --tracking 1a2bRT000001 --detail 'approved: 199.00 CNY'",
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"picked_up", "in_transit", "delivered", "exception", "claim_settled"},
		RunE: func(cmd *cobra.Command, args []string) error {
			if !domain.CarrierEventType(args[0]).Valid() {
				return fmt.Errorf("event must be picked_up, in_transit, delivered, exception or claim_settled, not %q", args[0])
			}
			if tracking == "" {
				return fmt.Errorf("--tracking is required (see tracking_number in `rma return show`)")
			}
			body, _ := json.Marshal(map[string]string{"type": args[0], "detail": detail})
			resp, err := http.Post(strings.TrimRight(url, "/")+"/v1/parcels/"+tracking+"/events", "application/json", bytes.NewReader(body))
			if err != nil {
				return fmt.Errorf("reach the carrier simulator at %s: %w", url, err)
			}
			defer resp.Body.Close()
			out, _ := io.ReadAll(resp.Body)
			if resp.StatusCode >= 300 {
				return fmt.Errorf("carrier simulator answered %d: %s", resp.StatusCode, strings.TrimSpace(string(out)))
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	cmd.Flags().StringVar(&url, "carrier-url", envOr("RMA_CARRIER_URL", "http://127.0.0.1:8081"), "carrier simulator (rma dev: --http-port + 1); env RMA_CARRIER_URL")
	cmd.Flags().StringVar(&tracking, "tracking", "", "tracking number of the parcel")
	cmd.Flags().StringVar(&detail, "detail", "", "free text, e.g. for an exception")
	return cmd
}

// returnCmd holds what every `rma return` subcommand shares.
type returnCmd struct {
	tf     temporalFlags
	db     dbFlags
	output string
	actor  string
	policy string
	// apiURL and token, when set, send every command through the HTTP API
	// instead of Temporal and the database; direct ignores them.
	apiURL, token string
	direct        bool
}

// backend is the HTTP API when --api is given; otherwise Temporal, and the
// read model when one is configured (--database-url, RMA_DATABASE_URL, or
// the rma dev in --data-dir): creating a return needs it; show and list
// use it when there, so they cost no Temporal action.
func (rc *returnCmd) backend(ctx context.Context) (returnsBackend, func(), error) {
	if rc.apiURL != "" && !rc.direct {
		a, err := newAPIBackend(rc.apiURL, rc.token)
		return a, func() {}, err
	}
	p, err := loadPolicy(rc.policy)
	if err != nil {
		return nil, nil, err
	}
	rc.tf.devKeys = filepath.Join(rc.db.dataDir, "payload-keys")
	rc.tf.requireKeys = true
	c, err := rc.tf.dial(ctx, zap.NewNop())
	if err != nil {
		return nil, nil, err
	}
	closeAll := c.Close
	var reg starter.Registry
	var st *store.Store
	if url, err := rc.db.resolve(); err == nil {
		st, err = store.Open(ctx, url)
		if err != nil {
			c.Close()
			return nil, nil, err
		}
		reg = st
		closeAll = func() { _ = st.Close(); c.Close() }
	}
	return directBackend{s: starter.New(c, p, reg), st: st, actor: rc.actor}, closeAll, nil
}

// registerFlags puts the flags every subcommand shares on cmd: output,
// actor, the API and its token, --direct, and Temporal's and the
// database's.
func (rc *returnCmd) registerFlags(cmd *cobra.Command, actor, actorHelp, apiHelp, tokenHelp string) {
	pf := cmd.PersistentFlags()
	pf.StringVarP(&rc.output, "output", "o", "table", "output: table or json")
	pf.StringVar(&rc.actor, "actor", actor, actorHelp)
	pf.StringVar(&rc.apiURL, "api", os.Getenv("RMA_API_URL"), apiHelp)
	pf.StringVar(&rc.token, "token", os.Getenv("RMA_TOKEN"), tokenHelp)
	pf.BoolVar(&rc.direct, "direct", false, "talk to Temporal and the database even when RMA_API_URL is set")
	// Temporal and database flags on the parent so every subcommand has them.
	tmp := &cobra.Command{}
	rc.tf.register(tmp)
	rc.db.register(tmp)
	pf.AddFlagSet(tmp.Flags())
}

// withBackend checks --output, opens the backend for at most timeout and
// runs fn on it, explaining its error for an operator.
func (rc *returnCmd) withBackend(cmd *cobra.Command, timeout time.Duration, fn func(ctx context.Context, b returnsBackend) error) error {
	if rc.output != "table" && rc.output != "json" {
		return fmt.Errorf("--output must be table or json")
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
	defer cancel()
	b, closeFn, err := rc.backend(ctx)
	if err != nil {
		return err
	}
	defer closeFn()
	return explain(fn(ctx, b))
}

func newReturnCmd() *cobra.Command {
	rc := &returnCmd{}
	cmd := &cobra.Command{
		Use:   "return",
		Short: "Start, inspect and command returns (Temporal directly, or the HTTP API with a token)",
		Long: `Operate returns from a terminal, two ways:

- Through the HTTP API with a token (--api URL --token T, or RMA_API_URL and
  RMA_TOKEN): what agents, warehouse staff and analysts use from their own
  machines. The token's roles decide what each command may do, and the
  timeline records the token's subject.
- Directly, as an operator: Temporal with the --address / TEMPORAL_*
  settings (rma dev: 127.0.0.1:7233) and the read model with
  --database-url / RMA_DATABASE_URL (or the rma dev in --data-dir), the
  same way the API does, so they work whether or not the API runs. "start",
  "queue" and "survey" need the read model; "show" and "list" use it when
  it is there and fall back to Temporal otherwise. --actor names who acts.

Examples:
  export RMA_API_URL=http://127.0.0.1:8080 RMA_TOKEN=<token from rma token create>
  rma return queue                           # support's queue, soonest deadline first
  rma return claim RMA-3F2A9C01B7DE
  rma return approve RMA-3F2A9C01B7DE --note "photo shows the defect"
  rma return queue --role warehouse --assignee me`,
	}
	rc.registerFlags(cmd, "cli:"+envOr("USER", "operator"), "who is acting, recorded on the timeline (direct mode; the API records the token's subject)",
		"the rma API's URL: send every command through it (env RMA_API_URL)",
		"API token for --api (env RMA_TOKEN); its roles decide: support for the queue and review, warehouse for receipt and inspection, backend to start returns")

	run := func(use, short string, args cobra.PositionalArgs, setup func(*cobra.Command), fn func(ctx context.Context, b returnsBackend, args []string) (any, error)) *cobra.Command {
		c := &cobra.Command{Use: use, Short: short, Args: args, RunE: func(cmd *cobra.Command, args []string) error {
			return rc.withBackend(cmd, 60*time.Second, func(ctx context.Context, b returnsBackend) error {
				v, err := fn(ctx, b, args)
				if err != nil {
					return err
				}
				return render(cmd.OutOrStdout(), rc.output, v)
			})
		}}
		if setup != nil {
			setup(c)
		}
		return c
	}
	var file, key string
	start := run("start -f FILE", "Open a return from a JSON request (API.md create body)", cobra.NoArgs, func(c *cobra.Command) {
		c.Flags().StringVarP(&file, "file", "f", "", "request JSON file, or - for stdin")
		c.Flags().StringVar(&key, "idempotency-key", "", "same key, same return")
		c.Flags().StringVar(&rc.policy, "policy", os.Getenv("RMA_POLICY"), "policy YAML snapshotted into the return (direct mode)")
		_ = c.MarkFlagRequired("file")
	}, func(ctx context.Context, b returnsBackend, _ []string) (any, error) {
		var data []byte
		var err error
		if file == "-" {
			data, err = io.ReadAll(os.Stdin)
		} else {
			data, err = os.ReadFile(file)
		}
		if err != nil {
			return nil, fmt.Errorf("read request: %w", err)
		}
		var req domain.Request
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return nil, fmt.Errorf("request JSON: %w", err)
		}
		return b.Create(ctx, key, req)
	})

	show := run("show ID", "Show a return: status, deadline, who it waits on, timeline", cobra.ExactArgs(1), nil,
		func(ctx context.Context, b returnsBackend, args []string) (any, error) { return b.Get(ctx, args[0]) })

	var f starter.Filter
	var size int
	list := run("list", "List returns by status, order, customer or SKU", cobra.NoArgs, func(c *cobra.Command) {
		c.Flags().StringVar(&f.Status, "status", "", "status, e.g. pending_review")
		c.Flags().StringVar(&f.OrderID, "order", "", "order ID")
		c.Flags().StringVar(&f.CustomerID, "customer", "", "customer ID")
		c.Flags().StringVar(&f.SKU, "sku", "", "SKU")
		c.Flags().IntVar(&size, "limit", 50, "at most this many")
	}, func(ctx context.Context, b returnsBackend, _ []string) (any, error) { return b.List(ctx, f, size) })

	var qf store.QueueFilter
	queue := run("queue", "A work queue, soonest deadline first: support's review queue, or the warehouse's parcels", cobra.NoArgs, func(c *cobra.Command) {
		c.Flags().StringVar(&qf.Queue, "role", "", "support (review, answers, needs_attention) or warehouse (parcels to receive and inspect); default: the token's role (support in direct mode)")
		c.Flags().StringVar(&qf.Team, "team", "", "only this team's")
		c.Flags().StringVar(&qf.Assignee, "assignee", "", "only this assignee's (me: yours)")
	}, func(ctx context.Context, b returnsBackend, _ []string) (any, error) { return b.Queue(ctx, qf) })

	claim := run("claim ID", "Take a return: assign it to yourself (the token's subject, or --actor)", cobra.ExactArgs(1), nil,
		func(ctx context.Context, b returnsBackend, args []string) (any, error) { return b.Claim(ctx, args[0]) })

	var note, reason, question, answer, assignee, method, choice, sku, lineID, action, outcome, comment string
	var photos []string
	var score int
	cmdUpdate := func(use, short, name string, flags func(*cobra.Command), arg func() any) *cobra.Command {
		return run(use, short, cobra.ExactArgs(1), flags, func(ctx context.Context, b returnsBackend, args []string) (any, error) {
			return b.Command(ctx, args[0], name, arg())
		})
	}
	noteFlag := func(c *cobra.Command) { c.Flags().StringVar(&note, "note", "", "note for the timeline") }
	required := func(c *cobra.Command, name, usage string, dst *string) {
		c.Flags().StringVar(dst, name, "", usage)
		_ = c.MarkFlagRequired(name)
	}
	approve := cmdUpdate("approve ID", "Approve a return under review", workflows.UpdateApprove, noteFlag,
		func() any { return &workflows.ApproveInput{Actor: rc.actor, Note: note} })
	decline := cmdUpdate("decline ID --reason TEXT", "Decline a return under review", workflows.UpdateDecline, func(c *cobra.Command) {
		noteFlag(c)
		required(c, "reason", "why (told to the customer)", &reason)
	}, func() any { return &workflows.DeclineInput{Actor: rc.actor, Reason: reason, Note: note} })
	requestInfo := cmdUpdate("request-info ID --question TEXT", "Ask the customer for more information (stops the decision clock)", workflows.UpdateRequestInfo, func(c *cobra.Command) {
		required(c, "question", "what to ask", &question)
	}, func() any { return &workflows.RequestInfoInput{Actor: rc.actor, Question: question} })
	info := cmdUpdate("info ID --answer TEXT [--photo URL]...", "Answer support's question (for the customer)", workflows.UpdateInfo, func(c *cobra.Command) {
		required(c, "answer", "the answer", &answer)
		c.Flags().StringArrayVar(&photos, "photo", nil, "a photo URL (repeat)")
	}, func() any { return &workflows.InfoInput{Actor: rc.actor, Answer: answer, Photos: photos} })
	shippingChoice := cmdUpdate("shipping-choice ID --method pickup|dropoff", "Choose how the parcel comes back (books the label)", workflows.UpdateShippingChoice, func(c *cobra.Command) {
		required(c, "method", "pickup or dropoff", &method)
	}, func() any {
		return &workflows.ShippingChoiceInput{Actor: rc.actor, Method: domain.ShippingMethod(method)}
	})
	exchangeChoice := cmdUpdate("exchange-choice ID --choice wait|variant|refund|store_credit [--sku SKU]", "Answer the out-of-stock choice of an exchange", workflows.UpdateExchangeChoice, func(c *cobra.Command) {
		required(c, "choice", "wait, variant, refund or store_credit", &choice)
		c.Flags().StringVar(&sku, "sku", "", "the variant's SKU (choice variant)")
		c.Flags().StringVar(&lineID, "line", "", "the line, when several wait for a choice")
	}, func() any {
		return &workflows.ExchangeChoiceInput{Actor: rc.actor, LineID: lineID, Choice: domain.ExchangeChoice(choice), SKU: sku}
	})
	cancelCmd := cmdUpdate("cancel ID", "Cancel a return not yet received (undoes label, stock, holds)", workflows.UpdateCancel, func(c *cobra.Command) {
		c.Flags().StringVar(&reason, "reason", "", "why")
	}, func() any { return &workflows.CancelInput{Actor: rc.actor, Reason: reason} })
	receive := cmdUpdate("receive ID", "Record that the parcel arrived at the warehouse", workflows.UpdateReceive, noteFlag,
		func() any { return &workflows.ReceiveInput{Actor: rc.actor, Note: note} })
	addNote := cmdUpdate("note ID --note TEXT", "Add an internal note (staff only)", workflows.UpdateNote, func(c *cobra.Command) {
		required(c, "note", "the note", &note)
	}, func() any { return &workflows.NoteInput{Actor: rc.actor, Note: note} })
	repairDone := cmdUpdate("repair-done ID --line LINE", "Say a repaired line is ready to go back", workflows.UpdateRepairDone, func(c *cobra.Command) {
		required(c, "line", "the line ID", &lineID)
		noteFlag(c)
	}, func() any { return &workflows.RepairDoneInput{Actor: rc.actor, LineID: lineID, Note: note} })
	attention := cmdUpdate("attention ID --action retry|abandon [--outcome completed|cancelled]", "Resolve a return in needs_attention: retry the failed step, or abandon it as settled by hand", workflows.UpdateResolveAttention, func(c *cobra.Command) {
		required(c, "action", "retry or abandon", &action)
		c.Flags().StringVar(&outcome, "outcome", "", "for abandon: the status support settled it in (completed or cancelled)")
		noteFlag(c)
	}, func() any {
		return &workflows.ResolveAttentionInput{Actor: rc.actor, Action: action, Outcome: domain.Status(outcome), Note: note}
	})
	var team string
	assign := cmdUpdate("assign ID --to ASSIGNEE [--team TEAM] [--reason TEXT]", "Give a return to another agent, warehouse user or team", workflows.UpdateAssign, func(c *cobra.Command) {
		required(c, "to", "the assignee: a token subject (support:amy) or a team", &assignee)
		c.Flags().StringVar(&team, "team", "", "move it to this team's queue too")
		c.Flags().StringVar(&reason, "reason", "", "why, for the audit trail")
	}, func() any {
		return &workflows.AssignInput{Actor: rc.actor, Assignee: assignee, Team: team, Reason: reason}
	})
	var amount, currency, kind string
	var waiveFees bool
	amountOf := func() (*domain.Money, error) {
		if amount == "" {
			return nil, nil
		}
		m, err := domain.ParseAmount(amount, currency)
		return &m, err
	}
	overrideRefund := run("override-refund ID --line LINE (--amount 120.00 | --waive-fees) --reason TEXT", "Change a line's refund before it is paid (support; admin beyond the policy's overrides.support_limit)", cobra.ExactArgs(1), func(c *cobra.Command) {
		required(c, "line", "the line ID", &lineID)
		c.Flags().StringVar(&amount, "amount", "", "the line's refund, in major units (120.50), at most what the line was paid")
		c.Flags().BoolVar(&waiveFees, "waive-fees", false, "pay the line back without the policy's fees")
		c.Flags().StringVar(&currency, "currency", domain.DefaultCurrency, "the return's currency")
		required(c, "reason", "why, for the audit trail", &reason)
		c.MarkFlagsMutuallyExclusive("amount", "waive-fees")
		c.MarkFlagsOneRequired("amount", "waive-fees")
		c.Example = "  rma return override-refund RMA-3F2A9C01B7DE --line L1 --waive-fees --reason \"courier damaged the box\""
	}, func(ctx context.Context, b returnsBackend, args []string) (any, error) {
		m, err := amountOf()
		if err != nil {
			return nil, err
		}
		return b.Command(ctx, args[0], workflows.UpdateOverrideRefund, &workflows.OverrideRefundInput{Actor: rc.actor, LineID: lineID, Amount: m, WaiveFees: waiveFees, Reason: reason})
	})
	var account string
	refundMethod := cmdUpdate("refund-method ID --method original|store_credit|bank_transfer|e_wallet [--account ACCOUNT]", "Choose how money comes back, before it does (the policy's refund.methods)", workflows.UpdateRefundMethod, func(c *cobra.Command) {
		required(c, "method", "original, store_credit, bank_transfer or e_wallet", &method)
		c.Flags().StringVar(&account, "account", "", "the bank account or e-wallet, for bank_transfer and e_wallet")
	}, func() any { return &workflows.RefundMethodInput{Actor: rc.actor, Method: method, Account: account} })
	var choice2, evidence, decision string
	inspectionAnswer := cmdUpdate("inspection-answer ID --choice accept|dispose|dispute [--evidence TEXT --photo URL...] [--line LINE]", "Answer a failed inspection (for the customer): have it back, let the merchant dispose of it, or dispute", workflows.UpdateInspectionAnswer, func(c *cobra.Command) {
		required(c, "choice", "accept, dispose or dispute", &choice2)
		c.Flags().StringVar(&evidence, "evidence", "", "why the inspection is wrong (dispute)")
		c.Flags().StringArrayVar(&photos, "photo", nil, "a photo URL (repeat)")
		c.Flags().StringVar(&lineID, "line", "", "the line, when several failed")
	}, func() any {
		return &workflows.InspectionAnswerInput{Actor: rc.actor, LineID: lineID, Choice: choice2, Evidence: evidence, Photos: photos}
	})
	disputeDecision := cmdUpdate("dispute-decision ID --line LINE --decision uphold|overturn [--note TEXT]", "Decide a disputed inspection (support)", workflows.UpdateDisputeDecision, func(c *cobra.Command) {
		required(c, "line", "the disputed line", &lineID)
		required(c, "decision", "uphold or overturn", &decision)
		noteFlag(c)
	}, func() any {
		return &workflows.DisputeDecisionInput{Actor: rc.actor, LineID: lineID, Decision: decision, Note: note}
	})
	var accept bool
	keepOffer := run("keep-offer ID --line LINE --amount 30 [--reason TEXT]", "Offer a partial refund to keep a line's item instead of sending it back (support, during review)", cobra.ExactArgs(1), func(c *cobra.Command) {
		required(c, "line", "the line", &lineID)
		required(c, "amount", "the refund to keep it, in major units (30 or 30.00)", &amount)
		c.Flags().StringVar(&currency, "currency", domain.DefaultCurrency, "the return's currency")
		c.Flags().StringVar(&reason, "reason", "", "why, for the audit trail")
	}, func(ctx context.Context, b returnsBackend, args []string) (any, error) {
		m, err := amountOf()
		if err != nil {
			return nil, err
		}
		return b.Command(ctx, args[0], workflows.UpdateKeepOffer, &workflows.KeepOfferInput{Actor: rc.actor, LineID: lineID, Amount: *m, Reason: reason})
	})
	keepAnswer := cmdUpdate("keep-answer ID --line LINE [--accept]", "Answer a keep offer (for the customer): --accept keeps the item for the offer", workflows.UpdateKeepAnswer, func(c *cobra.Command) {
		required(c, "line", "the line", &lineID)
		c.Flags().BoolVar(&accept, "accept", false, "keep the item and take the offer (without it: decline)")
	}, func() any { return &workflows.KeepAnswerInput{Actor: rc.actor, LineID: lineID, Accept: accept} })
	goodwill := run("goodwill ID --amount 30 --reason TEXT [--kind store_credit|coupon]", "Grant goodwill credit on an open return, paid at once (support; admin beyond the policy's overrides.support_limit)", cobra.ExactArgs(1), func(c *cobra.Command) {
		required(c, "amount", "the credit, in major units (30 or 30.00)", &amount)
		c.Flags().StringVar(&kind, "kind", domain.GrantStoreCredit, "store_credit or coupon")
		c.Flags().StringVar(&currency, "currency", domain.DefaultCurrency, "the return's currency")
		required(c, "reason", "why, for the audit trail", &reason)
	}, func(ctx context.Context, b returnsBackend, args []string) (any, error) {
		m, err := amountOf()
		if err != nil {
			return nil, err
		}
		return b.Command(ctx, args[0], workflows.UpdateGoodwill, &workflows.GoodwillInput{Actor: rc.actor, Amount: *m, Kind: kind, Reason: reason})
	})
	survey := run("survey ID --score 1-5 [--comment TEXT]", "Record the customer's survey answer (completed returns)", cobra.ExactArgs(1), func(c *cobra.Command) {
		c.Flags().IntVar(&score, "score", 0, "1 to 5")
		c.Flags().StringVar(&comment, "comment", "", "free text")
		_ = c.MarkFlagRequired("score")
	}, func(ctx context.Context, b returnsBackend, args []string) (any, error) {
		return b.Survey(ctx, args[0], workflows.SurveyInput{Actor: rc.actor, Score: score, Comment: comment})
	})
	var items []string
	inspect := run("inspect ID --item LINE=RESULT:DISPOSITION[:NOTE]...", "Record inspection per line", cobra.ExactArgs(1), func(c *cobra.Command) {
		c.Flags().StringArrayVar(&items, "item", nil, "e.g. L1=pass:restock, L2=fail:quarantine:scratched, or L3=partial/2:restock+quarantine (2 units passed; repeat per line)")
		_ = c.MarkFlagRequired("item")
		c.Example = "  rma return inspect RMA-3F2A9C01B7DE --item L1=pass:restock --item L2=fail:quarantine:cracked"
	}, func(ctx context.Context, b returnsBackend, args []string) (any, error) {
		in, err := parseItems(rc.actor, items)
		if err != nil {
			return nil, err
		}
		return b.Command(ctx, args[0], workflows.UpdateInspection, &in)
	})
	cmd.AddCommand(start, show, list, queue, claim, assign, approve, decline, requestInfo, info, shippingChoice, exchangeChoice,
		cancelCmd, receive, inspect, addNote, repairDone, attention, overrideRefund, goodwill, refundMethod, inspectionAnswer, disputeDecision, keepOffer, keepAnswer, survey)
	return cmd
}

// parseItems reads --item LINE=RESULT:DISPOSITION[:NOTE] flags.
func parseItems(actor string, items []string) (workflows.InspectionInput, error) {
	in := workflows.InspectionInput{Actor: actor}
	for _, it := range items {
		line, rest, ok := strings.Cut(it, "=")
		parts := strings.SplitN(rest, ":", 3)
		if !ok || len(parts) < 2 {
			return in, fmt.Errorf("--item %q: want LINE=RESULT:DISPOSITION[:NOTE]", it)
		}
		item := workflows.InspectionItem{LineID: line, Result: domain.InspectionResult(parts[0]), Disposition: domain.Disposition(parts[1])}
		if res, units, ok := strings.Cut(parts[0], "/"); ok {
			// partial/2: two units passed; the disposition may name the
			// passed and the failed units' places, restock+quarantine.
			n, err := strconv.Atoi(units)
			if err != nil || res != string(domain.InspectionPartial) {
				return in, fmt.Errorf("--item %q: want partial/UNITS, e.g. L1=partial/2:restock+quarantine", it)
			}
			item.Result, item.PassedUnits = domain.InspectionPartial, n
			pass, fail, _ := strings.Cut(parts[1], "+")
			item.Disposition, item.FailDisposition = domain.Disposition(pass), domain.Disposition(fail)
		}
		if len(parts) == 3 {
			item.Note = parts[2]
		}
		in.Items = append(in.Items, item)
	}
	return in, nil
}

// explain turns starter errors into what an operator should read.
func explain(err error) error {
	var ref *starter.RefusedError
	var ve *domain.ValidationError
	switch {
	case asErr(err, &ref):
		return fmt.Errorf("refused (%s): %s", ref.Kind, ref.Message)
	case asErr(err, &ve):
		lines := []string{"the request is invalid:"}
		for _, p := range ve.Problems {
			lines = append(lines, "  "+p.Field+": "+p.Message)
		}
		return fmt.Errorf("%s", strings.Join(lines, "\n"))
	}
	return err
}

func render(w io.Writer, output string, v any) error {
	if output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	switch x := v.(type) {
	case domain.Return:
		dl := "-"
		if x.Deadline != nil {
			dl = x.Deadline.Kind + " " + x.Deadline.At.Local().Format("2006-01-02 15:04:05")
		}
		wait := "-"
		if x.WaitingOn != nil {
			wait = string(*x.WaitingOn)
		}
		fmt.Fprintf(tw, "ID\t%s\nORDER\t%s\nKIND\t%s\nSTATUS\t%s\nWAITING ON\t%s\nDEADLINE\t%s\nTRACKING\t%s\nREFUND\t%s (fees %s)\n",
			x.ID, x.OrderID, x.Kind, x.Status, wait, dl, orDash(x.TrackingNumber), x.RefundTotal, x.FeesTotal)
		if x.ReplacementTrackingNumber != "" {
			fmt.Fprintf(tw, "REPLACEMENT\t%s\n", x.ReplacementTrackingNumber)
		}
		fmt.Fprintln(tw, "\nLINE\tSKU\tQTY\tREASON\tRESOLUTION\tINSPECTION\tREFUND")
		for _, l := range x.Lines {
			ins, ref := "-", "-"
			if l.Inspection != nil {
				ins = string(l.Inspection.Result) + "/" + string(l.Inspection.Disposition)
			}
			if l.Refund != nil {
				ref = l.Refund.Net.String()
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", l.LineID, l.SKU, l.Quantity, l.Reason, l.Resolution, ins, ref)
		}
		fmt.Fprintln(tw, "\nAT\tEVENT\tACTOR\tDETAIL")
		for _, e := range x.Timeline {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.At.Local().Format("01-02 15:04:05"), e.Type, e.Actor, e.Detail)
		}
	case []starter.Summary:
		fmt.Fprintln(tw, "ID\tSTATUS\tORDER\tCUSTOMER\tKIND\tSKUS\tDEADLINE")
		for _, s := range x {
			dl := "-"
			if s.Deadline != nil {
				dl = s.Deadline.Local().Format("2006-01-02 15:04")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Status, s.OrderID, s.CustomerID, s.Kind, strings.Join(s.SKUs, ","), dl)
		}
	case queueList:
		fmt.Fprintf(tw, "%s queue: %d waiting, %d overdue\n", x.Queue, len(x.Items), x.Overdue)
		fmt.Fprintln(tw, "ID\tSTATUS\tTEAM\tASSIGNEE\tDEADLINE\tLEFT\tBREACHES\tORDER\tTIER")
		for _, it := range x.Items {
			dl, left := "-", "-"
			if it.Deadline != nil {
				dl = it.DeadlineKind + " " + it.Deadline.Local().Format("01-02 15:04")
			}
			if it.SecondsLeft != nil {
				left = (time.Duration(*it.SecondsLeft) * time.Second).String()
				if it.Overdue {
					left = "OVERDUE " + (time.Duration(-*it.SecondsLeft) * time.Second).String()
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", it.ID, it.Status, orDash(it.Team), orDash(it.Assignee), dl, left,
				orDash(strings.Join(it.SLABreaches, ",")), it.OrderID, it.Tier)
		}
	default:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
