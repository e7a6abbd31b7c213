-- Webhook secret rotation: the secret a rotation replaced stays valid for signatures until a
-- day after webhook_secret_rotated_at (microseconds since the epoch).
ALTER TABLE tenants ADD COLUMN previous_webhook_secret TEXT;
ALTER TABLE tenants ADD COLUMN webhook_secret_rotated_at INTEGER;
