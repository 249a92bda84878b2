//go:build race

package codec

// raceEnabled: the race detector changes what allocates in dependencies.
const raceEnabled = true
