package secrets

// Renewing reports whether NewVault started token renewal, for tests that must prove
// renewal is not started without waiting for something not to happen.
func (v *Vault) Renewing() bool { return v.watcher != nil }
