// Package devtemporal runs a real Temporal server and its Web UI inside the
// rma process for `rma dev`: the go.temporal.io/server library over one
// SQLite file (WAL mode) so that a restart resumes every open return and its
// timers, with the default namespace and rma's search attributes registered
// at start.
package devtemporal

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uiserveroptions "github.com/temporalio/ui-server/v2/server/server_options"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	tlog "go.temporal.io/server/common/log"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
	"go.uber.org/zap"
)

const host = "127.0.0.1"

// Options configure the embedded server.
type Options struct {
	// DataDir holds temporal.db; it is created if missing.
	DataDir string
	// FrontendPort is the gRPC frontend port (Temporal's dev default 7233).
	FrontendPort int
	// UIPort is the Web UI port (8233); 0 disables the UI.
	UIPort int
	// Namespace is created at start (default "default").
	Namespace string
	// SearchAttributes are registered on the namespace at start.
	SearchAttributes map[string]enumspb.IndexedValueType
	// CodecEndpoint is the codec server the UI decodes payloads with.
	CodecEndpoint string
	// TLS, when set, makes the frontend require mutual TLS, as a secured
	// cluster does (the UI is then not started).
	TLS    *TLS
	Logger *zap.Logger
}

// TLS is the frontend's mutual TLS: its certificate, the CA its clients'
// certificates must chain to, and the client certificate its own clients
// (the system worker, the setup at start) present.
type TLS struct {
	CertFile, KeyFile             string
	ClientCAFile                  string
	ClientCertFile, ClientKeyFile string
	// ServerCAFile is the CA of CertFile, which its own clients trust.
	ServerCAFile string
}

// Server is a running embedded Temporal server.
type Server struct {
	srv       temporal.Server
	ui        *uiserver.Server
	frontend  string
	uiAddr    string
	namespace string
	clientTLS *tls.Config
}

// clientTLS is what the server's own setup client presents.
func clientTLS(t *TLS) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(t.ClientCertFile, t.ClientKeyFile)
	if err != nil {
		return nil, fmt.Errorf("load client certificate: %w", err)
	}
	pem, err := os.ReadFile(t.ServerCAFile)
	if err != nil {
		return nil, fmt.Errorf("read server CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no certificates in %s", t.ServerCAFile)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS12}, nil
}

// Start brings the server up and blocks until its frontend answers.
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if err := os.MkdirAll(o.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	dbFile := filepath.Join(o.DataDir, "temporal.db")
	sqlConf := &config.SQL{
		PluginName:   sqliteplugin.PluginName,
		DatabaseName: dbFile,
		// WAL lets the UI and visibility read while history writes, and
		// survives a crash without losing committed transactions. The
		// plugin passes unknown keys as pragmas by their plain names
		// (journal_mode, not the driver's _journal_mode, which SQLite
		// ignored silently: the file ran in rollback-journal mode with a
		// full sync per commit). busy_timeout lets the readers the pool
		// adds wait for the writer instead of failing.
		ConnectAttributes: map[string]string{"mode": "rwc", "journal_mode": "wal", "synchronous": "normal", "busy_timeout": "10000"},
		MaxConns:          4,
		MaxIdleConns:      4,
	}
	if _, err := os.Stat(dbFile); errors.Is(err, os.ErrNotExist) {
		if err := sqliteschema.SetupSchema(sqlConf); err != nil {
			return nil, fmt.Errorf("set up temporal schema: %w", err)
		}
	}
	ns, err := sqliteschema.NewNamespaceConfig("active", o.Namespace, false, o.SearchAttributes)
	if err != nil {
		return nil, fmt.Errorf("namespace config: %w", err)
	}
	if err := sqliteschema.CreateNamespaces(sqlConf, ns); err != nil {
		return nil, fmt.Errorf("create namespace: %w", err)
	}

	conf, err := serverConfig(o.FrontendPort, sqlConf)
	if err != nil {
		return nil, err
	}
	if t := o.TLS; t != nil {
		client := config.ClientTLS{RootCAFiles: []string{t.ServerCAFile}, ServerName: host}
		conf.Global.TLS.Frontend = config.GroupTLS{
			Server: config.ServerTLS{CertFile: t.CertFile, KeyFile: t.KeyFile, RequireClientAuth: true, ClientCAFiles: []string{t.ClientCAFile}},
			Client: client,
		}
		conf.Global.TLS.SystemWorker = config.WorkerTLS{CertFile: t.ClientCertFile, KeyFile: t.ClientKeyFile, Client: client}
		o.UIPort = 0
	}
	// The embedded server is chatty at info; rma's own logs matter more.
	logger := tlog.NewZapLogger(o.Logger.Named("temporal").WithOptions(zap.IncreaseLevel(zap.WarnLevel)))
	authorizer, err := authorization.GetAuthorizerFromConfig(&conf.Global.Authorization)
	if err != nil {
		return nil, fmt.Errorf("authorizer: %w", err)
	}
	claimMapper, err := authorization.GetClaimMapperFromConfig(&conf.Global.Authorization, logger)
	if err != nil {
		return nil, fmt.Errorf("claim mapper: %w", err)
	}
	dyn := dynamicconfig.StaticClient{
		// New search attributes are visible to the very next request.
		dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key():      true,
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
		// history.transferProcessorMaxPollRPS stays at its default (20
		// reads of the task queue a second per shard, and this server has
		// one shard): a signal's workflow task waits up to 50 ms when
		// idle, but under load the batching is worth more. At 200 the
		// bench's idle scan lag fell from 50 to 6 ms and its throughput
		// by a quarter (docs/benchmarks.md).
	}
	// Static membership: ringpop would bootstrap from the host records an
	// earlier run left in the SQLite file and find no live hosts after a
	// restart.
	hosts := map[primitives.ServiceName]static.Hosts{}
	for _, svc := range []primitives.ServiceName{primitives.FrontendService, primitives.HistoryService, primitives.MatchingService, primitives.WorkerService} {
		hosts[svc] = static.SingleLocalHost(net.JoinHostPort(host, strconv.Itoa(conf.Services[string(svc)].RPC.GRPCPort)))
	}
	srv, err := temporal.NewServer(
		temporal.WithConfig(conf),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(hosts),
		temporal.WithLogger(logger),
		temporal.WithAuthorizer(authorizer),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return claimMapper }),
		temporal.WithDynamicConfigClient(dyn),
	)
	if err != nil {
		return nil, fmt.Errorf("build temporal server: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("start temporal server: %w", err)
	}
	s := &Server{srv: srv, frontend: net.JoinHostPort(host, strconv.Itoa(o.FrontendPort)), namespace: o.Namespace}
	if o.TLS != nil {
		if s.clientTLS, err = clientTLS(o.TLS); err != nil {
			_ = srv.Stop()
			return nil, err
		}
	}
	if err := s.registerSearchAttributes(ctx, o.SearchAttributes); err != nil {
		_ = srv.Stop()
		return nil, err
	}
	if o.UIPort > 0 {
		s.uiAddr = net.JoinHostPort(host, strconv.Itoa(o.UIPort))
		s.ui = uiserver.NewServer(uiserveroptions.WithConfigProvider(&uiconfig.Config{
			Host: host, Port: o.UIPort, TemporalGRPCAddress: s.frontend, EnableUI: true,
			CORS: uiconfig.CORS{CookieInsecure: true}, HideLogs: true, DisableNewsFetch: true,
			DefaultNamespace: o.Namespace,
			Codec:            uiconfig.Codec{Endpoint: o.CodecEndpoint},
		}))
		errc := make(chan error, 1)
		go func() { errc <- s.ui.Start() }()
		if err := waitTCP(ctx, s.uiAddr, errc); err != nil {
			s.Stop()
			return nil, fmt.Errorf("start temporal ui: %w", err)
		}
	}
	return s, nil
}

func serverConfig(port int, sqlConf *config.SQL) (*config.Config, error) {
	conf := &config.Config{}
	conf.Global.Membership.MaxJoinDuration = 30 * time.Second
	conf.Global.Membership.BroadcastAddress = host
	conf.Persistence.DefaultStore = "sqlite"
	conf.Persistence.VisibilityStore = "sqlite"
	conf.Persistence.NumHistoryShards = 1
	conf.Persistence.DataStores = map[string]config.DataStore{"sqlite": {SQL: sqlConf}}
	conf.ClusterMetadata = &cluster.Config{
		FailoverVersionIncrement: 10, MasterClusterName: "active", CurrentClusterName: "active",
		ClusterInformation: map[string]cluster.ClusterInformation{"active": {
			Enabled: true, InitialFailoverVersion: 1, RPCAddress: net.JoinHostPort(host, strconv.Itoa(port)),
		}},
	}
	conf.DCRedirectionPolicy.Policy = "noop"
	conf.Services = map[string]config.Service{}
	for _, svc := range []string{"frontend", "history", "matching", "worker"} {
		p := port
		if svc != "frontend" {
			var err error
			if p, err = freePort(); err != nil {
				return nil, err
			}
		}
		m, err := freePort()
		if err != nil {
			return nil, err
		}
		conf.Services[svc] = config.Service{RPC: config.RPC{GRPCPort: p, MembershipPort: m, BindOnIP: host}}
	}
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	conf.PublicClient.HostPort = net.JoinHostPort(host, strconv.Itoa(port))
	return conf, nil
}

// registerSearchAttributes adds attributes missing from an existing
// database, so a data dir made by an older rma gains new ones.
func (s *Server) registerSearchAttributes(ctx context.Context, want map[string]enumspb.IndexedValueType) error {
	c, err := client.DialContext(ctx, client.Options{HostPort: s.frontend, Namespace: s.namespace, Logger: nopLogger{},
		ConnectionOptions: client.ConnectionOptions{TLS: s.clientTLS}})
	if err != nil {
		return fmt.Errorf("dial embedded temporal: %w", err)
	}
	defer c.Close()
	have, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: s.namespace})
	if err != nil {
		return fmt.Errorf("list search attributes: %w", err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for k, v := range want {
		if _, ok := have.CustomAttributes[k]; !ok {
			missing[k] = v
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if _, err := c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: s.namespace, SearchAttributes: missing}); err != nil {
		return fmt.Errorf("add search attributes: %w", err)
	}
	return nil
}

// FrontendAddress is host:port of the gRPC frontend.
func (s *Server) FrontendAddress() string { return s.frontend }

// UIAddress is host:port of the Web UI, or "".
func (s *Server) UIAddress() string { return s.uiAddr }

// Namespace is the namespace created at start.
func (s *Server) Namespace() string { return s.namespace }

// Stop stops the UI and the server; the SQLite file keeps every workflow.
func (s *Server) Stop() {
	if s.ui != nil {
		s.ui.Stop()
	}
	_ = s.srv.Stop()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitTCP(ctx context.Context, addr string, errc <-chan error) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-errc:
			return err
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not open within 30s", addr)
}
