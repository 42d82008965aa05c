package monitor

import "github.com/vigilops/vigil/model"

// Verdicts returns the judge's verdict on every system that has a watched
// server, by system name: what the board, the tray and `vigil status`
// show. It is empty until Run has loaded the store.
func (m *Monitor) Verdicts() []model.SystemVerdict {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.det == nil {
		return nil
	}
	return m.det.Verdicts()
}

// SubscribeVerdicts delivers every later change of a system's verdict
// until cancel is called; the channel is closed then. A system that is no
// longer judged (its last watched server left it) comes as a verdict with
// its name alone.
func (m *Monitor) SubscribeVerdicts() (<-chan model.SystemVerdict, func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.verdicts.subscribe(&m.mu)
}

// publishVerdictsLocked hands the verdicts the detector changed to the
// subscribers. m.mu must be held.
func (m *Monitor) publishVerdictsLocked() {
	if m.det == nil {
		return
	}
	for _, v := range m.det.Changed() {
		m.verdicts.send(v, m.log)
	}
}
