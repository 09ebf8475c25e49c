package codec

import (
	"context"
	"fmt"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/proxy"
	"google.golang.org/protobuf/proto"
)

// DecodeAll opens, in place, every sealed payload of a Temporal message (a
// history, a describe answer): what the UI shows through the codec server,
// for tools that read histories themselves (recording the replay corpus).
// Search attributes are never sealed and are left alone.
func DecodeAll(ctx context.Context, k *Keyring, msg proto.Message) error {
	c := NewCodec(k)
	err := proxy.VisitPayloads(ctx, msg, proxy.VisitPayloadsOptions{
		SkipSearchAttributes: true,
		Visitor: func(_ *proxy.VisitPayloadsContext, ps []*commonpb.Payload) ([]*commonpb.Payload, error) {
			return c.Decode(ps)
		},
	})
	if err != nil {
		return fmt.Errorf("decode payloads: %w", err)
	}
	return nil
}
