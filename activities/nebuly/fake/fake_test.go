package fake

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func call(t *testing.T, s *Server, method, auth, body string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, Path, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	var out map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out
}

func TestRules(t *testing.T) {
	s := New(Options{APIKey: "k", MaxUsers: 2})
	if code, _ := call(t, s, "POST", "bad", `{"users":[]}`); code != http.StatusUnauthorized {
		t.Fatalf("wrong key: %d", code)
	}
	code, out := call(t, s, "POST", "k", `{"users":[{"end_user":"a","tags":{},"active_from":"2026-01-01"}]}`)
	if code != 200 || len(out["users"].([]any)) != 1 {
		t.Fatalf("insert: %d %v", code, out)
	}
	// skip: an existing user is left out of the answer and untouched
	code, out = call(t, s, "POST", "k", `{"users":[{"end_user":"a","tags":{"x":"y"},"active_from":"2026-01-01"}]}`)
	if code != 200 || len(out["users"].([]any)) != 0 {
		t.Fatalf("insert existing: %d %v", code, out)
	}
	if u, _ := s.User("a"); len(u.Tags) != 0 {
		t.Fatal("POST changed an existing user under the skip policy")
	}
	// PUT replaces existing users and ignores unknown ones
	code, out = call(t, s, "PUT", "k", `{"users":[{"end_user":"a","tags":{"x":"y"},"active_from":"2026-01-01"},{"end_user":"zz","tags":{},"active_from":"2026-01-01"}]}`)
	if code != 200 || len(out["users"].([]any)) != 1 || s.Count() != 1 {
		t.Fatalf("update: %d %v", code, out)
	}
	// 422 names each bad field by position; nothing is stored
	code, out = call(t, s, "POST", "k", `{"users":[{"end_user":"b","tags":{},"active_from":"2026-01-01"},{"end_user":"c","active_from":"2026-02-01","active_to":"2026-01-01"}]}`)
	if code != 422 || s.Count() != 1 {
		t.Fatalf("invalid: %d %v", code, out)
	}
	det := out["detail"].([]any)
	if len(det) != 2 {
		t.Fatalf("want tags missing and active_to before active_from: %v", det)
	}
	loc := det[0].(map[string]any)["loc"].([]any)
	if loc[2].(float64) != 1 {
		t.Fatalf("loc %v does not point at user 1", loc)
	}
	if code, _ := call(t, s, "POST", "k", `{"users":[{},{},{}]}`); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("over MaxUsers: %d", code)
	}
	if code, _ := call(t, s, "DELETE", "k", `{"users":["a"]}`); code != 200 || s.Count() != 0 {
		t.Fatalf("delete: %d, %d left", code, s.Count())
	}
}

func TestConflictPolicyRefusesTheWholeRequest(t *testing.T) {
	s := New(Options{APIKey: "k", DuplicatePolicy: Conflict})
	s.Put(User{EndUser: "a", Tags: map[string]string{}, ActiveFrom: "2026-01-01"})
	code, _ := call(t, s, "POST", "k", `{"users":[{"end_user":"a","tags":{},"active_from":"2026-01-01"},{"end_user":"b","tags":{},"active_from":"2026-01-01"}]}`)
	if code != http.StatusConflict || s.Count() != 1 {
		t.Fatalf("%d, %d stored", code, s.Count())
	}
}

// A compact fake keeps what the full one keeps, as far as Count and Digest
// can tell: inserts, skipped duplicates, replacements and deletes.
func TestCompactAgreesWithFull(t *testing.T) {
	full, compact := New(Options{APIKey: "k"}), New(Options{APIKey: "k", Compact: true})
	steps := []struct{ method, body string }{
		{"POST", `{"users":[{"end_user":"a","tags":{"x":"1","y":"2"},"active_from":"2026-01-01"},{"end_user":"b","tags":{},"active_from":"2026-01-01"}]}`},
		{"POST", `{"users":[{"end_user":"a","tags":{"x":"changed"},"active_from":"2026-01-01"}]}`},
		{"PUT", `{"users":[{"end_user":"b","tags":{"z":"3"},"active_from":"2026-01-02","active_to":"2026-02-01"}]}`},
		{"POST", `{"users":[{"end_user":"c","tags":{},"active_from":"2026-01-01"}]}`},
		{"DELETE", `{"users":["c","nobody"]}`},
	}
	var digests []uint64
	for i, st := range steps {
		for _, s := range []*Server{full, compact} {
			if code, out := call(t, s, st.method, "k", st.body); code != http.StatusOK {
				t.Fatalf("step %d: %d %v", i, code, out)
			}
		}
		if full.Count() != compact.Count() || full.Digest() != compact.Digest() {
			t.Fatalf("step %d: full holds %d users (digest %x), compact %d (digest %x)", i, full.Count(), full.Digest(), compact.Count(), compact.Digest())
		}
		digests = append(digests, full.Digest())
	}
	if full.Count() != 2 || digests[0] == digests[2] || digests[2] == digests[3] {
		t.Fatalf("the digest did not follow the changes: %d users, digests %x", full.Count(), digests)
	}
	if digests[1] != digests[0] {
		t.Fatal("a POST skipped under the skip policy changed the digest")
	}
	if digests[4] != digests[2] {
		t.Fatal("inserting then deleting a user did not restore the digest")
	}
	if len(compact.Users()) != 0 {
		t.Fatal("a compact fake lists users")
	}
}
