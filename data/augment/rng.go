package augment

import "math"

// RNG is a tiny splitmix64 generator. Every image view gets its own RNG derived
// from (seed, epoch, position, view) by SeedFor, so the random draws of an image
// never depend on which worker renders it or in what order: that is what makes
// batches byte-identical across worker counts. It is a value type with no
// locking on purpose: it is never shared between goroutines.
type RNG struct{ s uint64 }

// NewRNG returns a generator started at seed.
func NewRNG(seed uint64) RNG { return RNG{s: seed} }

// mix64 is splitmix64's finaliser: a bijective avalanche of 64 bits.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// SeedFor hashes the coordinates of one image view into an RNG seed. Chaining
// mix64 over the parts (rather than xor-ing them) keeps (e, p) and (p, e)
// distinct.
func SeedFor(seed uint64, parts ...uint64) uint64 {
	h := mix64(seed ^ 0x9e3779b97f4a7c15)
	for _, p := range parts {
		h = mix64(h ^ (p + 0x632be59bd9b4e019))
	}
	return h
}

// Uint64 returns the next 64 random bits.
func (r *RNG) Uint64() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return mix64(r.s)
}

// Float64 returns a uniform value in [0, 1) with 53 random bits.
func (r *RNG) Float64() float64 { return float64(r.Uint64()>>11) / (1 << 53) }

// Uniform returns a uniform value in [lo, hi).
func (r *RNG) Uniform(lo, hi float64) float64 { return lo + (hi-lo)*r.Float64() }

// LogUniform returns exp(U[log lo, log hi)): used for aspect ratios so that 3/4
// and 4/3 are equally likely.
func (r *RNG) LogUniform(lo, hi float64) float64 {
	return math.Exp(r.Uniform(math.Log(lo), math.Log(hi)))
}

// Bool returns true with probability p. It always consumes one draw, so the
// sequence of later draws does not depend on p.
func (r *RNG) Bool(p float64) bool { return r.Float64() < p }

// IntRange returns a uniform integer in [lo, hi] (inclusive).
func (r *RNG) IntRange(lo, hi int) int {
	if hi <= lo {
		return lo
	}
	return lo + int(r.Uint64()%uint64(hi-lo+1))
}
