package limits

// MemoryBudgetSize reports how many ledgers, reservations and settled ids m keeps in memory,
// expired or not, so tests can check that its memory stays bounded.
func MemoryBudgetSize(m *MemoryBudget) (ledgers, reservations, settled int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, l := range m.ledgers {
		reservations += len(l.res)
		settled += len(l.forget) // at least len(l.settled): every settled id is queued
	}
	return len(m.ledgers), reservations, settled
}
