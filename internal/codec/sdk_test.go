package codec_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"importer/internal/codec"
)

type importResult struct {
	Source   string `json:"source"`
	Accepted int64  `json:"accepted"`
}

func countRows(_ context.Context, in importInput) (int64, error) {
	if !strings.Contains(in.Source, secret) {
		return 0, nil // the activity did not get its input intact
	}
	return in.Rows * 2, nil
}

func importLike(ctx workflow.Context, in importInput) (importResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	var n int64
	if err := workflow.ExecuteActivity(ctx, countRows, in).Get(ctx, &n); err != nil {
		return importResult{}, err
	}
	return importResult{Source: in.Source, Accepted: n}, nil
}

// recordingConverter notes every payload the SDK asks the converter to
// write, to show that what leaves the converter is ciphertext.
type recordingConverter struct {
	converter.DataConverter
	mu      sync.Mutex
	written []*commonpb.Payload
}

func (r *recordingConverter) ToPayload(v any) (*commonpb.Payload, error) {
	p, err := r.DataConverter.ToPayload(v)
	r.mu.Lock()
	r.written = append(r.written, p)
	r.mu.Unlock()
	return p, err
}

func (r *recordingConverter) ToPayloads(v ...any) (*commonpb.Payloads, error) {
	ps, err := r.DataConverter.ToPayloads(v...)
	r.mu.Lock()
	r.written = append(r.written, ps.GetPayloads()...)
	r.mu.Unlock()
	return ps, err
}

func TestWorkflowThroughEncryptingConverter(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	rec := &recordingConverter{DataConverter: codec.DataConverter(mustRing(t, "k1:"+codec.NewKey(), ""))}
	env.SetDataConverter(rec)
	env.RegisterWorkflow(importLike)
	env.RegisterActivity(countRows)

	in := importInput{Vendor: "nebuly", Source: "https://bucket.example/users.csv?" + secret, Rows: 21}
	env.ExecuteWorkflow(importLike, in)
	if !env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var out importResult
	if err := env.GetWorkflowResult(&out); err != nil {
		t.Fatal(err)
	}
	if out.Source != in.Source || out.Accepted != 42 {
		t.Errorf("result %+v; want the source back and 42 accepted", out)
	}

	rec.mu.Lock()
	defer rec.mu.Unlock()
	// Workflow input, activity input, activity result, workflow result.
	if len(rec.written) < 4 {
		t.Fatalf("the SDK wrote %d payloads through the converter, want at least 4", len(rec.written))
	}
	for i, p := range rec.written {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != codec.Encoding {
			t.Errorf("payload %d left the converter unencrypted", i)
		}
		if strings.Contains(string(p.GetData()), secret) {
			t.Errorf("payload %d shows the secret", i)
		}
	}
}
