package steps

// Reading is what an attempt's heartbeat says of its reading of a list, so
// that a list that kills the worker reading it (a runtime out of memory,
// which nothing in the process can catch; a parser that never returns)
// ends its import instead of killing the next worker, and the next. An
// attempt sets Inside in its first heartbeat before it reads, which the SDK
// sends at once, and clears it once the reading is over, which the SDK
// sends with the attempt's failure if it fails. The next attempt finds
// Inside still set only when the last one went silent while it read.
type Reading struct {
	// Inside: the attempt was reading the list at its last heartbeat.
	Inside bool `json:"inside,omitempty"`
	// Lost counts the earlier attempts that went silent while reading.
	Lost int `json:"lost,omitempty"`
}

// MaxLostReads is how many attempts may go silent while reading a list
// before the step gives up on it.
const MaxLostReads = 2

// Resume is a new attempt's Reading, from the last attempt's heartbeat:
// one more attempt lost if that one went silent while reading.
func (r Reading) Resume() Reading {
	if r.Inside {
		r.Lost++
	}
	r.Inside = false
	return r
}

// GiveUp says whether the list has killed MaxLostReads attempts already.
func (r Reading) GiveUp() bool { return r.Lost >= MaxLostReads }
