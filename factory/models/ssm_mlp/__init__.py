"""State-space and MLP window models: S-Mamba, N-BEATS, N-HiTS, DLinear, TiDE."""
