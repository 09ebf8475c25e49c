package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/store"
)

// readPolicyFile reads a policy file (or the defaults for "") as its
// source text and the policy it resolves to.
func readPolicyFile(file string) (string, domain.Policy, error) {
	if file == "" {
		return "# the seeds' defaults (rma policy show)\n", domain.Defaults(), nil
	}
	var data []byte
	var err error
	if file == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return "", domain.Policy{}, fmt.Errorf("read policy file: %w", err)
	}
	p, err := domain.LoadPolicy(data)
	if err != nil {
		return "", domain.Policy{}, fmt.Errorf("policy file %s: %w", file, err)
	}
	return string(data), p, nil
}

// storedPolicy makes sure the database holds a policy version and answers
// the current one. An empty table gets the file (or the defaults) as
// version 1. A file that differs from the current version is applied as
// the next version when apply is set (rma dev), and otherwise only warned
// about: in production, policies change with rma policy apply, so that
// every API and worker runs the same one.
func storedPolicy(ctx context.Context, st *store.Store, file string, apply bool, log *zap.Logger) (domain.Policy, error) {
	src, p, err := readPolicyFile(file)
	if err != nil {
		return domain.Policy{}, err
	}
	from := "the defaults"
	if file != "" {
		from = file
	}
	v, same, err := st.EnsurePolicy(ctx, src, p, "from "+from, apply, time.Now())
	if err != nil {
		return domain.Policy{}, err
	}
	if file != "" && !same {
		log.Warn("--policy differs from the current stored policy and is not used; apply it with rma policy apply",
			zap.String("file", file), zap.Int("current_version", v.Version))
	}
	log.Info("policy", zap.Int("version", v.Version), zap.String("author", v.Author))
	return v.Policy()
}

func newPolicyCmd() *cobra.Command {
	policy := &cobra.Command{Use: "policy", Short: "Show, apply and compare return policies (versioned in the database)",
		Long: `The policy decides who may return what, when, for which fee, and how fast the
merchant must act. It is YAML over a base: the seeds' defaults, or a legal
preset (preset: cn-7day or preset: eu-crd, see rma policy show --preset).
Policies are versioned in PostgreSQL: rma policy apply stores a new version;
every API and worker reads the current one; a new return runs under the
version current at its start and keeps it (its view shows policy_version,
and the RmaPolicyVersion search attribute finds it in the Temporal UI).`}
	var file, output, preset string
	var version int
	var db dbFlags
	show := &cobra.Command{
		Use:   "show",
		Short: "Print the effective policy, defaults included, as YAML (or JSON)",
		Long: `Print the effective policy: the seeds' defaults (or a preset), overridden by
--policy FILE (or RMA_POLICY); --preset NAME prints a legal preset's file
with the article each rule comes from; --version N prints a stored version.
The YAML output is valid input for --policy, so it is a template for your own
file. Durations are Go duration strings (48h, 90m, 5s); amounts are integer
minor units of the policy currency (fen for CNY).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case preset != "":
				src, err := domain.PresetSource(preset)
				if err != nil {
					return err
				}
				if output == "json" {
					p, _ := domain.Preset(preset)
					return printPolicy(cmd.OutOrStdout(), p, output)
				}
				_, err = cmd.OutOrStdout().Write(src)
				return err
			case version > 0:
				st, err := db.open(cmd.Context())
				if err != nil {
					return err
				}
				defer st.Close()
				v, err := st.PolicyAt(cmd.Context(), version)
				if err != nil {
					return err
				}
				p, err := v.Policy()
				if err != nil {
					return err
				}
				return printPolicy(cmd.OutOrStdout(), p, output)
			}
			p, err := loadPolicy(file)
			if err != nil {
				return err
			}
			return printPolicy(cmd.OutOrStdout(), p, output)
		},
	}
	show.Flags().StringVar(&file, "policy", os.Getenv("RMA_POLICY"), "policy YAML file (env RMA_POLICY); unset keys keep their defaults")
	show.Flags().StringVarP(&output, "output", "o", "yaml", "output format: yaml or json")
	show.Flags().StringVar(&preset, "preset", "", "print a legal preset with its sources: "+strings.Join(domain.Presets(), ", "))
	show.Flags().IntVar(&version, "version", 0, "print a stored version (needs the database)")
	db.register(show)

	var author, note string
	var applyDB dbFlags
	apply := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Validate a policy file and store it as the next version (new returns run under it)",
		Example: `  rma policy apply -f policy.yaml --note "halve auto-approval"
  rma policy history
  rma policy diff 1 2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			src, p, err := readPolicyFile(file)
			if err != nil {
				return err
			}
			eff, err := p.YAML()
			if err != nil {
				return err
			}
			st, err := applyDB.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			v, created, err := st.ApplyPolicy(cmd.Context(), src, string(eff), author, note, time.Now())
			if err != nil {
				return err
			}
			if !created {
				fmt.Fprintf(cmd.OutOrStdout(), "unchanged: version %d already is this policy\n", v.Version)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "stored version %d by %s; new returns run under it, running ones keep theirs\n", v.Version, v.Author)
			return nil
		},
	}
	apply.Flags().StringVarP(&file, "file", "f", "", "policy YAML file (- for stdin)")
	apply.Flags().StringVar(&author, "author", envOr("USER", "operator"), "who applies it, recorded with the version")
	apply.Flags().StringVar(&note, "note", "", "why, recorded with the version")
	_ = apply.MarkFlagRequired("file")
	applyDB.register(apply)

	var histDB dbFlags
	var histOutput string
	history := &cobra.Command{
		Use:   "history",
		Short: "List the stored policy versions, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := histDB.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			vs, err := st.PolicyHistory(cmd.Context())
			if err != nil {
				return err
			}
			if histOutput == "json" {
				return render(cmd.OutOrStdout(), "json", vs)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "VERSION\tCREATED\tAUTHOR\tPRESET\tNOTE")
			for _, v := range vs {
				p, _ := v.Policy()
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", v.Version, v.CreatedAt.UTC().Format(time.RFC3339), v.Author, orDash(p.Preset), v.Note)
			}
			return w.Flush()
		},
	}
	history.Flags().StringVarP(&histOutput, "output", "o", "table", "table or json")
	histDB.register(history)

	var diffDB dbFlags
	diff := &cobra.Command{
		Use:   "diff A B",
		Short: "Compare two stored versions, setting by setting",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := diffDB.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			var pv [2]store.PolicyVersion
			for i, a := range args {
				n, err := strconv.Atoi(a)
				if err != nil {
					return fmt.Errorf("version %q: want a number", a)
				}
				if pv[i], err = st.PolicyAt(cmd.Context(), n); err != nil {
					return err
				}
			}
			changes, err := domain.DiffPolicyYAML([]byte(pv[0].Effective), []byte(pv[1].Effective))
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if len(changes) == 0 {
				fmt.Fprintf(out, "versions %d and %d are the same policy\n", pv[0].Version, pv[1].Version)
				return nil
			}
			fmt.Fprintf(out, "version %d (%s) → version %d (%s, %s): %d change(s)\n", pv[0].Version, pv[0].Author, pv[1].Version, pv[1].Author, orDash(pv[1].Note), len(changes))
			for _, c := range changes {
				fmt.Fprintln(out, "  "+c.String())
			}
			return nil
		},
	}
	diffDB.register(diff)
	policy.AddCommand(show, apply, history, diff, newWhatIfCmd())
	return policy
}
