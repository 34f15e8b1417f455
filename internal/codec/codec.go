package codec

import (
	"errors"
	"fmt"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"
)

// Payload metadata the codec writes.
const (
	// Encoding marks an encrypted payload (metadata "encoding").
	Encoding = "binary/encrypted"
	// MetadataKeyID names the key that sealed a payload.
	MetadataKeyID = "encryption-key-id"
)

// Codec is a converter.PayloadCodec that seals each payload, metadata and
// all, with the keyring's active key and opens it with whichever key of the
// ring it names.
type Codec struct {
	keys *Keyring
}

var _ converter.PayloadCodec = (*Codec)(nil)

// New returns a codec over k, which must not be nil.
func New(k *Keyring) *Codec { return &Codec{keys: k} }

// DataConverter is the SDK's default data converter with every payload
// encrypted by k.
func DataConverter(k *Keyring) converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), New(k))
}

// FailureConverter moves failure messages and stack traces into an encrypted
// payload: an error can quote a source URL or a vendor's reply, and the UI
// shows failures to anyone who can list workflows.
func FailureConverter(k *Keyring) converter.FailureConverter {
	return temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{
		DataConverter:          DataConverter(k),
		EncodeCommonAttributes: true,
	})
}

// Encode seals every payload with the active key. The key id is bound to the
// ciphertext as additional data, so relabelling a payload with another id
// makes it fail to open rather than decrypt under the wrong assumptions.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	if c.keys == nil {
		return nil, errors.New("payload codec has no keyring")
	}
	id := c.keys.ActiveID()
	aead, _ := c.keys.cipher(id)
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("encrypt payload %d: marshal: %w", i, err)
		}
		sealed := aead.Seal(nil, nil, plain, []byte(id))
		clear(plain)
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(Encoding),
				MetadataKeyID:              []byte(id),
			},
			Data: sealed,
		}
	}
	return out, nil
}

// Decode opens encrypted payloads and passes any other payload through
// unchanged, so histories written before encryption was turned on still
// read. Errors name the payload's position and key id, never its content.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	if c.keys == nil {
		return nil, errors.New("payload codec has no keyring")
	}
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != Encoding {
			out[i] = p
			continue
		}
		dec, err := c.open(p)
		if err != nil {
			return nil, fmt.Errorf("decrypt payload %d: %w", i, err)
		}
		out[i] = dec
	}
	return out, nil
}

func (c *Codec) open(p *commonpb.Payload) (*commonpb.Payload, error) {
	raw, ok := p.GetMetadata()[MetadataKeyID]
	if !ok || len(raw) == 0 {
		return nil, fmt.Errorf("no %s in its metadata", MetadataKeyID)
	}
	id := string(raw)
	if checkKeyID(id) != nil {
		// Metadata is attacker-controllable; do not echo junk into logs.
		return nil, fmt.Errorf("malformed %s", MetadataKeyID)
	}
	aead, ok := c.keys.cipher(id)
	if !ok {
		return nil, fmt.Errorf("key %q is not in the keyring (%s); add it back to %s to read payloads sealed with it",
			id, c.keys.String(), EnvKeys)
	}
	plain, err := aead.Open(nil, nil, p.GetData(), []byte(id))
	if err != nil {
		return nil, fmt.Errorf("key %q: authentication failed (wrong key for this id, or the payload was altered)", id)
	}
	var dec commonpb.Payload
	if err := proto.Unmarshal(plain, &dec); err != nil {
		return nil, fmt.Errorf("key %q: decrypted payload is not a Temporal payload", id)
	}
	return &dec, nil
}
