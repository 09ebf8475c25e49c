package api

import (
	"net/http"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/rma-dev/rma/codec"
)

// CodecRoles may decode payloads: the people who read histories in the
// Temporal UI. A customer token never may.
func CodecRoles() []string { return []string{RoleSupport} }

// CodecHandler is the codec server (POST /codec/decode, /codec/encode) over
// the API's tokens: support or admin, not scoped to a customer. nil when
// the API has no keyring.
func (s *Server) CodecHandler() http.Handler {
	if s.cfg.Codec == nil {
		return nil
	}
	return codec.Handler(codec.HandlerOptions{
		Keys: s.cfg.Codec, Namespace: s.cfg.Namespace, Origins: s.cfg.CodecOrigins,
		Authorize: func(r *http.Request) (int, string) {
			if s.cfg.CodecTrustUI && r.Header.Get("Authorization") == "" && slices.Contains(s.cfg.CodecOrigins, r.Header.Get("Origin")) {
				// rma dev: its UI has no sign-in, and runs on loopback
				// beside the key file.
				return 0, ""
			}
			p, no := s.authorize(r, CodecRoles())
			switch {
			case no != nil:
				return no.status, no.msg
			case p.scoped():
				return http.StatusForbidden, "decoding needs the support or admin role"
			case strings.HasSuffix(r.URL.Path, "/encode") && !p.has([]string{RoleAdmin}):
				// An encoded payload could be sent to a workflow past the
				// API: only admin may make one.
				return http.StatusForbidden, "encoding needs the admin role"
			}
			s.log.Info("codec", zap.String("subject", p.Subject), zap.String("path", r.URL.Path))
			return 0, ""
		},
	})
}
