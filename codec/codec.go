// Package codec encrypts every Temporal payload rma writes: workflow inputs,
// results, update and signal payloads, activity inputs and outputs, memos,
// summaries and (through the failure converter) error messages. Customer
// data (email, phone, what they wrote) is personal data, and a Temporal
// history is read by operators, copied into exports and kept after the
// return closes; only ciphertext belongs there. The keys live with rma, in
// a file or the environment, never in the repository or in Temporal.
//
// A payload is AES-256-GCM sealed under the keyring's active key, with the
// key's ID in the payload metadata, so old payloads stay readable after the
// active key rotates: the keyring keeps the old keys for decryption. The
// codec server (Handler) lets the Temporal UI decode for authorized people.
package codec

import (
	"bufio"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
)

// Metadata keys and the encoding of a sealed payload.
const (
	MetadataEncoding = converter.MetadataEncoding
	MetadataKeyID    = "encryption-key-id"
	// Encoding marks a sealed payload; the Temporal UI shows it as such
	// until the codec server decodes it.
	Encoding = "binary/encrypted"
)

// Environment variables a keyring is read from (see Load).
const (
	EnvKeys     = "RMA_PAYLOAD_KEYS"
	EnvKeysFile = "RMA_PAYLOAD_KEYS_FILE"
)

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Keyring holds the AES-256 keys by ID. The first key is the active one:
// it seals every new payload. The others only open payloads sealed before
// a rotation.
type Keyring struct {
	active string
	aeads  map[string]cipher.AEAD
	order  []string
}

// ParseKeyring reads "id:base64key" entries separated by commas or new
// lines ('#' starts a comment). Each key is 32 bytes (AES-256), in standard
// or URL base64.
func ParseKeyring(spec string) (*Keyring, error) {
	k := &Keyring{aeads: map[string]cipher.AEAD{}}
	sc := bufio.NewScanner(strings.NewReader(strings.ReplaceAll(spec, ",", "\n")))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		id, enc, ok := strings.Cut(line, ":")
		id, enc = strings.TrimSpace(id), strings.TrimSpace(enc)
		if !ok || !keyIDPattern.MatchString(id) {
			return nil, fmt.Errorf("payload key entry %q: want id:base64key, the id of letters, digits, '.', '_' or '-'", redact(line))
		}
		raw, err := decodeKey(enc)
		if err != nil {
			return nil, fmt.Errorf("payload key %s: %w", id, err)
		}
		if _, dup := k.aeads[id]; dup {
			return nil, fmt.Errorf("payload key %s is listed twice", id)
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, fmt.Errorf("payload key %s: %w", id, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("payload key %s: %w", id, err)
		}
		k.aeads[id] = aead
		k.order = append(k.order, id)
	}
	if len(k.order) == 0 {
		return nil, errors.New("no payload keys: give at least one id:base64key (rma key new makes one)")
	}
	k.active = k.order[0]
	return k, nil
}

func decodeKey(enc string) ([]byte, error) {
	for _, e := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if raw, err := e.DecodeString(enc); err == nil {
			if len(raw) != 32 {
				return nil, fmt.Errorf("the key is %d bytes; AES-256 needs 32", len(raw))
			}
			return raw, nil
		}
	}
	return nil, errors.New("the key is not base64")
}

// redact keeps a key out of an error message: only the ID, if any, shows.
func redact(line string) string {
	if id, _, ok := strings.Cut(line, ":"); ok {
		return id + ":…"
	}
	return "…"
}

// Load reads the keyring from RMA_PAYLOAD_KEYS (the entries themselves) or
// RMA_PAYLOAD_KEYS_FILE (a file of them, one per line), whichever is set.
// ok is false when neither is.
func Load(getenv func(string) string) (k *Keyring, ok bool, err error) {
	spec, file := getenv(EnvKeys), getenv(EnvKeysFile)
	switch {
	case spec != "" && file != "":
		return nil, false, fmt.Errorf("set %s or %s, not both", EnvKeys, EnvKeysFile)
	case file != "":
		k, err := LoadFile(file)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", EnvKeysFile, err)
		}
		return k, true, nil
	case spec == "":
		return nil, false, nil
	}
	k, err = ParseKeyring(spec)
	if err != nil {
		return nil, false, err
	}
	return k, true, nil
}

// LoadFile reads a keyring file: one id:base64key entry per line.
func LoadFile(path string) (*Keyring, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read payload keys: %w", err)
	}
	k, err := ParseKeyring(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// NewKey makes a fresh random key entry "id:base64key".
func NewKey(id string) (string, error) {
	if !keyIDPattern.MatchString(id) {
		return "", fmt.Errorf("key id %q: use letters, digits, '.', '_' or '-' (at most 64)", id)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("read random key: %w", err)
	}
	return id + ":" + base64.StdEncoding.EncodeToString(raw), nil
}

// ActiveKeyID is the ID new payloads are sealed under.
func (k *Keyring) ActiveKeyID() string { return k.active }

// KeyIDs lists the keyring's IDs, the active one first.
func (k *Keyring) KeyIDs() []string { return append([]string(nil), k.order...) }

// Codec is the AES-256-GCM converter.PayloadCodec over a keyring.
type Codec struct{ keys *Keyring }

// NewCodec returns the payload codec of a keyring.
func NewCodec(k *Keyring) *Codec { return &Codec{keys: k} }

// Encode seals each payload (its metadata and data, as one protobuf) under
// the active key. The key ID is authenticated data: a payload relabelled
// with another key's ID does not open.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	aead := c.keys.aeads[c.keys.active]
	for i, p := range payloads {
		plain, err := p.Marshal()
		if err != nil {
			return nil, fmt.Errorf("encode payload: %w", err)
		}
		nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
		if _, err := rand.Read(nonce); err != nil {
			return nil, fmt.Errorf("encode payload: nonce: %w", err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{MetadataEncoding: []byte(Encoding), MetadataKeyID: []byte(c.keys.active)},
			Data:     aead.Seal(nonce, nonce, plain, []byte(c.keys.active)),
		}
	}
	return out, nil
}

// Decode opens sealed payloads with the key their metadata names, and
// passes others through: histories written before encryption was turned on
// stay readable (and replayable).
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[MetadataEncoding]) != Encoding {
			out[i] = p
			continue
		}
		id := string(p.GetMetadata()[MetadataKeyID])
		aead, ok := c.keys.aeads[id]
		if !ok {
			return nil, fmt.Errorf("decode payload: key %q is not in the keyring (keep retired keys in it while histories sealed with them exist)", id)
		}
		data := p.GetData()
		if len(data) < aead.NonceSize() {
			return nil, errors.New("decode payload: ciphertext too short")
		}
		plain, err := aead.Open(nil, data[:aead.NonceSize()], data[aead.NonceSize():], []byte(id))
		if err != nil {
			return nil, fmt.Errorf("decode payload sealed with key %s: %w", id, err)
		}
		var inner commonpb.Payload
		if err := inner.Unmarshal(plain); err != nil {
			return nil, fmt.Errorf("decode payload: %w", err)
		}
		out[i] = &inner
	}
	return out, nil
}

// DataConverter is the default JSON converter with every payload sealed.
func DataConverter(k *Keyring) converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), NewCodec(k))
}

// Configure makes a Temporal client seal and open payloads and failures
// with the keyring; a nil keyring leaves the options as they are.
func Configure(o *client.Options, k *Keyring) {
	if k == nil {
		return
	}
	o.DataConverter = DataConverter(k)
	o.FailureConverter = FailureConverter(o.DataConverter)
}

// FailureConverter moves an error's message and stack trace into its
// encoded attributes, which the data converter seals: a failure in the
// history says only "Encoded failure", whatever the error mentioned.
func FailureConverter(dc converter.DataConverter) converter.FailureConverter {
	return temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{DataConverter: dc, EncodeCommonAttributes: true})
}
