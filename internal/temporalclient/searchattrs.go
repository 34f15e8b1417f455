package temporalclient

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
)

// EnsureSearchAttributes registers the custom search attributes that the
// namespace does not have yet and returns the names it added. It is safe to
// run again; an attribute that exists with another type is an error, since
// runs could not set it.
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string, want map[string]enumspb.IndexedValueType) ([]string, error) {
	have, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return nil, fmt.Errorf("list the search attributes of namespace %s: %w", namespace, err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for name, typ := range want {
		got, ok := have.GetCustomAttributes()[name]
		if !ok {
			missing[name] = typ
			continue
		}
		if got != typ {
			return nil, fmt.Errorf("namespace %s has search attribute %s of type %s; the importer needs %s", namespace, name, got, typ)
		}
	}
	if len(missing) == 0 {
		return nil, nil
	}
	if _, err := c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace: namespace, SearchAttributes: missing,
	}); err != nil {
		return nil, fmt.Errorf("register search attributes in namespace %s (this needs an admin of the cluster; on Temporal Cloud add them in the namespace settings): %w", namespace, err)
	}
	names := make([]string, 0, len(missing))
	for n := range missing {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, waitSearchAttributes(ctx, c, namespace, missing)
}

// waitSearchAttributes returns once the frontend accepts a query on every
// attribute. SQL visibility keeps attribute names in the namespace record,
// which services cache and refresh every few seconds; without the wait a
// run started right away could be refused for an unknown attribute.
func waitSearchAttributes(ctx context.Context, c client.Client, namespace string, attrs map[string]enumspb.IndexedValueType) error {
	names := make([]string, 0, len(attrs))
	for name := range attrs {
		names = append(names, name+" IS NOT NULL")
	}
	sort.Strings(names)
	query := strings.Join(names, " AND ")
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		_, err := c.WorkflowService().CountWorkflowExecutions(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: namespace, Query: query})
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("search attributes of namespace %s are not usable after 30s: %w", namespace, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
