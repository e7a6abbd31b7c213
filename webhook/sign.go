package webhook

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

const secretPrefix = "whsec_"

// Signer signs payloads per the Standard Webhooks specification.
type Signer struct {
	wh *standardwebhooks.Webhook
}

// NewSigner takes a "whsec_…" secret.
func NewSigner(secret string) (*Signer, error) {
	wh, err := newWebhook(secret)
	if err != nil {
		return nil, err
	}
	return &Signer{wh: wh}, nil
}

func newWebhook(secret string) (*standardwebhooks.Webhook, error) {
	if !strings.HasPrefix(secret, secretPrefix) {
		return nil, errors.New("webhook: secret must start with whsec_")
	}
	if len(secret) == len(secretPrefix) {
		return nil, errors.New("webhook: empty secret")
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return nil, errors.New("webhook: secret is not whsec_ followed by base64")
	}
	return wh, nil
}

// Sign returns the webhook-signature header value ("v1,<base64>") for id, timestamp, body:
// base64 of HMAC-SHA256 over id + "." + unix seconds + "." + body, keyed with the secret's
// decoded bytes.
func (s *Signer) Sign(id string, ts time.Time, body []byte) (string, error) {
	if id == "" {
		return "", errors.New("webhook: empty message id")
	}
	sig, err := s.wh.Sign(id, ts, body)
	if err != nil {
		return "", fmt.Errorf("webhook: sign: %w", err)
	}
	return sig, nil
}

// SignAll returns the webhook-signature header value for each of secrets: their "v1,<base64>"
// signatures, space-separated, as Standard Webhooks carries the signatures of a secret and
// the one it is replacing. A receiver accepts the request if any one matches.
func SignAll(secrets []string, id string, ts time.Time, body []byte) (string, error) {
	if len(secrets) == 0 {
		return "", errors.New("webhook: no secret to sign with")
	}
	sigs := make([]string, 0, len(secrets))
	for _, secret := range secrets {
		signer, err := NewSigner(secret)
		if err != nil {
			return "", err
		}
		sig, err := signer.Sign(id, ts, body)
		if err != nil {
			return "", err
		}
		sigs = append(sigs, sig)
	}
	return strings.Join(sigs, " "), nil
}

// Verify checks the headers of a received webhook; for receivers and tests. The timestamp
// must be within five minutes of now, and any of the space-separated v1 signatures must
// match.
func Verify(secret string, header http.Header, body []byte) error {
	wh, err := newWebhook(secret)
	if err != nil {
		return err
	}
	if err := wh.Verify(body, header); err != nil {
		if inner := errors.Unwrap(err); inner != nil {
			err = inner // drop the library's "unable to verify payload" prefix
		}
		return fmt.Errorf("webhook: verify: %w", err)
	}
	return nil
}
