package redstor

import "time"

// The backup Agents are simulated as a pure function of the simulated
// clock: account a's Agent takes backup number n at Created + n×interval,
// and backup n adds backupSize(a, n) bytes. Whichever Master AccountServer
// the Agents log in to, they agree on what each backup holds, so a
// StorageServer can tell a complete copy of backup n from a partial one.

// backupSize is how many bytes backup n of account a adds: 20 to 120 MiB.
func backupSize(a, n int) int64 {
	return int64(20+(a*7919+n*104729)%101) << 20
}

// maxSeq bounds the backup numbers the simulation sums over.
const maxSeq = 1_000_000

// agentTotal is how many bytes account a's data set holds as of backup n.
func agentTotal(a, n int) int64 {
	n = min(n, maxSeq)
	var t int64
	for k := 1; k <= n; k++ {
		t += backupSize(a, k)
	}
	return t
}

// dueSeq is the number of the latest backup account's Agent has due at now.
func dueSeq(created, now time.Time) int {
	if now.Before(created) {
		return 0
	}
	return int(min(int64(now.Sub(created)/backupInterval), maxSeq))
}
