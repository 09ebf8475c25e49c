package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/rma-dev/rma/api"
	"github.com/rma-dev/rma/codec"
	"github.com/rma-dev/rma/store"
)

func newKeyCmd() *cobra.Command {
	key := &cobra.Command{Use: "key", Short: "Make payload encryption keys"}
	var id string
	newKey := &cobra.Command{
		Use:   "new",
		Short: "Print a new random AES-256 key entry (id:base64key) for RMA_PAYLOAD_KEYS_FILE",
		Long: `Print a new key entry. To rotate, put it first in the keys file (the first
key encrypts new payloads) and keep the old entries below it: they still
decrypt everything written before. Restart workers, APIs and codec servers
with the new file. Retire an old key only once no history sealed with it is
left (Temporal's retention after the last return that used it closed).`,
		Example: `  rma key new >> /etc/rma/payload-keys      # first key
  { rma key new; cat payload-keys; } > payload-keys.new && mv payload-keys.new payload-keys   # rotate`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if id == "" {
				id = time.Now().UTC().Format("k20060102T150405")
			}
			k, err := codec.NewKey(id)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), k)
			return nil
		},
	}
	newKey.Flags().StringVar(&id, "id", "", "key ID (default: k<UTC time>)")
	key.AddCommand(newKey)
	return key
}

func newCodecServerCmd() *cobra.Command {
	var tf temporalFlags
	var db dbFlags
	var port int
	var origins, tlsCert, tlsKey string
	cmd := &cobra.Command{
		Use:   "codec-server",
		Short: "Serve the codec server alone, for a Temporal UI that decodes rma's payloads",
		Long: `rma codec-server serves POST /codec/decode and /codec/encode, the protocol
the Temporal UI and CLI use to show encrypted payloads in clear. rma api
serves the same routes; run this when the UI should reach a separate host.

Callers need an rma API token (rma token create) with the support or admin
role; customer tokens are refused. Browsers may call it only from the
--codec-origin origins (the UI's address). Keys come from
RMA_PAYLOAD_KEYS_FILE or RMA_PAYLOAD_KEYS, as for the worker.

In the Temporal UI set the codec endpoint to https://<this host>/codec and
"pass access token"; or in the temporal CLI use --codec-endpoint and
--codec-auth "Bearer <token>".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := newLogger(false)
			defer func() { _ = log.Sync() }()
			keys, err := tf.keyring()
			if err != nil {
				return err
			}
			if len(splitList(origins)) == 0 {
				return errors.New("--codec-origin is required: the Temporal UI's origin, e.g. https://temporal.example.com")
			}
			tokens, err := loadTokens()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			var st *store.Store
			if db.url != "" {
				if st, err = store.Open(ctx, db.url); err != nil {
					return err
				}
				defer st.Close()
			} else if len(tokens) == 0 {
				return errors.New("no tokens to check: pass --database-url (tokens from rma token create) or set RMA_TOKENS")
			}
			srv := api.New(api.Config{Store: st, Tokens: tokens, Codec: keys, Namespace: tf.namespace, CodecOrigins: splitList(origins), Logger: log,
				RateLimit: 50, RateBurst: 200})
			return serveTLSUntil(ctx, log, port, srv.CodecHandler(), tlsCert, tlsKey)
		},
	}
	tf.requireKeys = true
	f := cmd.Flags()
	f.IntVar(&port, "port", 8088, "port to listen on")
	f.StringVarP(&tf.namespace, "namespace", "n", envOr("TEMPORAL_NAMESPACE", "default"), "the only namespace decoded (env TEMPORAL_NAMESPACE)")
	f.StringVar(&tf.keysFile, "payload-keys-file", os.Getenv(codec.EnvKeysFile), "payload keys (env "+codec.EnvKeysFile+" or "+codec.EnvKeys+")")
	f.StringVar(&origins, "codec-origin", os.Getenv("RMA_CODEC_ORIGINS"), "Temporal UI origins allowed (comma-separated; env RMA_CODEC_ORIGINS)")
	f.StringVar(&tlsCert, "tls-cert-file", os.Getenv("RMA_TLS_CERT"), "serve HTTPS with this certificate (env RMA_TLS_CERT)")
	f.StringVar(&tlsKey, "tls-key-file", os.Getenv("RMA_TLS_KEY"), "the certificate's key (env RMA_TLS_KEY)")
	f.StringVar(&db.url, "database-url", os.Getenv("RMA_DATABASE_URL"), "PostgreSQL holding the API tokens (env RMA_DATABASE_URL)")
	return cmd
}
