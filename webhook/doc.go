// Package webhook delivers task events to tenants' URLs, signed per the Standard Webhooks
// specification, without letting a tenant aim the platform at its own network.
//
// Ingest calls Policy.CheckURL when a task names a webhook_url: only http(s) URLs of at most
// MaxURLLength bytes, without credentials, whose host is public pass. A host is judged as
// net/http will dial it: a non-ASCII name is first mapped per IDNA (so "１２７。０。０。１" is
// 127.0.0.1), and a host that any resolver would read as an IP literal is that IP, never a
// name sent to DNS. IP literals are judged in every spelling a browser or inet_aton accepts
// (2130706433, 0177.0.0.1, 0x7f.1, 127.1, 127.000.000.001, [::ffff:127.0.0.1]); a numeric
// host that is no valid address (256.1.1.1, 08.0.0.1) is refused as malformed. localhost and
// *.localhost are refused by name; other names are resolved and every address must be
// public. Loopback, private, link-local, CGNAT, benchmarking, documentation, multicast,
// reserved ranges, IPv6 outside 2000::/3, Teredo, and IPv6 forms embedding a forbidden IPv4
// address (IPv4-mapped, -compatible, NAT64, 6to4) are refused, unless the operator's
// allow-list (AGENTIC_WEBHOOK_ALLOW, parsed by ParsePolicy) names the host or holds the
// address in a CIDR. An IPv6 zone is accepted only on a link-local address.
//
// Because DNS may answer differently at delivery, the Sender checks again where it matters:
// its dialer resolves the name itself and connects only to the addresses it checked (and a
// socket Control hook re-checks the address being connected), so DNS rebinding is refused.
// It ignores proxy settings (HTTP_PROXY would otherwise dial for it, unchecked). It never
// follows redirects: a 3xx answer is recorded as a failed attempt with its status, so a
// receiver cannot bounce a delivery to a private address. Each attempt is bounded (10 s by
// default). Handlers retry failed Results with backoff; a stable webhook-id lets receivers
// drop duplicates.
//
// Signer and Verify wrap github.com/standard-webhooks/standard-webhooks: the
// webhook-signature header is "v1," + base64(HMAC-SHA256(key, id + "." + unix seconds + "."
// + body)) with key the base64-decoded part of the tenant's "whsec_" secret.
package webhook
