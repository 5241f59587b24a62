package kernels

import "math"

// RNG is a small deterministic pseudo-random generator (xoshiro128**,
// seeded through splitmix64), for dropout masks that a seed reproduces on
// every platform. The zero value is not a valid generator: use NewRNG. It is
// a value with no pointers; copying it forks the stream.
type RNG struct {
	s [4]uint32
}

// NewRNG returns a generator seeded from seed. Different seeds give
// unrelated streams; the same seed the same stream.
func NewRNG(seed uint64) RNG {
	var r RNG
	for i := 0; i < 4; i += 2 {
		seed += 0x9e3779b97f4a7c15
		z := seed
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
		r.s[i], r.s[i+1] = uint32(z), uint32(z>>32)
	}
	if r.s == [4]uint32{} { // the one state xoshiro never leaves
		r.s[0] = 1
	}
	return r
}

// State returns the generator's state, for checkpoints.
func (r *RNG) State() [4]uint32 { return r.s }

// RNGFromState returns the generator with a state State returned, and false
// for the all-zero state, which no generator has.
func RNGFromState(s [4]uint32) (RNG, bool) {
	return RNG{s: s}, s != [4]uint32{}
}

func rotl32(x uint32, k uint) uint32 { return x<<k | x>>(32-k) }

// Uint32 returns the next 32 random bits.
func (r *RNG) Uint32() uint32 {
	s := &r.s
	out := rotl32(s[1]*5, 7) * 9
	t := s[1] << 9
	s[2] ^= s[0]
	s[3] ^= s[1]
	s[1] ^= s[2]
	s[0] ^= s[3]
	s[2] ^= t
	s[3] = rotl32(s[3], 11)
	return out
}

// Float32 returns a uniform value in [0, 1) with 24 random bits.
func (r *RNG) Float32() float32 {
	return float32(r.Uint32()>>8) * (1.0 / (1 << 24))
}

// dropoutScale is the factor kept values are multiplied by: 1/(1-rate) in
// float64 rounded once, 1 when rate <= 0, 0 when rate >= 1 (everything
// dropped).
func dropoutScale(rate float32) float32 {
	if rate <= 0 {
		return 1
	}
	if rate >= 1 {
		return 0
	}
	return float32(1 / (1 - float64(rate)))
}

// Dropout applies inverted dropout: each element is kept with probability
// 1-rate (drawn from rng, one Uint32 per element in order: kept when its top
// 24 bits, as a fraction of 2^24, are >= rate) and multiplied by
// 1/(1-rate), or set to 0. mask[i] records 1 for kept and 0 for dropped,
// for DropoutGrad. y and mask hold len(x) elements; y may be x. A rate <= 0
// keeps everything unscaled (and still draws, so that the stream does not
// depend on the rate); a rate >= 1 drops everything. It does not allocate.
func Dropout(x, y []float32, mask []uint8, rate float32, rng *RNG) {
	y, mask = y[:len(x)], mask[:len(x)]
	scale := dropoutScale(rate)
	var thr uint32 // keep when bits>>8 >= thr
	switch {
	case rate >= 1:
		thr = 1 << 24 // never reached by a 24-bit value
	case rate > 0:
		// The smallest k with k/2^24 >= rate; rate*2^24 is exact in float64.
		thr = uint32(math.Ceil(float64(rate) * (1 << 24)))
	}
	for i, v := range x {
		if rng.Uint32()>>8 >= thr {
			mask[i] = 1
			y[i] = v * scale
		} else {
			mask[i] = 0
			y[i] = 0
		}
	}
}

// DropoutGrad computes the gradient of Dropout with the mask it recorded:
// dx = dy * 1/(1-rate) where mask is 1, else 0, with Dropout's scale. dx may
// be dy. mask and dx hold len(dy) elements. It does not allocate.
func DropoutGrad(mask []uint8, rate float32, dy, dx []float32) {
	mask, dx = mask[:len(dy)], dx[:len(dy)]
	scale := dropoutScale(rate)
	for i, g := range dy {
		if mask[i] != 0 {
			dx[i] = g * scale
		} else {
			dx[i] = 0
		}
	}
}
