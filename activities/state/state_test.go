package state

import "testing"

func TestContentHashIsStableAndSensitive(t *testing.T) {
	type user struct {
		ID   string            `json:"id"`
		Tags map[string]string `json:"tags"`
	}
	a1, _ := ContentHash(user{ID: "1", Tags: map[string]string{"x": "1", "y": "2"}})
	a2, _ := ContentHash(user{ID: "1", Tags: map[string]string{"y": "2", "x": "1"}})
	b, _ := ContentHash(user{ID: "1", Tags: map[string]string{"x": "1", "y": "3"}})
	if a1 != a2 {
		t.Fatal("equal payloads hash differently")
	}
	if a1 == b {
		t.Fatal("a changed tag does not change the hash")
	}
}
