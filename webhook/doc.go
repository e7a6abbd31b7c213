// Package webhook delivers task events to tenants' URLs, signed per the Standard Webhooks
// specification, without letting a tenant aim the platform at its own network.
//
// Ingest calls Policy.CheckURL when a task names a webhook_url: only http(s) URLs without
// credentials whose host is public pass. IP literals are judged in every spelling a browser
// or inet_aton accepts (2130706433, 0177.0.0.1, 0x7f.1, [::ffff:127.0.0.1]); names are
// resolved and every address must be public. Loopback, private, link-local, CGNAT,
// multicast, reserved ranges and IPv6 forms embedding such IPv4 addresses are refused unless
// the operator's allow-list (AGENTIC_WEBHOOK_ALLOW, parsed by ParsePolicy) names the host or
// holds the address in a CIDR.
//
// Because DNS may answer differently at delivery, the Sender checks again where it matters:
// its dialer resolves the name itself and connects only to allowed addresses (and a socket
// Control hook re-checks the address being connected), it ignores proxy settings, never
// follows redirects, and bounds each attempt (10 s by default). Handlers retry failed
// Results with backoff; a stable webhook-id lets receivers drop duplicates.
//
// Signer and Verify wrap github.com/standard-webhooks/standard-webhooks: the
// webhook-signature header is "v1," + base64(HMAC-SHA256(key, id + "." + unix seconds + "."
// + body)) with key the base64-decoded part of the tenant's "whsec_" secret.
package webhook
