package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/agentic-run/agentic/client"
)

var tenantsSpec = spec{
	name:     "tenants",
	synopsis: "tenants <create|get|update|rotate-secret> [flags]",
	about: `Manage tenants (needs the admin token).

Commands:
  create   create a tenant and print it with its webhook signing secret
  get      show a tenant
  update   change a tenant's tier or monthly budget
  rotate-secret
           give a tenant a new webhook signing secret; the old one keeps signing for 24 h`,
	examples: []string{
		"agentic tenants create --name acme --tier pro --budget 50",
		"agentic tenants get ten_01JD7X4Y2Z",
		"agentic tenants update ten_01JD7X4Y2Z --budget none",
		"agentic tenants rotate-secret ten_01JD7X4Y2Z",
	},
}

var (
	tenantsCreateSpec = spec{
		name:     "tenants create",
		synopsis: "tenants create --name NAME [--tier TIER] [--budget USD]",
		about: `Create a tenant. The reply is the only one that shows its webhook signing secret
(whsec_…): keep it to verify webhooks. Then give it a key with 'agentic keys create'.`,
		examples: []string{"agentic tenants create --name acme --tier pro --budget 50"},
	}
	tenantsGetSpec = spec{
		name:     "tenants get",
		synopsis: "tenants get TENANT_ID",
		about:    "Show a tenant.",
		examples: []string{"agentic tenants get ten_01JD7X4Y2Z --json"},
	}
	tenantsUpdateSpec = spec{
		name:     "tenants update",
		synopsis: "tenants update TENANT_ID [--tier TIER] [--budget USD|none]",
		about:    "Change a tenant's tier or monthly budget; --budget none removes the budget.",
		examples: []string{"agentic tenants update ten_01JD7X4Y2Z --tier enterprise", "agentic tenants update ten_01JD7X4Y2Z --budget none"},
	}
	tenantsRotateSpec = spec{
		name:     "tenants rotate-secret",
		synopsis: "tenants rotate-secret TENANT_ID",
		about: `Give a tenant a new webhook signing secret and print it (shown only now). For 24 hours
every delivery carries signatures with both the new and the old secret, so the receiver can
switch to the new one whenever it is ready.`,
		examples: []string{"agentic tenants rotate-secret ten_01JD7X4Y2Z --json | jq -r .webhook_secret"},
	}
)

func (a *app) tenants(ctx context.Context, argv []string) error {
	sub, rest, err := a.subcommand(tenantsSpec, argv)
	if err != nil {
		return err
	}
	switch sub {
	case "create":
		s := tenantsCreateSpec
		fs := a.flags(s)
		name := fs.String("name", "", "the tenant's `name` (required)")
		tier := fs.String("tier", "free", "`tier`: free, basic, pro or enterprise")
		var budget *float64
		fs.Func("budget", "monthly budget in `USD` (none by default)", func(v string) error {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return errors.New("must be a number")
			}
			budget = &f
			return nil
		})
		pos, err := a.parse(fs, s, rest)
		if err != nil {
			return err
		}
		if err := args(s, pos, 0, ""); err != nil {
			return err
		}
		if *name == "" {
			return usageErr(s.name, "--name is required")
		}
		c, err := a.clientFor(s.name, adminToken)
		if err != nil {
			return err
		}
		t, err := c.CreateTenant(ctx, client.CreateTenantRequest{Name: *name, Tier: *tier, MonthlyBudgetUSD: budget})
		if err != nil {
			return err
		}
		return a.showTenant(t)
	case "get":
		s := tenantsGetSpec
		fs := a.flags(s)
		c, id, err := a.target(s, fs, rest, "TENANT_ID", adminToken)
		if err != nil {
			return err
		}
		t, err := c.GetTenant(ctx, id)
		if err != nil {
			return err
		}
		return a.showTenant(t)
	case "update":
		s := tenantsUpdateSpec
		fs := a.flags(s)
		var patch client.TenantPatch
		fs.Func("tier", "new `tier`: free, basic, pro or enterprise", func(v string) error {
			patch.Tier = &v
			return nil
		})
		fs.Func("budget", "new monthly budget in `USD`, or none to remove it", func(v string) error {
			if strings.EqualFold(v, "none") {
				patch.ClearBudget, patch.MonthlyBudgetUSD = true, nil
				return nil
			}
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return errors.New("must be a number or none")
			}
			patch.MonthlyBudgetUSD, patch.ClearBudget = &f, false
			return nil
		})
		pos, err := a.parse(fs, s, rest)
		if err != nil {
			return err
		}
		if err := args(s, pos, 1, "TENANT_ID"); err != nil {
			return err
		}
		if patch.Tier == nil && patch.MonthlyBudgetUSD == nil && !patch.ClearBudget {
			return usageErr(s.name, "nothing to change: pass --tier or --budget")
		}
		c, err := a.clientFor(s.name, adminToken)
		if err != nil {
			return err
		}
		t, err := c.UpdateTenant(ctx, pos[0], patch)
		if err != nil {
			return err
		}
		return a.showTenant(t)
	case "rotate-secret":
		s := tenantsRotateSpec
		c, id, err := a.target(s, a.flags(s), rest, "TENANT_ID", adminToken)
		if err != nil {
			return err
		}
		t, err := c.RotateWebhookSecret(ctx, id)
		if err != nil {
			return err
		}
		return a.showTenant(t)
	default:
		return usageErr(tenantsSpec.name, "unknown command %q", sub)
	}
}

// subcommand splits "tenants create …": it handles -h on the group and a missing command.
func (a *app) subcommand(s spec, argv []string) (string, []string, error) {
	if len(argv) == 0 {
		return "", nil, usageErr(s.name, "missing command")
	}
	switch argv[0] {
	case "-h", "--help", "-help", "help":
		a.help(a.flags(s), s)
		return "", nil, flag.ErrHelp
	}
	if strings.HasPrefix(argv[0], "-") {
		// Global flags may come first: "keys --json create …".
		fs := a.flags(s)
		if err := fs.Parse(argv); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				a.help(fs, s)
				return "", nil, flag.ErrHelp
			}
			return "", nil, usageErr(s.name, "%v", err)
		}
		pos := fs.Args()
		if len(pos) == 0 {
			return "", nil, usageErr(s.name, "missing command")
		}
		return pos[0], pos[1:], nil
	}
	return argv[0], argv[1:], nil
}

func (a *app) showTenant(t *client.Tenant) error {
	if a.g.json {
		return a.printJSON(t)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "id\t%s\nname\t%s\ntier\t%s\n", t.ID, t.Name, t.Tier)
	if t.MonthlyBudgetUSD != nil {
		fmt.Fprintf(tw, "monthly budget\t$%.2f\n", *t.MonthlyBudgetUSD)
	} else {
		fmt.Fprintf(tw, "monthly budget\tnone\n")
	}
	fmt.Fprintf(tw, "created\t%s\n", timeText(t.CreatedAt))
	if t.WebhookSecret != "" {
		fmt.Fprintf(tw, "webhook secret\t%s\t(shown only now)\n", t.WebhookSecret)
	}
	if t.PreviousWebhookSecretExpiresAt != nil {
		fmt.Fprintf(tw, "previous secret\tsigns too until %s\n", timeText(*t.PreviousWebhookSecretExpiresAt))
	}
	return tw.Flush()
}

var keysSpec = spec{
	name:     "keys",
	synopsis: "keys <create|revoke> [flags]",
	about: `Manage API keys (needs the admin token).

Commands:
  create   create an API key for a tenant and print it (shown only once)
  revoke   revoke an API key; it stops working within a second`,
	examples: []string{"agentic keys create ten_01JD7X4Y2Z --name ci", "agentic keys revoke key_01JD7X4Y2Z"},
}

var (
	keysCreateSpec = spec{
		name:     "keys create",
		synopsis: "keys create TENANT_ID [--name NAME]",
		about:    "Create an API key for a tenant. The key (ak_…) is shown only in this reply: store it now.",
		examples: []string{"agentic keys create ten_01JD7X4Y2Z --name ci", "export AGENTIC_API_KEY=$(agentic keys create ten_01JD7X4Y2Z --json | jq -r .key)"},
	}
	keysRevokeSpec = spec{
		name:     "keys revoke",
		synopsis: "keys revoke KEY_ID",
		about:    "Revoke an API key (by its key_… id); it stops working within a second on every replica.",
		examples: []string{"agentic keys revoke key_01JD7X4Y2Z"},
	}
)

func (a *app) keys(ctx context.Context, argv []string) error {
	sub, rest, err := a.subcommand(keysSpec, argv)
	if err != nil {
		return err
	}
	switch sub {
	case "create":
		s := keysCreateSpec
		fs := a.flags(s)
		name := fs.String("name", "", "a `name` for the key, such as ci")
		c, id, err := a.target(s, fs, rest, "TENANT_ID", adminToken)
		if err != nil {
			return err
		}
		var opts *client.APIKeyOpts
		if *name != "" {
			opts = &client.APIKeyOpts{Name: *name}
		}
		k, err := c.CreateAPIKey(ctx, id, opts)
		if err != nil {
			return err
		}
		if a.g.json {
			return a.printJSON(k)
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "id\t%s\nname\t%s\nprefix\t%s\ncreated\t%s\nkey\t%s\t(shown only now)\n",
			k.ID, k.Name, k.Prefix, timeText(k.CreatedAt), k.Key)
		return tw.Flush()
	case "revoke":
		s := keysRevokeSpec
		fs := a.flags(s)
		c, id, err := a.target(s, fs, rest, "KEY_ID", adminToken)
		if err != nil {
			return err
		}
		if err := c.RevokeAPIKey(ctx, id); err != nil {
			return err
		}
		if a.g.json {
			return a.printJSON(map[string]any{"id": id, "revoked": true})
		}
		_, err = fmt.Fprintf(a.stdout, "revoked %s\n", id)
		return err
	default:
		return usageErr(keysSpec.name, "unknown command %q", sub)
	}
}
