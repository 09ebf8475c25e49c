package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	"go.temporal.io/sdk/interceptor"
	"go.uber.org/zap"

	"github.com/rma-dev/rma/codec"
	"github.com/rma-dev/rma/worker"
)

// temporalFlags follow the Temporal CLI's names and TEMPORAL_* variables, so
// the same environment points `temporal` and `rma` at one cluster (a local
// server, self-hosted with mTLS, or Temporal Cloud with an API key). The
// connection is resolved in Temporal's envconfig order: a profile of the
// TOML config file (--config-file or TEMPORAL_CONFIG_FILE, default
// ~/.config/temporalio/temporal.toml; --profile or TEMPORAL_PROFILE), then
// the TEMPORAL_* variables over it, then the flags given over both.
type temporalFlags struct {
	address, namespace, apiKey            string
	tlsCert, tlsKey, tlsCA, tlsServerName string
	tls                                   bool
	configFile, profile                   string
	// keysFile is the payload keyring (RMA_PAYLOAD_KEYS_FILE); keys are
	// RMA_PAYLOAD_KEYS. requireKeys refuses to connect without them.
	keysFile    string
	requireKeys bool
	// devKeys is a keyring file to fall back on (the rma dev data dir's).
	devKeys string
	// metrics, when set, receives the SDK's metrics (rma worker and api).
	metrics client.MetricsHandler
	// interceptors trace starts, updates, runs and activities (tracing on).
	interceptors []interceptor.ClientInterceptor
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func (f *temporalFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.address, "address", "", "Temporal frontend host:port (env TEMPORAL_ADDRESS; else the profile's; else 127.0.0.1:7233)")
	fl.StringVarP(&f.namespace, "namespace", "n", "", "Temporal namespace (env TEMPORAL_NAMESPACE; else the profile's; else default)")
	fl.StringVar(&f.apiKey, "api-key", "", "API key, e.g. for Temporal Cloud (env TEMPORAL_API_KEY); turns TLS on")
	fl.StringVar(&f.tlsCert, "tls-cert-path", "", "mTLS client certificate (env TEMPORAL_TLS_CLIENT_CERT_PATH, or TEMPORAL_TLS_CERT)")
	fl.StringVar(&f.tlsKey, "tls-key-path", "", "mTLS client key (env TEMPORAL_TLS_CLIENT_KEY_PATH, or TEMPORAL_TLS_KEY)")
	fl.StringVar(&f.tlsCA, "tls-ca-path", "", "CA bundle for the server certificate (env TEMPORAL_TLS_SERVER_CA_CERT_PATH, or TEMPORAL_TLS_CA)")
	fl.StringVar(&f.tlsServerName, "tls-server-name", "", "override the TLS server name (env TEMPORAL_TLS_SERVER_NAME)")
	fl.BoolVar(&f.tls, "tls", false, "use TLS without a client certificate (env TEMPORAL_TLS=true)")
	fl.StringVar(&f.configFile, "config-file", "", "Temporal client config file, TOML, as the temporal CLI writes it (env TEMPORAL_CONFIG_FILE; default ~/.config/temporalio/temporal.toml when it exists)")
	fl.StringVar(&f.profile, "profile", "", "profile of the config file (env TEMPORAL_PROFILE; default \"default\")")
	fl.StringVar(&f.keysFile, "payload-keys-file", os.Getenv(codec.EnvKeysFile), "payload encryption keys, one id:base64key per line, the active key first (env "+codec.EnvKeysFile+", or the keys themselves in "+codec.EnvKeys+"; rma key new makes one)")
}

// temporalEnv are the TEMPORAL_* variables Temporal's envconfig reads over
// the config file's profile (the temporal CLI reads the same).
func temporalEnv() []string {
	return []string{"TEMPORAL_CONFIG_FILE", "TEMPORAL_PROFILE", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY",
		"TEMPORAL_TLS", "TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_CLIENT_KEY_PATH", "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
		"TEMPORAL_TLS_SERVER_NAME", "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION", "TEMPORAL_GRPC_META_*",
		"TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY", "TEMPORAL_TLS_CA"}
}

// resolve merges the profile, the environment and the flags into client
// options, and records the address and namespace it settled on.
func (f *temporalFlags) resolve() (client.Options, error) {
	prof, err := envconfig.LoadClientConfigProfile(envconfig.LoadClientConfigProfileOptions{ConfigFilePath: f.configFile, ConfigFileProfile: f.profile})
	if err != nil {
		return client.Options{}, fmt.Errorf("temporal client config: %w", err)
	}
	if f.address != "" {
		prof.Address = f.address
	}
	if f.namespace != "" {
		prof.Namespace = f.namespace
	}
	if f.apiKey != "" {
		prof.APIKey = f.apiKey
	}
	// The temporal CLI's older names (TEMPORAL_TLS_CERT, _KEY, _CA) count
	// as the environment, where envconfig's own name for a field is unset;
	// then the flags. Each field is set on its own.
	cert, key, ca := f.tlsCert, f.tlsKey, f.tlsCA
	for _, legacy := range []struct {
		dst           *string
		name, current string
	}{{&cert, "TEMPORAL_TLS_CERT", "TEMPORAL_TLS_CLIENT_CERT_PATH"}, {&key, "TEMPORAL_TLS_KEY", "TEMPORAL_TLS_CLIENT_KEY_PATH"}, {&ca, "TEMPORAL_TLS_CA", "TEMPORAL_TLS_SERVER_CA_CERT_PATH"}} {
		if *legacy.dst == "" && os.Getenv(legacy.current) == "" {
			*legacy.dst = os.Getenv(legacy.name)
		}
	}
	if f.tls || cert != "" || key != "" || ca != "" || f.tlsServerName != "" {
		if prof.TLS == nil {
			prof.TLS = &envconfig.ClientConfigTLS{}
		}
		prof.TLS.Disabled = false
		if cert != "" {
			prof.TLS.ClientCertPath, prof.TLS.ClientCertData = cert, nil
		}
		if key != "" {
			prof.TLS.ClientKeyPath, prof.TLS.ClientKeyData = key, nil
		}
		if ca != "" {
			prof.TLS.ServerCACertPath, prof.TLS.ServerCACertData = ca, nil
		}
		if f.tlsServerName != "" {
			prof.TLS.ServerName = f.tlsServerName
		}
	}
	if prof.Address == "" {
		prof.Address = "127.0.0.1:7233"
	}
	if prof.Namespace == "" {
		prof.Namespace = "default"
	}
	opts, err := prof.ToClientOptions(envconfig.ToClientOptionsRequest{})
	if err != nil {
		return client.Options{}, fmt.Errorf("temporal client config: %w", err)
	}
	if opts.ConnectionOptions.TLS != nil && opts.ConnectionOptions.TLS.MinVersion == 0 {
		opts.ConnectionOptions.TLS.MinVersion = tls.VersionTLS12
	}
	f.address, f.namespace = prof.Address, prof.Namespace
	return opts, nil
}

// keyring reads the payload keys: --payload-keys-file (or its env),
// RMA_PAYLOAD_KEYS, or the fallback file; nil when none is configured.
func (f *temporalFlags) keyring() (*codec.Keyring, error) {
	if f.keysFile != "" {
		return codec.LoadFile(f.keysFile)
	}
	k, ok, err := codec.Load(os.Getenv)
	if err != nil || ok {
		return k, err
	}
	if f.devKeys != "" {
		if _, serr := os.Stat(f.devKeys); serr == nil {
			return codec.LoadFile(f.devKeys)
		}
	}
	if f.requireKeys {
		return nil, fmt.Errorf("no payload encryption keys: set %s (a file) or %s; rma key new makes a key. Customer data must not reach Temporal in clear text", codec.EnvKeysFile, codec.EnvKeys)
	}
	return nil, nil
}

func (f *temporalFlags) dial(ctx context.Context, log *zap.Logger) (client.Client, error) {
	opts, err := f.resolve()
	if err != nil {
		return nil, err
	}
	opts.Logger = worker.NewLogger(log)
	if f.metrics != nil {
		opts.MetricsHandler = f.metrics
	}
	opts.Interceptors = append(opts.Interceptors, f.interceptors...)
	keys, err := f.keyring()
	if err != nil {
		return nil, err
	}
	codec.Configure(&opts, keys)
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s (namespace %s): %w", f.address, f.namespace, err)
	}
	return c, nil
}

func newLogger(dev bool) *zap.Logger {
	var cfg zap.Config
	if dev {
		cfg = zap.NewDevelopmentConfig()
		cfg.Level = zap.NewAtomicLevelAt(zap.InfoLevel)
		cfg.DisableStacktrace = true
	} else {
		cfg = zap.NewProductionConfig()
	}
	if lvl := os.Getenv("RMA_LOG_LEVEL"); lvl != "" {
		_ = cfg.Level.UnmarshalText([]byte(lvl))
	}
	l, err := cfg.Build()
	if err != nil {
		return zap.NewNop()
	}
	return l
}
