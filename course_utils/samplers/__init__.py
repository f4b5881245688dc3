"""Samplers shared by several families (MCMC, and later the diffusion and ODE samplers)."""
