package topology

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"text/template"
)

// Tool binaries, as `make cluster-tools` installs them under the tools
// directory: Temporal's server and SQL schema tool (go.temporal.io/server
// v1.32.1), the Temporal UI server (github.com/temporalio/ui-server/v2
// v2.54.1), each with go install at the versions go.mod pins.
const (
	ServerBinary  = "temporal/server"
	SQLToolBinary = "temporal/sql"
	UIBinary      = "ui/server"
)

// CheckTools reports a tools directory that lacks a binary, with the
// command that installs it.
func CheckTools(dir string) error {
	for _, b := range []string{ServerBinary, SQLToolBinary, UIBinary} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return fmt.Errorf("%s is missing from %s: run make cluster-tools (it installs the Temporal server, its SQL tool and the UI server): %w", b, dir, err)
		}
	}
	return nil
}

// clusterPorts are the ports of the one-process Temporal cluster: every
// service's gRPC and membership port, the frontend's HTTP API and the
// Prometheus metrics.
type clusterPorts struct {
	Frontend, FrontendHTTP, FrontendMembership int
	History, HistoryMembership                 int
	Matching, MatchingMembership               int
	Worker, WorkerMembership                   int
	Metrics                                    int
	PG                                         int
	User                                       string
	DynamicConfig                              string
}

// serverConfig is Temporal's development-postgres12.yaml with its ports
// made ours, four history shards, and the dynamic config file below.
var serverConfig = template.Must(template.New("config").Parse(`# Written by rma's topology (topology/cluster.go): Temporal's
# config/development-postgres12.yaml on this run's ports.
log:
  stdout: true
  level: warn
persistence:
  defaultStore: postgres-default
  visibilityStore: postgres-visibility
  numHistoryShards: 4
  datastores:
    postgres-default:
      sql:
        pluginName: "postgres12"
        databaseName: "temporal"
        connectAddr: "127.0.0.1:{{.PG}}"
        connectProtocol: "tcp"
        user: "{{.User}}"
        password: ""
        maxConns: 20
        maxIdleConns: 20
        maxConnLifetime: "1h"
    postgres-visibility:
      sql:
        pluginName: "postgres12"
        databaseName: "temporal_visibility"
        connectAddr: "127.0.0.1:{{.PG}}"
        connectProtocol: "tcp"
        user: "{{.User}}"
        password: ""
        maxConns: 4
        maxIdleConns: 4
        maxConnLifetime: "1h"
global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: "127.0.0.1"
  metrics:
    prometheus:
      framework: "tally"
      timerType: "histogram"
      listenAddress: "127.0.0.1:{{.Metrics}}"
services:
  frontend:
    rpc:
      grpcPort: {{.Frontend}}
      membershipPort: {{.FrontendMembership}}
      bindOnLocalHost: true
      httpPort: {{.FrontendHTTP}}
  matching:
    rpc:
      grpcPort: {{.Matching}}
      membershipPort: {{.MatchingMembership}}
      bindOnLocalHost: true
  history:
    rpc:
      grpcPort: {{.History}}
      membershipPort: {{.HistoryMembership}}
      bindOnLocalHost: true
  worker:
    rpc:
      grpcPort: {{.Worker}}
      membershipPort: {{.WorkerMembership}}
      bindOnLocalHost: true
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: "active"
  currentClusterName: "active"
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: "frontend"
      rpcAddress: "127.0.0.1:{{.Frontend}}"
dcRedirectionPolicy:
  policy: "noop"
dynamicConfigClient:
  filepath: "{{.DynamicConfig}}"
  pollInterval: "10s"
`))

// dynamicConfig makes a new namespace and new search attributes usable at
// once (a person or a test registers them and starts returns straight
// after), instead of at the next cache refresh. The forced refresh costs a
// read per request: deploy/temporal/dynamicconfig.yaml leaves it out.
const dynamicConfig = `system.forceSearchAttributesCacheRefreshOnRead:
  - value: true
system.namespaceCacheRefreshInterval:
  - value: 1s
frontend.namespaceRPS.visibility:
  - value: 100
`

// uiConfig is the UI server's config/development.yaml, pointed at the
// frontend and rma's codec server.
var uiConfig = template.Must(template.New("ui").Parse(`# Written by rma's topology (topology/cluster.go).
host: 127.0.0.1
port: {{.Port}}
temporalGrpcAddress: 127.0.0.1:{{.Frontend}}
enableUi: true
defaultNamespace: default
disableNewsFetch: true
cors:
  cookieInsecure: true
codec:
  endpoint: {{.Codec}}
log:
  stdout: true
  level: warn
`))

func render(t *template.Template, path string, data any) error {
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return fmt.Errorf("render %s: %w", filepath.Base(path), err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// setupSchema creates Temporal's two databases in the private PostgreSQL
// and brings each to the schema version this server expects, with the
// schema tool's embedded PostgreSQL 12 schemas (the steps of Temporal's
// own auto-setup).
func setupSchema(ctx context.Context, sqlTool string, pgPort int, user string) error {
	base := []string{"--plugin", "postgres12", "--ep", "127.0.0.1", "-p", strconv.Itoa(pgPort), "-u", user}
	for _, db := range []struct{ name, schema string }{{"temporal", "postgresql/v12/temporal"}, {"temporal_visibility", "postgresql/v12/visibility"}} {
		steps := [][]string{
			append(append([]string{}, base...), "--db", db.name, "create-database"),
			append(append([]string{}, base...), "--db", db.name, "setup-schema", "-v", "0.0"),
			append(append([]string{}, base...), "--db", db.name, "update-schema", "--schema-name", db.schema),
		}
		for _, args := range steps {
			out, err := exec.CommandContext(ctx, sqlTool, args...).CombinedOutput()
			if err != nil {
				return fmt.Errorf("temporal-sql-tool %v: %w: %s", args[len(base):], err, bytes.TrimSpace(out))
			}
		}
	}
	return nil
}
