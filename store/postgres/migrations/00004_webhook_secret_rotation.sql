-- Webhook secret rotation: the secret a rotation replaced stays valid for signatures until a
-- day after webhook_secret_rotated_at, so receivers can switch without losing deliveries.

-- +goose Up
ALTER TABLE tenants
    ADD COLUMN previous_webhook_secret text,
    ADD COLUMN webhook_secret_rotated_at timestamptz;

-- +goose Down
ALTER TABLE tenants
    DROP COLUMN webhook_secret_rotated_at,
    DROP COLUMN previous_webhook_secret;
