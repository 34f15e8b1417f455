package codec_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	failurepb "go.temporal.io/api/failure/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"

	"importer/internal/codec"
)

// secret is what must never show up outside the ciphertext.
const secret = "X-Amz-Signature=0f1e2d3c4b5a69788796a5b4c3d2e1f0"

type importInput struct {
	Vendor string            `json:"vendor"`
	Source string            `json:"source"`
	Rows   int64             `json:"rows"`
	Tags   map[string]string `json:"tags"`
}

// samplePayloads are the kinds the default converter produces: JSON, nil,
// raw bytes, a proto message, an empty string, and one large value.
func samplePayloads(t *testing.T) []*commonpb.Payload {
	t.Helper()
	dc := converter.GetDefaultDataConverter()
	values := []any{
		importInput{Vendor: "nebuly", Source: "https://bucket.example/users.csv?" + secret, Rows: 12, Tags: map[string]string{"plan": "pro"}},
		nil,
		[]byte("raw " + secret),
		&commonpb.WorkflowExecution{WorkflowId: "import-1", RunId: secret},
		"",
		strings.Repeat("large "+secret, 20000),
	}
	out := make([]*commonpb.Payload, len(values))
	for i, v := range values {
		p, err := dc.ToPayload(v)
		if err != nil {
			t.Fatalf("value %d: %v", i, err)
		}
		out[i] = p
	}
	return out
}

func TestRoundTripSeveralPayloadKinds(t *testing.T) {
	ring := mustRing(t, "k1:"+codec.NewKey(), "")
	c := codec.New(ring)
	in := samplePayloads(t)
	before := clonePayloads(in)

	enc, err := c.Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(enc) != len(in) {
		t.Fatalf("%d payloads encoded into %d", len(in), len(enc))
	}
	for i, p := range enc {
		if got := string(p.Metadata[converter.MetadataEncoding]); got != codec.Encoding {
			t.Errorf("payload %d: encoding %q", i, got)
		}
		if got := string(p.Metadata[codec.MetadataKeyID]); got != "k1" {
			t.Errorf("payload %d: key id %q", i, got)
		}
		if len(p.Metadata) != 2 {
			t.Errorf("payload %d: metadata %v; the original encoding must be inside the ciphertext", i, keys(p.Metadata))
		}
		if bytes.Contains(p.Data, []byte(secret)) || bytes.Contains(p.Data, []byte("json/plain")) {
			t.Errorf("payload %d: plaintext visible in the ciphertext", i)
		}
	}
	for i := range in {
		if !proto.Equal(in[i], before[i]) {
			t.Errorf("Encode changed its input payload %d", i)
		}
	}

	dec, err := c.Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		if !proto.Equal(dec[i], in[i]) {
			t.Errorf("payload %d does not round-trip", i)
		}
	}
}

func TestDataConverterRoundTripsValues(t *testing.T) {
	dc := codec.DataConverter(mustRing(t, "k1:"+codec.NewKey(), ""))
	want := importInput{Vendor: "bitlabs", Source: "s3://b/k?" + secret, Rows: 3, Tags: map[string]string{"a": "b"}}
	ps, err := dc.ToPayloads(want, "second", 42)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range ps.Payloads {
		if string(p.Metadata[converter.MetadataEncoding]) != codec.Encoding {
			t.Errorf("argument %d is not encrypted", i)
		}
	}
	if s := dc.ToString(ps.Payloads[0]); !strings.Contains(s, "bitlabs") {
		t.Errorf("ToString = %q; want the decoded value", s)
	}
	var got importInput
	var s string
	var n int
	if err := dc.FromPayloads(ps, &got, &s, &n); err != nil {
		t.Fatal(err)
	}
	if got.Source != want.Source || got.Rows != 3 || got.Tags["a"] != "b" || s != "second" || n != 42 {
		t.Errorf("decoded %+v %q %d", got, s, n)
	}
}

func TestEqualInputsGiveDifferentCiphertexts(t *testing.T) {
	c := codec.New(mustRing(t, "k1:"+codec.NewKey(), ""))
	p, _ := converter.GetDefaultDataConverter().ToPayload("same value")
	enc, err := c.Encode([]*commonpb.Payload{p, p, p})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range enc {
		if seen[string(e.Data)] {
			t.Fatal("two encodings of one payload are identical: the nonce is not fresh")
		}
		seen[string(e.Data)] = true
		if len(e.Data) < 12 || seen[string(e.Data[:12])] {
			t.Fatal("nonce repeated")
		}
		seen[string(e.Data[:12])] = true
	}
}

func TestRotationKeepsOldPayloadsReadable(t *testing.T) {
	oldKey, newKey := codec.NewKey(), codec.NewKey()
	before := codec.New(mustRing(t, "k1:"+oldKey, ""))
	after := codec.New(mustRing(t, "k1:"+oldKey+",k2:"+newKey, ""))

	plain := samplePayloads(t)[:1]
	oldEnc, err := before.Encode(plain)
	if err != nil {
		t.Fatal(err)
	}
	newEnc, err := after.Encode(plain)
	if err != nil {
		t.Fatal(err)
	}
	if id := string(newEnc[0].Metadata[codec.MetadataKeyID]); id != "k2" {
		t.Fatalf("after rotation new payloads use %q, want k2", id)
	}
	dec, err := after.Decode([]*commonpb.Payload{oldEnc[0], newEnc[0]})
	if err != nil {
		t.Fatalf("rotated ring cannot read: %v", err)
	}
	if !proto.Equal(dec[0], plain[0]) || !proto.Equal(dec[1], plain[0]) {
		t.Error("rotated ring decodes to something else")
	}

	// A worker not yet given the new key fails clearly on new payloads.
	_, err = before.Decode(newEnc)
	if err == nil || !strings.Contains(err.Error(), `key "k2" is not in the keyring`) {
		t.Errorf("old ring on a new payload: %v", err)
	}

	// Naming the old key active again (rolling back) seals with it.
	back := codec.New(mustRing(t, "k1:"+oldKey+",k2:"+newKey, "k1"))
	enc, _ := back.Encode(plain)
	if _, err := before.Decode(enc); err != nil {
		t.Errorf("rolled-back payload unreadable by the old ring: %v", err)
	}
}

func TestTamperedOrUnknownPayloadsFailWithoutData(t *testing.T) {
	k1, k2 := codec.NewKey(), codec.NewKey()
	c := codec.New(mustRing(t, "k1:"+k1+",k2:"+k2, "k1"))
	plain := samplePayloads(t)[0]
	fresh := func() *commonpb.Payload {
		enc, err := c.Encode([]*commonpb.Payload{plain})
		if err != nil {
			t.Fatal(err)
		}
		return enc[0]
	}
	cases := []struct {
		name   string
		mutate func(p *commonpb.Payload)
		want   string
	}{
		{"flipped ciphertext byte", func(p *commonpb.Payload) { p.Data[len(p.Data)/2] ^= 1 }, `key "k1": authentication failed`},
		{"flipped nonce byte", func(p *commonpb.Payload) { p.Data[0] ^= 0x80 }, `key "k1": authentication failed`},
		{"truncated", func(p *commonpb.Payload) { p.Data = p.Data[:10] }, `key "k1": authentication failed`},
		{"relabelled with another known key", func(p *commonpb.Payload) { p.Metadata[codec.MetadataKeyID] = []byte("k2") }, `key "k2": authentication failed`},
		{"unknown key id", func(p *commonpb.Payload) { p.Metadata[codec.MetadataKeyID] = []byte("k7") }, `key "k7" is not in the keyring`},
		{"no key id", func(p *commonpb.Payload) { delete(p.Metadata, codec.MetadataKeyID) }, "no encryption-key-id"},
		{"junk key id", func(p *commonpb.Payload) { p.Metadata[codec.MetadataKeyID] = []byte(secret) }, "malformed encryption-key-id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := fresh()
			tc.mutate(p)
			ok := fresh()
			_, err := c.Decode([]*commonpb.Payload{ok, p})
			if err == nil {
				t.Fatal("decoded a tampered payload")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || !strings.Contains(msg, "payload 1") {
				t.Errorf("error %q; want position 1 and %q", msg, tc.want)
			}
			if strings.Contains(msg, secret) || strings.Contains(msg, "nebuly") || strings.Contains(msg, k1) || strings.Contains(msg, k2) {
				t.Errorf("error %q shows data or keys", msg)
			}
		})
	}
}

func TestUnencryptedPayloadsPassThrough(t *testing.T) {
	c := codec.New(mustRing(t, "k1:"+codec.NewKey(), ""))
	plain := samplePayloads(t)
	dec, err := c.Decode(plain)
	if err != nil {
		t.Fatal(err)
	}
	for i := range plain {
		if dec[i] != plain[i] {
			t.Errorf("payload %d was not passed through as is", i)
		}
	}
	// And through the data converter: a history written before encryption
	// was turned on still reads.
	var got importInput
	if err := codec.DataConverter(mustRing(t, "k1:"+codec.NewKey(), "")).FromPayload(plain[0], &got); err != nil || got.Vendor != "nebuly" {
		t.Errorf("old plaintext payload: %+v, %v", got, err)
	}
}

func TestFailureConverterEncryptsMessagesAndStacks(t *testing.T) {
	ring := mustRing(t, "k1:"+codec.NewKey(), "")
	fc := codec.FailureConverter(ring)
	cause := errors.New("read https://bucket.example/users.csv?" + secret + ": 403")
	f := fc.ErrorToFailure(temporal.NewApplicationErrorWithCause("planning failed: "+secret, "SourceError", cause))

	for cur := f; cur != nil; cur = cur.GetCause() {
		if strings.Contains(cur.GetMessage(), secret) || strings.Contains(cur.GetStackTrace(), secret) {
			t.Fatalf("failure shows the secret in clear: %q", cur.GetMessage())
		}
		ea := cur.GetEncodedAttributes()
		if ea == nil || string(ea.Metadata[converter.MetadataEncoding]) != codec.Encoding {
			t.Fatalf("failure %q has no encrypted attributes", cur.GetMessage())
		}
		if bytes.Contains(ea.Data, []byte(secret)) {
			t.Fatal("encoded attributes are not encrypted")
		}
	}

	// FailureToError rewrites the failure it is given; keep f as stored.
	back := fc.FailureToError(proto.Clone(f).(*failurepb.Failure))
	var appErr *temporal.ApplicationError
	if !errors.As(back, &appErr) || appErr.Type() != "SourceError" {
		t.Fatalf("decoded %T %v", back, back)
	}
	if !strings.Contains(back.Error(), "planning failed: "+secret) || !strings.Contains(errors.Unwrap(back).Error(), "403") {
		t.Errorf("decoded failure lost its message: %v", back)
	}

	// A starter without the key sees that something is encoded, not what.
	other := codec.FailureConverter(mustRing(t, "k1:"+codec.NewKey(), ""))
	if msg := other.FailureToError(proto.Clone(f).(*failurepb.Failure)).Error(); strings.Contains(msg, secret) || !strings.Contains(msg, "Encoded failure") {
		t.Errorf("a foreign key decoded the failure: %q", msg)
	}
}

func clonePayloads(in []*commonpb.Payload) []*commonpb.Payload {
	out := make([]*commonpb.Payload, len(in))
	for i, p := range in {
		out[i] = proto.Clone(p).(*commonpb.Payload)
	}
	return out
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
