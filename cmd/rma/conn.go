package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/rma-dev/rma/codec"
	"github.com/rma-dev/rma/worker"
)

// temporalFlags follow the Temporal CLI's names and TEMPORAL_* variables, so
// the same environment points `temporal` and `rma` at one cluster (a local
// server, self-hosted with mTLS, or Temporal Cloud with an API key).
type temporalFlags struct {
	address, namespace, apiKey            string
	tlsCert, tlsKey, tlsCA, tlsServerName string
	tls                                   bool
	// keysFile is the payload keyring (RMA_PAYLOAD_KEYS_FILE); keys are
	// RMA_PAYLOAD_KEYS. requireKeys refuses to connect without them.
	keysFile    string
	requireKeys bool
	// devKeys is a keyring file to fall back on (the rma dev data dir's).
	devKeys string
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func (f *temporalFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.address, "address", envOr("TEMPORAL_ADDRESS", "127.0.0.1:7233"), "Temporal frontend host:port (env TEMPORAL_ADDRESS)")
	fl.StringVarP(&f.namespace, "namespace", "n", envOr("TEMPORAL_NAMESPACE", "default"), "Temporal namespace (env TEMPORAL_NAMESPACE)")
	fl.StringVar(&f.apiKey, "api-key", os.Getenv("TEMPORAL_API_KEY"), "API key, e.g. for Temporal Cloud (env TEMPORAL_API_KEY)")
	fl.StringVar(&f.tlsCert, "tls-cert-path", os.Getenv("TEMPORAL_TLS_CERT"), "mTLS client certificate (env TEMPORAL_TLS_CERT)")
	fl.StringVar(&f.tlsKey, "tls-key-path", os.Getenv("TEMPORAL_TLS_KEY"), "mTLS client key (env TEMPORAL_TLS_KEY)")
	fl.StringVar(&f.tlsCA, "tls-ca-path", os.Getenv("TEMPORAL_TLS_CA"), "CA bundle for the server certificate (env TEMPORAL_TLS_CA)")
	fl.StringVar(&f.tlsServerName, "tls-server-name", os.Getenv("TEMPORAL_TLS_SERVER_NAME"), "override the TLS server name (env TEMPORAL_TLS_SERVER_NAME)")
	fl.BoolVar(&f.tls, "tls", os.Getenv("TEMPORAL_TLS") == "true", "use TLS without a client certificate (env TEMPORAL_TLS=true)")
	fl.StringVar(&f.keysFile, "payload-keys-file", os.Getenv(codec.EnvKeysFile), "payload encryption keys, one id:base64key per line, the active key first (env "+codec.EnvKeysFile+", or the keys themselves in "+codec.EnvKeys+"; rma key new makes one)")
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
	opts := client.Options{HostPort: f.address, Namespace: f.namespace, Logger: worker.NewLogger(log)}
	keys, err := f.keyring()
	if err != nil {
		return nil, err
	}
	codec.Configure(&opts, keys)
	if f.apiKey != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(f.apiKey)
	}
	if f.tls || f.tlsCert != "" || f.tlsCA != "" || f.apiKey != "" {
		tc := &tls.Config{ServerName: f.tlsServerName, MinVersion: tls.VersionTLS12}
		if f.tlsCert != "" {
			cert, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
			if err != nil {
				return nil, fmt.Errorf("load client certificate: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		if f.tlsCA != "" {
			pem, err := os.ReadFile(f.tlsCA)
			if err != nil {
				return nil, fmt.Errorf("read CA: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("no certificates in %s", f.tlsCA)
			}
			tc.RootCAs = pool
		}
		opts.ConnectionOptions.TLS = tc
	}
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
