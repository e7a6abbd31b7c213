package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/webhook"
)

// TestSignWireFormat computes the signature by hand as API.md describes it.
func TestSignWireFormat(t *testing.T) {
	t.Parallel()
	key := []byte("0123456789abcdef0123456789abcdef")
	secret := "whsec_" + base64.StdEncoding.EncodeToString(key)
	id, ts, body := "msg_2Q0ZlTzqn3", time.Unix(1_767_225_600, 0), []byte(`{"type":"task.succeeded","data":{"id":"tsk_1"}}`)

	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + strconv.FormatInt(ts.Unix(), 10) + "." + string(body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))

	s, err := webhook.NewSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Sign(id, ts, body)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
}

// TestSignSpecVector checks the example of the Standard Webhooks specification.
func TestSignSpecVector(t *testing.T) {
	t.Parallel()
	s, err := webhook.NewSigner("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("a shared secret of the tenant!!!"))
	s, err := webhook.NewSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"a":1}`)
	headers := func(id string, ts time.Time, sig string) http.Header {
		h := http.Header{}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
		h.Set("webhook-signature", sig)
		return h
	}
	now := time.Now()
	sig, _ := s.Sign("msg_1", now, body)
	old := now.Add(-10 * time.Minute)
	oldSig, _ := s.Sign("msg_1", old, body)

	if err := webhook.Verify(secret, headers("msg_1", now, sig), body); err != nil {
		t.Errorf("Verify(valid) = %v", err)
	}
	if err := webhook.Verify(secret, headers("msg_1", now, "v1,bogus "+sig), body); err != nil {
		t.Errorf("Verify(one of several signatures) = %v", err)
	}
	for name, tc := range map[string]struct {
		h    http.Header
		body string
	}{
		"tampered body":  {headers("msg_1", now, sig), `{"a":2}`},
		"other id":       {headers("msg_2", now, sig), `{"a":1}`},
		"too old":        {headers("msg_1", old, oldSig), `{"a":1}`},
		"missing header": {http.Header{"Webhook-Id": {"msg_1"}}, `{"a":1}`},
		"wrong version":  {headers("msg_1", now, "v2"+sig[2:]), `{"a":1}`},
	} {
		if err := webhook.Verify(secret, tc.h, []byte(tc.body)); err == nil {
			t.Errorf("Verify(%s) accepted it", name)
		}
	}
	if err := webhook.Verify("not-a-secret", headers("msg_1", now, sig), body); err == nil {
		t.Error("Verify accepted a malformed secret")
	}
	for _, bad := range []string{"", "whsec_", "whsec_***", "abc"} {
		if _, err := webhook.NewSigner(bad); err == nil {
			t.Errorf("NewSigner(%q) accepted it", bad)
		}
	}
}

// During a rotation a request carries both signatures: a receiver holding either secret
// accepts it, one holding neither does not.
func TestSignAllVerifiesWithEitherSecret(t *testing.T) {
	oldSecret, newSecret, other := "whsec_"+b64("old-secret-bytes"), "whsec_"+b64("new-secret-bytes"), "whsec_"+b64("someone-else")
	now := time.Now()
	body := []byte(`{"type":"task.succeeded"}`)
	sig, err := webhook.SignAll([]string{newSecret, oldSecret}, "msg_1", now, body)
	require.NoError(t, err)
	require.Len(t, strings.Fields(sig), 2, "space-separated signatures")

	h := http.Header{}
	h.Set("webhook-id", "msg_1")
	h.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	h.Set("webhook-signature", sig)
	require.NoError(t, webhook.Verify(oldSecret, h, body), "a receiver still on the old secret")
	require.NoError(t, webhook.Verify(newSecret, h, body), "a receiver already on the new one")
	require.Error(t, webhook.Verify(other, h, body))

	_, err = webhook.SignAll(nil, "msg_1", now, body)
	require.Error(t, err)
	_, err = webhook.SignAll([]string{newSecret, "not-a-secret"}, "msg_1", now, body)
	require.Error(t, err)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
