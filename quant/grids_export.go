package quant

// Copies of the IQ lattices for package kernels, whose integer dot
// products look grid points up themselves. Each returns a fresh value, so
// callers cannot change what the decoders read; call them once and keep
// the result.

// IQ2XXSGrid returns the 256 points of the IQ2_XXS grid, eight magnitudes
// each (8, 25 or 43), indexed as the block's index bytes index them.
func IQ2XXSGrid() (g [256][8]uint8) {
	for i, p := range iq2XXSGrid {
		g[i] = p
	}
	return g
}

// IQ2XSGrid returns the 512 points of the IQ2_XS grid (9-bit indices).
func IQ2XSGrid() (g [512][8]uint8) {
	for i, p := range iq2XSGrid {
		g[i] = p
	}
	return g
}

// IQ2SGrid returns the 1024 points of the IQ2_S grid (10-bit indices).
func IQ2SGrid() (g [1024][8]uint8) {
	for i, p := range iq2SGrid {
		g[i] = p
	}
	return g
}

// IQ3XXSGrid returns the 256 points of the IQ3_XXS grid, four magnitudes
// each (4 … 62).
func IQ3XXSGrid() (g [256][4]uint8) {
	for p, c := range iq3xxsCodes {
		for i := range g[p] {
			g[p][i] = iq3xxsLevels[c>>(3*i)&7]
		}
	}
	return g
}

// IQ3SGrid returns the 512 points of the IQ3_S grid (9-bit indices), four
// odd magnitudes each (1 … 15).
func IQ3SGrid() (g [512][4]uint8) {
	for p, c := range iq3sCodes {
		for i := range g[p] {
			g[p][i] = iq3sLevels[c>>(3*i)&7]
		}
	}
	return g
}

// IQ1Grid returns the 2048 ternary points shared by IQ1_S and IQ1_M, eight
// coordinates each in {-1, 0, +1}, before the block's ±1/8 offset.
func IQ1Grid() (g [2048][8]int8) {
	for p, c := range iq1Grid {
		for j := range g[p] {
			g[p][j] = int8(c>>(2*j)&3) - 1
		}
	}
	return g
}
