package actions

import (
	"bytes"
	"errors"
	"testing"
)

var requestBodies = []struct {
	body string
	ok   bool
}{
	{`{"request_id":"01938f6e-7c2a-7b3e-9a40-1234567890ab","epoch":3,"action":"service.stop","params":{"service":"AS_Service"},"dry_run":true,"operator":"ana"}`, true},
	{`{"request_id":"01938f6e-7c2a-7b3e-9a40-1234567890ab","action":"settings.get","params":{}}`, true},
	{`{"request_id":"short","action":"service.stop"}`, false},
	{`{"request_id":"01938f6e-7c2a-7b3e-9a40-1234567890ab","action":"rm -rf"}`, false},
	{`{"request_id":"01938f6e-7c2a-7b3e-9a40-1234567890ab","action":"service.stop","force":true}`, false},
	{`{"request_id":"01938f6e-7c2a-7b3e-9a40-1234567890ab","action":"service.stop","params":{"":"x"}}`, false},
	{`{"request_id":"01938f6e-7c2a-7b3e-9a40-1234567890ab","action":"service.stop"} {}`, false},
	{`{"request_id":"01938f6e-7c2a-7b3e-9a40-1234567890ab","action":"service.stop","epoch":-1}`, false},
	{`[]`, false},
	{``, false},
}

func TestDecodeRequest(t *testing.T) {
	for _, tc := range requestBodies {
		_, err := DecodeRequest(bytes.NewReader([]byte(tc.body)))
		if (err == nil) != tc.ok {
			t.Errorf("DecodeRequest(%s): err = %v, want ok=%v", tc.body, err, tc.ok)
		}
		var pe *ParamError
		if err != nil && !errors.As(err, &pe) {
			t.Errorf("DecodeRequest(%s): %v is not a ParamError", tc.body, err)
		}
	}
}

func FuzzDecodeRequest(f *testing.F) {
	for _, tc := range requestBodies {
		f.Add([]byte(tc.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := DecodeRequest(bytes.NewReader(body))
		if err != nil {
			var pe *ParamError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a ParamError", err)
			}
			return
		}
		if req.Validate() != nil {
			t.Fatal("accepted a request Validate refuses")
		}
		if req.Canonical() != req.Canonical() {
			t.Fatal("Canonical is not deterministic")
		}
	})
}
