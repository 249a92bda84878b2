//go:build race

package dump

// raceEnabled: the race detector changes what allocates in dependencies.
const raceEnabled = true
